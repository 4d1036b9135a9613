"""The dense KKT factorization agrees with the sparse one.

`direct_solve_method="dense"` factors the assembled KKT matrix with a dense LDLᵀ
(src/kkt_dense.rs); "qdldl" uses faer's sparse simplicial LDLᵀ on the same matrix.
Both are run through the native interface on small random problems of every cone type
(zero, nonneg, SOC, exp, power), well and badly scaled, infeasible and unbounded ones,
and degenerate ones (the seed problem, LPs with ties), and must agree on the status,
on x, z, s, and on the VJP for a random cotangent.  "auto" must pick dense for small
KKT systems and stay sparse for large ones.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import problems as pr
from moreau_jax._native import NativeSolver

TOL = 1e-8
# Both paths stop at the same tolerances but on different pivots/regularization
# rounding: solutions agree to well below the tolerance-driven error of sqrt(tol).
SOL_RTOL = 2e-5
GRAD_RTOL = 1e-3

FAMILIES = ["lp", "qp", "socp", "exp", "pow", "mixed"]


def _small_n(family, seed, scaling):
    rng = np.random.default_rng([77, pr.RANDOM_FAMILIES.index(family), seed, scaling == "bad"])
    return int(rng.integers(2, 16))


def _cases():
    cases = []
    for fam in FAMILIES:
        for scaling in ("well", "bad"):
            for seed in range(20):
                cases.append(("feasible", fam, scaling, seed))
    for fam in pr.INFEASIBLE_FAMILIES:
        for seed in range(6):
            cases.append(("primal_infeasible", fam, "well", seed))
            cases.append(("dual_infeasible", fam, "well", seed))
    for seed in range(12):
        cases.append(("degenerate", "lp", "well", seed))
    return cases


CASES = _cases()


def _problem(kind, fam, scaling, seed):
    if kind == "feasible":
        return pr.random_feasible(fam, seed, n=_small_n(fam, seed, scaling), scaling=scaling)
    if kind == "primal_infeasible":
        return pr.primal_infeasible(fam, seed, n=int(3 + seed % 8))
    if kind == "dual_infeasible":
        return pr.dual_infeasible(fam, seed, n=int(3 + seed % 8))
    return _degenerate(seed)


def _degenerate(seed):
    """Degenerate QPs/LPs: the seed family (min 1/2||x||^2 + q'x on the simplex) with
    ties in q (x_j = 0 with zero multiplier), and LPs with a whole optimal face."""
    rng = np.random.default_rng([991, seed])
    n = int(rng.integers(3, 12))
    q = np.round(rng.normal(size=n)) if seed % 2 == 0 else np.ones(n)
    P = sp.identity(n, format="csr") if seed % 3 != 2 else sp.csr_matrix((n, n))
    if seed % 3 == 2:
        q = np.abs(q) + 1.0
        q[: max(1, n // 2)] = 0.5  # ties: the LP optimum is a face
    A = sp.vstack([sp.csr_matrix(np.ones((1, n))), -sp.identity(n)]).tocsr()
    b = np.concatenate([[1.0], np.zeros(n)])
    return dict(name=f"degenerate-{seed}", n=n, m=n + 1, P=sp.csr_matrix(P), q=q, A=A, b=b,
                cones=dict(zero=1, nonneg=n))


def _native(prob, method, tol=TOL):
    P = sp.csr_matrix(prob["P"])
    A = sp.csr_matrix(prob["A"])
    P.sort_indices()
    A.sort_indices()
    c = pr.norm_cones(prob["cones"])
    cones = dict(zero=c["zero"], nonneg=c["nonneg"], soc=list(c["soc"]), exp=c["exp"],
                 power=list(c["power"]))
    settings = dict(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, direct_solve_method=method,
                    num_threads=1)
    s = NativeSolver(prob["n"], A.shape[0], P.indptr.astype(np.int64), P.indices.astype(np.int64),
                     A.indptr.astype(np.int64), A.indices.astype(np.int64), cones, settings)
    vals = (P.data[None].copy(), A.data[None].copy(), np.asarray(prob["q"], float)[None],
            np.asarray(prob["b"], float)[None])
    return s, vals


def _solve(prob, method, tol=TOL):
    s, vals = _native(prob, method, tol)
    r = s.solve(*vals)
    return s, vals, r


def _close(a, b, rtol):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = 1.0 + max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    return np.max(np.abs(a - b), initial=0.0) <= rtol * scale


# Statuses that report the same outcome (an "Almost" status is the same answer at the
# reduced tolerances; which one a run ends with can flip on rounding).
OUTCOME = {"Solved": "solved", "AlmostSolved": "solved",
           "PrimalInfeasible": "primal_infeasible", "AlmostPrimalInfeasible": "primal_infeasible",
           "DualInfeasible": "dual_infeasible", "AlmostDualInfeasible": "dual_infeasible"}
CERT_TOL = 1e-6


def _diff(a, b):
    return float(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float)), initial=0.0))


def _scale(*arrays):
    return 1.0 + max(float(np.max(np.abs(np.asarray(a, float)), initial=0.0)) for a in arrays)


@pytest.mark.parametrize("kind,fam,scaling,seed", CASES,
                         ids=[f"{k}-{f}-{sc}-{s}" for k, f, sc, s in CASES])
def test_dense_matches_sparse(kind, fam, scaling, seed):
    """Same outcome, same solution, same VJP.  Where the solution (or its derivative) is
    ill-conditioned, two correct sparse solves differ by more than SOL_RTOL at tol 1e-8
    too (simplicial vs supernodal, or a 10x / 100x tighter tolerance): there the dense answer
    must be within 10x of that spread of the sparse one (or, for a VJP sensitive to
    where the IPM stopped, agree with the sparse ones when solved 10x tighter)."""
    prob = _problem(kind, fam, scaling, seed)
    sd, vals, rd = _solve(prob, "dense")
    ss, _, rs = _solve(prob, "qdldl")
    where = f"{prob['name']} (n={prob['n']}, m={prob['A'].shape[0]})"
    st_d, st_s = pr.status_name(int(rd["status"][0])), pr.status_name(int(rs["status"][0]))
    assert OUTCOME.get(st_d, st_d) == OUTCOME.get(st_s, st_s), f"{where}: dense {st_d} vs sparse {st_s}"
    expected = {"feasible": "solved", "degenerate": "solved"}.get(kind, kind)
    assert OUTCOME.get(st_d) == expected, f"{where}: {st_d}"
    # infeasibility certificates are not unique: check the dense one is valid (to the
    # reduced tolerance when the status is an "Almost" one)
    cert_tol = CERT_TOL if not st_d.startswith("Almost") else 100 * CERT_TOL
    if kind == "primal_infeasible":
        rep = pr.primal_cert_report(prob, rd["z"][0])
        assert rep["bz"] < 0 and rep["Atz_rel"] <= cert_tol and rep["z_viol"] <= cert_tol, f"{where}: {rep}"
        return
    if kind == "dual_infeasible":
        rep = pr.dual_cert_report(prob, rd["x"][0], rd["s"][0])
        assert rep["qx"] < 0 and rep["Px_rel"] <= cert_tol and rep["s_viol"] <= cert_tol, f"{where}: {rep}"
        return
    others = []  # other correct sparse solves, only built when needed

    def other_solves():
        if not others:
            others.append(_solve(prob, "faer")[::2])
            others.append(_solve(prob, "qdldl", TOL / 10)[::2])
            others.append(_solve(prob, "qdldl", TOL / 100)[::2])
        return others

    for key in ("x", "z", "s"):
        diff = _diff(rd[key], rs[key])
        if diff <= SOL_RTOL * _scale(rd[key], rs[key]):
            continue
        spread = max(_diff(r[key], rs[key]) for _, r in other_solves())
        assert diff <= 10 * spread, f"{where}: {key}: dense - sparse {diff:.2e}, sparse spread {spread:.2e}"
    # derivatives: the same cotangent through both solutions
    rng = np.random.default_rng(seed)
    cot = [rng.normal(size=rd[k].shape) for k in ("x", "z", "s")]

    def vjp(solver, r):
        return solver.vjp(*vals, r["x"], r["z"], r["s"], r["status"].astype(np.int64), *cot)

    gd, gs = vjp(sd, rd), vjp(ss, rs)
    g_others = None
    for key in ("dP_values", "dA_values", "dq", "db"):
        assert np.all(np.isfinite(gd[key])), f"{where}: {key} not finite"
        diff = _diff(gd[key], gs[key])
        if diff <= GRAD_RTOL * _scale(gd[key], gs[key]):
            continue
        if g_others is None:
            g_others = [vjp(*o) for o in other_solves() if OUTCOME.get(pr.status_name(int(o[1]["status"][0]))) == "solved"]
        spread = max(_diff(g[key], gs[key]) for g in g_others)
        if diff <= 10 * spread:
            continue
        # the IPM may stop one step earlier or later on one path; a sensitive VJP then
        # differs by more than the spread: at a 10x tighter tolerance it must agree
        sd2, _, rd2 = _solve(prob, "dense", TOL / 10)
        gd2 = vjp(sd2, rd2)
        sd2_diff = min(_diff(gd2[key], g[key]) for g in g_others)
        assert sd2_diff <= max(10 * spread, GRAD_RTOL * _scale(gd2[key])), \
            f"{where}: {key}: dense - sparse {diff:.2e} ({sd2_diff:.2e} at tol/10), sparse spread {spread:.2e}"


def test_enough_problems():
    assert len(CASES) >= 300


def test_auto_picks_dense_where_measured_faster():
    """auto: dense for tiny KKT systems (n + m <= 12) and for dense-data ones up to
    n + m = 96; sparse for large or very sparse ones.  auto reproduces bit for bit the
    path it picked."""
    rng = np.random.default_rng(5)

    def dense_qp(n, m):
        M = rng.normal(size=(n, n))
        A = sp.csr_matrix(rng.normal(size=(m, n)))
        x, s_ = rng.normal(size=n), np.abs(rng.normal(size=m))
        return dict(name=f"dense_qp_{n}_{m}", n=n, P=sp.csr_matrix(M @ M.T + np.eye(n)),
                    q=rng.normal(size=n), A=A, b=A @ x + s_, cones=dict(nonneg=m))

    seed = _degenerate(1)                                  # n + m = 2n + 1, very sparse
    cases = [(dense_qp(4, 6), "dense"), (dense_qp(20, 30), "dense"), (dense_qp(40, 60), "qdldl"),
             (pr.random_feasible("lp", 3, n=60), "qdldl")]
    if seed["n"] + seed["m"] <= 12:
        cases.append((seed, "dense"))
    for prob, picked in cases:
        _, _, ra = _solve(prob, "auto")
        _, _, rp = _solve(prob, picked)
        assert pr.status_name(int(ra["status"][0])) == "Solved", prob["name"]
        for key in ("x", "z", "s"):
            np.testing.assert_array_equal(ra[key], rp[key], err_msg=f"{prob['name']}: {key}")


def test_dense_batch_matches_single_solves():
    """A batch on the dense path (two threads, pooled workspaces): every element equals
    its own single solve, and a repeated call gives identical results."""
    fam = pr.batch_same_pattern(3, 48, n=6, family="mixed")
    c = fam["cones"]
    cones = dict(zero=c["zero"], nonneg=c["nonneg"], soc=list(c["soc"]), exp=c["exp"],
                 power=list(c["power"]))
    Pp, Ap = fam["P_pattern"], fam["A_pattern"]
    args = (fam["n"], fam["m"], Pp.indptr.astype(np.int64), Pp.indices.astype(np.int64),
            Ap.indptr.astype(np.int64), Ap.indices.astype(np.int64), cones)
    settings = dict(tol_gap_abs=TOL, tol_gap_rel=TOL, tol_feas=TOL, direct_solve_method="dense")
    batch = NativeSolver(*args, dict(settings, num_threads=2))
    vals = (fam["P_values"], fam["A_values"], fam["q"], fam["b"])
    r1 = batch.solve(*vals)
    r2 = batch.solve(*vals)
    for key in ("x", "z", "s", "status", "iterations"):
        np.testing.assert_array_equal(r1[key], r2[key])
    single = NativeSolver(*args, dict(settings, num_threads=1))
    for k in range(0, 48, 7):
        rk = single.solve(*(v[k:k + 1] for v in vals))
        np.testing.assert_array_equal(rk["x"][0], r1["x"][k])
        assert pr.status_name(int(rk["status"][0])) == "Solved"
        assert abs(fam["problems"][k]["obj_star"] - rk["obj_val"][0]) <= 1e-6 * (1 + abs(rk["obj_val"][0]))


def test_bad_method_name():
    prob = pr.random_feasible("lp", 0, n=4)
    with pytest.raises(ValueError, match="dense"):
        _native(prob, "dens")
