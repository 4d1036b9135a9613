#!/usr/bin/env python
"""The seed page's PyTorch example through cvxpylayers.torch: forward + backward time.

Problem (the page's "Basic Usage"): min 1/2||x||^2 + q'x  s.t. x >= 0, sum(x) == 1,
n = 5. One timed step is ``x, = layer(Q); (x ** 2).sum().backward()`` with
Q of shape (n,) ("single") or (B, n); the time is the median over repeats
(``--repeats``, within ``--budget`` seconds per case, after one warm-up call).

Sides, each in its own process (they all import ``moreau``):
    ours      CvxpyLayer(..., solver="MOREAU") with this repo's moreau.torch
    diffcp    CvxpyLayer(...) with the default backend (diffcp), same interpreter
    official  CvxpyLayer(..., solver="MOREAU") with PyPI moreau 0.4.1 + moreau-cpu, run by
              ``--official-python`` (a venv with moreau==0.4.1, moreau-cpu==0.4.1,
              torch, cvxpy 1.9.3, cvxpylayers 1.2.0); skipped when not given.

Before timing, each side's x at q = 1..5 is compared with [1, 0, 0, 0, 0] (the
official package with cvxpy 1.9 drops x >= 0 there: printed as WRONG, timed anyway;
diffcp's SCS stops at about 3e-4).

Usage:
    .venv/bin/python benchmarks/bench_torch.py
    .venv/bin/python benchmarks/bench_torch.py --official-python /tmp/venv-off-torch/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def worker(side: str, batches, repeats: int, budget: float, threads: int) -> dict:
    import numpy as np
    import torch
    import cvxpy as cp
    from cvxpylayers.torch import CvxpyLayer
    import moreau

    torch.set_num_threads(threads)
    n = 5
    x = cp.Variable(n)
    q = cp.Parameter(n)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + q @ x), [x >= 0, cp.sum(x) == 1])
    layer = CvxpyLayer(problem, parameters=[q], variables=[x],
                       solver=None if side == "diffcp" else "MOREAU")
    x0, = layer(torch.arange(1.0, 6.0, dtype=torch.float64))
    x_err = float(np.abs(x0.detach().numpy() - [1, 0, 0, 0, 0]).max())
    gen = torch.Generator().manual_seed(0)
    cases = []
    for B in batches:
        shape = (n,) if B == 1 else (B, n)
        Q = torch.randn(shape, dtype=torch.float64, generator=gen)

        def step():
            qv = Q.clone().requires_grad_(True)
            xo, = layer(qv)
            (xo ** 2).sum().backward()
            return qv.grad

        step()  # warm-up (lazy solver construction, first factorization)
        times = []
        t_end = time.perf_counter() + budget
        while len(times) < repeats and (len(times) < 3 or time.perf_counter() < t_end):
            t0 = time.perf_counter()
            g = step()
            times.append(time.perf_counter() - t0)
        cases.append(dict(batch=B, median_s=float(np.median(times)), reps=len(times),
                          finite=bool(torch.isfinite(g).all())))
    return dict(side=side, moreau_module=moreau.Cones.__module__, x_err=x_err, cases=cases,
                torch=torch.__version__)


def run_side(python: str, side: str, args) -> dict:
    cmd = [python, os.path.abspath(__file__), "--worker", side, "--batches", args.batches,
           "--repeats", str(args.repeats), "--budget", str(args.budget), "--threads", str(args.threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return dict(side=side, error=r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"rc {r.returncode}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="1,64,1024")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--budget", type=float, default=5.0, help="seconds per case (at least 3 repeats)")
    # torch's intra-op threads: 1 by default. On a small shared machine more
    # threads make every tiny torch op wait for OpenMP workers (tens of ms each
    # under load), which swamps what is measured; the solvers' own threads are
    # unaffected (ours: Rust rayon threads, Settings.num_threads).
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--official-python", default=None)
    ap.add_argument("--no-diffcp", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.worker:
        print(json.dumps(worker(args.worker, batches, args.repeats, args.budget, args.threads)))
        return

    sides = [("ours", sys.executable)]
    if not args.no_diffcp:
        sides.append(("diffcp", sys.executable))
    if args.official_python:
        sides.append(("official", args.official_python))
    results = {side: run_side(py, side, args) for side, py in sides}
    for side, res in results.items():
        if "error" in res:
            print(f"{side}: FAILED ({res['error']})")
        else:
            print(f"{side}: moreau from {res['moreau_module']}, torch {res['torch']}, "
                  f"max |x - [1,0,0,0,0]| at q=1..5: {res['x_err']:.1e}"
                  f"{'  (WRONG: a different problem)' if res['x_err'] > 1e-2 else ''}")
    names = [s for s in results if "error" not in results[s]]
    head = "| case | " + " | ".join(names) + "".join(f" | ours / {s}" for s in names if s != "ours") + " |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for i, B in enumerate(batches):
        t = {s: results[s]["cases"][i]["median_s"] for s in names}
        row = [f"B={B}" if B > 1 else "single"] + [f"{t[s] * 1e3:.3f} ms" for s in names]
        if "ours" in t:
            row += [f"{t['ours'] / t[s]:.3f}x" for s in names if s != "ours"]
        print("| " + " | ".join(row) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
