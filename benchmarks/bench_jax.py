#!/usr/bin/env python
"""JAX benchmark: the seed problem family through moreau.jax.Solver (XLA FFI).

Family:  min 1/2||x||^2 + q'x  s.t.  x >= 0, sum(x) = 1;  loss = sum(x^2).
For n = 5 and n = 50 it times
  - jit(grad(loss)) on one problem,
  - jit(vmap(grad(loss))) on batches of 64 and 1024 (P, A shared, q batched),
after a warm-up call (compilation excluded).  Reported: median and min wall time per
call over --repeats calls (each call blocks until the result is ready), and the time
per problem for the batched runs.

If the official Moreau package or qpax is importable (they are not installed here),
the comparison is left to a later run: this script only times moreau-jax.

Usage:  .venv/bin/python benchmarks/bench_jax.py [--repeats 50] [--json out.json] [--float32]

``--float32`` runs with JAX's default ``jax_enable_x64`` off (float32 arrays; the
custom calls convert to float64 in Rust); the default is x64 on (float64).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

import jax
import jax.numpy as jnp

import moreau  # noqa: E402
import moreau.jax as mjax  # noqa: E402
from worker_native import seed_csr  # noqa: E402  (it switches x64 on: set it after)

jax.config.update("jax_enable_x64", "--float32" not in sys.argv)


def seed_solver(n: int):
    """The seed family in slack form: rows [sum(x) + s0 = 1 (zero); -x + s = 0 (nonneg)]."""
    P_ip, P_ix, A_ip, A_ix, P, A, b = seed_csr(n)
    cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=n)
    solver = mjax.Solver(n, n + 1, P_ip, P_ix, A_ip, A_ix, cones, moreau.Settings())
    return solver, jnp.asarray(P), jnp.asarray(A), jnp.asarray(b)


def timeit(fn, args, repeats: int):
    jax.block_until_ready(fn(*args))  # compile + warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--json", default=None)
    ap.add_argument("--float32", action="store_true", help="jax_enable_x64 off (float32 arrays)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    dtype = jnp.zeros(()).dtype
    print(f"jax {jax.__version__}, devices {jax.devices()}, repeats {args.repeats}, arrays {dtype}")
    print(f"{'case':<28}{'median':>12}{'min':>12}{'per problem':>14}")
    for n in (5, 50):
        solver, P, A, b = seed_solver(n)

        def loss(q):
            return jnp.sum(solver.solve(P, A, q, b).x ** 2)

        single = jax.jit(jax.grad(loss))
        q = jnp.asarray(rng.normal(size=n))
        med, mn = timeit(single, (q,), args.repeats)
        rows.append({"n": n, "case": "jit(grad)", "batch": 1, "median_s": med, "min_s": mn})
        print(f"{f'n={n} jit(grad)':<28}{med * 1e6:>10.1f}us{mn * 1e6:>10.1f}us{med * 1e6:>12.1f}us")
        batched = jax.jit(jax.vmap(jax.grad(loss)))
        for B in (64, 1024):
            Q = jnp.asarray(rng.normal(size=(B, n)))
            reps = max(5, args.repeats // (4 if B > 64 else 1))
            med, mn = timeit(batched, (Q,), reps)
            rows.append({"n": n, "case": "jit(vmap(grad))", "batch": B, "median_s": med, "min_s": mn})
            label = f"n={n} jit(vmap(grad)) B={B}"
            print(f"{label:<28}{med * 1e3:>10.2f}ms{mn * 1e3:>10.2f}ms{med / B * 1e6:>12.1f}us")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
