#!/usr/bin/env python
"""Speed of the backward pass (VJP): moreau (this repo) vs diffcp, and vs our solve.

Corpus: random problems with P = 0 from tests/python/problems.py
(`random_feasible("lp" / "socp" / "exp", ...)`) and the logistic problems of the solver
benchmark, next to CVXPY-generated families of common uses (`cvxpy_corpus`): MPC
(8 states, 3 inputs, horizon 50, `cp.abs(U) <= 1`: degenerate, its epigraph variables
are not unique), sqrt-lasso 400x150 (SOC), Huber 600x120, portfolio n=300 as a QP and
with an SOC risk limit, logistic 300x20 (exp), and a random SOCP.  diffcp handles
P = 0 only; for P != 0 rows its columns are empty.

Timed, per problem (min over `--repeats`):
  - ours_fwd:   moreau.Solver.solve() (tolerances 1e-8);
  - ours_bwd:   Solver.backward(dx, dz, ds) with random cotangents (second and later
                calls: the symbolic LU of the derivative system is cached per pattern;
                the first call, which builds it, is reported as ours_bwd_first);
  - diffcp_*:   the adjoint DT(dx, dy, ds) returned by diffcp.solve_and_derivative in
                "dense" and "lsqr" modes (its SCS solve is not timed).
Ratios: diffcp's faster mode / ours_bwd (target >= 10, P = 0 problems) and
ours_bwd / ours_fwd (target <= 0.3, every problem), per problem and as geometric means.
`path` counts how the derivative systems were solved (`_native.derivative_path_counts`):
L = LDL^T accepted, P = LDL^T least squares on a singular system (rhs projected off
the null space, or off near-null vectors of K found from the stalled refinement),
S = dense pseudo-inverse / LSQR fallback.

Usage: .venv/bin/python benchmarks/bench_backward.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import problems as pr  # noqa: E402

TOL = 1e-8


def p_zero_problem(family, n, seed_start=0):
    """First constructive problem of `family` with P = 0 at size n."""
    for seed in range(seed_start, seed_start + 200):
        prob = pr.random_feasible(family, seed, n=n)
        if prob["P"].nnz == 0:
            return prob | dict(name=f"{family}_n{n}")
    raise RuntimeError(f"no P = 0 instance of {family} at n = {n}")


def corpus(quick):
    probs = [p_zero_problem("lp", 100), p_zero_problem("socp", 100), p_zero_problem("exp", 60)]
    probs.append(pr._bench_logistic(100, 10, 1))
    if not quick:
        probs += [p_zero_problem("lp", 300), p_zero_problem("lp", 1000), p_zero_problem("socp", 300),
                  p_zero_problem("exp", 200), pr._bench_logistic(500, 20, 2)]
    return [p for p in probs if p["P"].nnz == 0] + cvxpy_corpus(quick)


# ---------------------------------------------------------------- CVXPY families


def mpc(nx=8, nu=3, T=50, seed=0):
    """min ||X||^2 + 0.1 ||U||^2, x_{t+1} = A x_t + B u_t, x_0 given, |U| <= 1."""
    import cvxpy as cp
    rng = np.random.default_rng([410, seed])
    A = rng.normal(size=(nx, nx))
    A /= 1.05 * np.max(np.abs(np.linalg.eigvals(A)))
    B = rng.normal(size=(nx, nu))
    x0 = 5 * rng.normal(size=nx)
    X, U = cp.Variable((nx, T + 1)), cp.Variable((nu, T))
    cons = [X[:, 0] == x0, X[:, 1:] == A @ X[:, :-1] + B @ U, cp.abs(U) <= 1]
    prob = cp.Problem(cp.Minimize(cp.sum_squares(X) + 0.1 * cp.sum_squares(U)), cons)
    return pr.from_cvxpy(prob, f"mpc_{nx}x{nu}x{T}", "mpc")


def sqrt_lasso(m=400, n=150, seed=0):
    import cvxpy as cp
    rng = np.random.default_rng([411, seed])
    Ad = rng.normal(size=(m, n))
    bd = Ad @ (rng.normal(size=n) * (rng.random(n) < 0.1)) + 0.1 * rng.normal(size=m)
    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(cp.norm(Ad @ x - bd, 2) + 0.2 * cp.norm1(x)))
    return pr.from_cvxpy(prob, f"sqrt_lasso_{m}x{n}", "sqrt_lasso")


def huber(m=600, n=120, seed=0):
    import cvxpy as cp
    rng = np.random.default_rng([412, seed])
    Ad = rng.normal(size=(m, n))
    bd = Ad @ rng.normal(size=n) + 0.1 * rng.normal(size=m)
    out = rng.random(m) < 0.05
    bd[out] += 10 * rng.normal(size=out.sum())
    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.huber(Ad @ x - bd, 1.0))))
    return pr.from_cvxpy(prob, f"huber_{m}x{n}", "huber")


def portfolio(n=300, k=20, soc=False, seed=0):
    """Factor-model portfolio, sum w = 1, w >= 0: a QP, or with an SOC risk limit."""
    import cvxpy as cp
    rng = np.random.default_rng([413, seed])
    mu = np.abs(rng.normal(size=n)) * 0.1
    F = rng.normal(size=(n, k)) * 0.1
    d = rng.uniform(0.0, 0.1, size=n)
    w, f = cp.Variable(n), cp.Variable(k)
    cons = [cp.sum(w) == 1, w >= 0, f == F.T @ w]
    if soc:
        cons.append(cp.norm(cp.hstack([f, cp.multiply(np.sqrt(d), w)]), 2) <= 0.1)
        obj, name = cp.Maximize(mu @ w - 0.1 * cp.sum_squares(w)), f"portfolio_soc_n{n}"
    else:
        obj = cp.Maximize(mu @ w - (cp.sum_squares(f) + cp.sum_squares(cp.multiply(np.sqrt(d), w))))
        name = f"portfolio_qp_n{n}"
    return pr.from_cvxpy(cp.Problem(obj, cons), name, "portfolio")


def logistic(N=300, k=20, seed=0):
    """l1-regularized logistic regression (exp cones, P = 0)."""
    import cvxpy as cp
    rng = np.random.default_rng([414, seed])
    X = rng.normal(size=(N, k))
    y = np.sign(X @ rng.normal(size=k) + 0.5 * rng.normal(size=N))
    y[y == 0] = 1
    w = cp.Variable(k)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, X @ w))) / N + 0.01 * cp.norm1(w)))
    return pr.from_cvxpy(prob, f"logistic_{N}x{k}", "logistic")


def socp(k=20, n=60, seed=0):
    """min c'x over k random norm balls and ||x|| <= 10 (P = 0)."""
    import cvxpy as cp
    rng = np.random.default_rng([415, seed])
    x = cp.Variable(n)
    cons = [cp.norm(rng.normal(size=(5, n)) @ x + rng.normal(size=5), 2) <= 10 + rng.random() for _ in range(k)]
    prob = cp.Problem(cp.Minimize(rng.normal(size=n) @ x), cons + [cp.norm(x, 2) <= 10])
    return pr.from_cvxpy(prob, f"socp_{k}x{n}", "socp")


def cvxpy_corpus(quick):
    try:
        import cvxpy  # noqa: F401
    except ImportError:
        print("cvxpy not installed: random problems only")
        return []
    probs = [mpc(), portfolio(soc=False), socp()]
    if not quick:
        probs += [sqrt_lasso(), huber(), portfolio(soc=True), logistic()]
    return probs


def best(f, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import moreau
    from moreau_jax._native import derivative_path_counts
    try:
        import diffcp
    except ImportError:
        diffcp = None
        print("diffcp not installed: only our own timings")
    rows = []
    for prob in corpus(args.quick):
        st = pr.moreau_settings(TOL, 200, enable_grad=True)
        solver = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"],
                               cones=pr.moreau_cones(prob["cones"]), settings=st)
        fwd, sol = best(solver.solve, args.repeats)
        status = solver.info.status.name
        rng = np.random.default_rng(0)
        n, m = prob["n"], prob["m"]
        dx, dz, ds = rng.normal(size=n), rng.normal(size=m), rng.normal(size=m)
        derivative_path_counts()
        t0 = time.perf_counter()
        solver.backward(dx, dz, ds)
        first = time.perf_counter() - t0
        bwd, g = best(lambda: solver.backward(dx, dz, ds), args.repeats)
        counts = derivative_path_counts()
        path = "".join(f"{k}{counts[name]}" for k, name in (("L", "ldlt"), ("P", "ldlt_projected"), ("S", "lsqr"))
                       if counts[name])
        finite = all(np.all(np.isfinite(v)) for v in g.values())
        row = dict(name=prob["name"], n=n, m=m, status=status, fwd=fwd, bwd=bwd, bwd_first=first, path=path,
                   finite=finite)
        if diffcp is not None and prob["P"].nnz == 0:
            cones = {"z": prob["cones"]["zero"], "l": prob["cones"]["nonneg"], "q": prob["cones"]["soc"],
                     "ep": prob["cones"]["exp"]}
            A = sp.csc_matrix(prob["A"])
            for mode in ("dense", "lsqr"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _, _, _, _, DT = diffcp.solve_and_derivative(A, prob["b"], prob["q"], cones, eps=1e-8,
                                                                 mode=mode)
                    row[f"diffcp_{mode}"], _ = best(lambda: DT(dx, dz, ds), max(1, min(args.repeats, 3)))
        rows.append(row)
        print(f"  done {prob['name']}", flush=True)

    hdr = f"{'problem':<22}{'n':>6}{'m':>7} {'status':<13}{'path':<8}{'fwd ms':>9}{'bwd ms':>9}{'bwd1 ms':>9}"
    if diffcp is not None:
        hdr += f"{'dcp dense':>11}{'dcp lsqr':>10}{'speedup':>9}"
    hdr += f"{'bwd/fwd':>9}"
    print(hdr)
    speedups, fractions = [], []
    for r in rows:
        path = r["path"] + ("" if r["finite"] else "!nan")
        line = (f"{r['name']:<22}{r['n']:>6}{r['m']:>7} {r['status']:<13}{path:<8}{1e3 * r['fwd']:>9.2f}"
                f"{1e3 * r['bwd']:>9.3f}{1e3 * r['bwd_first']:>9.3f}")
        if diffcp is not None and "diffcp_dense" in r:
            fastest = min(r["diffcp_dense"], r["diffcp_lsqr"])
            speedups.append(fastest / r["bwd"])
            line += f"{1e3 * r['diffcp_dense']:>11.2f}{1e3 * r['diffcp_lsqr']:>10.2f}{speedups[-1]:>8.1f}x"
        elif diffcp is not None:
            line += f"{'-':>11}{'-':>10}{'-':>9}"
        fractions.append(r["bwd"] / r["fwd"])
        line += f"{fractions[-1]:>9.3f}"
        print(line)
    gm = lambda v: float(np.exp(np.mean(np.log(v))))  # noqa: E731
    if speedups:
        print(f"speedup vs diffcp's faster mode: geomean {gm(speedups):.1f}x, min {min(speedups):.1f}x "
              f"(target >= 10x)")
    print(f"backward / forward: geomean {gm(fractions):.3f}, max {max(fractions):.3f} (target <= 0.3)")


if __name__ == "__main__":
    main()
