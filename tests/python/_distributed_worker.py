"""One of two processes of tests/python/test_sharding.py's multi-process test.

``python _distributed_worker.py PORT PROCESS_ID``: joins JAX's own distributed
runtime (coordinator on 127.0.0.1:PORT, one CPU device per process), shards a
global batch of seed-layer parameters over both processes and computes
``jit(vmap(grad))`` through a CvxpyLayer(solver="MOREAU").  Prints one JSON line:
this process's rows of the global result, the same rows computed without any
sharding on this process alone, and the shapes the moreau custom calls saw."""

import json
import sys

import numpy as np
import jax

port, pid = int(sys.argv[1]), int(sys.argv[2])
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                           process_id=pid, initialization_timeout=60)

import jax.numpy as jnp  # noqa: E402
import cvxpy as cp  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as PS  # noqa: E402
from cvxpylayers.jax import CvxpyLayer  # noqa: E402

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _sharding_worker import custom_calls  # noqa: E402

B = 16
x = cp.Variable(5)
q = cp.Parameter(5)
prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + q @ x), [x >= 0, cp.sum(x) == 1])
layer = CvxpyLayer(prob, parameters=[q], variables=[x], solver="MOREAU")
Q = np.random.default_rng(0).normal(size=(B, 5))          # the same global batch everywhere

mesh = jax.make_mesh((2,), ("b",), axis_types=(jax.sharding.AxisType.Auto,))
sharding = NamedSharding(mesh, PS("b"))
rows = slice(pid * B // 2, (pid + 1) * B // 2)
Qg = jax.make_array_from_process_local_data(sharding, Q[rows], (B, 5))

step = jax.jit(jax.vmap(jax.grad(lambda p: jnp.sum(layer(p)[0] ** 2))))
calls = custom_calls(step.lower(Qg).compile().as_text())
G = step(Qg)
local = np.concatenate([np.asarray(s.data) for s in G.addressable_shards])
ref = np.asarray(jax.vmap(jax.grad(lambda p: jnp.sum(layer(p)[0] ** 2)))(Q[rows]))
print(json.dumps({"pid": pid, "calls": calls, "local": local.tolist(), "ref": ref.tolist()}), flush=True)
jax.distributed.shutdown()
