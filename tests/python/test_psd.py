"""PSD cones (``Cones(psd_dims=[...])``) end to end, against Clarabel 0.11.

- >= 100 random conic problems with PSD cones (sides k = 1 .. 30) alone and mixed with
  zero, nonnegative, second-order and exponential cones (some with a quadratic
  objective), built constructively from a strictly complementary primal-dual point, and
  primal / dual infeasible ones built from a certificate: same status as Clarabel,
  objective within 1e-6 relative, s in K and z in K* (smallest eigenvalue of each PSD
  block), small KKT residuals.
- CVXPY SDP families through ``prob.solve(solver="MOREAU")`` vs ``solver="CLARABEL"``:
  objective, primal values and ``constraint.dual_value``; infeasible / unbounded SDPs.
- derivatives: NumPy ``Solver.backward`` / ``jvp`` vs central finite differences of a
  Newton-polished solution on >= 20 PSD problems; JAX ``grad`` through
  ``moreau.jax.Solver`` and through a ``CvxpyLayer`` vs finite differences.
- bad input: ``psd_dims`` entries < 1.

svec convention (CVXPY's MOREAU interface, Clarabel's PSDTriangleConeT): upper
triangle, column by column, off-diagonal entries times sqrt(2).
"""

import numpy as np
import pytest
import scipy.sparse as sp

import moreau

SQ2 = np.sqrt(2.0)
TOL = 1e-8


# --------------------------------------------------------------------------- svec


def svec(X):
    k = X.shape[0]
    return np.array([X[i, j] * (1.0 if i == j else SQ2) for j in range(k) for i in range(j + 1)])


def smat(v, k):
    X = np.zeros((k, k))
    p = 0
    for j in range(k):
        for i in range(j + 1):
            X[i, j] = X[j, i] = v[p] / (1.0 if i == j else SQ2)
            p += 1
    return X


def blocks(c):
    """(kind, start, dim, k) in the solver's row order."""
    r = 0
    if c.get("zero", 0):
        yield "zero", r, c["zero"], None
        r += c["zero"]
    if c.get("nonneg", 0):
        yield "nonneg", r, c["nonneg"], None
        r += c["nonneg"]
    for d in c.get("soc", []):
        yield "soc", r, d, None
        r += d
    for k in c.get("psd", []):
        d = k * (k + 1) // 2
        yield "psd", r, d, k
        r += d
    for _ in range(c.get("exp", 0)):
        yield "exp", r, 3, None
        r += 3


def num_rows(c):
    return sum(d for _, _, d, _ in blocks(c))


def moreau_cones(c):
    return moreau.Cones(num_zero_cones=c.get("zero", 0), num_nonneg_cones=c.get("nonneg", 0),
                        so_cone_dims=list(c.get("soc", [])), psd_dims=list(c.get("psd", [])),
                        num_exp_cones=c.get("exp", 0))


def clarabel_cones(c):
    import clarabel
    out = []
    for kind, _, d, k in blocks(c):
        if kind == "zero":
            out.append(clarabel.ZeroConeT(d))
        elif kind == "nonneg":
            out.append(clarabel.NonnegativeConeT(d))
        elif kind == "soc":
            out.append(clarabel.SecondOrderConeT(d))
        elif kind == "psd":
            out.append(clarabel.PSDTriangleConeT(k))
        else:
            out.append(clarabel.ExponentialConeT())
    return out


def cone_violation(c, v, dual=False):
    """Largest violation of v in K (K* if dual), relative to 1 + |v|_inf."""
    worst = 0.0
    for kind, r, d, k in blocks(c):
        b = v[r:r + d]
        if kind == "zero":
            w = 0.0 if dual else np.abs(b).max()
        elif kind == "nonneg":
            w = max(-b.min(), 0.0)
        elif kind == "soc":
            w = max(np.linalg.norm(b[1:]) - b[0], 0.0)
        elif kind == "psd":
            w = max(-np.linalg.eigvalsh(smat(b, k))[0], 0.0)
        else:  # exp cone / its dual, by a distance-free test on a shifted point
            if dual:
                u, vv, t = b
                ok = (u < 0 and t > 0 and -u * np.exp(vv / u) <= np.e * t * (1 + 1e-9)) or \
                     (abs(u) < 1e-9 and vv >= -1e-9 and t >= -1e-9)
            else:
                x, y, z = b
                ok = (y > 0 and z > 0 and y * np.exp(x / y) <= z * (1 + 1e-9)) or \
                     (x <= 1e-9 and abs(y) < 1e-9 and z >= -1e-9)
            w = 0.0 if ok else 1.0
        worst = max(worst, w)
    return worst / (1.0 + np.abs(v).max(initial=0.0))


# --------------------------------------------------------------------------- problems


def _orth(k, rng):
    q, _ = np.linalg.qr(rng.normal(size=(k, k)))
    return q


def _pair(kind, d, k, rng):
    """(s, z) in K x K*, s'z = 0, strictly complementary."""
    if kind == "zero":
        return np.zeros(d), rng.normal(size=d)
    if kind == "nonneg":
        on = rng.random(d) < 0.5
        v = rng.uniform(0.2, 2.0, size=d)
        return np.where(on, v, 0.0), np.where(on, 0.0, rng.uniform(0.2, 2.0, size=d))
    if kind == "soc":
        mode = rng.integers(3)
        u = rng.normal(size=d - 1)
        u /= max(np.linalg.norm(u), 1e-12)
        inner = np.concatenate([[1.0 + rng.random()], 0.5 * rng.random() * u])
        if mode == 0:
            return inner, np.zeros(d)
        if mode == 1:
            return np.zeros(d), inner
        a, c = rng.uniform(0.3, 2.0, size=2)
        return a * np.concatenate([[1.0], u]), c * np.concatenate([[1.0], -u])
    if kind == "psd":
        Q = _orth(k, rng)
        r = int(rng.integers(0, k + 1))
        ls = np.concatenate([rng.uniform(0.2, 2.0, size=r), np.zeros(k - r)])
        lz = np.concatenate([np.zeros(r), rng.uniform(0.2, 2.0, size=k - r)])
        return svec(Q @ np.diag(ls) @ Q.T), svec(Q @ np.diag(lz) @ Q.T)
    # exp: interior point on one side
    if rng.random() < 0.5:
        return np.array([-1.0, 1.0, 2.0]) * rng.uniform(0.5, 2.0), np.zeros(3)
    return np.zeros(3), np.array([-1.0, 1.0, 2.0]) * rng.uniform(0.5, 2.0)


def _dual_interior(kind, d, k, rng):
    if kind == "zero":
        return rng.normal(size=d)
    if kind == "nonneg":
        return rng.uniform(0.5, 2.0, size=d)
    if kind == "soc":
        return np.concatenate([[2.0], rng.normal(size=d - 1) / max(1.0, np.sqrt(d))])
    if kind == "psd":
        G = rng.normal(size=(k, k))
        return svec(G @ G.T / k + np.eye(k))
    return np.array([-1.0, 1.0, 2.0])


def _cones_for(seed, rng, kmax=30):
    k = 1 + seed % kmax
    c = {"psd": [k]}
    mixed = seed % 2 == 1
    if mixed:
        c["zero"] = int(rng.integers(0, 3))
        c["nonneg"] = int(rng.integers(1, 8))
        c["soc"] = [int(rng.integers(2, 6)) for _ in range(rng.integers(0, 3))]
        c["psd"] = [k] + [int(rng.integers(1, 6)) for _ in range(rng.integers(0, 3))]
        rng.shuffle(c["psd"])
        c["exp"] = int(rng.integers(0, 3)) if seed % 4 == 1 else 0
    return c


def random_problem(seed, n=None, expected="Solved"):
    """A problem dict (P full symmetric csr, q, A csr, b, cones, obj_star)."""
    rng = np.random.default_rng([seed, 77])
    # infeasible ones with k <= 10 and n >= 5: Clarabel is unreliable on certificates of
    # large PSD blocks over very few variables (NumericalError / Almost at k = 23 .. 26)
    c = _cones_for(seed, rng, 30 if expected == "Solved" else 10)
    m = num_rows(c)
    if n is None:
        lo = 3 if expected == "Solved" else 5
        n = int(rng.integers(lo, max(lo + 1, 4 + min(m, 30))))
    A = sp.random(m, n, density=0.4, random_state=np.random.RandomState(seed), data_rvs=rng.standard_normal)
    A = (A + sp.eye(m, n) * 0.0).tocsr()
    A.sort_indices()
    if seed % 3 == 2:
        M = rng.normal(size=(n, max(1, n // 2)))
        P = sp.csr_matrix(M @ M.T / n)
    else:
        P = sp.csr_matrix((n, n))
    if expected == "Solved":
        x = rng.normal(size=n)
        s = np.zeros(m)
        z = np.zeros(m)
        for kind, r, d, k in blocks(c):
            s[r:r + d], z[r:r + d] = _pair(kind, d, k, rng)
        b = A @ x + s
        q = -P @ x - A.T @ z
        obj = 0.5 * x @ (P @ x) + q @ x
    elif expected == "PrimalInfeasible":
        # certificate zbar in K*, A'zbar = 0, b'zbar < 0
        zbar = np.concatenate([_dual_interior(kind, d, k, rng) for kind, _, d, k in blocks(c)])
        Ad = A.toarray()
        Ad -= np.outer(zbar, zbar @ Ad) / (zbar @ zbar)
        A = sp.csr_matrix(Ad)
        b = rng.normal(size=m)
        b -= (b @ zbar + 1.0) * zbar / (zbar @ zbar)
        q = rng.normal(size=n)
        obj = None
    else:  # DualInfeasible: xbar with P xbar = 0, -A xbar in K, q'xbar < 0
        P = sp.csr_matrix((n, n))
        xbar = rng.normal(size=n)
        sbar = np.concatenate([_dual_interior(kind, d, k, rng) if kind != "zero" else np.zeros(d)
                               for kind, _, d, k in blocks(c)])
        Ad = A.toarray()
        Ad += np.outer(-sbar - Ad @ xbar, xbar) / (xbar @ xbar)
        A = sp.csr_matrix(Ad)
        s0 = np.concatenate([_dual_interior(kind, d, k, rng) if kind != "zero" else np.zeros(d)
                             for kind, _, d, k in blocks(c)])
        b = A @ rng.normal(size=n) + s0
        q = rng.normal(size=n)
        q -= (q @ xbar + 1.0) * xbar / (xbar @ xbar)
        obj = None
    A = sp.csr_matrix(A)
    A.sort_indices()
    return dict(P=P, q=q, A=A, b=b, cones=c, n=n, m=m, obj_star=obj, expected=expected)


def solve_ours(prob, tol=TOL, **kw):
    ipm = moreau.IPMSettings(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
    st = moreau.Settings(max_iter=200, ipm_settings=ipm, **kw)
    solver = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"], cones=moreau_cones(prob["cones"]),
                           settings=st)
    r = solver.solve()
    return solver, r


def solve_clarabel(prob, tol=TOL):
    import clarabel
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.tol_gap_abs = st.tol_gap_rel = st.tol_feas = tol
    st.max_iter = 200
    # qdldl: Clarabel 0.11's faer path ends in NumericalError on some instances (problems.py)
    st.direct_solve_method = "qdldl"
    sol = clarabel.DefaultSolver(sp.triu(prob["P"], format="csc"), prob["q"], sp.csc_matrix(prob["A"]),
                                 prob["b"], clarabel_cones(prob["cones"]), st).solve()
    return sol


# --------------------------------------------------------------------------- random vs Clarabel

KNOWN_CLARABEL_FAILURES = {39}
RANDOM = [(seed, "Solved") for seed in range(100)] + \
         [(200 + i, "PrimalInfeasible") for i in range(6)] + [(300 + i, "DualInfeasible") for i in range(6)]


@pytest.mark.parametrize("seed,expected", RANDOM, ids=[f"{e}-{s}" for s, e in RANDOM])
def test_random_vs_clarabel(seed, expected):
    prob = random_problem(seed, expected=expected)
    ref = solve_clarabel(prob)
    solver, r = solve_ours(prob)
    ours = solver.info.status.name
    where = f"seed {seed}, n={prob['n']}, m={prob['m']}, cones={prob['cones']}"
    refst = str(ref.status)
    # Clarabel ends a few instances Almost<status> (its gap stalls just above 1e-8):
    # there we accept either and compare at the reduced tolerance
    almost = refst == "Almost" + expected
    # ... and a few constructive ones in NumericalError (seed 39: iteration 1, also
    # with qdldl); there the known optimum is the reference (KNOWN_CLARABEL_FAILURES)
    ref_failed = refst == "NumericalError" and seed in KNOWN_CLARABEL_FAILURES
    assert refst == expected or almost or ref_failed, f"Clarabel: {ref.status} ({where})"
    if almost:
        assert ours in (expected, refst), f"{where}: {ours}; Clarabel {refst}"
    else:
        assert ours == expected, f"{where}: {ours} after {solver.info.iterations} it; Clarabel {ref.status}"
    if expected != "Solved":
        return
    otol, rtol = (1e-4, 1e-4) if almost else (1e-6, 1e-6)
    x, z, s = np.asarray(r.x), np.asarray(r.z), np.asarray(r.s)
    P, A, q, b = prob["P"], prob["A"], prob["q"], prob["b"]
    obj = float(solver.info.obj_val)
    scale = max(1.0, abs(ref.obj_val))
    if not ref_failed:
        assert abs(obj - ref.obj_val) <= otol * scale, (where, obj, ref.obj_val)
    assert abs(obj - prob["obj_star"]) <= otol * max(1.0, abs(prob["obj_star"])), (where, obj, prob["obj_star"])
    assert cone_violation(prob["cones"], s) <= 1e-7, where
    assert cone_violation(prob["cones"], z, dual=True) <= 1e-7, where
    rp = np.abs(A @ x + s - b).max() / (1 + max(np.abs(b).max(), np.abs(A @ x).max()))
    rd = np.abs(P @ x + q + A.T @ z).max() / (1 + max(np.abs(q).max(), np.abs(A.T @ z).max()))
    assert rp <= rtol and rd <= rtol, (where, rp, rd)


def test_iterations_close_to_clarabel():
    """Same algorithm: iteration counts on the PSD-only problems stay close."""
    ours, ref = [], []
    for seed in range(0, 60, 2):
        prob = random_problem(seed)
        solver, _ = solve_ours(prob)
        ours.append(solver.info.iterations)
        ref.append(solve_clarabel(prob).iterations)
    ratio = np.exp(np.mean(np.log(np.array(ours) / np.array(ref))))
    assert ratio <= 1.3, (ratio, ours, ref)


def test_compiled_solver_batch_matches_single():
    prob = random_problem(7)
    P, A = prob["P"], prob["A"]
    B = 3
    rng = np.random.default_rng(1)
    bs = prob["b"] + 0.01 * rng.normal(size=(B, prob["m"]))
    qs = np.tile(prob["q"], (B, 1))
    cs = moreau.CompiledSolver(prob["n"], prob["m"], P.indptr, P.indices, A.indptr, A.indices,
                               moreau_cones(prob["cones"]), moreau.Settings(batch_size=B))
    cs.setup(P.data, A.data)
    sol = cs.solve(qs, bs)
    for i in range(B):
        one = dict(prob, b=bs[i])
        solver, r = solve_ours(one)
        np.testing.assert_allclose(np.asarray(sol.x)[i], np.asarray(r.x), atol=1e-6)


# --------------------------------------------------------------------------- bad input


def test_bad_psd_dims():
    for bad in ([0], [3, -1]):
        with pytest.raises(ValueError, match=r"psd_dims\[\d\] = .*side k >= 1"):
            moreau.Cones(psd_dims=bad)
    c = moreau.Cones(psd_dims=[2])
    with pytest.raises(ValueError, match="side k >= 1"):
        c.psd_dims = [0]
    # rows must match: psd_dims=[3] takes 6 rows
    A = sp.csr_matrix(np.ones((5, 2)))
    with pytest.raises(ValueError, match="psd"):
        moreau.Solver(sp.csr_matrix((2, 2)), np.ones(2), A, np.ones(5), cones=moreau.Cones(psd_dims=[3]))
    # psd_dims=[1] is the nonnegative ray
    A1 = sp.csr_matrix(np.array([[-1.0]]))
    s = moreau.Solver(sp.csr_matrix((1, 1)), np.ones(1), A1, np.zeros(1), cones=moreau.Cones(psd_dims=[1]))
    r = s.solve()
    assert s.info.status.name == "Solved" and abs(r.x[0]) < 1e-7


# --------------------------------------------------------------------------- CVXPY


def _cvxpy_pair(build, rtol=1e-6, duals=True):
    """Solve the problem from `build()` with MOREAU and with CLARABEL; compare the
    objective and every constraint's dual value.

    Duals are compared to 1e-3 (relative to their size): SDP optima are often not
    strictly complementary (lambda_max at its minimum has a multiple eigenvalue, the
    nearest correlation matrix is rank deficient), where both interior-point solvers
    get the duals only to about sqrt(tol); tighter tolerances make them agree
    further.  Families with a unique, well-conditioned dual check it exactly too."""
    import cvxpy as cp
    prob, cons = build()
    prob.solve(solver="MOREAU")
    ours = (prob.status, prob.value, [v.value for v in prob.variables()], [c.dual_value for c in cons])
    prob.solve(solver="CLARABEL")
    ref = (prob.status, prob.value, [v.value for v in prob.variables()], [c.dual_value for c in cons])
    assert ours[0] == ref[0] == cp.OPTIMAL, (ours[0], ref[0])
    scale = max(1.0, abs(ref[1]))
    assert abs(ours[1] - ref[1]) <= rtol * scale, (ours[1], ref[1])
    for a, b in zip(ours[3], ref[3]):
        a, b = np.asarray(a, float), np.asarray(b, float)
        assert a.shape == b.shape
        if duals:
            np.testing.assert_allclose(a, b, atol=1e-3 * max(1.0, np.abs(b).max()), rtol=0)
    return ours


def _sym(rng, k):
    G = rng.normal(size=(k, k))
    return (G + G.T) / 2


@pytest.mark.parametrize("k", [2, 5, 12])
def test_cvxpy_min_eigenvalue(k):
    import cvxpy as cp
    M = _sym(np.random.default_rng(k), k)

    def build():
        t = cp.Variable()
        con = M - t * np.eye(k) >> 0
        return cp.Problem(cp.Maximize(t), [con]), [con]

    ours = _cvxpy_pair(build)
    w, V = np.linalg.eigh(M)
    assert abs(ours[1] - w[0]) <= 1e-6 * max(1.0, abs(w[0]))
    # the dual is the projector on the bottom eigenvector
    np.testing.assert_allclose(ours[3][0], np.outer(V[:, 0], V[:, 0]), atol=1e-5)


@pytest.mark.parametrize("k", [4, 9, 16])
def test_cvxpy_max_cut_relaxation(k):
    """The max-cut SDP dual min sum(y) s.t. diag(y) - L/4 >> 0; the PSD constraint's
    dual is the primal relaxation X (diag(X) = 1, X >> 0, <L/4, X> = optimum)."""
    import cvxpy as cp
    rng = np.random.default_rng(k)
    W = np.triu((rng.random((k, k)) < 0.5) * rng.uniform(0.5, 2.0, size=(k, k)), 1)
    W = W + W.T
    L = np.diag(W.sum(1)) - W

    def build():
        y = cp.Variable(k)
        con = cp.diag(y) - L / 4 >> 0
        return cp.Problem(cp.Minimize(cp.sum(y)), [con]), [con]

    # X need not be unique (several optimal cuts): checked by its own properties
    ours = _cvxpy_pair(build, duals=False)
    X = ours[3][0]
    np.testing.assert_allclose(np.diag(X), 1.0, atol=1e-6)
    assert np.linalg.eigvalsh(X)[0] >= -1e-6
    assert abs(np.sum(L * X) / 4 - ours[1]) <= 1e-6 * max(1.0, abs(ours[1]))
    # and the primal form X >> 0 (a symmetric variable) gives the same value
    Xv = cp.Variable((k, k), symmetric=True)
    p2 = cp.Problem(cp.Maximize(cp.trace(L @ Xv) / 4), [cp.diag(Xv) == 1, Xv >> 0])
    p2.solve(solver="MOREAU")
    assert p2.status == cp.OPTIMAL and abs(p2.value - ours[1]) <= 1e-6 * max(1.0, abs(ours[1]))


@pytest.mark.parametrize("k", [3, 8])
def test_cvxpy_nearest_correlation(k):
    import cvxpy as cp
    rng = np.random.default_rng(10 + k)
    C = _sym(rng, k) * 0.8
    np.fill_diagonal(C, 1.0)

    def build():
        X = cp.Variable((k, k), symmetric=True)
        cons = [cp.diag(X) == 1, X >> 0]
        return cp.Problem(cp.Minimize(cp.norm(X - C, "fro")), cons), cons

    _cvxpy_pair(build)


@pytest.mark.parametrize("k,p", [(4, 3), (10, 5)])
def test_cvxpy_lambda_max_lmi(k, p):
    import cvxpy as cp
    rng = np.random.default_rng(20 + k)
    A0 = _sym(rng, k)
    As = [_sym(rng, k) for _ in range(p)]

    def build():
        x = cp.Variable(p)
        F = A0 + sum(x[i] * As[i] for i in range(p))
        cons = [cp.abs(x) <= 1]
        return cp.Problem(cp.Minimize(cp.lambda_max(F) + 0.1 * cp.sum_squares(x)), cons), cons

    _cvxpy_pair(build)


@pytest.mark.parametrize("k", [3, 6])
def test_cvxpy_logdet_covariance(k):
    """Sparse inverse covariance: max log det S - tr(S Sigma) - lam |S|_1 (PSD + exp cones)."""
    import cvxpy as cp
    rng = np.random.default_rng(30 + k)
    Y = rng.normal(size=(3 * k, k))
    Sigma = Y.T @ Y / (3 * k)

    def build():
        S = cp.Variable((k, k), PSD=True)
        obj = cp.log_det(S) - cp.trace(S @ Sigma) - 0.1 * cp.sum(cp.abs(S))
        return cp.Problem(cp.Maximize(obj)), []

    _cvxpy_pair(build, rtol=1e-5)


def test_cvxpy_infeasible_and_unbounded_sdp():
    import cvxpy as cp
    J = np.array([[0.0, 1.0], [1.0, 0.0]])
    x = cp.Variable()
    # x I + J >> 0 needs x >= 1
    infeas = cp.Problem(cp.Minimize(x), [x * np.eye(2) + J >> 0, x <= 0.5])
    infeas.solve(solver="MOREAU")
    assert infeas.status == cp.INFEASIBLE
    t = cp.Variable()
    unb = cp.Problem(cp.Minimize(-t), [t * np.eye(3) + np.diag([1.0, 2.0, 3.0]) >> 0])
    unb.solve(solver="MOREAU")
    assert unb.status == cp.UNBOUNDED
    infeas.solve(solver="CLARABEL")
    unb.solve(solver="CLARABEL")
    assert (infeas.status, unb.status) == (cp.INFEASIBLE, cp.UNBOUNDED)


# --------------------------------------------------------------------------- derivatives

TIGHT = 1e-11


def project_primal(c, w):
    """proj_K(w) for zero / nonneg / SOC / PSD blocks (numpy, independent of the Rust code)."""
    out = np.zeros_like(w)
    for kind, r, d, k in blocks(c):
        b = w[r:r + d]
        if kind == "nonneg":
            out[r:r + d] = np.maximum(b, 0)
        elif kind == "soc":
            t, u = b[0], b[1:]
            nu = np.linalg.norm(u)
            if nu <= t:
                out[r:r + d] = b
            elif nu > -t:
                out[r] = 0.5 * (t + nu)
                out[r + 1:r + d] = 0.5 * (t + nu) * u / nu
        elif kind == "psd":
            lam, V = np.linalg.eigh(smat(b, k))
            out[r:r + d] = svec((V * np.maximum(lam, 0)) @ V.T)
    return out


def _native(prob):
    from moreau_jax._native import NativeSolver
    ipm = {"tol_gap_abs": TIGHT, "tol_gap_rel": TIGHT, "tol_feas": TIGHT, "max_iter": 300}
    P, A = prob["P"], prob["A"]
    return NativeSolver(prob["n"], prob["m"], P.indptr.astype(np.int64), P.indices.astype(np.int64),
                        A.indptr.astype(np.int64), A.indices.astype(np.int64), dict(prob["cones"]), ipm)


def exact_solution(native, prob, vals):
    """Solve, then Newton-polish the residual map F(x, v) (v = z - s) to |F| <= 1e-12
    with numpy's projections (the step uses the solver's JVP; only the converged
    point matters)."""
    P, A, q, b = vals
    r = native.solve(P[None], A[None], q[None], b[None])
    if r["status"][0] not in (1, 4):  # Solved, AlmostSolved (1e-11 is often out of reach)
        return None
    x, z, s = r["x"][0], r["z"][0], r["s"][0]
    Pm = sp.csr_matrix((P, prob["P"].indices, prob["P"].indptr), shape=prob["P"].shape)
    Am = sp.csr_matrix((A, prob["A"].indices, prob["A"].indptr), shape=prob["A"].shape)
    v = z - s
    scale = 1 + max(np.abs(P).max(initial=0), np.abs(A).max(), np.abs(q).max(), np.abs(b).max())
    status = np.array([1], np.int64)
    for _ in range(10):
        s = project_primal(prob["cones"], -v)
        z = v + s
        F1 = Pm @ x + q + Am.T @ z
        F2 = Am @ x + s - b
        res = max(np.abs(F1).max(), np.abs(F2).max())
        if res <= 1e-12 * scale:
            return x, z, s
        step = native.jvp(P[None], A[None], q[None], b[None], x[None], z[None], s[None], status,
                          np.zeros((1, P.size)), np.zeros((1, A.size)), F1[None], -F2[None])
        x = x + step["dx"][0]
        v = v + step["dz"][0] - step["ds"][0]
    return None


def deriv_problem(seed):
    """Small PSD / mixed problems (k <= 6) with a unique, strictly complementary optimum."""
    rng = np.random.default_rng([seed, 5])
    k = 1 + seed % 6
    c = {"psd": [k]} if seed % 2 == 0 else {"zero": 1, "nonneg": 2, "soc": [3], "psd": [k, 2]}
    m = num_rows(c)
    n = int(rng.integers(max(2, m // 3), m + 2))
    # P > 0 makes x unique; a QP over PSD cones
    M = rng.normal(size=(n, n))
    P = sp.csr_matrix(M @ M.T / n + 0.5 * np.eye(n))
    A = sp.csr_matrix(rng.normal(size=(m, n)))
    x = rng.normal(size=n)
    s, z = np.zeros(m), np.zeros(m)
    for kind, r, d, kk in blocks(c):
        s[r:r + d], z[r:r + d] = _pair(kind, d, kk, rng)
    return dict(P=P, A=A, q=-P @ x - A.T @ z, b=A @ x + s, cones=c, n=n, m=m)


def test_derivatives_vs_finite_differences():
    """Solver.backward and Solver.jvp vs central differences (two step sizes) on >= 20
    PSD problems, for tangents of P, A, q and b."""
    rng = np.random.default_rng(0)
    checked, worst = 0, 0.0
    for seed in range(40):
        if checked == 24:
            break
        prob = deriv_problem(seed)
        native = _native(prob)
        vals = (prob["P"].data.copy(), prob["A"].data.copy(), prob["q"].copy(), prob["b"].copy())
        base = exact_solution(native, prob, vals)
        if base is None:
            continue
        n, m = prob["n"], prob["m"]
        ipm = moreau.IPMSettings(tol_gap_abs=TIGHT, tol_gap_rel=TIGHT, tol_feas=TIGHT)
        solver = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"], cones=moreau_cones(prob["cones"]),
                               settings=moreau.Settings(enable_grad=True, ipm_settings=ipm, max_iter=300))
        solver.solve()
        solver._grad.update(x=base[0][None], z=base[1][None], s=base[2][None])
        gx, gz, gs = rng.normal(size=n), rng.normal(size=m), rng.normal(size=m)
        grads = solver.backward(gx, gz, gs)
        Pt = rng.normal(size=(n, n))
        Pt = sp.csr_matrix(Pt + Pt.T)
        tangents = [("dP_values", 0, np.asarray(Pt[prob["P"].nonzero()]).ravel()),
                    ("dA_values", 1, rng.normal(size=prob["A"].nnz)),
                    ("dq", 2, rng.normal(size=n)), ("db", 3, rng.normal(size=m))]
        # P is dense here, so nonzero() lists its entries in CSR order
        ok = True
        errs = []
        for key, idx, t in tangents:
            fds = []
            for h in (1e-5, 2e-6):
                sols = []
                for sign in (1, -1):
                    v2 = list(vals)
                    v2[idx] = vals[idx] + sign * h * t
                    sols.append(exact_solution(native, prob, tuple(v2)))
                if any(sl is None for sl in sols):
                    ok = False
                    break
                fds.append(np.concatenate([(a - b) / (2 * h) for a, b in zip(*sols)]))
            if not ok:
                break
            fd = fds[1]
            if np.abs(fds[0] - fds[1]).max() > 1e-6 * max(1.0, np.abs(fd).max()):
                ok = False  # curved: finite differences are no reference here
                break
            fx, fz, fs = np.split(fd, [n, n + m])
            fd_dot = gx @ fx + gz @ fz + gs @ fs
            an_dot = grads[key] @ t
            errs.append(abs(fd_dot - an_dot) / max(np.abs(grads[key] * t).sum(), abs(fd_dot), 1e-4))
            jv = solver.jvp(**{key: t})
            an = np.concatenate([jv["dx"], jv["dz"], jv["ds"]])
            errs.append(np.abs(an - fd).max() / max(np.abs(fd).max(), 1e-4))
        if not ok:
            continue
        checked += 1
        worst = max(worst, max(errs))
        assert max(errs) <= 1e-5, (seed, prob["cones"], errs)
    assert checked >= 20, checked
    print(f"PSD derivatives: {checked} problems, worst relative error {worst:.1e}")


def _jax_problem(seed):
    prob = deriv_problem(seed)
    return prob


def test_jax_grad_and_vmap_through_psd():
    """jax.grad of a loss of moreau.jax.Solver's solution vs finite differences of the
    NumPy solve; vmap matches the per-element solves."""
    import jax
    import jax.numpy as jnp
    import moreau.jax as mjax
    # as test_jax.py / test_seed_examples.py (float64 arrays into the float64 solver)
    jax.config.update("jax_enable_x64", True)
    done, directions = 0, 0
    for seed in range(2, 20):
        if done == 2:
            break
        prob = _jax_problem(seed)
        if exact_solution(_native(prob), prob, (prob["P"].data, prob["A"].data, prob["q"], prob["b"])) is None:
            continue
        done += 1
        P, A = prob["P"], prob["A"]
        n, m = prob["n"], prob["m"]
        cones = moreau_cones(prob["cones"])
        ipm = moreau.IPMSettings(tol_gap_abs=TIGHT, tol_gap_rel=TIGHT, tol_feas=TIGHT)
        st = moreau.Settings(ipm_settings=ipm, max_iter=300)
        js = mjax.Solver(n, m, P.indptr.astype(np.int64), P.indices.astype(np.int64),
                         A.indptr.astype(np.int64), A.indices.astype(np.int64), cones, st)
        w = np.linspace(0.5, 1.5, m)

        def loss(q, b):
            sol = js.solve(jnp.asarray(P.data), jnp.asarray(A.data), q, b)
            return jnp.sum(sol.x ** 2) + jnp.dot(jnp.asarray(w, sol.z.dtype), sol.z)

        native = _native(prob)

        def np_loss(q, b):
            # Newton-polished solution: the plain IPM one is too noisy for differences
            sol = exact_solution(native, prob, (P.data, A.data, q, b))
            return np.nan if sol is None else np.sum(sol[0] ** 2) + w @ sol[1]

        q0, b0 = prob["q"], prob["b"]
        gq, gb = jax.grad(loss, argnums=(0, 1))(jnp.asarray(q0), jnp.asarray(b0))
        h = 1e-5
        for g, base, which in ((gq, q0, 0), (gb, b0, 1)):
            d = np.random.default_rng(seed).normal(size=base.size)
            plus = [q0, b0]
            minus = [q0, b0]
            plus[which] = base + h * d
            minus[which] = base - h * d
            fd = (np_loss(*plus) - np_loss(*minus)) / (2 * h)
            an = float(np.asarray(g, np.float64) @ d)
            if np.isnan(fd):
                continue  # polishing failed: no reference for this direction
            directions += 1
            assert abs(fd - an) <= 1e-5 * max(1.0, abs(fd)), (seed, which, fd, an)
        # vmap over b
        bs = b0 + 0.01 * np.random.default_rng(1).normal(size=(3, m))
        xs = jax.vmap(lambda b: js.solve(jnp.asarray(P.data), jnp.asarray(A.data), jnp.asarray(q0), b).x)(
            jnp.asarray(bs))
        for i in range(3):
            r = moreau.Solver(P, q0, A, bs[i], cones=cones, settings=st).solve()
            np.testing.assert_allclose(np.asarray(xs[i], np.float64), np.asarray(r.x), atol=1e-7)
    assert done == 2 and directions >= 3, (done, directions)


# --------------------------------------------------------------------------- cvxpylayers


def test_cvxpylayer_with_psd_constraint():
    """A CvxpyLayer(solver="MOREAU") with a PSD constraint: right solution and gradient.
    cvxpylayers 1.2.0 builds moreau.Cones without the PSD cones; without the
    _cvxpy_compat wrapper the layer's cones cover too few rows (the context check below
    fails, and the layer raises instead of solving)."""
    pytest.importorskip("cvxpylayers")
    import cvxpy as cp
    import jax
    import jax.numpy as jnp
    from cvxpylayers.jax import CvxpyLayer
    from moreau_jax import _cvxpy_compat
    jax.config.update("jax_enable_x64", True)
    k = 3
    C = cp.Parameter((k, k), symmetric=True)
    X = cp.Variable((k, k), symmetric=True)
    # nearest PSD matrix with unit diagonal, plus a ridge so the map is smooth
    prob = cp.Problem(cp.Minimize(cp.sum_squares(X - C)), [X >> 0, cp.diag(X) == 1])
    assert prob.is_dpp()
    layer = CvxpyLayer(prob, parameters=[C], variables=[X], solver="MOREAU")
    assert _cvxpy_compat.is_patched()
    from cvxpylayers.interfaces import moreau_if
    assert getattr(moreau_if._cvxpy_dims_to_moreau_cones, "_moreau_jax_wrapped", False)

    rng = np.random.default_rng(0)
    G = rng.normal(size=(k, k))
    C0 = (G + G.T) / 2
    np.fill_diagonal(C0, 1.0)

    def ref(Cv):
        C.value = Cv
        prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
        return X.value

    Xl, = layer(jnp.asarray(C0))
    np.testing.assert_allclose(np.asarray(Xl), ref(C0), atol=1e-5)
    assert np.linalg.eigvalsh(np.asarray(Xl))[0] > -1e-6

    W = rng.normal(size=(k, k))
    g = np.asarray(jax.grad(lambda c: jnp.sum(jnp.asarray(W) * layer(c)[0]))(jnp.asarray(C0)))
    for _ in range(3):
        D = rng.normal(size=(k, k))
        D = (D + D.T) / 2
        h = 1e-5
        fd = (np.sum(W * ref(C0 + h * D)) - np.sum(W * ref(C0 - h * D))) / (2 * h)
        assert abs(np.sum(g * D) - fd) <= 1e-4 * max(1.0, abs(fd)), (np.sum(g * D), fd)


def test_cvxpylayers_cones_patch_adds_psd_dims():
    """The wrapped cvxpylayers helper passes dims['s'] on; the original drops it."""
    pytest.importorskip("cvxpylayers")
    from cvxpylayers.interfaces import moreau_if
    dims = {"z": 1, "l": 2, "q": [3], "ep": 0, "p": [], "s": [2, 4]}
    wrapped = moreau_if._cvxpy_dims_to_moreau_cones
    assert wrapped(dims).psd_dims == [2, 4]
    assert wrapped(dims).total_constraints() == 1 + 2 + 3 + 3 + 10
    original = wrapped.__wrapped__
    assert original(dims).psd_dims == []  # what cvxpylayers 1.2.0 does by itself
