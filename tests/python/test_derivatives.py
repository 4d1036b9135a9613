"""Derivatives of the solution map: Solver.backward (VJP) and Solver.jvp (JVP).

Reference: central finite differences of the forward solve.  Interior-point
solutions of exponential / power cone problems are only accurate to ~1e-7, too
coarse for finite differences, so every reference solution is first polished by
Newton's method on the residual map F(x, v) = [Px + q + A' proj_{K*}(v);
Ax + proj_{K*}(v) - v - b] (v = z - s) until |F| <= 1e-13.  The projections used
in F are computed here, independently of the Rust code (closed forms, and a local
Newton solve of the projection's optimality conditions for exp / power cones); the
Newton step uses the solver's JVP, but only the converged point matters, and its
residual is checked.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import moreau
from moreau_jax._native import NativeSolver
from problems import (
    RANDOM_FAMILIES,
    cone_blocks,
    moreau_cones,
    primal_infeasible,
    random_feasible,
    seed_problem,
)

TOL = 1e-11
PROBLEMS_PER_FAMILY = int(__import__("os").environ.get("DERIV_PROBLEMS", 100))
FD_STEP = 1e-5
FD_RTOL = 1e-5


def tight_settings(**kw):
    ipm = moreau.IPMSettings(tol_gap_abs=TOL, tol_gap_rel=TOL, tol_feas=TOL)
    return moreau.Settings(enable_grad=True, ipm_settings=ipm, max_iter=300, **kw)


def make_solver(prob, **kw):
    return moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"], cones=moreau_cones(prob["cones"]),
                         settings=tight_settings(**kw))


def native_for(prob):
    ipm = {"tol_gap_abs": TOL, "tol_gap_rel": TOL, "tol_feas": TOL, "max_iter": 300}
    P, A = prob["P"], prob["A"]
    return NativeSolver(prob["n"], prob["m"], P.indptr.astype(np.int64), P.indices.astype(np.int64),
                        A.indptr.astype(np.int64), A.indices.astype(np.int64), prob["cones"], ipm)


# ---------------------------------------------------------------- exact projections


def _exp_boundary(p, _a):
    x, y, z = p
    r = x / y
    e = np.exp(r)
    grad = np.array([e, e * (1 - r), -1.0])
    hess = np.array([[e / y, -e * r / y, 0], [-e * r / y, e * r * r / y, 0], [0, 0, 0]])
    return y * e - z, grad, hess


def _pow_boundary(p, a):
    x, y, z = p
    phi = x ** a * y ** (1 - a)
    grad = np.array([-a * phi / x, -(1 - a) * phi / y, np.sign(z)])
    c = phi * a * (1 - a)
    hess = np.array([[c / x ** 2, -c / (x * y), 0], [-c / (x * y), c / y ** 2, 0], [0, 0, 0]])
    return abs(z) - phi, grad, hess


def _boundary_projection(w, guess, a, g):
    """Projection of w onto {g <= 0} near `guess` (on the smooth boundary): Newton on
    p - w + mu grad g(p) = 0, g(p) = 0."""
    p = np.array(guess, float)
    _, grad, _ = g(p, a)
    mu = (w - p) @ grad / (grad @ grad)
    for _ in range(60):
        gv, grad, hess = g(p, a)
        res = np.concatenate([p - w + mu * grad, [gv]])
        if np.max(np.abs(res)) < 1e-16 * (1 + np.max(np.abs(w))):
            break
        J = np.zeros((4, 4))
        J[:3, :3] = np.eye(3) + mu * hess
        J[:3, 3] = grad
        J[3, :3] = grad
        step = np.linalg.solve(J, res)
        p -= step[:3]
        mu -= step[3]
    return p


def _in_exp(w):
    x, y, z = w
    return (y > 0 and z > 0 and x <= y * np.log(z / y)) or (x <= 0 and y == 0 and z >= 0)


def _in_exp_dual(w):
    u, v, t = w
    return (u < 0 and t > 0 and np.log(-u) + v / u <= 1 + np.log(t)) or (u == 0 and v >= 0 and t >= 0)


def _in_pow(w, a):
    x, y, z = w
    return x >= 0 and y >= 0 and abs(z) <= x ** a * y ** (1 - a)


def project_primal(cones, w, guess):
    """proj_K(w), block by block; exp / power boundary cases start from `guess`."""
    out = np.zeros_like(w)
    for kind, k, d, a in cone_blocks(cones):
        blk, gs = w[k:k + d], guess[k:k + d]
        if kind == "zero":
            continue
        if kind == "nonneg":
            out[k:k + d] = np.maximum(blk, 0)
        elif kind == "soc":
            t, u = blk[0], blk[1:]
            nu = np.linalg.norm(u)
            if nu <= t:
                out[k:k + d] = blk
            elif nu > -t:
                c = 0.5 * (t + nu)
                out[k] = c
                out[k + 1:k + d] = c * u / nu
        elif kind == "exp":
            if _in_exp(blk):
                out[k:k + d] = blk
            elif not _in_exp_dual(-blk):
                out[k:k + d] = _boundary_projection(blk, gs, None, _exp_boundary)
        else:
            if _in_pow(blk, a):
                out[k:k + d] = blk
            elif not _in_pow((-blk[0] / a, -blk[1] / (1 - a), -blk[2]), a):
                out[k:k + d] = _boundary_projection(blk, gs, a, _pow_boundary)
    return out


def polish(native, prob, vals, x, z, s):
    """Newton on the residual map from (x, z, s); returns the polished point and |F|."""
    P, A, q, b = vals
    Pm = sp.csr_matrix((P, prob["P"].indices, prob["P"].indptr), shape=prob["P"].shape)
    Am = sp.csr_matrix((A, prob["A"].indices, prob["A"].indptr), shape=prob["A"].shape)
    v = z - s
    scale = 1 + max(np.abs(P).max(initial=0), np.abs(A).max(initial=0), np.abs(q).max(), np.abs(b).max())
    status = np.array([1], np.int64)
    for _ in range(12):
        with np.errstate(all="ignore"):
            s = project_primal(prob["cones"], -v, s)
        z = v + s
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(x))):
            return x, z, s, np.inf  # the local projection left its boundary piece
        F1 = Pm @ x + q + Am.T @ z
        F2 = Am @ x + s - b
        res = max(np.abs(F1).max(), np.abs(F2).max(initial=0))
        if res <= 1e-14 * scale:
            break
        step = native.jvp(P[None], A[None], q[None], b[None], x[None], z[None], s[None], status,
                          np.zeros((1, P.size)), np.zeros((1, A.size)), F1[None], -F2[None])
        x = x + step["dx"][0]
        v = v + step["dz"][0] - step["ds"][0]
    return x, z, s, res / scale


def exact_solution(native, prob, vals):
    P, A, q, b = vals
    r = native.solve(P[None], A[None], q[None], b[None])
    if r["status"][0] not in (1, 4):
        return None
    x, z, s, res = polish(native, prob, vals, r["x"][0], r["z"][0], r["s"][0])
    return (x, z, s) if res <= 1e-12 else None


def symmetric_tangent(P, rng):
    """A random tangent of P's stored values that keeps P symmetric."""
    if P.nnz == 0:
        return np.zeros(0)
    T = sp.csr_matrix((rng.normal(size=P.nnz), P.indices, P.indptr), shape=P.shape)
    T = ((T + T.T) * 0.5).tocsr()
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    return np.asarray(T[rows, P.indices], dtype=np.float64).ravel()


def rel_err(fd, an):
    fd, an = np.atleast_1d(fd), np.atleast_1d(an)
    return float(np.max(np.abs(fd - an)) / max(np.max(np.abs(fd)), np.max(np.abs(an)), 1e-4))


def check_problem(prob, rng):
    """FD check of VJP and JVP for every input; returns the worst errors or None
    when the reference could not be computed."""
    native = native_for(prob)
    vals = tuple(np.asarray(v, np.float64).copy() for v in (prob["P"].data, prob["A"].data, prob["q"], prob["b"]))
    base = exact_solution(native, prob, vals)
    if base is None:
        return None
    x, z, s = base
    n, m = prob["n"], prob["m"]
    # the public API at the polished point: a Solver whose stored solution is `base`
    solver = make_solver(prob)
    solver.solve()
    solver._grad.update(x=x[None], z=z[None], s=s[None])
    gx, gz, gs = rng.normal(size=n), rng.normal(size=m), rng.normal(size=m)
    grads = solver.backward(gx, gz, gs)
    tangents = {
        "P": symmetric_tangent(prob["P"], rng),
        "A": rng.normal(size=prob["A"].nnz),
        "q": rng.normal(size=n),
        "b": rng.normal(size=m),
    }
    errors = {}
    for idx, (name, t) in enumerate(tangents.items()):
        if t.size == 0:
            continue
        fds = []
        for h in (FD_STEP, FD_STEP / 5):
            pert = []
            for sign in (1, -1):
                v2 = list(vals)
                v2[idx] = vals[idx] + sign * h * t
                sol = exact_solution(native, prob, tuple(v2))
                if sol is None:
                    return None
                pert.append(sol)
            fds.append(np.concatenate([(a - b) / (2 * h) for a, b in zip(pert[0], pert[1])]))
        # An ill-conditioned instance (nearly dependent active constraints) has a huge
        # derivative that finite differences cannot resolve: two step sizes disagree.
        if rel_err(fds[0], fds[1]) > 0.1 * FD_RTOL:
            return None
        fd = np.split(fds[1], [n, n + m])
        key = {"P": "dP_values", "A": "dA_values", "q": "dq", "b": "db"}[name]
        # a dot product: relative to the sum of its terms' magnitudes (no cancellation)
        fd_dot = gx @ fd[0] + gz @ fd[1] + gs @ fd[2]
        an_dot = grads[key] @ t
        errors[f"vjp_{name}"] = abs(fd_dot - an_dot) / max(np.abs(grads[key] * t).sum(), abs(fd_dot), 1e-4)
        jv = solver.jvp(**{key: t})
        # relative to the size of the whole tangent (x, z, s): a zero block (dx of an
        # LP w.r.t. q) is compared with the FD noise of the others
        errors[f"jvp_{name}"] = rel_err(fds[1], np.concatenate([jv["dx"], jv["dz"], jv["ds"]]))
    return errors


# socp_large (cones of dimension 33..160 on n <= 12 variables, solved through the
# sparse expanded KKT form) has many instances whose solution map is strongly curved:
# the two FD step sizes disagree on about half of them, so such seeds are skipped
# (they are no evidence either way). The family is checked on fewer problems with a
# larger skip allowance; where the FD reference is usable the errors are ~1e-7.
FD_BUDGET = {"socp_large": (max(1, PROBLEMS_PER_FAMILY // 4), 2.0)}


@pytest.mark.parametrize("family", RANDOM_FAMILIES)
def test_finite_differences(family):
    rng = np.random.default_rng([RANDOM_FAMILIES.index(family), 2024])
    wanted, skip_ratio = FD_BUDGET.get(family, (PROBLEMS_PER_FAMILY, 0.25))
    worst, checked, skipped, failures = {}, 0, 0, []
    # seeds until `wanted` problems are checked; a seed is skipped when its
    # reference is unusable (solve / polish failed, or FD steps disagree)
    for seed in range(int((1 + skip_ratio) * wanted) + 1):
        if checked == wanted:
            break
        prob = random_feasible(family, seed, n=int(np.random.default_rng(seed).integers(4, 13)))
        errors = check_problem(prob, rng)
        if errors is None:
            skipped += 1
            continue
        checked += 1
        for k, e in errors.items():
            worst[k] = max(worst.get(k, 0.0), e)
        if max(errors.values()) > FD_RTOL:
            failures.append((seed, {k: f"{e:.1e}" for k, e in errors.items() if e > FD_RTOL}))
    print(f"{family}: {checked} problems checked ({skipped} skipped), worst errors",
          {k: f"{e:.1e}" for k, e in worst.items()})
    assert checked == wanted and skipped <= skip_ratio * checked, (checked, skipped)
    assert not failures, f"{len(failures)} of {checked} problems exceed {FD_RTOL}: {failures[:5]}"


@pytest.mark.parametrize("family", RANDOM_FAMILIES)
def test_adjointness(family):
    """<JVP(t), c> == <t, VJP(c)> for random t, c (P tangent symmetric)."""
    rng = np.random.default_rng(7)
    for seed in range(10):
        prob = random_feasible(family, 500 + seed, n=10)
        solver = make_solver(prob)
        solver.solve()
        if solver.info.status.name not in ("Solved", "AlmostSolved"):
            continue
        n, m = prob["n"], prob["m"]
        c = [rng.normal(size=n), rng.normal(size=m), rng.normal(size=m)]
        t = dict(dP_values=symmetric_tangent(prob["P"], rng), dA_values=rng.normal(size=prob["A"].nnz),
                 dq=rng.normal(size=n), db=rng.normal(size=m))
        jv = solver.jvp(**t)
        g = solver.backward(*c)
        lhs = c[0] @ jv["dx"] + c[1] @ jv["dz"] + c[2] @ jv["ds"]
        rhs = sum(t[k] @ g[k] for k in t)
        assert abs(lhs - rhs) <= 1e-8 * max(1.0, abs(lhs)), (seed, lhs, rhs)


def test_p_pair_gradients_equal_and_sum_matches():
    prob = random_feasible("qp", 3, n=8)
    solver = make_solver(prob)
    solver.solve()
    g = solver.backward(np.ones(prob["n"]))["dP_values"]
    P = prob["P"]
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    for k, (i, j) in enumerate(zip(rows, P.indices)):
        mirror = P.indptr[j] + np.searchsorted(P.indices[P.indptr[j]:P.indptr[j + 1]], i)
        assert g[k] == pytest.approx(g[mirror], rel=1e-12, abs=1e-15)
    # a one-entry tangent is symmetrized: it counts as half of the pair tangent
    k = int(np.flatnonzero(rows != P.indices)[0])
    e = np.zeros(P.nnz)
    e[k] = 1.0
    jv = solver.jvp(dP_values=e)["dx"]
    assert np.ones(prob["n"]) @ jv == pytest.approx(g[k], rel=1e-8, abs=1e-12)


def test_batched_equals_per_element():
    from problems import batch_same_pattern
    data = batch_same_pattern(4, 5, n=10, family="mixed")
    B, n, m = 5, data["n"], data["m"]
    st = tight_settings(batch_size=B)
    cs = moreau.CompiledSolver(n, m, data["P_pattern"].indptr, data["P_pattern"].indices,
                               data["A_pattern"].indptr, data["A_pattern"].indices,
                               moreau_cones(data["cones"]), st)
    cs.setup(data["P_values"], data["A_values"])
    cs.solve(data["q"], data["b"])
    rng = np.random.default_rng(3)
    dx, dz, ds = rng.normal(size=(B, n)), rng.normal(size=(B, m)), rng.normal(size=(B, m))
    g = cs.backward(dx, dz, ds)
    tq = rng.normal(size=(B, n))
    jv = cs.jvp(dq=tq)
    for k in range(B):
        prob = data["problems"][k]
        solver = make_solver(prob)
        solver.solve()
        gk = solver.backward(dx[k], dz[k], ds[k])
        for key in ("dq", "db", "dA_values", "dP_values"):
            np.testing.assert_allclose(g[key][k], gk[key], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(jv["dx"][k], solver.jvp(dq=tq[k])["dx"], rtol=1e-6, atol=1e-9)


def test_nan_on_infeasible():
    prob = primal_infeasible("lp", 0)
    solver = make_solver(prob)
    solver.solve()
    assert solver.info.status.name in ("PrimalInfeasible", "AlmostPrimalInfeasible")
    g = solver.backward(np.ones(prob["n"]))
    assert all(np.all(np.isnan(v)) for v in g.values())
    assert all(np.all(np.isnan(v)) for v in solver.jvp(dq=np.ones(prob["n"])).values())


def test_seed_problem_gradient_finite_and_one_sided_fd():
    """Degenerate (x_1 = 0 with zero multiplier): the gradient of sum(x) w.r.t. q is
    finite and matches a one-sided FD in the non-degenerate coordinates."""
    prob = seed_problem()
    solver = make_solver(prob)
    x0 = solver.solve().x
    np.testing.assert_allclose(x0, [1, 0, 0, 0, 0], atol=1e-6)
    g = solver.backward(np.ones(5))
    assert all(np.all(np.isfinite(v)) for v in g.values())
    # sum(x) == 1 for every q, so its gradient is 0; for x_0 alone, increasing q_j
    # (j >= 2, strictly inactive side) keeps x = e_0 (one-sided FD = 0)
    h = 1e-4
    for j in (0, 2, 3, 4):
        q = prob["q"].copy()
        q[j] += h
        p2 = dict(prob, q=q)
        s2 = make_solver(p2)
        fd = (np.sum(s2.solve().x) - np.sum(x0)) / h
        assert g["dq"][j] == pytest.approx(fd, abs=1e-6)
    gx0 = solver.backward(np.eye(5)[0])["dq"]
    assert np.all(np.isfinite(gx0))
    for j in (2, 3, 4):
        q = prob["q"].copy()
        q[j] += h
        fd = (make_solver(dict(prob, q=q)).solve().x[0] - x0[0]) / h
        assert gx0[j] == pytest.approx(fd, abs=1e-6)


def test_errors_without_solve_or_grad():
    prob = random_feasible("lp", 1, n=5)
    solver = make_solver(prob)
    with pytest.raises(RuntimeError, match="solve"):
        solver.backward(np.ones(5))
    with pytest.raises(RuntimeError, match="solve"):
        solver.jvp(dq=np.ones(5))
    ipm = moreau.IPMSettings(tol_gap_abs=TOL)
    plain = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"], cones=moreau_cones(prob["cones"]),
                          settings=moreau.Settings(ipm_settings=ipm))
    plain.solve()
    with pytest.raises(RuntimeError, match="enable_grad"):
        plain.backward(np.ones(5))
    solver.solve()
    with pytest.raises(ValueError, match="dx"):
        solver.backward(np.ones(4))
    with pytest.raises(ValueError):
        solver.backward(np.full(5, np.nan))


# ---------------------------------------------------------------- diffcp reference


def _to_diffcp(prob):
    """SCS-ordered cone dict for diffcp (zero 'z', nonneg 'l', soc 'q', exp 'ep',
    power 'p'); same Ax + s = b convention.  SCS's exp cone is
    {(x,y,z): y exp(x/y) <= z} as ours; its 3-d power cone is x^a y^(1-a) >= |z|."""
    c = prob["cones"]
    return {"z": c["zero"], "l": c["nonneg"], "q": list(c["soc"]), "ep": c["exp"], "p": list(c["power"])}


@pytest.mark.parametrize("family", ["lp", "socp", "exp"])
def test_matches_diffcp(family):
    """diffcp (P = 0 only; it has no power cone) at its own SCS solution, compared
    where SCS's solution agrees with ours (SCS sometimes stops "Solved/Inaccurate")."""
    diffcp = pytest.importorskip("diffcp")
    rng = np.random.default_rng(11)
    compared = 0
    for seed in range(200):
        if compared == 10:
            break
        prob = random_feasible(family, 900 + seed, n=8)
        if prob["P"].nnz:
            continue  # diffcp handles P = 0 only
        solver = make_solver(prob)
        ours = solver.solve()
        if solver.info.status.name != "Solved":
            continue
        A = sp.csc_matrix(prob["A"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, y, s, D, DT = diffcp.solve_and_derivative(A, prob["b"], prob["q"], _to_diffcp(prob),
                                                         eps=1e-12, max_iters=100000, mode="dense")
        if max(np.abs(x - ours.x).max(), np.abs(y - ours.z).max(), np.abs(s - ours.s).max()) > 1e-7:
            continue
        n, m = prob["n"], prob["m"]
        dx, dy, ds = rng.normal(size=n), rng.normal(size=m), rng.normal(size=m)
        dA, db, dc = DT(dx, dy, ds)
        g = solver.backward(dx, dy, ds)
        # diffcp: y = our z; dA as a sparse matrix with A's pattern
        dA_vals = np.asarray(sp.csr_matrix(dA)[np.repeat(np.arange(m), np.diff(prob["A"].indptr)),
                                               prob["A"].indices]).ravel()
        for mine, theirs in ((g["dq"], dc), (g["db"], db), (g["dA_values"], dA_vals)):
            assert rel_err(theirs, mine) < 1e-5, (seed, mine, theirs)
        compared += 1
    print(f"diffcp {family}: {compared} problems compared")
    assert compared >= 5


# ---------------------------------------------------------------- solve paths


def _grads_and_tangents(solver, prob, rng):
    n, m = prob["n"], prob["m"]
    c = (rng.normal(size=n), rng.normal(size=m), rng.normal(size=m))
    t = dict(dP_values=symmetric_tangent(prob["P"], rng), dA_values=rng.normal(size=prob["A"].nnz),
             dq=rng.normal(size=n), db=rng.normal(size=m))
    return c, t


def _both_paths(solver, c, t, monkeypatch):
    """VJP and JVP by the default path and by the forced LSQR fallback
    (MOREAU_DERIV_PATH=lsqr, a test-only switch)."""
    out = []
    for forced in (False, True):
        if forced:
            monkeypatch.setenv("MOREAU_DERIV_PATH", "lsqr")
        else:
            monkeypatch.delenv("MOREAU_DERIV_PATH", raising=False)
        g = solver.backward(*c)
        jv = solver.jvp(**t)
        out.append(np.concatenate([g[k] for k in ("dP_values", "dA_values", "dq", "db")]
                                  + [jv[k] for k in ("dx", "dz", "ds")]))
    monkeypatch.delenv("MOREAU_DERIV_PATH", raising=False)
    return out


@pytest.mark.parametrize("family", RANDOM_FAMILIES)
def test_paths_agree(family, monkeypatch):
    """The LDL^T path (accepted or least squares) and the LSQR fallback compute the
    same generalized derivative K^+ on the derivative corpus."""
    from moreau_jax._native import derivative_path_counts
    rng = np.random.default_rng([31, RANDOM_FAMILIES.index(family)])
    compared = 0
    derivative_path_counts()
    for seed in range(30):
        if compared == 10:
            break
        prob = random_feasible(family, seed, n=int(np.random.default_rng(seed).integers(4, 13)))
        solver = make_solver(prob)
        solver.solve()
        if solver.info.status.name not in ("Solved", "AlmostSolved"):
            continue
        c, t = _grads_and_tangents(solver, prob, rng)
        default, forced = _both_paths(solver, c, t, monkeypatch)
        assert np.all(np.isfinite(default))
        assert rel_err(forced, default) < 1e-6, (seed, rel_err(forced, default))
        compared += 1
    counts = derivative_path_counts()
    assert compared >= 8, compared
    # the forced runs went through the fallback; the default ones rarely (ill-conditioned
    # K whose LDL^T solution fails the forward-error test)
    assert 2 * compared <= counts["lsqr"] <= 2.4 * compared, counts


_COMPARED = ("Solved", "AlmostSolved")


def _fd_and_paths_agree(prob, rng, monkeypatch, seed):
    """VJP/JVP of `prob` against finite differences (where the FD steps agree) and,
    on a solved instance, the default path against the forced fallback.  Returns
    (whether the FD check ran, the solve status name)."""
    errors = check_problem(prob, rng)
    if errors is not None:
        assert max(errors.values()) <= FD_RTOL, (seed, errors)
    solver = make_solver(prob)
    solver.solve()
    status = solver.info.status.name
    if status in _COMPARED:
        c, t = _grads_and_tangents(solver, prob, rng)
        default, forced = _both_paths(solver, c, t, monkeypatch)
        assert np.all(np.isfinite(default))
        assert rel_err(forced, default) < 1e-6, (seed, rel_err(forced, default))
    return errors is not None, status


def test_huge_soc_block_fd_and_paths_agree(monkeypatch):
    """An SOC block of dimension >= 200 enters the derivative system in sparse
    expanded form (soc_expansion.rs): its VJP/JVP match finite differences and the
    forced fallback (the dense pseudo-inverse / LSQR on K, built through the same
    expanded product), on boundary and interior solutions alike."""
    rng = np.random.default_rng(2026)
    checked = compared = 0
    for seed in range(24):
        prob = random_feasible("socp_huge", seed, n=int(np.random.default_rng(seed).integers(4, 13)))
        assert max(prob["cones"]["soc"]) >= 200
        fd_checked, status = _fd_and_paths_agree(prob, rng, monkeypatch, seed)
        checked += fd_checked
        compared += status in _COMPARED
    print(f"socp_huge: {checked} FD-checked, {compared} path-compared")
    # about half of the seeds have a strongly curved solution map (FD steps disagree)
    assert checked >= 8 and compared >= 16, (checked, compared)


def _sqrt_lasso_like(m=230, n=6, seed=0):
    """CVXPY sqrt-lasso: one SOC block of dimension m + 1 > 200 whose rows of A are
    dense, so the derivative eliminates its v variables by one dense product
    (src/derivatives/block_elimination.rs)."""
    cp = pytest.importorskip("cvxpy")
    from problems import from_cvxpy
    rng = np.random.default_rng([78, seed])
    Ad = rng.normal(size=(m, n))
    bd = Ad @ (rng.normal(size=n) * (rng.random(n) < 0.5)) + 0.3 * rng.normal(size=m)
    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(cp.norm(Ad @ x - bd, 2) + 0.1 * cp.norm1(x)))
    return from_cvxpy(prob, "sqrt_lasso_like", "sqrt_lasso")


def test_dense_huge_soc_block_fd_and_paths_agree(monkeypatch):
    """A dense SOC block of dimension > 200 (block elimination in the derivative's
    factor): VJP/JVP match finite differences and the forced fallback."""
    rng = np.random.default_rng(2027)
    checked = 0
    for seed in range(3):
        prob = _sqrt_lasso_like(seed=seed)
        assert max(prob["cones"]["soc"]) > 200
        fd_checked, status = _fd_and_paths_agree(prob, rng, monkeypatch, seed)
        assert status == "Solved", (seed, status)
        checked += fd_checked
    assert checked >= 2, checked


def _mpc_like(nx=3, nu=2, T=8, seed=0):
    """CVXPY MPC with `cp.abs(U) <= 1`: the epigraph variables t (|u| <= t <= 1) have
    no curvature, so they are not unique wherever |u| < 1 (singular derivative system)."""
    cp = pytest.importorskip("cvxpy")
    from problems import from_cvxpy
    rng = np.random.default_rng([77, seed])
    A = rng.normal(size=(nx, nx))
    A /= 1.05 * np.max(np.abs(np.linalg.eigvals(A)))
    B = rng.normal(size=(nx, nu))
    X, U = cp.Variable((nx, T + 1)), cp.Variable((nu, T))
    cons = [X[:, 0] == 4 * rng.normal(size=nx), X[:, 1:] == A @ X[:, :-1] + B @ U, cp.abs(U) <= 1]
    prob = cp.Problem(cp.Minimize(cp.sum_squares(X) + 0.1 * cp.sum_squares(U)), cons)
    return from_cvxpy(prob, "mpc_like", "mpc")


def test_degenerate_mpc_gradients_finite_and_paths_agree(monkeypatch):
    from moreau_jax._native import derivative_path_counts
    prob = _mpc_like()
    solver = make_solver(prob)
    solver.solve()
    assert solver.info.status.name == "Solved"
    rng = np.random.default_rng(5)
    c, t = _grads_and_tangents(solver, prob, rng)  # cotangents on every variable, t's included
    derivative_path_counts()
    default, forced = _both_paths(solver, c, t, monkeypatch)
    counts = derivative_path_counts()
    assert np.all(np.isfinite(default)) and np.abs(default).max() < 1e4
    # the singular system is solved by the LDL^T factor in the least-squares sense
    assert counts["ldlt_projected"] >= 1 and counts["lsqr"] == 2, counts
    assert rel_err(forced, default) < 1e-6, rel_err(forced, default)
    # the generalized JVP and VJP stay exact adjoints
    jv = solver.jvp(**t)
    g = solver.backward(*c)
    lhs = c[0] @ jv["dx"] + c[1] @ jv["dz"] + c[2] @ jv["ds"]
    rhs = sum(t[k] @ g[k] for k in t)
    assert abs(lhs - rhs) <= 1e-8 * max(1.0, abs(lhs), np.abs(lhs) + np.abs(rhs))
