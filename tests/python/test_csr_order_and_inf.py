"""Issue 13: (1) gradients and tangents line up with the CALLER's stored values,
whatever order the matrix is given in (unsorted CSR, CSC, COO with duplicates,
dense, raw unsorted patterns of CompiledSolver and moreau.jax.Solver); (2) +inf in
b on a nonnegative-cone row is an absent bound: the problem equals the one with
that row removed (x, z and s on the other rows, objective, gradients), z_i = 0,
s_i = +inf, db_i = 0 and dA on row i = 0, in every API and per batch element;
any other infinity in b is a ValueError naming the row (a NumericalError status
for that element under jit), NaN stays an error.

References: the same problem in sorted CSR (order), the problem with the rows
removed (+inf), central finite differences of the caller's data (order)."""

import numpy as np
import pytest
import scipy.sparse as sp

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import moreau  # noqa: E402
import moreau.jax as mjax  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-6)


def _qp(seed, n=6, nz=1, nl=7, density=0.6):
    """A random feasible, strictly convex QP with nz zero-cone and nl nonneg rows."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, n))
    P = M @ M.T / n + np.eye(n)
    A = rng.normal(size=(nz + nl, n)) * (rng.uniform(size=(nz + nl, n)) < density)
    A[np.arange(nz + nl), rng.integers(0, n, nz + nl)] += 1.0  # no empty row
    x0 = rng.normal(size=n)
    s0 = np.concatenate([np.zeros(nz), rng.uniform(0.0, 1.0, nl) * (rng.uniform(size=nl) < 0.6)])
    b = A @ x0 + s0
    q = rng.normal(size=n)
    return dict(P=P, A=A, q=q, b=b, nz=nz, nl=nl, n=n, m=nz + nl)


def _cones(d, nl=None):
    return moreau.Cones(num_zero_cones=d["nz"], num_nonneg_cones=d["nl"] if nl is None else nl)


def _settings():
    return moreau.Settings(enable_grad=True)


def _reverse_rows(M):
    """The same CSR matrix with the entries of every row stored in reverse order."""
    U = sp.csr_matrix(M, copy=True)
    for s, e in zip(U.indptr[:-1], U.indptr[1:]):
        U.indices[s:e] = U.indices[s:e][::-1].copy()
        U.data[s:e] = U.data[s:e][::-1].copy()
    assert not U.has_sorted_indices or U.nnz == U.shape[0]
    return U


def _entries(M):
    """(row, col) of each stored value of a scipy CSR / CSC / COO, in M.data order."""
    C = M.tocoo() if M.format == "coo" else None
    if M.format == "csr":
        return np.repeat(np.arange(M.shape[0]), np.diff(M.indptr)), M.indices
    if M.format == "csc":
        return M.indices, np.repeat(np.arange(M.shape[1]), np.diff(M.indptr))
    return C.row, C.col


def _lookup(ref_csr, rows, cols, values):
    """values of the sorted CSR `ref_csr` (one per stored entry) at (rows, cols)."""
    out = np.empty(len(rows))
    for k, (i, j) in enumerate(zip(rows, cols)):
        lo, hi = ref_csr.indptr[i], ref_csr.indptr[i + 1]
        t = lo + np.searchsorted(ref_csr.indices[lo:hi], j)
        assert t < hi and ref_csr.indices[t] == j
        out[k] = values[t]
    return out


def _solve(P, A, d, b=None, cones=None):
    s = moreau.Solver(P, d["q"], A, d["b"] if b is None else b, cones or _cones(d), _settings())
    sol = s.solve()
    assert s.info.status.name == "Solved", s.info.status
    return s, sol


# ---------------------------------------------------------------------------
# (1) caller's order: moreau.Solver
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_solver_unsorted_csc_coo_gradients_follow_caller_data(seed):
    d = _qp(seed)
    rng = np.random.default_rng(100 + seed)
    P_ref, A_ref = sp.csr_matrix(d["P"]), sp.csr_matrix(d["A"])
    ref, ref_sol = _solve(P_ref, A_ref, d)
    gx, gz = rng.normal(size=d["n"]), rng.normal(size=d["m"])
    g_ref = ref.backward(gx, gz)
    # COO with shuffled entries and one A entry split into two duplicates
    Ac = sp.coo_matrix(d["A"])
    order = rng.permutation(Ac.nnz)
    row, col, val = Ac.row[order], Ac.col[order], Ac.data[order]
    row, col, val = np.append(row, row[0]), np.append(col, col[0]), np.append(val * 1.0, 0.25 * val[0])
    val[0] *= 0.75
    A_coo = sp.coo_matrix((val, (row, col)), shape=Ac.shape)
    Pc = sp.coo_matrix(d["P"])
    order = rng.permutation(Pc.nnz)
    P_coo = sp.coo_matrix((Pc.data[order], (Pc.row[order], Pc.col[order])), shape=Pc.shape)
    cases = {
        "unsorted csr": (_reverse_rows(d["P"]), _reverse_rows(d["A"])),
        "csc": (sp.csc_matrix(d["P"]), sp.csc_matrix(d["A"])),
        "coo shuffled + duplicate": (P_coo, A_coo),
    }
    for name, (P, A) in cases.items():
        s, sol = _solve(P, A, d)
        np.testing.assert_allclose(sol.x, ref_sol.x, atol=1e-9, err_msg=name)
        g = s.backward(gx, gz)
        assert g["dP_values"].shape == P.data.shape and g["dA_values"].shape == A.data.shape, name
        for key, M, Mref in (("dP_values", P, P_ref), ("dA_values", A, A_ref)):
            want = _lookup(Mref, *_entries(M), g_ref[key])
            np.testing.assert_allclose(g[key], want, atol=1e-9, err_msg=f"{name} {key}")
        np.testing.assert_allclose(g["dq"], g_ref["dq"], atol=1e-9)
        # JVP: tangents in the caller's order
        tA = rng.normal(size=A.nnz)
        t_ref = np.zeros(A_ref.nnz)
        r, c = _entries(A)
        for k in range(A.nnz):  # duplicates add up
            lo = A_ref.indptr[r[k]]
            t_ref[lo + np.searchsorted(A_ref.indices[lo:A_ref.indptr[r[k] + 1]], c[k])] += tA[k]
        np.testing.assert_allclose(s.jvp(dA_values=tA)["dx"], ref.jvp(dA_values=t_ref)["dx"], atol=1e-9)
        # adjointness in the caller's coordinates
        lhs = s.jvp(dA_values=tA)["dx"] @ gx
        np.testing.assert_allclose(lhs, s.backward(gx)["dA_values"] @ tA, rtol=1e-7, atol=1e-10)


def test_solver_unsorted_upper_triangle_matches_finite_differences():
    """P as an unsorted upper triangle, A unsorted: each gradient entry is the
    derivative with respect to that very entry of the caller's data."""
    d = _qp(3, n=4, nl=5)
    Pu = _reverse_rows(sp.triu(sp.csr_matrix(d["P"])).tocsr())
    Au = _reverse_rows(d["A"])
    gx = np.random.default_rng(7).normal(size=d["n"])
    s, _ = _solve(Pu, Au, d)
    g = s.backward(gx)
    eps = 1e-6
    for key, M in (("dP_values", Pu), ("dA_values", Au)):
        fd = np.empty(M.nnz)
        for k in range(M.nnz):
            xs = []
            for sign in (1, -1):
                Mk = M.copy()
                Mk.data[k] += sign * eps
                Pk, Ak = (Mk, Au) if key == "dP_values" else (Pu, Mk)
                xs.append(moreau.Solver(Pk, d["q"], Ak, d["b"], _cones(d)).solve().x)
            fd[k] = (xs[0] - xs[1]) @ gx / (2 * eps)
        np.testing.assert_allclose(g[key], fd, rtol=1e-4, atol=1e-5, err_msg=key)


def test_solver_dense_input_order_is_row_major_nonzeros():
    d = _qp(4)
    s, _ = _solve(d["P"], d["A"], d)
    r, _ = _solve(sp.csr_matrix(d["P"]), sp.csr_matrix(d["A"]), d)
    gx = np.ones(d["n"])
    g, gr = s.backward(gx), r.backward(gx)
    assert len(g["dA_values"]) == np.count_nonzero(d["A"])
    for k in ("dP_values", "dA_values", "dq", "db"):
        np.testing.assert_allclose(g[k], gr[k], atol=1e-10)


# ---------------------------------------------------------------------------
# (1) caller's order: CompiledSolver and moreau.jax.Solver (raw patterns)
# ---------------------------------------------------------------------------


def _raw(M, unsorted):
    C = _reverse_rows(M) if unsorted else sp.csr_matrix(M)
    return C.indptr.astype(np.int64), C.indices.astype(np.int64), C.data.copy()


def test_compiled_solver_unsorted_pattern():
    d = _qp(5)
    B = 2
    rng = np.random.default_rng(5)
    qs = d["q"] + 0.1 * rng.normal(size=(B, d["n"]))
    bs = np.tile(d["b"], (B, 1))
    gx, gz = rng.normal(size=(B, d["n"])), rng.normal(size=(B, d["m"]))
    out = {}
    for unsorted in (False, True):
        Pip, Pix, Pv = _raw(d["P"], unsorted)
        Aip, Aix, Av = _raw(d["A"], unsorted)
        cs = moreau.CompiledSolver(
            d["n"], d["m"], Pip, Pix, Aip, Aix, _cones(d),
            moreau.Settings(enable_grad=True, batch_size=B),
        )
        cs.setup(Pv, Av)
        sol = cs.solve(qs, bs)
        g = cs.backward(gx, gz)
        tA = np.arange(1.0, len(Av) + 1.0)  # a tangent tied to the caller's positions
        out[unsorted] = (sol.x, g, cs.jvp(dA_values=tA)["dx"], Pix, Aix, Pip, Aip)
    x0, g0, j0, Pix0, Aix0, Pip0, Aip0 = out[False]
    x1, g1, j1, Pix1, Aix1, Pip1, Aip1 = out[True]
    np.testing.assert_allclose(x1, x0, atol=1e-10)
    for key, ip, ix, ip0, ix0 in (("dP_values", Pip1, Pix1, Pip0, Pix0), ("dA_values", Aip1, Aix1, Aip0, Aix0)):
        ref = sp.csr_matrix((np.zeros(len(ix0)), ix0, ip0))
        rows = np.repeat(np.arange(len(ip) - 1), np.diff(ip))
        for b in range(B):
            np.testing.assert_allclose(g1[key][b], _lookup(ref, rows, ix, g0[key][b]), atol=1e-10)
    # the tangent arange in reversed order is a different tangent: check the mapping
    rows = np.repeat(np.arange(len(Aip1) - 1), np.diff(Aip1))
    ref = sp.csr_matrix((np.zeros(len(Aix0)), Aix0, Aip0))
    perm = np.array([_lookup(ref, [r], [c], np.arange(len(Aix0)))[0] for r, c in zip(rows, Aix1)], int)
    t0 = np.empty(len(perm))
    t0[perm] = np.arange(1.0, len(perm) + 1.0)
    cs0 = moreau.CompiledSolver(d["n"], d["m"], Pip0, Pix0, Aip0, Aix0, _cones(d),
                                moreau.Settings(enable_grad=True, batch_size=B))
    cs0.setup(_raw(d["P"], False)[2], _raw(d["A"], False)[2])
    cs0.solve(qs, bs)
    np.testing.assert_allclose(j1, cs0.jvp(dA_values=t0)["dx"], atol=1e-10)


def test_raw_pattern_duplicates_stay_an_error():
    d = _qp(6)
    Pip, Pix, _ = _raw(d["P"], True)
    Aip, Aix, _ = _raw(d["A"], True)
    bad = Aix.copy()
    bad[1] = bad[0]
    with pytest.raises(ValueError, match="duplicate entry.*row 0"):
        moreau.CompiledSolver(d["n"], d["m"], Pip, Pix, Aip, bad, _cones(d))
    with pytest.raises(ValueError, match="duplicate entry.*row 0"):
        mjax.Solver(d["n"], d["m"], Pip, Pix, Aip, bad, _cones(d))


def test_jax_solver_unsorted_pattern_grad():
    d = _qp(7)
    rng = np.random.default_rng(7)
    cx, cz = jnp.asarray(rng.normal(size=d["n"])), jnp.asarray(rng.normal(size=d["m"]))
    res = {}
    for unsorted in (False, True):
        Pip, Pix, Pv = _raw(d["P"], unsorted)
        Aip, Aix, Av = _raw(d["A"], unsorted)
        solver = mjax.Solver(d["n"], d["m"], Pip, Pix, Aip, Aix, _cones(d), moreau.Settings(enable_grad=True))

        def loss(P, A, q, b):
            sol = solver.solve(P, A, q, b)
            return sol.x @ cx + sol.z @ cz

        args = tuple(jnp.asarray(v) for v in (Pv, Av, d["q"], d["b"]))
        val, grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))(*args)
        res[unsorted] = (val, grads, Pip, Pix, Aip, Aix)
    v0, g0, Pip0, Pix0, Aip0, Aix0 = res[False]
    v1, g1, Pip1, Pix1, Aip1, Aix1 = res[True]
    np.testing.assert_allclose(v1, v0, atol=1e-10)
    for k, (ip, ix, ip0, ix0) in enumerate(((Pip1, Pix1, Pip0, Pix0), (Aip1, Aix1, Aip0, Aix0))):
        ref = sp.csr_matrix((np.zeros(len(ix0)), ix0, ip0))
        rows = np.repeat(np.arange(len(ip) - 1), np.diff(ip))
        np.testing.assert_allclose(np.asarray(g1[k]), _lookup(ref, rows, ix, np.asarray(g0[k])), atol=1e-10)
    np.testing.assert_allclose(g1[2], g0[2], atol=1e-10)
    # and the NumPy Solver on the same unsorted matrices agrees (same convention)
    s, _ = _solve(_reverse_rows(d["P"]), _reverse_rows(d["A"]), d)
    g = s.backward(np.asarray(cx), np.asarray(cz))
    np.testing.assert_allclose(g1[0], g["dP_values"], **TOL)
    np.testing.assert_allclose(g1[1], g["dA_values"], **TOL)


# ---------------------------------------------------------------------------
# (2) +inf in b on a nonnegative row = the row is absent
# ---------------------------------------------------------------------------


def _removed(d, absent):
    keep = np.setdiff1d(np.arange(d["m"]), absent)
    return keep, sp.csr_matrix(d["A"][keep]), d["b"][keep], _cones(d, d["nl"] - len(absent))


@pytest.mark.parametrize("seed, absent", [(10, [2]), (11, [1, 4, 7]), (12, [3, 5])])
def test_numpy_solver_inf_rows_equal_removed_rows(seed, absent):
    d = _qp(seed)
    rng = np.random.default_rng(seed)
    b = d["b"].copy()
    b[absent] = np.inf
    A = sp.csr_matrix(d["A"])
    s, sol = _solve(sp.csr_matrix(d["P"]), A, d, b=b)
    keep, Ar, br, cr = _removed(d, absent)
    r, rsol = _solve(sp.csr_matrix(d["P"]), Ar, d, b=br, cones=cr)
    np.testing.assert_allclose(sol.x, rsol.x, **TOL)
    np.testing.assert_allclose(sol.z[keep], rsol.z, **TOL)
    np.testing.assert_allclose(sol.s[keep], rsol.s, **TOL)
    assert np.all(sol.z[absent] == 0.0) and np.all(sol.s[absent] == np.inf)
    np.testing.assert_allclose(s.info.obj_val, r.info.obj_val, rtol=1e-7)
    # gradients (loss on x and on the kept rows' z, s)
    gx, gzk, gsk = rng.normal(size=d["n"]), rng.normal(size=len(keep)), rng.normal(size=len(keep))
    gz, gs = np.zeros(d["m"]), np.zeros(d["m"])
    gz[keep], gs[keep] = gzk, gsk
    g, gr = s.backward(gx, gz, gs), r.backward(gx, gzk, gsk)
    np.testing.assert_allclose(g["dq"], gr["dq"], **TOL)
    np.testing.assert_allclose(g["dP_values"], gr["dP_values"], **TOL)
    np.testing.assert_allclose(g["db"][keep], gr["db"], **TOL)
    assert np.all(g["db"][absent] == 0.0)
    rows = np.repeat(np.arange(d["m"]), np.diff(A.indptr))
    in_absent = np.isin(rows, absent)
    assert np.all(g["dA_values"][in_absent] == 0.0)
    np.testing.assert_allclose(g["dA_values"][~in_absent], gr["dA_values"], **TOL)
    # also a cotangent on the absent rows' z leaves the gradients unchanged (z_i = 0 there)
    gz2 = gz.copy()
    gz2[absent] = 5.0
    np.testing.assert_allclose(s.backward(gx, gz2, gs)["dq"], g["dq"], atol=1e-9)
    # forward mode: tangents of x, z, s
    tq, tbk = rng.normal(size=d["n"]), rng.normal(size=len(keep))
    tb = np.zeros(d["m"])
    tb[keep], tb[absent] = tbk, 3.0
    j, jr = s.jvp(dq=tq, db=tb), r.jvp(dq=tq, db=tbk)
    np.testing.assert_allclose(j["dx"], jr["dx"], **TOL)
    np.testing.assert_allclose(j["dz"][keep], jr["dz"], **TOL)
    assert np.all(j["dz"][absent] == 0.0) and np.all(j["ds"][absent] == 0.0)
    # a warm start from this solution (s = +inf on absent rows) is accepted
    again = s.solve(warm_start=sol)
    np.testing.assert_allclose(again.x, sol.x, **TOL)


def test_compiled_solver_batch_some_elements_inf():
    d = _qp(20)
    B = 3
    absent = {0: [], 1: [2], 2: [3, 6]}
    bs = np.tile(d["b"], (B, 1))
    for k, rows in absent.items():
        bs[k, rows] = np.inf
    A = sp.csr_matrix(d["A"])
    P = sp.csr_matrix(d["P"])
    cs = moreau.CompiledSolver(
        d["n"], d["m"], P.indptr, P.indices, A.indptr, A.indices, _cones(d),
        moreau.Settings(enable_grad=True, batch_size=B),
    )
    cs.setup(P.data, A.data)
    qs = np.tile(d["q"], (B, 1))
    sol = cs.solve(qs, bs)
    gx = np.ones((B, d["n"]))
    g = cs.backward(gx)
    for k, rows in absent.items():
        keep, Ar, br, cr = _removed(d, rows)
        r, rsol = _solve(P, Ar, d, b=br, cones=cr)
        np.testing.assert_allclose(sol.x[k], rsol.x, **TOL)
        np.testing.assert_allclose(sol.z[k, keep], rsol.z, **TOL)
        assert np.all(sol.z[k, rows] == 0.0) and np.all(sol.s[k, rows] == np.inf)
        gr = r.backward(gx[k])
        np.testing.assert_allclose(g["dq"][k], gr["dq"], **TOL)
        np.testing.assert_allclose(g["db"][k, keep], gr["db"], **TOL)
        assert np.all(g["db"][k, rows] == 0.0)


def test_jax_vmap_batch_some_elements_inf():
    d = _qp(30)
    B = 3
    absent = {0: [], 1: [4], 2: [1, 5]}
    bs = np.tile(d["b"], (B, 1))
    for k, rows in absent.items():
        bs[k, rows] = np.inf
    P, A = sp.csr_matrix(d["P"]), sp.csr_matrix(d["A"])
    solver = mjax.Solver(d["n"], d["m"], P.indptr, P.indices, A.indptr, A.indices, _cones(d),
                         moreau.Settings(enable_grad=True))
    rng = np.random.default_rng(30)
    cx = jnp.asarray(rng.normal(size=(B, d["n"])))

    def loss(Pv, Av, q, b):
        x = jax.vmap(lambda q, b: solver.solve(Pv, Av, q, b).x)(q, b)
        return jnp.sum(x * cx)

    args = (jnp.asarray(P.data), jnp.asarray(A.data), jnp.tile(jnp.asarray(d["q"]), (B, 1)), jnp.asarray(bs))
    sols = jax.jit(jax.vmap(lambda q, b: solver.solve(args[0], args[1], q, b)))(args[2], args[3])
    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(*args)
    dA_sum = np.zeros(A.nnz)
    for k, rows in absent.items():
        keep, Ar, br, cr = _removed(d, rows)
        r, rsol = _solve(P, Ar, d, b=br, cones=cr)
        np.testing.assert_allclose(sols.x[k], rsol.x, **TOL)
        np.testing.assert_allclose(sols.z[k][keep], rsol.z, **TOL)
        assert np.all(np.asarray(sols.z[k])[rows] == 0.0) and np.all(np.asarray(sols.s[k])[rows] == np.inf)
        gr = r.backward(np.asarray(cx[k]))
        np.testing.assert_allclose(grads[2][k], gr["dq"], **TOL)
        np.testing.assert_allclose(np.asarray(grads[3][k])[keep], gr["db"], **TOL)
        assert np.all(np.asarray(grads[3][k])[rows] == 0.0)
        full = np.zeros(A.nnz)
        arows = np.repeat(np.arange(d["m"]), np.diff(A.indptr))
        full[~np.isin(arows, rows)] = gr["dA_values"]
        dA_sum += full
    np.testing.assert_allclose(grads[1], dA_sum, **TOL)  # A shared: summed over the batch
    # forward mode through an absent row: dz_i = ds_i = 0
    tb = jnp.ones(d["m"])
    _, tan = jax.jvp(lambda b: solver.solve(args[0], args[1], args[2][2], b), (args[3][2],), (tb,))
    assert np.all(np.asarray(tan.z)[absent[2]] == 0.0) and np.all(np.asarray(tan.s)[absent[2]] == 0.0)


# ---------------------------------------------------------------------------
# (2) the error cases
# ---------------------------------------------------------------------------


def _mixed():
    """Rows: 0 zero-cone, 1..2 nonneg, 3..5 SOC (dim 3)."""
    n = 3
    A = np.vstack([np.ones((1, n)), -np.eye(n)[:2], -np.eye(n)])
    b = np.array([1.0, 0.0, 0.0, 2.0, 0.0, 0.0])
    cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=2, so_cone_dims=[3])
    return n, sp.csr_matrix(np.eye(n)), sp.csr_matrix(A), np.ones(n), b, cones


@pytest.mark.parametrize("row, value, kind", [
    (1, -np.inf, "nonnegative-cone"),
    (0, np.inf, "zero-cone"),
    (0, -np.inf, "zero-cone"),
    (4, np.inf, "second-order-cone"),
])
def test_bad_infinities_raise_naming_the_row(row, value, kind):
    n, P, A, q, b, cones = _mixed()
    b = b.copy()
    b[row] = value
    msg = rf"b\[{row}\] = -?inf on row {row}, a {kind} row"
    with pytest.raises(ValueError, match=msg):
        moreau.Solver(P, q, A, b, cones)
    cs = moreau.CompiledSolver(n, 6, P.indptr, P.indices, A.indptr, A.indices, cones,
                               moreau.Settings(batch_size=2))
    cs.setup(P.data, A.data)
    bs = np.tile(b, (2, 1))
    bs[0, row] = 0.0 if row else 1.0
    with pytest.raises(ValueError, match=rf"bs\[1, {row}\] = -?inf on row {row}, a {kind} row"):
        cs.solve(np.tile(q, (2, 1)), bs)
    js = mjax.Solver(n, 6, P.indptr, P.indices, A.indptr, A.indices, cones)
    with pytest.raises(ValueError, match=msg):  # eager (concrete) values raise
        js.solve(jnp.asarray(P.data), jnp.asarray(A.data), jnp.asarray(q), jnp.asarray(b))
    # under jit the values are not known at trace time: that element gets a
    # NumericalError status and NaN outputs, the other elements are solved
    f = jax.jit(jax.vmap(lambda b: js._impl.solve(jnp.asarray(P.data), jnp.asarray(A.data), jnp.asarray(q), b)))
    sol, info = f(jnp.asarray(bs))
    assert int(info.status[0]) == moreau.SolverStatus.Solved.value
    assert int(info.status[1]) == moreau.SolverStatus.NumericalError.value
    assert np.all(np.isnan(np.asarray(sol.x[1]))) and np.all(np.isfinite(np.asarray(sol.x[0])))


def test_plus_inf_on_nonneg_row_ok_and_nan_still_an_error():
    n, P, A, q, b, cones = _mixed()
    b = b.copy()
    b[2] = np.inf
    s = moreau.Solver(P, q, A, b, cones)
    sol = s.solve()
    assert s.info.status.name == "Solved" and sol.z[2] == 0.0 and sol.s[2] == np.inf
    b[2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        moreau.Solver(P, q, A, b, cones)
    # the native layer checks too (no Python pre-check in the way)
    native = s._holder.get()
    with pytest.raises(ValueError, match=r"b\[0\] = inf on a zero-cone row"):
        bb = np.array([[np.inf, 0.0, 0.0, 2.0, 0.0, 0.0]])
        native.solve(s._P_values, s._A_values, s._q, bb)
