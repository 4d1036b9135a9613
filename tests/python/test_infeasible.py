"""Infeasibility detection and certificates, MaxIterations, and per-element statuses in
a batch.

Primal infeasible problems (built from a certificate z_bar in int K* with A'z_bar = 0,
b'z_bar < 0) must end PrimalInfeasible with a certificate z:
    b'z < 0,  ||A'z||_inf <= 1e-6 |b'z| (1 + max|A_ij|),  z in K* (relative 1e-6).
Dual infeasible (unbounded) problems (built from x_bar with P x_bar = 0, -A x_bar in K,
q'x_bar < 0) must end DualInfeasible with a certificate x:
    q'x < 0,  ||Px||_inf <= 1e-6 |q'x| (1 + max|P_ij|),  -Ax in K (relative 1e-6),
    and ||Ax + s||_inf <= 1e-6 |q'x| (1 + max|A_ij|) for the returned s.
Clarabel is run on each instance as the reference (it must agree on the status).
"""

import numpy as np
import pytest
import scipy.sparse as sp

import problems as pr

CERT_TOL = 1e-6
SEEDS = range(5)

P_CASES = [(f, s) for f in pr.INFEASIBLE_FAMILIES for s in SEEDS]


@pytest.mark.parametrize("family,seed", P_CASES, ids=[f"{f}-{s}" for f, s in P_CASES])
def test_primal_infeasible(family, seed):
    prob = pr.primal_infeasible(family, seed)
    ref = pr.solve_clarabel(prob)
    assert ref["status"] == "PrimalInfeasible", f"reference: {ref['status']}"
    ours = pr.solve_moreau(prob)
    where = f"{prob['name']} (n={prob['n']}, m={prob['m']})"
    assert ours["status"] == "PrimalInfeasible", \
        f"{where}: status {ours['status']} after {ours['iterations']} iterations"
    z = ours["z"]
    assert np.all(np.isfinite(z)), f"{where}: certificate z has NaN/Inf"
    rep = pr.primal_cert_report(prob, z)
    assert rep["bz"] < 0, f"{where}: b'z = {rep['bz']} is not negative"
    assert rep["Atz_rel"] <= CERT_TOL, f"{where}: ||A'z|| / |b'z| = {rep['Atz_rel']:.2e}"
    assert rep["z_viol"] <= CERT_TOL, f"{where}: z not in K* ({rep['z_viol']:.2e})"


D_CASES = [(f, s) for f in pr.INFEASIBLE_FAMILIES for s in SEEDS]


@pytest.mark.parametrize("family,seed", D_CASES, ids=[f"{f}-{s}" for f, s in D_CASES])
def test_dual_infeasible(family, seed):
    prob = pr.dual_infeasible(family, seed)
    ref = pr.solve_clarabel(prob)
    assert ref["status"] == "DualInfeasible", f"reference: {ref['status']}"
    ours = pr.solve_moreau(prob)
    where = f"{prob['name']} (n={prob['n']}, m={prob['m']})"
    assert ours["status"] == "DualInfeasible", \
        f"{where}: status {ours['status']} after {ours['iterations']} iterations"
    x = ours["x"]
    assert np.all(np.isfinite(x)), f"{where}: certificate x has NaN/Inf"
    rep = pr.dual_cert_report(prob, x, ours["s"])
    assert rep["qx"] < 0, f"{where}: q'x = {rep['qx']} is not negative"
    assert rep["Px_rel"] <= CERT_TOL, f"{where}: ||Px|| / |q'x| = {rep['Px_rel']:.2e}"
    assert rep["s_viol"] <= CERT_TOL, f"{where}: -Ax not in K ({rep['s_viol']:.2e})"
    assert np.isfinite(rep["Axs_rel"]), f"{where}: s of the certificate has NaN/Inf"
    assert rep["Axs_rel"] <= CERT_TOL, f"{where}: ||Ax + s|| / |q'x| = {rep['Axs_rel']:.2e}"


@pytest.mark.parametrize("family,seed", [("mixed", 12), ("socp", 3), ("exp", 5)])
def test_max_iterations(family, seed):
    prob = pr.random_feasible(family, seed)
    ours = pr.solve_moreau(prob, max_iter=2)
    assert ours["status"] == "MaxIterations", f"{prob['name']}: {ours['status']}"
    assert ours["iterations"] == 2
    ref = pr.solve_clarabel(prob, max_iter=2)
    assert ref["status"] == "MaxIterations"


def _mixed_batch_problem():
    """One pattern (n=4, m=8 nonneg rows), three kinds of (q, b):

        rows: x0 <= b0, -x0 <= b1, x1 <= b2, -x1 <= b3, x2 <= b4, -x2 <= b5, -x3 <= b6,
              x0 + x1 + x2 <= b7
        P = diag(p0, p1, p2, 0)  (the (3,3) entry is stored with value 0)

    feasible: b = (1,1,1,1,1,1,0,2), q3 > 0            -> Solved
    primal infeasible: b0 = -1, b1 = 0.5 (x0 <= -1 and x0 >= -0.5) -> PrimalInfeasible
    dual infeasible: q3 < 0 (x3 -> +inf is a recession direction)  -> DualInfeasible
    """
    n, m = 4, 8
    rows = [0, 1, 2, 3, 4, 5, 6, 7, 7, 7]
    cols = [0, 0, 1, 1, 2, 2, 3, 0, 1, 2]
    vals = [1, -1, 1, -1, 1, -1, -1, 1, 1, 1]
    A = sp.csr_matrix((np.array(vals, float), (rows, cols)), shape=(m, n))
    A.sort_indices()
    Pd = np.array([1.0, 2.0, 0.5, 0.0])
    P = sp.csr_matrix((Pd, (np.arange(n), np.arange(n))), shape=(n, n))
    return n, m, P, A


def test_batch_mixed_statuses():
    n, m, P, A = _mixed_batch_problem()
    assert P.nnz == 4  # the explicit zero is part of the pattern
    rng = np.random.default_rng(7)
    kinds = ["Solved", "PrimalInfeasible", "DualInfeasible"] * 6
    rng.shuffle(kinds)
    B = len(kinds)
    Q = np.zeros((B, n))
    Bv = np.zeros((B, m))
    for i, kind in enumerate(kinds):
        q = rng.normal(size=n)
        q[3] = abs(q[3]) + 0.5
        b = np.array([1, 1, 1, 1, 1, 1, 0, 2.0]) * rng.uniform(0.5, 2.0, size=m)
        if kind == "PrimalInfeasible":
            b[0], b[1] = -1.0, 0.5
        if kind == "DualInfeasible":
            q[3] = -abs(q[3])
        Q[i], Bv[i] = q, b
    cones = dict(nonneg=m)
    res = pr.solve_moreau_batch(n, m, P, A, cones, P.data.copy(), A.data.copy(), Q, Bv)
    got = res["status"]
    wrong = []
    for i, kind in enumerate(kinds):
        prob = pr._finish(f"mixbatch{i}", "mixbatch", i, P, Q[i], A, Bv[i], cones, kind)
        ref = pr.solve_clarabel(prob)
        assert ref["status"] == kind, f"reference disagrees on element {i}: {ref['status']}"
        if got[i] != kind:
            wrong.append(f"[{i}] expected {kind}, got {got[i]}")
            continue
        if kind == "Solved":
            if abs(res["obj"][i] - ref["obj"]) > 1e-6 * max(1.0, abs(ref["obj"])):
                wrong.append(f"[{i}] objective {res['obj'][i]} vs Clarabel {ref['obj']}")
        elif kind == "PrimalInfeasible":
            rep = pr.primal_cert_report(prob, res["z"][i])
            if not (rep["bz"] < 0 and rep["Atz_rel"] <= CERT_TOL and rep["z_viol"] <= CERT_TOL):
                wrong.append(f"[{i}] bad primal certificate {rep}")
        else:
            rep = pr.dual_cert_report(prob, res["x"][i], res["s"][i])
            if not (rep["qx"] < 0 and rep["Px_rel"] <= CERT_TOL and rep["s_viol"] <= CERT_TOL):
                wrong.append(f"[{i}] bad dual certificate {rep}")
    assert not wrong, "\n".join(wrong)
