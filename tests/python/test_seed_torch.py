"""The PyTorch examples of the seed page ("cvxpylayers Integration", Moreau docs), as
a user would paste them: ``cvxpylayers.torch.CvxpyLayer(..., solver="MOREAU")``.

Each example's code is kept as on the page (between the ``--- as on the page``
markers; only a fixed ``torch.manual_seed`` before it), then checked: every
solution against CVXPY + Clarabel on the same parameter values (1e-6), every
gradient against central finite differences of a tightly solved layer and
``torch.autograd.gradcheck`` (float64), at points where the active set is strict
(finite differences cross no kink there). Skipped when torch is not installed.
"""

import numpy as np
import pytest

cp = pytest.importorskip("cvxpy")
pytest.importorskip("cvxpylayers")
torch = pytest.importorskip("torch")

import torch.nn as nn  # noqa: E402,F401  (the page imports it)
from cvxpylayers.torch import CvxpyLayer  # noqa: E402

import moreau  # noqa: E402

ATOL = 1e-6
TIGHT_ARGS = {"ipm_settings": {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11}}
CLARABEL_TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
FD_H = 1e-5
FD_RTOL = 1e-5


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def seed_problem(n=5):
    x = cp.Variable(n)
    q = cp.Parameter(n)
    objective = cp.Minimize(0.5 * cp.sum_squares(x) + q @ x)
    constraints = [x >= 0, cp.sum(x) == 1]
    return cp.Problem(objective, constraints), x, q


def multi_param_problem(n=5):
    x = cp.Variable(n)
    q = cp.Parameter(n)
    b = cp.Parameter(1)
    objective = cp.Minimize(0.5 * cp.sum_squares(x) + q @ x)
    constraints = [x >= 0, cp.sum(x) <= b]
    return cp.Problem(objective, constraints), x, q, b


def clarabel(problem, params, vals, variables):
    """Variables' values and the dual of constraint 0 from CVXPY + Clarabel."""
    for p, v in zip(params, vals):
        p.value = np.asarray(v.detach().numpy() if torch.is_tensor(v) else v, dtype=np.float64)
    problem.solve(solver="CLARABEL", **CLARABEL_TIGHT)
    assert problem.status == cp.OPTIMAL, problem.status
    return [np.array(v.value) for v in variables], np.array(problem.constraints[0].dual_value)


def central_fd(f, p0, h=FD_H):
    """Central differences of a scalar torch function f at p0 (any shape)."""
    p0 = torch.as_tensor(p0, dtype=torch.float64).detach()
    g = torch.zeros_like(p0)
    with torch.no_grad():
        for idx in np.ndindex(tuple(p0.shape)):
            e = torch.zeros_like(p0)
            e[idx] = h
            g[idx] = (float(f(p0 + e)) - float(f(p0 - e))) / (2 * h)
    return g.numpy()


def assert_grad_close(g, fd, rtol=FD_RTOL):
    g = g.detach().numpy() if torch.is_tensor(g) else np.asarray(g)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, fd, rtol=rtol, atol=rtol * max(1.0, float(np.abs(fd).max())))


def strict(x, lam, margin=1e-3):
    """Each x_i > 0 or its multiplier > 0 by a margin (no kink nearby)."""
    return np.min(np.maximum(x, lam), axis=-1) > margin


def torch_solver(layer):
    """The moreau.torch.Solver cvxpylayers built for this layer."""
    return layer.ctx.solver_ctx.get_torch_solver("cpu")


# ---------------------------------------------------------------------------
# Basic Usage
# ---------------------------------------------------------------------------


def test_basic_usage():
    torch.manual_seed(0)
    # --- as on the page -------------------------------------------------------
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
    print(f"Gradient dL/dq: {q_val.grad}")
    # ---------------------------------------------------------------------------
    assert x_opt.shape == (n,) and x_opt.dtype == torch.float64
    (x_ref,), _ = clarabel(problem, [q], [q_val], [x])
    np.testing.assert_allclose(x_opt.detach().numpy(), x_ref, atol=ATOL)
    assert torch_solver(layer).info.status == [moreau.SolverStatus.Solved]  # cvxpylayers passes a batch of 1
    # sum(x) == 1 on the feasible set: the gradient of sum(x) is 0
    assert torch.isfinite(q_val.grad).all()
    np.testing.assert_allclose(q_val.grad.numpy(), np.zeros(n), atol=1e-8)

    # the page's JAX value q = 1..5 gives x = e_0 (CVXPY 1.9's direct cones kept as rows)
    x_opt, = layer(torch.arange(1.0, 6.0, dtype=torch.float64))
    np.testing.assert_allclose(x_opt.detach().numpy(), [1, 0, 0, 0, 0], atol=ATOL)


def test_basic_usage_gradients_fd_and_gradcheck():
    problem, x, q = seed_problem()
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    tight = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU", solver_args=TIGHT_ARGS)
    rng = np.random.default_rng(3)
    w = torch.tensor(rng.standard_normal(5))
    checked = 0
    for _ in range(8):
        q0 = torch.tensor(0.5 * rng.standard_normal(5))
        (x_ref,), lam = clarabel(problem, [q], [q0], [x])
        x_opt, = layer(q0)
        np.testing.assert_allclose(x_opt.detach().numpy(), x_ref, atol=ATOL)
        if not strict(x_ref, lam):
            continue
        for loss in (lambda q: tight(q)[0] @ w, lambda q: (tight(q)[0] ** 2).sum()):
            qv = q0.clone().requires_grad_(True)
            loss(qv).backward()
            assert_grad_close(qv.grad, central_fd(loss, q0))
            assert torch.autograd.gradcheck(loss, (q0.clone().requires_grad_(True),), eps=1e-6, atol=1e-5)
        checked += 1
    assert checked >= 3


# ---------------------------------------------------------------------------
# Training Loop
# ---------------------------------------------------------------------------


def test_training_loop():
    # Seed 1: the initial portfolio has two assets. (From most seeds, e.g. 0, the
    # solution is a vertex of the simplex, where w(mu) is locally constant: the
    # exact gradient is 0 and no solver's Adam steps move -- cvxpylayers' default
    # diffcp backend gives the same loss curves as this one.)
    torch.manual_seed(1)
    # --- as on the page -------------------------------------------------------
    # Parametric portfolio problem
    n = 10
    w = cp.Variable(n)
    mu = cp.Parameter(n)       # Expected returns (learnable)
    gamma = 1.0

    Sigma = torch.eye(n, dtype=torch.float64) * 0.1

    objective = cp.Minimize(-mu @ w + gamma * cp.quad_form(w, Sigma.numpy()))
    constraints = [w >= 0, cp.sum(w) == 1]
    problem = cp.Problem(objective, constraints)

    portfolio_layer = CvxpyLayer(
        problem, parameters=[mu], variables=[w], solver="MOREAU"
    )

    # Learn expected returns to match target weights
    target_weights = torch.softmax(torch.randn(n, dtype=torch.float64), dim=0)
    mu_learned = torch.randn(n, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([mu_learned], lr=0.1)

    losses = []
    for epoch in range(100):
        optimizer.zero_grad()
        weights, = portfolio_layer(mu_learned)
        loss = torch.sum((weights - target_weights) ** 2)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

        if epoch % 20 == 0:
            print(f"Epoch {epoch}: loss = {loss.item():.6f}")
    # ---------------------------------------------------------------------------
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0], (losses[0], losses[-1])
    # the layer's answer at the learned mu is CVXPY + Clarabel's
    weights, = portfolio_layer(mu_learned.detach())
    (w_ref,), lam = clarabel(problem, [mu], [mu_learned], [w])
    np.testing.assert_allclose(weights.detach().numpy(), w_ref, atol=ATOL)

    # the gradient the loop used, at the learned point, against finite differences
    tight = CvxpyLayer(problem, parameters=[mu], variables=[w], solver="MOREAU", solver_args=TIGHT_ARGS)
    f = lambda m: torch.sum((tight(m)[0] - target_weights) ** 2)  # noqa: E731
    rng = np.random.default_rng(5)
    for mu0 in [mu_learned.detach()] + [torch.tensor(rng.standard_normal(n)) for _ in range(3)]:
        (w_ref,), lam = clarabel(problem, [mu], [mu0], [w])
        if not strict(w_ref, lam):
            continue
        m = mu0.clone().requires_grad_(True)
        f(m).backward()
        assert_grad_close(m.grad, central_fd(f, mu0))


# ---------------------------------------------------------------------------
# Multiple Parameters
# ---------------------------------------------------------------------------


def test_multiple_parameters():
    torch.manual_seed(0)
    # --- as on the page -------------------------------------------------------
    n = 5
    x = cp.Variable(n)
    q = cp.Parameter(n)
    b = cp.Parameter(1)

    objective = cp.Minimize(0.5 * cp.sum_squares(x) + q @ x)
    constraints = [x >= 0, cp.sum(x) <= b]
    problem = cp.Problem(objective, constraints)

    layer = CvxpyLayer(problem, parameters=[q, b], variables=[x], solver="MOREAU")

    q_val = torch.randn(n, dtype=torch.float64, requires_grad=True)
    b_val = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    x_opt, = layer(q_val, b_val)

    x_opt.sum().backward()
    print(f"dL/dq: {q_val.grad}")
    print(f"dL/db: {b_val.grad}")
    # ---------------------------------------------------------------------------
    (x_ref,), _ = clarabel(problem, [q, b], [q_val, b_val], [x])
    np.testing.assert_allclose(x_opt.detach().numpy(), x_ref, atol=ATOL)
    assert q_val.grad.shape == (n,) and b_val.grad.shape == (1,)

    tight = CvxpyLayer(problem, parameters=[q, b], variables=[x], solver="MOREAU", solver_args=TIGHT_ARGS)
    rng = np.random.default_rng(11)
    wv = torch.tensor(rng.standard_normal(n))
    f64 = dict(dtype=torch.float64)
    cases = [(q_val.detach(), b_val.detach()),                                      # the page's point
             (torch.tensor(rng.standard_normal(n)), torch.tensor([1.0], **f64)),         # sum(x) <= b active
             (torch.tensor([-0.3, 0.4, -0.1, 0.2, 0.5], **f64), torch.tensor([2.0], **f64))]  # inactive
    checked = 0
    for q0, b0 in cases:
        (x_ref,), lam = clarabel(problem, [q, b], [q0, b0], [x])
        np.testing.assert_allclose(layer(q0, b0)[0].detach().numpy(), x_ref, atol=ATOL)
        if not strict(x_ref, lam):
            continue
        for loss_of_x in (lambda xx: xx.sum(), lambda xx: xx @ wv):
            qv, bv = q0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
            loss_of_x(tight(qv, bv)[0]).backward()
            assert_grad_close(qv.grad, central_fd(lambda t: loss_of_x(tight(t, b0)[0]), q0))
            assert_grad_close(bv.grad, central_fd(lambda t: loss_of_x(tight(q0, t)[0]), b0))
            assert torch.autograd.gradcheck(lambda a, c: loss_of_x(tight(a, c)[0]),
                                            (q0.clone().requires_grad_(True), b0.clone().requires_grad_(True)),
                                            eps=1e-6, atol=1e-5)
        checked += 1
    assert checked >= 2


# ---------------------------------------------------------------------------
# Batched Forward Pass
# ---------------------------------------------------------------------------


def test_batched_forward_pass():
    torch.manual_seed(0)
    n = 5
    problem, x, q, b = multi_param_problem(n)
    layer = CvxpyLayer(problem, parameters=[q, b], variables=[x], solver="MOREAU")
    b_val = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    # --- as on the page (the layer of "Multiple Parameters": q batched, b shared) --
    batch_size = 32
    q_batch = torch.randn(batch_size, n, dtype=torch.float64, requires_grad=True)

    # Each problem in the batch gets a different q
    x_batch, = layer(q_batch, b_val)
    print(x_batch.shape)  # (32, 5)

    loss = x_batch.sum()
    loss.backward()
    print(q_batch.grad.shape)  # (32, 5)
    # ---------------------------------------------------------------------------
    assert x_batch.shape == (32, 5) and q_batch.grad.shape == (32, 5)
    info = torch_solver(layer).info
    assert info.status == [moreau.SolverStatus.Solved] * 32  # one batched call
    X_ref, LAM = [], []
    for row in q_batch.detach():
        (xr,), lam = clarabel(problem, [q, b], [row, b_val], [x])
        X_ref.append(xr)
        LAM.append(lam)
    X_ref, LAM = np.array(X_ref), np.array(LAM)
    np.testing.assert_allclose(x_batch.detach().numpy(), X_ref, atol=ATOL)

    # row-wise central differences (coordinate j perturbed in all rows at once)
    tight = CvxpyLayer(problem, parameters=[q, b], variables=[x], solver="MOREAU", solver_args=TIGHT_ARGS)
    Q = q_batch.detach()
    fd = np.zeros((32, n))
    with torch.no_grad():
        for j in range(n):
            E = torch.zeros_like(Q)
            E[:, j] = FD_H
            fd[:, j] = ((tight(Q + E, b_val.detach())[0].sum(1) - tight(Q - E, b_val.detach())[0].sum(1))
                        / (2 * FD_H)).numpy()
    Qg = Q.clone().requires_grad_(True)
    tight(Qg, b_val.detach())[0].sum().backward()
    ok = strict(X_ref, LAM)
    assert ok.sum() >= 8, ok.sum()
    assert torch.isfinite(Qg.grad).all()
    assert_grad_close(Qg.grad.numpy()[ok], fd[ok])
    # the shared b's gradient is the sum over the batch
    np.testing.assert_allclose(float(b_val.grad), float(
        sum(torch.autograd.grad(layer(Q[i], b_val)[0].sum(), b_val)[0] for i in range(32))), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# float32, warm start, solver_args
# ---------------------------------------------------------------------------


def test_float32_parameters():
    problem, x, q = seed_problem()
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    q32 = torch.tensor([0.3, -0.2, 0.1, 0.5, -0.4], dtype=torch.float32, requires_grad=True)
    x_opt, = layer(q32)
    (x_ref,), _ = clarabel(problem, [q], [q32.detach().double()], [x])
    np.testing.assert_allclose(x_opt.detach().double().numpy(), x_ref, atol=1e-5)
    (x_opt ** 2).sum().backward()
    assert q32.grad.dtype == torch.float32 and torch.isfinite(q32.grad).all()
    q64 = q32.detach().double().requires_grad_(True)
    (layer(q64)[0] ** 2).sum().backward()
    np.testing.assert_allclose(q32.grad.numpy(), q64.grad.numpy(), atol=1e-5)


def test_warm_start_through_the_layer():
    problem, x, q = seed_problem()
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU")
    Q = torch.randn(16, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    layer(Q)
    Q2 = Q + 0.01
    cold, = layer(Q2)
    warm, = layer(Q2, warm_start=True)
    np.testing.assert_allclose(warm.detach().numpy(), cold.detach().numpy(), atol=1e-6)
    Qg = Q2.clone().requires_grad_(True)
    layer(Qg, warm_start=True)[0].square().sum().backward()
    assert torch.isfinite(Qg.grad).all()
    # a different batch size: the cached warm start is skipped silently
    np.testing.assert_allclose(layer(Q2[:3], warm_start=True)[0].detach().numpy(), cold[:3].detach().numpy(), atol=1e-6)


def test_solver_args_per_call_are_applied_and_restored():
    problem, x, q = seed_problem()
    layer = CvxpyLayer(problem, parameters=[q], variables=[x], solver="MOREAU",
                       solver_args={"ipm_settings": {"tol_gap_abs": 1e-6, "tol_feas": 1e-6}})
    q_val = torch.tensor([0.3, -0.2, 0.1, 0.5, -0.4], dtype=torch.float64)
    (x_ref,), _ = clarabel(problem, [q], [q_val], [x])
    np.testing.assert_allclose(layer(q_val)[0].detach().numpy(), x_ref, atol=1e-5)
    solver = torch_solver(layer)
    assert solver._settings.ipm_settings.tol_gap_abs == 1e-6
    layer(q_val, solver_args={"max_iter": 1})
    assert solver.info.status == [moreau.SolverStatus.MaxIterations]
    assert solver._settings.max_iter == 200   # cvxpylayers.torch restores it
    x_opt, = layer(q_val, solver_args={"ipm_settings": {"tol_gap_abs": 1e-4, "direct_solve_method": "qdldl"}})
    np.testing.assert_allclose(x_opt.detach().numpy(), x_ref, atol=1e-4)
    if not moreau.device_available("cuda"):
        with pytest.raises(RuntimeError, match="cuda"):
            layer(q_val, solver_args={"device": "cuda"})
        np.testing.assert_allclose(layer(q_val)[0].detach().numpy(), x_ref, atol=1e-5)
