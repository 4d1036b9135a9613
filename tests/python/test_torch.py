"""moreau.torch.Solver: the Rust solve and VJP as torch custom ops.

Solutions are checked against Clarabel / known optima, gradients against central
finite differences, ``torch.autograd.gradcheck`` and the NumPy API's backward
(same Rust kernels); also batching, float32, warm start, settings changes,
failed elements, devices, ``torch.compile(fullgraph=True)`` and the GIL.
Skipped as a whole only when torch is not installed.
"""

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

import moreau  # noqa: E402
import moreau.torch  # noqa: E402
from problems import batch_same_pattern, moreau_cones, random_feasible, solve_clarabel  # noqa: E402

TIGHT = moreau.IPMSettings(tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
F64 = torch.float64


def csr_tensors(M):
    M = sp.csr_matrix(M)
    M.sort_indices()
    return torch.tensor(M.indptr, dtype=torch.int64), torch.tensor(M.indices, dtype=torch.int64)


def make_solver(prob, settings=None):
    Pip, Pix = csr_tensors(prob["P"])
    Aip, Aix = csr_tensors(prob["A"])
    return moreau.torch.Solver(
        prob["n"], prob["m"], Pip, Pix, Aip, Aix, moreau_cones(prob["cones"]),
        settings if settings is not None else moreau.Settings(ipm_settings=TIGHT.copy()),
    )


def values(prob, dtype=F64, grad=True):
    P = sp.csr_matrix(prob["P"]); P.sort_indices()
    A = sp.csr_matrix(prob["A"]); A.sort_indices()
    out = [torch.tensor(v, dtype=dtype) for v in (P.data, A.data, prob["q"], prob["b"])]
    return [t.requires_grad_(grad) for t in out]


def seed_prob():
    n = 5
    P = sp.eye(n, format="csr")
    A = sp.vstack([sp.csr_matrix(np.ones((1, n))), -sp.eye(n)], format="csr")
    return dict(n=n, m=n + 1, P=P, A=A, q=np.arange(1.0, n + 1.0), b=np.r_[1.0, np.zeros(n)],
                cones={"zero": 1, "nonneg": n})


def loss_of(sol, wx, wz, ws):
    return (sol.x * wx).sum() + (sol.z * wz).sum() + (sol.s * ws).sum()


# ---------------------------------------------------------------------------
# imports
# ---------------------------------------------------------------------------


def test_import_moreau_stays_torch_free_and_torch_available():
    r = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys, moreau
        assert "torch" not in sys.modules, "import moreau imported torch"
        assert moreau.torch_available() is True
        assert "torch" not in sys.modules, "torch_available() imported torch"
        print("ok")
    """)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert moreau.torch_available() is True
    assert "torch" in sys.modules and moreau.torch.Solver   # (imported at the top)


# ---------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------


def test_seed_qp_solution_and_info():
    prob = seed_prob()
    solver = make_solver(prob)
    P, A, q, b = values(prob, grad=False)
    sol = solver.solve(P, A, q, b)
    assert isinstance(sol, moreau.torch.TorchSolution)
    assert sol.x.shape == (5,) and sol.z.shape == (6,) and sol.s.shape == (6,) and sol.x.dtype == F64
    np.testing.assert_allclose(sol.x.numpy(), [1, 0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(sol.z.numpy(), [-2, 0, 0, 1, 2, 3], atol=1e-6)
    info = solver.info
    assert info.status == moreau.SolverStatus.Solved
    assert abs(float(info.obj_val) - 1.5) < 1e-8 and int(info.iterations) > 0 and info.solve_time > 0


@pytest.mark.parametrize("family,seed", [("qp", 1), ("socp", 2), ("exp", 3), ("pow", 4), ("mixed", 5)])
def test_solution_matches_clarabel(family, seed):
    prob = random_feasible(family, 40 + seed, n=8)
    solver = make_solver(prob)
    sol = solver.solve(*values(prob, grad=False))
    ref = solve_clarabel(prob)
    # At TIGHT (1e-11) the last digits are at the limit of float64: either factor
    # (dense or sparse KKT) may stop at the reduced tolerances; the answer is checked below.
    assert solver.info.status in (moreau.SolverStatus.Solved, moreau.SolverStatus.AlmostSolved)
    np.testing.assert_allclose(sol.x.numpy(), ref["x"], atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(float(solver.info.obj_val), ref["obj"], rtol=1e-7, atol=1e-7)


def test_two_step_setup_then_solve_and_argument_errors():
    prob = seed_prob()
    solver = make_solver(prob)
    P, A, q, b = values(prob, grad=False)
    with pytest.raises(RuntimeError, match="setup\\(\\) must be called"):
        solver.solve(q, b)
    with pytest.raises(TypeError, match="solve\\(\\) takes 2 or 4 arguments"):
        solver.solve(q)
    solver.setup(P, A)
    np.testing.assert_allclose(solver.solve(q, b).x.numpy(), [1, 0, 0, 0, 0], atol=1e-6)
    with pytest.raises(ValueError, match="q has shape \\(4,\\)"):
        solver.solve(q[:4], b)
    with pytest.raises(ValueError, match="batch size"):
        solver.solve(P, A, q.expand(3, 5), b.expand(2, 6))
    with pytest.raises(TypeError, match="torch.Tensor"):
        solver.solve(P, A, q.numpy(), b)


# ---------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------


def central_fd(f, args, k, h=1e-6):
    """d f / d args[k] by central differences (f: list of float64 tensors -> float)."""
    base = [a.detach().clone() for a in args]
    g = torch.zeros_like(base[k])
    flat = g.view(-1)
    for i in range(flat.numel()):
        plus = [a.clone() for a in base]
        minus = [a.clone() for a in base]
        plus[k].view(-1)[i] += h
        minus[k].view(-1)[i] -= h
        flat[i] = (f(plus) - f(minus)) / (2 * h)
    return g


@pytest.mark.parametrize("family,seed", [("qp", 11), ("lp", 12), ("qp", 13)])
def test_gradients_match_finite_differences(family, seed):
    """Central differences of the solve (QP / LP: accurate solutions at tight
    tolerances, so FD quotients are accurate to ~1e-7)."""
    prob = random_feasible(family, 70 + seed, n=6)
    solver = make_solver(prob)
    rng = np.random.default_rng(seed)
    wx, wz, ws = (torch.tensor(rng.standard_normal(d)) for d in (prob["n"], prob["m"], prob["m"]))
    args = values(prob)
    loss = loss_of(solver.solve(*args), wx, wz, ws)
    assert solver.info.status == moreau.SolverStatus.Solved
    loss.backward()

    def f(vals):
        with torch.no_grad():
            return float(loss_of(solver.solve(*vals), wx, wz, ws))

    for k, name in enumerate(("P_values", "A_values", "q", "b")):
        if args[k].numel() == 0:   # an LP: P has no entries
            continue
        fd = central_fd(f, args, k, h=1e-5)
        scale = max(1.0, float(fd.abs().max()))
        np.testing.assert_allclose(args[k].grad.numpy(), fd.numpy(), atol=1e-5 * scale, err_msg=name)


@pytest.mark.parametrize("family,seed", [("qp", 21), ("socp", 22), ("exp", 23), ("pow", 24), ("mixed", 25)])
def test_gradients_are_the_numpy_backward(family, seed):
    """Through x, z and s, every cone family: the same Rust VJP as
    CompiledSolver.backward (checked against polished finite differences in
    test_derivatives.py), to round-off; Solver.backward() too."""
    prob = random_feasible(family, 70 + seed, n=6)
    solver = make_solver(prob)
    rng = np.random.default_rng(seed)
    wx, wz, ws = (torch.tensor(rng.standard_normal(d)) for d in (prob["n"], prob["m"], prob["m"]))
    args = values(prob)
    loss_of(solver.solve(*args), wx, wz, ws).backward()
    grads = [a.grad for a in args]
    P = sp.csr_matrix(prob["P"]); A = sp.csr_matrix(prob["A"])
    cs = moreau.CompiledSolver(prob["n"], prob["m"], P.indptr, P.indices, A.indptr, A.indices,
                               moreau_cones(prob["cones"]),
                               moreau.Settings(enable_grad=True, ipm_settings=TIGHT.copy()))
    cs.setup(P.data, A.data)
    cs.solve(prob["q"][None], prob["b"][None])
    ref = cs.backward(wx.numpy()[None], wz.numpy()[None], ws.numpy()[None])
    for k, key in enumerate(("dP_values", "dA_values", "dq", "db")):
        np.testing.assert_allclose(grads[k].numpy(), ref[key][0], rtol=1e-9, atol=1e-11, err_msg=key)
    # the explicit Solver.backward() gives the same (order of the official API)
    dP, dq, dA, db = solver.backward(wx, wz, ws)
    for got, want in ((dP, grads[0]), (dA, grads[1]), (dq, grads[2]), (db, grads[3])):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14)


def test_gradcheck_float64():
    prob = random_feasible("qp", 123, n=4)
    solver = make_solver(prob)
    P0, A0, q0, b0 = values(prob)
    rng = np.random.default_rng(0)
    wx = torch.tensor(rng.standard_normal(prob["n"]))
    wz = torch.tensor(rng.standard_normal(prob["m"]))

    def f(P, A, q, b):
        sol = solver.solve(P, A, q, b)
        return (sol.x * wx).sum() + (sol.z * wz).sum()

    assert torch.autograd.gradcheck(f, (P0, A0, q0, b0), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_upper_triangular_P_pattern_gives_the_same_solution_and_symmetric_gradient():
    prob = random_feasible("qp", 9, n=6)
    full = make_solver(prob)
    U = sp.triu(sp.csr_matrix(prob["P"]), format="csr"); U.sort_indices()
    A = sp.csr_matrix(prob["A"]); A.sort_indices()
    upper = moreau.torch.Solver(prob["n"], prob["m"], *csr_tensors(U), *csr_tensors(A),
                                moreau_cones(prob["cones"]), moreau.Settings(ipm_settings=TIGHT.copy()))
    P, Av, q, b = values(prob)
    Pu = torch.tensor(U.data, requires_grad=True)
    x_full = full.solve(P, Av, q, b).x
    x_up = upper.solve(Pu, Av, q, b).x
    np.testing.assert_allclose(x_up.detach().numpy(), x_full.detach().numpy(), atol=1e-10)
    w = torch.linspace(-1, 1, prob["n"], dtype=F64)
    (x_full @ w).backward()
    (x_up @ w).backward()
    # gradient wrt an upper entry = sum of the gradients of its two full-pattern entries
    Pf = sp.csr_matrix(prob["P"]); Pf.sort_indices()
    G = sp.csr_matrix((P.grad.numpy(), Pf.indices, Pf.indptr), shape=Pf.shape).toarray()
    Gsym = np.triu(G + G.T - np.diag(np.diag(G)))
    r, c = U.nonzero()
    np.testing.assert_allclose(Pu.grad.numpy(), Gsym[r, c], rtol=1e-8, atol=1e-10)


def test_unsorted_patterns_give_gradients_in_the_callers_order():
    prob = random_feasible("qp", 5, n=6)
    P = sp.csr_matrix(prob["P"]); P.sort_indices()
    A = sp.csr_matrix(prob["A"]); A.sort_indices()
    rng = np.random.default_rng(2)

    def shuffled(M):
        # the same matrix with the entries of each row stored in a random order
        perm = np.concatenate([M.indptr[r] + rng.permutation(M.indptr[r + 1] - M.indptr[r])
                               for r in range(M.shape[0])]).astype(np.int64)
        return torch.tensor(M.indptr), torch.tensor(M.indices[perm]), perm

    Pip, Pix, Pperm = shuffled(P)
    Aip, Aix, Aperm = shuffled(A)
    assert not np.array_equal(Aperm, np.arange(A.nnz))
    cones = moreau_cones(prob["cones"])
    ref = make_solver(prob)
    mixed = moreau.torch.Solver(prob["n"], prob["m"], Pip, Pix, Aip, Aix, cones,
                                moreau.Settings(ipm_settings=TIGHT.copy()))
    Pv, Av, q, b = values(prob)
    Pu = torch.tensor(P.data[Pperm], requires_grad=True)
    Au = torch.tensor(A.data[Aperm], requires_grad=True)
    w = torch.linspace(-1, 1, prob["n"], dtype=F64)
    x_ref = ref.solve(Pv, Av, q, b).x
    x_mix = mixed.solve(Pu, Au, q.detach(), b.detach()).x
    np.testing.assert_allclose(x_mix.detach().numpy(), x_ref.detach().numpy(), atol=1e-10)
    (x_ref @ w).backward()
    (x_mix @ w).backward()
    np.testing.assert_allclose(Pu.grad.numpy(), Pv.grad.numpy()[Pperm], rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(Au.grad.numpy(), Av.grad.numpy()[Aperm], rtol=1e-8, atol=1e-11)
    dP, dq, dA, db = mixed.backward(w)
    np.testing.assert_allclose(dA.numpy(), Au.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dP.numpy(), Pu.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_plus_inf_in_b_is_an_absent_bound_other_infinities_raise():
    prob = seed_prob()
    solver = make_solver(prob)
    P, A, q, b = values(prob, grad=False)
    q = torch.tensor([-1.0, 2.0, 3.0, 4.0, 5.0], requires_grad=True)
    b_inf = b.clone()
    b_inf[1] = float("inf")       # drop x_0 >= 0
    sol = solver.solve(P, A, q, b_inf)
    assert solver.info.status == moreau.SolverStatus.Solved
    # min 1/2||x||^2 + q'x, sum(x) = 1, x_1..4 >= 0: x = e_0 still (x_0 = 1 > 0)
    np.testing.assert_allclose(sol.x.detach().numpy(), [1, 0, 0, 0, 0], atol=1e-6)
    assert float(sol.z[1].detach()) == 0.0
    sol.x.sum().backward()
    assert torch.isfinite(q.grad).all()
    b_bad = b.clone()
    b_bad[0] = float("inf")       # a zero-cone row
    with pytest.raises(ValueError, match="zero-cone row"):
        solver.solve(P, A, q, b_bad)


# ---------------------------------------------------------------------------
# batch, failed elements
# ---------------------------------------------------------------------------


def test_batch_is_elementwise_and_shared_matrices_get_summed_gradients():
    data = batch_same_pattern(7, 4, n=8, family="mixed", shared_matrices=True)
    Ppat, Apat = data["P_pattern"], data["A_pattern"]
    solver = moreau.torch.Solver(data["n"], data["m"], *csr_tensors(Ppat), *csr_tensors(Apat),
                                 moreau_cones(data["cones"]), moreau.Settings())
    P = torch.tensor(data["P_values"][0], requires_grad=True)   # shared (nnz,)
    A = torch.tensor(data["A_values"][0], requires_grad=True)
    Q = torch.tensor(data["q"], requires_grad=True)             # (B, n)
    Bv = torch.tensor(data["b"], requires_grad=True)
    sol = solver.solve(P, A, Q, Bv)
    assert isinstance(sol, moreau.torch.TorchBatchedSolution) and sol.x.shape == (4, data["n"])
    info = solver.info
    assert info.status == [moreau.SolverStatus.Solved] * 4 and info.obj_val.shape == (4,)
    np.testing.assert_allclose(info.obj_val.numpy(), data["obj_star"], rtol=1e-7, atol=1e-7)
    w = torch.tensor(np.random.default_rng(1).standard_normal(data["n"]))
    (sol.x @ w).sum().backward()
    gP = torch.zeros_like(P)
    for i in range(4):
        Pi = P.detach().clone().requires_grad_(True)
        qi = Q.detach()[i].clone().requires_grad_(True)
        si = solver.solve(Pi, A.detach(), qi, Bv.detach()[i])
        np.testing.assert_allclose(si.x.detach().numpy(), sol.x[i].detach().numpy(), atol=1e-12)
        (si.x @ w).backward()
        gP += Pi.grad
        np.testing.assert_allclose(Q.grad[i].numpy(), qi.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(P.grad.numpy(), gP.numpy(), rtol=1e-9, atol=1e-12)
    # indexing a batched solution
    assert sol[1].x.shape == (data["n"],) and len(list(sol)) == 4


def test_failed_batch_element_has_its_status_and_nan_gradients():
    prob = seed_prob()
    solver = make_solver(prob)
    P, A, _, _ = values(prob, grad=False)
    q = torch.tensor(np.stack([np.arange(1.0, 6.0), np.ones(5), np.zeros(5)]), requires_grad=True)
    b = torch.tensor(np.stack([np.r_[1.0, np.zeros(5)], np.r_[-1.0, np.zeros(5)], np.r_[1.0, np.zeros(5)]]),
                     requires_grad=True)  # element 1: sum(x) = -1 with x >= 0 is infeasible
    sol = solver.solve(P, A, q, b)
    st = solver.info.status
    assert st[0] == moreau.SolverStatus.Solved and st[2] == moreau.SolverStatus.Solved
    assert st[1] == moreau.SolverStatus.PrimalInfeasible
    sol.x.sum().backward()
    assert torch.isnan(q.grad[1]).all() and torch.isnan(b.grad[1]).all()
    assert torch.isfinite(q.grad[[0, 2]]).all() and torch.isfinite(b.grad[[0, 2]]).all()


# ---------------------------------------------------------------------------
# precision
# ---------------------------------------------------------------------------


def test_float32_inputs_float32_outputs_and_gradients():
    prob = random_feasible("socp", 31, n=6)
    solver = make_solver(prob)
    a64 = values(prob)
    a32 = values(prob, dtype=torch.float32)
    s64 = solver.solve(*a64)
    s32 = solver.solve(*a32)
    assert s32.x.dtype == s32.z.dtype == s32.s.dtype == torch.float32
    # the float64 solution of the float32-rounded data, rounded
    np.testing.assert_allclose(s32.x.detach().numpy(), s64.x.detach().numpy(), atol=1e-4, rtol=1e-4)
    s32.x.sum().backward()
    s64.x.sum().backward()
    for a, b in zip(a32, a64):
        assert a.grad.dtype == torch.float32
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-3, rtol=1e-3)

    # mixed: a float32 q among float64 tensors -> float64 out, q.grad float32
    P, A, _, b = values(prob)
    q32 = torch.tensor(prob["q"], dtype=torch.float32, requires_grad=True)
    s = solver.solve(P, A, q32, b)
    assert s.x.dtype == F64
    s.x.sum().backward()
    assert q32.grad.dtype == torch.float32 and P.grad.dtype == F64


# ---------------------------------------------------------------------------
# warm start, settings
# ---------------------------------------------------------------------------


def test_warm_start_same_answer_fewer_iterations():
    # warm starts are the interior-point method's (the active-set method starts cold)
    data = batch_same_pattern(3, 6, n=10, family="qp", shared_matrices=True)
    solver = moreau.torch.Solver(data["n"], data["m"], *csr_tensors(data["P_pattern"]),
                                 *csr_tensors(data["A_pattern"]), moreau_cones(data["cones"]),
                                 moreau.Settings(solver="ipm"))
    P = torch.tensor(data["P_values"][0])
    A = torch.tensor(data["A_values"][0])
    Q = torch.tensor(data["q"])
    Bv = torch.tensor(data["b"])
    cold = solver.solve(P, A, Q, Bv)
    it_cold = solver.info.iterations.sum()
    Q2 = Q * 1.001   # a small change, as between training steps
    ref = solver.solve(P, A, Q2, Bv)
    it_ref = solver.info.iterations.sum()
    warm = solver.solve(P, A, Q2, Bv, warm_start=cold.to_warm_start())
    assert solver.info.status == [moreau.SolverStatus.Solved] * 6
    np.testing.assert_allclose(warm.x.numpy(), ref.x.numpy(), atol=1e-5)
    assert solver.info.iterations.sum() < it_ref, (solver.info.iterations, it_ref, it_cold)
    # a single WarmStart for a batch, and torch tensors as warm values
    single = solver.solve(P, A, Q2, Bv, warm_start=moreau.WarmStart(x=cold.x[0], z=cold.z[0], s=cold.s[0]))
    np.testing.assert_allclose(single.x.numpy(), ref.x.numpy(), atol=1e-5)
    with pytest.raises(TypeError, match="warm_start"):
        solver.solve(P, A, Q2, Bv, warm_start=(1, 2, 3))


def test_per_call_settings_changes_are_picked_up():
    prob = seed_prob()
    solver = make_solver(prob, moreau.Settings())
    args = values(prob)
    solver.solve(*args)
    assert solver.info.status == moreau.SolverStatus.Solved
    solver._settings.max_iter = 1
    sol = solver.solve(*args)
    assert solver.info.status == moreau.SolverStatus.MaxIterations
    sol.x.sum().backward()
    assert torch.isnan(args[2].grad).all()   # no derivative at a non-solved status
    solver._settings.max_iter = 200
    solver._settings = moreau.Settings(ipm_settings={"tol_gap_abs": 1e-4, "tol_gap_rel": 1e-4})
    solver.solve(*[a.detach() for a in args])
    assert solver.info.status == moreau.SolverStatus.Solved


# ---------------------------------------------------------------------------
# direct cones
# ---------------------------------------------------------------------------


def test_direct_cones_are_refused_not_dropped():
    # Not lifted on the torch path yet: a clear error, never a solve without them
    # (which gave x = [10.3, 9.3, -18.7] here, ignoring x >= 0).
    n = 3
    cones = moreau.Cones(num_zero_cones=1, dir_cones=[moreau.DirectConeSpec(kind="nonneg", indices=[0, 1, 2])])
    with pytest.raises(NotImplementedError, match="direct cones"):
        moreau.torch.Solver(n, 1, np.arange(n + 1), np.arange(n), np.array([0, n]), np.arange(n),
                            cones, moreau.Settings())


def test_cones_to_native_refuses_unlifted_direct_cones():
    from moreau_jax._problem import cones_to_native

    cones = moreau.Cones(num_zero_cones=1, dir_cones=[moreau.DirectConeSpec(kind="nonneg", indices=[0])])
    with pytest.raises(ValueError, match="lift them to rows first"):
        cones_to_native(cones)


# ---------------------------------------------------------------------------
# devices
# ---------------------------------------------------------------------------


@pytest.mark.skipif(moreau.device_available("cuda"), reason="this build has a CUDA backend")
def test_non_cpu_tensors_and_device_cuda_are_clear_errors():
    prob = seed_prob()
    with pytest.raises(RuntimeError, match="device='cuda'.*no CUDA"):
        make_solver(prob, moreau.Settings(device="cuda"))
    solver = make_solver(prob)
    P, A, q, b = values(prob, grad=False)
    # (no CUDA here: a "meta" tensor stands for any non-CPU tensor)
    with pytest.raises(RuntimeError, match="q is on device meta.*CPU only"):
        solver.solve(P, A, q.to("meta"), b)
    solver._settings.device = "cuda"
    with pytest.raises(RuntimeError, match="cuda"):
        solver.solve(P, A, q, b)
    solver._settings.device = "cpu"
    np.testing.assert_allclose(solver.solve(P, A, q, b).x.numpy(), [1, 0, 0, 0, 0], atol=1e-6)


# ---------------------------------------------------------------------------
# torch.compile
# ---------------------------------------------------------------------------


def test_torch_compile_fullgraph_forward_and_backward():
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    prob = random_feasible("qp", 17, n=6)
    solver = make_solver(prob)
    P, A, q, b = values(prob)
    w = torch.linspace(-1.0, 1.0, prob["n"], dtype=F64)

    def f(P, A, q, b):
        sol = solver.solve(P, A, q, b)
        return ((sol.x * w).sum() + sol.z.square().sum(), sol.x)

    eager_loss, eager_x = f(P, A, q, b)
    eager_grads = torch.autograd.grad(eager_loss, (P, A, q, b))
    counter = CompileCounterWithBackend("aot_eager")
    cf = torch.compile(f, fullgraph=True, backend=counter)
    loss, x = cf(P, A, q, b)
    grads = torch.autograd.grad(loss, (P, A, q, b))
    assert counter.frame_count == 1
    np.testing.assert_allclose(x.detach().numpy(), eager_x.detach().numpy(), rtol=1e-12, atol=1e-12)
    for g, e in zip(grads, eager_grads):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-10, atol=1e-12)
    # the custom ops are in the traced graph (no fallback to eager)
    ops = {str(n.target) for gm in counter.graphs for n in gm.graph.nodes if n.op == "call_function"}
    assert any("moreau_jax.solve" in o for o in ops), ops
    assert solver.info.status == moreau.SolverStatus.Solved   # info after a compiled call

    # a settings change recompiles (never a stale graph)
    cf(P, A, q, b)
    assert counter.frame_count == 1
    solver._settings.max_iter = 1
    cf(P, A, q, b)
    assert counter.frame_count == 2
    assert solver.info.status == moreau.SolverStatus.MaxIterations
    solver._settings.max_iter = 200

    # batched, under compile
    Q = q.detach().expand(3, -1).clone().requires_grad_(True)
    lossB, xB = cf(P, A, Q, b)
    lossB.backward()
    assert xB.shape == (3, prob["n"]) and torch.isfinite(Q.grad).all()


# ---------------------------------------------------------------------------
# GIL
# ---------------------------------------------------------------------------


def test_gil_is_released_while_rust_solves():
    data = batch_same_pattern(5, 1, n=40, family="socp", shared_matrices=True)
    solver = moreau.torch.Solver(data["n"], data["m"], *csr_tensors(data["P_pattern"]),
                                 *csr_tensors(data["A_pattern"]), moreau_cones(data["cones"]),
                                 moreau.Settings(num_threads=1))
    B = 400
    P = torch.tensor(data["P_values"][0])
    A = torch.tensor(data["A_values"][0])
    Q = torch.tensor(data["q"]).expand(B, -1).contiguous()
    Bv = torch.tensor(data["b"]).expand(B, -1).contiguous()
    ticks = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        c0, t0 = ticks[0], time.perf_counter()
        time.sleep(0.2)             # the other thread alone: its counting rate
        rate = (ticks[0] - c0) / (time.perf_counter() - t0)
        before, t0 = ticks[0], time.perf_counter()
        # Solve until 0.3 s have passed (not a fixed count, whose time depends on the
        # machine), so that the Python parts of solve() stay negligible.
        while time.perf_counter() - t0 < 0.3:
            solver.solve(P, A, Q, Bv)
        elapsed = time.perf_counter() - t0
        during = ticks[0] - before
    finally:
        stop.set()
        t.join()
    assert solver.info.status == [moreau.SolverStatus.Solved] * B
    assert elapsed > 0.2, elapsed  # long enough that the Python parts of solve() are negligible
    # With the GIL held while Rust runs, the other thread could count only during
    # the few Python-level milliseconds of the call; released, it counts throughout.
    assert during > 0.2 * rate * elapsed, (during, rate * elapsed, elapsed)
