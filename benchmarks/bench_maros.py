#!/usr/bin/env python
"""Hard Maros–Meszaros QPs: moreau (this repo) vs Clarabel 0.11 in the same run.

Reads the MATLAB files of qpsolvers/maros_meszaros_qpbenchmark from ../shared/data/qp
(see its README; loader in tests/python/maros.py) and skips, with a message, every file
that is absent.  Each problem is solved once by each solver at tol 1e-8 (gap abs/rel,
feasibility), max_iter 200; Clarabel with direct_solve_method "qdldl" (as the test
corpus; --clarabel-method to change).  Printed: status, iterations, wall time (building
the solver from the conic data + solving), objective (with the constant r) and its
relative error against the literature optimum.

Usage:  .venv/bin/python benchmarks/bench_maros.py [--problems CONT-200 BOYD1] [--skip-clarabel]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import maros  # noqa: E402
import problems as pr  # noqa: E402

TOL = 1e-8


def run_moreau(prob):
    import moreau
    st = pr.moreau_settings(TOL, 200)
    t0 = time.perf_counter()
    solver = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"],
                           cones=pr.moreau_cones(prob["cones"]), settings=st)
    solver.solve()
    wall = time.perf_counter() - t0
    info = solver.info
    return dict(status=pr.status_name(info.status), iterations=int(info.iterations), wall=wall,
                obj=float(info.obj_val) + prob["r"])


def run_clarabel(prob, method):
    import clarabel
    P, q, A, b, cones = pr.to_clarabel(prob)
    st = pr.clarabel_settings(TOL, 200)
    st.direct_solve_method = method
    t0 = time.perf_counter()
    r = clarabel.DefaultSolver(P, q, A, b, cones, st).solve()
    wall = time.perf_counter() - t0
    return dict(status=str(r.status), iterations=int(r.iterations), wall=wall, obj=float(r.obj_val) + prob["r"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", nargs="+", default=list(maros.OPTIMUM))
    ap.add_argument("--data-dir", default=maros.DATA_DIR)
    ap.add_argument("--skip-clarabel", action="store_true")
    ap.add_argument("--clarabel-method", default="qdldl")
    args = ap.parse_args()

    print(f"{'problem':10} {'n':>7} {'m':>7} {'solver':9} {'status':>21} {'it':>4} {'wall s':>8} "
          f"{'objective':>16} {'rel err':>9}")
    for name in args.problems:
        if not maros.available(name, args.data_dir):
            print(f"{name:10} skipped: {maros.path_of(name, args.data_dir)} not found")
            continue
        prob = maros.load_qp(name, args.data_dir)
        runs = [("moreau", run_moreau)]
        if not args.skip_clarabel:
            runs.append(("clarabel", lambda p: run_clarabel(p, args.clarabel_method)))
        for label, fn in runs:
            r = fn(prob)
            star = prob["obj_star"]
            rel = abs(r["obj"] - star) / abs(star) if star is not None else float("nan")
            print(f"{name:10} {prob['n']:7d} {prob['m']:7d} {label:9} {r['status']:>21} {r['iterations']:4d} "
                  f"{r['wall']:8.2f} {r['obj']:16.9e} {rel:9.2e}", flush=True)


if __name__ == "__main__":
    main()
