"""The JAX examples of the seed page ("cvxpylayers Integration", Moreau docs), as a
user would paste them: ``cvxpylayers.jax.CvxpyLayer(..., solver="MOREAU")``, here
with ``jax_enable_x64`` and, in a subprocess, without it.

Every solution is compared with CVXPY + Clarabel on the same parameter values
(1e-6), every gradient with finite differences of the layer itself (solved at
tight tolerances). Runs with cvxpy 1.9.x + cvxpylayers 1.2.0 and with the oldest
supported pair cvxpy 1.8.2 + cvxpylayers 1.1.0 (scripts/test.sh).

Things these tests pin down (see README "cvxpylayers"):
- several layers built from ONE cp.Problem (the page's "Solver Arguments" layer
  reuses the "Basic Usage" problem) give right answers (moreau_jax._cvxpy_compat
  undoes cvxpylayers' in-place permutation of CVXPY's cached matrices);
- ``solver_args={"device": "cuda"}`` without a CUDA backend is a RuntimeError
  naming the device (no silent CPU run);
- a misspelled top-level solver_args key warns (cvxpylayers skips unknown keys
  silently); a misspelled ``ipm_settings`` key is a TypeError;
- with x64 disabled (float32 arrays, JAX's default) the same examples work in
  float32 and leave the x64 flag alone (``seed_examples_x64_off.py``).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

cp = pytest.importorskip("cvxpy")
pytest.importorskip("cvxpylayers")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)

from cvxpylayers.jax import CvxpyLayer  # noqa: E402

import moreau  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ATOL = 1e-6
# The layer used for finite differences: solved much tighter than the default 1e-8
# so that FD quotients with h = 1e-5 are accurate to ~1e-6.
TIGHT_ARGS = {"ipm_settings": {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11}}
CLARABEL_TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
FD_H = 1e-5
FD_RTOL = 1e-5


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def seed_problem(n=5):
    """The page's basic problem: min 1/2||x||^2 + q'x  s.t. x >= 0, sum(x) == 1."""
    x = cp.Variable(n)
    q = cp.Parameter(n)
    objective = cp.Minimize(0.5 * cp.sum_squares(x) + q @ x)
    constraints = [x >= 0, cp.sum(x) == 1]
    return cp.Problem(objective, constraints), x, q


def clarabel(problem, params, values, variables):
    """Solve ``problem`` with CVXPY + Clarabel at ``params = values``; returns the
    variables' values and the dual of the first constraint."""
    for p, v in zip(params, values):
        p.value = np.asarray(v, dtype=np.float64)
    problem.solve(solver="CLARABEL", **CLARABEL_TIGHT)
    assert problem.status == cp.OPTIMAL, problem.status
    return [np.array(v.value) for v in variables], np.array(problem.constraints[0].dual_value)


def clarabel_rows(problem, param, Q, var):
    """Row by row: x and the dual of constraint 0 for each row of Q."""
    xs, duals = [], []
    for row in np.asarray(Q):
        (xv,), d = clarabel(problem, [param], [row], [var])
        xs.append(xv)
        duals.append(d)
    return np.array(xs), np.array(duals)


def central_fd(f, p0, h=FD_H):
    """Central differences of a scalar f at p0 (any shape)."""
    p0 = np.asarray(p0, dtype=np.float64)
    g = np.zeros_like(p0)
    for idx in np.ndindex(p0.shape):
        e = np.zeros_like(p0)
        e[idx] = h
        g[idx] = (float(f(jnp.asarray(p0 + e))) - float(f(jnp.asarray(p0 - e)))) / (2 * h)
    return g


def one_sided_fd(f, p0, h=1e-4):
    """(forward, backward) differences of a scalar f at p0 (1-D)."""
    p0 = np.asarray(p0, dtype=np.float64)
    f0 = float(f(jnp.asarray(p0)))
    fwd, bwd = np.zeros_like(p0), np.zeros_like(p0)
    for i in range(p0.size):
        e = np.zeros_like(p0)
        e[i] = h
        fwd[i] = (float(f(jnp.asarray(p0 + e))) - f0) / h
        bwd[i] = (f0 - float(f(jnp.asarray(p0 - e)))) / h
    return fwd, bwd


def rowwise_fd(f_rows, Q, h=FD_H):
    """Central differences of per-row losses: f_rows(Q) -> (B,), row i depending
    only on Q[i]. Coordinate j is perturbed in all rows at once (one batched
    layer call per perturbation). Returns (B, n)."""
    Q = np.asarray(Q, dtype=np.float64)
    G = np.zeros_like(Q)
    for j in range(Q.shape[1]):
        E = np.zeros_like(Q)
        E[:, j] = h
        G[:, j] = (np.asarray(f_rows(jnp.asarray(Q + E))) - np.asarray(f_rows(jnp.asarray(Q - E)))) / (2 * h)
    return G


def assert_grad_close(g, fd, rtol=FD_RTOL):
    g, fd = np.asarray(g), np.asarray(fd)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, fd, rtol=rtol, atol=rtol * max(1.0, float(np.abs(fd).max())))


def nondegenerate_rows(X, LAM, margin=1e-3):
    """Rows whose active set is strict: each x_i > 0 or its multiplier > 0 by a
    margin (finite differences do not cross a kink there)."""
    return np.min(np.maximum(X, LAM), axis=1) > margin


def jax_solver(layer):
    """The moreau.jax.Solver cvxpylayers built for this layer."""
    return layer.ctx.solver_ctx.get_jax_solver()


# ---------------------------------------------------------------------------
# Basic usage
# ---------------------------------------------------------------------------


def test_basic_usage_solution_and_grad():
    # --- as on the page -------------------------------------------------------
    n = 5
    problem, x, q = seed_problem(n)
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    q_val = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])

    def solve(q):
        x_opt, = layer(q)
        return x_opt.sum()

    grad_fn = jax.grad(solve)
    g = grad_fn(q_val)
    # ---------------------------------------------------------------------------
    x_opt, = layer(q_val)
    assert x_opt.shape == (n,) and x_opt.dtype == jnp.float64
    np.testing.assert_allclose(x_opt, [1, 0, 0, 0, 0], atol=ATOL)
    (x_ref,), _ = clarabel(problem, [q], [q_val], [x])
    np.testing.assert_allclose(x_opt, x_ref, atol=ATOL)
    assert jax_solver(layer).info.status == moreau.SolverStatus.Solved

    # sum(x) == 1 on the feasible set: its gradient is 0 in every direction.
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, np.zeros(n), atol=1e-8)


def test_basic_usage_degenerate_point_one_sided_fd():
    """At q = 1..5, x_1 = 0 with a zero multiplier: the solution map has a kink.
    The gradient is finite, matches both one-sided differences in the
    non-degenerate coordinates (q_2, q_3, q_4), and in q_0 / q_1 equals one of
    them (the generalized derivative treats the degenerate bound as inactive)."""
    problem, x, q = seed_problem()
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    tight = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU", solver_args=TIGHT_ARGS)
    q0 = np.arange(1.0, 6.0)
    for w in (np.eye(5)[0], np.eye(5)[1], np.array([0.3, -1.0, 0.5, 2.0, 0.1])):
        g = jax.grad(lambda q: layer(q)[0] @ w)(jnp.asarray(q0))
        fwd, bwd = one_sided_fd(lambda q: tight(q)[0] @ w, q0)
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g[2:], fwd[2:], atol=1e-6)
        np.testing.assert_allclose(g[2:], bwd[2:], atol=1e-6)
        for i in (0, 1):
            assert min(abs(g[i] - fwd[i]), abs(g[i] - bwd[i])) < 1e-5, (i, g, fwd, bwd)


def test_basic_usage_generic_q_central_fd():
    problem, x, q = seed_problem()
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    tight = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU", solver_args=TIGHT_ARGS)
    rng = np.random.default_rng(3)
    w = rng.standard_normal(5)
    checked = 0
    for _ in range(6):
        q0 = 0.5 * rng.standard_normal(5)
        (x_ref,), lam = clarabel(problem, [q], [q0], [x])
        x_opt, = layer(jnp.asarray(q0))
        np.testing.assert_allclose(x_opt, x_ref, atol=ATOL)
        if not nondegenerate_rows(x_ref[None], lam[None])[0]:
            continue
        for loss in (lambda q: tight(q)[0] @ w, lambda q: jnp.sum(tight(q)[0] ** 2)):
            g = jax.grad(loss)(jnp.asarray(q0))
            assert_grad_close(g, central_fd(loss, q0))
        checked += 1
    assert checked >= 3


def test_jit_of_the_layer():
    problem, x, q = seed_problem()
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    solve = jax.jit(lambda q: layer(q)[0])
    for q0 in (np.arange(1.0, 6.0), np.array([3.0, 1.0, 2.0, 5.0, 4.0]), np.array([0.1, 0.0, -0.2, 0.3, 0.05])):
        (x_ref,), _ = clarabel(problem, [q], [q0], [x])
        np.testing.assert_allclose(solve(jnp.asarray(q0)), x_ref, atol=ATOL)


# ---------------------------------------------------------------------------
# Batching with jax.vmap, combined grad and vmap, jit(vmap(grad))
# ---------------------------------------------------------------------------


def test_vmap_grad_and_jit():
    n = 5
    problem, x, q = seed_problem(n)
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")

    # --- as on the page -------------------------------------------------------
    q_batch = jax.random.normal(jax.random.PRNGKey(0), (64, n))

    batched_solve = jax.vmap(lambda q: layer(q)[0])
    x_batch = batched_solve(q_batch)
    assert x_batch.shape == (64, 5)

    def loss_fn(q):
        x_opt, = layer(q)
        return jnp.sum(x_opt ** 2)

    batched_grad = jax.vmap(jax.grad(loss_fn))
    grads = batched_grad(q_batch)
    assert grads.shape == (64, 5)
    # ---------------------------------------------------------------------------

    X_ref, LAM = clarabel_rows(problem, q, q_batch, x)
    np.testing.assert_allclose(x_batch, X_ref, atol=ATOL)
    # A batched layer call (leading batch dimension, no vmap) gives the same.
    np.testing.assert_allclose(layer(q_batch)[0], X_ref, atol=ATOL)

    jitted = jax.jit(jax.vmap(jax.grad(loss_fn)))(q_batch)
    np.testing.assert_allclose(jitted, grads, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jax.jit(batched_solve)(q_batch), X_ref, atol=ATOL)

    tight = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU", solver_args=TIGHT_ARGS)
    fd = rowwise_fd(lambda Q: jnp.sum(tight(Q)[0] ** 2, axis=1), q_batch)
    ok = nondegenerate_rows(X_ref, LAM)
    assert ok.sum() >= 48, ok.sum()
    assert np.all(np.isfinite(grads))
    assert_grad_close(np.asarray(grads)[ok], fd[ok])


# ---------------------------------------------------------------------------
# Solver arguments
# ---------------------------------------------------------------------------


def test_solver_args_at_construction_and_per_call(capfd):
    # The page builds this layer from the Basic Usage problem: a second layer on
    # the same cp.Problem must still be right (cvxpylayers permutes CVXPY's cached
    # matrices in place; moreau_jax._cvxpy_compat keeps CVXPY's copy intact).
    problem, x, q = seed_problem()
    first = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    q_val = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(first(q_val)[0], [1, 0, 0, 0, 0], atol=ATOL)

    layer = CvxpyLayer(
        problem, parameters=[q], variables=[x],
        solver="MOREAU",
        solver_args={"ipm_settings": {"tol_gap_abs": 1e-6, "tol_feas": 1e-6}},
    )
    settings = jax_solver(layer)._settings
    assert settings.ipm_settings.tol_gap_abs == 1e-6 and settings.ipm_settings.tol_feas == 1e-6
    assert settings.enable_grad is True

    rng = np.random.default_rng(7)
    for q0 in (np.arange(1.0, 6.0), 0.5 * rng.standard_normal(5), 0.5 * rng.standard_normal(5)):
        (x_ref,), _ = clarabel(problem, [q], [q0], [x])
        np.testing.assert_allclose(layer(jnp.asarray(q0))[0], x_ref, atol=ATOL)
        np.testing.assert_allclose(first(jnp.asarray(q0))[0], x_ref, atol=ATOL)
    # CVXPY's own solve on the same problem is unaffected by the layers.
    q.value = np.arange(1.0, 6.0)
    problem.solve(solver="MOREAU")
    np.testing.assert_allclose(x.value, [1, 0, 0, 0, 0], atol=1e-4)

    q_val = jnp.asarray(0.5 * rng.standard_normal(5))
    (x_ref,), _ = clarabel(problem, [q], [q_val], [x])

    # Per-call overrides (JAX): they reach the solver (a new trace per change).
    x_opt, = layer(q_val, solver_args={"max_iter": 1})
    assert jax_solver(layer).info.status == moreau.SolverStatus.MaxIterations
    x_opt, = layer(q_val, solver_args={"max_iter": 500})
    assert settings.max_iter == 500
    assert jax_solver(layer).info.status == moreau.SolverStatus.Solved
    np.testing.assert_allclose(x_opt, x_ref, atol=ATOL)

    # IPM tolerances and KKT method via ipm_settings dict
    x_opt, = layer(q_val, solver_args={
        "ipm_settings": {"tol_gap_abs": 1e-4, "direct_solve_method": "qdldl"},
    })
    assert settings.ipm_settings.direct_solve_method == "qdldl"
    assert settings.ipm_settings.tol_gap_abs == 1e-4
    np.testing.assert_allclose(x_opt, x_ref, atol=ATOL)
    # and under grad (the derivative uses the same settings)
    g = jax.grad(lambda q: layer(q, solver_args={"max_iter": 500})[0][0])(q_val)
    assert np.all(np.isfinite(g))

    # verbose per call prints the iteration log
    capfd.readouterr()
    layer(q_val, solver_args={"verbose": False})
    quiet = capfd.readouterr()
    layer(q_val, solver_args={"verbose": True})
    loud = capfd.readouterr()
    layer(q_val, solver_args={"verbose": False})
    assert len(loud.out + loud.err) > len(quiet.out + quiet.err) + 100


@pytest.mark.skipif(moreau.device_available("cuda"), reason="this machine has a CUDA backend")
def test_device_cuda_without_gpu_is_a_clear_error():
    problem, x, q = seed_problem()
    with pytest.raises(RuntimeError, match="device='cuda'.*no CUDA"):
        CvxpyLayer(
            problem, parameters=[q], variables=[x],
            solver="MOREAU",
            solver_args={
                "device": "cuda",
                "ipm_settings": {"tol_gap_abs": 1e-6, "tol_feas": 1e-6},
            },
        )
    # Per call too (settings are checked whenever a solve is traced, also under jit).
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    q_val = jnp.arange(1.0, 6.0)
    solve = jax.jit(lambda q: layer(q)[0])
    np.testing.assert_allclose(solve(q_val), [1, 0, 0, 0, 0], atol=ATOL)
    with pytest.raises(RuntimeError, match="cuda"):
        layer(q_val, solver_args={"device": "cuda"})
    with pytest.raises(RuntimeError, match="cuda"):
        solve(q_val)  # the jitted function retraces: no stale CPU executable
    x_opt, = layer(q_val, solver_args={"device": "cpu"})
    np.testing.assert_allclose(x_opt, [1, 0, 0, 0, 0], atol=ATOL)


def test_misspelled_solver_args_key_warns_or_raises():
    problem, x, q = seed_problem()
    q_val = jnp.arange(1.0, 6.0)
    # Top-level key: cvxpylayers skips unknown keys; we warn, naming the key.
    with pytest.warns(UserWarning, match=r"'max_iters'.*Did you mean 'max_iter'"):
        layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU",
                           solver_args={"max_iters": 5})
    assert jax_solver(layer)._settings.max_iter == 200  # unchanged default
    np.testing.assert_allclose(layer(q_val)[0], [1, 0, 0, 0, 0], atol=ATOL)
    with pytest.warns(UserWarning, match="'max_iters'"):
        layer(q_val, solver_args={"max_iters": 5})
    # A key inside ipm_settings is an error (IPMSettings(**dict)), naming the key.
    with pytest.raises(TypeError, match=r"'tol_gap_ab'.*Did you mean 'tol_gap_abs'"):
        CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU",
                   solver_args={"ipm_settings": {"tol_gap_ab": 1e-6}})
    with pytest.raises(TypeError, match="'tol_gap_ab'"):
        layer(q_val, solver_args={"ipm_settings": {"tol_gap_ab": 1e-6}})


# ---------------------------------------------------------------------------
# Multiple parameters, batched forward pass
# ---------------------------------------------------------------------------


def multi_param_problem(n=5):
    x = cp.Variable(n)
    q = cp.Parameter(n)
    b = cp.Parameter(1)
    objective = cp.Minimize(0.5 * cp.sum_squares(x) + q @ x)
    constraints = [x >= 0, cp.sum(x) <= b]
    return cp.Problem(objective, constraints), x, q, b


def test_multiple_parameters():
    n = 5
    problem, x, q, b = multi_param_problem(n)
    layer = CvxpyLayer(problem, parameters=[q, b], variables=[x], solver="MOREAU")
    tight = CvxpyLayer(problem, parameters=[q, b], variables=[x], solver="MOREAU", solver_args=TIGHT_ARGS)

    rng = np.random.default_rng(11)
    w = rng.standard_normal(n)
    for q0, b0 in ((rng.standard_normal(n), np.array([1.0])),      # sum(x) <= b active
                   (np.array([-0.3, 0.4, -0.1, 0.2, 0.5]), np.array([2.0]))):  # inactive
        q_val, b_val = jnp.asarray(q0), jnp.asarray(b0)
        x_opt, = layer(q_val, b_val)
        (x_ref,), _ = clarabel(problem, [q, b], [q0, b0], [x])
        np.testing.assert_allclose(x_opt, x_ref, atol=ATOL)

        # the page's loss x_opt.sum(), and a weighted one -> dL/dq, dL/db
        for v in (np.ones(n), w):
            dq, db = jax.grad(lambda qq, bb: layer(qq, bb)[0] @ v, argnums=(0, 1))(q_val, b_val)
            assert dq.shape == (n,) and db.shape == (1,)
            assert_grad_close(dq, central_fd(lambda qq: tight(qq, b_val)[0] @ v, q0))
            assert_grad_close(db, central_fd(lambda bb: tight(q_val, bb)[0] @ v, b0))
    # active constraint: d sum(x) / db = 1
    dq, db = jax.grad(lambda qq, bb: layer(qq, bb)[0].sum(), argnums=(0, 1))(
        jnp.asarray(-np.ones(n)), jnp.array([1.0]))
    np.testing.assert_allclose(db, [1.0], atol=1e-6)


def test_batched_forward_pass():
    n = 5
    problem, x, q, b = multi_param_problem(n)
    layer = CvxpyLayer(problem, parameters=[q, b], variables=[x], solver="MOREAU")
    tight = CvxpyLayer(problem, parameters=[q, b], variables=[x], solver="MOREAU", solver_args=TIGHT_ARGS)
    b_val = jnp.array([1.0])

    # --- as on the page (JAX; b is shared by the batch) -----------------------
    batch_size = 32
    q_batch = jax.random.normal(jax.random.PRNGKey(1), (batch_size, n))

    x_batch, = layer(q_batch, b_val)
    assert x_batch.shape == (32, 5)

    loss = lambda Q: layer(Q, b_val)[0].sum()
    q_grad = jax.grad(loss)(q_batch)
    assert q_grad.shape == (32, 5)
    # ---------------------------------------------------------------------------

    X_ref, ok = [], []
    for row in np.asarray(q_batch):
        (xr,), lam = clarabel(problem, [q, b], [row, b_val], [x])
        nu = float(np.ravel(problem.constraints[1].dual_value)[0])
        slack = float(b_val[0] - xr.sum())
        X_ref.append(xr)
        # FD must not cross a kink: strict complementarity with a margin
        ok.append(np.min(np.maximum(xr, lam)) > 1e-3 and max(slack, nu) > 1e-3)
    X_ref, ok = np.array(X_ref), np.array(ok)
    np.testing.assert_allclose(x_batch, X_ref, atol=ATOL)
    # vmap over the same layer agrees with the batched call
    np.testing.assert_allclose(jax.vmap(lambda qq: layer(qq, b_val)[0])(q_batch), x_batch, atol=1e-10)

    fd = rowwise_fd(lambda Q: tight(Q, b_val)[0].sum(axis=1), q_batch)
    assert ok.sum() >= 24, ok.sum()
    assert np.all(np.isfinite(q_grad))
    assert_grad_close(np.asarray(q_grad)[ok], fd[ok])

    # gradient with respect to the shared b: the sum over the batch
    db = jax.grad(lambda bb: layer(q_batch, bb)[0].sum())(b_val)
    fd_b = central_fd(lambda bb: tight(q_batch, bb)[0].sum(), np.asarray(b_val))
    assert_grad_close(db, fd_b)


# ---------------------------------------------------------------------------
# Training loop (the page's PyTorch portfolio example, in JAX with optax)
# ---------------------------------------------------------------------------


def test_portfolio_training_loop_jit_optax():
    optax = pytest.importorskip("optax")
    n = 10
    w = cp.Variable(n)
    mu = cp.Parameter(n)       # Expected returns (learnable)
    gamma = 1.0
    Sigma = np.eye(n) * 0.1
    objective = cp.Minimize(-mu @ w + gamma * cp.quad_form(w, Sigma))
    constraints = [w >= 0, cp.sum(w) == 1]
    problem = cp.Problem(objective, constraints)
    portfolio_layer = CvxpyLayer(problem, parameters=[mu], variables=[w], solver="MOREAU")

    target_weights = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(0), (n,)))
    # The page starts from randn and uses lr=0.1. With this problem's small risk
    # term, weights react ~5x to mu: a randn start holds one or two assets, and a
    # weight at 0 has zero gradient (the solution map is flat there), so it cannot
    # learn. Start from equal weights (mu = 0) with a smaller step.
    mu_learned = jnp.zeros(n)
    optimizer = optax.adam(0.01)
    opt_state = optimizer.init(mu_learned)

    def loss_fn(mu_val):
        weights, = portfolio_layer(mu_val)
        return jnp.sum((weights - target_weights) ** 2)

    @jax.jit
    def train_step(mu_val, opt_state):
        loss, grads = jax.value_and_grad(loss_fn)(mu_val)
        updates, opt_state = optimizer.update(grads, opt_state, mu_val)
        return optax.apply_updates(mu_val, updates), opt_state, loss

    # the gradient that drives training, at the start, vs finite differences
    tight = CvxpyLayer(problem, parameters=[mu], variables=[w], solver="MOREAU", solver_args=TIGHT_ARGS)
    mu_fd = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (n,))) * 0.05
    g0 = jax.grad(loss_fn)(jnp.asarray(mu_fd))
    assert_grad_close(g0, central_fd(lambda m: jnp.sum((tight(m)[0] - target_weights) ** 2), mu_fd))

    losses = []
    for epoch in range(100):
        mu_learned, opt_state, loss = train_step(mu_learned, opt_state)
        losses.append(float(loss))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])

    weights, = portfolio_layer(mu_learned)
    (w_ref,), _ = clarabel(problem, [mu], [mu_learned], [w])
    np.testing.assert_allclose(weights, w_ref, atol=ATOL)
    assert float(loss_fn(mu_learned)) < 0.1 * losses[0]


# ---------------------------------------------------------------------------
# Warm start
# ---------------------------------------------------------------------------


def test_warm_start_uses_previous_solution():
    problem, x, q = seed_problem()
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    # cvxpylayers passes the cached (x, z, s) of the previous call to
    # moreau.jax.Solver._impl.solve_warm; record what it receives.
    inner = layer._moreau_solve_warm_fn
    assert inner is not None and inner == jax_solver(layer)._impl.solve_warm
    received = []

    def spy(P, A, qq, bb, wx, wz, ws):
        if isinstance(wx, jax.core.Tracer):  # under cvxpylayers' vmap (batched call)
            received.append(("traced", wx.shape))
        else:
            received.append(tuple(np.asarray(v) for v in (wx, wz, ws)))
        return inner(P, A, qq, bb, wx, wz, ws)

    layer._moreau_solve_warm_fn = spy

    q1 = jnp.arange(1.0, 6.0)
    x1, = layer(q1)
    assert not received  # warm_start=False: cold solve
    q2 = jnp.array([3.0, 1.0, 2.0, 5.0, 4.0])
    x2, = layer(q2, warm_start=True)
    assert len(received) == 1
    np.testing.assert_allclose(received[0][0], x1, atol=1e-12)  # previous x
    assert received[0][1].shape == received[0][2].shape == (6,)
    (x_ref,), _ = clarabel(problem, [q], [q2], [x])
    np.testing.assert_allclose(x2, x_ref, atol=ATOL)
    np.testing.assert_allclose(x2, [0, 1, 0, 0, 0], atol=ATOL)
    assert jax_solver(layer).info.status == moreau.SolverStatus.Solved

    # Same parameters again, warm: the same answer.
    x3, = layer(q2, warm_start=True)
    np.testing.assert_allclose(received[-1][0], x2, atol=1e-12)
    np.testing.assert_allclose(x3, x_ref, atol=ATOL)

    # Batched warm start (BatchedWarmStart, vmapped solve_warm).
    Q = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (8, 5)))
    X1, = layer(jnp.asarray(Q))
    cache = layer._warm_start_cache  # what the next warm call will pass
    assert isinstance(cache, moreau.BatchedWarmStart)
    np.testing.assert_allclose(cache.x, X1, atol=1e-12)
    Q2 = Q + 0.1 * np.asarray(jax.random.normal(jax.random.PRNGKey(3), (8, 5)))
    n_before = len(received)
    X2, = layer(jnp.asarray(Q2), warm_start=True)
    assert len(received) == n_before + 1 and received[-1][0] == "traced"
    X_ref, _ = clarabel_rows(problem, q, Q2, x)
    np.testing.assert_allclose(X2, X_ref, atol=ATOL)


# ---------------------------------------------------------------------------
# float32 / x64 disabled (JAX's default)
# ---------------------------------------------------------------------------


def test_seed_examples_with_x64_off():
    """The page's JAX examples written without jax_enable_x64 (every array
    float32): same answers to float32 accuracy, gradients vs float64 finite
    differences, the jit-compiled optax training step included, and
    jax_enable_x64 still False at the end (tests/python/seed_examples_x64_off.py,
    in a fresh interpreter so this process's x64 flag does not apply)."""
    pytest.importorskip("optax")
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seed_examples_x64_off.py")
    out = subprocess.run([sys.executable, script], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-4000:]
    assert out.stdout.strip().endswith("OK"), out.stdout + out.stderr[-2000:]
