#!/usr/bin/env python
"""Speed of the backward pass (VJP): moreau (this repo) vs diffcp, and vs our solve.

Corpus: problems with P = 0 (diffcp handles only those): LPs from
tests/python/problems.py (`random_feasible("lp", ...)`, n = 100 / 300 / 1000), SOCPs and
exponential-cone problems with P = 0 from the same generator, and the logistic
regression problems of the solver benchmark (exp cones).

Timed, per problem (min over `--repeats`):
  - ours_fwd:   moreau.Solver.solve() (tolerances 1e-8);
  - ours_bwd:   Solver.backward(dx, dz, ds) with random cotangents (second and later
                calls: the symbolic LU of the derivative system is cached per pattern;
                the first call, which builds it, is reported as ours_bwd_first);
  - diffcp_*:   the adjoint DT(dx, dy, ds) returned by diffcp.solve_and_derivative in
                "dense" and "lsqr" modes (its SCS solve is not timed).
Ratios: diffcp's faster mode / ours_bwd (target >= 10) and ours_bwd / ours_fwd
(target <= 0.3), per problem and as geometric means.

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
    return [p for p in probs if p["P"].nnz == 0]


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
        t0 = time.perf_counter()
        solver.backward(dx, dz, ds)
        first = time.perf_counter() - t0
        bwd, g = best(lambda: solver.backward(dx, dz, ds), args.repeats)
        row = dict(name=prob["name"], n=n, m=m, status=status, fwd=fwd, bwd=bwd, bwd_first=first)
        if diffcp is not None:
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

    hdr = f"{'problem':<22}{'n':>6}{'m':>7} {'status':<13}{'fwd ms':>9}{'bwd ms':>9}{'bwd1 ms':>9}"
    if diffcp is not None:
        hdr += f"{'dcp dense':>11}{'dcp lsqr':>10}{'speedup':>9}"
    hdr += f"{'bwd/fwd':>9}"
    print(hdr)
    speedups, fractions = [], []
    for r in rows:
        line = (f"{r['name']:<22}{r['n']:>6}{r['m']:>7} {r['status']:<13}{1e3 * r['fwd']:>9.2f}"
                f"{1e3 * r['bwd']:>9.3f}{1e3 * r['bwd_first']:>9.3f}")
        if diffcp is not None:
            fastest = min(r["diffcp_dense"], r["diffcp_lsqr"])
            speedups.append(fastest / r["bwd"])
            line += f"{1e3 * r['diffcp_dense']:>11.2f}{1e3 * r['diffcp_lsqr']:>10.2f}{speedups[-1]:>8.1f}x"
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
