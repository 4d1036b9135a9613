"""Sharded batches: B seed problems (jit(vmap(grad)) through the native Solver),
D forced host devices with one Rust thread each vs one device with one thread.

    .venv/bin/python benchmarks/bench_sharding.py [--batch 1024] [--devices 2] [--repeats 15]

Each configuration runs in its own process (the device count is fixed when JAX
starts); the speed-up is the ratio of the minimum times."""

import argparse
import json
import os
import subprocess
import sys
import time

WORKER = r'''
import json, sys, time
import numpy as np, jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
from jax.sharding import NamedSharding, PartitionSpec as PS
import moreau, moreau.jax as mjax
B, repeats = int(sys.argv[1]), int(sys.argv[2])
n = 5
ip, ix = np.arange(n + 1), np.arange(n)
A_ip = np.array([0, n] + [n + i + 1 for i in range(n)]); A_ix = np.concatenate([np.arange(n), np.arange(n)])
solver = mjax.Solver(n, n + 1, ip, ix, A_ip, A_ix, moreau.Cones(num_zero_cones=1, num_nonneg_cones=n),
                     moreau.Settings(num_threads=1))
A = np.concatenate([np.ones(n), -np.ones(n)]); b = np.concatenate([[1.0], np.zeros(n)])
Q = np.random.default_rng(0).normal(size=(B, n))
ndev = len(jax.devices())
if ndev > 1:
    mesh = jax.make_mesh((ndev,), ("b",))
    Q = jax.device_put(Q, NamedSharding(mesh, PS("b")))
step = jax.jit(jax.vmap(jax.grad(lambda q: jnp.sum(solver.solve(np.ones(n), A, q, b).x ** 2))))
step(Q).block_until_ready()
times = []
for _ in range(repeats):
    t = time.perf_counter(); step(Q).block_until_ready(); times.append(time.perf_counter() - t)
print(json.dumps({"ndev": ndev, "min_s": min(times)}))
'''


def run(ndev, batch, repeats):
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={ndev}")
    out = subprocess.run([sys.executable, "-c", WORKER, str(batch), str(repeats)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["min_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    one = run(1, a.batch, a.repeats)
    many = run(a.devices, a.batch, a.repeats)
    print(f"B={a.batch}: 1 device x 1 thread {one * 1e3:.2f} ms; {a.devices} devices x 1 thread "
          f"{many * 1e3:.2f} ms; speed-up {one / many:.2f}x")


if __name__ == "__main__":
    main()
