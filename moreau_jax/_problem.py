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

from ._types import Cones, Settings

__all__ = [
    "as_float_array",
    "to_csr",
    "symmetric_csr",
    "check_csr_pattern",
    "check_symmetric_pattern",
    "transpose_permutation",
    "symmetrize_values",
    "check_cones_match",
    "cones_to_native",
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


def _check_finite(name: str, arr: np.ndarray) -> None:
    if arr.size and not np.isfinite(arr).all():
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
) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array, checking dtype, shape and finiteness.

    ``shape`` (or any one of ``shapes``) gives the accepted shape(s); None in a
    shape accepts any length on that axis.
    """
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
    allowed = list(shapes) if shapes is not None else ([shape] if shape is not None else [])
    if allowed and not any(_shape_ok(arr.shape, s) for s in allowed):
        want = " or ".join(_fmt_shape(s) for s in allowed)
        raise ValueError(
            f"{name} has shape {arr.shape}, expected {want}{shape_hint}."
        )
    _check_finite(name, arr)
    return np.ascontiguousarray(arr, dtype=np.float64)


def _shape_ok(got: Tuple[int, ...], want: Sequence[Optional[int]]) -> bool:
    return len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want))


def _fmt_shape(s: Sequence[Optional[int]]) -> str:
    inner = ", ".join("*" if d is None else str(d) for d in s)
    return f"({inner},)" if len(s) == 1 else f"({inner})"


# ---------------------------------------------------------------------------
# Sparse matrices
# ---------------------------------------------------------------------------


def to_csr(name: str, M: Any, shape: Tuple[int, int]) -> CSR:
    """Any scipy sparse matrix / dense 2-D array -> canonical CSR (indptr, indices, data).

    Column indices come out sorted and unique (duplicates are summed, as
    scipy does); explicitly stored zeros of sparse input are kept.
    """
    if M is None:
        raise TypeError(f"{name} is required (got None).")
    if sparse.issparse(M):
        if M.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {M.shape}.")
        if M.shape != tuple(shape):
            raise ValueError(_shape_msg(name, M.shape, shape))
        data_dtype = M.dtype
        if data_dtype == np.bool_ or not (
            np.issubdtype(data_dtype, np.integer) or np.issubdtype(data_dtype, np.floating)
        ):
            raise _dtype_error(name, data_dtype)
        csr = sparse.csr_array(M, copy=True)
        csr.sum_duplicates()  # also sorts indices
        data = _convert_values(name, np.asarray(csr.data))
    else:
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
        csr = sparse.csr_array(arr)
        csr.sum_duplicates()
        data = np.asarray(csr.data, dtype=np.float64)
    _check_finite(f"{name} (stored values)", data)
    indptr = np.ascontiguousarray(csr.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(csr.indices, dtype=np.int64)
    return indptr, indices, np.ascontiguousarray(data, dtype=np.float64)


def _shape_msg(name: str, got, want) -> str:
    if name.startswith("P"):
        return f"{name} has shape {tuple(got)}, expected {tuple(want)} (n x n with n = len(q))."
    return (
        f"{name} has shape {tuple(got)}, expected {tuple(want)} "
        f"(m x n with m = len(b), n = len(q))."
    )


def _rows_of(indptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))


def symmetric_csr(P: Any, n: int) -> CSR:
    """P (upper triangle or full symmetric, any format) -> full symmetric CSR.

    - If P stores no nonzero entry strictly below the diagonal, it is taken as
      the upper triangle of a symmetric matrix (the CVXPY / Clarabel
      convention) and mirrored.
    - Otherwise P must be symmetric in pattern and values (to 1e-12 relative),
      else ValueError. The result is made exactly symmetric.
    ``None`` means P = 0 (a linear program).
    """
    if P is None:
        return np.zeros(n + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    indptr, indices, data = to_csr("P", P, (n, n))
    rows = _rows_of(indptr)
    cols = indices
    lower = rows > cols
    if np.any(lower & (data != 0)):
        # Full matrix given: check symmetry against its transpose.
        Pm = sparse.csr_array((data, indices, indptr), shape=(n, n))
        diff = (Pm - Pm.T).tocoo()
        scale = float(np.max(np.abs(data))) if data.size else 0.0
        if diff.nnz:
            k = int(np.argmax(np.abs(diff.data)))
            worst = float(abs(diff.data[k]))
            if worst > _SYM_RTOL * max(scale, 1e-300):
                i, j = int(diff.row[k]), int(diff.col[k])
                pij = float(Pm[i, j])
                pji = float(Pm[j, i])
                raise ValueError(
                    f"P must be symmetric: P[{i}, {j}] = {pij!r} but P[{j}, {i}] = {pji!r} "
                    f"(max |P - P^T| = {worst:.3g}). Pass the full symmetric matrix, or only "
                    f"its upper triangle (then nothing may be stored below the diagonal). "
                    f"If you passed the lower triangle, pass its transpose."
                )
    # Keep the upper triangle (with the diagonal) and mirror it.
    upper = rows <= cols
    r, c, v = rows[upper], cols[upper], data[upper]
    off = r != c
    rr = np.concatenate([r, c[off]])
    cc = np.concatenate([c, r[off]])
    vv = np.concatenate([v, v[off]])
    full = sparse.coo_array((vv, (rr, cc)), shape=(n, n)).tocsr()
    full.sum_duplicates()
    return (
        np.ascontiguousarray(full.indptr, dtype=np.int64),
        np.ascontiguousarray(full.indices, dtype=np.int64),
        np.ascontiguousarray(full.data, dtype=np.float64),
    )


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


def check_csr_pattern(
    name: str, indptr: Any, indices: Any, nrows: int, ncols: int
) -> Tuple[np.ndarray, np.ndarray]:
    """Validate a CSR pattern given as arrays; return int64 copies.

    Checks: indptr length nrows+1, starts at 0, non-decreasing, ends at
    len(indices); indices within [0, ncols), strictly increasing within each
    row (sorted, no duplicates).
    """
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
        rows = _rows_of(ip)
        same_row = rows[1:] == rows[:-1]
        step = np.diff(ix)
        dup = same_row & (step == 0)
        if np.any(dup):
            k = int(np.argmax(dup))
            raise ValueError(
                f"{name}_col_indices has a duplicate entry: column {int(ix[k])} appears twice "
                f"in row {int(rows[k])}. Sum duplicates first (scipy: M.sum_duplicates())."
            )
        uns = same_row & (step < 0)
        if np.any(uns):
            k = int(np.argmax(uns))
            raise ValueError(
                f"{name}_col_indices are not sorted within row {int(rows[k])} "
                f"(column {int(ix[k])} before {int(ix[k + 1])}). Sort them first "
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
            f"nonneg={cones.num_nonneg_cones}, soc={cones.so_cone_dims}, psd sides={cones.psd_dims}, "
            f"exp={cones.num_exp_cones} x 3, power={len(cones.power_alphas)} x 3) but {what}; "
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


def cones_to_native(cones: Cones) -> Dict[str, Any]:
    """The cone dict of docs/native-interface.md; NotImplementedError for cone kinds
    the solver does not support yet. Direct cones (``cones.dir_cones``) are not
    part of it: ``DirectConeLift`` turns them into extra rows first."""
    unsupported = []
    bad_dir = sorted({c.kind for c in cones.dir_cones if c.kind not in _LIFTABLE_DIR_KINDS})
    if bad_dir:
        unsupported.append(f"dir_cones of kind {', '.join(map(repr, bad_dir))}")
    if cones.gen_power_cone_params:
        unsupported.append("gen_power_cone_params (generalized power cones)")
    if unsupported:
        raise NotImplementedError(
            "moreau-jax cannot solve problems with " + "; ".join(unsupported) + " yet. "
            "Supported cones: zero, nonnegative, second-order, PSD, exponential, 3-D power "
            "(also as direct cones: 'nonneg', 'soc', 'exp', 'power')."
        )
    return {
        "zero": int(cones.num_zero_cones),
        "nonneg": int(cones.num_nonneg_cones),
        "soc": [int(d) for d in cones.so_cone_dims],
        "psd": [int(k) for k in cones.psd_dims],
        "exp": int(cones.num_exp_cones),
        "power": [float(a) for a in cones.power_alphas],
    }


_LIFTABLE_DIR_KINDS = ("nonneg", "soc", "exp", "power")


class DirectConeLift:
    """Rewrite direct cones ``x[idx] in K`` as slack rows ``-x[idx] + s = 0, s in K``.

    The solver core only knows slack-form cones, so a problem with
    ``Cones.dir_cones`` is solved in a lifted form with ``m + k`` rows (k = total
    number of indices in the direct cones). The new rows are inserted into the
    block of their cone kind, after the original rows of that kind, so the cone
    order zero, nonneg, SOC, exp, power is kept. At the optimum the dual of the
    new rows is the dual of the direct cone (``z_x``, in ``dir_cones`` order, as
    CVXPY's MOREAU interface expects), and their slack equals ``x[idx]``.

    Attributes: ``m`` (lifted rows), ``native_cones``, ``A_ip``/``A_ix`` (lifted
    CSR pattern), ``orig_rows`` (lifted row of each original row, (m_orig,)),
    ``dir_rows`` (lifted rows of the direct cones in spec order), ``dir_cols``
    (their x indices), ``orig_pos``/``dir_pos`` (positions of the original /
    new entries among the lifted stored values).
    """

    def __init__(self, cones: Cones, n: int, m: int, A_ip: np.ndarray, A_ix: np.ndarray):
        cones.validate_dir_cone_indices(n)
        native = cones_to_native(cones)
        specs = list(cones.dir_cones)
        nz, nl = native["zero"], native["nonneg"]
        soc_rows = sum(native["soc"])
        psd_rows = sum(k * (k + 1) // 2 for k in native["psd"])
        ne, npow = native["exp"], len(native["power"])
        # Start rows of the original blocks.
        l0 = nz
        q0 = l0 + nl
        d0 = q0 + soc_rows  # PSD rows (no direct PSD cones here) sit between SOC and exp
        e0 = d0 + psd_rows
        p0 = e0 + 3 * ne
        end = p0 + 3 * npow
        if end != m:
            raise ValueError(f"The cones cover {end} rows but m = {m}.")
        by_kind = {k: [i for i, c in enumerate(specs) if c.kind == k] for k in _LIFTABLE_DIR_KINDS}
        add = {k: sum(len(specs[i].indices) for i in ids) for k, ids in by_kind.items()}
        # Lifted row of each original row: blocks shift by the rows inserted before them.
        orig = np.arange(m, dtype=np.int64)
        shift = np.zeros(m, dtype=np.int64)
        shift[orig >= q0] += add["nonneg"]
        shift[orig >= d0] += add["soc"]
        shift[orig >= p0] += add["exp"]
        self.orig_rows = orig + shift
        # First lifted row of each kind's inserted block.
        start = {
            "nonneg": q0,
            "soc": d0 + add["nonneg"],
            "exp": p0 + add["nonneg"] + add["soc"],
            "power": end + add["nonneg"] + add["soc"] + add["exp"],
        }
        dir_rows: List[np.ndarray] = [np.zeros(0, np.int64)] * len(specs)
        for kind, ids in by_kind.items():
            r = start[kind]
            for i in ids:
                k = len(specs[i].indices)
                dir_rows[i] = np.arange(r, r + k, dtype=np.int64)
                r += k
        self.dir_rows = np.concatenate(dir_rows) if specs else np.zeros(0, np.int64)
        self.dir_cols = np.asarray([j for c in specs for j in c.indices], dtype=np.int64)
        self.m = m + len(self.dir_rows)
        self.native_cones = {
            "zero": nz,
            "nonneg": nl + add["nonneg"],
            "soc": native["soc"] + [len(specs[i].indices) for i in by_kind["soc"]],
            "psd": native["psd"],
            "exp": ne + add["exp"] // 3,
            "power": native["power"] + [float(specs[i].alpha) for i in by_kind["power"]],
        }
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

    def warm(self, kw: Dict[str, np.ndarray], z_x: Any) -> Dict[str, np.ndarray]:
        """Lift warm-start arrays; {} (cold start) if no direct-cone dual z_x is given."""
        if not kw:
            return kw
        B = kw["warm_x"].shape[0]
        k = len(self.dir_rows)
        if z_x is None or np.size(z_x) == 0:
            return {}
        zx = np.broadcast_to(np.asarray(z_x, dtype=np.float64).reshape(-1, k), (B, k))
        z = np.zeros((B, self.m))
        s = np.zeros((B, self.m))
        z[:, self.orig_rows] = kw["warm_z"]
        s[:, self.orig_rows] = kw["warm_s"]
        z[:, self.dir_rows] = zx
        s[:, self.dir_rows] = kw["warm_x"][:, self.dir_cols]
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
    """The settings dict of docs/native-interface.md."""
    ipm = settings.ipm_settings
    out: Dict[str, Any] = {
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
