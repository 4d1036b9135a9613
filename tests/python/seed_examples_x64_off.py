"""The seed page's JAX examples as a user with JAX's defaults runs them: NO
``jax.config.update("jax_enable_x64", True)``, so every array is float32.

Run by ``test_seed_examples.py::test_seed_examples_with_x64_off`` in a fresh
interpreter (the x64 flag cannot change once arrays exist). Each solution is
compared with CVXPY + Clarabel (float64) to float32 accuracy, each gradient
with float64 finite differences of Clarabel's solution (or the closed form of
the seed problem's gradient) at float32 tolerance. Prints "OK" at the end.
"""

import warnings

import numpy as np

import cvxpy as cp
import jax
import jax.numpy as jnp
import optax
from cvxpylayers.jax import CvxpyLayer

import moreau

# cvxpylayers asks for float64 zeros (b, empty P) itself; under x64 off JAX makes
# them float32 and warns. That is cvxpylayers' request, not this package's.
warnings.filterwarnings("ignore", message="Explicitly requested dtype")

assert not jax.config.jax_enable_x64
F32 = np.float32
ATOL = 1e-5            # float32 accuracy of x (the float64 solution, rounded)
G_RTOL = 2e-3          # gradients: float32 derivative vs float64 differences
CLARABEL_TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}


def seed_problem(n=5):
    x = cp.Variable(n)
    q = cp.Parameter(n)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x) + q @ x), [x >= 0, cp.sum(x) == 1])
    return problem, x, q


def clarabel(problem, params, values, var):
    for p, v in zip(params, values):
        p.value = np.asarray(v, dtype=np.float64)
    problem.solve(solver="CLARABEL", **CLARABEL_TIGHT)
    assert problem.status == cp.OPTIMAL, problem.status
    return np.array(var.value)


def clarabel_fd(problem, params, values, var, loss, which=0, h=1e-5):
    """Central differences (float64) of loss(x*(params)) in params[which]."""
    values = [np.asarray(v, dtype=np.float64) for v in values]
    g = np.zeros_like(values[which])
    for i in range(g.size):
        vals = []
        for sgn in (1.0, -1.0):
            vv = [v.copy() for v in values]
            vv[which].flat[i] += sgn * h
            vals.append(loss(clarabel(problem, params, vv, var)))
        g.flat[i] = (vals[0] - vals[1]) / (2 * h)
    return g


def close(got, want, atol=ATOL):
    got = np.asarray(got)
    assert got.dtype == F32, got.dtype
    np.testing.assert_allclose(got, want, atol=atol)


def grad_close(g, fd, rtol=G_RTOL):
    g = np.asarray(g)
    assert g.dtype == F32 and np.all(np.isfinite(g)), g
    np.testing.assert_allclose(g, fd, rtol=rtol, atol=rtol * max(1.0, float(np.abs(fd).max())))


def seed_grad_sum_sq(xs):
    """d/dq sum(x^2) for the seed problem (x = projection of -q onto the simplex):
    on the support S, dx_S/dq_S = -I + 11'/|S|; zero elsewhere."""
    g = np.zeros_like(xs)
    S = xs > 1e-4
    g[S] = -2 * xs[S] + 2.0 / S.sum()
    return g


# --- Basic usage -------------------------------------------------------------------
n = 5
problem, x, q = seed_problem(n)
layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
q_val = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
x_opt, = layer(q_val)
close(x_opt, [1, 0, 0, 0, 0])
close(x_opt, clarabel(problem, [q], [q_val], x))
g = jax.grad(lambda q: layer(q)[0].sum())(q_val)
close(g, np.zeros(n))
assert layer.ctx.solver_ctx.get_jax_solver().info.status == moreau.SolverStatus.Solved

rng = np.random.default_rng(3)
w = rng.standard_normal(n)
q0 = np.array([0.2, -0.3, 0.1, 0.5, -0.1])       # strict complementarity
gq = jax.grad(lambda q: layer(q)[0] @ jnp.asarray(w, F32))(jnp.asarray(q0, F32))
grad_close(gq, clarabel_fd(problem, [q], [q0], x, lambda xs: xs @ w))

# --- jit ---------------------------------------------------------------------------
solve = jax.jit(lambda q: layer(q)[0])
for qv in (np.arange(1.0, 6.0), np.array([3.0, 1.0, 2.0, 5.0, 4.0]), q0):
    close(solve(jnp.asarray(qv, F32)), clarabel(problem, [q], [qv], x))

# --- vmap, grad, jit(vmap(grad)) --------------------------------------------------------
q_batch = jax.random.normal(jax.random.PRNGKey(0), (64, n))
assert q_batch.dtype == F32
x_batch = jax.vmap(lambda q: layer(q)[0])(q_batch)


def loss_fn(q):
    x_opt, = layer(q)
    return jnp.sum(x_opt ** 2)


grads = jax.vmap(jax.grad(loss_fn))(q_batch)
jitted = jax.jit(jax.vmap(jax.grad(loss_fn)))(q_batch)
X_ref = np.array([clarabel(problem, [q], [row], x) for row in np.asarray(q_batch)])
close(x_batch, X_ref)
close(layer(q_batch)[0], X_ref)
close(jitted, grads, atol=1e-6)
# Closed-form gradient on rows away from a kink (every x_i > 1e-3 or clearly 0).
ok = np.all((X_ref > 1e-3) | (X_ref < 1e-7), axis=1)
assert ok.sum() >= 40, ok.sum()
grad_close(np.asarray(grads)[ok], np.array([seed_grad_sum_sq(xr) for xr in X_ref[ok]]), rtol=1e-3)
k = int(np.flatnonzero(ok)[0])
grad_close(grads[k], clarabel_fd(problem, [q], [np.asarray(q_batch[k])], x, lambda xs: np.sum(xs ** 2)))

# --- solver_args ---------------------------------------------------------------------
tuned = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU",
                   solver_args={"ipm_settings": {"tol_gap_abs": 1e-6, "tol_feas": 1e-6}})
close(tuned(q_val)[0], [1, 0, 0, 0, 0], atol=1e-4)
tuned(q_val, solver_args={"max_iter": 1})
assert tuned.ctx.solver_ctx.get_jax_solver().info.status == moreau.SolverStatus.MaxIterations

# --- multiple parameters, batched forward pass -------------------------------------------
xm = cp.Variable(n)
qm = cp.Parameter(n)
bm = cp.Parameter(1)
mproblem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(xm) + qm @ xm), [xm >= 0, cp.sum(xm) <= bm])
mlayer = CvxpyLayer(mproblem, parameters=[qm, bm], variables=[xm], solver="MOREAU")
qv, bv = np.array([-0.3, 0.4, -0.1, 0.2, 0.5]), np.array([0.3])   # sum(x) <= b active
x_opt, = mlayer(jnp.asarray(qv, F32), jnp.asarray(bv, F32))
close(x_opt, clarabel(mproblem, [qm, bm], [qv, bv], xm))
dq, db = jax.grad(lambda a, c: mlayer(a, c)[0] @ jnp.asarray(w, F32), argnums=(0, 1))(
    jnp.asarray(qv, F32), jnp.asarray(bv, F32))
grad_close(dq, clarabel_fd(mproblem, [qm, bm], [qv, bv], xm, lambda xs: xs @ w, which=0))
grad_close(db, clarabel_fd(mproblem, [qm, bm], [qv, bv], xm, lambda xs: xs @ w, which=1))

b_val = jnp.array([1.0])
qb = jax.random.normal(jax.random.PRNGKey(1), (32, n))
x_b, = mlayer(qb, b_val)
assert x_b.shape == (32, n)
close(x_b, np.array([clarabel(mproblem, [qm, bm], [row, b_val], xm) for row in np.asarray(qb)]))
q_grad = jax.grad(lambda Q: mlayer(Q, b_val)[0].sum())(qb)
assert q_grad.shape == (32, n) and q_grad.dtype == F32 and np.all(np.isfinite(q_grad))

# --- training loop: jit-compiled optax step ----------------------------------------------
m_ = 10
wv = cp.Variable(m_)
mu = cp.Parameter(m_)
pproblem = cp.Problem(cp.Minimize(-mu @ wv + cp.quad_form(wv, np.eye(m_) * 0.1)), [wv >= 0, cp.sum(wv) == 1])
portfolio = CvxpyLayer(pproblem, parameters=[mu], variables=[wv], solver="MOREAU")
target = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(0), (m_,)))
optimizer = optax.adam(0.01)
mu_learned = jnp.zeros(m_)
opt_state = optimizer.init(mu_learned)


def ploss(mu_val):
    weights, = portfolio(mu_val)
    return jnp.sum((weights - target) ** 2)


@jax.jit
def train_step(mu_val, opt_state):
    loss, grads = jax.value_and_grad(ploss)(mu_val)
    updates, opt_state = optimizer.update(grads, opt_state, mu_val)
    return optax.apply_updates(mu_val, updates), opt_state, loss


mu_fd = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (m_,))) * 0.05
t64 = np.asarray(target, np.float64)
grad_close(jax.grad(ploss)(jnp.asarray(mu_fd)),
           clarabel_fd(pproblem, [mu], [mu_fd], wv, lambda ws: np.sum((ws - t64) ** 2)))
losses = []
for _ in range(100):
    mu_learned, opt_state, loss = train_step(mu_learned, opt_state)
    losses.append(float(loss))
assert mu_learned.dtype == F32 and all(np.isfinite(losses))
assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
close(portfolio(mu_learned)[0], clarabel(pproblem, [mu], [mu_learned], wv))

# --- warm start ------------------------------------------------------------------------
q2 = jnp.array([3.0, 1.0, 2.0, 5.0, 4.0])
layer(q_val)
x2, = layer(q2, warm_start=True)
close(x2, [0, 1, 0, 0, 0])
Q = jax.random.normal(jax.random.PRNGKey(2), (8, n))
layer(Q)
Q2 = Q + 0.1 * jax.random.normal(jax.random.PRNGKey(3), (8, n))
X2, = layer(Q2, warm_start=True)
close(X2, np.array([clarabel(problem, [q], [row], x) for row in np.asarray(Q2)]))

assert jax.config.jax_enable_x64 is False
print("OK")
