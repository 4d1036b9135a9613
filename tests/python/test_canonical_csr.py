"""The native canonical CSR (src/canonical.rs via ``_native.canonical_csr``): the
canonical matrix and its value map against references built here from the
definitions (scipy / dense algebra), for every storage a caller may hand in."""

import numpy as np
import pytest
import scipy.sparse as sp

from moreau_jax import _native, _problem


def _dense_map(ip, ix, vmap, shape, nnz_in):
    """The value map as a dense Jacobian J[i, j, k] = d canonical[i, j] / d values[k]."""
    rows = np.repeat(np.arange(shape[0]), np.diff(ip))
    J = np.zeros(shape + (nnz_in,))
    if vmap.identity:
        J[rows, ix, np.arange(nnz_in)] = 1.0
        return J
    np.add.at(J, (rows[vmap._dest], ix[vmap._dest], vmap._src), vmap._w)
    return J


def _assert_adjoint(ip, ix, vmap, J, rng):
    """A gradient G on the canonical entries goes back to the caller's values as J^T G."""
    shape = J.shape[:2]
    rows = np.repeat(np.arange(shape[0]), np.diff(ip))
    g = rng.normal(size=(2, len(ix)))
    G = np.zeros((2,) + shape)
    G[:, rows, ix] = g
    want = np.einsum("ijk,bij->bk", J, G)
    np.testing.assert_allclose(vmap.adjoint(g[:1]), want[:1], rtol=1e-14, atol=1e-14)  # one row
    np.testing.assert_allclose(vmap.adjoint(g), want, rtol=1e-14, atol=1e-14)  # batched


def _entries(M):
    """(rows, cols) of the stored entries of a scipy CSR / CSC / COO in data order."""
    if M.format == "csr":
        rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
        return rows, M.indices
    if M.format == "csc":
        cols = np.repeat(np.arange(M.shape[1]), np.diff(M.indptr))
        return M.indices, cols
    return M.row, M.col


def _assert_canonical(ip, ix, shape):
    assert ip.dtype == np.int64 and ix.dtype == np.int64
    assert len(ip) == shape[0] + 1 and ip[0] == 0 and ip[-1] == len(ix)
    for r in range(shape[0]):
        row = ix[ip[r]:ip[r + 1]]
        assert np.all(np.diff(row) > 0), f"row {r} not sorted unique: {row}"


def _storages(rng, shape):
    """Unsorted CSR, CSC, COO with duplicates (each with an explicit zero), int32 and int64."""
    D = rng.normal(size=shape) * (rng.random(shape) < 0.5)
    D[0, 0] = D[1, 0] = 0.0
    out = []
    M = sp.csr_matrix(D)
    # an explicit zero at (0, 0)
    M = sp.csr_matrix((np.append(0.0, M.data), np.append(0, M.indices), np.append(0, M.indptr[1:] + 1)), shape=shape)
    # reverse the column order within every row (unsorted indices)
    for r in range(shape[0]):
        sl = slice(M.indptr[r], M.indptr[r + 1])
        M.indices[sl], M.data[sl] = M.indices[sl][::-1].copy(), M.data[sl][::-1].copy()
    M.has_sorted_indices = False
    out.append(("csr unsorted", M, D))
    C = sp.csc_matrix(D)
    # an explicit zero at (1, 0)
    C = sp.csc_matrix((np.append(0.0, C.data), np.append(1, C.indices), np.append(0, C.indptr[1:] + 1)), shape=shape)
    C.indices = C.indices.astype(np.int64)
    C.indptr = C.indptr.astype(np.int64)
    out.append(("csc int64 + zero", C, D))
    r, c = np.nonzero(D)
    v = D[r, c]
    half = rng.random(len(v))
    # every entry split into two duplicates, shuffled, plus a stored zero
    rr, cc, vv = np.concatenate([r, r, [shape[0] - 1]]), np.concatenate([c, c, [0]]), np.concatenate([half * v, (1 - half) * v, [0.0]])
    perm = rng.permutation(len(vv))
    out.append(("coo duplicates", sp.coo_matrix((vv[perm], (rr[perm], cc[perm])), shape=shape), D))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_general_storages_match_definition(seed):
    rng = np.random.default_rng(seed)
    shape = (5, 4)
    for what, M, D in _storages(rng, shape):
        ip, ix, v, vmap = _problem.csr_with_map("A", M, shape)
        _assert_canonical(ip, ix, shape)
        np.testing.assert_allclose(sp.csr_array((v, ix, ip), shape=shape).toarray(), D, atol=1e-15, err_msg=what)
        # the stored zeros are kept in the pattern
        rows, cols = _entries(M)
        canon = set(zip(np.repeat(np.arange(shape[0]), np.diff(ip)).tolist(), ix.tolist()))
        assert canon == set(zip(np.asarray(rows).tolist(), np.asarray(cols).tolist())), what
        J = np.zeros(shape + (len(M.data),))
        J[rows, cols, np.arange(len(M.data))] = 1.0
        np.testing.assert_array_equal(_dense_map(ip, ix, vmap, shape, len(M.data)), J, err_msg=what)
        _assert_adjoint(ip, ix, vmap, J, rng)
        np.testing.assert_array_equal(vmap.forward(M.data[None, :])[0], v)
        assert not vmap.identity


def test_sorted_csr_is_identity():
    M = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    ip, ix, v, vmap = _problem.csr_with_map("A", M, (2, 3))
    assert vmap.identity
    np.testing.assert_array_equal(v, M.data)
    g = np.array([[1.0, 2.0, 3.0]])
    assert vmap.adjoint(g) is g


def _sym(rng, n):
    S = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.6)
    S = S + S.T
    S[1, 2] = S[2, 1] = 0.0
    return S


@pytest.mark.parametrize("seed", [0, 1])
def test_upper_triangle_and_full_P(seed):
    rng = np.random.default_rng(seed)
    n = 5
    S = _sym(rng, n)
    U = np.triu(S)
    r, c = np.nonzero(U)
    # upper triangle as shuffled COO with a stored zero below the diagonal
    rr, cc, vv = np.append(r, 3), np.append(c, 1), np.append(U[r, c], 0.0)
    perm = rng.permutation(len(vv))
    Pu = sp.coo_matrix((vv[perm], (rr[perm], cc[perm])), shape=(n, n))
    ipu, ixu, vu, mu = _problem.symmetric_csr_with_map(Pu, n)
    _assert_canonical(ipu, ixu, (n, n))
    np.testing.assert_array_equal(sp.csr_array((vu, ixu, ipu), shape=(n, n)).toarray(), S)
    J = np.zeros((n, n, len(vv)))
    for k, (i, j) in enumerate(zip(Pu.row, Pu.col)):
        if i <= j:
            J[i, j, k] += 1.0
            if i < j:
                J[j, i, k] += 1.0
    np.testing.assert_array_equal(_dense_map(ipu, ixu, mu, (n, n), len(vv)), J)
    _assert_adjoint(ipu, ixu, mu, J, rng)
    # the full matrix as CSC: same canonical matrix, each entry of a pair half
    Pf = sp.csc_matrix(S)
    ipf, ixf, vf, mf = _problem.symmetric_csr_with_map(Pf, n)
    np.testing.assert_array_equal(ipf, ipu)
    np.testing.assert_array_equal(ixf, ixu)
    np.testing.assert_array_equal(vf, vu)
    rows, cols = _entries(Pf)
    J = np.zeros((n, n, Pf.nnz))
    np.add.at(J, (rows, cols, np.arange(Pf.nnz)), 0.5)
    np.add.at(J, (cols, rows, np.arange(Pf.nnz)), 0.5)
    np.testing.assert_array_equal(_dense_map(ipf, ixf, mf, (n, n), Pf.nnz), J)
    _assert_adjoint(ipf, ixf, mf, J, rng)


def test_diagonal_P_is_identity():
    ip, ix, v, vmap = _problem.symmetric_csr_with_map(sp.eye(3, format="csr") * 2.0, 3)
    assert vmap.identity
    np.testing.assert_array_equal(v, [2.0, 2.0, 2.0])


def test_asymmetric_P_message():
    P = sp.csr_matrix(np.array([[2.0, 1.0], [1.5, 3.0]]))
    with pytest.raises(ValueError) as e:
        _problem.symmetric_csr_with_map(P, 2)
    assert str(e.value) == (
        "P must be symmetric: P[0, 1] = 1.0 but P[1, 0] = 1.5 (max |P - P^T| = 0.5). Pass the full "
        "symmetric matrix, or only its upper triangle (then nothing may be stored below the "
        "diagonal). If you passed the lower triangle, pass its transpose."
    )
    # lower triangle only: the missing mirror counts as 0
    L = sp.coo_matrix(([1.0, 1e-7], ([0, 1], [0, 0])), shape=(2, 2))
    with pytest.raises(ValueError, match=r"P\[1, 0\] = 1e-07 but P\[0, 1\] = 0.0 \(max \|P - P\^T\| = 1e-07\)"):
        _problem.symmetric_csr_with_map(L, 2)


def test_nearly_symmetric_P_is_averaged():
    P = sp.csr_matrix(np.array([[2.0, 1.0], [1.0 + 1e-13, 3.0]]))
    ip, ix, v, _ = _problem.symmetric_csr_with_map(P, 2)
    assert v[1] == v[2] == 0.5 * (1.0 + 1.0 + 1e-13)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_stored_value_message(bad):
    A = sp.csr_matrix(np.array([[1.0, 2.0], [0.0, 3.0]]))
    A.data[1] = bad
    with pytest.raises(ValueError) as e:
        _problem.csr_with_map("A", A, (2, 2))
    assert str(e.value) == (
        f"A (stored values) contains a non-finite value ({bad} at index 1); all problem data "
        f"must be finite (no NaN or Inf)."
    )
    with pytest.raises(ValueError, match=r"P \(stored values\) contains a non-finite value"):
        _problem.symmetric_csr_with_map(A, 2)


def test_empty_matrices():
    for shape in [(0, 3), (3, 2)]:
        ip, ix, v, vmap = _problem.csr_with_map("A", sp.csr_matrix(shape), shape)
        np.testing.assert_array_equal(ip, np.zeros(shape[0] + 1))
        assert len(ix) == len(v) == 0 and vmap.identity
        assert vmap.adjoint(np.zeros((2, 0))).shape == (2, 0)
    ip, ix, v, vmap = _problem.symmetric_csr_with_map(sp.coo_matrix((4, 4)), 4)
    np.testing.assert_array_equal(ip, np.zeros(5))
    assert len(ix) == 0 and vmap.identity and vmap.nnz_in == 0


def test_dense_and_other_formats_go_the_same_way():
    S = _sym(np.random.default_rng(3), 4)
    ref = _problem.symmetric_csr_with_map(sp.csr_matrix(S), 4)
    for P in (S, sp.lil_matrix(S), sp.dok_matrix(S), sp.bsr_matrix(S)):
        ip, ix, v, _ = _problem.symmetric_csr_with_map(P, 4)
        np.testing.assert_array_equal(ip, ref[0])
        np.testing.assert_array_equal(ix, ref[1])
        np.testing.assert_array_equal(v, ref[2])


def test_broken_storage_is_a_value_error():
    A = sp.csr_matrix(np.array([[1.0, 2.0], [0.0, 3.0]]))
    A.indices[0] = 7  # scipy does not re-check after construction
    with pytest.raises(ValueError, match=r"A: invalid sparse matrix storage: indices\[0\] = 7 is out of range"):
        _problem.csr_with_map("A", A, (2, 2))
    with pytest.raises(ValueError, match="invalid sparse matrix storage"):
        _native.canonical_csr("A", "csr", 2, 2, np.array([0, 3, 1]), np.array([0, 1, 1]), np.ones(3), False)
    # a row running past the stored entries before indptr comes back down
    with pytest.raises(ValueError, match="invalid sparse matrix storage: indptr must not decrease"):
        _native.canonical_csr("A", "csr", 2, 2, np.array([0, 5, 2]), np.array([0, 1]), np.ones(2), False)
    with pytest.raises(ValueError, match="unknown storage format"):
        _native.canonical_csr("A", "bsr", 2, 2, np.array([0]), np.array([0]), np.ones(1), False)


def test_any_integer_index_dtype():
    row, col = np.array([1, 0], np.uint16), np.array([0, 1], np.int8)
    ip, ix, v, dest, src, w, identity = _native.canonical_csr("A", "coo", 2, 2, row, col, np.array([5.0, 6.0]), False)
    np.testing.assert_array_equal(ip, [0, 1, 2])
    np.testing.assert_array_equal(ix, [1, 0])
    np.testing.assert_array_equal(v, [6.0, 5.0])
    assert not identity and dest.dtype == src.dtype == np.int64 and w.dtype == np.float64
