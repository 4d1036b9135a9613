#!/usr/bin/env python
"""Worker for compare_official.py, issue 5: the seed page's JAX example through cvxpylayers.

    --side ours      CvxpyLayer(..., solver="MOREAU") with this repo's moreau (XLA FFI)
    --side official  CvxpyLayer(..., solver="MOREAU") with PyPI moreau 0.4.1 (pure_callback)
    --side diffcp    CvxpyLayer(...) with the solver left default (diffcp backend)

Problem (the page's JAX example):  min 1/2||x||^2 + q'x  s.t. x >= 0, sum(x) == 1, n = 5;
loss_fn(q) = sum(layer(q)[0] ** 2); timed: jax.jit(jax.vmap(jax.grad(loss_fn))) over
batches of q, and jax.jit(jax.grad(loss_fn)) on one q.  The diffcp path is not
jit/vmap-compatible in cvxpylayers.jax (its docstring says so); if jit(vmap(grad))
raises, the worker times the closest thing that runs -- jax.grad of the summed loss of
the batched layer call, layer(Q) with Q of shape (B, n), un-jitted -- and says so in
"mode".  Before timing, x at q = 1..5 (expected [1, 0, 0, 0, 0]) and at a random q
(closed form: projection of -q onto the simplex) is checked.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback

import numpy as np

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import cvxpy as cp  # noqa: E402
from cvxpylayers.jax import CvxpyLayer  # noqa: E402

from worker_native import reference, timeit  # noqa: E402


def _version(version, pkg):
    try:
        return version(pkg)
    except Exception:  # noqa: BLE001  (not installed)
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", required=True, choices=["ours", "official", "diffcp"])
    ap.add_argument("--batches", default="64,1024")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--budget", type=float, default=4.0)
    ap.add_argument("--solver-args", default=None, help="JSON dict passed as CvxpyLayer(solver_args=...)")
    args = ap.parse_args()
    from importlib.metadata import version

    out = {
        "side": args.side,
        "versions": {p: _version(version, p) for p in ("jax", "jaxlib", "cvxpy", "cvxpylayers", "diffcp")},
        "cases": [],
    }
    if args.side != "diffcp":
        import moreau

        out["versions"]["moreau"] = getattr(moreau, "__version__", "?")
        out["moreau_file"] = moreau.__file__

    n = 5
    x = cp.Variable(n)
    q = cp.Parameter(n)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + q @ x), [x >= 0, cp.sum(x) == 1])
    kw = {} if args.side == "diffcp" else {"solver": "MOREAU"}
    if args.solver_args:
        kw["solver_args"] = json.loads(args.solver_args)
        out["solver_args"] = kw["solver_args"]
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], **kw)
    out["solver_used"] = str(layer.ctx.solver) if hasattr(layer, "ctx") else kw.get("solver", "default")

    def loss_fn(qv):
        (x_opt,) = layer(qv)
        return jnp.sum(x_opt**2)

    rng = np.random.default_rng(1)
    xb = np.asarray(layer(jnp.arange(1.0, 6.0))[0])
    q0 = rng.normal(size=n)
    x0 = np.asarray(layer(jnp.asarray(q0))[0])
    x_ref, g_ref = reference(q0)
    check = {
        "x_basic": xb.tolist(),
        "x_basic_err": float(np.max(np.abs(xb - np.array([1.0, 0, 0, 0, 0])))),
        "x_err": float(np.max(np.abs(x0 - x_ref))),
    }
    # which Moreau solver the layer built (the official package resolves solver="auto")
    jsolver = getattr(getattr(getattr(layer, "ctx", None), "solver_ctx", None), "_jax_solver", None)
    if jsolver is not None:
        resolved = getattr(getattr(jsolver, "_settings", None), "solver", None)
        out["solver_resolved"] = str(resolved) if resolved is not None else "ipm (moreau-jax)"
    try:
        g0 = np.asarray(jax.grad(loss_fn)(jnp.asarray(q0)))
        check["grad_err"] = float(np.max(np.abs(g0 - g_ref)))
    except Exception as e:  # noqa: BLE001
        check["grad_error"] = repr(e)[:300]
    out["check"] = check
    print(f"[{args.side}] check: {check}", file=sys.stderr)

    # single jit(grad)
    try:
        r = timeit(jax.jit(jax.grad(loss_fn)), jnp.asarray(rng.normal(size=n)), args.repeats, args.budget)
        out["cases"].append({"case": "jit(grad)", "batch": 1, "mode": "jit(grad)", **r})
    except Exception as e:  # noqa: BLE001
        out["cases"].append({"case": "jit(grad)", "batch": 1, "error": repr(e)[:300]})
        print(f"[{args.side}] jit(grad) failed: {e!r}"[:400], file=sys.stderr)
        try:
            r = timeit(jax.grad(loss_fn), jnp.asarray(rng.normal(size=n)), args.repeats, args.budget)
            out["cases"].append({"case": "jit(grad)", "batch": 1, "mode": "grad (no jit)", **r})
        except Exception as e2:  # noqa: BLE001
            out["cases"].append({"case": "jit(grad)", "batch": 1, "mode": "grad (no jit)", "error": repr(e2)[:300]})
    print(f"[{args.side}] single: {out['cases'][-1]}", file=sys.stderr)

    batched = jax.jit(jax.vmap(jax.grad(loss_fn)))

    def batched_fallback(Q):
        return jax.grad(lambda Qv: jnp.sum(layer(Qv)[0] ** 2))(Q)

    for B in [int(s) for s in args.batches.split(",")]:
        Q = jnp.asarray(rng.normal(size=(B, n)))
        refs = np.stack([reference(qq)[1] for qq in np.asarray(Q)])
        entry = {"case": "jit(vmap(grad))", "batch": B}
        fn, mode = batched, "jit(vmap(grad))"
        try:
            gB = np.asarray(fn(Q))
        except Exception as e:  # noqa: BLE001
            entry["error"] = repr(e)[:300]
            print(f"[{args.side}] B={B} jit(vmap(grad)) failed: {e!r}"[:400], file=sys.stderr)
            traceback.print_exc(limit=3, file=sys.stderr)
            fn, mode = batched_fallback, "grad(sum of batched layer(Q)), no jit/vmap"
            try:
                gB = np.asarray(fn(Q))
            except Exception as e2:  # noqa: BLE001
                entry["mode"] = mode
                entry["fallback_error"] = repr(e2)[:300]
                out["cases"].append(entry)
                print(f"[{args.side}] B={B}: fallback failed too: {e2!r}"[:400], file=sys.stderr)
                continue
        entry["mode"] = mode
        entry["grad_err"] = float(np.max(np.abs(gB - refs)))
        entry.update(timeit(fn, Q, args.repeats, args.budget))
        out["cases"].append(entry)
        print(f"[{args.side}] B={B}: {entry}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
