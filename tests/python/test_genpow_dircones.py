"""Generalized power cones and direct cones, end to end.

- random problems with generalized power cones (alone and mixed with the other
  cones) against Clarabel's GenPowerConeT: same status, objective within 1e-6;
- every direct-cone kind (Cones.dir_cones) against the same problem in slack form,
  through moreau.Solver, moreau.CompiledSolver and moreau.jax.Solver, including
  z_x, warm starts and derivatives;
- CVXPY's PowConeND (prob.solve(solver="MOREAU")) against Clarabel, duals included;
- derivatives (NumPy backward and JAX grad) against central finite differences;
- cvxpylayers with PowConeND;
- bad input.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import clarabel
import moreau

TOL = 1e-8


def _settings(**kw):
    ipm = moreau.IPMSettings(tol_gap_abs=TOL, tol_gap_rel=TOL, tol_feas=TOL)
    return moreau.Settings(ipm_settings=ipm, **kw)


def _rand_alphas(rng, d1):
    a = rng.uniform(0.1, 1.0, d1)
    a = a / a.sum()
    a[-1] = 1.0 - a[:-1].sum()
    return [float(v) for v in a]


# ---------------------------------------------------------------------------
# random problems: cones in our row order (zero, nonneg, SOC, exp, power, gen power)
# ---------------------------------------------------------------------------

def _interior(rng, kind, par):
    """A strictly interior point of the primal cone."""
    if kind == "soc":
        v = rng.standard_normal(par - 1)
        return np.concatenate([[np.linalg.norm(v) * rng.uniform(1.1, 2.0) + 0.1], v])
    if kind == "exp":
        y = np.exp(rng.uniform(-1, 1))
        x = rng.uniform(-2, 1) * y
        return np.array([x, y, y * np.exp(x / y) * rng.uniform(1.2, 3.0)])
    if kind == "power":
        x, y = np.exp(rng.uniform(-1, 1, 2))
        return np.array([x, y, rng.choice([-1, 1]) * x ** par * y ** (1 - par) * rng.uniform(0, 0.9)])
    if kind == "gen_power":
        alphas, d2 = par
        u = np.exp(rng.uniform(-1, 1, len(alphas)))
        bound = np.exp(np.dot(alphas, np.log(u)))
        w = rng.standard_normal(d2)
        w *= bound * rng.uniform(0.0, 0.9) / max(np.linalg.norm(w), 1e-300)
        return np.concatenate([u, w])
    raise KeyError(kind)


def random_problem(seed, mix=False, infeasible=False):
    """min 1/2 x'Px + q'x  s.t.  Ax + s = b, s in K, with a strictly feasible x0
    (b = A x0 + s0) and a bounded objective (P > 0, or box rows)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 12))
    blocks = []  # (kind, param)
    n_zero = int(rng.integers(0, 2))
    n_nonneg = 2 * n  # box -1e1 <= x <= 1e1 keeps LPs bounded
    if mix:
        blocks += [("soc", int(rng.integers(2, 5)))]
        blocks += [("exp", None)] * int(rng.integers(0, 2))
        blocks += [("power", float(rng.uniform(0.2, 0.8)))] * int(rng.integers(0, 2))
    for _ in range(int(rng.integers(1, 4))):
        d1 = int(rng.integers(1, 5))
        d2 = int(rng.integers(1, 4))
        blocks.append(("gen_power", (_rand_alphas(rng, d1), d2)))
    dims = [(_interior(rng, k, p).size) for k, p in blocks]
    m_cone = sum(dims)
    x0 = rng.standard_normal(n)
    A_cone = sp.random(m_cone, n, density=0.5, random_state=rng, data_rvs=rng.standard_normal).toarray()
    s_cone = np.concatenate([_interior(rng, k, p) for k, p in blocks])
    b_cone = A_cone @ x0 + s_cone
    A_zero = rng.standard_normal((n_zero, n))
    b_zero = A_zero @ x0
    A_box = np.vstack([np.eye(n), -np.eye(n)])
    b_box = np.full(2 * n, 10.0) + np.concatenate([x0, -x0]) * 0  # |x| <= 10
    b_box = np.full(2 * n, 10.0)
    if infeasible:
        # the first gen power cone's u part is fixed to be small (u = 1e-2 as
        # equalities) while its w part must be 1: prod u^alpha = 1e-2 < 1 = |w|
        k0 = next(i for i, (k, _) in enumerate(blocks) if k == "gen_power")
        off = sum(dims[:k0])
        alphas, d2 = blocks[k0][1]
        d1 = len(alphas)
        A_cone[off:off + d1 + d2] = 0.0
        b_cone[off:off + d1] = 1e-2
        A_cone[off + d1, 0] = 1.0
        b_cone[off + d1] = 0.0
        A_zero = np.vstack([A_zero, np.eye(n)[:1]])
        b_zero = np.concatenate([b_zero, [-1.0]])  # x_0 = -1 -> w_0 = 1
        n_zero += 1
    A = np.vstack([A_zero, A_box, A_cone])
    b = np.concatenate([b_zero, b_box, b_cone])
    if rng.uniform() < 0.5:
        M = rng.standard_normal((n, n))
        P = sp.csc_matrix(M @ M.T / n + 0.1 * np.eye(n))
    else:
        P = sp.csc_matrix((n, n))
    q = rng.standard_normal(n)
    return dict(P=P, q=q, A=sp.csc_matrix(A), b=b, zero=n_zero, nonneg=n_nonneg, blocks=blocks)


def _moreau_cones(prob, **extra):
    bl = prob["blocks"]
    return moreau.Cones(
        num_zero_cones=prob["zero"],
        num_nonneg_cones=prob["nonneg"],
        so_cone_dims=[p for k, p in bl if k == "soc"],
        num_exp_cones=sum(1 for k, _ in bl if k == "exp"),
        power_alphas=[p for k, p in bl if k == "power"],
        gen_power_cone_params=[p for k, p in bl if k == "gen_power"],
        **extra,
    )


def _clarabel_cones(prob):
    out = []
    if prob["zero"]:
        out.append(clarabel.ZeroConeT(prob["zero"]))
    if prob["nonneg"]:
        out.append(clarabel.NonnegativeConeT(prob["nonneg"]))
    # same block order as ours
    for kind in ("soc", "exp", "power", "gen_power"):
        for k, p in prob["blocks"]:
            if k != kind:
                continue
            if k == "soc":
                out.append(clarabel.SecondOrderConeT(p))
            elif k == "exp":
                out.append(clarabel.ExponentialConeT())
            elif k == "power":
                out.append(clarabel.PowerConeT(p))
            else:
                out.append(clarabel.GenPowerConeT(p[0], p[1]))
    return out


def _row_order(prob):
    """Our rows are grouped by kind; permute A, b of a problem whose blocks are in
    generation order into that order."""
    off = prob["zero"] + prob["nonneg"]
    starts, o = [], off
    for k, p in prob["blocks"]:
        d = {"soc": p, "exp": 3, "power": 3}.get(k) or (len(p[0]) + p[1])
        starts.append((k, o, d))
        o += d
    perm = list(range(off))
    for kind in ("soc", "exp", "power", "gen_power"):
        for k, st, d in starts:
            if k == kind:
                perm += list(range(st, st + d))
    return np.array(perm)


def _grouped(prob):
    perm = _row_order(prob)
    order = {"soc": 0, "exp": 1, "power": 2, "gen_power": 3}
    blocks = sorted(prob["blocks"], key=lambda kp: order[kp[0]])
    return dict(prob, A=sp.csc_matrix(prob["A"].toarray()[perm]), b=prob["b"][perm], blocks=blocks)


def _solve_clarabel(prob):
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.tol_gap_abs = st.tol_gap_rel = st.tol_feas = TOL
    st.direct_solve_method = "qdldl"
    s = clarabel.DefaultSolver(sp.triu(prob["P"], format="csc"), prob["q"], prob["A"], prob["b"],
                               _clarabel_cones(prob), st)
    return s.solve()


def _solve_moreau(prob, **settings):
    s = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"], _moreau_cones(prob), _settings(**settings))
    sol = s.solve()
    return s, sol


CASES = [(seed, False, False) for seed in range(30)] + [(100 + seed, True, False) for seed in range(25)] \
    + [(200 + seed, seed % 2 == 1, True) for seed in range(6)]


@pytest.mark.parametrize("seed,mix,infeasible", CASES)
def test_gen_power_vs_clarabel(seed, mix, infeasible):
    prob = _grouped(random_problem(seed, mix=mix, infeasible=infeasible))
    ref = _solve_clarabel(prob)
    solver, sol = _solve_moreau(prob)
    ours = solver.info.status.name
    theirs = str(ref.status)
    if infeasible:
        assert theirs == "PrimalInfeasible"
        assert ours == "PrimalInfeasible", f"status {ours}"
        return
    assert theirs == "Solved", theirs
    assert ours == "Solved", f"status {ours} after {solver.info.iterations} iterations"
    obj = solver.info.obj_val
    assert abs(obj - ref.obj_val) <= 1e-6 * max(1.0, abs(ref.obj_val)), (obj, ref.obj_val)
    # our own optimality: residuals, z in K*
    A, b, q, P = prob["A"], prob["b"], prob["q"], prob["P"]
    x, z, s = sol.x, sol.z, sol.s
    assert np.abs(A @ x + s - b).max() <= 1e-6 * (1 + np.abs(b).max())
    assert np.abs(P @ x + q + A.T @ z).max() <= 1e-6 * (1 + np.abs(q).max())
    off = prob["zero"] + prob["nonneg"]
    for k, p in prob["blocks"]:
        d = {"soc": p, "exp": 3, "power": 3}.get(k) or (len(p[0]) + p[1])
        if k == "gen_power":
            al = np.asarray(p[0])
            u, w = z[off:off + len(al)], z[off + len(al):off + d]
            assert np.all(u >= -1e-9)
            assert np.linalg.norm(w) <= np.exp(al @ np.log(np.maximum(u, 1e-300) / al)) + 1e-7
            uu, ww = s[off:off + len(al)], s[off + len(al):off + d]
            assert np.all(uu >= -1e-9)
            assert np.linalg.norm(ww) <= np.exp(al @ np.log(np.maximum(uu, 1e-300))) + 1e-7
        off += d


@pytest.mark.parametrize("d1,d2", [(3, 40), (40, 2), (20, 30)])
def test_large_gen_power_cones_vs_clarabel(d1, d2):
    """Cones of dimension > 32 go into the KKT matrix in the sparse expanded form."""
    rng = np.random.default_rng(d1 * 100 + d2)
    al = _rand_alphas(rng, d1)
    d = d1 + d2
    n = d + 2
    A_cone = np.hstack([-np.eye(d), rng.standard_normal((d, 2)) * 0.1])
    b_cone = 0.1 * _interior(rng, "gen_power", (al, d2))
    A = np.vstack([np.ones((1, n)), A_cone])
    b = np.concatenate([[3.0], b_cone])
    q = rng.standard_normal(n)
    P = sp.diags(np.full(n, 0.3), format="csc")
    prob = dict(P=P, q=q, A=sp.csc_matrix(A), b=b, zero=1, nonneg=0, blocks=[("gen_power", (al, d2))])
    ref = _solve_clarabel(prob)
    solver, sol = _solve_moreau(prob)
    assert str(ref.status) == "Solved" and solver.info.status.name == "Solved"
    assert abs(solver.info.obj_val - ref.obj_val) <= 1e-6 * max(1.0, abs(ref.obj_val))
    # (x is fixed only to ~sqrt(gap / 0.3) by the strong convexity of the objective)
    np.testing.assert_allclose(sol.x, np.array(ref.x), atol=1e-4)


def test_gen_power_dim1_one_is_a_second_order_cone():
    """(alphas=[1], dim2) is the SOC {x >= ||y||}: same optimum both ways."""
    rng = np.random.default_rng(3)
    n, d2 = 5, 4
    A = -np.eye(n)
    b = np.zeros(n)
    q = rng.standard_normal(n)
    q[0] = abs(q[0]) + 2 * np.linalg.norm(q[1:])  # bounded
    P = sp.eye(n) * 0.1
    s1 = moreau.Solver(P, q, A, b, moreau.Cones(gen_power_cone_params=[([1.0], d2)]), _settings())
    s2 = moreau.Solver(P, q, A, b, moreau.Cones(so_cone_dims=[n]), _settings())
    x1, x2 = s1.solve().x, s2.solve().x
    assert s1.info.status.name == "Solved"
    np.testing.assert_allclose(x1, x2, atol=1e-7)


def test_gen_power_batched_and_jax_match_numpy():
    import jax
    jax.config.update("jax_enable_x64", True)
    import moreau.jax as mj
    prob = _grouped(random_problem(7, mix=True))
    cones = _moreau_cones(prob)
    solver, sol = _solve_moreau(prob)
    P = sp.csr_array(prob["P"] + sp.eye(prob["P"].shape[0]) * 0)
    P = sp.csr_array(P + P.T) * 0.5
    P.sort_indices()
    A = sp.csr_array(prob["A"])
    A.sort_indices()
    n, m = A.shape[1], A.shape[0]
    js = mj.Solver(n, m, P.indptr, P.indices, A.indptr, A.indices, cones, _settings())
    jsol = js.solve(jax.numpy.asarray(P.data), jax.numpy.asarray(A.data), jax.numpy.asarray(prob["q"]),
                    jax.numpy.asarray(prob["b"]))
    np.testing.assert_allclose(np.asarray(jsol.x), sol.x, atol=1e-7)
    np.testing.assert_allclose(np.asarray(jsol.z), sol.z, atol=1e-6)
    cs = moreau.CompiledSolver(n=n, m=m, P_row_offsets=P.indptr, P_col_indices=P.indices,
                               A_row_offsets=A.indptr, A_col_indices=A.indices, cones=cones,
                               settings=_settings(batch_size=2))
    cs.setup(P.data, A.data)
    qs = np.stack([prob["q"], 1.1 * prob["q"]])
    bs = np.stack([prob["b"], prob["b"]])
    bsol = cs.solve(qs, bs)
    np.testing.assert_allclose(bsol.x[0], sol.x, atol=1e-7)
    assert [s.name for s in cs.info.status] == ["Solved", "Solved"]


# ---------------------------------------------------------------------------
# direct cones == slack form
# ---------------------------------------------------------------------------

def _dir_case(kind, rng):
    """(DirectConeSpec kwargs, Cones kwargs of the same cone as slack rows, dim)."""
    if kind == "nonneg":
        return dict(kind="nonneg"), dict(num_nonneg_cones=3), 3
    if kind == "soc":
        return dict(kind="soc"), dict(so_cone_dims=[4]), 4
    if kind == "exp":
        return dict(kind="exp"), dict(num_exp_cones=1), 3
    if kind == "power":
        return dict(kind="power", alpha=0.35), dict(power_alphas=[0.35]), 3
    if kind == "gen_power":
        al = [0.2, 0.5, 0.3]
        return dict(kind="gen_power", alphas=al, dim2=2), dict(gen_power_cone_params=[(al, 2)]), 5
    raise KeyError(kind)


DIR_KINDS = ["nonneg", "soc", "exp", "power", "gen_power"]


def _dir_problem(kind, seed=0):
    """min 1/2||x - c||^2 with x[idx] in K (idx scattered), one equality row and a
    nonnegative row in A: returns (P, q, A, b, base cones kwargs, spec, slack cones kwargs, idx)."""
    rng = np.random.default_rng(seed)
    spec, slack, d = _dir_case(kind, rng)
    n = d + 3
    idx = list(rng.permutation(n)[:d])
    P = sp.eye(n, format="csr")
    q = -3.0 * rng.standard_normal(n)
    # q[idx] = -v + noise with v outside K and outside -K*: the unconstrained
    # minimizer is projected onto a smooth piece of the cone's boundary (not its
    # apex), so the direct cone is active, z_x != 0 and the solution map is smooth
    v = {"nonneg": [-1.0, -2.0, -1.5], "soc": [0.0, 2.0, 0.5, -0.5], "exp": [1.0, 1.0, 1.0],
         "power": [1.0, 1.5, 2.0], "gen_power": [1.0, 1.2, 0.8, 1.5, 1.5]}[kind]
    q[idx] = -np.asarray(v) + 0.05 * rng.standard_normal(d)
    A = np.vstack([np.ones((1, n)), rng.standard_normal((1, n))])
    b = np.array([1.0, 5.0])
    return P, q, A, b, idx, spec, slack


def _slack_form(P, q, A, b, idx, slack):
    """Append rows -x[idx] + s = 0 (s in K) after the zero and nonneg rows."""
    n = A.shape[1]
    E = -np.eye(n)[idx]
    kw = dict(num_zero_cones=1, num_nonneg_cones=1)
    if "num_nonneg_cones" in slack:
        # the nonneg block: original row then the new ones
        A2 = np.vstack([A, E])
        b2 = np.concatenate([b, np.zeros(len(idx))])
        kw["num_nonneg_cones"] = 1 + slack["num_nonneg_cones"]
    else:
        A2 = np.vstack([A, E])
        b2 = np.concatenate([b, np.zeros(len(idx))])
        kw.update(slack)
    return P, q, A2, b2, moreau.Cones(**kw)


@pytest.mark.parametrize("kind", DIR_KINDS)
def test_direct_cone_equals_slack_form(kind):
    P, q, A, b, idx, spec, slack = _dir_problem(kind)
    cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=1,
                         dir_cones=[moreau.DirectConeSpec(indices=idx, **spec)])
    sd = moreau.Solver(P, q, A, b, cones, _settings())
    sol = sd.solve()
    assert sd.info.status.name == "Solved"
    P2, q2, A2, b2, cones2 = _slack_form(P, q, A, b, idx, slack)
    ss = moreau.Solver(P2, q2, A2, b2, cones2, _settings())
    ref = ss.solve()
    assert ss.info.status.name == "Solved"
    np.testing.assert_allclose(sol.x, ref.x, atol=1e-7)
    np.testing.assert_allclose(sol.z, ref.z[:2], atol=1e-6)
    np.testing.assert_allclose(sol.z_x, ref.z[2:], atol=1e-6)
    np.testing.assert_allclose(sol.s, ref.s[:2], atol=1e-7)
    assert abs(sd.info.obj_val - ss.info.obj_val) <= 1e-8 * max(1, abs(ss.info.obj_val))
    # the constraint is active in these problems (z_x != 0), so it mattered
    assert np.abs(sol.z_x).max() > 1e-4
    # warm start carries z_x and gives the same answer
    # (the same iterates as the slack form warm-started from its own solution; at
    # the apex of a cone x is only determined to ~sqrt(gap), hence the 1e-4)
    sol2 = sd.solve(warm_start=sol.to_warm_start())
    assert sd.info.status.name == "Solved"
    ref2 = ss.solve(warm_start=ref.to_warm_start())
    assert sd.info.iterations == ss.info.iterations
    np.testing.assert_allclose(sol2.x, ref2.x, atol=1e-7)
    np.testing.assert_allclose(sol2.z_x, ref2.z[2:], atol=1e-6)
    np.testing.assert_allclose(sol2.x, sol.x, atol=1e-4)


def test_direct_cones_all_kinds_together_compiled_and_jax():
    """Five direct cones at once (disjoint indices), with an empty A; CompiledSolver
    (batch of 2) and moreau.jax.Solver agree with the slack form."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import moreau.jax as mj
    rng = np.random.default_rng(5)
    specs, slack_kw, idx_all = [], {}, []
    off = 0
    n = sum(_dir_case(k, rng)[2] for k in DIR_KINDS) + 2
    perm = rng.permutation(n)
    for kind in DIR_KINDS:
        spec, slack, d = _dir_case(kind, rng)
        idx = [int(i) for i in perm[off:off + d]]
        off += d
        specs.append(moreau.DirectConeSpec(indices=idx, **spec))
        idx_all.append((kind, idx, slack))
    cones = moreau.Cones(num_zero_cones=1, dir_cones=specs)
    P = sp.eye(n, format="csr")
    q = -2.0 * rng.standard_normal(n)
    A = sp.csr_array(np.ones((1, n)))
    b = np.array([2.0])
    sd = moreau.Solver(P, q, A, b, cones, _settings())
    sol = sd.solve()
    assert sd.info.status.name == "Solved"
    # slack form, rows grouped by kind in the core's order
    order = ["nonneg", "soc", "exp", "power", "gen_power"]
    rows, kw, zx_slices = [np.ones((1, n))], dict(num_zero_cones=1), {}
    r = 1
    for kind in order:
        for k, idx, slack in idx_all:
            if k != kind:
                continue
            rows.append(-np.eye(n)[idx])
            zx_slices[k] = slice(r, r + len(idx))
            r += len(idx)
            for key, v in slack.items():
                kw[key] = kw.get(key, [] if isinstance(v, list) else 0) + v
    A2 = np.vstack(rows)
    b2 = np.concatenate([b, np.zeros(A2.shape[0] - 1)])
    ss = moreau.Solver(P, q, A2, b2, moreau.Cones(**kw), _settings())
    ref = ss.solve()
    np.testing.assert_allclose(sol.x, ref.x, atol=1e-7)
    zx_ref = np.concatenate([ref.z[zx_slices[k]] for k, _, _ in idx_all])  # spec order
    np.testing.assert_allclose(sol.z_x, zx_ref, atol=1e-6)

    # CompiledSolver, batch of 2
    cs = moreau.CompiledSolver(n=n, m=1, P_row_offsets=P.indptr, P_col_indices=P.indices,
                               A_row_offsets=A.indptr, A_col_indices=A.indices, cones=cones,
                               settings=_settings(batch_size=2))
    cs.setup(P.data, A.data)
    bs = cs.solve(np.stack([q, q]), np.stack([b, b]))
    np.testing.assert_allclose(bs.x[1], ref.x, atol=1e-7)
    np.testing.assert_allclose(bs.z_x[0], zx_ref, atol=1e-6)

    # JAX: same answer, z_x in the JaxSolution, jit and vmap
    js = mj.Solver(n, 1, P.indptr, P.indices, A.indptr, A.indices, cones, _settings())
    jnp = jax.numpy
    args = (jnp.asarray(P.data), jnp.asarray(A.data), jnp.asarray(q), jnp.asarray(b))
    jsol = jax.jit(js.solve)(*args)
    np.testing.assert_allclose(np.asarray(jsol.x), ref.x, atol=1e-7)
    np.testing.assert_allclose(np.asarray(jsol.z_x), zx_ref, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jsol.z), ref.z[:1], atol=1e-6)
    xs = jax.vmap(lambda qq: js.solve(args[0], args[1], qq, args[3]).x)(jnp.stack([args[2], 1.5 * args[2]]))
    np.testing.assert_allclose(np.asarray(xs[0]), ref.x, atol=1e-7)
    # warm start with z_x: used (fewer iterations), same answer (x to ~sqrt(gap) at apexes)
    js.solve(*args)
    it_cold = int(js.info.iterations)
    wsol = js.solve(*args, warm_start=moreau.WarmStart(x=sol.x, z=sol.z, s=sol.s, z_x=sol.z_x))
    assert int(js.info.iterations) < it_cold and js.info.status.name == "Solved"
    np.testing.assert_allclose(np.asarray(wsol.x), ref.x, atol=1e-4)


def test_psd_triangle_direct_cone_when_the_core_has_psd():
    """psd_triangle lifts to a PSD block (written generically); needs the PSD cone."""
    k = 2
    idx = [0, 1, 2]  # svec of a 2x2 matrix: (X00, sqrt2 X01, X11)
    n = 3
    P = sp.eye(n, format="csr")
    q = np.array([-1.0, -3.0, -1.0])
    A = np.zeros((0, n))
    b = np.zeros(0)
    cones = moreau.Cones(dir_cones=[moreau.DirectConeSpec(kind="psd_triangle", indices=idx, psd_k=k)])
    try:
        s = moreau.Solver(P, q, A, b, cones, _settings())
    except NotImplementedError as e:
        assert "psd" in str(e).lower()
        pytest.skip("the solver core of this build has no PSD cone")
    sol = s.solve()
    ref = moreau.Solver(P, q, -np.eye(3), np.zeros(3), moreau.Cones(psd_dims=[k]), _settings()).solve()
    np.testing.assert_allclose(sol.x, ref.x, atol=1e-7)
    np.testing.assert_allclose(sol.z_x, ref.z, atol=1e-6)


# ---------------------------------------------------------------------------
# derivatives vs finite differences
# ---------------------------------------------------------------------------

def _fine(tol=1e-10):
    """Tight tolerances for the finite-difference solves.  One fixed linear solver
    (the sparse LDLT): where x is determined only to ~sqrt(gap) (a face of a direct
    cone) the dense and sparse factorizations land 1e-5 apart in that flat valley,
    and a difference quotient needs both of its solves in the same place."""
    ipm = moreau.IPMSettings(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol,
                             reduced_tol_gap_abs=100 * tol, reduced_tol_gap_rel=100 * tol,
                             reduced_tol_feas=100 * tol, direct_solve_method="qdldl")
    return moreau.Settings(ipm_settings=ipm, max_iter=400)


def _fine_x(P, q, A, b, cones, what="x"):
    """x (or (x, z_x)) solved tightly; at 1e-10 the IPM sometimes stalls just above
    the tolerance, then 1e-9 is used."""
    for tol in (1e-10, 1e-9):
        s = moreau.Solver(P, q, A, b, cones, _fine(tol))
        r = s.solve()
        if s.info.status.name in ("Solved", "AlmostSolved"):
            return r
    raise AssertionError(f"finite-difference solve failed: {s.info.status.name}")


def _fd_check(solve_x, theta, grad, loss_w, rng, h=1e-4, ndir=2, rtol=1e-3, atol=1e-5, richardson=False):
    """Directional central differences of loss_w @ x(theta) along random unit
    directions vs <grad, direction>; with `richardson`, extrapolated from steps h and
    h/2: near a cone's kink the solution map curves enough for the O(h^2) error of
    one central difference to exceed the tolerance (genpow-4: 3e-5 at h = 1e-4, on a
    derivative that the 1e-8 and 1e-10 solves agree on to 1e-8).  Not with the large
    steps of the direct-cone cases, whose solve noise the extrapolation amplifies."""
    def central(d, step):
        return (loss_w @ solve_x(theta + step * d) - loss_w @ solve_x(theta - step * d)) / (2 * step)

    for _ in range(ndir):
        d = rng.standard_normal(theta.size)
        d /= np.linalg.norm(d)
        fd = (4 * central(d, h / 2) - central(d, h)) / 3 if richardson else central(d, h)
        an = grad @ d
        assert abs(fd - an) <= atol + rtol * abs(an), (fd, an)


DERIV_CASES = [("genpow", s) for s in range(6)] + [("dir_" + k, 0) for k in DIR_KINDS] + [("dir_gen_power", 3)]


@pytest.mark.parametrize("case,seed", DERIV_CASES)
def test_derivatives_numpy_and_jax_vs_fd(case, seed):
    import jax
    jax.config.update("jax_enable_x64", True)
    import moreau.jax as mj
    jnp = jax.numpy
    if case == "genpow":
        prob = _grouped(random_problem(300 + seed, mix=seed % 2 == 1))
        n = prob["A"].shape[1]
        P = prob["P"] + sp.eye(n) * 0.5  # strongly convex: a unique, smooth solution
        P = sp.csr_array(P)
        P.sort_indices()
        A = sp.csr_array(prob["A"])
        A.sort_indices()
        q, b, cones = prob["q"], prob["b"], _moreau_cones(prob)
    else:
        kind = case[4:]
        P, q, A, b, idx, spec, _ = _dir_problem(kind, seed)
        A = sp.csr_array(A)
        cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=1,
                             dir_cones=[moreau.DirectConeSpec(indices=idx, **spec)])
        n = A.shape[1]
    m = A.shape[0]
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n)

    def solve_x(qq, bb=b):
        return _fine_x(P, qq, A, bb, cones).x

    # NumPy backward
    s = moreau.Solver(P, q, A, b, cones, _settings(enable_grad=True))
    sol = s.solve()
    g = s.backward(w)
    # The direct-cone problems determine x only to ~sqrt(gap) (Clarabel's x moves
    # by 1e-5 between tolerances 1e-8 and 1e-10 on the SOC one): larger steps there.
    fd = dict(h=1e-4, richardson=True) if case == "genpow" else dict(h=1e-2, atol=1e-4)
    _fd_check(lambda t: solve_x(t), q.copy(), g["dq"], w, rng, **fd)
    _fd_check(lambda t: solve_x(q, t), b.copy(), g["db"], w, rng, **fd)
    if case != "genpow":
        # a loss on the direct-cone dual z_x too
        wz = rng.standard_normal(len(sol.z_x))
        g2 = s.backward(w, dz_x=wz)

        def loss_zx(qq):
            r = _fine_x(P, qq, A, b, cones)
            return w @ r.x + wz @ r.z_x

        h = 1e-2
        d = rng.standard_normal(n)
        d /= np.linalg.norm(d)
        fdv = (loss_zx(q + h * d) - loss_zx(q - h * d)) / (2 * h)
        assert abs(fdv - g2["dq"] @ d) <= 1e-4 + 1e-3 * abs(fdv), (fdv, g2["dq"] @ d)

    # JAX grad (w.r.t. q, b and A's values)
    P = sp.csr_array(P)
    js = mj.Solver(n, m, P.indptr, P.indices, A.indptr, A.indices, cones, _settings())
    Pv, Av = jnp.asarray(P.data), jnp.asarray(A.data)
    wj = jnp.asarray(w)

    def loss(qq, bb, AA):
        return wj @ js.solve(Pv, AA, qq, bb).x

    gq, gb, gA = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(jnp.asarray(q), jnp.asarray(b), Av)
    np.testing.assert_allclose(np.asarray(gq), g["dq"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(gb), g["db"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(gA), g["dA_values"], rtol=1e-6, atol=1e-8)
    # A's values by FD on a few entries (a larger step: the solves' own error,
    # ~1e-9 in x, would otherwise show through on entries of inactive rows)
    h = fd["h"] * 10 if case == "genpow" else fd["h"]
    # (direct-cone problems: entries of the equality row, which is always active;
    # their inequality row may be close to active, a kink within the step)
    pool = len(A.data) if case == "genpow" else int(A.indptr[1])
    for k in rng.choice(pool, size=2, replace=False):
        Ap, Am = A.copy(), A.copy()
        Ap.data[k] += h
        Am.data[k] -= h
        xp, xm = _fine_x(P, q, Ap, b, cones).x, _fine_x(P, q, Am, b, cones).x
        fdk = w @ (xp - xm) / (2 * h)
        assert abs(fdk - float(gA[k])) <= fd.get("atol", 1e-5) + 1e-3 * abs(fdk), (k, fdk, float(gA[k]))
    # JVP agrees with the VJP: <w, J dq> = <J' w, dq>
    dq = rng.standard_normal(n)
    jv = s.jvp(dq=dq)
    assert abs(w @ jv["dx"] - g["dq"] @ dq) <= 1e-6 * (1 + abs(w @ jv["dx"]))


# ---------------------------------------------------------------------------
# CVXPY
# ---------------------------------------------------------------------------

def _cvxpy_pownd_family(seed):
    import cvxpy as cp
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 0:
        # weighted geometric mean maximization under a budget
        d = int(rng.integers(2, 6))
        a = _rand_alphas(rng, d)
        x = cp.Variable(d)
        t = cp.Variable()
        c = rng.uniform(0.5, 2.0, d)
        cons = [cp.PowConeND(x, t, np.array(a)), c @ x <= 3.0, x <= 2.0]
        return cp.Problem(cp.Maximize(t - 0.1 * cp.sum_squares(x)), cons), cons
    if kind == 1:
        # several cones at once (axis 0: one cone per column)
        d, k = int(rng.integers(2, 4)), int(rng.integers(2, 4))
        al = np.array([_rand_alphas(rng, d) for _ in range(k)]).T  # (d, k)
        W = cp.Variable((d, k))
        z = cp.Variable(k)
        cons = [cp.PowConeND(W, z, al, axis=0), cp.sum(W) <= 4.0, W >= 0.1 * rng.uniform(size=(d, k))]
        return cp.Problem(cp.Maximize(cp.sum(z) - cp.sum_squares(W - 1.0) * 0.2), cons), cons
    if kind == 2:
        # |z| bounded by a geometric mean: minimize a linear cost of z
        d = int(rng.integers(2, 5))
        a = _rand_alphas(rng, d)
        x = cp.Variable(d)
        zz = cp.Variable()
        cons = [cp.PowConeND(x, zz, np.array(a)), cp.norm(x, 2) <= 2.0]
        return cp.Problem(cp.Minimize(zz + 0.1 * cp.sum(x)), cons), cons
    # geo_mean atom (canonicalizes to power cones) with an exp cone
    d = int(rng.integers(2, 5))
    x = cp.Variable(d, pos=True)
    cons = [cp.sum(x) <= 2.0, cp.PowConeND(x, cp.Variable(), np.array(_rand_alphas(rng, d))),
            cp.sum(cp.entr(x)) >= 0.1]
    return cp.Problem(cp.Maximize(cp.geo_mean(x) - 0.1 * cp.sum(x)), cons), cons


@pytest.mark.parametrize("seed", range(8))
def test_cvxpy_powconend_vs_clarabel(seed):
    prob, cons = _cvxpy_pownd_family(seed)
    prob.solve(solver="CLARABEL")
    ref_val = prob.value
    ref_vars = [v.value.copy() for v in prob.variables()]
    ref_duals = [[np.array(d, float) for d in c.dual_value] if isinstance(c.dual_value, list)
                 else np.array(c.dual_value, float) for c in cons]
    prob.solve(solver="MOREAU")
    assert prob.status == "optimal", prob.status
    assert abs(prob.value - ref_val) <= 1e-6 * max(1.0, abs(ref_val))
    for v, r in zip(prob.variables(), ref_vars):
        np.testing.assert_allclose(v.value, r, atol=2e-5)
    for c, r in zip(cons, ref_duals):
        got = c.dual_value
        if isinstance(got, list):
            for g_, r_ in zip(got, r):
                np.testing.assert_allclose(np.asarray(g_, float), np.asarray(r_, float), atol=2e-5)
        else:
            np.testing.assert_allclose(np.asarray(got, float), np.asarray(r, float), atol=2e-5)


def test_cvxpy_powconend_infeasible():
    import cvxpy as cp
    x = cp.Variable(2)
    t = cp.Variable()
    prob = cp.Problem(cp.Minimize(0), [cp.PowConeND(x, t, np.array([0.5, 0.5])), x <= 1.0, t >= 2.0])
    prob.solve(solver="MOREAU")
    assert prob.status == "infeasible"


# ---------------------------------------------------------------------------
# cvxpylayers with PowConeND
# ---------------------------------------------------------------------------

def test_cvxpylayers_powconend_solution_and_gradient():
    import cvxpy as cp
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from cvxpylayers.jax import CvxpyLayer

    d = 3
    alpha = np.array([0.2, 0.3, 0.5])
    c = cp.Parameter(d)
    x = cp.Variable(d)
    t = cp.Variable()
    prob = cp.Problem(cp.Maximize(t - 0.5 * cp.sum_squares(x) + c @ x),
                      [cp.PowConeND(x, t, alpha), x <= 3.0])
    layer = CvxpyLayer(prob, parameters=[c], variables=[x], solver="MOREAU")
    cv = np.array([0.3, -0.2, 0.5])

    def ref_x(cval):
        c.value = cval
        prob.solve(solver="CLARABEL")
        return x.value.copy()

    xo, = layer(jnp.asarray(cv))
    np.testing.assert_allclose(np.asarray(xo), ref_x(cv), atol=1e-5)
    w = np.array([1.0, -2.0, 0.5])
    g = jax.grad(lambda cc: jnp.asarray(w) @ layer(cc)[0])(jnp.asarray(cv))
    h = 1e-3
    fd = np.array([(w @ ref_x(cv + h * e) - w @ ref_x(cv - h * e)) / (2 * h) for e in np.eye(d)])
    np.testing.assert_allclose(np.asarray(g), fd, atol=1e-4)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("params,match", [
    ([([0.3, 0.3], 1)], "sum to 1"),
    ([([0.5, -0.5, 1.0], 1)], "> 0"),
    ([([0.0, 1.0], 1)], "> 0"),
    ([([0.5, 0.5], 0)], "dim2"),
    ([([], 1)], "non-empty"),
])
def test_gen_power_params_rejected(params, match):
    with pytest.raises(ValueError, match=match):
        moreau.Cones(gen_power_cone_params=params)


def test_direct_cone_indices_rejected():
    P = sp.eye(3, format="csr")
    q = np.ones(3)
    with pytest.raises(ValueError, match=">= n = 3"):
        moreau.Solver(P, q, np.zeros((0, 3)), np.zeros(0),
                      moreau.Cones(dir_cones=[moreau.DirectConeSpec(kind="nonneg", indices=[1, 3])]))
    with pytest.raises(ValueError, match="overlap"):
        moreau.Cones(dir_cones=[moreau.DirectConeSpec(kind="nonneg", indices=[0, 1]),
                                moreau.DirectConeSpec(kind="soc", indices=[1, 2])])
    with pytest.raises(ValueError, match="len\\(alphas\\) \\+ dim2"):
        moreau.DirectConeSpec(kind="gen_power", indices=[0, 1], alphas=[0.5, 0.5], dim2=1)
    with pytest.raises(ValueError, match="sum to 1"):
        moreau.DirectConeSpec(kind="gen_power", indices=[0, 1, 2], alphas=[0.5, 0.6], dim2=1)
    import jax
    import moreau.jax as mj
    with pytest.raises(ValueError, match=">= n = 3"):
        mj.Solver(3, 0, np.arange(4), np.arange(3), np.zeros(1, np.int64), np.zeros(0, np.int64),
                  moreau.Cones(dir_cones=[moreau.DirectConeSpec(kind="nonneg", indices=[5])]))


def test_cvxpylayers_cones_patch_is_needed():
    """Without the _cvxpy_compat wrapper, cvxpylayers' Cones miss the PowConeND rows
    (and the layer fails with the row-count ValueError); with it they are there."""
    import cvxpylayers.interfaces.moreau_if as mif
    from cvxpy.reductions.solvers.conic_solvers.scs_conif import dims_to_solver_dict
    import cvxpy as cp

    fn = mif._cvxpy_dims_to_moreau_cones
    assert getattr(fn, "_moreau_jax_wrapped", False), "cvxpylayers cones patch not installed"
    x = cp.Variable(3)
    t = cp.Variable()
    prob = cp.Problem(cp.Maximize(t), [cp.PowConeND(x, t, np.array([0.2, 0.3, 0.5])), x <= 1.0])
    data, _, _ = prob.get_problem_data(solver="MOREAU")
    dims = dims_to_solver_dict(data["dims"])
    m = data["A"].shape[0]
    unpatched = fn.__wrapped__(dims)
    assert unpatched.total_constraints() < m and not unpatched.gen_power_cone_params
    patched = fn(dims)
    assert patched.total_constraints() == m
    assert patched.gen_power_cone_params == [([0.2, 0.3, 0.5], 1)]


def test_cvxpy_direct_gen_power_cones_through_facade(monkeypatch):
    """With CVXPY's own DIR_CONE_KINDS (the MOREAU_JAX_CVXPY_DIRECT_CONES=1 opt-out),
    a PowConeND on plain variables arrives as DirectConeSpec(kind="gen_power"):
    primal and dual answers must equal Clarabel's."""
    import cvxpy as cp
    from cvxpy.reductions.solvers.conic_solvers.moreau_conif import MOREAU

    original = getattr(MOREAU, "_moreau_jax_original_DIR_CONE_KINDS", None)
    if not original:
        pytest.skip("this CVXPY has no direct cones")
    monkeypatch.setattr(MOREAU, "DIR_CONE_KINDS", original)
    x = cp.Variable(3)
    t = cp.Variable()
    y = cp.Variable(2)
    cons = [cp.PowConeND(x, t, np.array([0.2, 0.3, 0.5])), cp.sum(x) <= 2.0, x <= 1.5,
            cp.SOC(y[0], y[1:]), y[0] <= 1]
    prob = cp.Problem(cp.Maximize(t + y[1] - 0.1 * cp.sum_squares(x)), cons)
    data, _, _ = prob.get_problem_data(solver="MOREAU")
    assert "gen_power" in [c.kind for c in data["dir_cones"]]
    prob.solve(solver="CLARABEL")
    ref = (prob.value, x.value.copy(), [np.array(c.dual_value if not isinstance(c.dual_value, list)
                                                 else np.concatenate([np.ravel(d) for d in c.dual_value]), float)
                                        for c in cons])
    prob.solve(solver="MOREAU")
    assert prob.status == "optimal"
    assert abs(prob.value - ref[0]) <= 1e-6 * max(1, abs(ref[0]))
    np.testing.assert_allclose(x.value, ref[1], atol=1e-5)
    for c, r in zip(cons, ref[2]):
        d = c.dual_value if not isinstance(c.dual_value, list) else np.concatenate([np.ravel(v) for v in c.dual_value])
        np.testing.assert_allclose(np.asarray(d, float), r, atol=1e-5)


def test_cvxpy_powconend_unbounded():
    import cvxpy as cp
    x = cp.Variable(2)
    t = cp.Variable()
    prob = cp.Problem(cp.Maximize(t), [cp.PowConeND(x, t, np.array([0.3, 0.7])), x[0] <= 1.0])
    prob.solve(solver="MOREAU")
    assert prob.status == "unbounded"
