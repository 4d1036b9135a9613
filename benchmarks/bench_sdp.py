#!/usr/bin/env python
"""SDP benchmark: moreau (this repo) vs Clarabel 0.11 on problems with PSD cones.

Corpus (conic form, the same data and svec convention for both solvers; seeded):
  - maxcut-k:   the max-cut SDP relaxation in dual form, min sum(y) s.t.
                diag(y) - L/4 >> 0: n = k, one PSD cone of side k (k(k+1)/2 rows);
  - lmi-k-p:    min lambda_max(A0 + sum_i x_i A_i) + |x|_1-box: one PSD cone of side k,
                p variables, box rows;
  - sdp-k-p:    a standard-form SDP min <C, X> s.t. <A_i, X> = b_i (p sparse A_i),
                X >> 0, feasible and bounded by construction (k(k+1)/2 variables:
                up to a few thousand);
  - many-c-k:   c small PSD cones of side k plus nonnegative rows on ~2000 variables
                (constructive, mixed with a quadratic objective).
Both solvers at tol_gap_abs = tol_gap_rel = tol_feas = 1e-8, max_iter 200.  Time = wall
clock of building the solver plus solving, min over --repeats.  Summary: shifted
geometric mean time ratio SGM(ours)/SGM(Clarabel) (shift 10 ms) and iteration ratio
geomean(ours)/geomean(Clarabel).  Targets: time ratio <= 1.0, iterations <= 1.2.

Usage:  .venv/bin/python benchmarks/bench_sdp.py [--quick | --large] [--repeats R] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

from test_psd import blocks, clarabel_cones, moreau_cones, num_rows, svec  # noqa: E402

TOL = 1e-8


def sgm(values, shift):
    v = np.asarray(values, float)
    return float(np.exp(np.mean(np.log(v + shift))) - shift)


def geomean(values):
    return float(np.exp(np.mean(np.log(np.asarray(values, float)))))


def _sym(rng, k):
    G = rng.normal(size=(k, k))
    return (G + G.T) / 2


def svec_columns(mats):
    """(k(k+1)/2, p) matrix whose column i is svec(mats[i])."""
    return np.column_stack([svec(M) for M in mats])


def maxcut(k, seed):
    rng = np.random.default_rng(seed)
    W = np.triu((rng.random((k, k)) < 0.3) * rng.uniform(0.5, 2.0, size=(k, k)), 1)
    W = W + W.T
    L = np.diag(W.sum(1)) - W
    # s = svec(diag(y) - L/4) = b - A y with b = svec(-L/4), A = -svec(E_ii)
    E = [np.diag(np.eye(k)[i]) for i in range(k)]
    A = sp.csr_matrix(-svec_columns(E))
    return dict(name=f"maxcut-{k}", P=sp.csr_matrix((k, k)), q=np.ones(k), A=A, b=svec(-L / 4),
                cones={"psd": [k]})


def lmi(k, p, seed):
    rng = np.random.default_rng(seed)
    A0 = _sym(rng, k)
    As = [_sym(rng, k) for _ in range(p)]
    # variables (x, t): min t s.t. t I - A0 - sum x_i A_i >> 0, -1 <= x <= 1
    n = p + 1
    Apsd = np.column_stack([svec_columns(As), -svec(np.eye(k))])  # s = svec(-A0) - Apsd [x; t]
    box = np.vstack([np.hstack([np.eye(p), np.zeros((p, 1))]), np.hstack([-np.eye(p), np.zeros((p, 1))])])
    A = sp.csr_matrix(np.vstack([box, Apsd]))
    b = np.concatenate([np.ones(2 * p), svec(A0)])
    q = np.zeros(n)
    q[-1] = 1.0
    return dict(name=f"lmi-{k}-{p}", P=sp.csr_matrix((n, n)), q=q, A=A, b=b,
                cones={"nonneg": 2 * p, "psd": [k]})


def standard_sdp(k, p, seed):
    rng = np.random.default_rng(seed)
    d = k * (k + 1) // 2
    mats = []
    for _ in range(p):
        M = sp.random(k, k, density=min(1.0, 4.0 / k), random_state=np.random.RandomState(rng.integers(1 << 30)))
        M = (M + M.T).toarray() / 2
        mats.append(M)
    mats[0] = np.eye(k)  # trace constraint keeps it bounded
    G = rng.normal(size=(k, k))
    X0 = G @ G.T / k + np.eye(k)
    H = rng.normal(size=(k, k))
    Z0 = H @ H.T / k + 0.1 * np.eye(k)
    y0 = rng.normal(size=p)
    C = sum(y0[i] * mats[i] for i in range(p)) + Z0
    Aeq = svec_columns(mats).T  # rows <A_i, X> in svec coordinates
    # variables x = svec(X): Aeq x = b (zero cone), -x + s = 0 with s in PSD
    A = sp.vstack([sp.csr_matrix(Aeq), -sp.eye(d)]).tocsr()
    b = np.concatenate([Aeq @ svec(X0), np.zeros(d)])
    return dict(name=f"sdp-{k}-{p}", P=sp.csr_matrix((d, d)), q=svec(C), A=A, b=b,
                cones={"zero": p, "psd": [k]})


def many_small(c, k, seed, n=2000):
    rng = np.random.default_rng(seed)
    cones = {"nonneg": 200, "psd": [k] * c}
    m = num_rows(cones)
    A = sp.random(m, n, density=3.0 / n, random_state=np.random.RandomState(seed), data_rvs=rng.standard_normal)
    A = (A + sp.eye(m, n)).tocsr()
    M = sp.random(n, n, density=2.0 / n, random_state=np.random.RandomState(seed + 1))
    P = (M @ M.T + 0.1 * sp.eye(n)).tocsr()
    x = rng.normal(size=n)
    s, z = np.zeros(m), np.zeros(m)
    for kind, r, d, kk in blocks(cones):
        if kind == "nonneg":
            on = rng.random(d) < 0.5
            s[r:r + d] = np.where(on, rng.uniform(0.5, 2, d), 0)
            z[r:r + d] = np.where(on, 0, rng.uniform(0.5, 2, d))
        else:
            Q, _ = np.linalg.qr(rng.normal(size=(kk, kk)))
            rk = int(rng.integers(0, kk + 1))
            ls = np.concatenate([rng.uniform(0.5, 2, rk), np.zeros(kk - rk)])
            lz = np.concatenate([np.zeros(rk), rng.uniform(0.5, 2, kk - rk)])
            s[r:r + d], z[r:r + d] = svec(Q @ np.diag(ls) @ Q.T), svec(Q @ np.diag(lz) @ Q.T)
    return dict(name=f"many-{c}-{k}", P=P, q=-P @ x - A.T @ z, A=A, b=A @ x + s, cones=cones)


def corpus(quick, large):
    """--quick: a smoke corpus; default: k up to 60; --large adds k = 80 .. 100 (each
    such cone is a dense 3240 .. 5050 square block: minutes per solve on 2 busy cores,
    for Clarabel as for us)."""
    if quick:
        ks, lm, sd, ms = (10, 20, 40), ((10, 5), (30, 10)), ((15, 10),), ((100, 3),)
    else:
        ks = (10, 20, 40, 60) + ((100,) if large else ())
        lm = ((10, 5), (30, 10), (50, 20)) + (((80, 10),) if large else ())
        sd = ((15, 10), (40, 30), (50, 50)) + (((80, 40),) if large else ())
        ms = ((100, 3), (300, 4), (100, 8))
    probs = [maxcut(k, k) for k in ks]
    probs += [lmi(k, p, k + p) for k, p in lm]
    probs += [standard_sdp(k, p, k) for k, p in sd]
    probs += [many_small(c, k, c) for c, k in ms]
    return probs


def run_moreau(prob):
    import moreau
    ipm = moreau.IPMSettings(tol_gap_abs=TOL, tol_gap_rel=TOL, tol_feas=TOL)
    st = moreau.Settings(max_iter=200, ipm_settings=ipm)
    t0 = time.perf_counter()
    solver = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"], cones=moreau_cones(prob["cones"]), settings=st)
    solver.solve()
    wall = time.perf_counter() - t0
    return wall, solver.info.status.name, int(solver.info.iterations), float(solver.info.obj_val)


def run_clarabel(prob):
    import clarabel
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.tol_gap_abs = st.tol_gap_rel = st.tol_feas = TOL
    st.max_iter = 200
    t0 = time.perf_counter()
    s = clarabel.DefaultSolver(sp.triu(prob["P"], format="csc"), prob["q"], sp.csc_matrix(prob["A"]), prob["b"],
                               clarabel_cones(prob["cones"]), st)
    r = s.solve()
    wall = time.perf_counter() - t0
    return wall, str(r.status), int(r.iterations), float(r.obj_val)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--large", action="store_true", help="add k = 80 .. 100 (slow)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--shift-ms", type=float, default=10.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    # warm-up: the first solve of each solver pays one-time costs (imports, page faults)
    run_moreau(maxcut(5, 0))
    run_clarabel(maxcut(5, 0))
    print(f"{'problem':<14}{'n':>6}{'m':>7} | {'ours s':>9}{'it':>4} {'status':<12}| "
          f"{'clarabel s':>10}{'it':>4} {'status':<12}| rel obj diff")
    for prob in corpus(args.quick, args.large):
        best_o = best_c = None
        for _ in range(args.repeats):
            o = run_moreau(prob)
            c = run_clarabel(prob)
            best_o = o if best_o is None or o[0] < best_o[0] else best_o
            best_c = c if best_c is None or c[0] < best_c[0] else best_c
        n, m = prob["A"].shape[1], prob["A"].shape[0]
        rel = abs(best_o[3] - best_c[3]) / max(1.0, abs(best_c[3]))
        print(f"{prob['name']:<14}{n:>6}{m:>7} | {best_o[0]:>9.3f}{best_o[2]:>4} {best_o[1]:<12}| "
              f"{best_c[0]:>10.3f}{best_c[2]:>4} {best_c[1]:<12}| {rel:.1e}", flush=True)
        rows.append(dict(name=prob["name"], n=n, m=m, ours_s=best_o[0], ours_it=best_o[2], ours_status=best_o[1],
                         clarabel_s=best_c[0], clarabel_it=best_c[2], clarabel_status=best_c[1], rel_obj=rel))
    sh = args.shift_ms / 1000
    t_o, t_c = [r["ours_s"] for r in rows], [r["clarabel_s"] for r in rows]
    summary = dict(
        problems=len(rows), shift_s=sh,
        time_ratio_sgm=sgm(t_o, sh) / sgm(t_c, sh),
        iteration_ratio=geomean([r["ours_it"] for r in rows]) / geomean([r["clarabel_it"] for r in rows]),
        all_solved=all(r["ours_status"] == "Solved" for r in rows),
        max_rel_obj=max(r["rel_obj"] for r in rows),
    )
    print(f"\nshifted geomean time ratio (ours / Clarabel, shift {args.shift_ms:g} ms): "
          f"{summary['time_ratio_sgm']:.3f}")
    print(f"iteration ratio (geomean ours / Clarabel): {summary['iteration_ratio']:.3f}")
    print(f"all Solved: {summary['all_solved']}, max relative objective difference {summary['max_rel_obj']:.1e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(rows=rows, summary=summary), f, indent=1)


if __name__ == "__main__":
    main()
