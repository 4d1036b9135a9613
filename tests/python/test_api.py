"""The `moreau` API checklist (docs: /work/shared/moreau-api.md, sections 1-3, 5-9)
as far as it applies without JAX."""

import importlib.util
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

import moreau
import moreau_jax
from conftest import SEED_ATOL


def _cones(d):
    return moreau.Cones(num_zero_cones=d["zero"], num_nonneg_cones=d["nonneg"])


def _kkt_residual(P, q, A, b, x, z, s):
    P = sp.csr_array(P)
    A = sp.csr_array(A)
    dual = P @ x + q + A.T @ z
    primal = A @ x + s - b
    return np.abs(dual).max(initial=0.0), np.abs(primal).max(initial=0.0)


# ---------------------------------------------------------------------------
# 1. Package layout and imports
# ---------------------------------------------------------------------------


def _run_python(code):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )


def test_import_moreau_without_torch_or_gpu():
    r = _run_python(
        """
        import sys
        sys.modules["torch"] = None          # torch cannot be imported
        sys.modules["moreau.torch"] = None   # cvxpylayers' third guarded import fails
        import moreau
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
        from moreau._types import WarmStart, BatchedWarmStart
        print("ok", moreau.__version__)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok")


def test_import_moreau_does_not_enable_x64():
    r = _run_python(
        """
        import jax
        import moreau
        assert jax.config.jax_enable_x64 is False
        print("ok")
        """
    )
    assert r.returncode == 0, r.stderr


def test_private_backend_and_types_modules():
    import moreau._backend
    import moreau._types

    assert moreau._types.WarmStart is moreau.WarmStart
    assert moreau._types.BatchedWarmStart is moreau.BatchedWarmStart
    assert isinstance(moreau._backend.jax_available("cpu"), bool)
    assert moreau._backend.jax_available("cuda") is False  # no CUDA backend in this build
    assert isinstance(moreau._backend.jax_available(), bool)


def test_moreau_is_a_thin_facade():
    # Every public class is the moreau_jax implementation itself.
    for name in ["Solver", "CompiledSolver", "Cones", "Settings", "IPMSettings", "SolverStatus"]:
        assert getattr(moreau, name) is getattr(moreau_jax, name)


# ---------------------------------------------------------------------------
# 2. Module-level functions
# ---------------------------------------------------------------------------


def test_device_functions():
    devs = moreau.available_devices()
    assert isinstance(devs, list) and "cpu" in devs
    assert moreau.device_available("cpu") is True
    assert moreau.device_available("cuda") is False
    assert isinstance(moreau.jax_available(), bool)
    # True exactly when torch is installed (moreau.torch exists in this build)
    assert moreau.torch_available() is (importlib.util.find_spec("torch") is not None)
    assert moreau.default_device() == "cpu"


def test_set_default_device():
    try:
        moreau.set_default_device("cpu")
        assert moreau.get_default_device() == "cpu"
        assert moreau.default_device() == "cpu"
        with pytest.raises(ValueError, match="not available"):
            moreau.set_default_device("cuda")
        assert moreau.get_default_device() == "cpu"
    finally:
        moreau.set_default_device(None)
    assert moreau.get_default_device() is None


# ---------------------------------------------------------------------------
# 3. Cones
# ---------------------------------------------------------------------------


def test_cones_defaults():
    c = moreau.Cones()
    assert c.num_zero_cones == 0 and c.num_nonneg_cones == 0 and c.num_exp_cones == 0
    assert c.so_cone_dims == [] and c.power_alphas == []
    assert c.gen_power_cone_params == [] and c.psd_dims == [] and c.dir_cones == []
    assert c.num_so_cones == 0 and c.num_power_cones == 0
    assert c.total_constraints() == 0 and c.degree() == 0


def test_cones_keyword_constructor_counts():
    c = moreau.Cones(
        num_zero_cones=2,
        num_nonneg_cones=3,
        so_cone_dims=[3, 4],
        num_exp_cones=1,
        power_alphas=[0.3, 2.0 / 3.0],
    )
    assert c.num_so_cones == 2
    assert c.num_power_cones == 2
    assert c.total_constraints() == 2 + 3 + 7 + 3 + 6
    # zero cones count 0, nonneg 1 each, SOC 1 each, exp and power 3 each
    assert c.degree() == 3 + 2 + 3 + 6


def test_cones_assignment_and_validation_on_assignment():
    c = moreau.Cones()
    c.num_zero_cones = 2
    c.num_nonneg_cones = 1
    c.so_cone_dims = [3]
    c.power_alphas = [0.5]
    c.num_exp_cones = 1
    assert c.total_constraints() == 2 + 1 + 3 + 3 + 3
    assert c.num_so_cones == 1 and c.num_power_cones == 1
    with pytest.raises(ValueError):
        c.so_cone_dims = [0]
    assert c.so_cone_dims == [3]  # unchanged after a rejected assignment
    with pytest.raises(ValueError):
        c.power_alphas = [1.0]
    with pytest.raises(ValueError):
        c.num_nonneg_cones = -1
    with pytest.raises(AttributeError):
        c.num_so_cones = 4  # read-only, computed from so_cone_dims
    with pytest.raises(AttributeError):
        c.num_zero_cone = 1  # typo


def test_cones_numpy_inputs_and_legacy_num_so_cones():
    c = moreau.Cones(num_zero_cones=np.int64(1), so_cone_dims=np.array([3, 5]))
    assert c.so_cone_dims == [3, 5] and isinstance(c.so_cone_dims[0], int)
    assert moreau.Cones(num_so_cones=2).so_cone_dims == [3, 3]


def test_cones_model_dump_and_copy():
    c = moreau.Cones(num_zero_cones=1, so_cone_dims=[3])
    d = c.model_dump()
    assert d["num_zero_cones"] == 1 and d["so_cone_dims"] == [3]
    c2 = c.model_copy(deep=True)
    assert c2 == c and c2 is not c
    c2.so_cone_dims = [4]
    assert c.so_cone_dims == [3]


def test_direct_cone_spec_accepted_as_field():
    spec = moreau.DirectConeSpec(kind="nonneg", indices=[0, 1])
    c = moreau.Cones(num_zero_cones=1)
    c.dir_cones = [spec]
    assert c.dir_cones[0].indices == [0, 1]
    assert c.degree() == 2
    c.dir_cones = []


# ---------------------------------------------------------------------------
# 5. Settings and IPMSettings
# ---------------------------------------------------------------------------

OFFICIAL_IPM_DEFAULTS = {
    "tol_gap_abs": 1e-8,
    "tol_gap_rel": 1e-8,
    "tol_feas": 1e-8,
    "tol_infeas_abs": 1e-8,
    "tol_infeas_rel": 1e-8,
    "tol_ktratio": 1e-6,
    "max_step_fraction": 0.99,
    "equilibrate_enable": True,
    "direct_solve_method": "auto",
    "reduced_tol_gap_abs": 5e-5,
    "reduced_tol_gap_rel": 5e-5,
    "reduced_tol_feas": 1e-4,
    "reduced_tol_infeas_abs": 5e-12,
    "reduced_tol_infeas_rel": 5e-5,
    "reduced_tol_ktratio": 1e-4,
    "cudss_ir_steps": 2,
    "cudss_pivot_enable": False,
    "max_lu_nnz": -1,
    "diff_method": "auto",
    "diff_smoothing_mu": 1e-4,
    "diff_smoothing_step_factor": 30.0,
    "warm_start_no_retry": None,
    "chordal_decomposition_enable": True,
    "chordal_decomposition_merge_method": "clique_graph",
}


def test_settings_defaults():
    s = moreau.Settings()
    assert s.max_iter == 200
    assert s.verbose is False
    assert s.time_limit == math.inf
    assert s.device == "auto"
    assert s.batch_size == 1
    assert s.enable_grad is False
    assert s.solver == "auto"  # the official default (active set for small QPs)
    assert s.active_set_settings is None
    assert isinstance(s.ipm_settings, moreau.IPMSettings)
    assert s.ipm_settings.tol_gap_abs == 1e-8


def test_ipm_settings_defaults_match_official():
    ipm = moreau.IPMSettings()
    for name, value in OFFICIAL_IPM_DEFAULTS.items():
        assert getattr(ipm, name) == value, name


def test_settings_keywords_and_assignment():
    s = moreau.Settings(
        device="cpu", batch_size=4, enable_grad=True, max_iter=50, verbose=False, solver="ipm",
        ipm_settings=moreau.IPMSettings(direct_solve_method="qdldl"),
    )
    assert (s.device, s.batch_size, s.enable_grad, s.max_iter) == ("cpu", 4, True, 50)
    assert s.ipm_settings.direct_solve_method == "qdldl"
    s.max_iter = 100
    s.verbose = False
    s.time_limit = 10.0
    s.ipm_settings.tol_gap_abs = 1e-6
    assert s.ipm_settings.tol_gap_abs == 1e-6
    s.ipm_settings = moreau.IPMSettings(tol_feas=1e-7)
    assert s.ipm_settings.tol_feas == 1e-7 and s.ipm_settings.tol_gap_abs == 1e-8
    s.ipm_settings = {"tol_gap_rel": 1e-5}  # dict -> IPMSettings
    assert isinstance(s.ipm_settings, moreau.IPMSettings) and s.ipm_settings.tol_gap_rel == 1e-5
    for method in ("auto", "qdldl", "faer"):
        s.ipm_settings.direct_solve_method = method


def test_settings_cvxpylayers_style_setattr():
    # cvxpylayers: Settings(enable_grad=...), then hasattr/setattr per solver_args key,
    # ipm_settings dicts become IPMSettings(**dict).
    s = moreau.Settings(enable_grad=True)
    options = {"device": "cpu", "max_iter": 77, "not_a_setting": 1,
               "ipm_settings": {"tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7, "tol_feas": 1e-7}}
    # An unknown key is skipped by cvxpylayers; the hasattr probe warns, naming it.
    with pytest.warns(UserWarning, match="'not_a_setting'"):
        for key, value in options.items():
            if key == "ipm_settings":
                s.ipm_settings = moreau.IPMSettings(**value)
            elif hasattr(s, key):
                setattr(s, key, value)
    assert s.device == "cpu" and s.max_iter == 77 and s.ipm_settings.tol_feas == 1e-7
    with pytest.warns(UserWarning, match="Did you mean 'max_iter'"):
        assert not hasattr(s, "max_iters")


def test_settings_unknown_attribute_is_attribute_error():
    # CVXPY's MOREAU interface turns AttributeError into "unrecognized solver setting".
    s = moreau.Settings()
    with pytest.raises(AttributeError, match="max_iter"):
        s.max_iters = 3


def test_settings_model_dump_copy():
    s = moreau.Settings(max_iter=10)
    d = s.model_dump()
    assert d["max_iter"] == 10 and d["ipm_settings"]["tol_gap_abs"] == 1e-8
    s2 = s.model_copy(deep=True)
    s2.ipm_settings.tol_gap_abs = 1e-3
    assert s.ipm_settings.tol_gap_abs == 1e-8


# ---------------------------------------------------------------------------
# 7. SolverStatus
# ---------------------------------------------------------------------------


def test_solver_status_codes():
    S = moreau.SolverStatus
    expected = [
        "Unsolved", "Solved", "PrimalInfeasible", "DualInfeasible", "AlmostSolved",
        "AlmostPrimalInfeasible", "AlmostDualInfeasible", "MaxIterations", "MaxTime",
        "NumericalError", "InsufficientProgress", "CallbackTerminated",
    ]
    assert [m.name for m in S] == expected
    assert [m.value for m in S] == list(range(12))
    assert S.Solved == 1 and S(4) is S.AlmostSolved
    assert str(S.Solved) == "Solved" and f"{S.AlmostSolved}" == "AlmostSolved"
    assert int(S.MaxIterations) == 7
    assert isinstance(S.Solved, int)


# ---------------------------------------------------------------------------
# 6. Solver
# ---------------------------------------------------------------------------


def test_solver_seed_qp(seed_qp):
    d = seed_qp
    solver = moreau.Solver(d["P"], d["q"], d["A"], d["b"], _cones(d))
    assert solver.info is None
    assert (solver.n, solver.m) == (5, 6)
    sol = solver.solve()
    assert sol.x.shape == (5,) and sol.z.shape == (6,) and sol.s.shape == (6,)
    assert sol.x.dtype == np.float64
    np.testing.assert_allclose(sol.x, d["x"], atol=SEED_ATOL)
    np.testing.assert_allclose(sol.z, d["z"], atol=SEED_ATOL)
    np.testing.assert_allclose(sol.s, d["b"] - d["A"] @ sol.x, atol=1e-6)
    info = solver.info
    assert info.status == moreau.SolverStatus.Solved
    assert info.status == 1 and info.status.name in ("Solved", "AlmostSolved")
    assert isinstance(info.status, moreau.SolverStatus)
    assert info.obj_val == pytest.approx(d["obj"], abs=1e-6)
    assert isinstance(info.iterations, int) and info.iterations > 0
    for name in ("solve_time", "setup_time", "primal_res", "dual_res", "gap"):
        v = getattr(info, name)
        assert isinstance(v, float) and math.isfinite(v), name
    assert info.solve_time >= 0 and info.primal_res < 1e-6 and info.dual_res < 1e-6


def test_seed_qp_accuracy(seed_qp):
    """The spec: the seed QP gives x = [1, 0, 0, 0, 0] to 1e-6 with default settings."""
    d = seed_qp
    sol = moreau.Solver(d["P"], d["q"], d["A"], d["b"], _cones(d)).solve()
    np.testing.assert_allclose(sol.x, d["x"], atol=1e-6)


def test_solver_keyword_arguments(seed_qp):
    d = seed_qp
    solver = moreau.Solver(
        P=d["P"], q=d["q"], A=d["A"], b=d["b"], cones=_cones(d),
        settings=moreau.Settings(device="cpu"),
    )
    np.testing.assert_allclose(solver.solve().x, d["x"], atol=SEED_ATOL)
    assert solver.device == "cpu"


@pytest.mark.parametrize(
    "make_P",
    [
        lambda n: sp.eye(n, format="csr"),
        lambda n: sp.csr_matrix(np.eye(n)),
        lambda n: sp.csr_array(np.eye(n)),
        lambda n: sp.diags(np.ones(n), format="csr"),
        lambda n: sp.eye(n),  # dia format
        lambda n: sp.coo_array(np.eye(n)),
        lambda n: sp.csc_matrix(np.eye(n)),
        lambda n: np.eye(n),  # dense
    ],
    ids=["eye-csr", "csr_matrix", "csr_array", "diags", "eye-dia", "coo", "csc", "dense"],
)
def test_solver_matrix_formats(seed_qp, make_P):
    d = seed_qp
    sol = moreau.Solver(make_P(5), d["q"], d["A"], d["b"], _cones(d)).solve()
    np.testing.assert_allclose(sol.x, d["x"], atol=SEED_ATOL)


def test_solver_dense_and_csc_A(seed_qp):
    d = seed_qp
    for A in (d["A"].toarray(), sp.csc_matrix(d["A"]), sp.coo_matrix(d["A"])):
        sol = moreau.Solver(d["P"], d["q"], A, d["b"], _cones(d)).solve()
        np.testing.assert_allclose(sol.x, d["x"], atol=SEED_ATOL)


def _coupled_qp():
    # P tridiagonal positive definite; min 1/2 x'Px + q'x  s.t. sum x = 1, x >= 0 ... plus x <= 0.8
    n = 4
    P = sp.diags([np.full(n - 1, -1.0), np.full(n, 3.0), np.full(n - 1, -1.0)], [-1, 0, 1])
    q = np.array([-1.0, 0.5, -2.0, 0.25])
    A = sp.vstack([sp.csr_array(np.ones((1, n))), -sp.eye(n), sp.eye(n)], format="csr")
    b = np.concatenate([[1.0], np.zeros(n), np.full(n, 0.8)])
    cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=2 * n)
    return P, q, A, b, cones


def test_upper_triangular_and_full_P_agree():
    P, q, A, b, cones = _coupled_qp()
    x_full = moreau.Solver(P.tocsr(), q, A, b, cones).solve().x
    x_upper = moreau.Solver(sp.triu(P, format="csr"), q, A, b, cones).solve().x
    x_upper_dense = moreau.Solver(np.triu(P.toarray()), q, A, b, cones).solve().x
    np.testing.assert_allclose(x_upper, x_full, atol=1e-8)
    np.testing.assert_allclose(x_upper_dense, x_full, atol=1e-8)
    # and the answer is right: KKT of the full problem
    sol = moreau.Solver(P.tocsr(), q, A, b, cones).solve()
    rd, rp = _kkt_residual(P, q, A, b, sol.x, sol.z, sol.s)
    assert rd < 1e-6 and rp < 1e-6
    assert np.all(sol.s[1:] >= -1e-8) and np.all(sol.z[1:] >= -1e-8)
    assert abs(sol.s[1:] @ sol.z[1:]) < 1e-6


def test_lp_with_empty_P():
    # min -x0 - x1  s.t. x0 + 2 x1 <= 4, 3 x0 + x1 <= 6, x >= 0   ->  x = (1.6, 1.2)
    q = np.array([-1.0, -1.0])
    A = sp.csr_array(np.array([[1.0, 2.0], [3.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    b = np.array([4.0, 6.0, 0.0, 0.0])
    cones = moreau.Cones(num_nonneg_cones=4)
    for P in (sp.csr_array((2, 2)), None, np.zeros((2, 2))):
        solver = moreau.Solver(P, q, A, b, cones)
        sol = solver.solve()
        np.testing.assert_allclose(sol.x, [1.6, 1.2], atol=1e-6)
        assert solver.info.status == moreau.SolverStatus.Solved
        assert solver.info.obj_val == pytest.approx(-2.8, abs=1e-6)


def test_soc_cone_order():
    # min t  s.t. ||(x1, x2)|| <= t, x1 = 1, x2 = 2  ->  t = sqrt(5)
    # variables (t, x1, x2); rows: zero cone (x1 = 1, x2 = 2), then SOC(3) on (t, x1, x2).
    q = np.array([1.0, 0.0, 0.0])
    A = sp.vstack([sp.csr_array(np.array([[0.0, 1, 0], [0, 0, 1]])), -sp.eye(3)], format="csr")
    b = np.array([1.0, 2.0, 0.0, 0.0, 0.0])
    cones = moreau.Cones(num_zero_cones=2, so_cone_dims=[3])
    solver = moreau.Solver(None, q, A, b, cones)
    sol = solver.solve()
    np.testing.assert_allclose(sol.x, [math.sqrt(5.0), 1.0, 2.0], atol=1e-6)
    assert solver.info.status == moreau.SolverStatus.Solved


def test_primal_infeasible_status():
    # x >= 1 and x <= 0
    q = np.array([1.0])
    A = sp.csr_array(np.array([[-1.0], [1.0]]))
    b = np.array([-1.0, 0.0])
    solver = moreau.Solver(None, q, A, b, moreau.Cones(num_nonneg_cones=2))
    solver.solve()
    assert solver.info.status in (
        moreau.SolverStatus.PrimalInfeasible,
        moreau.SolverStatus.AlmostPrimalInfeasible,
    )
    # Clarabel's convention: +inf objective for a primal infeasible problem,
    # and a certificate z with A'z = 0, b'z = -1 (x is NaN).
    assert solver.info.obj_val == math.inf
    sol = solver.solve()
    assert np.all(np.isnan(sol.x))
    assert abs(b @ sol.z + 1.0) < 1e-8
    assert np.max(np.abs(A.T @ sol.z)) < 1e-6


def test_settings_read_at_solve_time(seed_qp):
    # max_iter caps the interior-point method (the active-set method that "auto"
    # picks here has its own ActiveSetSettings.iter_limit)
    d = seed_qp
    settings = moreau.Settings(device="cpu", solver="ipm")
    solver = moreau.Solver(d["P"], d["q"], d["A"], d["b"], _cones(d), settings)
    solver.solve()
    assert solver.info.status == moreau.SolverStatus.Solved
    settings.max_iter = 1
    solver.solve()
    assert solver.info.status == moreau.SolverStatus.MaxIterations
    assert solver.info.iterations <= 1
    settings.max_iter = 200
    np.testing.assert_allclose(solver.solve().x, d["x"], atol=SEED_ATOL)


def test_nested_settings_and_new_solvers_see_changes(seed_qp):
    """The native settings are cached (per Settings object, and per solver until a
    field is assigned): a nested IPM field changed after construction, and a new
    solver from the changed object, must still see the change."""
    d = seed_qp
    settings = moreau.Settings(solver="ipm")  # iteration counts that max_step_fraction moves
    solver = moreau.Solver(d["P"], d["q"], d["A"], d["b"], _cones(d), settings)
    solver.solve()
    native, iters = solver._holder._native, solver.info.iterations
    solver.solve()
    assert solver._holder._native is native  # nothing changed: not rebuilt
    settings.ipm_settings.max_step_fraction = 0.3
    solver.solve()
    assert solver._holder._native is not native
    assert solver.info.status == moreau.SolverStatus.Solved and solver.info.iterations > iters
    settings.max_iter = 1
    other = moreau.Solver(d["P"], d["q"], d["A"], d["b"], _cones(d), settings)
    other.solve()
    assert other.info.status == moreau.SolverStatus.MaxIterations


def test_repeat_solve_is_deterministic(seed_qp):
    d = seed_qp
    solver = moreau.Solver(d["P"], d["q"], d["A"], d["b"], _cones(d))
    x1 = solver.solve().x
    x2 = solver.solve().x
    np.testing.assert_array_equal(x1, x2)


# ---------------------------------------------------------------------------
# 8. CompiledSolver
# ---------------------------------------------------------------------------


def _compiled(d, batch_size, **kw):
    P = sp.csr_array(d["P"])
    A = sp.csr_array(d["A"])
    settings = moreau.Settings(batch_size=batch_size, **kw)
    solver = moreau.CompiledSolver(
        n=d["n"], m=d["m"],
        P_row_offsets=P.indptr.astype(np.int64), P_col_indices=P.indices.astype(np.int64),
        A_row_offsets=A.indptr.astype(np.int64), A_col_indices=A.indices.astype(np.int64),
        cones=_cones(d), settings=settings,
    )
    return solver, P, A


def test_compiled_solver_shared_values(seed_qp):
    d = seed_qp
    solver, P, A = _compiled(d, 3)
    assert (solver.n, solver.m, solver.batch_size) == (5, 6, 3)
    solver.setup(P.data, A.data)  # (nnz,) shared by the batch
    qs = np.stack([d["q"], d["q"][::-1], d["q"] * 0.0])
    bs = np.tile(d["b"], (3, 1))
    sol = solver.solve(qs, bs)
    assert isinstance(sol, moreau.BatchedSolution)
    assert sol.x.shape == (3, 5) and sol.z.shape == (3, 6) and sol.s.shape == (3, 6)
    np.testing.assert_allclose(sol.x[0], d["x"], atol=SEED_ATOL)
    np.testing.assert_allclose(sol.x[1], d["x"][::-1], atol=SEED_ATOL)
    np.testing.assert_allclose(sol.x[2], np.full(5, 0.2), atol=1e-6)
    info = solver.info
    assert isinstance(info, moreau.BatchedSolveInfo)
    assert isinstance(info.status, list) and len(info.status) == 3
    assert all(s == moreau.SolverStatus.Solved for s in info.status)
    assert all(isinstance(s, moreau.SolverStatus) for s in info.status)
    assert np.shape(info.obj_val) == (3,) and np.shape(info.iterations) == (3,)
    np.testing.assert_allclose(info.obj_val, [1.5, 1.5, 0.1], atol=1e-6)
    assert isinstance(info.solve_time, float)
    assert info[1].status == moreau.SolverStatus.Solved
    # indexing and iteration of the batched solution
    assert len(sol) == 3
    np.testing.assert_allclose(sol[1].x, sol.x[1])
    assert [s.x.shape for s in sol] == [(5,)] * 3


def test_compiled_solver_per_element_values(seed_qp):
    d = seed_qp
    solver, P, A = _compiled(d, 3)
    scales = np.array([1.0, 2.0, 0.5])
    P_values = np.stack([P.data * s for s in scales])  # (batch, nnz)
    A_values = np.stack([A.data] * 3)
    solver.setup(P_values, A_values)
    qs = np.tile(d["q"], (3, 1))
    bs = np.tile(d["b"], (3, 1))
    sol = solver.solve(qs, bs)
    for i, s in enumerate(scales):
        ref = moreau.Solver(d["P"] * s, d["q"], d["A"], d["b"], _cones(d)).solve()
        np.testing.assert_allclose(sol.x[i], ref.x, atol=1e-7)
        np.testing.assert_allclose(sol.z[i], ref.z, atol=1e-6)
    # P = 0.5 I, q = 1..5: x = e_0 still (q gaps are >= 1 > 0.5*1)
    np.testing.assert_allclose(sol.x[2], d["x"], atol=SEED_ATOL)


def test_compiled_solver_batch_one_accepts_vectors(seed_qp):
    d = seed_qp
    solver, P, A = _compiled(d, 1)
    solver.setup(P.data, A.data)
    sol = solver.solve(d["q"], d["b"])
    assert sol.x.shape == (1, 5)
    np.testing.assert_allclose(sol.x[0], d["x"], atol=SEED_ATOL)
    sol2 = solver.solve(d["q"][None, :], d["b"][None, :])  # CVXPY's call shape
    np.testing.assert_allclose(sol2[0].x, d["x"], atol=SEED_ATOL)
    info = solver.info
    assert info.status[0].name == "Solved"
    assert np.asarray(info.iterations).item() > 0
    assert np.asarray(info.obj_val).item() == pytest.approx(1.5, abs=1e-6)


def test_compiled_solver_setup_again_changes_answer(seed_qp):
    d = seed_qp
    solver, P, A = _compiled(d, 1)
    solver.setup(P.data, A.data)
    x1 = solver.solve(d["q"], d["b"]).x[0]
    solver.setup(P.data * 10.0, A.data)
    x2 = solver.solve(d["q"], d["b"]).x[0]
    ref = moreau.Solver(d["P"] * 10.0, d["q"], d["A"], d["b"], _cones(d)).solve().x
    np.testing.assert_allclose(x2, ref, atol=1e-7)
    assert np.abs(x1 - x2).max() > 1e-3


def test_compiled_solver_lp_empty_P():
    q = np.array([-1.0, -1.0])
    A = sp.csr_array(np.array([[1.0, 2.0], [3.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    solver = moreau.CompiledSolver(
        n=2, m=4, P_row_offsets=np.zeros(3, np.int64), P_col_indices=np.zeros(0, np.int64),
        A_row_offsets=A.indptr, A_col_indices=A.indices,
        cones=moreau.Cones(num_nonneg_cones=4), settings=moreau.Settings(batch_size=2),
    )
    solver.setup(np.zeros((2, 0)), A.data)
    sol = solver.solve(np.stack([q, 2 * q]), np.tile([4.0, 6.0, 0.0, 0.0], (2, 1)))
    np.testing.assert_allclose(sol.x, [[1.6, 1.2], [1.6, 1.2]], atol=1e-6)


def test_compiled_solver_official_docstring_example():
    cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=2)
    solver = moreau.CompiledSolver(
        n=2, m=3, P_row_offsets=[0, 1, 2], P_col_indices=[0, 1],
        A_row_offsets=[0, 2, 3, 4], A_col_indices=[0, 1, 0, 1],
        cones=cones, settings=moreau.Settings(device="cpu", batch_size=4),
    )
    solver.setup([[1.0, 1.0]] * 4, [[1.0, 1.0, 1.0, 1.0]] * 4)
    sol = solver.solve([[2.0, 1.0]] * 4, [[1.0, 0.7, 0.7]] * 4)
    assert sol.x.shape == (4, 2)
    assert solver.info.status[0] == moreau.SolverStatus.Solved
    # min 1/2|x|^2 + 2x0 + x1, x0 + x1 = 1, x <= 0.7  ->  x = (0.3, 0.7)
    np.testing.assert_allclose(sol.x, np.tile([0.3, 0.7], (4, 1)), atol=1e-6)


# ---------------------------------------------------------------------------
# 9. Warm starts
# ---------------------------------------------------------------------------


def test_warm_start_types():
    x, z, s = np.zeros(2), np.zeros(3), np.ones(3)
    ws = moreau.WarmStart(x=x, z=z, s=s)
    assert ws.x is x
    bws = moreau.BatchedWarmStart(x=np.zeros((4, 2)), z=np.zeros((4, 3)), s=np.ones((4, 3)))
    assert bws.x.ndim == 2 and bws.x.shape[0] == 4 and len(bws) == 4
    assert isinstance(bws[1], moreau.WarmStart) and bws[-1].x.shape == (2,)


def test_solver_warm_start(seed_qp):
    d = seed_qp
    solver = moreau.Solver(d["P"], d["q"], d["A"], d["b"], _cones(d))
    sol = solver.solve()
    cold_iters = solver.info.iterations
    ws = sol.to_warm_start()
    assert isinstance(ws, moreau.WarmStart)
    sol2 = solver.solve(warm_start=ws)
    np.testing.assert_allclose(sol2.x, d["x"], atol=SEED_ATOL)
    assert solver.info.status == moreau.SolverStatus.Solved
    assert solver.info.iterations <= cold_iters + 5
    sol3 = solver.solve(warm_start=moreau.WarmStart(x=np.full(5, 0.2), z=-np.ones(6), s=np.ones(6)))
    np.testing.assert_allclose(sol3.x, d["x"], atol=SEED_ATOL)


def test_compiled_solver_warm_start(seed_qp):
    d = seed_qp
    solver, P, A = _compiled(d, 3)
    solver.setup(P.data, A.data)
    qs = np.stack([d["q"], d["q"][::-1], d["q"] + 1.0])
    bs = np.tile(d["b"], (3, 1))
    sol = solver.solve(qs, bs)
    bws = sol.to_warm_start()
    assert isinstance(bws, moreau.BatchedWarmStart)
    sol2 = solver.solve(qs, bs, warm_start=bws)
    np.testing.assert_allclose(sol2.x, sol.x, atol=SEED_ATOL)
    # a single WarmStart is used for every problem in the batch
    sol3 = solver.solve(qs, bs, warm_start=sol[0].to_warm_start())
    np.testing.assert_allclose(sol3.x, sol.x, atol=SEED_ATOL)
    assert all(s == moreau.SolverStatus.Solved for s in solver.info.status)
