"""CVXPY integration: ``prob.solve(solver="MOREAU")`` through our ``moreau`` facade.

Runs with cvxpy 1.9.x + cvxpylayers 1.2.0 (requirements-dev.txt) and with the
oldest supported pair cvxpy 1.8.2 + cvxpylayers 1.1.0 (requirements-oldest.txt).
Every answer is compared with Clarabel's (``solver="CLARABEL"``) on the same
CVXPY problem; see docs/cvxpy-integration.md for the direct-cones design.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

cp = pytest.importorskip("cvxpy")

import moreau  # noqa: E402
from moreau_jax import _cvxpy_compat  # noqa: E402

CVXPY_VERSION = tuple(int(p) for p in cp.__version__.split(".")[:2])
HAS_DIRECT_CONES = CVXPY_VERSION >= (1, 9)

ATOL = 1e-6  # values, variables and duals vs Clarabel (non-degenerate problems)


TIGHT = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}


def _solve_both(prob, tight=True):
    """Solve with Clarabel then MOREAU; return (clarabel, moreau) snapshots.

    ``tight``: both solvers at gap/feasibility tolerance 1e-10 (default 1e-8 leaves
    duals of some exp-cone problems ~1e-5 from the truth, in both solvers)."""
    out = []
    clarabel_opts = dict(TIGHT) if tight else {}
    moreau_opts = {"ipm_settings": dict(TIGHT)} if tight else {}
    for name, opts in (("CLARABEL", clarabel_opts), ("MOREAU", moreau_opts)):
        prob.solve(solver=name, **opts)
        out.append(
            dict(
                status=prob.status,
                value=prob.value,
                vars=[None if v.value is None else np.array(v.value) for v in prob.variables()],
                duals=[
                    None if c.dual_value is None else
                    [np.array(d) for d in c.dual_value] if isinstance(c.dual_value, list)
                    else np.array(c.dual_value)
                    for c in prob.constraints
                ],
            )
        )
    return out


def _assert_match(ref, got, atol=ATOL):
    assert got["status"] == ref["status"] == cp.OPTIMAL
    assert got["value"] == pytest.approx(ref["value"], abs=ATOL, rel=ATOL)
    for a, b in zip(ref["vars"], got["vars"]):
        np.testing.assert_allclose(b, a, atol=atol, rtol=atol)
    for a, b in zip(ref["duals"], got["duals"]):
        assert (a is None) == (b is None)
        if isinstance(a, list):
            for u, v in zip(a, b):
                np.testing.assert_allclose(v, u, atol=atol, rtol=atol)
        elif a is not None:
            np.testing.assert_allclose(b, a, atol=atol, rtol=atol)


# ---------------------------------------------------------------------------
# 1. CVXPY finds the solver
# ---------------------------------------------------------------------------


def test_cvxpy_sees_moreau():
    assert hasattr(cp, "MOREAU") and cp.MOREAU == "MOREAU"
    assert "MOREAU" in cp.installed_solvers()
    # CVXPY imported *this* facade (the worktree / installed moreau-jax).
    assert moreau.Cones.__module__ == "moreau_jax._types"


@pytest.mark.parametrize("order", ["cvxpy_first", "moreau_first"])
def test_direct_cones_disabled_in_any_import_order(order):
    """The seed problem's CVXPY data keeps x >= 0 as rows of A, whichever of
    cvxpy / moreau is imported first (a fresh interpreter for each order)."""
    imports = "import cvxpy; import moreau" if order == "cvxpy_first" else "import moreau; import cvxpy"
    code = f"""
{imports}
import cvxpy as cp, numpy as np
x = cp.Variable(5)
prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + np.arange(1., 6.) @ x),
                  [x >= 0, cp.sum(x) == 1])
data, _, _ = prob.get_problem_data(solver="MOREAU")
print(data["A"].shape[0], len(data.get("dir_cones", [])))
"""
    env = dict(os.environ)
    env.pop(_cvxpy_compat.ENV_KEEP, None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert out == ["6", "0"], out


# ---------------------------------------------------------------------------
# 2. Problem families vs Clarabel
# ---------------------------------------------------------------------------


def _lp(seed):
    rng = np.random.default_rng(seed)
    n, m = 6, 9
    A = rng.standard_normal((m, n))
    x0 = rng.uniform(0.5, 1.5, n)
    b = A @ x0 + rng.uniform(0.1, 1.0, m)
    c = -A.T @ rng.uniform(0.1, 1.0, m)  # dual feasible -> bounded
    x = cp.Variable(n)
    return cp.Problem(cp.Minimize(c @ x), [A @ x <= b, cp.sum(x) == np.sum(x0)])


def _qp(seed):
    rng = np.random.default_rng(100 + seed)
    n = 5
    M = rng.standard_normal((n, n))
    Q = M @ M.T + 0.5 * np.eye(n)
    q = rng.standard_normal(n)
    G = rng.standard_normal((4, n))
    x = cp.Variable(n)
    return cp.Problem(
        cp.Minimize(0.5 * cp.quad_form(x, Q) + q @ x),
        [G @ x <= 0.3, cp.sum(x) == 1, x <= 2],
    )


def _socp(seed):
    rng = np.random.default_rng(200 + seed)
    n = 4
    F = rng.standard_normal((3, n))
    g = rng.standard_normal(3)
    c = rng.standard_normal(n)
    x = cp.Variable(n)
    return cp.Problem(
        cp.Minimize(c @ x + 0.5 * cp.sum_squares(x)),
        [cp.norm(F @ x + g, 2) <= 1.0 + seed, cp.norm(x, 2) <= 2.0],
    )


def _exp(seed):
    rng = np.random.default_rng(300 + seed)
    n = 4
    a = rng.uniform(0.5, 2.0, n)
    x = cp.Variable(n)
    # maximum entropy with a linear moment constraint
    return cp.Problem(
        cp.Maximize(cp.sum(cp.entr(x)) + a @ x * 0.1),
        [cp.sum(x) == 1, x >= 0.01, a @ x <= float(np.mean(a)) + 0.1],
    )


def _exp_cone(seed):
    x, y, z = cp.Variable(), cp.Variable(), cp.Variable()
    return cp.Problem(
        cp.Minimize(x + 2 * y + (3 + seed) * z),
        [cp.ExpCone(x, y, z), y == 1, x >= -2.0 - seed],
    )


def _pow(seed):
    alpha = [0.3, 0.5, 0.7][seed]
    x, y, z = cp.Variable(), cp.Variable(), cp.Variable()
    return cp.Problem(
        cp.Maximize(z - 0.1 * x - 0.2 * y),
        [cp.PowCone3D(x, y, z, alpha), x + y <= 2, x >= 0.1],
    )


def _geo_mean(seed):
    rng = np.random.default_rng(400 + seed)
    n = 3
    w = rng.uniform(0.5, 1.5, n)
    x = cp.Variable(n)
    return cp.Problem(cp.Maximize(cp.geo_mean(x)), [w @ x <= 3, x <= 2])


# Variable / dual tolerance per family. The exp / power problems here have a
# flat optimum: the optimal value agrees to ~1e-9 between solvers (and with
# Clarabel at tolerance 1e-13), but x moves by ~1e-5 along the flat direction, in
# Clarabel as much as in ours, so their points are compared at 5e-5.
FAMILY_ATOL = {
    "lp": ATOL, "qp": ATOL, "socp": ATOL,
    "exp_entropy": 5e-5, "exp_cone": 5e-5, "pow3d": 5e-5, "pow_geo_mean": 5e-5,
}

FAMILIES = {
    "lp": _lp,
    "qp": _qp,
    "socp": _socp,
    "exp_entropy": _exp,
    "exp_cone": _exp_cone,
    "pow3d": _pow,
    "pow_geo_mean": _geo_mean,
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_matches_clarabel(family, seed):
    prob = FAMILIES[family](seed)
    ref, got = _solve_both(prob)
    _assert_match(ref, got, atol=FAMILY_ATOL[family])


def _seed_problem():
    n = 5
    x = cp.Variable(n)
    q = np.arange(1.0, n + 1.0)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + q @ x), [x >= 0, cp.sum(x) == 1])
    return prob, x


def test_seed_problem_solution_and_duals():
    """The seed problem: x = e_0, dual of x >= 0 is [0, 0, 1, 2, 3] (x_1 is
    degenerate), dual of sum(x) == 1 is -2 (CVXPY's sign)."""
    prob, x = _seed_problem()
    prob.solve(solver="MOREAU")
    assert prob.status == cp.OPTIMAL
    np.testing.assert_allclose(x.value, [1, 0, 0, 0, 0], atol=1e-6)
    assert prob.value == pytest.approx(1.5, abs=1e-7)
    np.testing.assert_allclose(prob.constraints[0].dual_value, [0, 0, 1, 2, 3], atol=1e-5)
    assert prob.constraints[1].dual_value == pytest.approx(-2.0, abs=1e-6)


@pytest.mark.skipif(not HAS_DIRECT_CONES, reason="CVXPY < 1.9 has no direct cones")
def test_direct_cone_path_through_facade(monkeypatch):
    """With CVXPY's original DIR_CONE_KINDS (what a user gets who opts out with
    MOREAU_JAX_CVXPY_DIRECT_CONES=1) the facade receives Cones.dir_cones and
    must give the same primal and dual answers as the slack form."""
    from cvxpy.reductions.solvers.conic_solvers.moreau_conif import MOREAU

    original = getattr(MOREAU, "_moreau_jax_original_DIR_CONE_KINDS")
    assert {"nonneg", "soc", "exp", "power"} <= original
    monkeypatch.setattr(MOREAU, "DIR_CONE_KINDS", original)

    prob, x = _seed_problem()
    data, _, _ = prob.get_problem_data(solver="MOREAU")
    assert len(data["dir_cones"]) == 1 and data["A"].shape[0] == 1
    prob.solve(solver="MOREAU")
    np.testing.assert_allclose(x.value, [1, 0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(prob.constraints[0].dual_value, [0, 0, 1, 2, 3], atol=1e-5)

    # SOC, exp and power constraints on plain variables become direct cones too.
    y, t, z, w = cp.Variable(3), cp.Variable(), cp.Variable(3), cp.Variable(3)
    cons = [
        cp.SOC(t, y), cp.sum(y) == 1, cp.ExpCone(z[0], z[1], z[2]), z[1] == 1, z[0] >= 0.5,
        cp.PowCone3D(w[0], w[1], w[2], 0.3), w[0] + w[1] <= 2,
    ]
    prob = cp.Problem(cp.Minimize(t + z[2] - w[2] + 0.1 * cp.sum_squares(y)), cons)
    data, _, _ = prob.get_problem_data(solver="MOREAU")
    assert sorted(c.kind for c in data["dir_cones"]) == ["exp", "power", "soc"]
    ref, got = _solve_both(prob)
    _assert_match(ref, got, atol=5e-5)


# ---------------------------------------------------------------------------
# Infeasible / unbounded
# ---------------------------------------------------------------------------


def test_infeasible_lp():
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1, cp.sum(x) <= 1])
    prob.solve(solver="MOREAU")
    assert prob.status == cp.INFEASIBLE
    assert prob.value == np.inf


def test_unbounded_lp():
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(x[0] - x[1]), [x >= 0, x[0] <= 3])
    prob.solve(solver="MOREAU")
    assert prob.status == cp.UNBOUNDED
    assert prob.value == -np.inf


def test_infeasible_socp():
    x = cp.Variable(3)
    prob = cp.Problem(cp.Minimize(cp.sum(x)), [cp.norm(x, 2) <= 1, x[0] >= 2])
    prob.solve(solver="MOREAU")
    assert prob.status == cp.INFEASIBLE


def test_unbounded_exp():
    x, y = cp.Variable(), cp.Variable()
    prob = cp.Problem(cp.Maximize(cp.log(x) + y), [x <= 1])
    prob.solve(solver="MOREAU")
    assert prob.status == cp.UNBOUNDED


# ---------------------------------------------------------------------------
# Solver options through prob.solve
# ---------------------------------------------------------------------------


def test_max_iter_is_passed_through():
    prob = _socp(0)
    prob.solve(solver="MOREAU", max_iter=2)
    assert prob.status == cp.USER_LIMIT
    assert prob.solver_stats.num_iters == 2
    prob.solve(solver="MOREAU", max_iter=200)
    assert prob.status == cp.OPTIMAL


def test_verbose_prints(capfd):
    prob = _qp(0)
    prob.solve(solver="MOREAU", verbose=False)
    quiet = capfd.readouterr()
    prob.solve(solver="MOREAU", verbose=True)
    loud = capfd.readouterr()
    assert len(loud.out + loud.err) > len(quiet.out + quiet.err) + 100


def test_ipm_settings_dict_and_object():
    # an SOC problem: "auto" solves it by the interior-point method, whose iteration
    # count shows the tolerances arrived (a small QP goes to the active-set method)
    prob = _socp(1)
    prob.solve(solver="CLARABEL")
    ref = prob.value
    prob.solve(solver="MOREAU", ipm_settings={"tol_gap_abs": 1e-3, "tol_gap_rel": 1e-3,
                                              "tol_feas": 1e-3})
    loose_iters = prob.solver_stats.num_iters
    assert prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    assert prob.value == pytest.approx(ref, rel=1e-2, abs=1e-2)
    prob.solve(solver="MOREAU", ipm_settings=moreau.IPMSettings(tol_gap_abs=1e-10,
                                                                tol_gap_rel=1e-10))
    assert prob.status == cp.OPTIMAL
    assert prob.solver_stats.num_iters > loose_iters
    assert prob.value == pytest.approx(ref, abs=1e-7)


def test_misspelled_option_is_an_error():
    prob = _qp(0)
    with pytest.raises(TypeError, match="max_iters"):
        prob.solve(solver="MOREAU", max_iters=10)
    with pytest.raises(TypeError, match="tol_gap_ab"):
        prob.solve(solver="MOREAU", ipm_settings={"tol_gap_ab": 1e-6})
    with pytest.raises((TypeError, ValueError), match="max_iter"):
        prob.solve(solver="MOREAU", max_iter=-1)


def test_device_and_time_limit_options():
    prob = _lp(0)
    prob.solve(solver="MOREAU", device="cpu", time_limit=60.0)
    assert prob.status == cp.OPTIMAL


@pytest.mark.skipif(not HAS_DIRECT_CONES, reason="CVXPY < 1.9 has no MOREAU warm start")
def test_warm_start_resolve_with_new_parameter():
    q = cp.Parameter(5)
    x = cp.Variable(5)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + q @ x), [x >= 0, cp.sum(x) == 1])
    for vals in (np.arange(1.0, 6.0), np.array([3.0, 1.0, 2.0, 5.0, 4.0])):
        q.value = vals
        prob.solve(solver="MOREAU", warm_start=True)
        got = x.value.copy()
        prob.solve(solver="CLARABEL")
        np.testing.assert_allclose(got, x.value, atol=1e-4)
        assert np.argmax(got) == np.argmin(vals)


# ---------------------------------------------------------------------------
# 3. The cvxpylayers data path (NumPy level; the JAX layer needs moreau.jax)
# ---------------------------------------------------------------------------


def _cvxpylayers_numpy_solver(prob, params, variables):
    """Build cvxpylayers' MOREAU context exactly as CvxpyLayer does (parse_args)
    and return (solve(param_values) -> x, solver context). ``solve`` solves the
    problem the context describes with moreau.CompiledSolver, fed with what
    moreau.jax.Solver gets from cvxpylayers: CSR patterns, Cones built from the
    cone dimensions only, A values negated, b scattered to b_idx.
    (cvxpylayers' parse_args permutes CVXPY's cached parametrization matrices
    in place; moreau_jax._cvxpy_compat gives the context its own copy, so this
    may be called several times on one problem.)"""
    from cvxpylayers.utils.parse_args import parse_args

    ctx = parse_args(prob, variables, params, "MOREAU")
    sctx = ctx.solver_ctx
    n, m = sctx.P_shape[0], sctx.A_shape[0]
    assert sctx.cones.total_constraints() == m
    solver = moreau.CompiledSolver(
        n=n, m=m, P_row_offsets=sctx.P_row_offsets, P_col_indices=sctx.P_col_indices,
        A_row_offsets=sctx.A_row_offsets, A_col_indices=sctx.A_col_indices,
        cones=sctx.cones, settings=moreau.Settings(ipm_settings=dict(TIGHT)),
    )

    def solve(param_values):
        cols = [None] * len(params)
        for i, v in enumerate(param_values):
            cols[ctx.user_order_to_col_order[i]] = np.ravel(v, order="F")
        p_stack = np.concatenate(cols + [[1.0]])
        P_mat = ctx.reduced_P.reduced_mat
        P_values = np.zeros(0) if P_mat is None else np.asarray(P_mat @ p_stack).ravel()
        q = np.asarray(ctx.q.tocsr() @ p_stack).ravel()[:-1]
        A_eval = np.asarray(ctx.reduced_A.reduced_mat @ p_stack).ravel()
        A_values = -A_eval[: sctx.nnz_A]
        b = np.zeros(m)
        b[sctx.b_idx] = A_eval[sctx.nnz_A:]
        solver.setup(P_values, A_values)
        sol = solver.solve(q[None, :], b[None, :])
        assert solver.info.status[0] == moreau.SolverStatus.Solved
        return sol.x[0]

    return solve, sctx


def test_cvxpylayers_context_keeps_seed_constraints():
    """cvxpylayers builds moreau.Cones from the cone dimensions only. With the
    direct-cone switch off in CVXPY, its data still contains x >= 0, and the
    problem that moreau.jax.Solver would receive has the right answer
    (with CVXPY's direct cones left on, x comes out [2.2, 1.2, 0.2, -0.8, -1.8])."""
    pytest.importorskip("cvxpylayers")
    n = 5
    x = cp.Variable(n)
    q = cp.Parameter(n)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + q @ x), [x >= 0, cp.sum(x) == 1])
    solve, sctx = _cvxpylayers_numpy_solver(prob, [q], [x])
    assert sctx.cones.num_zero_cones == 1 and sctx.cones.num_nonneg_cones == n
    np.testing.assert_allclose(solve([np.arange(1.0, 6.0)])[:n], [1, 0, 0, 0, 0], atol=1e-5)
    np.testing.assert_allclose(
        solve([np.array([3.0, 1.0, 2.0, 5.0, 4.0])])[:n], [0, 1, 0, 0, 0], atol=1e-5
    )


def test_cvxpylayers_context_soc_constraint_kept():
    """An SOC constraint on plain variables is a direct-cone candidate in CVXPY
    1.9 too; the cvxpylayers data must keep it as cone rows."""
    pytest.importorskip("cvxpylayers")
    y, t = cp.Variable(3), cp.Variable()
    c = cp.Parameter(3)
    prob = cp.Problem(
        cp.Minimize(t + c @ y + 0.5 * cp.sum_squares(y)), [cp.SOC(t, y), cp.sum(y) == 1]
    )
    cval = np.array([0.3, -0.2, 0.1])
    c.value = cval
    prob.solve(solver="CLARABEL", **TIGHT)
    ref_y = y.value.copy()
    data, _, _ = prob.get_problem_data(solver="MOREAU")
    off = data[cp.settings.PARAM_PROB].var_id_to_col[y.id]
    solve, sctx = _cvxpylayers_numpy_solver(prob, [c], [y])
    assert sctx.cones.so_cone_dims == [4]
    np.testing.assert_allclose(solve([cval])[off:off + 3], ref_y, atol=1e-5)


def test_cvxpylayers_contexts_on_one_problem_do_not_interfere():
    """cvxpylayers (1.1.0, 1.2.0) writes row-permuted matrices back into CVXPY's
    cached problem data. Without moreau_jax's wrapper a second context on the
    same problem was scrambled (seed QP -> [0, 0, 1, 0, 0]) and so was a later
    prob.solve(solver="MOREAU")."""
    pytest.importorskip("cvxpylayers")
    assert _cvxpy_compat.cvxpylayers_patched()
    n = 5
    x = cp.Variable(n)
    q = cp.Parameter(n)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + q @ x), [x >= 0, cp.sum(x) == 1])
    data0, _, _ = prob.get_problem_data(solver="MOREAU")
    A0 = data0[cp.settings.PARAM_PROB].reduced_A.reduced_mat.copy()
    solvers = [_cvxpylayers_numpy_solver(prob, [q], [x])[0] for _ in range(3)]
    for solve in solvers:
        np.testing.assert_allclose(solve([np.arange(1.0, 6.0)])[:n], [1, 0, 0, 0, 0], atol=1e-5)
    # CVXPY's cached data is unchanged, and its own solve is right.
    data1, _, _ = prob.get_problem_data(solver="MOREAU")
    assert (data1[cp.settings.PARAM_PROB].reduced_A.reduced_mat != A0).nnz == 0
    q.value = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    prob.solve(solver="MOREAU")
    np.testing.assert_allclose(x.value, [0, 1, 0, 0, 0], atol=1e-4)
