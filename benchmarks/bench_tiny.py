#!/usr/bin/env python
"""Tiny problems through the NumPy API (issue 12): ``moreau.Solver(...)`` + ``.solve()``
against Clarabel's ``DefaultSolver(...)`` + ``.solve()`` on the same data, n <= 20.

What a user pays per problem: constructing the solver from scipy matrices (every
validation included) and solving.  Both sides run alternately in this process at the
same tolerances (1e-8), no output; the time is the median of ``--repeats`` calls.
The ratio ours / Clarabel per problem and their geomean are printed (target <= 1.0).

    .venv/bin/python benchmarks/bench_tiny.py [--repeats 400]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
import problems as pr  # noqa: E402

import clarabel  # noqa: E402
import moreau  # noqa: E402


def tiny_corpus():
    out = [pr.seed_problem()]
    for fam in ("lp", "qp", "socp", "exp"):
        for n in (5, 10, 20):
            out.append(pr.random_feasible(fam, 3, n=n))
    return out


def time_median(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=400)
    args = ap.parse_args()
    settings = pr.moreau_settings(tol=1e-8)
    csettings = pr.clarabel_settings(tol=1e-8)
    rows, ratios = [], []
    for prob in tiny_corpus():
        P, q, A, b = prob["P"], prob["q"], prob["A"], prob["b"]
        cones = pr.moreau_cones(prob["cones"])
        cP, cq, cA, cb, ccones = pr.to_clarabel(prob)

        def ours():
            s = moreau.Solver(P, q, A, b, cones, settings)
            s.solve()
            return s.info.status.name

        def theirs():
            s = clarabel.DefaultSolver(cP, cq, cA, cb, ccones, csettings)
            return str(s.solve().status)

        st_o, st_c = ours(), theirs()
        t_o = time_median(ours, args.repeats)
        t_c = time_median(theirs, args.repeats)
        ratios.append(t_o / t_c)
        rows.append((prob["name"], prob["n"], A.shape[0], t_o * 1e6, t_c * 1e6, t_o / t_c, st_o, st_c))
    print(f"{'problem':<16} {'n':>3} {'m':>3} {'ours us':>9} {'clarabel us':>12} {'ratio':>6}  status")
    for name, n, m, t_o, t_c, r, st_o, st_c in rows:
        print(f"{name:<16} {n:>3} {m:>3} {t_o:>9.1f} {t_c:>12.1f} {r:>6.2f}  {st_o} / {st_c}")
    print(f"geomean ratio ours / Clarabel: {np.exp(np.mean(np.log(ratios))):.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
