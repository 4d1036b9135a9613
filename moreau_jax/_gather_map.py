"""A fixed sparse linear map on the last axis, built from gathers only.

    y[..., i] = sum_k  weight[i, k] * x[..., index[i, k]]

Used for the symmetrization of P (full-pattern values from the values the user
gives).  ``jnp`` indexing would do the same forward, but its transpose is a
scatter-add, and under ``vmap`` with a batch sharded over *explicit* mesh axes
JAX cannot infer the sharding of a scatter into a fresh zero array (it raises a
ShardingTypeError).  Here the transpose is another GatherMap (the adjoint, built
once from the inverse relation), so forward mode, reverse mode and ``vmap`` all
stay gathers along the last axis, which keep the batch sharding.
"""

from __future__ import annotations

import numpy as np

import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

__all__ = ["GatherMap"]

_gather_map_p = Primitive("moreau_gather_map")


class GatherMap:
    """``GatherMap(rows, cols, weights, n_in)``: y[rows[t]] += weights[t] * x[cols[t]]
    for each triple t; ``n_out = rows.max() + 1`` unless given."""

    def __init__(self, rows, cols, weights, n_in: int, n_out: int | None = None, _adjoint=None):
        rows = np.asarray(rows, np.int64)
        cols = np.asarray(cols, np.int64)
        weights = np.asarray(weights, np.float64)
        self.n_in = int(n_in)
        self.n_out = int(n_out if n_out is not None else (rows.max() + 1 if len(rows) else 0))
        self._triples = (rows, cols, weights)
        # Pack into (n_out, K) gather tables: K = the most terms of any output.
        counts = np.bincount(rows, minlength=self.n_out) if len(rows) else np.zeros(self.n_out, np.int64)
        K = int(counts.max()) if self.n_out and len(rows) else 0
        order = np.argsort(rows, kind="stable")
        slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
        self.index = np.zeros((self.n_out, K), np.int32)
        self.weight = np.zeros((self.n_out, K), np.float64)
        self.index[rows[order], slot] = cols[order]
        self.weight[rows[order], slot] = weights[order]
        self._adjoint = _adjoint

    @property
    def adjoint(self) -> "GatherMap":
        """The transpose map (x from y), built once."""
        if self._adjoint is None:
            rows, cols, weights = self._triples
            self._adjoint = GatherMap(cols, rows, weights, self.n_out, self.n_in, _adjoint=self)
        return self._adjoint

    def __call__(self, x):
        return _gather_map_p.bind(x, gmap=self)

    def apply(self, x):
        """The map itself, on the last axis of x (any leading axes)."""
        if self.index.shape[1] == 0:
            return jnp.zeros(x.shape[:-1] + (self.n_out,), x.dtype)
        w = jnp.asarray(self.weight, dtype=x.dtype)
        return jnp.sum(w * x[..., self.index], axis=-1)


def _abstract(x, *, gmap):
    return x.update(shape=x.shape[:-1] + (gmap.n_out,))


def _impl(x, *, gmap):
    return gmap.apply(x)


def _batch(args, dims, *, gmap):
    (x,), (d,) = args, dims
    return _gather_map_p.bind(jnp.moveaxis(x, d, 0), gmap=gmap), 0


def _transpose(ct, x, *, gmap):
    assert ad.is_undefined_primal(x)
    return (_gather_map_p.bind(ad.instantiate_zeros(ct), gmap=gmap.adjoint),)


_gather_map_p.def_impl(_impl)
_gather_map_p.def_abstract_eval(_abstract)
mlir.register_lowering(_gather_map_p, mlir.lower_fun(_impl, multiple_results=False))
batching.primitive_batchers[_gather_map_p] = _batch
ad.deflinear2(_gather_map_p, _transpose)
