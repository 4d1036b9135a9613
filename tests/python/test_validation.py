"""Bad input gives ValueError / TypeError (or NotImplementedError / RuntimeError where
stated) with a message that says what to fix, before the solver runs; float32 and
integer inputs are converted exactly; nothing crashes."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

import moreau
from moreau_jax import _problem
from moreau_jax._solver import load_native

from conftest import SEED_ATOL


def _cones(d):
    return moreau.Cones(num_zero_cones=d["zero"], num_nonneg_cones=d["nonneg"])


def _solver(d, **over):
    args = dict(P=d["P"], q=d["q"], A=d["A"], b=d["b"], cones=_cones(d))
    args.update(over)
    return moreau.Solver(**args)


# ---------------------------------------------------------------------------
# Solver: non-finite values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", ["q", "b", "P", "A", "P_dense", "A_dense"])
def test_non_finite_rejected(seed_qp, which, bad):
    d = seed_qp
    if which in ("q", "b"):
        v = d[which].copy()
        # row 0 of b is a zero-cone row (+inf on a nonneg row is an absent bound:
        # tests/python/test_csr_order_and_inf.py)
        v[0 if which == "b" else 1] = bad
        over = {which: v}
    elif which in ("P", "A"):
        M = sp.csr_array(d[which], copy=True)
        M.data[0] = bad
        over = {which: M}
    else:
        name = which[0]
        M = d[name].toarray()
        M[0, 0] = bad
        over = {name: M}
    with pytest.raises(ValueError, match="non-finite|infinite values of b"):
        _solver(d, **over)


# ---------------------------------------------------------------------------
# Solver: shapes and cone sizes
# ---------------------------------------------------------------------------


def test_q_wrong_length(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError, match=r"P has shape \(5, 5\), expected \(4, 4\)"):
        _solver(d, q=d["q"][:4])


def test_q_not_1d(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError, match="q has shape"):
        _solver(d, q=d["q"][:, None])


def test_b_wrong_length(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError, match=r"A has shape \(6, 5\), expected \(5, 5\)"):
        _solver(d, b=d["b"][:5])


def test_A_wrong_columns(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError, match="A has shape"):
        _solver(d, A=sp.csr_array(np.ones((6, 4))))


def test_P_not_square(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError, match="P has shape"):
        _solver(d, P=sp.csr_array(np.ones((5, 4))))


def test_P_not_2d(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError, match="2-D"):
        _solver(d, P=np.ones(5))


def test_cone_sizes_do_not_sum_to_m(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError, match="cone sizes sum to 5 rows.*b has length 6"):
        _solver(d, cones=moreau.Cones(num_zero_cones=1, num_nonneg_cones=4))
    with pytest.raises(ValueError, match="cone sizes sum to 9"):
        _solver(d, cones=moreau.Cones(num_zero_cones=1, num_nonneg_cones=5, num_exp_cones=1))


def test_empty_problem_rejected():
    with pytest.raises(ValueError, match="at least one variable"):
        moreau.Solver(None, np.zeros(0), np.zeros((0, 0)), np.zeros(0), moreau.Cones())


def test_wrong_types_for_cones_and_settings(seed_qp):
    d = seed_qp
    with pytest.raises(TypeError, match="cones must be a moreau.Cones"):
        _solver(d, cones=[1, 5])
    with pytest.raises(TypeError, match="settings must be a moreau.Settings"):
        _solver(d, settings="cpu")


# ---------------------------------------------------------------------------
# Solver: dtypes
# ---------------------------------------------------------------------------


def test_complex_rejected(seed_qp):
    d = seed_qp
    with pytest.raises(TypeError, match="complex"):
        _solver(d, q=d["q"].astype(complex))
    with pytest.raises(TypeError, match="complex"):
        _solver(d, P=sp.csr_array(d["P"], dtype=complex))
    with pytest.raises(TypeError, match="complex"):
        _solver(d, A=d["A"].toarray().astype(np.complex64))


def test_object_string_bool_rejected(seed_qp):
    d = seed_qp
    with pytest.raises(TypeError, match="object array"):
        _solver(d, q=np.array([1.0, None, 3.0, 4.0, 5.0], dtype=object))
    with pytest.raises(TypeError, match="real numbers"):
        _solver(d, b=np.array(["1", "0", "0", "0", "0", "0"]))
    with pytest.raises(TypeError, match="boolean"):
        _solver(d, q=np.ones(5, dtype=bool))
    with pytest.raises(TypeError, match="dense array"):
        _solver(d, q=sp.csr_array(d["q"][None, :]))
    with pytest.raises(TypeError, match="q is required"):
        _solver(d, q=None)


def test_ragged_list_rejected(seed_qp):
    d = seed_qp
    with pytest.raises((ValueError, TypeError)):
        _solver(d, A=[[1.0, 2.0], [1.0]])


def test_float32_and_int_inputs_converted_exactly(seed_qp):
    d = seed_qp
    ref_solver = _solver(d)
    ref = ref_solver.solve()
    s = _solver(
        d,
        P=sp.csr_array(d["P"], dtype=np.float32),
        q=d["q"].astype(np.int32),
        A=d["A"].toarray().astype(np.int64),
        b=d["b"].astype(np.float16),
    )
    sol = s.solve()
    for v in (sol.x, sol.z, sol.s):
        assert v.dtype == np.float64
    np.testing.assert_allclose(sol.x, ref.x, atol=1e-12)
    np.testing.assert_allclose(sol.x, d["x"], atol=SEED_ATOL)
    # exactness of the conversion itself
    x32 = np.array([0.1, 1e-30, 3.4e38], dtype=np.float32)
    out = _problem.as_float_array("v", x32)
    assert out.dtype == np.float64 and np.array_equal(out, x32.astype(np.float64))
    assert np.array_equal(out.astype(np.float32), x32)


def test_integers_too_large_for_float64(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError, match="2\\*\\*53"):
        _solver(d, q=np.array([2**60, 1, 1, 1, 1], dtype=np.int64))


def test_lists_accepted(seed_qp):
    d = seed_qp
    sol = _solver(d, q=d["q"].tolist(), b=d["b"].tolist(), A=d["A"].toarray().tolist()).solve()
    np.testing.assert_allclose(sol.x, d["x"], atol=SEED_ATOL)


def test_inputs_not_modified(seed_qp):
    d = seed_qp
    P = sp.coo_array(
        (np.array([0.5, 0.5, 1, 1, 1, 1]), (np.array([0, 0, 1, 2, 3, 4]), np.array([0, 0, 1, 2, 3, 4]))),
        shape=(5, 5),
    )  # duplicate (0, 0) entries are summed, as scipy does
    q = d["q"].copy()
    data_before = P.data.copy()
    sol = _solver(d, P=P, q=q).solve()
    np.testing.assert_allclose(sol.x, d["x"], atol=SEED_ATOL)
    np.testing.assert_array_equal(P.data, data_before)
    np.testing.assert_array_equal(q, d["q"])


# ---------------------------------------------------------------------------
# Solver: P symmetry
# ---------------------------------------------------------------------------


def test_nonsymmetric_P_rejected(seed_qp):
    d = seed_qp
    P = np.eye(5)
    P[1, 0] = 0.3  # below the diagonal, no matching entry above
    with pytest.raises(ValueError, match="P must be symmetric"):
        _solver(d, P=P)
    P[0, 1] = 0.2  # both present but different
    with pytest.raises(ValueError, match=r"P must be symmetric: P\[\d, \d\]"):
        _solver(d, P=sp.csr_array(P))


def test_lower_triangle_only_P_rejected(seed_qp):
    d = seed_qp
    P = np.eye(5) * 2
    P[3, 1] = 0.5
    with pytest.raises(ValueError, match="transpose"):
        _solver(d, P=sp.tril(sp.csr_array(P + P.T - np.diag(np.diag(P)))))


def test_nearly_symmetric_P_accepted(seed_qp):
    d = seed_qp
    P = np.eye(5) * 2
    P[0, 1] = 0.5
    P[1, 0] = 0.5 * (1 + 1e-14)
    sol = _solver(d, P=P).solve()
    assert np.all(np.isfinite(sol.x))


def test_symmetric_csr_helper():
    U = sp.csr_array(np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 0.5], [0.0, 0.0, 1.0]]))
    ip, ix, v = _problem.symmetric_csr(U, 3)
    full = sp.csr_array((v, ix, ip), shape=(3, 3)).toarray()
    np.testing.assert_array_equal(full, U.toarray() + np.triu(U.toarray(), 1).T)
    ip2, ix2, v2 = _problem.symmetric_csr(sp.csr_array(full), 3)
    np.testing.assert_array_equal(ip, ip2)
    np.testing.assert_array_equal(ix, ix2)
    np.testing.assert_array_equal(v, v2)
    assert ip.dtype == np.int64 and ix.dtype == np.int64 and v.dtype == np.float64


# ---------------------------------------------------------------------------
# Cones
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_power_alpha_outside_unit_interval(alpha):
    with pytest.raises(ValueError, match="power_alphas\\[0\\]"):
        moreau.Cones(power_alphas=[alpha])
    c = moreau.Cones(power_alphas=[0.5])
    with pytest.raises(ValueError):
        c.power_alphas = [0.5, alpha]
    assert c.power_alphas == [0.5]


@pytest.mark.parametrize("dim", [0, -3])
def test_soc_dim_below_one(dim):
    with pytest.raises(ValueError, match="so_cone_dims\\[1\\]"):
        moreau.Cones(so_cone_dims=[3, dim])


@pytest.mark.parametrize(
    "field", ["num_zero_cones", "num_nonneg_cones", "num_exp_cones", "num_so_cones"]
)
def test_negative_counts(field):
    with pytest.raises(ValueError, match=">= 0"):
        moreau.Cones(**{field: -1})


def test_cone_field_types():
    with pytest.raises(TypeError, match="integer"):
        moreau.Cones(num_zero_cones=1.5)
    with pytest.raises(TypeError, match="integer"):
        moreau.Cones(num_zero_cones="2")
    with pytest.raises(TypeError, match="list"):
        moreau.Cones(so_cone_dims=3)
    with pytest.raises(TypeError, match="unexpected keyword.*num_zero_cone"):
        moreau.Cones(num_zero_cone=1)


def test_in_place_edit_is_caught_at_solve_time(seed_qp):
    d = seed_qp
    cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=2, so_cone_dims=[3])
    cones.so_cone_dims.append(0)  # bypasses assignment validation
    with pytest.raises(ValueError, match="so_cone_dims"):
        _solver(d, cones=cones)


def test_gen_power_params_validated():
    with pytest.raises(ValueError, match="sum to 1"):
        moreau.Cones(gen_power_cone_params=[([0.3, 0.3], 1)])
    with pytest.raises(ValueError, match="dim2"):
        moreau.Cones(gen_power_cone_params=[([0.5, 0.5], 0)])


def test_direct_cone_spec_validation():
    with pytest.raises(ValueError, match="duplicate"):
        moreau.DirectConeSpec(kind="nonneg", indices=[1, 1])
    with pytest.raises(ValueError, match="alpha"):
        moreau.DirectConeSpec(kind="power", indices=[0, 1, 2], alpha=1.2)
    with pytest.raises(ValueError, match="kind"):
        moreau.DirectConeSpec(kind="cube", indices=[0])
    with pytest.raises(ValueError, match="overlap"):
        moreau.Cones(
            dir_cones=[
                moreau.DirectConeSpec(kind="nonneg", indices=[0, 1]),
                moreau.DirectConeSpec(kind="nonneg", indices=[1]),
            ]
        )


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


def test_settings_value_errors():
    with pytest.raises(ValueError, match="device"):
        moreau.Settings(device="gpu")
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        moreau.Settings(max_iter=0)
    with pytest.raises(TypeError, match="max_iter must be an integer"):
        moreau.Settings(max_iter="many")
    with pytest.raises(ValueError, match="time_limit"):
        moreau.Settings(time_limit=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        moreau.Settings(batch_size=0)
    with pytest.raises(TypeError, match="verbose must be True or False"):
        moreau.Settings(verbose="yes")
    with pytest.raises(ValueError, match="solver must be one of .auto., .ipm., .active_set."):
        moreau.Settings(solver="simplex")
    with pytest.raises(ValueError, match="smoothed"):
        moreau.ActiveSetSettings(diff_method="smoothed")
    with pytest.raises(TypeError, match="ActiveSetSettings"):
        moreau.Settings(active_set_settings=3)
    with pytest.raises(TypeError, match="unexpected keyword.*max_iters.*Did you mean 'max_iter'"):
        moreau.Settings(max_iters=3)
    with pytest.raises(TypeError, match="IPMSettings"):
        moreau.Settings(ipm_settings=3)


def test_settings_assignment_validated_and_unchanged_on_error():
    s = moreau.Settings()
    with pytest.raises(ValueError):
        s.max_iter = -5
    assert s.max_iter == 200
    with pytest.raises(ValueError):
        s.device = "tpu"
    assert s.device == "auto"
    with pytest.raises(ValueError, match="tol_gap_abs must be > 0"):
        s.ipm_settings.tol_gap_abs = 0.0
    assert s.ipm_settings.tol_gap_abs == 1e-8
    with pytest.raises(ValueError, match="max_step_fraction"):
        s.ipm_settings.max_step_fraction = 1.5


def test_ipm_settings_errors():
    with pytest.raises(ValueError, match="GPU"):
        moreau.IPMSettings(direct_solve_method="cudss")
    with pytest.raises(ValueError, match="GPU"):
        moreau.IPMSettings(direct_solve_method="woodbury")
    with pytest.raises(ValueError, match="direct_solve_method must be one of"):
        moreau.IPMSettings(direct_solve_method="cholesky")
    with pytest.raises(TypeError, match="unexpected keyword.*tol_gap"):
        moreau.IPMSettings(tol_gap=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        moreau.IPMSettings(tol_feas=float("nan"))
    ipm = moreau.IPMSettings()
    with pytest.raises(ValueError, match="GPU"):
        ipm.direct_solve_method = "cudss"
    assert ipm.direct_solve_method == "auto"


def test_cuda_device_without_gpu_is_clear_error(seed_qp):
    d = seed_qp
    with pytest.raises(RuntimeError, match="device='cuda'.*no CUDA"):
        _solver(d, settings=moreau.Settings(device="cuda"))
    # also when switched after construction (settings are read at solve time)
    settings = moreau.Settings(device="cpu")
    solver = _solver(d, settings=settings)
    settings.device = "cuda"
    with pytest.raises(RuntimeError, match="device='cuda'"):
        solver.solve()
    settings.device = "auto"
    np.testing.assert_allclose(solver.solve().x, d["x"], atol=SEED_ATOL)


def test_settings_to_native_uses_only_documented_keys():
    documented = {
        "max_iter", "time_limit", "verbose", "tol_gap_abs", "tol_gap_rel", "tol_feas",
        "tol_infeas_abs", "tol_infeas_rel", "tol_ktratio", "reduced_tol_gap_abs",
        "reduced_tol_gap_rel", "reduced_tol_feas", "reduced_tol_infeas_abs",
        "reduced_tol_infeas_rel", "reduced_tol_ktratio", "max_step_fraction",
        "equilibrate_enable", "equilibrate_max_iter", "equilibrate_min_scaling",
        "equilibrate_max_scaling", "direct_solve_method", "static_regularization_constant",
        "dynamic_regularization_eps", "dynamic_regularization_delta",
        "iterative_refinement_enable", "num_threads", "enable_grad", "solver",
        "active_set_iter_limit",
    }
    out = _problem.settings_to_native(moreau.Settings())
    assert set(out) <= documented
    s = moreau.Settings(ipm_settings=moreau.IPMSettings(direct_solve_method="faer-1t"))
    assert _problem.settings_to_native(s)["direct_solve_method"] == "faer"


# ---------------------------------------------------------------------------
# CompiledSolver: CSR pattern validation
# ---------------------------------------------------------------------------


def _pattern(d):
    P = sp.csr_array(d["P"])
    A = sp.csr_array(d["A"])
    return dict(
        n=5, m=6,
        P_row_offsets=P.indptr.astype(np.int64), P_col_indices=P.indices.astype(np.int64),
        A_row_offsets=A.indptr.astype(np.int64), A_col_indices=A.indices.astype(np.int64),
        cones=_cones(d),
    )


def _compiled(d, **over):
    kw = _pattern(d)
    kw.update(over)
    return moreau.CompiledSolver(**kw)


def test_csr_out_of_range(seed_qp):
    d = seed_qp
    kw = _pattern(d)
    bad = kw["A_col_indices"].copy()
    bad[3] = 5
    with pytest.raises(ValueError, match=r"A_col_indices\[3\] = 5 is out of range"):
        _compiled(d, A_col_indices=bad)
    bad[3] = -1
    with pytest.raises(ValueError, match="out of range"):
        _compiled(d, A_col_indices=bad)
    badP = kw["P_col_indices"].copy()
    badP[0] = 7
    with pytest.raises(ValueError, match="P_col_indices"):
        _compiled(d, P_col_indices=badP)


def test_csr_duplicate(seed_qp):
    # (unsorted rows are accepted: tests/python/test_csr_order_and_inf.py)
    d = seed_qp
    kw = _pattern(d)
    ix = kw["A_col_indices"].copy()
    ix[1] = ix[0]
    with pytest.raises(ValueError, match="duplicate entry.*row 0"):
        _compiled(d, A_col_indices=ix)


def test_csr_bad_indptr(seed_qp):
    d = seed_qp
    kw = _pattern(d)
    ip = kw["A_row_offsets"]
    with pytest.raises(ValueError, match="length 6, expected 7"):
        _compiled(d, A_row_offsets=ip[:-1])
    bad = ip.copy()
    bad[0] = 1
    with pytest.raises(ValueError, match="must start at 0"):
        _compiled(d, A_row_offsets=bad)
    bad = ip.copy()
    bad[2], bad[3] = bad[3], bad[2]
    with pytest.raises(ValueError, match="non-decreasing"):
        _compiled(d, A_row_offsets=bad)
    bad = ip.copy()
    bad[-1] -= 1
    with pytest.raises(ValueError, match="last row offset"):
        _compiled(d, A_row_offsets=bad)
    with pytest.raises(TypeError, match="integers"):
        _compiled(d, A_row_offsets=ip.astype(np.float64) + 0.5)
    with pytest.raises(ValueError, match="1-D"):
        _compiled(d, A_row_offsets=ip[None, :])


def test_csr_nonsymmetric_P_pattern(seed_qp):
    d = seed_qp
    U = sp.csr_array(np.triu(np.ones((5, 5))))
    with pytest.raises(ValueError, match="P pattern is not symmetric.*FULL symmetric"):
        _compiled(d, P_row_offsets=U.indptr, P_col_indices=U.indices)


def test_compiled_dimension_errors(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError, match="n must be >= 1"):
        _compiled(d, n=0)
    with pytest.raises(TypeError, match="m must be an integer"):
        _compiled(d, m="6")
    with pytest.raises(ValueError, match="cone sizes sum to 6 rows.*m = 7"):
        A = sp.vstack([d["A"], sp.csr_array((1, 5))], format="csr")
        _compiled(d, m=7, A_row_offsets=A.indptr, A_col_indices=A.indices)


# ---------------------------------------------------------------------------
# CompiledSolver: values, q/b shapes, warm starts
# ---------------------------------------------------------------------------


def test_compiled_value_shapes(seed_qp):
    d = seed_qp
    s = _compiled(d, settings=moreau.Settings(batch_size=3))
    nnzP, nnzA = s.nnz_P, s.nnz_A
    with pytest.raises(ValueError, match=r"P_values has shape \(4,\)"):
        s.setup(np.ones(nnzP - 1), np.ones(nnzA))
    with pytest.raises(ValueError, match=r"A_values has shape \(2, \d+\).*batch_size"):
        s.setup(np.ones(nnzP), np.ones((2, nnzA)))
    with pytest.raises(ValueError, match="non-finite"):
        s.setup(np.full(nnzP, np.nan), np.ones(nnzA))
    with pytest.raises(TypeError, match="complex"):
        s.setup(np.ones(nnzP, dtype=complex), np.ones(nnzA))


def test_compiled_solve_before_setup(seed_qp):
    d = seed_qp
    s = _compiled(d)
    with pytest.raises(RuntimeError, match="setup\\(\\) must be called"):
        s.solve(d["q"], d["b"])


def test_compiled_q_b_shapes(seed_qp):
    d = seed_qp
    s = _compiled(d, settings=moreau.Settings(batch_size=2))
    P = sp.csr_array(d["P"])
    A = sp.csr_array(d["A"])
    s.setup(P.data, A.data)
    with pytest.raises(ValueError, match=r"qs has shape \(5,\), expected \(2, 5\)"):
        s.solve(d["q"], np.tile(d["b"], (2, 1)))
    with pytest.raises(ValueError, match=r"bs has shape \(3, 6\)"):
        s.solve(np.tile(d["q"], (2, 1)), np.tile(d["b"], (3, 1)))
    q = np.tile(d["q"], (2, 1))
    q[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"qs contains a non-finite value .* index \(1, 2\)"):
        s.solve(q, np.tile(d["b"], (2, 1)))


def test_compiled_nonsymmetric_P_values(seed_qp):
    d = seed_qp
    P = sp.csr_array(np.array([[2.0, 1.0], [1.0, 2.0]]))
    A = sp.csr_array(np.eye(2))
    s = moreau.CompiledSolver(
        2, 2, P.indptr, P.indices, A.indptr, A.indices,
        moreau.Cones(num_nonneg_cones=2), moreau.Settings(),
    )
    with pytest.raises(ValueError, match="P_values are not symmetric"):
        s.setup(np.array([2.0, 1.0, 0.5, 2.0]), A.data)
    s.setup(np.array([2.0, 1.0, 1.0, 2.0]), A.data)
    s.solve(np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert s.info.status[0] == moreau.SolverStatus.Solved


def test_compiled_float32_values(seed_qp):
    d = seed_qp
    s = _compiled(d)
    P = sp.csr_array(d["P"])
    A = sp.csr_array(d["A"])
    s.setup(P.data.astype(np.float32), A.data.astype(np.int8))
    sol = s.solve(d["q"].astype(np.float32), d["b"].astype(np.int64))
    assert sol.x.dtype == np.float64
    np.testing.assert_allclose(sol.x[0], d["x"], atol=SEED_ATOL)


def test_warm_start_errors(seed_qp):
    d = seed_qp
    solver = _solver(d)
    with pytest.raises(TypeError, match="warm_start must be"):
        solver.solve(warm_start=(np.zeros(5), np.zeros(6), np.zeros(6)))
    with pytest.raises(ValueError, match=r"warm_start.x has shape \(4,\), expected \(5,\)"):
        solver.solve(warm_start=moreau.WarmStart(x=np.zeros(4), z=np.zeros(6), s=np.ones(6)))
    with pytest.raises(ValueError, match="warm_start.s contains a non-finite"):
        solver.solve(
            warm_start=moreau.WarmStart(x=np.zeros(5), z=np.zeros(6), s=np.full(6, np.nan))
        )
    cs = _compiled(d, settings=moreau.Settings(batch_size=2))
    P = sp.csr_array(d["P"])
    A = sp.csr_array(d["A"])
    cs.setup(P.data, A.data)
    bad = moreau.BatchedWarmStart(x=np.zeros((3, 5)), z=np.zeros((3, 6)), s=np.ones((3, 6)))
    with pytest.raises(ValueError, match=r"warm_start.x has shape \(3, 5\)"):
        cs.solve(np.tile(d["q"], (2, 1)), np.tile(d["b"], (2, 1)), warm_start=bad)


# ---------------------------------------------------------------------------
# The native extension itself validates too (docs/native-interface.md)
# ---------------------------------------------------------------------------


def _native_seed(d, **settings):
    native = load_native()
    P = sp.csr_array(d["P"])
    A = sp.csr_array(d["A"])
    ns = native.NativeSolver(
        5, 6, P.indptr.astype(np.int64), P.indices.astype(np.int64),
        A.indptr.astype(np.int64), A.indices.astype(np.int64),
        {"zero": 1, "nonneg": 5}, dict(settings),
    )
    return ns, P.data[None, :].copy(), A.data[None, :].copy()


def test_native_interface_basic(seed_qp):
    d = seed_qp
    ns, Pv, Av = _native_seed(d)
    assert (ns.n, ns.m, ns.nnz_P, ns.nnz_A) == (5, 6, 5, 10)
    res = ns.solve(Pv, Av, d["q"][None, :], d["b"][None, :])
    for key in ("x", "z", "s", "status", "iterations", "obj_val", "primal_res", "dual_res",
                "gap", "solve_time", "setup_time"):
        assert key in res, key
    assert res["x"].shape == (1, 5) and res["z"].shape == (1, 6) and res["s"].shape == (1, 6)
    assert res["status"].dtype == np.int64 and int(res["status"][0]) == 1
    np.testing.assert_allclose(res["x"][0], d["x"], atol=SEED_ATOL)


def test_native_rejects_bad_input(seed_qp):
    d = seed_qp
    with pytest.raises(ValueError):
        _native_seed(d, not_a_setting=1)
    ns, Pv, Av = _native_seed(d)
    q = d["q"][None, :].copy()
    q[0, 0] = np.nan
    with pytest.raises(ValueError):
        ns.solve(Pv, Av, q, d["b"][None, :])
    with pytest.raises(ValueError):
        ns.solve(Pv, Av, d["q"][None, :4].copy(), d["b"][None, :])
    native = load_native()
    P = sp.csr_array(d["P"])
    A = sp.csr_array(d["A"])
    with pytest.raises(ValueError):  # cones sum to 5, not m = 6
        native.NativeSolver(
            5, 6, P.indptr.astype(np.int64), P.indices.astype(np.int64),
            A.indptr.astype(np.int64), A.indices.astype(np.int64), {"zero": 1, "nonneg": 4}, {},
        )


# ---------------------------------------------------------------------------
# Nothing crashes: a sweep of malformed inputs only ever raises Python exceptions
# ---------------------------------------------------------------------------


def test_malformed_input_sweep(seed_qp):
    d = seed_qp
    rng = np.random.default_rng(0)
    bad_values = [
        None, "x", 3, [], [[]], np.zeros(0), np.zeros((2, 2, 2)), np.array([np.nan] * 5),
        np.ones(5, dtype=complex), object(), sp.csr_array((3, 3)), np.ones((6, 5)),
    ]
    count = 0
    for name in ("P", "q", "A", "b"):
        for v in bad_values:
            try:
                _solver(d, **{name: v}).solve()
            except (ValueError, TypeError, NotImplementedError):
                count += 1
            # a few of these are valid (P=None is an LP, P=zeros is fine): they just solve
    assert count >= 40
    # random CSR index noise for CompiledSolver
    for _ in range(50):
        kw = _pattern(d)
        key = rng.choice(["P_row_offsets", "P_col_indices", "A_row_offsets", "A_col_indices"])
        arr = kw[key].copy()
        if len(arr):
            arr[rng.integers(len(arr))] = rng.integers(-3, 12)
        kw[key] = arr
        try:
            s = moreau.CompiledSolver(**kw)
            s.setup(np.ones(s.nnz_P), np.ones(s.nnz_A))
            s.solve(d["q"], d["b"])
        except (ValueError, TypeError):
            pass
    assert math.isfinite(1.0)
