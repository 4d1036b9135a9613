"""Quickstart: a CVXPY problem as a differentiable JAX layer (cvxpylayers + MOREAU).

    minimize    1/2 ||x||^2 + q'x
    subject to  x >= 0,  sum(x) == 1          (q is a cp.Parameter)

At q = (1, 2, 3, 4, 5) the answer is x = (1, 0, 0, 0, 0): all weight on the
cheapest coordinate. The layer solves it with moreau-jax's Rust solver through
XLA FFI custom calls, under jax.grad, jax.vmap and jax.jit.
(The same example as the "JAX" section of the cvxpylayers integration page.)
"""

import warnings

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
from cvxpylayers.jax import CvxpyLayer

# JAX's defaults (jax_enable_x64 off): float32 arrays in, float32 answers out; the
# solver computes in float64 inside. cvxpylayers itself asks JAX for float64 zeros,
# which JAX turns into float32 with a warning: harmless, silenced here.
warnings.filterwarnings("ignore", message="Explicitly requested dtype float64")

# 1. Define the parametric problem
n = 5
x = cp.Variable(n)
q = cp.Parameter(n)
objective = cp.Minimize(0.5 * cp.sum_squares(x) + q @ x)
constraints = [x >= 0, cp.sum(x) == 1]
problem = cp.Problem(objective, constraints)

# 2. Create the differentiable layer
layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")

# 3. Solve and differentiate
q_val = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
x_opt, = layer(q_val)
print("x:", np.round(np.asarray(x_opt), 6) + 0.0)


def solve(q):
    x_opt, = layer(q)
    return x_opt.sum()


grad = jax.grad(solve)(q_val)
print("gradient of sum(x):", np.round(np.asarray(grad), 6) + 0.0)  # sum(x) == 1: zero

# 4. A batch of problems with jax.vmap (one native call for the whole batch)
q_batch = jax.random.normal(jax.random.PRNGKey(0), (64, n))
x_batch = jax.vmap(lambda q: layer(q)[0])(q_batch)
print("vmap:", x_batch.shape)


def loss_fn(q):
    x_opt, = layer(q)
    return jnp.sum(x_opt ** 2)


# 5. Compiled: jit(vmap(grad)) -- per-problem gradients of the batch
grads = jax.jit(jax.vmap(jax.grad(loss_fn)))(q_batch)
print("jit(vmap(grad)):", grads.shape)

# Checks (the same problem solved by CVXPY with Clarabel)
assert x_opt.dtype == jnp.float32 and not jax.config.jax_enable_x64
np.testing.assert_allclose(x_opt, [1.0, 0.0, 0.0, 0.0, 0.0], atol=1e-5)
assert np.all(np.isfinite(grad)) and np.allclose(grad, 0.0, atol=1e-6)
q.value = np.asarray(q_batch[0])
problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
np.testing.assert_allclose(x_batch[0], x.value, atol=1e-5)
assert np.all(np.isfinite(grads))
print("OK")
