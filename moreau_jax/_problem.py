"""Conversion and validation of problem data (NumPy / SciPy side).

Everything here runs before the native solver is called, so that a bad input
gives a ValueError / TypeError that says what to fix instead of a crash or a
silently wrong answer. The Rust extension validates again; the checks here
exist for the nicer messages.

Conventions (see docs/native-interface.md):
- float64 everywhere. float16/float32 and integer inputs are converted exactly
  (integers beyond 2**53 in magnitude are rejected since float64 cannot hold
  them); complex, boolean, string and object arrays raise TypeError.
- P is handed to the native solver as the FULL symmetric matrix in CSR with
  sorted, unique column indices and a structurally symmetric pattern.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import sparse

from . import _fields
from ._types import ActiveSetSettings, Cones, Settings

__all__ = [
    "as_float_array",
    "to_csr",
    "symmetric_csr",
    "ValueMap",
    "csr_with_map",
    "symmetric_csr_with_map",
    "check_csr_pattern",
    "sort_csr_pattern",
    "check_b_infinities",
    "check_symmetric_pattern",
    "transpose_permutation",
    "symmetrize_values",
    "full_symmetric_pattern",
    "check_cones_match",
    "check_b_sparsity_pattern",
    "cones_to_native",
    "lift_direct_cones",
    "settings_to_native",
]

_MAX_EXACT_INT = 2**53
_SYM_RTOL = 1e-12

CSR = Tuple[np.ndarray, np.ndarray, np.ndarray]


# ---------------------------------------------------------------------------
# Dense arrays
# ---------------------------------------------------------------------------


def _dtype_error(name: str, dtype: np.dtype) -> TypeError:
    if np.issubdtype(dtype, np.complexfloating):
        why = "complex values are not supported (the solver works in real float64)"
    elif dtype == np.bool_:
        why = "boolean arrays are not numeric data; convert with .astype(float) if intended"
    elif dtype == object:
        why = "got an object array (ragged nested lists, None, or mixed types?)"
    else:
        why = f"dtype {dtype} is not a real number type"
    return TypeError(f"{name} must contain real numbers (float64 preferred): {why}.")


def _convert_values(name: str, arr: np.ndarray) -> np.ndarray:
    """Convert a numeric array to float64 exactly, or raise."""
    dt = arr.dtype
    if dt == np.float64:
        return arr
    if dt == np.bool_ or not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        raise _dtype_error(name, dt)
    if np.issubdtype(dt, np.integer):
        if arr.size and (
            int(arr.max()) > _MAX_EXACT_INT or int(arr.min()) < -_MAX_EXACT_INT
        ):
            raise ValueError(
                f"{name} has integer entries larger than 2**53 in magnitude, which float64 "
                f"cannot represent exactly; convert it to float yourself if that is intended."
            )
        return arr.astype(np.float64)
    out = arr.astype(np.float64)
    if dt.itemsize > 8:  # long double: refuse silent rounding of finite values
        if not np.array_equal(out.astype(dt), arr, equal_nan=True):
            raise ValueError(f"{name} ({dt}) cannot be converted exactly to float64.")
    return out


def _all_finite(arr: np.ndarray) -> bool:
    """Whether every entry of the float64 array is finite. x.x (or sum x_i) is
    finite only if every x_i is (NaN and +-inf propagate into it), and one dot
    product costs a fraction of a ufunc call on a tiny array; an overflow of x.x
    (|x_i| > 1e154) falls through to the exact check."""
    flat = arr if arr.ndim == 1 else arr.reshape(-1)
    if flat.size <= 16:
        # a BLAS dot costs 1 us at any size; a Python sum of a short list half that
        # (inf - inf and NaN give NaN; an overflow falls through as below)
        return math.isfinite(sum(flat.tolist())) or bool(np.isfinite(flat).all())
    return math.isfinite(flat.dot(flat)) or bool(np.isfinite(flat).all())


def _check_finite(name: str, arr: np.ndarray) -> None:
    if arr.size and not _all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        where = tuple(int(i) for i in bad) if arr.ndim > 1 else int(bad[0])
        value = arr[tuple(bad)]
        raise ValueError(
            f"{name} contains a non-finite value ({value} at index {where}); all problem "
            f"data must be finite (no NaN or Inf)."
        )


def as_float_array(
    name: str,
    value: Any,
    *,
    shape: Optional[Sequence[Optional[int]]] = None,
    shapes: Optional[Sequence[Sequence[Optional[int]]]] = None,
    shape_hint: str = "",
    allow_inf: bool = False,
) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array, checking dtype, shape and finiteness.

    ``shape`` (or any one of ``shapes``) gives the accepted shape(s); None in a
    shape accepts any length on that axis. ``allow_inf`` lets +-inf through (NaN
    still raises): for b, whose infinities ``check_b_infinities`` checks.
    """
    if type(value) is np.ndarray:  # the common case: neither None nor sparse
        arr = value
    else:
        if value is None:
            raise TypeError(f"{name} is required (got None).")
        if sparse.issparse(value):
            raise TypeError(
                f"{name} must be a dense array, got a scipy sparse {type(value).__name__}; "
                f"use {name}.toarray().ravel() for a vector."
            )
        try:
            arr = np.asarray(value)
        except ValueError as e:  # ragged nested sequences
            raise ValueError(f"{name} could not be converted to an array: {e}") from None
    arr = _convert_values(name, arr)
    allowed = shapes if shapes is not None else ((shape,) if shape is not None else ())
    if allowed:
        for s in allowed:
            if _shape_ok(arr.shape, s):
                break
        else:
            want = " or ".join(_fmt_shape(s) for s in allowed)
            raise ValueError(
                f"{name} has shape {arr.shape}, expected {want}{shape_hint}."
            )
    if arr.size and not _all_finite(arr):
        _check_finite(name, np.where(np.isinf(arr), 0.0, arr) if allow_inf else arr)
    if arr.ndim and arr.flags.c_contiguous:
        return arr
    return np.ascontiguousarray(arr, dtype=np.float64)


def _cone_row_blocks(cones: Cones) -> List[Tuple[str, int, int]]:
    """(kind, first row, end row) of each cone block of the rows of b."""
    blocks, r = [], 0
    sizes = [
        ("zero-cone", cones.num_zero_cones),
        ("nonnegative-cone", cones.num_nonneg_cones),
        ("second-order-cone", sum(cones.so_cone_dims)),
        ("exponential-cone", 3 * cones.num_exp_cones),
        ("power-cone", 3 * len(cones.power_alphas)),
        ("generalized-power-cone", sum(len(a) + d2 for a, d2 in cones.gen_power_cone_params)),
        ("PSD-cone", sum(d * (d + 1) // 2 for d in cones.psd_dims)),
    ]
    for kind, size in sizes:
        blocks.append((kind, r, r + int(size)))
        r += int(size)
    return blocks


def check_b_infinities(cones: Cones, b: np.ndarray, name: str = "b") -> None:
    """Infinite entries of b, shape (m,) or (B, m): +inf on a nonnegative-cone row
    means the row is absent (no bound; its dual is 0 and its gradients are 0), as
    in the official Moreau package. Any other infinity (-inf on a nonnegative
    row, +-inf on a zero, SOC, exp, power or PSD row) is a ValueError naming the
    row. NaN is rejected before (``as_float_array``)."""
    b = np.asarray(b, dtype=np.float64)
    if b.size == 0 or _all_finite(b):
        return
    blocks = _cone_row_blocks(cones)
    _, l0, l1 = blocks[1]
    row = np.arange(b.shape[-1])
    ok = np.isposinf(b) & (row >= l0) & (row < l1)
    bad = np.isinf(b) & ~ok
    if not np.any(bad):
        return
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    i = where[-1]
    kind = next((k for k, r0, r1 in blocks if r0 <= i < r1), "out-of-range")
    at = ", ".join(map(str, where))
    raise ValueError(
        f"{name}[{at}] = {b[where]} on row {i}, a "
        f"{kind} row: infinite values of b are allowed only as +inf on nonnegative-cone rows "
        f"(rows {l0}..{l1 - 1}), where +inf means the row's bound is absent. Remove the row, "
        f"or give a finite value."
    )


def _shape_ok(got: Tuple[int, ...], want: Sequence[Optional[int]]) -> bool:
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if w is not None and g != w:
            return False
    return True


def _fmt_shape(s: Sequence[Optional[int]]) -> str:
    inner = ", ".join("*" if d is None else str(d) for d in s)
    return f"({inner},)" if len(s) == 1 else f"({inner})"


# ---------------------------------------------------------------------------
# Sparse matrices
# ---------------------------------------------------------------------------


class ValueMap:
    """The linear map from a caller's stored matrix values to the solver's canonical
    CSR values, ``canonical = M @ values`` (M sparse, nnz_out x nnz_in).

    The solver works on a canonical CSR (rows in order, sorted unique column
    indices; for P the full symmetric matrix). Callers may store their matrix in
    another order (unsorted CSR, CSC, COO, duplicates, only P's upper triangle),
    so every value array they pass goes through ``forward`` and every gradient
    we return goes through ``adjoint`` (M^T): then ``dP_values[k]`` is the
    derivative with respect to the caller's ``data[k]``, whatever the order.
    The identity map (already canonical input) costs nothing; the sparse matrices
    are built on first batched use (a single value row is mapped with ``bincount``,
    which keeps constructing a small problem cheap).
    """

    def __init__(self, nnz_out: int, nnz_in: int, dest: np.ndarray, src: np.ndarray,
                 weight: Optional[np.ndarray] = None):
        self._dest = np.asarray(dest, dtype=np.int64)
        self._src = np.asarray(src, dtype=np.int64)
        self._w = np.ones(len(self._dest)) if weight is None else np.asarray(weight, dtype=np.float64)
        self.nnz_in, self.nnz_out = int(nnz_in), int(nnz_out)
        self.identity = (
            nnz_in == nnz_out == len(self._dest)
            and np.array_equal(self._dest, np.arange(nnz_in))
            and np.array_equal(self._src, self._dest)
            and bool(np.all(self._w == 1.0))
        )
        self._matrices = None

    def _sparse(self):
        """(M, M^T) as CSR, built once."""
        if self._matrices is None:
            M = sparse.csr_array((self._w, (self._dest, self._src)), shape=(self.nnz_out, self.nnz_in))
            self._matrices = (M, M.T.tocsr())
        return self._matrices

    @classmethod
    def from_terms(cls, nnz_out: int, nnz_in: int, dest: np.ndarray, src: np.ndarray,
                   weight: np.ndarray, identity: bool) -> "ValueMap":
        """A map whose terms (int64 dest / src, float64 weight; None for the identity,
        which is never applied) and identity flag were computed already (by
        ``_native.canonical_csr``): no checks, no copies."""
        self = cls.__new__(cls)
        self._dest, self._src, self._w = dest, src, weight
        self.nnz_in, self.nnz_out = int(nnz_in), int(nnz_out)
        self.identity = bool(identity)
        self._matrices = None
        return self

    @classmethod
    def from_permutation(cls, perm: np.ndarray) -> "ValueMap":
        """canonical[p] = values[perm[p]] (a re-ordering, e.g. of an unsorted CSR)."""
        k = len(perm)
        return cls(k, k, np.arange(k), perm)

    def _apply(self, v: np.ndarray, transpose: bool) -> np.ndarray:
        width_in, width_out = (self.nnz_out, self.nnz_in) if transpose else (self.nnz_in, self.nnz_out)
        v = np.asarray(v, dtype=np.float64)
        if v.shape[-1] != width_in:
            raise ValueError(f"expected {width_in} values on the last axis, got shape {v.shape}")
        lead = v.shape[:-1]
        if width_in == 0 or width_out == 0:
            return np.zeros(lead + (width_out,))
        if v.size == width_in:
            # one row: out[dest[k]] += w[k] v[src[k]]
            dest, src = (self._src, self._dest) if transpose else (self._dest, self._src)
            out = np.bincount(dest, weights=self._w * v.reshape(-1)[src], minlength=width_out)
            return out.reshape(lead + (width_out,))  # bincount's output is C-contiguous
        else:
            out = (self._sparse()[int(transpose)] @ v.reshape(-1, width_in).T).T
        return np.ascontiguousarray(out.reshape(lead + (width_out,)))

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Caller values / tangents (..., nnz_in) -> canonical values (..., nnz_out)."""
        if self.identity:
            return values
        return self._apply(values, transpose=False)

    def adjoint(self, grad: np.ndarray) -> np.ndarray:
        """Gradients on canonical values (..., nnz_out) -> on the caller's values (..., nnz_in)."""
        if self.identity:
            return grad
        return self._apply(grad, transpose=True)


_NATIVE = None


def load_native():
    """Import the compiled Rust extension once (an import statement per call costs
    more than the native call it serves), with a helpful error if it is missing."""
    global _NATIVE
    if _NATIVE is not None:
        return _NATIVE
    try:
        from . import _native  # type: ignore[attr-defined]
    except ImportError as e:
        raise ImportError(
            f"The compiled extension moreau_jax._native could not be imported ({e}). "
            f"Build and install it with `bash scripts/setup.sh` (or, inside the virtual "
            f"environment, `maturin develop --release`)."
        ) from e
    _NATIVE = _native
    return _native


def _stored_entries(name: str, M: Any, shape: Tuple[int, int]):
    """(format, index array 1, index array 2, float64 data) of the stored entries of M
    in the CALLER's value order, for ``_native.canonical_csr``.

    scipy CSR / CSC ("csr" / "csc": indptr, indices) and COO ("coo": row, col):
    the order of ``M.data`` (explicit zeros and duplicates included). Other scipy
    formats (BSR, DIA, LIL, DOK) and dense arrays have no flat value array of their
    own: their order is that of the canonical CSR (row by row, sorted columns;
    dense zeros are not stored).
    """
    if M is None:
        raise TypeError(f"{name} is required (got None).")
    if sparse.issparse(M):
        if M.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {M.shape}.")
        if M.shape != tuple(shape):
            raise ValueError(_shape_msg(name, M.shape, shape))
        data_dtype = M.dtype
        if data_dtype != np.float64 and (data_dtype == np.bool_ or not (
            np.issubdtype(data_dtype, np.integer) or np.issubdtype(data_dtype, np.floating)
        )):
            raise _dtype_error(name, data_dtype)
        fmt = M.format
        if fmt == "csr" or fmt == "csc":
            first, second = M.indptr, M.indices
        elif fmt == "coo":
            first, second = M.row, M.col
        else:
            C = sparse.csr_array(M, copy=True)
            C.sum_duplicates()
            return _stored_entries(name, C, shape)
        # the finiteness of the stored values is checked natively
        return fmt, first, second, _convert_values(name, np.asarray(M.data))
    try:
        arr = np.asarray(M)
    except ValueError as e:
        raise ValueError(f"{name} could not be converted to an array: {e}") from None
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D matrix (scipy sparse or dense), got shape {arr.shape}."
        )
    if arr.shape != tuple(shape):
        raise ValueError(_shape_msg(name, arr.shape, shape))
    arr = _convert_values(name, arr)
    _check_finite(name, arr)
    rows, cols = np.nonzero(arr)  # row-major: the canonical CSR order
    return "coo", rows, cols, np.ascontiguousarray(arr[rows, cols], dtype=np.float64)


def _canonical(name: str, M: Any, shape: Tuple[int, int], symmetric: bool):
    """(indptr, indices, data, ValueMap) of M, built natively (src/canonical.rs)."""
    fmt, first, second, data = _stored_entries(name, M, shape)
    ip, ix, v, dest, src, w, identity = load_native().canonical_csr(
        name, fmt, shape[0], shape[1], first, second, data, symmetric
    )
    return ip, ix, v, ValueMap.from_terms(len(ix), len(data), dest, src, w, identity)


def csr_with_map(name: str, M: Any, shape: Tuple[int, int]):
    """Any scipy sparse matrix / dense 2-D array -> canonical CSR
    (indptr, indices, data) plus the ValueMap from the caller's values (order of
    ``M.data``, see ``_stored_entries``) to ``data``.

    Duplicates of scipy input are summed (as scipy does), so each duplicate's
    gradient is that of their sum; explicitly stored zeros are kept.
    """
    return _canonical(name, M, shape, False)


def to_csr(name: str, M: Any, shape: Tuple[int, int]) -> CSR:
    """Any scipy sparse matrix / dense 2-D array -> canonical CSR (indptr, indices, data).

    Column indices come out sorted and unique (duplicates are summed, as
    scipy does); explicitly stored zeros of sparse input are kept.
    """
    indptr, indices, data, _ = csr_with_map(name, M, shape)
    return indptr, indices, data


def _shape_msg(name: str, got, want) -> str:
    if name.startswith("P"):
        return f"{name} has shape {tuple(got)}, expected {tuple(want)} (n x n with n = len(q))."
    return (
        f"{name} has shape {tuple(got)}, expected {tuple(want)} "
        f"(m x n with m = len(b), n = len(q))."
    )


def _rows_of(indptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))


def symmetric_csr_with_map(P: Any, n: int):
    """P (upper triangle or full symmetric, any format) -> full symmetric canonical
    CSR (indptr, indices, data) plus the ValueMap from the caller's P values.

    - If P stores no nonzero entry strictly below the diagonal, it is taken as
      the upper triangle of a symmetric matrix (the CVXPY / Clarabel
      convention) and mirrored: an upper entry u_ij sets P_ij = P_ji, so its
      gradient is the sum of both; entries below the diagonal (stored zeros)
      are ignored (gradient 0).
    - Otherwise P must be symmetric in pattern and values (to 1e-12 relative),
      else ValueError; the solver uses (P + P^T) / 2, so each stored entry of
      a symmetric pair gets half of the pair's total gradient.
    ``None`` means P = 0 (a linear program).
    """
    if P is None:
        none = np.zeros(0, np.int64)
        empty = ValueMap.from_terms(0, 0, none, none, np.zeros(0), True)
        return np.zeros(n + 1, np.int64), none, np.zeros(0), empty
    return _canonical("P", P, (n, n), True)


def symmetric_csr(P: Any, n: int) -> CSR:
    """P (upper triangle or full symmetric, any format) -> full symmetric CSR
    (see ``symmetric_csr_with_map``)."""
    indptr, indices, data, _ = symmetric_csr_with_map(P, n)
    return indptr, indices, data


def _as_index_array(name: str, value: Any) -> np.ndarray:
    if value is None:
        raise TypeError(f"{name} is required (got None).")
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0 and arr.ndim == 1:
            return np.zeros(0, dtype=np.int64)
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(
            arr == np.round(arr)
        ):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must be an array of integers, got dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}.")
    return np.ascontiguousarray(arr, dtype=np.int64)


def sort_csr_pattern(
    name: str, indptr: Any, indices: Any, nrows: int, ncols: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a CSR pattern given as arrays, accepting unsorted column indices
    within a row; return (indptr, sorted indices, perm), all int64.

    ``perm`` re-orders values into the sorted pattern: ``sorted_values =
    values[..., perm]`` (``ValueMap.from_permutation(perm)``; gradients go back
    with ``grad_caller[..., perm] = grad_sorted``). It is the identity for a
    sorted pattern. Checks: indptr length nrows+1, starts at 0, non-decreasing,
    ends at len(indices); indices within [0, ncols); no duplicate entry in a row
    (ValueError: the caller must sum duplicates, their values are ambiguous).
    """
    ip, ix = _check_csr_arrays(name, indptr, indices, nrows, ncols)
    rows = _rows_of(ip)
    perm = np.lexsort((ix, rows)).astype(np.int64)  # stable: identity if sorted
    sx = ix[perm]
    if len(sx):
        dup = (rows[1:] == rows[:-1]) & (sx[1:] == sx[:-1])
        if np.any(dup):
            j = int(np.argmax(dup))
            raise ValueError(
                f"{name}_col_indices has a duplicate entry: column {int(sx[j])} appears twice "
                f"in row {int(rows[j])}. Sum duplicates first (scipy: M.sum_duplicates())."
            )
    return ip, np.ascontiguousarray(sx), perm


def _check_csr_arrays(
    name: str, indptr: Any, indices: Any, nrows: int, ncols: int
) -> Tuple[np.ndarray, np.ndarray]:
    ip = _as_index_array(f"{name}_row_offsets", indptr)
    ix = _as_index_array(f"{name}_col_indices", indices)
    if len(ip) != nrows + 1:
        raise ValueError(
            f"{name}_row_offsets has length {len(ip)}, expected {nrows + 1} "
            f"(number of rows + 1 = {nrows} + 1)."
        )
    if ip[0] != 0:
        raise ValueError(f"{name}_row_offsets must start at 0, got {int(ip[0])}.")
    d = np.diff(ip)
    if np.any(d < 0):
        r = int(np.argmax(d < 0))
        raise ValueError(
            f"{name}_row_offsets must be non-decreasing, but entry {r + 1} ({int(ip[r + 1])}) "
            f"< entry {r} ({int(ip[r])})."
        )
    if ip[-1] != len(ix):
        raise ValueError(
            f"{name}_row_offsets ends at {int(ip[-1])} but {name}_col_indices has "
            f"{len(ix)} entries; the last row offset must equal the number of stored entries."
        )
    if len(ix):
        bad = (ix < 0) | (ix >= ncols)
        if np.any(bad):
            k = int(np.argmax(bad))
            raise ValueError(
                f"{name}_col_indices[{k}] = {int(ix[k])} is out of range: column indices "
                f"must be in [0, {ncols - 1}] for a matrix with {ncols} columns."
            )
    return ip, ix


def check_csr_pattern(
    name: str, indptr: Any, indices: Any, nrows: int, ncols: int
) -> Tuple[np.ndarray, np.ndarray]:
    """Validate a CSR pattern given as arrays; return int64 copies.

    Checks: indptr length nrows+1, starts at 0, non-decreasing, ends at
    len(indices); indices within [0, ncols), strictly increasing within each
    row (sorted, no duplicates). ``sort_csr_pattern`` accepts unsorted rows.
    """
    ip, ix, perm = sort_csr_pattern(name, indptr, indices, nrows, ncols)
    if len(perm) and not np.array_equal(perm, np.arange(len(perm))):
        rows = _rows_of(ip)
        caller = _as_index_array(f"{name}_col_indices", indices)
        uns = (rows[1:] == rows[:-1]) & (np.diff(caller) < 0)
        k = int(np.argmax(uns))
        raise ValueError(
            f"{name}_col_indices are not sorted within row {int(rows[k])} "
            f"(column {int(caller[k])} before {int(caller[k + 1])}). Sort them first "
            f"(scipy: M.sort_indices())."
        )
    return ip, ix


def transpose_permutation(n: int, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """For a structurally symmetric n x n CSR pattern, perm[k] = position of the
    transposed entry of entry k. Raises ValueError if the pattern is not symmetric."""
    rows = _rows_of(indptr)
    keys = rows * max(n, 1) + indices  # sorted ascending for canonical CSR
    tkeys = indices * max(n, 1) + rows
    pos = np.searchsorted(keys, tkeys)
    pos_c = np.minimum(pos, max(len(keys) - 1, 0))
    ok = (pos < len(keys)) & (keys[pos_c] == tkeys) if len(keys) else np.ones(0, bool)
    if not np.all(ok):
        bad = np.flatnonzero(~ok)[:3]
        examples = ", ".join(f"({int(rows[k])}, {int(indices[k])})" for k in bad)
        raise ValueError(
            f"The P pattern is not symmetric: entries {examples} are stored but their "
            f"transposes are not. P must be given as the FULL symmetric matrix (both "
            f"triangles) with a structurally symmetric pattern."
        )
    return pos_c


def full_symmetric_pattern(n: int, ip: np.ndarray, ix: np.ndarray):
    """Return (full_ip, full_ix, src_a, src_b): the full symmetric pattern and, for
    each of its entries, the two given value positions whose mean is its value.

    Accepts a structurally symmetric pattern (src_b = transposed position) or an
    upper-triangular one (mirrored; src_a = src_b)."""
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(ip))
    k = np.arange(len(ix), dtype=np.int64)
    keys = rows * max(n, 1) + ix
    tkeys = ix * max(n, 1) + rows
    pos = np.searchsorted(keys, tkeys)
    pos_c = np.minimum(pos, max(len(keys) - 1, 0))
    if len(keys) == 0 or np.all((pos < len(keys)) & (keys[pos_c] == tkeys)):
        return ip, ix, k, pos_c
    if np.any(ix < rows):
        raise ValueError(
            "The P pattern must be the full symmetric matrix (both triangles, structurally "
            "symmetric) or its upper triangle; this pattern is neither."
        )
    off = ix != rows
    r = np.concatenate([rows, ix[off]])
    c = np.concatenate([ix, rows[off]])
    src = np.concatenate([k, k[off]])
    order = np.lexsort((c, r))
    r, c, src = r[order], c[order], src[order]
    full_ip = np.zeros(n + 1, dtype=np.int64)
    np.add.at(full_ip, r + 1, 1)
    return np.cumsum(full_ip), c, src, src


def check_symmetric_pattern(n: int, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return transpose_permutation(n, indptr, indices)


def symmetrize_values(name: str, values: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Check P values (shape (B, nnz)) for symmetry to 1e-12 relative, return them
    made exactly symmetric ((v + v^T) / 2)."""
    if values.shape[-1] == 0:
        return values
    vt = values[:, perm]
    diff = np.abs(values - vt)
    scale = np.max(np.abs(values), axis=1, keepdims=True)
    bad = diff > _SYM_RTOL * np.maximum(scale, 1e-300)
    if np.any(bad):
        b, k = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} are not symmetric: batch element {b}, value {values[b, k]!r} at stored "
            f"position {k} differs from {vt[b, k]!r} at its transposed position (stored "
            f"position {int(perm[k])}). P must be symmetric: give equal values for P[i, j] "
            f"and P[j, i]."
        )
    return np.ascontiguousarray(0.5 * (values + vt))


# ---------------------------------------------------------------------------
# Cones and settings -> native dicts
# ---------------------------------------------------------------------------


def check_cones_match(cones: Cones, m: int, what: str) -> None:
    total = cones.total_constraints()
    if total != m:
        raise ValueError(
            f"The cone sizes sum to {total} rows (zero={cones.num_zero_cones}, "
            f"nonneg={cones.num_nonneg_cones}, soc={cones.so_cone_dims}, "
            f"exp={cones.num_exp_cones} x 3, power={len(cones.power_alphas)} x 3, "
            f"gen_power={[len(a) + d2 for a, d2 in cones.gen_power_cone_params]}, "
            f"psd={cones.psd_dims}) but {what}; "
            f"the cones must cover exactly the m rows of A (and b)."
        )


def _as_cones(cones: Any) -> Cones:
    if isinstance(cones, Cones):
        cones.validate()
        return cones
    if isinstance(cones, dict):
        return Cones(**cones)
    if cones is None:
        return Cones()
    raise TypeError(f"cones must be a moreau.Cones, got {type(cones).__name__}.")


def check_b_sparsity_pattern(pattern: Any, m: int) -> Optional[list]:
    """Moreau's ``b_sparsity_pattern`` (its hint for PSD chordal decomposition: which
    b entries may be nonzero): None or m booleans. Checked and kept; it changes nothing here."""
    if pattern is None:
        return None
    arr = np.asarray(pattern)
    if arr.shape != (m,):
        raise ValueError(f"b_sparsity_pattern has shape {arr.shape}, expected ({m},) (one flag per row of A).")
    if arr.dtype != np.bool_ and not np.all((arr == 0) | (arr == 1)):
        raise TypeError("b_sparsity_pattern must hold booleans (True where b may be nonzero).")
    return [bool(v) for v in arr]


def cones_to_native(cones: Cones, *, direct_cones_lifted: bool = False) -> Dict[str, Any]:
    """The cone dict of docs/native-interface.md: the cones of the rows of A.

    Direct cones (``cones.dir_cones``) have no rows there: ``DirectConeLift`` turns
    them into extra rows and says so with ``direct_cones_lifted=True``. Any other
    caller with direct cones gets a ValueError, never a problem without them."""
    if cones.dir_cones and not direct_cones_lifted:
        raise ValueError(
            "internal: the cones have dir_cones, which the native problem cannot hold; "
            "lift them to rows first (lift_direct_cones / DirectConeLift)."
        )
    return {
        "zero": int(cones.num_zero_cones),
        "nonneg": int(cones.num_nonneg_cones),
        "soc": [int(d) for d in cones.so_cone_dims],
        "psd": [int(k) for k in cones.psd_dims],
        "exp": int(cones.num_exp_cones),
        "power": [float(a) for a in cones.power_alphas],
        "gen_power": [([float(a) for a in al], int(d2)) for al, d2 in cones.gen_power_cone_params],
    }


# Native cone blocks in row order, with the direct-cone kind that lifts into each
# (CVXPY's MOREAU order: zero, nonneg, SOC, PSD, exp, power, gen power).
_NATIVE_ORDER = (
    ("zero", None),
    ("nonneg", "nonneg"),
    ("soc", "soc"),
    ("psd", "psd_triangle"),
    ("exp", "exp"),
    ("power", "power"),
    ("gen_power", "gen_power"),
)


def _native_block_rows(key: str, value: Any) -> int:
    """Rows of one native cone-dict entry."""
    if key in ("zero", "nonneg"):
        return int(value)
    if key == "exp":
        return 3 * int(value)
    if key == "power":
        return 3 * len(value)
    if key == "soc":
        return int(sum(value))
    if key == "psd":
        return int(sum(k * (k + 1) // 2 for k in value))
    if key == "gen_power":
        return int(sum(len(a) + d2 for a, d2 in value))
    raise KeyError(key)


def _native_entry(spec: Any) -> Any:
    """What one direct cone adds to its native cone-dict entry."""
    k = spec.kind
    if k == "nonneg":
        return len(spec.indices)
    if k == "exp":
        return 1  # 3 indices: one cone
    if k == "soc":
        return [len(spec.indices)]
    if k == "psd_triangle":
        return [int(spec.psd_k)]
    if k == "power":
        return [float(spec.alpha)]
    if k == "gen_power":
        return [([float(a) for a in spec.alphas], int(spec.dim2))]
    raise KeyError(k)


class DirectConeLift:
    """Rewrite direct cones ``x[idx] in K`` as slack rows ``-x[idx] + s = 0, s in K``.

    The solver core only knows slack-form cones, so a problem with
    ``Cones.dir_cones`` is solved in a lifted form with ``m + k`` rows (k = total
    number of indices in the direct cones; one stored -1 per new row, so the
    lifting costs O(k)). The new rows are inserted into the block of their cone
    kind, after the original rows of that kind, so the cone order zero, nonneg,
    SOC, PSD, exp, power, gen power is kept. At the optimum the dual of the new
    rows is the dual of the direct cone (``z_x``, in ``dir_cones`` order, as
    CVXPY's MOREAU interface expects), and their slack equals ``x[idx]``.
    Derivatives flow through the lifted problem: the gradient of A's original
    values is read off the lifted A, that of b off the original rows.

    Attributes: ``m`` (lifted rows), ``native_cones``, ``A_ip``/``A_ix`` (lifted
    CSR pattern), ``orig_rows`` (lifted row of each original row, (m_orig,)),
    ``dir_rows`` (lifted rows of the direct cones in spec order), ``dir_cols``
    (their x indices), ``orig_pos``/``dir_pos`` (positions of the original /
    new entries among the lifted stored values).
    """

    def __init__(self, cones: Cones, n: int, m: int, A_ip: np.ndarray, A_ix: np.ndarray):
        cones.validate_dir_cone_indices(n)
        native = cones_to_native(cones, direct_cones_lifted=True)
        specs = list(cones.dir_cones)
        self.m_orig = m
        orig_rows = np.zeros(m, np.int64)
        dir_rows: List[np.ndarray] = [np.zeros(0, np.int64)] * len(specs)
        lifted: Dict[str, Any] = {}
        r_orig = 0  # next original row
        r_new = 0  # next lifted row
        for key, kind in _NATIVE_ORDER:
            value = native.get(key, 0 if key in ("zero", "nonneg", "exp") else [])
            rows = _native_block_rows(key, value)
            orig_rows[r_orig:r_orig + rows] = np.arange(r_new, r_new + rows)
            r_orig += rows
            r_new += rows
            value = list(value) if isinstance(value, list) else value
            for i, spec in enumerate(specs):
                if spec.kind != kind:
                    continue
                k = len(spec.indices)
                dir_rows[i] = np.arange(r_new, r_new + k, dtype=np.int64)
                r_new += k
                value = value + _native_entry(spec)
            lifted[key] = value
        if r_orig != m:
            raise ValueError(f"The cones cover {r_orig} rows but m = {m}.")
        self.orig_rows = orig_rows
        self.dir_rows = np.concatenate(dir_rows) if specs else np.zeros(0, np.int64)
        self.dir_cols = np.asarray([j for c in specs for j in c.indices], dtype=np.int64)
        self.m = r_new
        # Keys the core knows; "psd" only when there are PSD cones.
        self.native_cones = {k: v for k, v in lifted.items() if k != "psd" or v}
        # Lifted CSR pattern: original entries keep their order within a row; each
        # new row holds a single entry, so a stable sort by row gives canonical CSR.
        rows = np.concatenate([self.orig_rows[_rows_of(A_ip)], self.dir_rows])
        cols = np.concatenate([A_ix, self.dir_cols])
        order = np.argsort(rows, kind="stable")
        counts = np.bincount(rows, minlength=self.m)
        self.A_ip = np.ascontiguousarray(np.concatenate([[0], np.cumsum(counts)]), dtype=np.int64)
        self.A_ix = np.ascontiguousarray(cols[order], dtype=np.int64)
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        nnz = len(A_ix)
        self.orig_pos = inv[:nnz]
        self.dir_pos = inv[nnz:]
        self.nnz = len(order)
        self.nnz_orig = nnz

    # --- NumPy (B, .) arrays -------------------------------------------------

    def A_values(self, A: np.ndarray) -> np.ndarray:
        """(B, nnz_orig) -> (B, nnz_lifted): new entries are -1."""
        out = np.empty((A.shape[0], self.nnz), dtype=np.float64)
        out[:, self.orig_pos] = A
        out[:, self.dir_pos] = -1.0
        return out

    def b(self, b: np.ndarray) -> np.ndarray:
        """(B, m_orig) -> (B, m_lifted): new rows have b = 0."""
        out = np.zeros((b.shape[0], self.m), dtype=np.float64)
        out[:, self.orig_rows] = b
        return out

    def rows(self, v: Optional[np.ndarray], v_x: Optional[np.ndarray], B: int) -> np.ndarray:
        """(B, m_orig) values of the original rows and (B, k) of the direct-cone rows
        (None = 0) -> (B, m_lifted)."""
        out = np.zeros((B, self.m), dtype=np.float64)
        if v is not None:
            out[:, self.orig_rows] = np.asarray(v, dtype=np.float64).reshape(B, -1)
        if v_x is not None:
            out[:, self.dir_rows] = np.asarray(v_x, dtype=np.float64).reshape(B, -1)
        return out

    def warm(self, kw: Dict[str, np.ndarray], z_x: Any) -> Dict[str, np.ndarray]:
        """Lift warm-start arrays; {} (cold start) if no direct-cone dual z_x is given."""
        if not kw:
            return kw
        B = kw["warm_x"].shape[0]
        k = len(self.dir_rows)
        if z_x is None or np.size(z_x) == 0:
            return {}
        zx = np.broadcast_to(np.asarray(z_x, dtype=np.float64).reshape(-1, k), (B, k))
        z = self.rows(kw["warm_z"], zx, B)
        s = self.rows(kw["warm_s"], kw["warm_x"][:, self.dir_cols], B)
        return {"warm_x": kw["warm_x"], "warm_z": z, "warm_s": s}

    def split(self, res: Dict[str, Any]) -> Dict[str, Any]:
        """Lifted result -> original z, s (B, m_orig) plus z_x (B, k)."""
        out = dict(res)
        z = np.asarray(res["z"])
        s = np.asarray(res["s"])
        out["z"] = np.ascontiguousarray(z[:, self.orig_rows])
        out["s"] = np.ascontiguousarray(s[:, self.orig_rows])
        out["z_x"] = np.ascontiguousarray(z[:, self.dir_rows])
        return out

    def split_grads(self, g: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """VJP of the lifted problem -> gradients of the original A values and b."""
        out = dict(g)
        out["dA_values"] = np.ascontiguousarray(np.asarray(g["dA_values"])[:, self.orig_pos])
        out["db"] = np.ascontiguousarray(np.asarray(g["db"])[:, self.orig_rows])
        return out

    # --- JAX arrays (differentiable: plain gathers and scatters) ---------------

    def jax_A(self, A):
        import jax.numpy as jnp

        out = jnp.zeros(A.shape[:-1] + (self.nnz,), A.dtype)
        return out.at[..., self.orig_pos].set(A).at[..., self.dir_pos].set(-1.0)

    def jax_rows(self, v, v_x=None):
        import jax.numpy as jnp

        out = jnp.zeros(v.shape[:-1] + (self.m,), v.dtype).at[..., self.orig_rows].set(v)
        return out if v_x is None else out.at[..., self.dir_rows].set(v_x)

    def jax_split(self, z, s):
        """Lifted (z, s) -> original z, s and z_x."""
        return z[..., self.orig_rows], s[..., self.orig_rows], z[..., self.dir_rows]



def lift_direct_cones(cones: Cones, n: int, m: int, A_ip: np.ndarray, A_ix: np.ndarray):
    """(lift or None, native cone dict, native m, native A pattern). Direct cones are
    turned into slack rows (DirectConeLift); without them the problem is unchanged."""
    if not cones.dir_cones:
        return None, cones_to_native(cones), m, A_ip, A_ix
    lift = DirectConeLift(cones, n, m, A_ip, A_ix)
    return lift, lift.native_cones, lift.m, lift.A_ip, lift.A_ix


_NATIVE_IPM_KEYS = (
    "tol_gap_abs",
    "tol_gap_rel",
    "tol_feas",
    "tol_infeas_abs",
    "tol_infeas_rel",
    "tol_ktratio",
    "reduced_tol_gap_abs",
    "reduced_tol_gap_rel",
    "reduced_tol_feas",
    "reduced_tol_infeas_abs",
    "reduced_tol_infeas_rel",
    "reduced_tol_ktratio",
    "max_step_fraction",
    "equilibrate_enable",
    "equilibrate_max_iter",
    "equilibrate_min_scaling",
    "equilibrate_max_scaling",
    "static_regularization_constant",
    "dynamic_regularization_eps",
    "dynamic_regularization_delta",
    "iterative_refinement_enable",
)


def _as_settings(settings: Any) -> Settings:
    if settings is None:
        return Settings()
    if isinstance(settings, Settings):
        return settings
    if isinstance(settings, dict):
        return Settings(**settings)
    raise TypeError(f"settings must be a moreau.Settings, got {type(settings).__name__}.")


def settings_to_native(settings: Settings) -> Dict[str, Any]:
    """The settings dict of docs/native-interface.md (a fresh dict each call).

    Cached on the settings object until any Model field is assigned again
    (``_fields.generation``): many small solvers built from one Settings pay once."""
    cached = settings.__dict__.get("_native_dict")
    if cached is not None and cached[0] is _fields.generation:
        return dict(cached[1])
    generation = _fields.generation
    out = _settings_to_native(settings)
    object.__setattr__(settings, "_native_dict", (generation, out))
    return dict(out)


def _settings_to_native(settings: Settings) -> Dict[str, Any]:
    ipm = settings.ipm_settings
    active_set = settings.active_set_settings or ActiveSetSettings()
    out: Dict[str, Any] = {
        "solver": str(settings.solver),
        "active_set_iter_limit": int(active_set.iter_limit),
        "max_iter": int(settings.max_iter),
        "time_limit": float(settings.time_limit),
        "verbose": bool(settings.verbose),
        "num_threads": int(settings.num_threads),
        "enable_grad": bool(settings.enable_grad),
    }
    for k in _NATIVE_IPM_KEYS:
        out[k] = getattr(ipm, k)
    method = ipm.direct_solve_method
    out["direct_solve_method"] = "faer" if method.startswith("faer") else method
    return out
