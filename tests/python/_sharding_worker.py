"""Run by tests/python/test_sharding.py in a subprocess with several forced host
devices (the device count is fixed when JAX starts).  Prints one JSON line:
for each case, the operand and result shapes of every moreau custom call in the
compiled HLO, whether the module contains an all-gather, and the largest
difference from the same computation on one device without sharding."""

import json
import re
import sys

import numpy as np
import jax
import jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding, PartitionSpec as PS

jax.config.update("jax_enable_x64", True)

import cvxpy as cp  # noqa: E402
import moreau  # noqa: E402
import moreau.jax as mjax  # noqa: E402
from cvxpylayers.jax import CvxpyLayer  # noqa: E402

_SHAPE = r"[a-z]+\d*\[[\d,]*\]"


def custom_calls(hlo_text: str):
    """[(target, operand shapes, result shapes)] of the moreau custom calls."""
    found = []
    for line in hlo_text.splitlines():
        m = re.search(r'custom_call_target="(moreau_\w+)"', line)
        if not m:
            continue
        lhs = line.split("custom-call(", 1)[0].split("=", 1)[1]
        ops = re.search(r"operand_layout_constraints=\{(.*?)\}, [a-z_]+=", line)
        found.append((m.group(1), re.findall(_SHAPE, ops.group(1)) if ops else None, re.findall(_SHAPE, lhs)))
    return found


def report(name, fn, args, ref_fn):
    compiled = jax.jit(fn).lower(*args).compile()
    text = compiled.as_text()
    out = jax.jit(fn)(*args)
    ref = ref_fn(*[np.asarray(a) for a in args])
    diff = max(float(np.max(np.abs(np.asarray(o) - np.asarray(r)))) for o, r in
               zip(jax.tree.leaves(out), jax.tree.leaves(ref)))
    shardings = [str(getattr(o, "sharding", None).spec) if hasattr(o, "sharding") else None
                 for o in jax.tree.leaves(out)]
    return name, {"calls": custom_calls(text), "all_gather": "all-gather" in text,
                  "diff": diff, "out_specs": shardings}


def main(axis_type: str):
    ndev = len(jax.devices())
    B = 4 * ndev
    types = (AxisType.Explicit,) if axis_type == "explicit" else (AxisType.Auto,)
    mesh = jax.make_mesh((ndev,), ("b",), axis_types=types)
    rng = np.random.default_rng(0)

    # Native Solver: min 1/2 x'x + q'x  s.t.  sum(x) = 1, x >= 0.
    n = 3
    ip, ix = np.arange(n + 1), np.arange(n)
    A_ip = np.array([0, n] + [n + i + 1 for i in range(n)])
    A_ix = np.concatenate([np.arange(n), np.arange(n)])
    solver = mjax.Solver(n, n + 1, ip, ix, A_ip, A_ix,
                         moreau.Cones(num_zero_cones=1, num_nonneg_cones=n), moreau.Settings())
    A = np.concatenate([np.ones(n), -np.ones(n)])
    b = np.concatenate([[1.0], np.zeros(n)])
    P = np.ones(n)
    Q = rng.normal(size=(B, n))
    Qs = jax.device_put(Q, NamedSharding(mesh, PS("b")))

    def fwd(q):
        return solver.solve(P, A, q, b).x

    def loss(q, P_):
        sol = solver.solve(P_, A, q, b)
        return jnp.sum(sol.x ** 2) + jnp.sum(sol.z)

    grad_both = jax.vmap(jax.grad(loss, argnums=(0, 1)), in_axes=(0, None))
    jac = jax.vmap(jax.jacfwd(fwd))

    # The seed page's layer.
    x = cp.Variable(5)
    qp = cp.Parameter(5)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + qp @ x), [x >= 0, cp.sum(x) == 1])
    layer = CvxpyLayer(prob, parameters=[qp], variables=[x], solver="MOREAU")
    Q5 = rng.normal(size=(B, 5))
    Q5s = jax.device_put(Q5, NamedSharding(mesh, PS("b")))
    layer_grad = jax.vmap(jax.grad(lambda q: jnp.sum(layer(q)[0] ** 2)))
    # The layer's own batch (a leading axis on the parameter), differentiated.
    layer_batch_grad = jax.grad(lambda q: jnp.sum(layer(q)[0] ** 2))

    with jax.set_mesh(mesh):
        cases = dict([
            report("forward", jax.vmap(fwd), (Qs,), jax.vmap(fwd)),
            report("grad", lambda q: grad_both(q, P), (Qs,), lambda q: grad_both(q, P)),
            report("jacfwd", jac, (Qs,), jac),
            # cvxpylayers 1.2.0's own code (its reshapes of the batch axis) cannot
            # infer shardings under explicit axes: the layer takes Auto axes or shard_map.
            *([report("layer_batch_grad", layer_batch_grad, (Q5s,), layer_batch_grad),
               report("layer_grad", layer_grad, (Q5s,), layer_grad)] if axis_type == "auto" else []),
        ])
        # A user's shard_map: the call inside runs on the local block.
        smap = jax.shard_map(jax.vmap(fwd), mesh=mesh, in_specs=PS("b"), out_specs=PS("b"))
        cases.update([report("shard_map", smap, (Qs,), jax.vmap(fwd))])
        gsmap = jax.shard_map(lambda q: grad_both(q, P)[0], mesh=mesh, in_specs=PS("b"), out_specs=PS("b"))
        cases.update([report("shard_map_grad", gsmap, (Qs,), lambda q: grad_both(q, P)[0])])
        # check_vma=False: cvxpylayers' own backward pass mixes varying and invariant
        # cotangents of its b vector (its code, not the moreau calls).
        lsmap = jax.shard_map(layer_grad, mesh=mesh, in_specs=PS("b"), out_specs=PS("b"), check_vma=False)
        cases.update([report("layer_shard_map", lsmap, (Q5s,), layer_grad)])
    print(json.dumps({"ndev": ndev, "B": B, "cases": cases}))


if __name__ == "__main__":
    main(sys.argv[1])
