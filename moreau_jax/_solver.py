"""NumPy-level solvers: ``Solver`` (one problem) and ``CompiledSolver`` (a batch
of problems sharing one sparsity pattern). Both call the Rust extension
``moreau_jax._native.NativeSolver`` (docs/native-interface.md).

Problem form::

    minimize    1/2 x'Px + q'x
    subject to  Ax + s = b,   s in K  (K given by Cones)
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _fields
from ._devices import get_default_device, resolve_device
from ._fields import check_int
from ._problem import (
    ValueMap,
    _all_finite,
    _as_cones,
    _check_finite,
    _as_settings,
    as_float_array,
    check_b_infinities,
    check_b_sparsity_pattern,
    check_cones_match,
    csr_with_map,
    lift_direct_cones,
    load_native,
    settings_to_native,
    sort_csr_pattern,
    symmetric_csr_with_map,
    symmetrize_values,
    transpose_permutation,
)
from ._types import (
    BatchedSolution,
    BatchedSolveInfo,
    BatchedWarmStart,
    Cones,
    Settings,
    Solution,
    SolveInfo,
    SolverStatus,
    WarmStart,
    to_status,
)

__all__ = ["Solver", "CompiledSolver", "load_native"]

_DEFAULT_NO_RETRY = frozenset(
    {
        SolverStatus.Solved,
        SolverStatus.AlmostSolved,
        SolverStatus.MaxIterations,
        SolverStatus.CallbackTerminated,
    }
)




class _NativeHolder:
    """Owns the NativeSolver; rebuilds it when the (live) settings change."""

    def __init__(self, n, m, P_ip, P_ix, A_ip, A_ix, native_cones, settings: Settings):
        self._args = (n, m, P_ip, P_ix, A_ip, A_ix)
        self._cones = native_cones
        self._settings = settings
        self._key: Optional[Dict[str, Any]] = None
        self._stamp = None
        self._native = None
        self.construction_time = 0.0
        self.device = "cpu"

    def get(self):
        # No Model field assigned and the default device unchanged since the last
        # call: the settings are those of the built solver (skips re-deriving them).
        stamp = (_fields.generation, get_default_device())
        if self._native is not None and stamp == self._stamp:
            return self._native
        device = resolve_device(self._settings.device)
        key = settings_to_native(self._settings)
        if self._native is None or key != self._key:
            mod = load_native()
            t0 = time.perf_counter()
            n, m, P_ip, P_ix, A_ip, A_ix = self._args
            self._native = mod.NativeSolver(
                n, m, P_ip, P_ix, A_ip, A_ix, self._cones, key  # read, never kept, by Rust
            )
            self.construction_time = time.perf_counter() - t0
            self._key = key
            self.device = device
        self._stamp = stamp
        return self._native


def _retry_set(settings: Settings):
    ipm = settings.ipm_settings
    if ipm is not None and ipm.warm_start_no_retry is not None:
        return ipm.warm_start_no_retry
    return _DEFAULT_NO_RETRY


def _warm_arrays(
    warm_start: Any, batch: int, n: int, m: int, *, allow_batched: bool
) -> Dict[str, np.ndarray]:
    ok_types: Tuple[type, ...] = (WarmStart, Solution)
    if allow_batched:
        ok_types += (BatchedWarmStart, BatchedSolution)
    if not isinstance(warm_start, ok_types):
        names = " or ".join(t.__name__ for t in ok_types)
        raise TypeError(f"warm_start must be a {names}, got {type(warm_start).__name__}.")
    out = {}
    for key, dim in (("x", n), ("z", m), ("s", m)):
        shapes = [(dim,)] + ([(batch, dim)] if allow_batched else [])
        # s = +inf on absent rows (b = +inf) of a previous solution; the solver checks it
        arr = as_float_array(f"warm_start.{key}", getattr(warm_start, key), shapes=shapes, allow_inf=key == "s")
        if arr.ndim == 1:
            arr = np.broadcast_to(arr, (batch, dim))
        out[f"warm_{key}"] = np.ascontiguousarray(arr)
    return out


# The order in which the native vjp / jvp take the grad state.
_GRAD_STATE_KEYS = ("P", "A", "q", "b", "x", "z", "s", "status")


def _grad_state(settings: Settings, P, A, q, b, res) -> Optional[Dict[str, np.ndarray]]:
    """What backward()/jvp() need after a solve: the values and the solution."""
    if not settings.enable_grad:
        return None
    # copies: q / b may be views of the caller's arrays, mutated after the solve
    return dict(
        P=P, A=A, q=np.array(q, dtype=np.float64, copy=True), b=np.array(b, dtype=np.float64, copy=True),
        x=np.ascontiguousarray(res["x"], dtype=np.float64),
        z=np.ascontiguousarray(res["z"], dtype=np.float64),
        s=np.ascontiguousarray(res["s"], dtype=np.float64),
        status=np.ascontiguousarray(res["status"], dtype=np.int64),
    )


def _require_grad_state(state, settings: Settings, what: str):
    if not settings.enable_grad:
        raise RuntimeError(
            f"{what} needs settings.enable_grad = True (set it before solve(), then solve again)."
        )
    if state is None:
        raise RuntimeError(f"{what} needs a prior solve() with settings.enable_grad = True; call solve() first.")
    return state


def _batched_arg(name, value, B, width, allow_shared=False):
    """(B, width) float64 C-contiguous array from (width,) [B == 1 or shared] or (B, width)."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.flags.c_contiguous and width:
        # the common case, without a copy: already float64 in C order (a third of a
        # tiny problem's backward() went to the general checks below)
        shape = value.shape
        if shape == (B, width) or (
            (shape == (width,) and (B == 1 or allow_shared)) or (allow_shared and shape == (1, width))
        ):
            if not _all_finite(value):
                _check_finite(name, value)
            return value.reshape(-1, width)
    shapes = [(B, width), (width,)] if (B == 1 or allow_shared) else [(B, width)]
    if allow_shared and B != 1:
        shapes.append((1, width))
    arr = as_float_array(name, value, shapes=shapes)
    if arr.ndim == 1:
        arr = arr[None, :] if allow_shared else arr.reshape(B, width)
    return np.ascontiguousarray(arr)


_VJP_KEYS = ("dq", "db", "dP_values", "dA_values")
_JVP_KEYS = ("dx", "dz", "ds")


def _native_vjp(holder, st, n: int, m: int, maps, dx, dz, ds, lift=None, dz_x=None) -> Dict[str, np.ndarray]:
    """VJP through the solve stored in the grad state ``st`` (B elements, B rows out).
    ``maps`` (P, A ValueMaps) take dP / dA back to the caller's value order.
    With direct cones (``lift``) the cotangents of z, s (m_orig rows) and z_x go to
    the lifted rows and the gradients come back for the original A values and b."""
    B = st["q"].shape[0]
    dz = _batched_arg("dz", np.zeros((B, m)) if dz is None else dz, B, m)
    ds = _batched_arg("ds", np.zeros((B, m)) if ds is None else ds, B, m)
    if lift is not None:
        k = len(lift.dir_rows)
        dzx = None if dz_x is None else _batched_arg("dz_x", dz_x, B, k)
        dz, ds = lift.rows(dz, dzx, B), lift.rows(ds, None, B)
    elif dz_x is not None and np.size(dz_x):
        raise ValueError("dz_x is only meaningful with direct cones (Cones.dir_cones).")
    cot = (_batched_arg("dx", dx, B, n), dz, ds)
    out = holder.get().vjp(*(st[k] for k in _GRAD_STATE_KEYS), *cot)
    out = {k: np.asarray(out[k]) for k in _VJP_KEYS}
    if lift is not None:
        out = lift.split_grads(out)
    out["dP_values"] = maps[0].adjoint(out["dP_values"])
    out["dA_values"] = maps[1].adjoint(out["dA_values"])
    return out


def _native_jvp(holder, st, n: int, m: int, maps, dP_values, dA_values, dq, db, lift=None) -> Dict[str, np.ndarray]:
    """JVP through the solve stored in ``st``; P / A tangents (in the caller's value
    order, mapped by ``maps``) may be shared (1 row). With direct cones the tangents
    of the original A values / b are lifted (the fixed -1 entries and the new rows
    get no tangent) and ``dz_x`` is returned too."""
    B = st["q"].shape[0]
    nP, nA = maps[0].nnz_in, maps[1].nnz_in
    dA = maps[1].forward(_batched_arg("dA_values", np.zeros(nA) if dA_values is None else dA_values, B, nA, allow_shared=True))
    db = _batched_arg("db", np.zeros((B, m)) if db is None else db, B, m)
    if lift is not None:
        dA = lift.A_values(np.asarray(dA))
        dA[:, lift.dir_pos] = 0.0
        db = lift.b(db)
    tan = (
        maps[0].forward(_batched_arg("dP_values", np.zeros(nP) if dP_values is None else dP_values, B, nP, allow_shared=True)),
        dA,
        _batched_arg("dq", np.zeros((B, n)) if dq is None else dq, B, n),
        db,
    )
    out = holder.get().jvp(*(st[k] for k in _GRAD_STATE_KEYS), *tan)
    out = {k: np.asarray(out[k]) for k in _JVP_KEYS}
    if lift is not None:
        out["dz_x"] = np.ascontiguousarray(out["dz"][:, lift.dir_rows])
        out["dz"] = np.ascontiguousarray(out["dz"][:, lift.orig_rows])
        out["ds"] = np.ascontiguousarray(out["ds"][:, lift.orig_rows])
    return out


def _statuses(res: Dict[str, Any]) -> List[SolverStatus]:
    return [to_status(c) for c in np.asarray(res["status"]).reshape(-1).tolist()]


class Solver:
    """Solve one conic problem.

    Args:
        P: n x n quadratic cost (scipy sparse in any format, or a dense array).
            Either the full symmetric matrix or only its upper triangle (nothing
            stored below the diagonal); None or an all-empty matrix for an LP.
        q: linear cost, shape (n,).
        A: m x n constraint matrix (scipy sparse or dense).
        b: right-hand side, shape (m,).
        cones: moreau.Cones whose sizes sum to m.
        settings: moreau.Settings (default Settings()). The object is read at
            each solve, so later changes to it take effect.

    float32 / integer inputs are converted exactly to float64. Invalid input
    raises ValueError / TypeError before anything is solved.
    """

    def __init__(
        self,
        P: Any,
        q: Any,
        A: Any,
        b: Any,
        cones: Optional[Cones] = None,
        settings: Optional[Settings] = None,
        *,
        b_sparsity_pattern: Optional[Sequence[bool]] = None,
    ) -> None:
        t0 = time.perf_counter()
        self._settings = _as_settings(settings)
        self._cones = _as_cones(cones)
        q = as_float_array("q", q, shape=(None,), shape_hint=" (a 1-D vector of length n)")
        b = as_float_array("b", b, shape=(None,), shape_hint=" (a 1-D vector of length m)", allow_inf=True)
        n, m = q.shape[0], b.shape[0]
        # Moreau's PSD chordal-decomposition hint (it derives it from b here): checked, no effect.
        check_b_sparsity_pattern(b_sparsity_pattern, m)
        if n == 0:
            raise ValueError("q is empty: the problem needs at least one variable (n >= 1).")
        if A is None:
            if m:
                raise TypeError("A is required when b is not empty.")
            A = np.zeros((0, n))
        # Canonical CSR + the maps from the caller's value order (gradients go back by them).
        P_ip, P_ix, P_v, P_map = symmetric_csr_with_map(P, n)
        A_ip, A_ix, A_v, A_map = csr_with_map("A", A, (m, n))
        self._maps = (P_map, A_map)
        check_cones_match(self._cones, m, f"b has length {m} (A has {m} rows)")
        check_b_infinities(self._cones, b)
        lift, native_cones, m_nat, A_ip_nat, A_ix_nat = lift_direct_cones(self._cones, n, m, A_ip, A_ix)
        self._lift = lift
        self._n, self._m = n, m
        self._q, self._b = q[None, :], b[None, :]
        self._P_values, self._A_values = P_v[None, :], A_v[None, :]
        if lift is not None:
            self._A_values, self._b = lift.A_values(self._A_values), lift.b(self._b)
        self._P_pattern = (P_ip, P_ix)
        self._A_pattern = (A_ip, A_ix)
        self._holder = _NativeHolder(
            n, m_nat, P_ip, P_ix, A_ip_nat, A_ix_nat, native_cones, self._settings
        )
        self._holder.get()
        self._construction_time = time.perf_counter() - t0
        self._info: Optional[SolveInfo] = None
        self._grad: Optional[Dict[str, np.ndarray]] = None

    def solve(self, warm_start: Optional[Union[WarmStart, Solution]] = None) -> Solution:
        """Solve the problem; returns a Solution (x, z, s). Metadata goes to ``.info``.

        ``warm_start``: a WarmStart (or a previous Solution) to start from. If a
        warm-started solve fails, it is retried from the default start with a warning.
        """
        native = self._holder.get()
        kw = {}
        if warm_start is not None:
            kw = _warm_arrays(warm_start, 1, self._n, self._m, allow_batched=False)
            if self._lift is not None:
                kw = self._lift.warm(kw, getattr(warm_start, "z_x", None))
        res = native.solve(self._P_values, self._A_values, self._q, self._b, **kw)
        status = to_status(int(res["status"][0]))
        if kw and status not in _retry_set(self._settings):
            warnings.warn(
                f"Warm-started solve failed ({status.name}); retrying without warm start.",
                stacklevel=2,
            )
            res = native.solve(self._P_values, self._A_values, self._q, self._b)
            status = to_status(int(res["status"][0]))
        self._grad = _grad_state(self._settings, self._P_values, self._A_values, self._q, self._b, res)
        if self._lift is not None:
            res = self._lift.split(res)
        self._info = SolveInfo(
            status=status,
            obj_val=float(res["obj_val"][0]),
            iterations=int(res["iterations"][0]),
            solve_time=float(res["solve_time"][0]),
            setup_time=float(res["setup_time"]),
            construction_time=self._construction_time,
            primal_res=float(res["primal_res"][0]),
            dual_res=float(res["dual_res"][0]),
            gap=float(res["gap"][0]),
        )
        # rows of the arrays this solve returned: copied only when the grad state
        # keeps those arrays (a caller editing the solution must not change backward())
        keep = self._grad is not None
        row = (lambda key: np.array(res[key][0], dtype=np.float64)) if keep else (lambda key: res[key][0])
        return Solution(x=row("x"), z=row("z"), s=row("s"), z_x=row("z_x") if "z_x" in res else None)

    def backward(self, dx: Any, dz: Any = None, ds: Any = None, dz_x: Any = None) -> Dict[str, np.ndarray]:
        """Gradients of a scalar loss through the last solve (vector-Jacobian product).

        ``dx`` (n,), ``dz`` (m,), ``ds`` (m,): the loss's gradients with respect to
        the solution x, z, s (None means zero); ``dz_x`` (k,): with respect to the
        direct-cone duals ``z_x`` (only with ``Cones.dir_cones``). Returns a dict with ``dq`` (n,),
        ``db`` (m,), ``dP_values`` (nnz_P,) and ``dA_values`` (nnz_A,); dP_values
        follows the full symmetric storage of P (both triangles), the two entries of
        a symmetric pair each getting half of the pair's total gradient.

        dP_values / dA_values line up with the caller's stored values: ``P.data`` /
        ``A.data`` for scipy CSR, CSC and COO input (unsorted indices, duplicates
        and all: a duplicate gets the gradient of the summed entry); for other
        formats and dense arrays, the row-major order of the stored (nonzero)
        entries. If P was given as its upper triangle only, an upper entry u_ij
        stands for both P_ij and P_ji and gets the sum of both gradients; if it
        was the full matrix, each entry of a symmetric pair gets half the total.

        Needs ``settings.enable_grad = True`` and a prior solve(). If the last solve
        did not end Solved / AlmostSolved, every gradient is NaN.
        """
        st = _require_grad_state(self._grad, self._settings, "backward()")
        out = _native_vjp(self._holder, st, self._n, self._m, self._maps, dx, dz, ds, self._lift, dz_x)
        return {k: v[0] for k, v in out.items()}

    def jvp(self, dP_values: Any = None, dA_values: Any = None, dq: Any = None, db: Any = None) -> Dict[str, np.ndarray]:
        """Directional derivative of the last solve's (x, z, s) (Jacobian-vector product).

        Tangents (None means zero): ``dP_values`` and ``dA_values`` in the caller's
        value order (as for backward(); a tangent of a full symmetric P is
        symmetrized: each entry of a symmetric pair counts as the pair's
        average), ``dq`` (n,),
        ``db`` (m,). Returns a dict with ``dx`` (n,), ``dz`` (m,), ``ds`` (m,)
        (and ``dz_x`` (k,) with direct cones). Same requirements and NaN rule as backward().
        """
        st = _require_grad_state(self._grad, self._settings, "jvp()")
        out = _native_jvp(self._holder, st, self._n, self._m, self._maps, dP_values, dA_values, dq, db, self._lift)
        return {k: v[0] for k, v in out.items()}

    @property
    def n(self) -> int:
        return self._n

    @property
    def m(self) -> int:
        return self._m

    @property
    def device(self) -> str:
        return self._holder.device

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def cones(self) -> Cones:
        return self._cones

    @property
    def construction_time(self) -> float:
        return self._construction_time

    @property
    def info(self) -> Optional[SolveInfo]:
        """SolveInfo of the last solve() (None before the first)."""
        return self._info


class CompiledSolver:
    """Solve batches of problems that share dimensions, sparsity pattern and cones.

    1. Construct with the CSR patterns (int arrays). P must be the FULL
       symmetric pattern (both triangles, structurally symmetric); column
       indices unique within each row (they need not be sorted: values and
       gradients stay in the caller's order).
    2. ``setup(P_values, A_values)``: values of shape (nnz,) (shared by the batch)
       or (batch_size, nnz) (one row per problem).
    3. ``solve(qs, bs)``: shapes (batch_size, n) and (batch_size, m)
       ((n,) and (m,) allowed when batch_size == 1). Returns a BatchedSolution;
       metadata goes to ``.info`` (a BatchedSolveInfo with per-problem arrays).

    ``settings.batch_size`` fixes the batch size. Each problem in the batch gets
    its own status; a failing problem does not stop the others.
    """

    def __init__(
        self,
        n: int,
        m: int,
        P_row_offsets: Any,
        P_col_indices: Any,
        A_row_offsets: Any,
        A_col_indices: Any,
        cones: Optional[Cones] = None,
        settings: Optional[Settings] = None,
        b_sparsity_pattern: Optional[Sequence[bool]] = None,
    ) -> None:
        t0 = time.perf_counter()
        n = check_int(ge=1)("n", n)
        m = check_int(ge=0)("m", m)
        self._settings = _as_settings(settings)
        self._cones = _as_cones(cones)
        P_ip, P_ix, P_sort = sort_csr_pattern("P", P_row_offsets, P_col_indices, n, n)
        A_ip, A_ix, A_sort = sort_csr_pattern("A", A_row_offsets, A_col_indices, m, n)
        self._maps = (ValueMap.from_permutation(P_sort), ValueMap.from_permutation(A_sort))
        # Caller position of the transpose of each caller entry of P.
        inv = np.empty_like(P_sort)
        inv[P_sort] = np.arange(len(P_sort))
        self._P_perm = P_sort[transpose_permutation(n, P_ip, P_ix)][inv]
        check_cones_match(self._cones, m, f"m = {m}")
        lift, native_cones, m_nat, A_ip_nat, A_ix_nat = lift_direct_cones(self._cones, n, m, A_ip, A_ix)
        self._lift = lift
        check_b_sparsity_pattern(b_sparsity_pattern, m)
        self._n, self._m = n, m
        self._batch_size = self._settings.batch_size
        self._nnz_P, self._nnz_A = len(P_ix), len(A_ix)
        self._P_pattern = (P_ip, P_ix)
        self._A_pattern = (A_ip, A_ix)
        self._holder = _NativeHolder(
            n, m_nat, P_ip, P_ix, A_ip_nat, A_ix_nat, native_cones, self._settings
        )
        self._holder.get()
        self._construction_time = time.perf_counter() - t0
        self._P_values: Optional[np.ndarray] = None
        self._A_values: Optional[np.ndarray] = None
        self._setup_time = 0.0
        self._info: Optional[BatchedSolveInfo] = None
        self._grad: Optional[Dict[str, np.ndarray]] = None

    def setup(self, P_values: Any, A_values: Any) -> None:
        """Set the matrix values: (nnz,) shared by the batch, or (batch_size, nnz)."""
        t0 = time.perf_counter()
        B = self._batch_size
        hint = " ((nnz,) shared by the batch, or (batch_size, nnz) = ({}, {}))"
        P = as_float_array(
            "P_values",
            P_values,
            shapes=[(self._nnz_P,), (1, self._nnz_P), (B, self._nnz_P)],
            shape_hint=hint.format(B, self._nnz_P),
        )
        A = as_float_array(
            "A_values",
            A_values,
            shapes=[(self._nnz_A,), (1, self._nnz_A), (B, self._nnz_A)],
            shape_hint=hint.format(B, self._nnz_A),
        )
        P = P[None, :] if P.ndim == 1 else P
        A = A[None, :] if A.ndim == 1 else A
        self._P_values = self._maps[0].forward(symmetrize_values("P_values", P, self._P_perm))
        self._A_values = self._maps[1].forward(np.ascontiguousarray(A))
        if self._lift is not None:
            self._A_values = self._lift.A_values(self._A_values)
        self._setup_time = time.perf_counter() - t0

    def solve(
        self,
        qs: Any,
        bs: Any,
        warm_start: Optional[Union[WarmStart, BatchedWarmStart]] = None,
    ) -> BatchedSolution:
        """Solve the batch. Returns a BatchedSolution with x (B, n), z (B, m), s (B, m).

        ``warm_start``: a BatchedWarmStart (or a previous BatchedSolution) with
        leading batch axis, or a WarmStart used for every problem. Problems whose
        warm-started solve fails are re-solved from the default start (with a warning).
        """
        if self._P_values is None or self._A_values is None:
            raise RuntimeError(
                "setup() must be called before solve(): call "
                "solver.setup(P_values, A_values) first."
            )
        B, n, m = self._batch_size, self._n, self._m
        q_shapes = [(B, n)] + ([(n,)] if B == 1 else [])
        b_shapes = [(B, m)] + ([(m,)] if B == 1 else [])
        hint = f" (settings.batch_size = {B})"
        q = as_float_array("qs", qs, shapes=q_shapes, shape_hint=hint).reshape(B, n)
        b = as_float_array("bs", bs, shapes=b_shapes, shape_hint=hint, allow_inf=True).reshape(B, m)
        check_b_infinities(self._cones, b, "bs")
        native = self._holder.get()
        kw = {}
        if warm_start is not None:
            kw = _warm_arrays(warm_start, B, n, m, allow_batched=True)
        if self._lift is not None:
            b = self._lift.b(b)
            if kw:
                kw = self._lift.warm(kw, getattr(warm_start, "z_x", None))
        t0 = time.perf_counter()
        res = native.solve(self._P_values, self._A_values, q, b, **kw)
        wall = time.perf_counter() - t0
        status = _statuses(res)
        res = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in res.items()}
        if kw:
            no_retry = _retry_set(self._settings)
            failed = [i for i, s in enumerate(status) if s not in no_retry]
            if failed:
                names = ", ".join(status[i].name for i in failed)
                warnings.warn(
                    f"Warm-started solve failed at batch indices {failed} ({names}); "
                    f"retrying those problems without warm start.",
                    stacklevel=2,
                )
                t1 = time.perf_counter()
                cold = native.solve(self._P_values, self._A_values, q, b)
                wall += time.perf_counter() - t1
                for key, val in cold.items():
                    if isinstance(val, np.ndarray) and val.ndim >= 1 and val.shape[0] == B:
                        res[key][failed] = val[failed]
                status = _statuses(res)
        self._grad = _grad_state(self._settings, self._P_values, self._A_values, q, b, res)
        if self._lift is not None:
            res = self._lift.split(res)
        self._info = BatchedSolveInfo(
            status=status,
            obj_val=np.asarray(res["obj_val"], dtype=np.float64),
            iterations=np.asarray(res["iterations"], dtype=np.int64),
            solve_time=wall,
            setup_time=float(res["setup_time"]),
            construction_time=self._construction_time,
            primal_res=np.asarray(res["primal_res"], dtype=np.float64),
            dual_res=np.asarray(res["dual_res"], dtype=np.float64),
            gap=np.asarray(res["gap"], dtype=np.float64),
            solve_times=np.asarray(res["solve_time"], dtype=np.float64),
        )
        return BatchedSolution(
            x=np.asarray(res["x"], dtype=np.float64),
            z=np.asarray(res["z"], dtype=np.float64),
            s=np.asarray(res["s"], dtype=np.float64),
            z_x=np.asarray(res["z_x"], dtype=np.float64) if "z_x" in res else None,
        )

    @property
    def n(self) -> int:
        return self._n

    @property
    def m(self) -> int:
        return self._m

    def backward(self, dx: Any, dz: Any = None, ds: Any = None, dz_x: Any = None) -> Dict[str, np.ndarray]:
        """Batched backward() (vector-Jacobian product) through the last solve().

        ``dx`` (B, n), ``dz`` (B, m), ``ds`` (B, m) (None means zero; 1-D allowed
        when B == 1). Returns per-element gradients ``dq`` (B, n), ``db`` (B, m),
        ``dP_values`` (B, nnz_P), ``dA_values`` (B, nnz_A), also when P / A are
        shared by the batch (sum over the batch axis for the shared gradient).
        Elements whose status is not Solved / AlmostSolved get NaN.
        Needs ``settings.enable_grad = True`` and a prior solve().
        """
        st = _require_grad_state(self._grad, self._settings, "backward()")
        return _native_vjp(self._holder, st, self._n, self._m, self._maps, dx, dz, ds, self._lift, dz_x)

    def jvp(self, dP_values: Any = None, dA_values: Any = None, dq: Any = None, db: Any = None) -> Dict[str, np.ndarray]:
        """Batched jvp() through the last solve(): tangents ``dP_values`` /
        ``dA_values`` of shape (nnz,) (shared) or (B, nnz), ``dq`` (B, n), ``db``
        (B, m) (None means zero). Returns ``dx`` (B, n), ``dz`` (B, m), ``ds`` (B, m).
        """
        st = _require_grad_state(self._grad, self._settings, "jvp()")
        return _native_jvp(self._holder, st, self._n, self._m, self._maps, dP_values, dA_values, dq, db, self._lift)

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def nnz_P(self) -> int:
        return self._nnz_P

    @property
    def nnz_A(self) -> int:
        return self._nnz_A

    @property
    def device(self) -> str:
        return self._holder.device

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def cones(self) -> Cones:
        return self._cones

    @property
    def construction_time(self) -> float:
        return self._construction_time

    @property
    def info(self) -> Optional[BatchedSolveInfo]:
        """BatchedSolveInfo of the last solve() (None before the first)."""
        return self._info
