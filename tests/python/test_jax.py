"""moreau.jax.Solver: native XLA FFI custom calls under eager, jit, vmap, grad, jvp.

References are the NumPy API (moreau.Solver / moreau.CompiledSolver) for values and
central finite differences of the NumPy solver for derivatives.
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

jax.config.update("jax_enable_x64", True)

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
    for got, want in zip(sol, ref):
        np.testing.assert_allclose(got, want, atol=1e-9)
    jitted = jax.jit(lambda P, A, q, b: tuple(solver.solve(P, A, q, b)))
    for _ in range(2):
        for got, want in zip(jitted(P, A, q, b), ref):
            np.testing.assert_allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("B", [1, 64, 1024])
def test_vmap_matches_compiled_solver(fam, solver, B):
    Q, Bb = batch_data(fam, B)
    P, A = fam.P_values(), fam.A_values()
    ref, info = fam.numpy_batch(P[None], A[None], Q, Bb)
    f = jax.jit(jax.vmap(lambda P, A, q, b: tuple(solver._impl.solve(P, A, q, b)[0]), in_axes=(None, None, 0, 0)))
    x, z, s, z_x = f(P, A, Q, Bb)
    assert x.shape == (B, fam.n)
    np.testing.assert_allclose(x, ref.x, atol=1e-8)
    np.testing.assert_allclose(z, ref.z, atol=1e-8)
    np.testing.assert_allclose(s, ref.s, atol=1e-8)


def test_vmap_batched_matrices_and_info(fam, solver):
    B = 6
    rng = np.random.default_rng(3)
    Q, Bb = batch_data(fam, B)
    P = np.stack([fam.P_values() * (1 + 0.1 * k) for k in range(B)])
    A = np.stack([fam.A_values() + 0.01 * rng.normal(size=fam.A.nnz) for _ in range(B)])
    ref, info = fam.numpy_batch(P, A, Q, Bb)
    sol, meta = jax.vmap(solver._impl.solve)(P, A, Q, Bb)
    np.testing.assert_allclose(sol.x, ref.x, atol=1e-8)
    np.testing.assert_array_equal(meta.status, [int(s) for s in info.status])
    np.testing.assert_allclose(meta.obj_val, info.obj_val, rtol=1e-8)
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
            np.testing.assert_allclose(X[i, j], fam.numpy_one(Ps[i], A, Q[j], bs[i])[0], atol=1e-8)


def test_upper_triangular_pattern(fam):
    """An upper-triangle P pattern (CVXPY's form) gives the same answer as the full one."""
    U = sp.triu(fam.Pcsr, format="csr")
    s = mjax.Solver(fam.n, fam.m, U.indptr, U.indices, fam.A.indptr, fam.A.indices, fam.cones, moreau.Settings())
    x = s.solve(U.data, fam.A_values(), fam.q0, fam.b0).x
    np.testing.assert_allclose(x, fam.numpy_one(fam.P_values(), fam.A_values(), fam.q0, fam.b0)[0], atol=1e-9)


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
    np.testing.assert_allclose(g[2], gq, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(g[3], gb, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(g[1], gA, atol=1e-5, rtol=1e-4)
    # dL/dP_ij + dL/dP_ji equals the derivative along the symmetric perturbation.
    Pm = dense(P).toarray()
    for (i, j) in [(0, 0), (0, 1), (2, 3)]:
        E = np.zeros_like(Pm)
        E[i, j] = E[j, i] = 1.0
        fd = (np_loss(fam, sp.csr_array(Pm + 1e-6 * E).data, A, q, b)
              - np_loss(fam, sp.csr_array(Pm - 1e-6 * E).data, A, q, b)) / 2e-6
        gd = dense(np.asarray(g[0])).toarray()
        got = gd[i, j] + (gd[j, i] if i != j else 0.0)
        np.testing.assert_allclose(got, fd, atol=1e-5, rtol=1e-4)


def test_vmap_grad_and_jit_vmap_grad_match_loop(fam, solver):
    Q, Bb = batch_data(fam, 5)
    P, A = fam.P_values(), fam.A_values()
    grad = jax.grad(loss_fn(solver), argnums=(0, 1, 2, 3))
    per = [grad(P, A, Q[k], Bb[k]) for k in range(5)]
    for fn in (jax.vmap(grad, in_axes=(None, None, 0, 0)), jax.jit(jax.vmap(grad, in_axes=(None, None, 0, 0)))):
        gv = fn(P, A, Q, Bb)
        for i in range(4):
            np.testing.assert_allclose(gv[i], np.stack([p[i] for p in per]), atol=1e-10)


def test_grad_of_shared_operands_sums_over_batch(fam, solver):
    Q, Bb = batch_data(fam, 7)
    P, A = fam.P_values(), fam.A_values()
    loss = loss_fn(solver)
    total = lambda P, A: jnp.sum(jax.vmap(loss, in_axes=(None, None, 0, 0))(P, A, Q, Bb))
    gP, gA = jax.jit(jax.grad(total, argnums=(0, 1)))(P, A)
    single = [jax.grad(loss, argnums=(0, 1))(P, A, Q[k], Bb[k]) for k in range(7)]
    np.testing.assert_allclose(gP, sum(s[0] for s in single), atol=1e-9)
    np.testing.assert_allclose(gA, sum(s[1] for s in single), atol=1e-9)


def test_jacfwd_matches_jacrev(fam, solver):
    P, A, q, b = fam.P_values(), fam.A_values(), fam.q0, fam.b0
    for argnum in range(4):
        f = lambda *args: jnp.concatenate(tuple(solver.solve(*args)))
        Jf = jax.jacfwd(f, argnums=argnum)(P, A, q, b)
        Jr = jax.jacrev(f, argnums=argnum)(P, A, q, b)
        np.testing.assert_allclose(Jf, Jr, atol=1e-8)
    # Forward mode against finite differences in q.
    Jq = jax.jit(jax.jacfwd(lambda q: solver.solve(P, A, q, b).x))(q)
    fd = np.stack([(fam.numpy_one(P, A, q + e, b)[0] - fam.numpy_one(P, A, q - e, b)[0]) / 2e-6
                   for e in 1e-6 * np.eye(fam.n)], axis=1)
    np.testing.assert_allclose(Jq, fd, atol=1e-5)


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


def test_sharded_batch_subprocess():
    code = textwrap.dedent(
        """
        import numpy as np, jax, jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
        from jax.sharding import NamedSharding, PartitionSpec as PS
        import moreau, moreau.jax as mjax
        assert len(jax.devices()) == 2
        n = 3
        I = np.arange(n + 1); J = np.arange(n)
        A_ip = np.array([0, n] + [n + i + 1 for i in range(n)]); A_ix = np.concatenate([np.arange(n), np.arange(n)])
        s = mjax.Solver(n, n + 1, I, J, A_ip, A_ix, moreau.Cones(num_zero_cones=1, num_nonneg_cones=n), moreau.Settings())
        A = np.concatenate([np.ones(n), -np.ones(n)]); b = np.concatenate([[1.0], np.zeros(n)])
        Q = np.random.default_rng(0).normal(size=(8, n))
        mesh = jax.make_mesh((2,), ("b",))
        Qs = jax.device_put(Q, NamedSharding(mesh, PS("b")))
        f = jax.jit(jax.vmap(lambda q: s.solve(np.ones(n), A, q, b).x))
        X = f(Qs)
        text = f.lower(Qs).compile().as_text()
        assert "moreau_solve" in text
        ref = jax.vmap(lambda q: s.solve(np.ones(n), A, q, b).x)(Q)
        np.testing.assert_allclose(np.asarray(X), np.asarray(ref), atol=1e-10)
        # Each device solved its own half: the custom call sees a batch of 4.
        assert "f64[4,3]" in text and "custom_call_target=\\"moreau_solve\\"" in text
        print("OK", X.sharding)
        """
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout


# --- errors and failures -------------------------------------------------------


def test_float32_raises_type_error(fam, solver):
    with pytest.raises(TypeError, match="jax_enable_x64"):
        solver.solve(fam.P_values().astype(np.float32), fam.A_values(), fam.q0, fam.b0)


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
    np.testing.assert_allclose(warm.x, cold.x, atol=1e-7)
    sol, info = solver._impl.solve_warm(P, A, q, b, cold.x, cold.z, cold.s)
    np.testing.assert_allclose(sol.x, cold.x, atol=1e-7)
    solver._impl._pending_warm_start = {"warm_x": np.asarray(cold.x), "warm_z": np.asarray(cold.z), "warm_s": np.asarray(cold.s)}
    sol, info = solver._impl.solve(P, A, q, b)
    solver._impl._pending_warm_start = None
    np.testing.assert_allclose(sol.x, cold.x, atol=1e-7)
    assert int(info.iterations) <= cold_iters
    g = jax.grad(lambda q: jnp.sum(solver._impl.solve_warm(P, A, q, b, cold.x, cold.z, cold.s)[0].x ** 2))(q)
    g0 = jax.grad(lambda q: jnp.sum(solver.solve(P, A, q, b).x ** 2))(q)
    np.testing.assert_allclose(g, g0, atol=1e-6)


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
    np.testing.assert_allclose(xs, x.value, atol=1e-6)
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
    np.testing.assert_allclose(g, fd, atol=1e-5)
    Qb = jnp.stack([qv, qv + 0.1])
    (xb,) = layer(Qb)
    np.testing.assert_allclose(xb[0], xs, atol=1e-8)
