"""The dual active-set method (src/active_set.rs) against the interior-point method.

``solver="active_set"`` and ``solver="ipm"`` must agree on status, x, z, s and the
derivatives (VJP and JVP) over hundreds of random small QPs, well and badly scaled,
and on infeasible, unbounded and degenerate ones; elements the active-set method
cannot finish are handed to the interior-point method, so statuses stay honest.
``_native.solve_path_counts`` says which method finished each element, so the tests
also check that the active-set method did the work they are about.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import moreau
import problems as pr
from moreau_jax._native import solve_path_counts

TOL = 1e-9


def _solver(prob, solver, **kw):
    st = pr.moreau_settings(TOL, 200, solver=solver, enable_grad=True, **kw)
    return moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"], cones=pr.moreau_cones(prob["cones"]), settings=st)


def _run(prob, solver):
    s = _solver(prob, solver)
    solve_path_counts()
    r = s.solve()
    counts = solve_path_counts()
    out = dict(status=s.info.status.name, x=np.array(r.x), z=np.array(r.z), s=np.array(r.s), counts=counts)
    if s.info.status.name == "Solved":
        rng = np.random.default_rng(1)
        n, m = prob["n"], prob["m"]
        out["vjp"] = s.backward(rng.normal(size=n), rng.normal(size=m), rng.normal(size=m))
        out["jvp"] = s.jvp(dP_values=None, dA_values=rng.normal(size=prob["A"].nnz),
                           dq=rng.normal(size=n), db=rng.normal(size=m))
    return out


def _corpus():
    probs = []
    for seed in range(130):
        n = int(np.random.default_rng([77, seed]).integers(2, 40))
        for scaling in ("well", "bad"):
            probs.append(pr.random_feasible("qp", seed, n=n, scaling=scaling))
    for seed in range(20):
        probs.append(pr.random_feasible("lp", seed, n=int(np.random.default_rng([78, seed]).integers(2, 20))))
        probs.append(pr.primal_infeasible("qp", seed, n=int(np.random.default_rng([79, seed]).integers(2, 30))))
        probs.append(pr.dual_infeasible("qp", seed, n=int(np.random.default_rng([80, seed]).integers(2, 30))))
    return probs


def _close(a, b, scale, tol):
    return np.abs(np.asarray(a) - np.asarray(b)).max(initial=0.0) <= tol * scale


def test_agrees_with_ipm_on_random_qps():
    """340 problems: statuses equal; solutions and derivatives equal where solved."""
    probs = _corpus()
    assert len(probs) >= 300
    finished = handed = 0
    failures = []
    for prob in probs:
        a, b = _run(prob, "active_set"), _run(prob, "ipm")
        finished += a["counts"]["active_set"]
        handed += a["counts"]["active_set_fallback"]
        assert b["counts"] == {"active_set": 0, "active_set_fallback": 0}
        if a["status"] != b["status"]:
            failures.append((prob["name"], a["status"], b["status"]))
            continue
        if a["status"] != "Solved":
            continue
        scale = 1.0 + max(np.abs(b[k]).max(initial=0.0) for k in "xzs")
        for k in "xzs":
            if not _close(a[k], b[k], scale, 1e-6):
                failures.append((prob["name"], k, np.abs(a[k] - b[k]).max()))
        # badly scaled instances have cond(P) up to 1e11: their derivatives are
        # as sensitive, and the two methods' solutions differ at rounding level
        gtol = 1e-5 if prob.get("scaling", "well") == "well" else 1e-3
        for which in ("vjp", "jvp"):
            for k, ga in a[which].items():
                gb = b[which][k]
                scale_g = 1.0 + np.abs(gb).max(initial=0.0)
                if not _close(ga, gb, scale_g, gtol):
                    failures.append((prob["name"], which, k, np.abs(ga - gb).max() / scale_g))
    assert not failures, failures[:10]
    # positive definite P (about half the QPs) is the method's; the rest is handed over
    assert finished >= 120, (finished, handed)
    assert handed >= 100, (finished, handed)


def _seed(q):
    n = len(q)
    P = sp.identity(n, format="csr")
    A = sp.vstack([np.ones((1, n)), -sp.identity(n)], format="csr")
    b = np.r_[1.0, np.zeros(n)]
    return dict(P=P, q=np.asarray(q, float), A=A, b=b, n=n, m=n + 1, cones=dict(zero=1, nonneg=n))


def test_auto_picks_it_for_small_qps_only():
    prob = _seed([0.3, -0.2, 0.5, 0.1])
    s = _solver(prob, "auto")
    solve_path_counts()
    s.solve()
    assert solve_path_counts()["active_set"] == 1
    # an SOC problem: the interior-point method, and "active_set" refuses it
    soc = pr.random_feasible("socp", 3, n=6)
    _solver(soc, "auto").solve()
    assert solve_path_counts() == {"active_set": 0, "active_set_fallback": 0}
    with pytest.raises(ValueError, match="zero and nonnegative cones only.*second-order"):
        _solver(soc, "active_set")


def test_degenerate_seed_gradient_matches_ipm():
    """x_2 = 0 with a zero multiplier (weakly active): both methods give the same
    finite generalized derivative."""
    # -q = (0.7, 0.5, 0.1): simplex projection (0.6, 0.4, 0.0) with threshold 0.1 = -q_3,
    # so x_3 = 0 and its multiplier is 0
    prob = _seed([-0.7, -0.5, -0.1])
    a, b = _run(prob, "active_set"), _run(prob, "ipm")
    assert a["counts"]["active_set"] == 1
    np.testing.assert_allclose(a["x"], [0.6, 0.4, 0.0], atol=1e-7)
    np.testing.assert_allclose(a["x"], b["x"], atol=1e-7)
    for k in a["vjp"]:
        assert np.all(np.isfinite(a["vjp"][k]))


def test_redundant_and_inconsistent_equalities():
    """sum(x) = 1 stated twice: the copy is redundant (the method finishes, x as
    with one copy); stated as 1 and 2: infeasible, and the status says so."""
    n = 4
    q = np.array([0.3, -0.2, 0.5, 0.1])
    P = sp.identity(n, format="csr")
    A = sp.vstack([np.ones((2, n)), -sp.identity(n)], format="csr")
    cones = dict(zero=2, nonneg=n)
    twice = dict(P=P, q=q, A=A, b=np.r_[1.0, 1.0, np.zeros(n)], n=n, m=n + 2, cones=cones)
    a, b = _run(twice, "active_set"), _run(twice, "ipm")
    assert a["counts"]["active_set"] == 1 and a["status"] == b["status"] == "Solved"
    np.testing.assert_allclose(a["x"], b["x"], atol=1e-7)
    # the duals are not unique; A'z is
    np.testing.assert_allclose(A.T @ a["z"], A.T @ b["z"], atol=1e-7)
    np.testing.assert_allclose(a["vjp"]["dq"], b["vjp"]["dq"], atol=1e-6)
    clash = dict(twice, b=np.r_[1.0, 2.0, np.zeros(n)])
    a, b = _run(clash, "active_set"), _run(clash, "ipm")
    assert a["counts"] == {"active_set": 0, "active_set_fallback": 1}
    assert a["status"] == b["status"] == "PrimalInfeasible"


def test_infeasible_and_singular_p_are_handed_over():
    # x >= 1 and x <= 0
    P = sp.identity(1, format="csr")
    A = sp.csr_matrix(np.array([[-1.0], [1.0]]))
    prob = dict(P=P, q=np.zeros(1), A=A, b=np.array([-1.0, 0.0]), n=1, m=2, cones=dict(zero=0, nonneg=2))
    a = _run(prob, "active_set")
    assert a["status"] == "PrimalInfeasible" and a["counts"]["active_set_fallback"] == 1
    # P = 0 on x_2 (a stored zero diagonal entry): not positive definite
    P = sp.csr_matrix((np.r_[1.0, 0.0], ([0, 1], [0, 1])), shape=(2, 2))
    A = sp.vstack([np.ones((1, 2)), -sp.identity(2)], format="csr")
    prob = dict(P=P, q=np.array([0.0, 1.0]), A=A, b=np.r_[1.0, 0.0, 0.0], n=2, m=3, cones=dict(zero=1, nonneg=2))
    a, b = _run(prob, "active_set"), _run(prob, "ipm")
    assert a["counts"] == {"active_set": 0, "active_set_fallback": 1}
    assert a["status"] == b["status"] == "Solved"
    np.testing.assert_allclose(a["x"], [1.0, 0.0], atol=1e-7)


def test_batch_with_shared_p_matches_ipm():
    """CompiledSolver batch (P and A shared: one factor of P for the batch)."""
    rng = np.random.default_rng(5)
    n, batch = 6, 40
    prob = _seed(np.zeros(n))
    P, A = prob["P"], prob["A"]
    qs = rng.normal(size=(batch, n))
    bs = np.tile(prob["b"], (batch, 1))
    out = {}
    for solver in ("active_set", "ipm"):
        st = pr.moreau_settings(TOL, 200, solver=solver, enable_grad=True, batch_size=batch)
        cs = moreau.CompiledSolver(n, n + 1, P.indptr, P.indices, A.indptr, A.indices,
                                   cones=pr.moreau_cones(prob["cones"]), settings=st)
        cs.setup(P.data, A.data)
        solve_path_counts()
        sol = cs.solve(qs, bs)
        counts = solve_path_counts()
        g = cs.backward(2 * np.asarray(sol.x))
        out[solver] = (np.asarray(sol.x), np.asarray(g["dq"]), counts)
    assert out["active_set"][2]["active_set"] == batch
    np.testing.assert_allclose(out["active_set"][0], out["ipm"][0], atol=1e-7)
    np.testing.assert_allclose(out["active_set"][1], out["ipm"][1], atol=1e-5)


def test_iter_limit_hands_over():
    prob = _seed([0.3, -0.2, 0.5, 0.1, -0.4])
    st = pr.moreau_settings(TOL, 200, solver="active_set", active_set_settings=moreau.ActiveSetSettings(iter_limit=1))
    s = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"], cones=pr.moreau_cones(prob["cones"]), settings=st)
    solve_path_counts()
    s.solve()
    assert solve_path_counts() == {"active_set": 0, "active_set_fallback": 1}
    assert s.info.status == moreau.SolverStatus.Solved
