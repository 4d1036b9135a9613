"""moreau.jax.Solver: native XLA FFI custom calls under eager, jit, vmap, grad, jvp.

References are the NumPy API (moreau.Solver / moreau.CompiledSolver) for values and
central finite differences of the NumPy solver (float64) for derivatives.

The module runs twice: here with ``jax_enable_x64`` on (float64 arrays), and in a
subprocess with it off (``MOREAU_TEST_JAX_X64=0``, JAX's default: every array is
float32), see ``test_module_with_x64_off_subprocess``.  The float32 run checks the
same answers against the same float64 references at float32 tolerances
(``tol(float64 run, float32 run)``).
"""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import jax
import jax.numpy as jnp

X64 = os.environ.get("MOREAU_TEST_JAX_X64", "1") != "0"
jax.config.update("jax_enable_x64", X64)
FLOAT = np.dtype(np.float64 if X64 else np.float32)  # what JAX makes of float data


def tol(t64, t32):
    """A tolerance for this run: t64 with x64 on, t32 with float32 arrays."""
    return t64 if X64 else t32


import moreau  # noqa: E402
import moreau.jax as mjax  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Family:
    """A QP family with zero, nonneg and SOC rows and a dense full-symmetric P:
    min 1/2 x'Px + q'x  s.t.  sum(x) = 1,  G x <= h,  ||x[1:]|| <= t0 + x[0]."""

    def __init__(self, n=4, seed=0):
        rng = np.random.default_rng(seed)
        self.n = n
        M = rng.normal(size=(n, n))
        self.P = M @ M.T / n + np.eye(n)
        G = rng.normal(size=(3, n))
        soc = np.zeros((n, n))
        soc[0, 0] = -1.0  # t = t0 + x0  ->  s_0 = t0 + x0 = b0 - (-x0)
        for i in range(1, n):
            soc[i, i] = -1.0  # s_i = x_i
        A = np.vstack([np.ones((1, n)), G, soc])
        self.A = sp.csr_array(A)
        self.m = A.shape[0]
        self.cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=3, so_cone_dims=[n])
        self.Pcsr = sp.csr_array(self.P)
        self.q0 = rng.normal(size=n)
        self.b0 = np.concatenate([[1.0], rng.uniform(0.2, 0.6, size=3), [2.0], np.zeros(n - 1)])

    def P_values(self):
        return self.Pcsr.data.copy()

    def A_values(self):
        return self.A.data.copy()

    def jax_solver(self, settings=None):
        return mjax.Solver(
            self.n, self.m,
            self.Pcsr.indptr.astype(np.int64), self.Pcsr.indices.astype(np.int64),
            self.A.indptr.astype(np.int64), self.A.indices.astype(np.int64),
            self.cones, settings or moreau.Settings(),
        )

    def numpy_batch(self, P, A, q, b):
        """Solve with CompiledSolver (the NumPy API); P, A shape (B or 1, nnz)."""
        B = q.shape[0]
        cs = moreau.CompiledSolver(
            n=self.n, m=self.m,
            P_row_offsets=self.Pcsr.indptr, P_col_indices=self.Pcsr.indices,
            A_row_offsets=self.A.indptr, A_col_indices=self.A.indices,
            cones=self.cones, settings=moreau.Settings(batch_size=B),
        )
        cs.setup(P, A)
        sol = cs.solve(q, b)
        return sol, cs.info

    def numpy_one(self, P, A, q, b):
        sol, _ = self.numpy_batch(P[None], A[None], q[None], b[None])
        return sol.x[0], sol.z[0], sol.s[0]


@pytest.fixture(scope="module")
def fam():
    return Family()


@pytest.fixture(scope="module")
def solver(fam):
    return fam.jax_solver()


def batch_data(fam, B, seed=1):
    rng = np.random.default_rng(seed)
    Q = fam.q0 + 0.3 * rng.normal(size=(B, fam.n))
    Bb = fam.b0 + np.concatenate([np.zeros((B, 1)), 0.1 * rng.uniform(size=(B, 3)), np.zeros((B, fam.n))], axis=1)
    return Q, Bb


def loss_fn(solver):
    w = jnp.linspace(0.5, 1.5, 8)

    def loss(P, A, q, b):
        sol = solver.solve(P, A, q, b)
        # Mixes x, z and s so that every output's cotangent is exercised.
        return jnp.sum(sol.x ** 2) + jnp.dot(w[: sol.z.shape[0]], sol.z) + 0.3 * jnp.sum(sol.s ** 2)

    return loss


def np_loss(fam, P, A, q, b):
    x, z, s = fam.numpy_one(P, A, q, b)
    w = np.linspace(0.5, 1.5, 8)
    return np.sum(x ** 2) + np.dot(w[: len(z)], z) + 0.3 * np.sum(s ** 2)


# --- forward values -----------------------------------------------------------


def test_eager_and_jit_match_numpy(fam, solver):
    P, A, q, b = fam.P_values(), fam.A_values(), fam.q0, fam.b0
    ref = fam.numpy_one(P, A, q, b)
    sol = solver.solve(jnp.asarray(P), jnp.asarray(A), jnp.asarray(q), jnp.asarray(b))
    assert solver.info.status == moreau.SolverStatus.Solved
    assert sol.x.dtype == sol.z.dtype == sol.s.dtype == solver.info.obj_val.dtype == FLOAT
    assert sol.z_x.shape == (0,) and sol.z_x.dtype == FLOAT
    for got, want in zip(sol[:3], ref):
        np.testing.assert_allclose(got, want, atol=tol(1e-9, 1e-5))
    jitted = jax.jit(lambda P, A, q, b: tuple(solver.solve(P, A, q, b))[:3])
    for _ in range(2):
        for got, want in zip(jitted(P, A, q, b), ref):
            np.testing.assert_allclose(got, want, atol=tol(1e-9, 1e-5))


@pytest.mark.parametrize("B", [1, 64, 1024])
def test_vmap_matches_compiled_solver(fam, solver, B):
    Q, Bb = batch_data(fam, B)
    P, A = fam.P_values(), fam.A_values()
    ref, info = fam.numpy_batch(P[None], A[None], Q, Bb)
    f = jax.jit(jax.vmap(lambda P, A, q, b: tuple(solver._impl.solve(P, A, q, b)[0]), in_axes=(None, None, 0, 0)))
    x, z, s, z_x = f(P, A, Q, Bb)
    assert x.shape == (B, fam.n) and z_x.shape == (B, 0) and x.dtype == FLOAT
    np.testing.assert_allclose(x, ref.x, atol=tol(1e-8, 1e-5))
    np.testing.assert_allclose(z, ref.z, atol=tol(1e-8, 1e-5))
    np.testing.assert_allclose(s, ref.s, atol=tol(1e-8, 1e-5))


def test_vmap_batched_matrices_and_info(fam, solver):
    B = 6
    rng = np.random.default_rng(3)
    Q, Bb = batch_data(fam, B)
    P = np.stack([fam.P_values() * (1 + 0.1 * k) for k in range(B)])
    A = np.stack([fam.A_values() + 0.01 * rng.normal(size=fam.A.nnz) for _ in range(B)])
    ref, info = fam.numpy_batch(P, A, Q, Bb)
    sol, meta = jax.vmap(solver._impl.solve)(P, A, Q, Bb)
    np.testing.assert_allclose(sol.x, ref.x, atol=tol(1e-8, 1e-5))
    np.testing.assert_array_equal(meta.status, [int(s) for s in info.status])
    np.testing.assert_allclose(meta.obj_val, info.obj_val, rtol=tol(1e-8, 1e-5))
    assert np.all(meta.iterations > 0)


def test_nested_vmap_and_mixed_in_axes(fam, solver):
    rng = np.random.default_rng(5)
    Q, Bb = batch_data(fam, 3)
    Ps = np.stack([fam.P_values() * s for s in (1.0, 1.5)])  # outer axis: P
    A = fam.A_values()
    inner = jax.vmap(lambda P, A, q, b: solver.solve(P, A, q, b).x, in_axes=(None, None, 0, None))
    outer = jax.jit(jax.vmap(inner, in_axes=(0, None, None, 0)))
    bs = np.stack([fam.b0, fam.b0 + 0.05 * rng.uniform(size=fam.m) * (np.arange(fam.m) < 4)])
    X = outer(Ps, A, Q, bs)
    assert X.shape == (2, 3, fam.n)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(X[i, j], fam.numpy_one(Ps[i], A, Q[j], bs[i])[0], atol=tol(1e-8, 1e-5))


def test_upper_triangular_pattern(fam):
    """An upper-triangle P pattern (CVXPY's form) gives the same answer as the full one."""
    U = sp.triu(fam.Pcsr, format="csr")
    s = mjax.Solver(fam.n, fam.m, U.indptr, U.indices, fam.A.indptr, fam.A.indices, fam.cones, moreau.Settings())
    x = s.solve(U.data, fam.A_values(), fam.q0, fam.b0).x
    np.testing.assert_allclose(x, fam.numpy_one(fam.P_values(), fam.A_values(), fam.q0, fam.b0)[0], atol=tol(1e-9, 1e-5))


# --- derivatives ---------------------------------------------------------------


def fd_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def test_grad_matches_finite_differences(fam, solver):
    P, A, q, b = fam.P_values(), fam.A_values(), fam.q0, fam.b0
    g = jax.jit(jax.grad(loss_fn(solver), argnums=(0, 1, 2, 3)))(P, A, q, b)
    # P: perturb a symmetric pair together (P must stay symmetric for the NumPy solver).
    dense = lambda v: sp.csr_array((v, fam.Pcsr.indices, fam.Pcsr.indptr), shape=(fam.n, fam.n))
    gq = fd_grad(lambda v: np_loss(fam, P, A, v, b), q)
    gb = fd_grad(lambda v: np_loss(fam, P, A, q, v), b)
    gA = fd_grad(lambda v: np_loss(fam, P, v, q, b), A)
    assert all(v.dtype == FLOAT for v in g)
    fd_tol = dict(atol=tol(1e-5, 1e-4), rtol=tol(1e-4, 1e-3))
    np.testing.assert_allclose(g[2], gq, **fd_tol)
    np.testing.assert_allclose(g[3], gb, **fd_tol)
    np.testing.assert_allclose(g[1], gA, **fd_tol)
    # dL/dP_ij + dL/dP_ji equals the derivative along the symmetric perturbation.
    Pm = dense(P).toarray()
    for (i, j) in [(0, 0), (0, 1), (2, 3)]:
        E = np.zeros_like(Pm)
        E[i, j] = E[j, i] = 1.0
        fd = (np_loss(fam, sp.csr_array(Pm + 1e-6 * E).data, A, q, b)
              - np_loss(fam, sp.csr_array(Pm - 1e-6 * E).data, A, q, b)) / 2e-6
        gd = dense(np.asarray(g[0])).toarray()
        got = gd[i, j] + (gd[j, i] if i != j else 0.0)
        np.testing.assert_allclose(got, fd, **fd_tol)


def test_vmap_grad_and_jit_vmap_grad_match_loop(fam, solver):
    Q, Bb = batch_data(fam, 5)
    P, A = fam.P_values(), fam.A_values()
    grad = jax.grad(loss_fn(solver), argnums=(0, 1, 2, 3))
    per = [grad(P, A, Q[k], Bb[k]) for k in range(5)]
    for fn in (jax.vmap(grad, in_axes=(None, None, 0, 0)), jax.jit(jax.vmap(grad, in_axes=(None, None, 0, 0)))):
        gv = fn(P, A, Q, Bb)
        for i in range(4):
            np.testing.assert_allclose(gv[i], np.stack([p[i] for p in per]), atol=tol(1e-10, 1e-6))


def test_grad_of_shared_operands_sums_over_batch(fam, solver):
    Q, Bb = batch_data(fam, 7)
    P, A = fam.P_values(), fam.A_values()
    loss = loss_fn(solver)
    total = lambda P, A: jnp.sum(jax.vmap(loss, in_axes=(None, None, 0, 0))(P, A, Q, Bb))
    gP, gA = jax.jit(jax.grad(total, argnums=(0, 1)))(P, A)
    single = [jax.grad(loss, argnums=(0, 1))(P, A, Q[k], Bb[k]) for k in range(7)]
    np.testing.assert_allclose(gP, sum(s[0] for s in single), atol=tol(1e-9, 1e-5))
    np.testing.assert_allclose(gA, sum(s[1] for s in single), atol=tol(1e-9, 1e-5))


def test_jacfwd_matches_jacrev(fam, solver):
    P, A, q, b = fam.P_values(), fam.A_values(), fam.q0, fam.b0
    for argnum in range(4):
        f = lambda *args: jnp.concatenate(tuple(solver.solve(*args)))
        Jf = jax.jacfwd(f, argnums=argnum)(P, A, q, b)
        Jr = jax.jacrev(f, argnums=argnum)(P, A, q, b)
        np.testing.assert_allclose(Jf, Jr, atol=tol(1e-8, 1e-5))
    # Forward mode against finite differences in q.
    Jq = jax.jit(jax.jacfwd(lambda q: solver.solve(P, A, q, b).x))(q)
    fd = np.stack([(fam.numpy_one(P, A, q + e, b)[0] - fam.numpy_one(P, A, q - e, b)[0]) / 2e-6
                   for e in 1e-6 * np.eye(fam.n)], axis=1)
    np.testing.assert_allclose(Jq, fd, atol=tol(1e-5, 1e-4))


def test_compiled_module_is_native_custom_calls_only(fam, solver):
    Q, Bb = batch_data(fam, 4)
    grad = jax.grad(loss_fn(solver), argnums=2)
    f = jax.jit(jax.vmap(grad, in_axes=(None, None, 0, 0)))
    text = f.lower(fam.P_values(), fam.A_values(), Q, Bb).compile().as_text()
    assert "moreau_solve" in text and "moreau_vjp" in text
    assert "moreau_jvp" not in text  # reverse mode transposes the JVP, never evaluates it
    assert "callback" not in text.lower()


def test_threads_share_one_jitted_function(fam, solver):
    Q, Bb = batch_data(fam, 16)
    P, A = fam.P_values(), fam.A_values()
    f = jax.jit(jax.vmap(jax.grad(loss_fn(solver), argnums=2), in_axes=(None, None, 0, 0)))
    want = np.asarray(f(P, A, Q, Bb))
    results, errors = [None] * 8, []

    def work(k):
        try:
            for _ in range(5):
                results[k] = np.asarray(f(P, A, Q, Bb))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, want, atol=0)


# --- errors and failures -------------------------------------------------------


def test_non_real_operands_raise_type_error(fam, solver):
    with pytest.raises(TypeError, match="q must be a real floating-point array"):
        solver.solve(fam.P_values(), fam.A_values(), fam.q0.astype(np.complex64), fam.b0)
    with pytest.raises(TypeError, match="b must be a real"):
        solver.solve(fam.P_values(), fam.A_values(), fam.q0, fam.b0 > 0)


def test_wrong_shape_names_expected_shape(fam, solver):
    with pytest.raises(ValueError, match=rf"q has shape \(3,\), expected \({fam.n},\)"):
        solver.solve(fam.P_values(), fam.A_values(), np.ones(3), fam.b0)
    with pytest.raises(ValueError, match="A_values"):
        jax.jit(lambda A: solver.solve(fam.P_values(), A, fam.q0, fam.b0).x)(np.ones(2))


def test_infeasible_element_reports_status_and_nan_gradient(fam, solver):
    # Element 1 asks for sum(x) = 1 and x >= 0 ... with G x <= h made impossible.
    Q, Bb = batch_data(fam, 2)
    Bb[1, 1:4] = -50.0
    Bb[1, 0] = 1.0
    P, A = fam.P_values(), fam.A_values()
    sol, meta = jax.jit(jax.vmap(solver._impl.solve, in_axes=(None, None, 0, 0)))(P, A, Q, Bb)
    assert int(meta.status[0]) == moreau.SolverStatus.Solved
    assert int(meta.status[1]) not in (moreau.SolverStatus.Solved, moreau.SolverStatus.AlmostSolved)
    g = jax.vmap(jax.grad(lambda q, b: jnp.sum(solver.solve(P, A, q, b).z)), in_axes=(0, 0))(Q, Bb)
    assert np.all(np.isfinite(g[0])) and np.all(np.isnan(g[1]))


def test_nan_input_is_a_status_not_a_crash(fam, solver):
    Q, Bb = batch_data(fam, 3)
    Q[2, 0] = np.nan
    sol, meta = jax.vmap(solver._impl.solve, in_axes=(None, None, 0, 0))(fam.P_values(), fam.A_values(), Q, Bb)
    assert int(meta.status[2]) == moreau.SolverStatus.NumericalError
    assert np.all(np.isnan(sol.x[2])) and np.all(np.isfinite(sol.x[:2]))


def test_settings_are_read_at_trace_time(fam):
    solver = fam.jax_solver()
    P, A, q, b = fam.P_values(), fam.A_values(), fam.q0, fam.b0
    f = lambda q: solver._impl.solve(P, A, q, b)[1].status
    assert int(jax.jit(f)(q)) == moreau.SolverStatus.Solved
    solver._settings.max_iter = 2
    assert int(jax.jit(f)(q)) == moreau.SolverStatus.MaxIterations
    solver._settings.max_iter = 200
    assert int(jax.jit(f)(q)) == moreau.SolverStatus.Solved


# --- the moreau.jax.Solver API ---------------------------------------------------


def test_public_api_two_step_and_errors(fam):
    solver = fam.jax_solver()
    with pytest.raises(RuntimeError, match="setup\\(\\) must be called"):
        solver.solve(fam.q0, fam.b0)
    with pytest.raises(TypeError, match="solve\\(\\) takes 2 or 4 arguments"):
        solver.solve(fam.q0)
    solver.setup(fam.P_values(), fam.A_values())
    x2 = solver.solve(fam.q0, fam.b0).x
    x4 = solver.solve(fam.P_values(), fam.A_values(), fam.q0, fam.b0).x
    np.testing.assert_allclose(x2, x4, atol=0)
    assert solver.info.status == moreau.SolverStatus.Solved and solver.info.obj_val.shape == ()
    assert solver._impl.solve_warm is not None and solver._impl._pending_warm_start is None


def test_warm_start_paths(fam):
    solver = fam.jax_solver()
    P, A, q, b = fam.P_values(), fam.A_values(), fam.q0, fam.b0
    cold = solver.solve(P, A, q, b)
    cold_iters = int(solver.info.iterations)
    warm = solver.solve(P, A, q, b, warm_start=moreau.WarmStart(x=np.asarray(cold.x), z=np.asarray(cold.z), s=np.asarray(cold.s)))
    np.testing.assert_allclose(warm.x, cold.x, atol=tol(1e-7, 1e-5))
    sol, info = solver._impl.solve_warm(P, A, q, b, cold.x, cold.z, cold.s)
    np.testing.assert_allclose(sol.x, cold.x, atol=tol(1e-7, 1e-5))
    # Moreau's 8-operand form (warm z_x: duals of direct cones, empty here).
    sol8, _ = solver._impl.solve_warm(P, A, q, b, cold.x, cold.z, cold.s, cold.z_x)
    np.testing.assert_allclose(sol8.x, sol.x, atol=0)
    with pytest.raises(ValueError, match="warm_z_x"):
        solver._impl.solve_warm(P, A, q, b, cold.x, cold.z, cold.s, np.ones(2))
    # A JaxSolution and a NumPy WarmStart with z_x (to_warm_start) both work.
    ws = cold.to_warm_start()
    assert isinstance(ws, moreau.WarmStart) and ws.z_x.shape == (0,)
    np.testing.assert_allclose(solver.solve(P, A, q, b, warm_start=ws).x, cold.x, atol=tol(1e-7, 1e-5))
    np.testing.assert_allclose(solver.solve(P, A, q, b, warm_start=cold).x, cold.x, atol=tol(1e-7, 1e-5))
    solver._impl._pending_warm_start = {"warm_x": np.asarray(cold.x), "warm_z": np.asarray(cold.z), "warm_s": np.asarray(cold.s)}
    sol, info = solver._impl.solve(P, A, q, b)
    solver._impl._pending_warm_start = None
    np.testing.assert_allclose(sol.x, cold.x, atol=tol(1e-7, 1e-5))
    assert int(info.iterations) <= cold_iters
    g = jax.grad(lambda q: jnp.sum(solver._impl.solve_warm(P, A, q, b, cold.x, cold.z, cold.s)[0].x ** 2))(q)
    g0 = jax.grad(lambda q: jnp.sum(solver.solve(P, A, q, b).x ** 2))(q)
    np.testing.assert_allclose(g, g0, atol=tol(1e-6, 1e-5))


def test_nested_settings_change_retraces(fam):
    solver = fam.jax_solver()
    P, A, q, b = fam.P_values(), fam.A_values(), fam.q0, fam.b0
    f = jax.jit(lambda q: solver._impl.solve(P, A, q, b)[1].iterations)
    it_default = int(f(q))
    solver._settings.ipm_settings.tol_gap_abs = 1e-2
    solver._settings.ipm_settings.tol_gap_rel = 1e-2
    solver._settings.ipm_settings.tol_feas = 1e-2
    assert int(f(q)) < it_default
    solver._settings = moreau.Settings()
    assert int(f(q)) == it_default


def test_cvxpylayers_jax_layer(fam):
    """cvxpylayers' JAX layer with solver="MOREAU" runs on these custom calls."""
    cp = pytest.importorskip("cvxpy")
    from cvxpylayers.jax import CvxpyLayer

    n = 4
    x = cp.Variable(n)
    qp = cp.Parameter(n)
    G = np.random.default_rng(0).normal(size=(2, n))
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + qp @ x), [cp.sum(x) == 1, G @ x <= 0.5])
    layer = CvxpyLayer(prob, parameters=[qp], variables=[x], solver="MOREAU")
    qv = jnp.array([0.3, -0.2, 0.1, 0.4])
    (xs,) = jax.jit(layer)(qv)
    qp.value = np.asarray(qv)
    prob.solve(solver="CLARABEL")
    assert xs.dtype == FLOAT
    np.testing.assert_allclose(xs, x.value, atol=tol(1e-6, 1e-5))
    g = jax.grad(lambda q: jnp.sum(layer(q)[0] ** 2))(qv)
    eps = 1e-6
    fd = []
    for i in range(n):
        vals = []
        for sgn in (1, -1):
            qp.value = np.asarray(qv) + sgn * eps * np.eye(n)[i]
            prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
            vals.append(np.sum(x.value ** 2))
        fd.append((vals[0] - vals[1]) / (2 * eps))
    assert g.dtype == FLOAT
    np.testing.assert_allclose(g, fd, atol=tol(1e-5, 1e-4))
    Qb = jnp.stack([qv, qv + 0.1])
    (xb,) = layer(Qb)
    np.testing.assert_allclose(xb[0], xs, atol=tol(1e-8, 1e-6))


# --- precision: the caller's dtype -----------------------------------------------


def test_float32_operands_match_float64_answers(fam, solver):
    """All-float32 operands (x64 on or off): float32 outputs, the float64 answer
    rounded; the info's floating fields in float32 too; jax_enable_x64 untouched."""
    P, A, q, b = (np.asarray(v, np.float32) for v in (fam.P_values(), fam.A_values(), fam.q0, fam.b0))
    ref = fam.numpy_one(fam.P_values(), fam.A_values(), fam.q0, fam.b0)
    for fn in (solver._impl.solve, jax.jit(solver._impl.solve)):
        sol, info = fn(P, A, q, b)
        assert sol.x.dtype == sol.z.dtype == sol.s.dtype == sol.z_x.dtype == np.float32
        assert info.obj_val.dtype == info.solve_time.dtype == np.float32 and info.status.dtype == np.int32
        for got, want in zip(sol[:3], ref):
            np.testing.assert_allclose(got, want, atol=1e-5)
    g = jax.grad(loss_fn(solver), argnums=(0, 1, 2, 3))(P, A, q, b)
    assert all(v.dtype == np.float32 for v in g)
    _, t = jax.jvp(lambda q: solver.solve(P, A, q, b).x, (q,), (np.ones_like(q),))
    assert t.dtype == np.float32
    assert jax.config.jax_enable_x64 == X64


def test_mixed_dtypes_give_result_type_outputs_and_own_dtype_gradients(fam, solver):
    """Outputs in jnp.result_type of the floating operands; each gradient and
    tangent in its own primal's dtype; float16/bfloat16/integers convert."""
    P, A, q, b = fam.P_values(), fam.A_values(), fam.q0, fam.b0
    ref = fam.numpy_one(P, A, q, b)
    grad = jax.grad(loss_fn(solver), argnums=(0, 1, 2, 3))
    if X64:
        # float32 q next to float64 P, A, b: float64 outputs, a float32 gradient for q.
        q32 = q.astype(np.float32)
        sol = solver.solve(P, A, q32, b)
        assert sol.x.dtype == np.float64
        np.testing.assert_allclose(sol.x, fam.numpy_one(P, A, q32.astype(np.float64), b)[0], atol=1e-9)
        gP, gA, gq, gb = jax.jit(grad)(P, A, q32, b)
        assert (gP.dtype, gA.dtype, gq.dtype, gb.dtype) == (np.float64, np.float64, np.float32, np.float64)
        g64 = grad(P, A, q32.astype(np.float64), b)
        np.testing.assert_allclose(gq, g64[2], rtol=1e-6, atol=1e-7)
        # forward mode: tangents of a float32 P and of float64 q
        _, (tx) = jax.jvp(lambda P, q: solver.solve(P, A, q, b).x, (P.astype(np.float32), q),
                          (np.ones_like(P, np.float32), np.ones_like(q)))
        assert tx.dtype == np.float64
        # bfloat16 b among float64: float64 outputs, a bfloat16 gradient.
        gb16 = jax.grad(lambda b: jnp.sum(solver.solve(P, A, q, b).x ** 2))(jnp.asarray(b, jnp.bfloat16))
        assert gb16.dtype == jnp.bfloat16
    # float16 everywhere: float16 outputs (computed in float64, rounded).
    h = [jnp.asarray(v, jnp.float16) for v in (P, A, q, b)]
    sol = solver.solve(*h)
    assert sol.x.dtype == jnp.float16
    np.testing.assert_allclose(np.asarray(sol.x, np.float64), ref[0], atol=5e-3)
    gq16 = jax.grad(lambda q: jnp.sum(solver.solve(h[0], h[1], q, h[3]).x.astype(jnp.float32) ** 2))(h[2])
    assert gq16.dtype == jnp.float16
    # Integer b (exact): outputs in the floating operands' dtype, no gradient needed.
    b_int = np.round(b * 0).astype(np.int32)
    b_int[0] = 1
    sol = solver.solve(np.asarray(P, np.float32), np.asarray(A, np.float32), np.asarray(q, np.float32), b_int)
    assert sol.x.dtype == np.float32
    np.testing.assert_allclose(sol.x, fam.numpy_one(P, A, q, b_int.astype(float))[0], atol=1e-5)


# --- grads through the dual and the slack -------------------------------------------


def test_grad_through_z_and_s_batched_and_not(fam, solver):
    P, A = fam.P_values(), fam.A_values()
    Q, Bb = batch_data(fam, 3, seed=8)
    wz = np.linspace(-1.0, 1.0, fam.m)
    losses = {
        "z": (lambda sol: jnp.dot(wz, sol.z), lambda x, z, s: np.dot(wz, z)),
        "s": (lambda sol: jnp.sum(sol.s ** 2), lambda x, z, s: np.sum(s ** 2)),
    }
    fd_tol = dict(atol=tol(1e-5, 2e-4), rtol=tol(1e-4, 2e-3))
    for name, (jl, nl) in losses.items():
        f = lambda q, b: jl(solver.solve(P, A, q, b))
        gq, gb = jax.vmap(jax.grad(f, argnums=(0, 1)))(Q, Bb)
        assert gq.shape == Q.shape and gq.dtype == FLOAT
        for k in range(Q.shape[0]):
            g1 = jax.jit(jax.grad(f, argnums=(0, 1)))(Q[k], Bb[k])
            np.testing.assert_allclose(gq[k], g1[0], atol=tol(1e-10, 1e-6))
            fq = fd_grad(lambda v: nl(*fam.numpy_one(P, A, v, Bb[k])), Q[k])
            fb = fd_grad(lambda v: nl(*fam.numpy_one(P, A, Q[k], v)), Bb[k])
            np.testing.assert_allclose(gq[k], fq, **fd_tol, err_msg=name)
            np.testing.assert_allclose(gb[k], fb, **fd_tol, err_msg=name)


# --- m = 0, nnz(P) = 0, nnz(A) = 0 ---------------------------------------------------


def test_unconstrained_and_empty_matrices():
    """m = 0 (no rows), an LP (nnz(P) = 0) and nnz(A) = 0 with rows, through the
    NumPy API and JAX eager / jit / vmap / grad."""
    n = 3
    rng = np.random.default_rng(4)
    M = rng.normal(size=(n, n))
    Pd = M @ M.T + n * np.eye(n)
    Pc = sp.csr_array(Pd)
    q = rng.normal(size=n)
    # m = 0: x = -P^{-1} q, dx/dq = -P^{-1}.
    x_star = -np.linalg.solve(Pd, q)
    np_sol = moreau.Solver(Pc, q, sp.csr_array((0, n)), np.zeros(0), moreau.Cones()).solve()
    np.testing.assert_allclose(np_sol.x, x_star, atol=1e-8)
    assert np_sol.z.shape == np_sol.s.shape == (0,) and np_sol.z_x.shape == (0,)
    cs = moreau.CompiledSolver(n=n, m=0, P_row_offsets=Pc.indptr, P_col_indices=Pc.indices,
                               A_row_offsets=np.zeros(1, np.int64), A_col_indices=np.zeros(0, np.int64),
                               cones=moreau.Cones(), settings=moreau.Settings(batch_size=2))
    cs.setup(Pc.data, np.zeros(0))
    bsol = cs.solve(np.stack([q, -q]), np.zeros((2, 0)))
    np.testing.assert_allclose(bsol.x, [x_star, -x_star], atol=1e-8)
    s0 = mjax.Solver(n, 0, Pc.indptr, Pc.indices, np.zeros(1, np.int64), np.zeros(0, np.int64),
                     moreau.Cones(), moreau.Settings())
    Pv, Av, bv = Pc.data, np.zeros(0), np.zeros(0)
    sol = s0.solve(Pv, Av, q, bv)
    assert sol.z.shape == (0,) and sol.x.dtype == FLOAT
    np.testing.assert_allclose(sol.x, x_star, atol=tol(1e-8, 1e-5))
    np.testing.assert_allclose(jax.jit(lambda q: s0.solve(Pv, Av, q, bv).x)(q), x_star, atol=tol(1e-8, 1e-5))
    X = jax.vmap(lambda q: s0.solve(Pv, Av, q, bv).x)(np.stack([q, 2 * q]))
    np.testing.assert_allclose(X, [x_star, 2 * x_star], atol=tol(1e-8, 1e-5))
    J = jax.jacrev(lambda q: s0.solve(Pv, Av, q, bv).x)(q)
    np.testing.assert_allclose(J, -np.linalg.inv(Pd), atol=tol(1e-7, 1e-5))
    gP = jax.grad(lambda P: jnp.sum(s0.solve(P, Av, q, bv).x))(Pv)
    assert gP.shape == Pv.shape and np.all(np.isfinite(gP))

    # nnz(A) = 0 with m = 2 nonneg rows: s = b >= 0 constrains nothing.
    A0 = sp.csr_array((2, n))
    b0 = np.array([1.0, 2.0])
    s1 = mjax.Solver(n, 2, Pc.indptr, Pc.indices, A0.indptr, A0.indices,
                     moreau.Cones(num_nonneg_cones=2), moreau.Settings())
    sol = s1.solve(Pv, np.zeros(0), q, b0)
    np.testing.assert_allclose(sol.x, x_star, atol=tol(1e-7, 1e-5))
    np.testing.assert_allclose(sol.s, b0, atol=tol(1e-7, 1e-5))
    np_sol = moreau.Solver(Pc, q, A0, b0, moreau.Cones(num_nonneg_cones=2)).solve()
    np.testing.assert_allclose(np_sol.x, x_star, atol=1e-7)
    gq = jax.jit(jax.grad(lambda q: jnp.sum(s1.solve(Pv, np.zeros(0), q, b0).x)))(q)
    np.testing.assert_allclose(gq, -np.linalg.solve(Pd, np.ones(n)), atol=tol(1e-6, 1e-4))

    # nnz(P) = 0: the LP  min q'x  s.t.  -1 <= x <= 1  ->  x = -sign(q).
    A = sp.vstack([sp.eye(n), -sp.eye(n)], format="csr")
    bb = np.ones(2 * n)
    P0 = sp.csr_array((n, n))
    s2 = mjax.Solver(n, 2 * n, P0.indptr, P0.indices, A.indptr, A.indices,
                     moreau.Cones(num_nonneg_cones=2 * n), moreau.Settings())
    np.testing.assert_allclose(s2.solve(np.zeros(0), A.data, q, bb).x, -np.sign(q), atol=tol(1e-6, 1e-5))
    Xb = jax.vmap(lambda q: s2.solve(np.zeros(0), A.data, q, bb).x)(np.stack([q, -q]))
    np.testing.assert_allclose(Xb, [-np.sign(q), np.sign(q)], atol=tol(1e-6, 1e-5))
    np.testing.assert_allclose(moreau.Solver(None, q, A, bb, moreau.Cones(num_nonneg_cones=2 * n)).solve().x,
                               -np.sign(q), atol=1e-6)
    gb = jax.grad(lambda b: jnp.dot(q, s2.solve(np.zeros(0), A.data, q, b).x))(bb)
    assert np.all(np.isfinite(gb))


def test_unconstrained_cvxpylayer():
    cp = pytest.importorskip("cvxpy")
    from cvxpylayers.jax import CvxpyLayer

    n = 3
    x = cp.Variable(n)
    p = cp.Parameter(n)
    layer = CvxpyLayer(cp.Problem(cp.Minimize(cp.sum_squares(x - p))), parameters=[p], variables=[x],
                       solver="MOREAU")
    pv = jnp.asarray([0.5, -1.0, 2.0])
    (xs,) = layer(pv)
    np.testing.assert_allclose(xs, pv, atol=tol(1e-7, 1e-5))
    np.testing.assert_allclose(jax.jit(lambda p: layer(p)[0])(pv), pv, atol=tol(1e-7, 1e-5))
    np.testing.assert_allclose(jax.vmap(lambda p: layer(p)[0])(jnp.stack([pv, -pv])), [pv, -pv],
                               atol=tol(1e-7, 1e-5))
    g = jax.grad(lambda p: jnp.dot(jnp.arange(1.0, 4.0), layer(p)[0]))(pv)  # x = p: the weights
    np.testing.assert_allclose(g, [1.0, 2.0, 3.0], atol=tol(1e-6, 1e-4))


# --- inside a user's jitted and vmapped function ---------------------------------------


def test_solver_and_layer_inside_user_jit_vmap(fam):
    """The Solver (built before or after the arrays exist) and a CvxpyLayer inside
    a user function that is itself jitted and vmapped, with its own float ops."""
    before = fam.jax_solver()  # built before the arrays
    W = jnp.asarray(np.random.default_rng(2).normal(size=(fam.n, fam.n)) * 0.3)
    P, A = jnp.asarray(fam.P_values()), jnp.asarray(fam.A_values())
    Q, Bb = batch_data(fam, 4, seed=9)
    Q, Bb = jnp.asarray(Q), jnp.asarray(Bb)
    after = fam.jax_solver()  # built after the arrays

    for solver in (before, after):
        def user(theta, b):
            sol = solver.solve(P, A, jnp.tanh(W @ theta), b)
            return jnp.sum(sol.x ** 2) + 0.1 * jnp.sum(sol.z)

        f = jax.jit(jax.vmap(jax.value_and_grad(user), in_axes=(0, 0)))
        vals, grads = f(Q, Bb)
        assert vals.dtype == grads.dtype == FLOAT and grads.shape == Q.shape
        for k in range(4):
            v1, g1 = jax.value_and_grad(user)(Q[k], Bb[k])
            np.testing.assert_allclose(vals[k], v1, rtol=tol(1e-10, 1e-5))
            np.testing.assert_allclose(grads[k], g1, atol=tol(1e-10, 1e-5))
            x_ref = fam.numpy_one(fam.P_values(), fam.A_values(),
                                  np.tanh(np.asarray(W) @ np.asarray(Q[k], np.float64)), np.asarray(Bb[k], np.float64))[0]
            np.testing.assert_allclose(solver.solve(P, A, jnp.tanh(W @ Q[k]), Bb[k]).x, x_ref, atol=tol(1e-8, 1e-5))

    cp = pytest.importorskip("cvxpy")
    from cvxpylayers.jax import CvxpyLayer

    x = cp.Variable(3)
    c = cp.Parameter(3)
    layer = CvxpyLayer(cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + c @ x), [x >= 0, cp.sum(x) == 1]),
                       parameters=[c], variables=[x], solver="MOREAU")
    C = jnp.asarray(np.random.default_rng(3).normal(size=(5, 3)))  # created before the layer is first used
    net = lambda c: jnp.sum(layer(2.0 * c + 0.1)[0] * jnp.arange(1.0, 4.0))
    out, g = jax.jit(jax.vmap(jax.value_and_grad(net)))(C)
    assert out.dtype == g.dtype == FLOAT
    for k in range(5):
        ok, gk = jax.value_and_grad(net)(C[k])
        np.testing.assert_allclose(out[k], ok, atol=tol(1e-9, 1e-5))
        np.testing.assert_allclose(g[k], gk, atol=tol(1e-8, 1e-4))
    assert jax.config.jax_enable_x64 == X64


# --- API surface: z_x, b_sparsity_pattern ---------------------------------------------


def test_z_x_and_b_sparsity_pattern(fam):
    Pc, A = fam.Pcsr, fam.A
    mask = [True] * fam.m
    s = mjax.Solver(fam.n, fam.m, Pc.indptr, Pc.indices, A.indptr, A.indices, fam.cones, moreau.Settings(),
                    b_sparsity_pattern=mask)
    assert s._b_sparsity_pattern == mask
    with pytest.raises(ValueError, match="b_sparsity_pattern"):
        mjax.Solver(fam.n, fam.m, Pc.indptr, Pc.indices, A.indptr, A.indices, fam.cones,
                    b_sparsity_pattern=[True])
    cs = moreau.CompiledSolver(n=fam.n, m=fam.m, P_row_offsets=Pc.indptr, P_col_indices=Pc.indices,
                               A_row_offsets=A.indptr, A_col_indices=A.indices, cones=fam.cones,
                               b_sparsity_pattern=mask)
    cs.setup(Pc.data, A.data)
    bsol = cs.solve(fam.q0[None], fam.b0[None])
    assert bsol.z_x.shape == (1, 0) and bsol[0].z_x.shape == (0,)
    ns = moreau.Solver(Pc, fam.q0, A, fam.b0, fam.cones, b_sparsity_pattern=mask)
    sol = ns.solve()
    assert sol.x.dtype == np.float64 and sol.z_x.shape == (0,) and sol.to_warm_start().z_x.shape == (0,)
    with pytest.raises(ValueError, match="b_sparsity_pattern"):
        moreau.Solver(Pc, fam.q0, A, fam.b0, fam.cones, b_sparsity_pattern=[True])
    # NumPy API keeps float64 for float32 input.
    sol32 = moreau.Solver(Pc.astype(np.float32), fam.q0.astype(np.float32), A, fam.b0, fam.cones).solve()
    assert sol32.x.dtype == np.float64


# --- the whole module again with jax_enable_x64 off ---------------------------------------


@pytest.mark.skipif(not X64, reason="this IS the x64-off run")
def test_module_with_x64_off_subprocess():
    """Every test of this module (except the subprocess ones) with JAX's default
    precision: jax_enable_x64 off, every array float32."""
    env = dict(os.environ, MOREAU_TEST_JAX_X64="0")
    env.pop("JAX_ENABLE_X64", None)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", os.path.abspath(__file__), "-q", "-x", "-p", "no:cacheprovider",
         "-k", "not subprocess"],
        env=env, capture_output=True, text=True, timeout=900, cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert " passed" in r.stdout and " failed" not in r.stdout
