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

Batching: every operand has the same number of leading batch dimensions, each
either the batch size or 1 (``vmap_method="expand_dims"``); a whole ``vmap``
batch is ONE call that Rust solves in parallel, and operands broadcast along the
batch (e.g. P, A under ``in_axes=None``) are used as shared rows, not copied.
The targets are batch-partitionable, so a batch sharded across devices is
solved shard by shard.

Differentiation: ``_solve`` is a ``jax.custom_jvp``.  Its JVP rule runs the
forward call and then ``moreau_jvp_p``, a primitive that is linear in the
tangents (dP, dA, dq, db).  Forward mode (``jvp``, ``jacfwd``) evaluates that
primitive with the JVP call; reverse mode (``grad``, ``vjp``) transposes it, and
its transpose rule is the VJP call.  Where a tangent operand is broadcast along a
batch dimension (P shared by a vmapped batch), the transpose sums the
per-element gradients over that dimension.  Elements that are not solved
(status other than Solved/AlmostSolved) get NaN derivatives; their status is in
``info``.

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
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from . import _fields
from ._problem import (
    DirectConeLift,
    _as_cones,
    _as_settings,
    check_cones_match,
    check_csr_pattern,
    cones_to_native,
    settings_to_native,
)
from ._devices import resolve_device
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
            # A batch sharded over devices is solved shard by shard.
            jax.ffi.register_ffi_target_as_batch_partitionable(name)
        _registered = True


class JaxSolution(NamedTuple):
    """Primal x (n,), dual z (m,), slack s (m,) (leading batch axes under vmap),
    and z_x, the duals of the direct cones (Cones.dir_cones, in spec order)."""

    x: jax.Array
    z: jax.Array
    s: jax.Array
    z_x: Optional[jax.Array] = None


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

    def attrs(self) -> dict:
        return {"pattern_id": np.int64(self.pattern_id), "settings": self.settings}


def _lead(*arrays) -> Tuple[int, ...]:
    """Broadcast leading (batch) dimensions of operands of equal rank."""
    return tuple(np.broadcast_shapes(*(tuple(a.shape[:-1]) for a in arrays)))


def _f64(shape) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(tuple(shape), jnp.float64)


def _forward(cfg: _Config, P, A, q, b, *warm):
    lead = _lead(P, A, q, b, *warm)
    out = (_f64(lead + (cfg.n,)), _f64(lead + (cfg.m,)), _f64(lead + (cfg.m,)), _f64(lead + (INFO_WIDTH,)))
    return jax.ffi.ffi_call("moreau_solve", out, vmap_method="expand_dims")(P, A, q, b, *warm, **cfg.attrs())


def _jvp_call(cfg: _Config, *args):
    lead = _lead(*args)
    out = (_f64(lead + (cfg.n,)), _f64(lead + (cfg.m,)), _f64(lead + (cfg.m,)))
    return jax.ffi.ffi_call("moreau_jvp", out, vmap_method="expand_dims")(*args, **cfg.attrs())


def _vjp_call(cfg: _Config, *args):
    lead = _lead(*args)
    out = (
        _f64(lead + (cfg.nnz_p,)),
        _f64(lead + (cfg.nnz_a,)),
        _f64(lead + (cfg.n,)),
        _f64(lead + (cfg.m,)),
    )
    return jax.ffi.ffi_call("moreau_vjp", out, vmap_method="expand_dims")(*args, **cfg.attrs())


# --- the linear JVP primitive ------------------------------------------------
# Operands: 8 residuals (P, A, q, b, x, z, s, info), then 4 tangents (dP, dA, dq, db).
_N_RES = 8
moreau_jvp_p = Primitive("moreau_jvp")
moreau_jvp_p.multiple_results = True


def _jvp_abstract(*args, cfg):
    lead = _lead(*args)
    return (
        jax.core.ShapedArray(lead + (cfg.n,), jnp.float64),
        jax.core.ShapedArray(lead + (cfg.m,), jnp.float64),
        jax.core.ShapedArray(lead + (cfg.m,), jnp.float64),
    )


def _jvp_impl(*args, cfg):
    return _jvp_call(cfg, *args)


def _jvp_batch(args, dims, *, cfg):
    # Same convention as ffi_call's "expand_dims": batch axis first, size 1 where unbatched.
    moved = [
        jnp.expand_dims(a, 0) if d is None else jnp.moveaxis(a, d, 0)
        for a, d in zip(args, dims)
    ]
    return moreau_jvp_p.bind(*moved, cfg=cfg), (0, 0, 0)


def _sum_to(g, shape):
    """Sum g over the batch axes where the operand had size 1 (it was shared)."""
    axes = tuple(i for i, (gs, s) in enumerate(zip(g.shape, shape)) if s == 1 and gs != 1)
    return jnp.sum(g, axis=axes, keepdims=True) if axes else g


def _jvp_transpose(cts, *args, cfg):
    res, tans = args[:_N_RES], args[_N_RES:]
    if any(ad.is_undefined_primal(r) for r in res):
        raise NotImplementedError("moreau: derivatives of second order are not supported")
    cts = [ad.instantiate_zeros(c) for c in cts]
    grads = _vjp_call(cfg, *res, *cts)
    out = [None] * _N_RES
    for t, g in zip(tans, grads):
        out.append(_sum_to(g, t.aval.shape) if ad.is_undefined_primal(t) else None)
    return out


moreau_jvp_p.def_impl(_jvp_impl)
moreau_jvp_p.def_abstract_eval(_jvp_abstract)
mlir.register_lowering(moreau_jvp_p, mlir.lower_fun(_jvp_impl, multiple_results=True), platform="cpu")
batching.primitive_batchers[moreau_jvp_p] = _jvp_batch
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
    dx, dz, ds = moreau_jvp_p.bind(P, A, q, b, x, z, s, info, *tangents[:4], cfg=cfg)
    return (x, z, s, info), (dx, dz, ds, jnp.zeros_like(info))


# --- P symmetrization -----------------------------------------------------------


def _full_pattern(n: int, ip: np.ndarray, ix: np.ndarray):
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


def _as_operand(name: str, value: Any, width: int, what: str):
    arr = jnp.asarray(value)
    if arr.dtype != jnp.float64:
        if arr.dtype in (jnp.float32, jnp.float16, jnp.bfloat16) or not jax.config.jax_enable_x64:
            raise TypeError(
                f"{name} has dtype {arr.dtype}, but the moreau solver works in float64. Enable "
                f"64-bit JAX with jax.config.update('jax_enable_x64', True) (before creating "
                f"arrays) and pass float64 arrays."
            )
        if not jnp.issubdtype(arr.dtype, jnp.number) or jnp.issubdtype(arr.dtype, jnp.complexfloating):
            raise TypeError(f"{name} must be a real float64 array, got dtype {arr.dtype}.")
        arr = arr.astype(jnp.float64)  # integers convert exactly
    if arr.shape != (width,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({width},) ({what}).")
    return arr


class _SolverImpl:
    """What cvxpylayers calls: ``solve``, ``solve_warm``, ``_pending_warm_start``."""

    def __init__(self, owner: "Solver"):
        self._owner = owner
        self._pending_warm_start: Optional[dict] = None

    def _config(self) -> _Config:
        o = self._owner
        # device="cuda" without a CUDA backend: a RuntimeError naming the device,
        # never a silent CPU solve (settings can change per call: checked at trace).
        resolve_device(o._settings.device)
        text = _checked_settings(_encode_settings(o._settings))
        return _Config(o._pattern_id, o._n, o._m_native, o._nnz_p_full, o._nnz_a_native, text)

    def _prepare(self, P_values, A_values, q, b):
        o = self._owner
        P = _as_operand("P_values", P_values, o._nnz_p, "nnz of the P pattern")
        A = _as_operand("A_values", A_values, o._nnz_a, "nnz of the A pattern")
        q = _as_operand("q", q, o._n, "n")
        b = _as_operand("b", b, o._m, "m")
        if o._nnz_p_full:
            P = 0.5 * (P[o._src_a] + P[o._src_b])
        else:
            P = jnp.zeros((0,), jnp.float64)
        if o._lift is not None:  # direct cones: solved as slack rows (DirectConeLift)
            A, b = o._lift.jax_A(A), o._lift.jax_rows(b)
        return P, A, q, b

    def _lift_warm(self, warm, warm_z_x):
        """Warm (x, z, s) of the user's rows -> the lifted rows; () (cold start) when
        there are direct cones but no z_x for them."""
        lift = self._owner._lift
        if lift is None or not warm:
            return warm
        if warm_z_x is None or np.size(warm_z_x) == 0:
            return ()
        x, z, s = warm
        zx = _as_operand("warm_z_x", warm_z_x, len(lift.dir_rows), "entries of the direct cones")
        return x, lift.jax_rows(z, zx), lift.jax_rows(s, x[lift.dir_cols])

    def _finish(self, out):
        x, z, s, info = out
        lift = self._owner._lift
        if lift is not None:
            z, s, z_x = lift.jax_split(z, s)
        else:
            z_x = jnp.zeros(x.shape[:-1] + (0,), x.dtype)
        sol = JaxSolution(x, z, s, z_x)
        meta = JaxSolveInfo(info[..., 0].astype(jnp.int32), info[..., 1].astype(jnp.int32), info[..., 2], info[..., 3])
        self._owner._record_info(meta)
        return sol, meta

    def solve(self, P_values, A_values, q, b):
        """(solution, info) for one problem; traceable under jit / vmap / grad."""
        _register_targets()
        args = self._prepare(P_values, A_values, q, b)
        warm = ()
        pending = self._pending_warm_start
        # The side channel holds NumPy arrays; only unbatched ones (n,) can be used here.
        if pending is not None and np.ndim(pending.get("warm_x")) == 1:
            o = self._owner
            warm = (
                _as_operand("warm_x", pending["warm_x"], o._n, "n"),
                _as_operand("warm_z", pending["warm_z"], o._m, "m"),
                _as_operand("warm_s", pending["warm_s"], o._m, "m"),
            )
            warm = self._lift_warm(warm, pending.get("warm_z_x"))
        return self._finish(_solve(self._config(), *args, *warm))

    def solve_warm(self, P_values, A_values, q, b, warm_x, warm_z, warm_s, warm_z_x=None):
        """Like ``solve``, starting the interior-point method from (x, z, s)."""
        _register_targets()
        o = self._owner
        args = self._prepare(P_values, A_values, q, b)
        warm = (
            _as_operand("warm_x", warm_x, o._n, "n"),
            _as_operand("warm_z", warm_z, o._m, "m"),
            _as_operand("warm_s", warm_s, o._m, "m"),
        )
        warm = self._lift_warm(warm, warm_z_x)
        return self._finish(_solve(self._config(), *args, *warm))


class Solver:
    """JAX solver for one problem family (fixed CSR pattern and cones).

    ``Solver(n, m, P_row_offsets, P_col_indices, A_row_offsets, A_col_indices,
    cones, settings)``.  P's pattern is the full symmetric matrix or its upper
    triangle.  Then either ``solve(P_values, A_values, q, b)`` or
    ``setup(P_values, A_values)`` followed by ``solve(q, b)``.  Returns a
    JaxSolution (x, z, s); metadata goes to ``.info`` after an eager solve.
    Works under ``jit``, ``vmap``, ``grad``, ``jvp``/``jacfwd``; ``settings`` is
    read each time a call is traced (a change needs a new trace).
    All values must be float64 (enable ``jax_enable_x64``).
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
    ) -> None:
        n, m = int(n), int(m)
        if n < 1 or m < 0:
            raise ValueError(f"need n >= 1 and m >= 0, got n = {n}, m = {m}.")
        self.__settings = _as_settings(settings)
        resolve_device(self.__settings.device)  # RuntimeError for "cuda" without CUDA
        self._cones = _as_cones(cones)
        P_ip, P_ix = check_csr_pattern("P", P_row_offsets, P_col_indices, n, n)
        A_ip, A_ix = check_csr_pattern("A", A_row_offsets, A_col_indices, m, n)
        check_cones_match(self._cones, m, f"m = {m}")
        full_ip, full_ix, self._src_a, self._src_b = _full_pattern(n, P_ip, P_ix)
        self._n, self._m = n, m
        self._nnz_p, self._nnz_a = len(P_ix), len(A_ix)
        self._nnz_p_full = len(full_ix)
        # Direct cones are solved as slack rows: the native problem has the lifted A.
        self._lift = DirectConeLift(self._cones, n, m, A_ip, A_ix) if self._cones.dir_cones else None
        lift = self._lift
        native_cones = cones_to_native(self._cones) if lift is None else lift.native_cones
        self._m_native = m if lift is None else lift.m
        self._nnz_a_native = self._nnz_a if lift is None else lift.nnz
        A_ip_nat, A_ix_nat = (A_ip, A_ix) if lift is None else (lift.A_ip, lift.A_ix)
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
