"""The custom calls as JAX primitives that batch under ``vmap`` and shard under ``jit``.

Operand layout at batch rank L (L = 0 outside ``vmap``): every operand is either
*shared* -- rank 1, one row used by every batch element (P and A under
``in_axes=None``) -- or *batched* -- rank L + 1, each leading dimension the batch
size or 1 (an operand batched along some ``vmap`` levels and not others). The
handlers (``ffi/handlers.cc`` over ``src/xla/``) read a size-1 leading dimension as
"the same row for every element", so a shared operand is never copied per element.

Batching rule: move the new batch axis to the front; a shared operand stays
rank 1; a batched operand that lacks some of the older batch dimensions gets
size-1 ones.  The batch is still ONE custom call that Rust solves in parallel.

Sharding: with L > 0 the lowering goes through
``jax.experimental.custom_partitioning`` with a Shardy sharding rule in which every
leading batch dimension of full size is a factor shared by the batched operands
and all results, and every other dimension (the data dimension, a size-1 leading
dimension) is a factor that must stay replicated.  So under ``jit`` with a
batch-sharded input each device calls the handler on its local shard only: the
batched operands and results keep the batch sharding, shared operands are
replicated (never broadcast to the batch), and no all-gather precedes the call.
On one device XLA uses the body as it is (the partition callback never runs).
The primitives' abstract evaluation carries the batch sharding through for
explicit mesh axes (sharding in types).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Sequence, Tuple

import numpy as np

import jax
import jax.numpy as jnp
from jax.experimental.custom_partitioning import custom_partitioning
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir
from jax.sharding import NamedSharding, PartitionSpec
# No public names for these: the lowering's axis context, the set of primitives whose
# lowering needs the concrete devices (custom_partitioning is in it too), and the
# varying-manual-axes cast that lax applies to its own operands.
from jax._src import core, dispatch, sharding_impls

__all__ = ["FfiCall", "batch_rank", "lead_shape"]


def batch_rank(shapes: Sequence[Tuple[int, ...]]) -> int:
    """L: the batch rank of a call whose operands have these shapes (all rank 1 or L + 1)."""
    return max(len(s) for s in shapes) - 1


def lead_shape(shapes: Sequence[Tuple[int, ...]]) -> Tuple[int, ...]:
    """The full batch shape: the broadcast of the batched operands' leading dimensions."""
    L = batch_rank(shapes)
    return tuple(np.broadcast_shapes(*(tuple(s[:-1]) for s in shapes if len(s) == L + 1)))


def _check_layout(shapes: Sequence[Tuple[int, ...]]) -> int:
    L = batch_rank(shapes)
    for s in shapes:
        if len(s) not in (1, L + 1):
            raise ValueError(f"moreau: operand shapes {list(shapes)} mix batch ranks")
    return L


@dataclass(frozen=True)
class _Layout:
    """The static structure of one batched call: what the sharding rule depends on."""

    L: int
    lead: Tuple[int, ...]
    # Per operand: None (shared, rank 1) or, per leading dimension, whether it is full.
    operands: Tuple[Tuple[bool, ...] | None, ...]
    n_results: int

    @staticmethod
    def of(shapes: Sequence[Tuple[int, ...]], n_results: int) -> "_Layout":
        L = _check_layout(shapes)
        lead = lead_shape(shapes)
        ops = tuple(
            None if len(s) == 1 else tuple(int(d) == lead[j] for j, d in enumerate(s[:-1]))
            for s in shapes
        )
        return _Layout(L, lead, ops, n_results)

    def sharding_rule(self) -> Tuple[str, Tuple[str, ...]]:
        """Shardy rule 'operand factors, ... -> result factors, ...' and the factors that
        must stay replicated (everything but the full batch dimensions)."""
        replicated = []

        def own(name: str) -> str:
            replicated.append(name)
            return name

        batch = [f"b{j}" for j in range(self.L)]
        ops = []
        for i, full in enumerate(self.operands):
            if full is None:
                ops.append(own(f"k{i}"))
            else:
                dims = [batch[j] if f else own(f"u{i}_{j}") for j, f in enumerate(full)]
                ops.append(" ".join(dims + [own(f"k{i}")]))
        res = [" ".join(batch + [own(f"r{o}")]) for o in range(self.n_results)]
        return ", ".join(ops) + " -> " + ", ".join(res), tuple(replicated)

    def batch_spec(self, spec: Sequence) -> Tuple:
        """The batch part of a result's partition spec (padded to rank L)."""
        spec = tuple(spec) + (None,) * (self.L + 1 - len(tuple(spec)))
        return spec[: self.L]

    def operand_specs(self, batch: Tuple) -> Tuple[PartitionSpec, ...]:
        out = []
        for full in self.operands:
            if full is None:
                out.append(PartitionSpec())
            else:
                out.append(PartitionSpec(*[batch[j] if f else None for j, f in enumerate(full)], None))
        return tuple(out)


class FfiCall:
    """One custom-call target as a primitive: ``bind(*operands, cfg=..., out_dtypes=...)``.

    ``result_widths(cfg)`` gives the data width of each result; results have the
    full batch shape in front.  ``cfg`` must be hashable and have ``attrs()`` (the
    FFI attributes); ``out_dtypes`` is a tuple of dtype names, one per result.
    """

    def __init__(self, target: str, result_widths: Callable[..., Sequence[int]]):
        self.target = target
        self.result_widths = result_widths
        self.prim = Primitive(target)
        self.prim.multiple_results = True
        self.prim.def_impl(self._impl)
        self.prim.def_abstract_eval(self._abstract)
        mlir.register_lowering(self.prim, self._lowering, platform="cpu")
        batching.primitive_batchers[self.prim] = self._batch
        # Like custom_partitioning itself: the lowering must see the device assignment.
        dispatch.prim_requires_devices_during_lowering.add(self.prim)

    def bind(self, *operands, cfg, out_dtypes):
        # Under shard_map: an operand that does not vary over a manual axis that another
        # one varies over (P shared, q per shard) is cast to varying, as lax does for its
        # own primitives; its cotangent is then summed over that axis by JAX.
        operands = _vary_alike(operands)
        return self.prim.bind(*operands, cfg=cfg, out_dtypes=tuple(np.dtype(d).name for d in out_dtypes))

    # -- shapes -------------------------------------------------------------------

    def _result_shapes(self, shapes, cfg):
        lead = lead_shape(shapes)
        return [lead + (int(w),) for w in self.result_widths(cfg)]

    def _abstract(self, *avals, cfg, out_dtypes):
        shapes = [tuple(a.shape) for a in avals]
        _check_layout(shapes)
        sharding = _result_sharding(avals, batch_rank(shapes))
        # Inside shard_map the operands vary over the same manual axes (bind makes them
        # so), and the results do too.
        mat = avals[0].manual_axis_type
        return [
            jax.core.ShapedArray(s, np.dtype(d), sharding=sharding(len(s)), manual_axis_type=mat)
            for s, d in zip(self._result_shapes(shapes, cfg), out_dtypes)
        ]

    # -- vmap -----------------------------------------------------------------------

    def _batch(self, args, dims, *, cfg, out_dtypes):
        L = _check_layout([a.shape if d is None else a.shape[:d] + a.shape[d + 1:] for a, d in zip(args, dims)])
        moved = []
        for a, d in zip(args, dims):
            if d is None:
                moved.append(a if a.ndim == 1 else jnp.expand_dims(a, 0))
            else:
                a = jnp.moveaxis(a, d, 0)
                if a.ndim == 2 and L > 0:  # batched here, shared along the older batch levels
                    a = jnp.expand_dims(a, tuple(range(1, L + 1)))
                moved.append(a)
        return self.prim.bind(*moved, cfg=cfg, out_dtypes=out_dtypes), (0,) * len(out_dtypes)

    # -- lowering ----------------------------------------------------------------

    def _plain_call(self, cfg, out_dtypes, shapes):
        out = [jax.ShapeDtypeStruct(s, np.dtype(d)) for s, d in zip(self._result_shapes(shapes, cfg), out_dtypes)]
        L = batch_rank(shapes)

        def call(*args):
            # The handler wants every operand at rank L + 1: a shared row becomes (1, ..., 1, k).
            args = [a.reshape((1,) * L + a.shape) if a.ndim == 1 and L > 0 else a for a in args]
            return jax.ffi.ffi_call(self.target, out)(*args, **cfg.attrs())

        return call

    def _impl(self, *args, cfg, out_dtypes):
        return self._plain_call(cfg, out_dtypes, [tuple(a.shape) for a in args])(*args)

    def _lowering(self, ctx, *values, cfg, out_dtypes):
        shapes = [tuple(a.shape) for a in ctx.avals_in]
        if batch_rank(shapes) == 0 or not _spans_devices(ctx):
            fn = self._plain_call(cfg, out_dtypes, shapes)
        else:
            fn = self._partitioned(cfg, out_dtypes, _Layout.of(shapes, len(out_dtypes)))
        return mlir.lower_fun(fn, multiple_results=True)(ctx, *values)

    @functools.lru_cache(maxsize=512)
    def _partitioned(self, cfg, out_dtypes, layout: _Layout):
        """A custom_partitioning wrapper of the call for one static layout."""

        def body(*args):
            return tuple(self._plain_call(cfg, out_dtypes, [tuple(a.shape) for a in args])(*args))

        wrapped = custom_partitioning(body)

        def partition(mesh, arg_shapes, result_shape):
            batch = layout.batch_spec(result_shape[0].sharding.spec)
            arg_shardings = tuple(NamedSharding(mesh, p) for p in layout.operand_specs(batch))
            result_shardings = tuple(NamedSharding(mesh, PartitionSpec(*batch, None)) for _ in result_shape)
            return mesh, body, result_shardings, arg_shardings

        def infer(mesh, arg_shapes, result_shape):
            # GSPMD (Shardy off): results take the batch sharding of the first batched operand.
            batch = (None,) * layout.L
            for full, a in zip(layout.operands, arg_shapes):
                if full is not None and isinstance(a.sharding, NamedSharding):
                    batch = tuple(s if f else None for s, f in zip(layout.batch_spec(a.sharding.spec), full))
                    break
            return tuple(NamedSharding(mesh, PartitionSpec(*batch, None)) for _ in range(layout.n_results))

        rule, replicated = layout.sharding_rule()
        wrapped.def_partition(
            partition=partition,
            infer_sharding_from_operands=infer,
            sharding_rule=rule,
            need_replication_factors=replicated,
        )
        return wrapped


def _varying(x) -> frozenset:
    aval = jax.typeof(x)
    return aval.mat.varying if isinstance(aval, jax.core.ShapedArray) else frozenset()


def _vary_alike(operands):
    """Cast each operand to vary over every manual axis that some operand varies over."""
    axes = frozenset().union(*(_varying(x) for x in operands))
    if not axes:
        return operands
    return tuple(core.pvary(x, tuple(sorted(axes - _varying(x)))) if axes - _varying(x) else x
                 for x in operands)


def _spans_devices(ctx) -> bool:
    """Whether the computation being lowered runs on more than one device."""
    axis_context = ctx.module_context.axis_context
    if isinstance(axis_context, sharding_impls.ShardingContext):
        devices = axis_context.device_assignment
        return devices is not None and len(devices) > 1
    return isinstance(axis_context, sharding_impls.SPMDAxisContext)


def _result_sharding(avals, L):
    """rank -> the results' NamedSharding (on the operands' abstract mesh): the batch
    sharding of the first batched operand on the leading dimensions (explicit mesh
    axes; empty for Auto axes), the data dimension unsharded."""
    mesh = avals[0].sharding.mesh
    batch = (None,) * L
    for a in avals:
        sh = a.sharding
        if a.ndim == L + 1 and L > 0 and isinstance(sh, NamedSharding):
            spec = tuple(sh.spec) + (None,) * (a.ndim - len(tuple(sh.spec)))
            batch = tuple(s if d != 1 else None for s, d in zip(spec[:L], a.shape[:L]))
            mesh = sh.mesh
            break
    return lambda rank: NamedSharding(mesh, PartitionSpec(*batch, *([None] * (rank - L))))
