"""JAX interface: the solve as native XLA FFI custom calls (no Python callback).

Three custom calls, implemented in C++ (``ffi/handlers.cc``) over Rust
(``src/xla/``), registered for the CPU platform:

- ``moreau_solve``: ``(P, A, q, b[, warm_x, warm_z, warm_s]) -> (x, z, s, info)``
  with ``info = [status, iterations, objective, solve_time]`` per element;
- ``moreau_jvp``: ``(P, A, q, b, x, z, s, info, dP, dA, dq, db) -> (dx, dz, ds)``;
- ``moreau_vjp``: ``(P, A, q, b, x, z, s, info, gx, gz, gs) -> (gP, gA, gq, gb)``.

Attributes of every call: ``pattern_id`` (the CSR pattern and cones, registered
once per Solver in a Rust-side registry that caches the symbolic analysis) and
``settings`` (a ``key=T:value;...`` string built from the live ``Settings`` when
the call is traced).

Batching and sharding (``_ffi_calls``): each call is a primitive whose operands
are shared rows (rank 1: P, A under ``in_axes=None``, never copied per element)
or batched arrays; a whole ``vmap`` batch is ONE call that Rust solves in
parallel.  Under ``jit`` with a batch-sharded input the call is partitioned
(``custom_partitioning``): each device solves only its own shard, shared
operands are replicated, results keep the batch sharding.

Differentiation: ``_solve`` is a ``jax.custom_jvp``.  Its JVP rule runs the
forward call and then ``moreau_jvp_p``, a primitive that is linear in the
tangents (dP, dA, dq, db).  Forward mode (``jvp``, ``jacfwd``) evaluates that
primitive with the JVP call; reverse mode (``grad``, ``vjp``) transposes it, and
its transpose rule is the VJP call.  Where a tangent operand is broadcast along a
batch dimension (P shared by a vmapped batch), the transpose sums the
per-element gradients over that dimension.  Elements that are not solved
(status other than Solved/AlmostSolved) get NaN derivatives; their status is in
``info``.

Precision: the solver computes in float64; operands may be float32 or float64
in any mix (float16/bfloat16 are widened to float32 and integers converted, in
JAX, before the call).  The handlers take float32 and float64 buffers and
convert in Rust, so with ``jax_enable_x64`` off (no float64 in XLA) everything
works the same.  x, z, s and the floating info fields come back in
``jnp.result_type`` of the floating operands; every tangent / cotangent has
the dtype of its own primal (the JVP/VJP calls write each result buffer in its
operand's dtype).  ``jax_enable_x64`` is never read or changed here.

P: the solve uses the symmetric part of the given values, ``(P + P')/2`` on the
full pattern (an upper-triangular pattern is mirrored), so any P_values --
including a one-entry perturbation -- define a valid problem and the
derivatives are those of that map.
"""

from __future__ import annotations

import ctypes
import functools
import threading
import weakref
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Tuple

import numpy as np

import jax
import jax.numpy as jnp
from jax.interpreters import ad

from . import _fields
from ._problem import (
    _as_cones,
    _as_settings,
    check_b_infinities,
    check_b_sparsity_pattern,
    check_cones_match,
    full_symmetric_pattern as _full_pattern,
    lift_direct_cones,
    sort_csr_pattern,
    settings_to_native,
)
from ._devices import resolve_device
from ._ffi_calls import FfiCall
from ._gather_map import GatherMap
from ._solver import load_native
from ._types import Settings, SolverStatus, WarmStart, Solution, to_status

__all__ = ["Solver", "JaxSolution", "JaxSolveInfo"]

INFO_WIDTH = 4  # status, iterations, objective, solve time

_register_lock = threading.Lock()
_registered = False


def _register_targets() -> None:
    """Register the FFI handlers with XLA once per process."""
    global _registered
    with _register_lock:
        if _registered:
            return
        native = load_native()
        for name, addr in native.ffi_targets().items():
            jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(ctypes.c_void_p(addr)), platform="cpu")
        _registered = True


class JaxSolution(NamedTuple):
    """Primal x (n,), dual z (m,), slack s (m,) (leading batch axes under vmap),
    and z_x, the duals of the direct cones (Cones.dir_cones, in spec order;
    zero-length without them), kept as the 4th field like Moreau's so pytrees match."""

    x: jax.Array
    z: jax.Array
    s: jax.Array
    z_x: Optional[jax.Array] = None

    def to_warm_start(self) -> WarmStart:
        """A WarmStart (NumPy float64 arrays) from this solution."""
        zx = None if self.z_x is None else np.asarray(self.z_x, dtype=np.float64)
        return WarmStart(
            x=np.asarray(self.x, dtype=np.float64),
            z=np.asarray(self.z, dtype=np.float64),
            s=np.asarray(self.s, dtype=np.float64),
            z_x=zx,
        )


class JaxSolveInfo(NamedTuple):
    """Per-problem solve metadata as JAX arrays (usable inside jit)."""

    status: jax.Array  # Moreau SolverStatus code (1 = Solved, 4 = AlmostSolved, ...)
    iterations: jax.Array
    obj_val: jax.Array
    solve_time: jax.Array


@dataclass(frozen=True)
class _Config:
    """Trace-time constants of one call: hashable, so jit caches per value."""

    pattern_id: int
    n: int
    m: int
    nnz_p: int
    nnz_a: int
    settings: str
    dtype: str = "float64"  # of x, z, s, info and their tangents: float32 or float64

    def attrs(self) -> dict:
        return {"pattern_id": np.int64(self.pattern_id), "settings": self.settings}


def _solve_widths(cfg: "_Config"):
    return (cfg.n, cfg.m, cfg.m, INFO_WIDTH)


def _tangent_widths(cfg: "_Config"):
    return (cfg.n, cfg.m, cfg.m)


def _cotangent_widths(cfg: "_Config"):
    return (cfg.nnz_p, cfg.nnz_a, cfg.n, cfg.m)


# The three custom calls (see _ffi_calls: batching under vmap, sharding under jit).
_SOLVE = FfiCall("moreau_solve", _solve_widths)
_JVP = FfiCall("moreau_jvp", _tangent_widths)
_VJP = FfiCall("moreau_vjp", _cotangent_widths)


def _forward(cfg: _Config, P, A, q, b, *warm):
    return _SOLVE.bind(P, A, q, b, *warm, cfg=cfg, out_dtypes=(cfg.dtype,) * 4)


def _vjp_call(cfg: _Config, dtypes, *args):
    """Gradients of (P, A, q, b), each in the dtype given for it (its primal's)."""
    return _VJP.bind(*args, cfg=cfg, out_dtypes=tuple(dtypes))


# --- the linear JVP primitive ------------------------------------------------
# Operands: 8 residuals (P, A, q, b, x, z, s, info), then 4 tangents (dP, dA, dq, db).
# Linear in the tangents: forward mode evaluates the JVP call, reverse mode
# transposes it into the VJP call.
_N_RES = 8
moreau_jvp_p = _JVP.prim


def _sum_to(g, shape):
    """Sum g over the batch axes along which the operand was shared: all leading axes
    for a shared row (rank 1), the size-1 ones for a partly batched operand."""
    if len(shape) < g.ndim:
        return jnp.sum(g, axis=tuple(range(g.ndim - len(shape))))
    axes = tuple(i for i, (gs, s) in enumerate(zip(g.shape, shape)) if s == 1 and gs != 1)
    return jnp.sum(g, axis=axes, keepdims=True) if axes else g


def _jvp_transpose(cts, *args, cfg, out_dtypes):
    res, tans = args[:_N_RES], args[_N_RES:]
    if any(ad.is_undefined_primal(r) for r in res):
        raise NotImplementedError("moreau: derivatives of second order are not supported")
    cts = [ad.instantiate_zeros(c) for c in cts]
    # Each gradient in its tangent's dtype (a float32 q next to float64 P: float32).
    dtypes = [t.aval.dtype if ad.is_undefined_primal(t) else cfg.dtype for t in tans]
    grads = _vjp_call(cfg, dtypes, *res, *cts)
    out = [None] * _N_RES
    for t, g in zip(tans, grads):
        out.append(_sum_to(g, t.aval.shape) if ad.is_undefined_primal(t) else None)
    return out


ad.primitive_transposes[moreau_jvp_p] = _jvp_transpose


# --- the differentiable solve ------------------------------------------------


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _solve(cfg: _Config, P, A, q, b, *warm):
    return _forward(cfg, P, A, q, b, *warm)


@_solve.defjvp
def _solve_jvp(cfg, primals, tangents):
    P, A, q, b = primals[:4]
    x, z, s, info = _forward(cfg, *primals)
    # Warm-start values change where the solver starts, not the solution: no tangent.
    dx, dz, ds = _JVP.bind(P, A, q, b, x, z, s, info, *tangents[:4], cfg=cfg, out_dtypes=(cfg.dtype,) * 3)
    return (x, z, s, info), (dx, dz, ds, jnp.zeros_like(info))


# --- P symmetrization -----------------------------------------------------------


# (_full_pattern lives in _problem.py: the torch layer uses it too.)


# --- settings in the jit cache key ----------------------------------------------
# Settings are read when a call is traced.  So that a later change (e.g.
# ``solver._settings.max_iter = 5``, or cvxpylayers' per-call solver_args) never
# reuses an executable compiled for other settings, the encoded settings of all
# live JAX solvers form a jax config state that is part of jit's cache key: a
# change retraces, and going back to earlier settings hits the earlier entry.
from jax._src import config as _jax_config  # noqa: E402

_SETTINGS_KEY = "moreau_jax_solver_settings"
_settings_state = _jax_config.string_or_object_state(
    _SETTINGS_KEY, (), "Settings of the live moreau JAX solvers (internal jit-cache key).",
    include_in_jit_key=True, include_in_trace_context=True,
)
_live_solvers: "weakref.WeakSet[Solver]" = weakref.WeakSet()
_key_lock = threading.Lock()


def _refresh_settings_key() -> None:
    with _key_lock:
        key = tuple(sorted(
            (s._pattern_id, _encode_settings(s._settings), str(s._settings.device))
            for s in list(_live_solvers)
        ))
        if key != _settings_state.value:
            jax.config.update(_SETTINGS_KEY, key)


_fields.change_hooks.append(_refresh_settings_key)


# --- the Solver ---------------------------------------------------------------


def _encode_settings(settings: Settings) -> str:
    parts = []
    for key, v in sorted(settings_to_native(settings).items()):
        if isinstance(v, (bool, np.bool_)):
            parts.append(f"{key}=b:{int(bool(v))}")
        elif isinstance(v, (int, np.integer)):
            parts.append(f"{key}=i:{int(v)}")
        elif isinstance(v, (float, np.floating)):
            parts.append(f"{key}=f:{float(v)!r}")
        else:
            parts.append(f"{key}=s:{v}")
    return ";".join(parts)


@functools.lru_cache(maxsize=256)
def _checked_settings(text: str) -> str:
    load_native().check_ffi_settings(text)
    return text


_NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_operand(name: str, value: Any, width: int, what: str):
    """A real 1-D JAX array of ``width`` values, in its own dtype (cast later)."""
    arr = jnp.asarray(value)
    if arr.dtype == jnp.bool_ or not jnp.issubdtype(arr.dtype, jnp.number) \
            or jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise TypeError(f"{name} must be a real floating-point array, got dtype {arr.dtype}.")
    if arr.shape != (width,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({width},) ({what}).")
    return arr


def _precision(*arrays):
    """(result dtype, call dtype): outputs come back in ``jnp.result_type`` of the
    floating operands (the default float dtype if there are none); the custom
    calls run in that dtype when it is float32/float64, else in float32."""
    floats = [a for a in arrays if jnp.issubdtype(a.dtype, jnp.floating)]
    result = np.dtype(jnp.result_type(*floats) if floats else jnp.result_type(float))
    return result, (result if result in _NATIVE_FLOATS else np.dtype(np.float32))


def _to_call_dtype(arr, call_dtype):
    """float32/float64 operands go to the handlers as they are (Rust widens float32);
    float16/bfloat16 and integers are converted to the call dtype first."""
    return arr if arr.dtype in _NATIVE_FLOATS else arr.astype(call_dtype)


class _SolverImpl:
    """What cvxpylayers calls: ``solve``, ``solve_warm``, ``_pending_warm_start``."""

    def __init__(self, owner: "Solver"):
        self._owner = owner
        self._pending_warm_start: Optional[dict] = None

    def _config(self, dtype) -> _Config:
        o = self._owner
        # device="cuda" without a CUDA backend: a RuntimeError naming the device,
        # never a silent CPU solve (settings can change per call: checked at trace).
        resolve_device(o._settings.device)
        text = _checked_settings(_encode_settings(o._settings))
        return _Config(o._pattern_id, o._n, o._m_native, o._nnz_p_full, o._nnz_a_native, text,
                       np.dtype(dtype).name)

    def _prepare(self, P_values, A_values, q, b):
        """Checked operands in the call dtype, and (result dtype, call dtype)."""
        o = self._owner
        P = _as_operand("P_values", P_values, o._nnz_p, "nnz of the P pattern")
        A = _as_operand("A_values", A_values, o._nnz_a, "nnz of the A pattern")
        q = _as_operand("q", q, o._n, "n")
        b = _as_operand("b", b, o._m, "m")
        result, call = _precision(P, A, q, b)
        P, A, q, b = (_to_call_dtype(v, call) for v in (P, A, q, b))
        if not isinstance(b, jax.core.Tracer):  # concrete b: bad infinities raise now
            check_b_infinities(o._cones, np.asarray(b))
        if o._A_sort is not None:  # caller's (unsorted) order -> sorted pattern
            A = o._A_sort(A)
        P = o._symmetrize(P)
        if o._lift is not None:  # direct cones: solved as slack rows (DirectConeLift)
            A, b = o._lift.jax_A(A), o._lift.jax_rows(b)
        return (P, A, q, b), result, call

    def _warm(self, call, warm_x, warm_z, warm_s, warm_z_x=None):
        """Warm-start operands; with direct cones (x, z, s) of the user's rows and
        ``warm_z_x`` are lifted to the solved rows, () (cold start) without z_x."""
        o = self._owner
        lift = o._lift
        if warm_z_x is not None and lift is None:
            # Duals of direct cones: none here, so only the empty array fits.
            _as_operand("warm_z_x", warm_z_x, 0, "no direct cones")
        warm = tuple(
            _to_call_dtype(_as_operand(name, v, w, what), call)
            for name, v, w, what in (("warm_x", warm_x, o._n, "n"), ("warm_z", warm_z, o._m, "m"),
                                     ("warm_s", warm_s, o._m, "m"))
        )
        if lift is None:
            return warm
        if warm_z_x is None or np.size(warm_z_x) == 0:
            return ()
        x, z, s = warm
        zx = _as_operand("warm_z_x", warm_z_x, len(lift.dir_rows), "entries of the direct cones")
        return x, lift.jax_rows(z, zx.astype(z.dtype)), lift.jax_rows(s, x[lift.dir_cols].astype(s.dtype))

    def _finish(self, out, result):
        cast = lambda v: v if v.dtype == result else v.astype(result)  # float16/bfloat16 callers
        x, z, s, info = out
        x, z, s = cast(x), cast(z), cast(s)
        lift = self._owner._lift
        if lift is not None:
            z, s, z_x = lift.jax_split(z, s)
        else:
            z_x = jnp.zeros(x.shape[:-1] + (0,), result)
        sol = JaxSolution(x, z, s, z_x)
        meta = JaxSolveInfo(info[..., 0].astype(jnp.int32), info[..., 1].astype(jnp.int32),
                            cast(info[..., 2]), cast(info[..., 3]))
        self._owner._record_info(meta)
        return sol, meta

    def solve(self, P_values, A_values, q, b):
        """(solution, info) for one problem; traceable under jit / vmap / grad."""
        _register_targets()
        args, result, call = self._prepare(P_values, A_values, q, b)
        warm = ()
        pending = self._pending_warm_start
        # The side channel holds NumPy arrays; only unbatched ones (n,) can be used here.
        if pending is not None and np.ndim(pending.get("warm_x")) == 1:
            warm = self._warm(call, pending["warm_x"], pending["warm_z"], pending["warm_s"],
                              pending.get("warm_z_x"))
        return self._finish(_solve(self._config(call), *args, *warm), result)

    def solve_warm(self, P_values, A_values, q, b, warm_x, warm_z, warm_s, warm_z_x=None):
        """Like ``solve``, starting the interior-point method from (x, z, s).
        ``warm_z_x`` (Moreau's 8th operand): the duals of the direct cones (empty
        without them; with direct cones but no ``warm_z_x`` the start is cold)."""
        _register_targets()
        args, result, call = self._prepare(P_values, A_values, q, b)
        warm = self._warm(call, warm_x, warm_z, warm_s, warm_z_x)
        return self._finish(_solve(self._config(call), *args, *warm), result)


class Solver:
    """JAX solver for one problem family (fixed CSR pattern and cones).

    ``Solver(n, m, P_row_offsets, P_col_indices, A_row_offsets, A_col_indices,
    cones, settings)``.  P's pattern is the full symmetric matrix or its upper
    triangle.  Then either ``solve(P_values, A_values, q, b)`` or
    ``setup(P_values, A_values)`` followed by ``solve(q, b)``.  Returns a
    JaxSolution (x, z, s); metadata goes to ``.info`` after an eager solve.
    Works under ``jit``, ``vmap``, ``grad``, ``jvp``/``jacfwd``; ``settings`` is
    read each time a call is traced (a change needs a new trace).
    Values may be float32 or float64 (any mix; ``jax_enable_x64`` on or off):
    the solve runs in float64 and x, z, s come back in the operands' result
    dtype, each gradient in its input's dtype.  ``jit`` (accepted for Moreau
    compatibility) has no effect: every call already is a native custom call.
    ``b_sparsity_pattern`` (length-m booleans, Moreau's hint for chordal
    decomposition of PSD cones) is checked and kept; it changes nothing here.
    Unsorted CSR patterns are accepted; gradients follow the caller's value order.
    ``b_i = +inf`` on a nonnegative row is an absent bound (z_i = 0, s_i = +inf,
    zero derivatives). Other infinities in b raise ValueError when b is concrete;
    under jit / vmap that element gets status NumericalError and NaN outputs.
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
        jit: bool = True,
        b_sparsity_pattern: Optional[Any] = None,
    ) -> None:
        n, m = int(n), int(m)
        if n < 1 or m < 0:
            raise ValueError(f"need n >= 1 and m >= 0, got n = {n}, m = {m}.")
        self.__settings = _as_settings(settings)
        resolve_device(self.__settings.device)  # RuntimeError for "cuda" without CUDA
        self._cones = _as_cones(cones)
        self._jit = bool(jit)
        self._b_sparsity_pattern = check_b_sparsity_pattern(b_sparsity_pattern, m)
        # Unsorted patterns are sorted here; values are gathered into that order in
        # _prepare (a GatherMap: see _gather_map), so gradients come back in the
        # caller's order.
        P_ip, P_ix, P_sort = sort_csr_pattern("P", P_row_offsets, P_col_indices, n, n)
        A_ip, A_ix, A_sort = sort_csr_pattern("A", A_row_offsets, A_col_indices, m, n)
        self._A_sort = None if np.array_equal(A_sort, np.arange(len(A_sort))) else GatherMap(
            np.arange(len(A_sort)), A_sort, np.ones(len(A_sort)), len(A_sort), len(A_sort))
        check_cones_match(self._cones, m, f"m = {m}")
        full_ip, full_ix, src_a, src_b = _full_pattern(n, P_ip, P_ix)
        self._src_a, self._src_b = P_sort[src_a], P_sort[src_b]
        self._n, self._m = n, m
        self._nnz_p, self._nnz_a = len(P_ix), len(A_ix)
        self._nnz_p_full = len(full_ix)
        # P_full[k] = (P[src_a[k]] + P[src_b[k]]) / 2, as gathers (see _gather_map).
        k = np.arange(self._nnz_p_full)
        self._symmetrize = GatherMap(
            np.concatenate([k, k]), np.concatenate([self._src_a, self._src_b]),
            np.full(2 * len(k), 0.5), self._nnz_p, self._nnz_p_full,
        )
        # Direct cones are solved as slack rows: the native problem has the lifted A.
        self._lift, native_cones, self._m_native, A_ip_nat, A_ix_nat = lift_direct_cones(
            self._cones, n, m, A_ip, A_ix)
        self._nnz_a_native = len(A_ix_nat)
        native = load_native()
        self._pattern_id = native.register_pattern(
            n, self._m_native, np.ascontiguousarray(full_ip), np.ascontiguousarray(full_ix), A_ip_nat, A_ix_nat,
            dict(native_cones),
        )
        self._impl = _SolverImpl(self)
        _live_solvers.add(self)
        _refresh_settings_key()
        self._P_values = None
        self._A_values = None
        self._info = None

    @property
    def _settings(self) -> Settings:
        """The live Settings (cvxpylayers mutates it per call; read at trace time)."""
        return self.__settings

    @_settings.setter
    def _settings(self, value: Settings) -> None:
        self.__settings = _as_settings(value)
        _refresh_settings_key()

    def setup(self, P_values, A_values) -> None:
        """Store the matrix values for the two-argument ``solve(q, b)``."""
        self._P_values, self._A_values = P_values, A_values

    def solve(self, *args, warm_start: Optional[Any] = None) -> JaxSolution:
        """``solve(P_values, A_values, q, b)`` or, after ``setup``, ``solve(q, b)``."""
        if len(args) == 4:
            P, A, q, b = args
        elif len(args) == 2:
            if self._P_values is None:
                raise RuntimeError("setup() must be called before solve(q, b): call solver.setup(P_values, A_values) first.")
            P, A, (q, b) = self._P_values, self._A_values, args
        else:
            raise TypeError(f"solve() takes 2 or 4 arguments ((q, b) after setup, or (P_values, A_values, q, b)), got {len(args)}.")
        if warm_start is None:
            sol, _ = self._impl.solve(P, A, q, b)
        else:
            if not isinstance(warm_start, (WarmStart, Solution, JaxSolution)):
                raise TypeError(f"warm_start must be a WarmStart, got {type(warm_start).__name__}.")
            sol, _ = self._impl.solve_warm(
                P, A, q, b, warm_start.x, warm_start.z, warm_start.s, getattr(warm_start, "z_x", None)
            )
        return sol

    def _record_info(self, meta: JaxSolveInfo) -> None:
        if any(isinstance(v, jax.core.Tracer) for v in meta):
            return  # inside jit/vmap/grad: the values exist only in the compiled program
        self._info = meta

    @property
    def info(self) -> Optional[JaxSolveInfo]:
        """Info of the last eager (non-traced) solve; statuses as SolverStatus when unbatched."""
        meta = self._info
        if meta is None or np.ndim(meta.status) != 0:
            return meta
        return meta._replace(status=to_status(int(meta.status)))

    @property
    def n(self) -> int:
        return self._n

    @property
    def m(self) -> int:
        return self._m

    @property
    def settings(self) -> Settings:
        return self._settings
