#!/usr/bin/env python
"""Dump one problem of `bench_backward.py` (data, solution, the benchmark's cotangents)
for `profile_backward.rs`: one `name len` line per array, then its values.

Usage: .venv/bin/python benchmarks/rust/dump_backward.py NAME OUT
NAME: a problem name of the benchmark table (e.g. socp_20x60, sqrt_lasso_400x150).
"""

import os
import sys

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))

import bench_backward as bb  # noqa: E402
import problems as pr  # noqa: E402


def main():
    name, out = sys.argv[1], sys.argv[2]
    prob = next(p for p in bb.corpus(False) if p["name"] == name)
    import moreau
    st = pr.moreau_settings(bb.TOL, 200, enable_grad=True)
    solver = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"], cones=pr.moreau_cones(prob["cones"]),
                           settings=st)
    sol = solver.solve()
    assert solver.info.status.name == "Solved", solver.info.status
    # the benchmark's cotangents
    rng = np.random.default_rng(0)
    n, m = prob["n"], prob["m"]
    dx, dz, ds = rng.normal(size=n), rng.normal(size=m), rng.normal(size=m)
    c = prob["cones"]
    P, A = sp.csr_matrix(prob["P"]), sp.csr_matrix(prob["A"])
    P.sort_indices()
    A.sort_indices()
    arrays = [("dims", [n, m, c["zero"], c["nonneg"], c["exp"]]), ("soc", list(c["soc"])),
              ("pi", P.indptr), ("pj", P.indices), ("pv", P.data), ("ai", A.indptr), ("aj", A.indices),
              ("av", A.data), ("q", prob["q"]), ("b", prob["b"]), ("x", sol.x), ("z", sol.z), ("s", sol.s),
              ("dx", dx), ("dz", dz), ("ds", ds)]
    with open(out, "w") as f:
        for key, arr in arrays:
            arr = np.asarray(arr, dtype=float)
            f.write(f"{key} {arr.size}\n" + " ".join(repr(float(v)) for v in arr) + "\n")


if __name__ == "__main__":
    main()
