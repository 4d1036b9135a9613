#!/usr/bin/env python
"""Worker for compare_official.py, issue 4: the seed family through a native JAX API.

Run by the driver in the right virtualenv (one side per process, since ours and the
official Moreau share the import name ``moreau``):

    --side ours      moreau.jax.Solver of this repo (XLA FFI custom calls)
    --side official  moreau.jax.Solver of PyPI moreau 0.4.1 + moreau-cpu (pure_callback)
    --side qpax      qpax.solve_qp_primal (pure JAX interior point, custom_vjp)

Family:  min 1/2||x||^2 + q'x  s.t.  x >= 0, sum(x) = 1;  loss = sum(x^2).
Cases: jit(grad(loss)) single, jit(vmap(grad(loss))) at the given batch sizes
(P, A, b shared by closure, q batched).  Before timing, x and the gradient at one
instance are checked against the closed form (x = projection of -q onto the simplex).
Prints one JSON object on the last line of stdout.
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

jax.config.update("jax_enable_x64", True)


def proj_simplex(v):
    u = np.sort(v)[::-1]
    css = np.cumsum(u)
    k = np.arange(1, len(v) + 1)
    rho = np.nonzero(u * k > css - 1)[0][-1]
    tau = (css[rho] - 1) / (rho + 1)
    return np.maximum(v - tau, 0.0)


def reference(q):
    """x*(q) and d sum(x^2)/dq in closed form (generic q: no degenerate index)."""
    x = proj_simplex(-q)
    S = x > 0
    g = np.zeros_like(x)
    w = 2 * x[S]
    g[S] = -(w - w.mean())
    return x, g


def seed_csr(n):
    P_ip = np.arange(n + 1, dtype=np.int64)
    P_ix = np.arange(n, dtype=np.int64)
    A_ip = np.concatenate([[0, n], n + 1 + np.arange(n)]).astype(np.int64)
    A_ix = np.concatenate([np.arange(n), np.arange(n)]).astype(np.int64)
    A = np.concatenate([np.ones(n), -np.ones(n)])
    b = np.concatenate([[1.0], np.zeros(n)])
    return P_ip, P_ix, A_ip, A_ix, np.ones(n), A, b


def make_solve_x(side, n, solver_type=None, meta=None):
    """Return solve_x(q) -> x, a JAX-traceable function of q (n,).

    solver_type (official side only): moreau.Settings(solver=...), e.g. "ipm"; None keeps
    the package default ("auto", which picks its active-set QP solver for these small
    QPs on CPU).  The resolved solver is written to meta["solver_resolved"].
    """
    if side in ("ours", "official"):
        import moreau
        import moreau.jax as mjax

        P_ip, P_ix, A_ip, A_ix, P, A, b = seed_csr(n)
        cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=n)
        if side == "official":
            kw = {"device": "cpu"}
            if solver_type:
                kw["solver"] = solver_type
            settings = moreau.Settings(**kw)
        else:
            settings = moreau.Settings()
        solver = mjax.Solver(n, n + 1, P_ip, P_ix, A_ip, A_ix, cones, settings)
        if meta is not None:
            resolved = getattr(getattr(solver, "_settings", None), "solver", None)
            meta["solver_resolved"] = str(resolved) if resolved is not None else "ipm (moreau-jax)"
        P, A, b = jnp.asarray(P), jnp.asarray(A), jnp.asarray(b)

        def solve_x(q):
            return solver.solve(P, A, q, b).x

        return solve_x
    if side == "qpax":
        import qpax

        Q = jnp.eye(n)
        Aeq = jnp.ones((1, n))
        beq = jnp.ones(1)
        G = -jnp.eye(n)
        h = jnp.zeros(n)

        def solve_x(q):
            return qpax.solve_qp_primal(Q, q, Aeq, beq, G, h)

        return solve_x
    raise ValueError(side)


def timeit(fn, arg, repeats, budget):
    jax.block_until_ready(fn(arg))  # compile + warm-up
    jax.block_until_ready(fn(arg))
    times = []
    t_start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - t_start < budget):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(arg))
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "reps": len(times)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", required=True, choices=["ours", "official", "qpax"])
    ap.add_argument("--ns", default="5,50")
    ap.add_argument("--batches", default="64,1024")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--budget", type=float, default=4.0, help="seconds of timed calls per case (min 3 calls)")
    ap.add_argument("--solver", default=None, help="official side: moreau.Settings(solver=...), e.g. ipm")
    args = ap.parse_args()

    out = {"side": args.side, "solver": args.solver, "versions": {"jax": jax.__version__, "python": sys.version.split()[0]}, "cases": []}
    if args.side in ("ours", "official"):
        import moreau

        out["versions"]["moreau"] = getattr(moreau, "__version__", "?")
        out["moreau_file"] = moreau.__file__
    else:
        from importlib.metadata import version

        out["versions"]["qpax"] = version("qpax")

    # The floor of one jitted call into a trivial XLA FFI handler (jaxlib's LAPACK
    # Cholesky of a 1x1 matrix, lapack_spotrf_ffi), for issue 12's target on ours'
    # n = 5 single call: measured once, in that process.
    if args.side == "ours" and "5" in args.ns.split(","):
        floor = {"n": 0, "case": "floor: jit(cholesky) 1x1", "batch": 1}
        floor.update(timeit(jax.jit(jnp.linalg.cholesky), jnp.ones((1, 1)), args.repeats, args.budget))
        out["cases"].append(floor)

    rng = np.random.default_rng(0)
    def err(e):
        return f"{type(e).__name__}: {e}"[:300]

    for n in [int(s) for s in args.ns.split(",")]:
        batches = [int(s) for s in args.batches.split(",")]
        # draw all random data first, so that a failing case does not shift the others
        q0 = rng.normal(size=n)
        q1 = rng.normal(size=n)
        QB = {B: rng.normal(size=(B, n)) for B in batches}
        meta = {}
        try:
            solve_x = make_solve_x(args.side, n, args.solver, meta)
        except Exception as e:  # noqa: BLE001
            out.setdefault("checks", []).append({"n": n, "error": err(e)})
            for case, B in [("jit(grad)", 1)] + [("jit(vmap(grad))", B) for B in batches]:
                out["cases"].append({"n": n, "case": case, "batch": B, "error": err(e)})
            print(f"[{args.side}] n={n} solver construction failed: {err(e)}", file=sys.stderr)
            continue
        out.setdefault("solver_resolved", {})[str(n)] = meta.get("solver_resolved", args.side)

        def loss(q):
            return jnp.sum(solve_x(q) ** 2)

        # correctness on one generic instance
        x_ref, g_ref = reference(q0)
        check = {"n": n}
        try:
            x = np.asarray(jax.jit(solve_x)(jnp.asarray(q0)))
            check["x_err"] = float(np.max(np.abs(x - x_ref)))
            g = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(q0)))
            check["grad_err"] = float(np.max(np.abs(g - g_ref)))
            if n == 5:
                xb = np.asarray(jax.jit(solve_x)(jnp.arange(1.0, 6.0)))
                check["x_basic"] = xb.tolist()  # q = 1..5: expected [1, 0, 0, 0, 0]
                check["x_basic_err"] = float(np.max(np.abs(xb - np.array([1.0, 0, 0, 0, 0]))))
        except Exception as e:  # noqa: BLE001
            check["error"] = err(e)
        out.setdefault("checks", []).append(check)
        print(f"[{args.side}] check n={n}: {check}", file=sys.stderr)

        entry = {"n": n, "case": "jit(grad)", "batch": 1}
        try:
            single = jax.jit(jax.grad(loss))
            entry.update(timeit(single, jnp.asarray(q1), args.repeats, args.budget))
        except Exception as e:  # noqa: BLE001
            entry["error"] = err(e)
        out["cases"].append(entry)
        print(f"[{args.side}] n={n} jit(grad): {entry}", file=sys.stderr)
        batched = jax.jit(jax.vmap(jax.grad(loss)))
        for B in batches:
            entry = {"n": n, "case": "jit(vmap(grad))", "batch": B}
            try:
                Q = jnp.asarray(QB[B])
                gB = np.asarray(batched(Q))
                refs = np.stack([reference(qq)[1] for qq in QB[B]])
                entry["grad_err"] = float(np.max(np.abs(gB - refs)))
                entry.update(timeit(batched, Q, args.repeats, args.budget))
            except Exception as e:  # noqa: BLE001
                entry["error"] = err(e)
            out["cases"].append(entry)
            print(f"[{args.side}] n={n} B={B} jit(vmap(grad)): {entry}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
