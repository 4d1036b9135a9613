#!/usr/bin/env python
"""Speed benchmark: moreau (this repo) vs Clarabel 0.11.1, and batch thread scaling.

Part 1 - single problems.  The corpus is `benchmark_corpus()` from
tests/python/problems.py: LP, QP, portfolio SOCP with a factor model, lasso, Huber
fitting, logistic regression (exp cones), n up to ~5000.  Each problem is solved by
both solvers at the same tolerances (tol_gap_abs = tol_gap_rel = tol_feas = 1e-8,
max_iter 200; Clarabel with its default settings otherwise, verbose off), `--repeats`
times each, alternating.  Time = wall clock of building the solver from the conic data
plus solving (what a user pays per problem), min over repeats (the median is in the
JSON).  Summary:
  - time ratio  = SGM(ours) / SGM(Clarabel), SGM = shifted geometric mean
                  exp(mean(log(t_i + sh))) - sh with shift sh = 10 ms (--shift-ms);
                  also the plain geometric mean of the per-problem ratios;
  - iteration ratio = geomean(ours) / geomean(Clarabel).
Targets: time ratio <= 0.8, iteration ratio <= 1.2.

Part 2 - batch.  `--batch` (1024) small problems of one sparsity pattern (per-element
P, A, q, b values) solved in one call of moreau_jax._native.NativeSolver with
num_threads=1 and with num_threads=2; prints the speedup (target >= 1.8 on 2 cores).

Usage:  .venv/bin/python benchmarks/bench_solver.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import problems as pr  # noqa: E402

TOL = 1e-8


def sgm(values, shift):
    v = np.asarray(values, float)
    return float(np.exp(np.mean(np.log(v + shift))) - shift)


def geomean(values):
    v = np.asarray(values, float)
    return float(np.exp(np.mean(np.log(v))))


def time_moreau(prob):
    import moreau
    st = pr.moreau_settings(TOL, 200)
    t0 = time.perf_counter()
    solver = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"],
                           cones=pr.moreau_cones(prob["cones"]), settings=st)
    sol = solver.solve()
    wall = time.perf_counter() - t0
    info = getattr(sol, "info", None) or solver.info
    return dict(wall=wall, solve_time=float(info.solve_time), iterations=int(info.iterations),
                status=pr.status_name(info.status), obj=float(info.obj_val))


def time_clarabel(prob, method):
    import clarabel
    P, q, A, b, cones = pr.to_clarabel(prob)
    st = pr.clarabel_settings(TOL, 200)
    st.direct_solve_method = method
    t0 = time.perf_counter()
    solver = clarabel.DefaultSolver(P, q, A, b, cones, st)
    r = solver.solve()
    wall = time.perf_counter() - t0
    return dict(wall=wall, solve_time=float(r.solve_time), iterations=int(r.iterations),
                status=str(r.status), obj=float(r.obj_val))


def bench_single(corpus, repeats, shift, clarabel_method):
    rows = []
    hdr = (f"{'problem':<24}{'n':>7}{'m':>7}{'nnz':>9}{'ours ms':>10}{'clar ms':>10}"
           f"{'ratio':>8}{'it':>5}{'it_c':>6}  status")
    print(hdr)
    print("-" * len(hdr))
    for prob in corpus:
        ours, ref = [], []
        for _ in range(repeats):
            ours.append(time_moreau(prob))
            ref.append(time_clarabel(prob, clarabel_method))
        o, c = ours[-1], ref[-1]
        t_o = min(r["wall"] for r in ours)
        t_c = min(r["wall"] for r in ref)
        nnz = prob["P"].nnz + prob["A"].nnz
        agree = (o["status"] == c["status"]
                 and (o["status"] != "Solved"
                      or abs(o["obj"] - c["obj"]) <= 1e-6 * max(1.0, abs(c["obj"]))))
        status = o["status"] if agree else f"MISMATCH ours {o['status']} {o['obj']:.8g} / clarabel {c['status']} {c['obj']:.8g}"
        print(f"{prob['name']:<24}{prob['n']:>7}{prob['m']:>7}{nnz:>9}{1e3 * t_o:>10.2f}"
              f"{1e3 * t_c:>10.2f}{t_o / t_c:>8.2f}{o['iterations']:>5}{c['iterations']:>6}  {status}")
        rows.append(dict(name=prob["name"], family=prob["family"], n=prob["n"], m=prob["m"],
                         nnz=nnz, ours_min_s=t_o, clarabel_min_s=t_c,
                         ours_median_s=statistics.median(r["wall"] for r in ours),
                         clarabel_median_s=statistics.median(r["wall"] for r in ref),
                         ours_solve_time_s=min(r["solve_time"] for r in ours),
                         clarabel_solve_time_s=min(r["solve_time"] for r in ref),
                         ours_iterations=o["iterations"], clarabel_iterations=c["iterations"],
                         ours_status=o["status"], clarabel_status=c["status"],
                         ours_obj=o["obj"], clarabel_obj=c["obj"], agree=bool(agree)))
    t_o = [r["ours_min_s"] for r in rows]
    t_c = [r["clarabel_min_s"] for r in rows]
    summary = dict(
        shift_s=shift,
        sgm_ours_s=sgm(t_o, shift), sgm_clarabel_s=sgm(t_c, shift),
        time_ratio_sgm=sgm(t_o, shift) / sgm(t_c, shift),
        time_ratio_geomean=geomean(np.array(t_o) / np.array(t_c)),
        iter_ratio=geomean([r["ours_iterations"] for r in rows]) / geomean([r["clarabel_iterations"] for r in rows]),
        mismatches=[r["name"] for r in rows if not r["agree"]],
    )
    print("-" * len(hdr))
    print(f"time ratio (shifted geomean, shift {1e3 * shift:g} ms): {summary['time_ratio_sgm']:.3f}"
          f"   [target <= 0.8]")
    print(f"time ratio (geomean of per-problem ratios):      {summary['time_ratio_geomean']:.3f}")
    print(f"iteration ratio (geomean):                       {summary['iter_ratio']:.3f}"
          f"   [target <= 1.2]")
    if summary["mismatches"]:
        print(f"status/objective mismatches: {summary['mismatches']}")
    return rows, summary


def bench_batch(batch, repeats, n, family, seed=0):
    from moreau_jax._native import NativeSolver
    data = pr.batch_same_pattern(seed, batch, n=n, family=family)
    Pp, Ap = data["P_pattern"], data["A_pattern"]
    args = (data["n"], data["m"], Pp.indptr.astype(np.int64), Pp.indices.astype(np.int64),
            Ap.indptr.astype(np.int64), Ap.indices.astype(np.int64), data["cones"])
    vals = [np.ascontiguousarray(a) for a in (data["P_values"], data["A_values"], data["q"], data["b"])]
    out = {}
    for threads in (1, 2):
        solver = NativeSolver(*args, dict(num_threads=threads, tol_gap_abs=TOL,
                                          tol_gap_rel=TOL, tol_feas=TOL))
        solver.solve(*[v[:4] for v in vals])  # warm-up (thread pool, allocations)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = solver.solve(*vals)
            times.append(time.perf_counter() - t0)
        ok = int(np.sum(np.asarray(res["status"]) == 1))
        out[threads] = dict(min_s=min(times), median_s=statistics.median(times), solved=ok)
    # Clarabel, one problem after another, for scale
    t0 = time.perf_counter()
    for prob in data["problems"][: min(batch, 256)]:
        pr.solve_clarabel(prob)
    t_c = (time.perf_counter() - t0) * batch / min(batch, 256)
    speedup = out[1]["min_s"] / out[2]["min_s"]
    print(f"batch of {batch} problems (family {family}, n={data['n']}, m={data['m']}, "
          f"nnz P {Pp.nnz}, nnz A {Ap.nnz}):")
    print(f"  1 thread : {1e3 * out[1]['min_s']:9.2f} ms  ({out[1]['solved']}/{batch} Solved)")
    print(f"  2 threads: {1e3 * out[2]['min_s']:9.2f} ms  ({out[2]['solved']}/{batch} Solved)")
    print(f"  speedup  : {speedup:.2f}x   [target >= 1.8 on 2 cores]")
    print(f"  Clarabel sequential (estimated from {min(batch, 256)}): {1e3 * t_c:9.2f} ms")
    return dict(batch=batch, family=family, n=data["n"], m=data["m"], threads=out,
                speedup=speedup, clarabel_sequential_s=t_c)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small subset, fewer repeats")
    ap.add_argument("--json", metavar="OUT", help="write results to this JSON file")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per problem (default 5, quick 3)")
    ap.add_argument("--shift-ms", type=float, default=10.0, help="shift of the shifted geomean (ms)")
    ap.add_argument("--clarabel-method", default="auto",
                    help="Clarabel direct_solve_method (default: its own 'auto')")
    ap.add_argument("--batch", type=int, default=1024, help="batch size of part 2")
    ap.add_argument("--batch-n", type=int, default=12, help="n of the batch problems")
    ap.add_argument("--batch-family", default="mixed", help="family of the batch problems")
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)

    import clarabel
    print(f"# moreau vs Clarabel {clarabel.__version__}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} logical CPUs; tol 1e-8; repeats {repeats}")
    result = dict(repeats=repeats, tol=TOL, cpu_count=os.cpu_count(), quick=args.quick,
                  clarabel_version=clarabel.__version__)
    if not args.skip_single:
        corpus = pr.benchmark_corpus(quick=args.quick)
        rows, summary = bench_single(corpus, repeats, args.shift_ms / 1e3, args.clarabel_method)
        result["problems"] = rows
        result["summary"] = summary
        print()
    if not args.skip_batch:
        result["batch"] = bench_batch(args.batch if not args.quick else min(args.batch, 256),
                                      repeats, args.batch_n, args.batch_family)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, default=float)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
