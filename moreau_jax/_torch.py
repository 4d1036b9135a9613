"""PyTorch interface: the Rust solve and its VJP as ``torch.library`` custom ops.

Two custom ops, implemented over the same native batched kernels as the NumPy
API (``moreau_jax._native.NativeSolver.solve`` / ``.vjp``, which release the
GIL while Rust runs):

- ``moreau_jax::solve``: ``(handle, settings, P, A, q, b, warm_x?, warm_z?,
  warm_s?) -> (x, z, s, info)``, every tensor float64 and 2-D with a leading
  batch axis (P and A may have 1 row, shared by the batch);
  ``info[:, k]`` = status, iterations, objective, solve time, primal residual,
  dual residual, gap, wall time of the whole batched call;
- ``moreau_jax::solve_vjp``: ``(handle, settings, P, A, q, b, x, z, s, info,
  gx, gz, gs) -> (gP, gA, gq, gb)``, one row per batch element.

Both have fake (meta) kernels, and the solve's autograd formula
(``register_autograd``) calls ``solve_vjp``, so ``torch.compile(fullgraph=True)``
traces a function that calls :meth:`Solver.solve`, and its backward, without a
graph break. ``handle`` names the problem family (CSR patterns and cones) in a
process-wide registry; ``settings`` is the encoded live ``Settings`` (a string
constant of the graph: a change makes Dynamo recompile, never reuse a stale graph).

Differentiation: reverse mode only, ``d(x, z, s) -> d(P_values, A_values, q, b)``
by implicit differentiation of the KKT conditions at the solution (the Rust
VJP, docs/native-interface.md). Elements that did not end Solved/AlmostSolved
get NaN gradients; their status is in ``Solver.info``. Warm-start values move
where the interior-point method starts, not the solution: they get no gradient.

Precision: the solver computes in float64. Inputs may be float32 or float64
(integer tensors are taken as float64); outputs come back in the promoted
floating dtype of the inputs (float32 when all are float32), and autograd
returns each gradient in its own input's dtype. CPU tensors only: a CUDA tensor,
or ``settings.device="cuda"`` (there is no CUDA solver in this build), raises a
``RuntimeError`` instead of copying data between devices behind the caller's back.

P: as in the JAX layer, the solve uses the symmetric part of the given values,
``(P + P')/2`` on the full pattern (an upper-triangular pattern is mirrored).
CSR patterns may have unsorted column indices within a row: values are gathered
into sorted order before the solve, so gradients come back in the caller's order.
``b_i = +inf`` on a nonnegative row is an absent bound (Rust core); any other
infinity in b raises ValueError from the solve op.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from . import _fields
from ._devices import resolve_device
from ._problem import (
    _as_cones,
    _as_settings,
    check_b_infinities,
    check_b_sparsity_pattern,
    check_cones_match,
    cones_to_native,
    full_symmetric_pattern,
    settings_to_native,
    sort_csr_pattern,
)
from ._solver import _DEFAULT_NO_RETRY, load_native
from ._types import BatchedWarmStart, Settings, SolverStatus, WarmStart, to_status

__all__ = [
    "Solver",
    "TorchSolution",
    "TorchBatchedSolution",
    "TorchSolveInfo",
    "TorchBatchedSolveInfo",
]

# Columns of the info tensor.
_STATUS, _ITERS, _OBJ, _TIME, _PRES, _DRES, _GAP, _WALL = range(8)
INFO_WIDTH = 8


# --- the problem-family registry (what a custom op's integer handle names) -----


class _Family:
    """One CSR pattern + cones; a NativeSolver per distinct settings (symbolic
    analysis is per NativeSolver, so keep the few settings a family is used with)."""

    _MAX_CACHED = 8

    def __init__(self, n, m, P_ip, P_ix, A_ip, A_ix, cones):
        self.args = (n, m, P_ip, P_ix, A_ip, A_ix)
        self.cones_spec = cones
        self.cones = cones_to_native(cones)
        self.nnz_p, self.nnz_a = len(P_ix), len(A_ix)
        self._natives: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def native(self, settings_key: str):
        with self._lock:
            nat = self._natives.get(settings_key)
            if nat is None:
                n, m, P_ip, P_ix, A_ip, A_ix = self.args
                native_settings = _SETTINGS_BY_KEY[settings_key]
                nat = load_native().NativeSolver(
                    n, m, P_ip, P_ix, A_ip, A_ix, dict(self.cones), dict(native_settings)
                )
                if len(self._natives) >= self._MAX_CACHED:
                    self._natives.pop(next(iter(self._natives)))
                self._natives[settings_key] = nat
            return nat


_families: Dict[int, _Family] = {}
_family_ids = itertools.count(1)
_SETTINGS_BY_KEY: Dict[str, Dict[str, Any]] = {}
_registry_lock = threading.Lock()


def _register_family(family: _Family) -> int:
    with _registry_lock:
        handle = next(_family_ids)
        _families[handle] = family
        return handle


def _settings_key(settings: Settings) -> str:
    """A string that identifies the native settings (the custom ops' attribute)."""
    native = settings_to_native(settings)
    key = ";".join(f"{k}={v!r}" for k, v in sorted(native.items()))
    _SETTINGS_BY_KEY.setdefault(key, native)
    return key


def _np(t: Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _warm_failed(status: np.ndarray) -> np.ndarray:
    codes = {int(s) for s in _DEFAULT_NO_RETRY}
    return np.array([int(c) not in codes for c in status], dtype=bool)


# --- the custom ops ------------------------------------------------------------


@torch.library.custom_op("moreau_jax::solve", mutates_args=(), device_types="cpu")
def _solve_op(
    handle: int,
    settings: str,
    P: Tensor,
    A: Tensor,
    q: Tensor,
    b: Tensor,
    warm_x: Optional[Tensor],
    warm_z: Optional[Tensor],
    warm_s: Optional[Tensor],
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    family = _families[handle]
    native = family.native(settings)
    args = (_np(P), _np(A), _np(q), _np(b))
    # +inf on a nonnegative row = an absent bound (the Rust core handles it); any
    # other infinity is an error naming the row (here: the values exist only now).
    check_b_infinities(family.cones_spec, args[3])
    warm = {}
    if warm_x is not None:
        warm = dict(warm_x=_np(warm_x), warm_z=_np(warm_z), warm_s=_np(warm_s))
    t0 = time.perf_counter()
    res = native.solve(*args, **warm)
    if warm:
        # A warm point can make the method fail where the default start does not:
        # solve those elements again from the default start (as the NumPy API does).
        failed = _warm_failed(res["status"])
        if failed.any():
            names = ", ".join(to_status(c).name for c in res["status"][failed])
            warnings.warn(
                f"Warm-started solve failed at batch indices {np.flatnonzero(failed).tolist()} "
                f"({names}); retrying those problems without warm start.",
                stacklevel=2,
            )
            cold = native.solve(*args)
            res = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in res.items()}
            for k, v in cold.items():
                if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == failed.shape[0]:
                    res[k][failed] = v[failed]
    wall = time.perf_counter() - t0
    B = q.shape[0]
    info = np.empty((B, INFO_WIDTH), dtype=np.float64)
    for col, key in ((_STATUS, "status"), (_ITERS, "iterations"), (_OBJ, "obj_val"), (_TIME, "solve_time"),
                     (_PRES, "primal_res"), (_DRES, "dual_res"), (_GAP, "gap")):
        info[:, col] = res[key]
    info[:, _WALL] = wall
    return (torch.from_numpy(res["x"]), torch.from_numpy(res["z"]), torch.from_numpy(res["s"]),
            torch.from_numpy(info))


@_solve_op.register_fake
def _solve_fake(handle, settings, P, A, q, b, warm_x, warm_z, warm_s):
    B, n, m = q.shape[0], q.shape[1], b.shape[1]
    return q.new_empty((B, n)), b.new_empty((B, m)), b.new_empty((B, m)), q.new_empty((B, INFO_WIDTH))


@torch.library.custom_op("moreau_jax::solve_vjp", mutates_args=(), device_types="cpu")
def _vjp_op(
    handle: int,
    settings: str,
    P: Tensor,
    A: Tensor,
    q: Tensor,
    b: Tensor,
    x: Tensor,
    z: Tensor,
    s: Tensor,
    info: Tensor,
    gx: Tensor,
    gz: Tensor,
    gs: Tensor,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    native = _families[handle].native(settings)
    status = np.ascontiguousarray(_np(info)[:, _STATUS], dtype=np.int64)
    out = native.vjp(_np(P), _np(A), _np(q), _np(b), _np(x), _np(z), _np(s), status,
                     _np(gx), _np(gz), _np(gs))
    return tuple(torch.from_numpy(np.asarray(out[k])) for k in ("dP_values", "dA_values", "dq", "db"))


@_vjp_op.register_fake
def _vjp_fake(handle, settings, P, A, q, b, x, z, s, info, gx, gz, gs):
    B = q.shape[0]
    return (P.new_empty((B, P.shape[1])), A.new_empty((B, A.shape[1])),
            q.new_empty((B, q.shape[1])), b.new_empty((B, b.shape[1])))


def _sum_to_rows(g: Tensor, rows: int) -> Tensor:
    """P / A given once for the whole batch (1 row): its gradient is the batch sum."""
    return g.sum(0, keepdim=True) if rows == 1 and g.shape[0] != 1 else g


def _solve_setup_context(ctx, inputs, output):
    handle, settings, P, A, q, b = inputs[:6]
    x, z, s, info = output
    ctx.handle, ctx.settings = handle, settings
    ctx.save_for_backward(P, A, q, b, x, z, s, info)


def _solve_backward(ctx, gx, gz, gs, _ginfo):
    P, A, q, b, x, z, s, info = ctx.saved_tensors
    gx = torch.zeros_like(x) if gx is None else gx.contiguous()
    gz = torch.zeros_like(z) if gz is None else gz.contiguous()
    gs = torch.zeros_like(s) if gs is None else gs.contiguous()
    gP, gA, gq, gb = _vjp_op(ctx.handle, ctx.settings, P, A, q, b, x, z, s, info, gx, gz, gs)
    return (None, None, _sum_to_rows(gP, P.shape[0]), _sum_to_rows(gA, A.shape[0]), gq, gb,
            None, None, None)


_solve_op.register_autograd(_solve_backward, setup_context=_solve_setup_context)


# --- results -------------------------------------------------------------------


def _np64(t: Any) -> np.ndarray:
    if isinstance(t, Tensor):
        return t.detach().cpu().numpy().astype(np.float64)
    return np.asarray(t, dtype=np.float64)


@dataclass
class TorchSolution:
    """Solution of one problem as tensors: ``x`` (n,), ``z`` (m,), ``s`` (m,),
    with autograd attached; ``z_x`` is empty (no direct cones in the torch API)."""

    x: Tensor
    z: Tensor
    s: Tensor
    z_x: Optional[Tensor] = None

    def __post_init__(self) -> None:
        if self.z_x is None:
            self.z_x = self.x.new_zeros((0,))

    def __repr__(self) -> str:
        return f"TorchSolution(n={self.x.shape[-1]})"

    def to_warm_start(self) -> WarmStart:
        """A WarmStart (NumPy float64, detached) for the next solve."""
        return WarmStart(x=_np64(self.x), z=_np64(self.z), s=_np64(self.s), z_x=_np64(self.z_x))


@dataclass
class TorchBatchedSolution:
    """Solutions of a batch: ``x`` (B, n), ``z`` (B, m), ``s`` (B, m)."""

    x: Tensor
    z: Tensor
    s: Tensor
    z_x: Optional[Tensor] = None

    def __post_init__(self) -> None:
        if self.z_x is None:
            self.z_x = self.x.new_zeros((self.x.shape[0], 0))

    def __repr__(self) -> str:
        return f"TorchBatchedSolution(batch_size={self.x.shape[0]})"

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, idx: int) -> TorchSolution:
        B = len(self)
        if idx < 0:
            idx += B
        if not 0 <= idx < B:
            raise IndexError(f"Index {idx} out of range for batch size {B}.")
        return TorchSolution(x=self.x[idx], z=self.z[idx], s=self.s[idx], z_x=self.z_x[idx])

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def to_warm_start(self) -> BatchedWarmStart:
        """A BatchedWarmStart (NumPy float64, detached) for the next solve."""
        return BatchedWarmStart(x=_np64(self.x), z=_np64(self.z), s=_np64(self.s), z_x=_np64(self.z_x))


@dataclass
class TorchSolveInfo:
    """What happened in the last single-problem solve. ``obj_val`` and
    ``iterations`` are 0-d tensors; times in seconds."""

    status: SolverStatus
    obj_val: Tensor
    iterations: Tensor
    solve_time: float
    setup_time: float = 0.0
    construction_time: float = 0.0
    primal_res: float = float("nan")
    dual_res: float = float("nan")
    gap: float = float("nan")

    def __repr__(self) -> str:
        return (f"TorchSolveInfo(status={self.status.name}, obj_val={float(self.obj_val):.6g}, "
                f"iterations={int(self.iterations)})")


@dataclass
class TorchBatchedSolveInfo:
    """What happened in the last batched solve: one status per problem; ``obj_val``,
    ``iterations``, ``primal_res``, ``dual_res``, ``gap``, ``solve_times`` are
    (B,) tensors; ``solve_time`` is the wall time of the batched call."""

    status: List[SolverStatus]
    obj_val: Tensor
    iterations: Tensor
    solve_time: float
    setup_time: float = 0.0
    construction_time: float = 0.0
    primal_res: Optional[Tensor] = None
    dual_res: Optional[Tensor] = None
    gap: Optional[Tensor] = None
    solve_times: Optional[Tensor] = None

    def __repr__(self) -> str:
        return f"TorchBatchedSolveInfo(batch_size={len(self.status)}, solve_time={self.solve_time:.6f}s)"


# --- live settings -> graph constants -----------------------------------------------
# ``Solver.solve`` reads two plain attributes, the encoded settings and the
# device error (None when the device is usable), refreshed whenever any
# Settings / IPMSettings field changes. Dynamo guards on their values, so a
# compiled function recompiles after a settings change (cvxpylayers' per-call
# solver_args included) instead of reusing a graph built for other settings.

_live_solvers: "weakref.WeakSet[Solver]" = weakref.WeakSet()


def _refresh_live_settings() -> None:
    for solver in list(_live_solvers):
        solver._refresh_settings()


_fields.change_hooks.append(_refresh_live_settings)


def _cpu_tensor(name: str, t: Any) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}.")
    if t.device.type != "cpu":
        raise RuntimeError(
            f"{name} is on device {t.device}, but moreau.torch solves on the CPU only "
            f"(the Rust solver; tensors are never copied between devices behind your back). "
            f"Move the tensors to the CPU with .cpu() first."
        )
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must be a real floating-point tensor, got dtype {t.dtype}.")
    return t


def _rows(name: str, t: Tensor, width: int, what: str) -> Tensor:
    """(rows, width) view of a (width,) or (rows, width) tensor."""
    if t.dim() == 1 and t.shape[0] == width:
        return t.unsqueeze(0)
    if t.dim() == 2 and t.shape[1] == width:
        return t
    raise ValueError(
        f"{name} has shape {tuple(t.shape)}, expected ({width},) or (batch, {width}) ({what})."
    )


def _result_dtype(tensors: Sequence[Tensor]) -> torch.dtype:
    floats = [t.dtype for t in tensors if t.is_floating_point()]
    if not floats:
        return torch.float64
    return functools.reduce(torch.promote_types, floats)


class Solver:
    """PyTorch solver for one problem family (fixed CSR patterns and cones).

    ``Solver(n, m, P_row_offsets, P_col_indices, A_row_offsets, A_col_indices,
    cones, settings)``: CSR index arrays as int tensors / arrays / lists; P's
    pattern is the full symmetric matrix (both triangles) or its upper triangle.
    Then ``solve(P_values, A_values, q, b)``, or ``setup(P_values, A_values)``
    followed by ``solve(q, b)``. Shapes: ``(nnz,)``, ``(n,)``, ``(m,)`` for one
    problem, or with a leading batch axis ``(B, ...)`` (any input may be
    unbatched and is then shared by the batch); a batch is one native call, solved
    by Rust threads with the GIL released. Returns a TorchSolution (or a
    TorchBatchedSolution when any input is batched) whose x, z, s carry autograd;
    metadata goes to ``.info``. ``settings`` is read at each call, so changes to
    it (e.g. ``solver._settings.max_iter = 50``) take effect at the next solve,
    also inside ``torch.compile`` (it recompiles).
    """

    def __init__(
        self,
        n: int,
        m: int,
        P_row_offsets: Any,
        P_col_indices: Any,
        A_row_offsets: Any,
        A_col_indices: Any,
        cones: Any = None,
        settings: Optional[Settings] = None,
        b_sparsity_pattern: Optional[Sequence[bool]] = None,
    ) -> None:
        t0 = time.perf_counter()
        n, m = int(n), int(m)
        if n < 1 or m < 0:
            raise ValueError(f"need n >= 1 and m >= 0, got n = {n}, m = {m}.")
        self.__settings = _as_settings(settings)
        resolve_device(self.__settings.device)  # RuntimeError for "cuda" without CUDA
        self._cones = _as_cones(cones)
        if self._cones.dir_cones:
            # (NumPy and JAX lift them to slack rows; the torch path does not yet.)
            raise NotImplementedError(
                "moreau.torch.Solver does not support direct cones (Cones.dir_cones) yet; "
                "write them as rows of A (slack form), or use moreau.Solver / moreau.jax.Solver."
            )
        # Unsorted patterns are sorted here; values are gathered into that order in
        # solve(), so gradients come back in the caller's order.
        P_ip, P_ix, P_sort = sort_csr_pattern("P", _index_array(P_row_offsets), _index_array(P_col_indices), n, n)
        A_ip, A_ix, A_sort = sort_csr_pattern("A", _index_array(A_row_offsets), _index_array(A_col_indices), m, n)
        ident_a = np.arange(len(A_sort))
        self._A_sort = None if np.array_equal(A_sort, ident_a) else torch.from_numpy(A_sort)
        check_cones_match(self._cones, m, f"m = {m}")
        check_b_sparsity_pattern(b_sparsity_pattern, m)
        full_ip, full_ix, src_a, src_b = full_symmetric_pattern(n, P_ip, P_ix)
        self._n, self._m = n, m
        self._nnz_p, self._nnz_a = len(P_ix), len(A_ix)
        # Symmetric part of P on the full pattern: P_full = (P[src_a] + P[src_b]) / 2,
        # src_* indexing the caller's values (nothing to do when every stored entry
        # is its own transpose and in order: a diagonal P).
        src_a, src_b = P_sort[src_a], P_sort[src_b]
        self._src_a = torch.from_numpy(np.ascontiguousarray(src_a, dtype=np.int64))
        self._src_b = torch.from_numpy(np.ascontiguousarray(src_b, dtype=np.int64))
        ident = np.arange(len(src_a))
        self._P_is_symmetric_as_given = bool(np.array_equal(src_a, ident) and np.array_equal(src_b, ident))
        family = _Family(n, m, np.ascontiguousarray(full_ip), np.ascontiguousarray(full_ix),
                         A_ip, A_ix, self._cones)
        self._handle = _register_family(family)
        # the family (and its symbolic analyses) lives as long as this Solver
        weakref.finalize(self, _families.pop, self._handle, None)
        self._refresh_settings()
        family.native(self._settings_text)  # symbolic analysis now, errors now
        _live_solvers.add(self)
        self._P_values: Optional[Tensor] = None
        self._A_values: Optional[Tensor] = None
        self._setup_time = 0.0
        self._last: Optional[Tuple[Tensor, bool]] = None
        self._last_grad_state: Optional[tuple] = None
        self._construction_time = time.perf_counter() - t0

    # -- settings ---------------------------------------------------------------

    @property
    def _settings(self) -> Settings:
        """The live Settings (cvxpylayers sets per-call solver_args on it)."""
        return self.__settings

    @_settings.setter
    def _settings(self, value: Settings) -> None:
        self.__settings = _as_settings(value)
        self._refresh_settings()

    @property
    def settings(self) -> Settings:
        return self.__settings

    def _refresh_settings(self) -> None:
        s = self.__settings
        try:
            resolve_device(s.device)
            self._device_error: Optional[str] = None
        except (RuntimeError, ValueError) as e:
            self._device_error = str(e)
        self._settings_text = _settings_key(s)

    # -- solving ------------------------------------------------------------------

    def setup(self, P_values: Tensor, A_values: Tensor) -> None:
        """Store the matrix values for the two-argument ``solve(q, b)``:
        ``(nnz,)`` shared by the batch or ``(B, nnz)``."""
        t0 = time.perf_counter()
        _rows("P_values", _cpu_tensor("P_values", P_values), self._nnz_p, "nnz of the P pattern")
        _rows("A_values", _cpu_tensor("A_values", A_values), self._nnz_a, "nnz of the A pattern")
        self._P_values, self._A_values = P_values, A_values
        self._setup_time = time.perf_counter() - t0

    def solve(self, *args: Tensor, warm_start: Optional[Any] = None):
        """``solve(P_values, A_values, q, b)`` or, after ``setup``, ``solve(q, b)``.

        ``warm_start``: a WarmStart / BatchedWarmStart (or a previous solution) to
        start the interior-point method from; elements whose warm-started solve
        fails are solved again from the default start (with a warning).
        """
        if len(args) == 4:
            P, A, q, b = args
        elif len(args) == 2:
            if self._P_values is None:
                raise RuntimeError(
                    "setup() must be called before solve(q, b): call solver.setup(P_values, A_values) first."
                )
            P, A, (q, b) = self._P_values, self._A_values, args
        else:
            raise TypeError(
                f"solve() takes 2 or 4 arguments ((q, b) after setup, or (P_values, A_values, q, b)), "
                f"got {len(args)}."
            )
        if self._device_error is not None:
            raise RuntimeError(self._device_error)
        P = _cpu_tensor("P_values", P)
        A = _cpu_tensor("A_values", A)
        q = _cpu_tensor("q", q)
        b = _cpu_tensor("b", b)
        out_dtype = _result_dtype((P, A, q, b))
        batched = max(P.dim(), A.dim(), q.dim(), b.dim()) > 1
        P2 = _rows("P_values", P, self._nnz_p, "nnz of the P pattern")
        A2 = _rows("A_values", A, self._nnz_a, "nnz of the A pattern")
        q2 = _rows("q", q, self._n, "n")
        b2 = _rows("b", b, self._m, "m")
        B = max(P2.shape[0], A2.shape[0], q2.shape[0], b2.shape[0])
        for name, t in (("P_values", P2), ("A_values", A2), ("q", q2), ("b", b2)):
            if t.shape[0] not in (1, B):
                raise ValueError(
                    f"{name} has batch size {t.shape[0]}, but another input has batch size {B}; "
                    f"each input has batch size {B} or is unbatched (shared by the batch)."
                )
        f64 = torch.float64
        P2 = P2.to(f64)
        if self._P_is_symmetric_as_given:
            Pfull = P2.contiguous()
        else:
            Pfull = 0.5 * (P2[:, self._src_a] + P2[:, self._src_b])
        A2 = A2.to(f64)
        A2 = (A2 if self._A_sort is None else A2[:, self._A_sort]).contiguous()
        q2 = q2.to(f64).expand(B, self._n).contiguous()
        b2 = b2.to(f64).expand(B, self._m).contiguous()
        warm = self._warm_tensors(warm_start, B)
        x0, z0, s0, info = _solve_op(self._handle, self._settings_text, Pfull, A2, q2, b2, *warm)
        x, z, s = x0.to(out_dtype), z0.to(out_dtype), s0.to(out_dtype)
        self._last = (info, batched)
        self._last_grad_state = (Pfull.detach(), A2.detach(), q2.detach(), b2.detach(),
                                 x0.detach(), z0.detach(), s0.detach(), info.detach(), batched)
        if not batched:
            return TorchSolution(x=x[0], z=z[0], s=s[0])
        return TorchBatchedSolution(x=x, z=z, s=s)

    def _warm_tensors(self, warm_start: Any, B: int):
        if warm_start is None:
            return (None, None, None)
        if not all(hasattr(warm_start, k) for k in ("x", "z", "s")):
            raise TypeError(
                f"warm_start must be a WarmStart or BatchedWarmStart (or a previous solution), "
                f"got {type(warm_start).__name__}."
            )
        out = []
        for key, width in (("x", self._n), ("z", self._m), ("s", self._m)):
            v = getattr(warm_start, key)
            t = v.detach() if isinstance(v, Tensor) else torch.as_tensor(np.asarray(v, dtype=np.float64))
            t = _rows(f"warm_start.{key}", _cpu_tensor(f"warm_start.{key}", t), width, "n" if key == "x" else "m")
            if t.shape[0] not in (1, B):
                raise ValueError(f"warm_start.{key} has batch size {t.shape[0]}, expected 1 or {B}.")
            out.append(t.to(torch.float64).expand(B, width).contiguous())
        return tuple(out)

    def backward(self, dx: Tensor, dz: Optional[Tensor] = None, ds: Optional[Tensor] = None):
        """Gradients through the last solve from cotangents of its x, z, s (the
        vector-Jacobian product; with autograd, ``loss.backward()`` does this).

        ``dx`` (n,) / (B, n), ``dz`` and ``ds`` (m,) / (B, m) (None means zero).
        Returns ``(dP_values, dq, dA_values, db)`` (float64), each with a leading
        batch axis when the last solve was batched, one row per element (also for
        a P / A that was shared by the batch). NaN for elements not solved.
        """
        if self._last_grad_state is None:
            raise RuntimeError("backward() needs a prior solve(); call solve() first.")
        P, A, q, b, x, z, s, info, batched = self._last_grad_state
        B = q.shape[0]

        def cot(name, v, width):
            if v is None:
                return torch.zeros((B, width), dtype=torch.float64)
            t = _rows(name, _cpu_tensor(name, v).detach(), width, "n" if name == "dx" else "m")
            if t.shape[0] not in (1, B):
                raise ValueError(f"{name} has batch size {t.shape[0]}, expected {B}.")
            return t.to(torch.float64).expand(B, width).contiguous()

        gx, gz, gs = cot("dx", dx, self._n), cot("dz", dz, self._m), cot("ds", ds, self._m)
        gP, gA, gq, gb = _vjp_op(self._handle, self._settings_text, P, A, q, b, x, z, s, info, gx, gz, gs)
        # back through the symmetrization P_full = (P[src_a] + P[src_b]) / 2
        dP = torch.zeros((B, self._nnz_p), dtype=torch.float64)
        dP.index_add_(1, self._src_a, 0.5 * gP).index_add_(1, self._src_b, 0.5 * gP)
        if self._A_sort is not None:   # back to the caller's order of A's values
            dA = torch.empty_like(gA)
            dA[:, self._A_sort] = gA
            gA = dA
        out = (dP, gq, gA, gb)
        return out if batched else tuple(t[0] for t in out)

    # -- metadata -----------------------------------------------------------------

    @property
    def info(self) -> Optional[Union[TorchSolveInfo, TorchBatchedSolveInfo]]:
        """Metadata of the last solve (None before the first)."""
        if self._last is None:
            return None
        info, batched = self._last
        info = info.detach()
        statuses = [to_status(int(c)) for c in info[:, _STATUS].tolist()]
        iters = info[:, _ITERS].to(torch.int64)
        common = dict(setup_time=self._setup_time, construction_time=self._construction_time)
        if not batched:
            return TorchSolveInfo(
                status=statuses[0], obj_val=info[0, _OBJ], iterations=iters[0],
                solve_time=float(info[0, _TIME]), primal_res=float(info[0, _PRES]),
                dual_res=float(info[0, _DRES]), gap=float(info[0, _GAP]), **common,
            )
        return TorchBatchedSolveInfo(
            status=statuses, obj_val=info[:, _OBJ], iterations=iters,
            solve_time=float(info[0, _WALL]), primal_res=info[:, _PRES], dual_res=info[:, _DRES],
            gap=info[:, _GAP], solve_times=info[:, _TIME], **common,
        )

    @property
    def n(self) -> int:
        return self._n

    @property
    def m(self) -> int:
        return self._m

    @property
    def nnzP(self) -> int:
        return self._nnz_p

    @property
    def nnzA(self) -> int:
        return self._nnz_a

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def cones(self):
        return self._cones

    @property
    def construction_time(self) -> float:
        return self._construction_time

    def get_dimensions(self) -> dict:
        return {"n": self._n, "m": self._m, "nnzP": self._nnz_p, "nnzA": self._nnz_a}


def _index_array(v: Any) -> np.ndarray:
    if isinstance(v, Tensor):
        if v.is_floating_point() or v.is_complex():
            raise TypeError(f"CSR index arrays must be integer tensors, got dtype {v.dtype}.")
        return v.detach().cpu().numpy()
    return v
