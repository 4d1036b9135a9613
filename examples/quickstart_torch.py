"""Quickstart: a CVXPY problem as a differentiable PyTorch layer (cvxpylayers + MOREAU).

    minimize    1/2 ||x||^2 + q'x
    subject to  x >= 0,  sum(x) == 1          (q is a cp.Parameter)

The "PyTorch / Basic Usage" and "Batched Forward Pass" examples of the cvxpylayers
integration page. The layer solves with moreau-jax's Rust solver (moreau.torch,
a torch.library custom op); backward is the Rust VJP. At q = (1, 2, 3, 4, 5) the
answer is x = (1, 0, 0, 0, 0).
"""

import cvxpy as cp
import numpy as np
import torch
from cvxpylayers.torch import CvxpyLayer

torch.manual_seed(0)

# 1. Define parametric problem
n = 5
x = cp.Variable(n)
q = cp.Parameter(n)

objective = cp.Minimize(0.5 * cp.sum_squares(x) + q @ x)
constraints = [x >= 0, cp.sum(x) == 1]
problem = cp.Problem(objective, constraints)

# 2. Create differentiable layer
layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")

# 3. Solve with PyTorch tensors
q_val = torch.randn(n, dtype=torch.float64, requires_grad=True)
x_opt, = layer(q_val)

# 4. Backpropagate
loss = x_opt.sum()
loss.backward()
print(f"Gradient dL/dq: {q_val.grad}")          # sum(x) == 1: zero

# The page's JAX value q = 1..5
x_e0, = layer(torch.arange(1.0, 6.0, dtype=torch.float64))
print("x at q = 1..5:", np.round(x_e0.detach().numpy(), 6) + 0.0)

# Batched Forward Pass: one native call for the whole batch
batch_size = 32
q_batch = torch.randn(batch_size, n, dtype=torch.float64, requires_grad=True)
x_batch, = layer(q_batch)
print(x_batch.shape)  # (32, 5)
x_batch.square().sum().backward()
print(q_batch.grad.shape)  # (32, 5)

# Checks (the same problem solved by CVXPY with Clarabel)
np.testing.assert_allclose(x_e0.detach().numpy(), [1.0, 0.0, 0.0, 0.0, 0.0], atol=1e-6)
assert torch.allclose(q_val.grad, torch.zeros(n, dtype=torch.float64), atol=1e-8)
q.value = q_batch[0].detach().numpy()
problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
np.testing.assert_allclose(x_batch[0].detach().numpy(), x.value, atol=1e-6)
assert torch.isfinite(q_batch.grad).all()
print("OK")
