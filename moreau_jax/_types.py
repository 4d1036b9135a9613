"""Public data types of the moreau API: cones, settings, statuses, results.

These follow the names, defaults and semantics of the official Moreau 0.4.x
package (see its docstrings), implemented without pydantic: fields are
validated on construction and on assignment (see ``_fields.py``).
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Tuple

import numpy as np

from ._fields import (
    Field,
    Model,
    _suggest,
    as_list,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_int_list,
)

__all__ = [
    "SolverType",
    "SolverStatus",
    "DirectConeSpec",
    "Cones",
    "IPMSettings",
    "ActiveSetSettings",
    "Settings",
    "WarmStart",
    "BatchedWarmStart",
    "SolveInfo",
    "Solution",
    "BatchedSolveInfo",
    "BatchedSolution",
]


class SolverType(str, Enum):
    """Solver algorithm (Moreau's values).

    - ``AUTO`` (default): the active-set method for small QPs (zero and nonnegative
      cones only, every diagonal entry of P stored, n <= 100, m <= 400), the
      interior-point method otherwise.
    - ``IPM``: the interior-point method; every cone.
    - ``ACTIVE_SET``: the dual active-set method (Goldfarb-Idnani) for QPs with zero
      and nonnegative cones only; ValueError at construction for other cones.

    The active-set method needs P positive definite; an element it cannot finish
    (P singular, infeasible, iteration limit) or whose solution fails the
    interior-point method's optimality test is solved by the interior-point
    method, so statuses, infeasibility certificates and accuracy are those of
    ``IPM``.  Derivatives are the same kernels for both (implicit differentiation
    at the returned solution).  The active-set method stops after
    min(``max_iter``, ``ActiveSetSettings.iter_limit``) iterations (then the
    interior-point method takes over, under the same ``max_iter``); it starts cold
    (warm starts are used by the interior-point method).
    """

    AUTO = "auto"
    IPM = "ipm"
    ACTIVE_SET = "active_set"

    def __str__(self) -> str:
        return self.value


class SolverStatus(IntEnum):
    """Solver status codes (the same integers as Moreau).

    Compares equal to its integer value; ``str(status)`` is its name.
    """

    Unsolved = 0
    Solved = 1
    PrimalInfeasible = 2
    DualInfeasible = 3
    AlmostSolved = 4
    AlmostPrimalInfeasible = 5
    AlmostDualInfeasible = 6
    MaxIterations = 7
    MaxTime = 8
    NumericalError = 9
    InsufficientProgress = 10
    CallbackTerminated = 11

    def __str__(self) -> str:
        return self.name

    @property
    def is_solved(self) -> bool:
        """True for Solved and AlmostSolved."""
        return self in (SolverStatus.Solved, SolverStatus.AlmostSolved)


# (a dict lookup: calling the enum costs microseconds per status of a batch)
_STATUS_OF_CODE = {int(s): s for s in SolverStatus}


def to_status(code: Any) -> SolverStatus:
    """Convert an integer status code (or a SolverStatus) to SolverStatus."""
    if isinstance(code, SolverStatus):
        return code
    c = int(code)
    status = _STATUS_OF_CODE.get(c)
    if status is None:
        raise ValueError(f"Unknown solver status code {c}.")
    return status


# ---------------------------------------------------------------------------
# Cones
# ---------------------------------------------------------------------------

_DIR_KINDS = ("nonneg", "soc", "psd_triangle", "exp", "power", "gen_power")


def _check_opt_int(ge: int):
    inner = check_int(ge=ge)

    def check(name: str, v: Any):
        return None if v is None else inner(name, v)

    return check


def _check_opt_float(name: str, v: Any):
    return None if v is None else check_float()(name, v)


def _check_opt_float_list(name: str, v: Any):
    if v is None:
        return None
    return [check_float()(f"{name}[{i}]", x) for i, x in enumerate(as_list(name, v))]


def _check_indices(name: str, v: Any) -> List[int]:
    idx = check_int_list(ge=0)(name, v)
    if not idx:
        raise ValueError(f"{name} must be non-empty.")
    if len(set(idx)) != len(idx):
        raise ValueError(f"{name} contains duplicate indices: {idx}.")
    return idx


class DirectConeSpec(Model):
    """A cone constraint applied directly to a subvector of ``x``:
    ``x[indices]`` in the cone ``kind``, without rows of ``A``.

    Solved by lifting: every API rewrites ``x[indices] in K`` as slack rows
    ``-x[indices] + s = 0, s in K`` (one stored entry per index); the duals come
    back as ``Solution.z_x`` in spec order. Kinds ``nonneg``, ``soc``, ``exp``,
    ``power`` (``alpha``), ``gen_power`` (``alphas``, ``dim2``); ``psd_triangle``
    (``psd_k``) needs the PSD cone (``NotImplementedError`` without it).
    """

    _fields = {
        "kind": Field("nonneg", check=check_choice(_DIR_KINDS, lower=False)),
        "indices": Field(factory=list, check=lambda n, v: check_int_list(ge=0)(n, v)),
        "psd_k": Field(None, check=_check_opt_int(1)),
        "alpha": Field(None, check=_check_opt_float),
        "alphas": Field(None, check=_check_opt_float_list),
        "dim2": Field(None, check=_check_opt_int(1)),
    }

    def __init__(self, **kwargs: Any) -> None:
        if "kind" not in kwargs or "indices" not in kwargs:
            raise TypeError("DirectConeSpec() requires the keyword arguments 'kind' and 'indices'.")
        super().__init__(**kwargs)

    def _validate_model(self) -> None:
        idx = self.indices
        if not idx:
            raise ValueError("DirectConeSpec.indices must be non-empty.")
        if len(set(idx)) != len(idx):
            raise ValueError(f"DirectConeSpec.indices contains duplicate indices: {idx}.")
        k, n = self.kind, len(idx)
        extra = {"psd_k": self.psd_k, "alpha": self.alpha, "alphas": self.alphas, "dim2": self.dim2}
        allowed = {
            "nonneg": (),
            "soc": (),
            "exp": (),
            "psd_triangle": ("psd_k",),
            "power": ("alpha",),
            "gen_power": ("alphas", "dim2"),
        }[k]
        for name, value in extra.items():
            if value is not None and name not in allowed:
                raise ValueError(f"DirectConeSpec.{name} must be None for kind={k!r}.")
        if k == "soc" and n < 2:
            raise ValueError(f"A direct 'soc' cone needs >= 2 indices, got {n}.")
        if k in ("exp", "power") and n != 3:
            raise ValueError(f"A direct {k!r} cone needs exactly 3 indices, got {n}.")
        if k == "psd_triangle":
            if self.psd_k is None:
                raise ValueError("DirectConeSpec.psd_k must be set for kind='psd_triangle'.")
            want = self.psd_k * (self.psd_k + 1) // 2
            if n != want:
                raise ValueError(
                    f"kind='psd_triangle' with psd_k={self.psd_k} needs {want} indices, got {n}."
                )
        if k == "power":
            if self.alpha is None or not (0.0 < self.alpha < 1.0):
                raise ValueError(
                    f"DirectConeSpec.alpha must be in (0, 1) for kind='power', got {self.alpha}."
                )
        if k == "gen_power":
            if not self.alphas or self.dim2 is None:
                raise ValueError("kind='gen_power' needs non-empty 'alphas' and 'dim2' >= 1.")
            _check_gen_power_alphas("DirectConeSpec.alphas", self.alphas)
            if n != len(self.alphas) + self.dim2:
                raise ValueError(
                    f"kind='gen_power' needs len(indices) == len(alphas) + dim2 = "
                    f"{len(self.alphas) + self.dim2}, got {n}."
                )

    def numel(self) -> int:
        """Number of entries of ``x`` this cone constrains."""
        return len(self.indices)


def _check_gen_power_alphas(name: str, alphas: List[float]) -> None:
    for j, a in enumerate(alphas):
        if not (math.isfinite(a) and a > 0):
            raise ValueError(f"{name}[{j}] = {a} must be finite and > 0.")
    total = sum(alphas)
    if abs(total - 1.0) > 1e-8 * len(alphas):
        raise ValueError(f"{name} must sum to 1, got {total}.")


def _check_power_alphas(name: str, v: Any) -> List[float]:
    out = []
    for i, a in enumerate(as_list(name, v)):
        a = check_float()(f"{name}[{i}]", a)
        if not (0.0 < a < 1.0):
            raise ValueError(
                f"{name}[{i}] = {a} is not a valid power-cone exponent: alpha must be "
                f"strictly between 0 and 1."
            )
        out.append(a)
    return out


def _check_so_dims(name: str, v: Any) -> List[int]:
    dims = check_int_list()(name, v)
    for i, d in enumerate(dims):
        if d < 1:
            raise ValueError(
                f"{name}[{i}] = {d}: a second-order cone needs dimension >= 1 "
                f"(t and the vector part together)."
            )
    return dims


def _check_gen_power_params(name: str, v: Any) -> List[Tuple[List[float], int]]:
    out = []
    for i, p in enumerate(as_list(name, v)):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError(f"{name}[{i}] must be a pair (alphas, dim2), got {p!r}.")
        alphas = [check_float()(f"{name}[{i}].alphas[{j}]", a) for j, a in enumerate(as_list(f"{name}[{i}].alphas", p[0]))]
        if not alphas:
            raise ValueError(f"{name}[{i}]: alphas must be a non-empty list.")
        _check_gen_power_alphas(f"{name}[{i}].alphas", alphas)
        dim2 = check_int(ge=1)(f"{name}[{i}].dim2", p[1])
        out.append((alphas, dim2))
    return out


def _check_psd_dims(name: str, v: Any) -> List[int]:
    sides = check_int_list()(name, v)
    for i, k in enumerate(sides):
        if k < 1:
            raise ValueError(
                f"{name}[{i}] = {k}: each entry is the side k >= 1 of a k x k PSD matrix "
                f"(the cone takes k (k + 1) / 2 rows, its scaled upper triangle); "
                f"drop the entry or give the matrix side."
            )
    return sides


def _check_dir_cones(name: str, v: Any) -> List[DirectConeSpec]:
    out = []
    for i, spec in enumerate(as_list(name, v)):
        if isinstance(spec, dict):
            spec = DirectConeSpec(**spec)
        if not isinstance(spec, DirectConeSpec):
            raise TypeError(f"{name}[{i}] must be a DirectConeSpec, got {type(spec).__name__}.")
        out.append(spec)
    seen: Dict[int, int] = {}
    for i, spec in enumerate(out):
        for idx in spec.indices:
            if idx in seen:
                raise ValueError(
                    f"Index {idx} of x appears in both {name}[{seen[idx]}] and {name}[{i}]; "
                    f"direct cones must not overlap."
                )
            seen[idx] = i
    return out


class Cones(Model):
    """Cone specification: the product cone K that the slack ``s`` lives in.

    Rows of ``A`` and ``b`` (and entries of ``s`` and ``z``) are laid out cone by
    cone in this order: zero cones, nonnegative cones, second-order cones (each
    of its own dimension), PSD cones (k (k + 1) / 2 rows each), exponential cones
    (3 rows each), power cones (3 rows each, one alpha each), generalized power
    cones (len(alphas) + dim2 rows each).

    Args (all keyword, all optional):
        num_zero_cones: rows constrained to ``s = 0`` (equalities ``Ax = b``).
        num_nonneg_cones: rows constrained to ``s >= 0`` (``Ax <= b``).
        so_cone_dims: dimension of each second-order cone ``(t, v)``, ``||v|| <= t``.
        num_exp_cones: number of exponential cones ``(x, y, z)``, ``y e^(x/y) <= z``.
        power_alphas: one ``alpha`` in (0, 1) per 3-D power cone
            ``x^alpha y^(1-alpha) >= |z|``.
        psd_dims: side k of each PSD cone ``{svec(X) : X k x k PSD}``; its rows hold
            ``svec(X)``, the upper triangle column by column with off-diagonal
            entries times sqrt(2) (CVXPY's and Clarabel's convention).
        gen_power_cone_params: ``(alphas, dim2)`` per generalized power cone
            ``prod_i x_i^alphas_i >= ||y||``, ``x >= 0`` (alphas > 0 summing to 1).
        dir_cones: direct cones on subvectors of x (see ``DirectConeSpec``).
        num_so_cones: legacy shortcut for ``so_cone_dims=[3] * num_so_cones``.

    All fields are validated on construction and on assignment.
    """

    _fields = {
        "num_zero_cones": Field(0, check=check_int(ge=0)),
        "num_nonneg_cones": Field(0, check=check_int(ge=0)),
        "so_cone_dims": Field(factory=list, check=_check_so_dims),
        "num_exp_cones": Field(0, check=check_int(ge=0)),
        "power_alphas": Field(factory=list, check=_check_power_alphas),
        "gen_power_cone_params": Field(factory=list, check=_check_gen_power_params),
        "psd_dims": Field(factory=list, check=_check_psd_dims),
        "dir_cones": Field(factory=list, check=_check_dir_cones),
    }

    def _preprocess_kwargs(self, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        if "num_so_cones" in kwargs:
            k = check_int(ge=0)("Cones.num_so_cones", kwargs.pop("num_so_cones"))
            if "so_cone_dims" in kwargs:
                if len(as_list("Cones.so_cone_dims", kwargs["so_cone_dims"])) != k:
                    raise ValueError(
                        "Cones: num_so_cones disagrees with len(so_cone_dims); pass only so_cone_dims."
                    )
            else:
                kwargs["so_cone_dims"] = [3] * k
        return kwargs

    @property
    def num_so_cones(self) -> int:
        """Number of second-order cones (``len(so_cone_dims)``)."""
        return len(self.so_cone_dims)

    @property
    def num_power_cones(self) -> int:
        """Number of 3-D power cones (``len(power_alphas)``)."""
        return len(self.power_alphas)

    @property
    def num_gen_power_cones(self) -> int:
        return len(self.gen_power_cone_params)

    @property
    def num_psd_cones(self) -> int:
        return len(self.psd_dims)

    def total_constraints(self) -> int:
        """Number of rows of A (and entries of b, s, z) these cones take."""
        total = self.num_zero_cones + self.num_nonneg_cones + sum(self.so_cone_dims)
        total += 3 * self.num_exp_cones + 3 * len(self.power_alphas)
        total += sum(len(a) + d2 for a, d2 in self.gen_power_cone_params)
        total += sum(d * (d + 1) // 2 for d in self.psd_dims)
        return total

    def degree(self) -> int:
        """Degree of the cone's barrier (zero cones count 0, each SOC counts 1)."""
        deg = self.num_nonneg_cones + len(self.so_cone_dims)
        deg += 3 * self.num_exp_cones + 3 * len(self.power_alphas)
        deg += sum(len(a) + 1 for a, _ in self.gen_power_cone_params)
        deg += sum(self.psd_dims)
        for spec in self.dir_cones:
            deg += {
                "nonneg": len(spec.indices),
                "soc": 1,
                "psd_triangle": spec.psd_k or 0,
                "exp": 3,
                "power": 3,
                "gen_power": len(spec.alphas or []) + 1,
            }[spec.kind]
        return deg

    def validate(self) -> None:
        """Re-check every field (catches in-place edits such as ``so_cone_dims.append(0)``).

        Fields hold ints and lists (the checks normalize them so): an int cannot
        change in place and an empty list is valid, so only non-empty lists are
        re-checked (building a tiny problem must not pay for eight checks)."""
        for name in type(self)._fields:
            value = getattr(self, name)
            if type(value) is int or (type(value) is list and not value):
                continue
            self._assign(name, value)

    def validate_dir_cone_indices(self, n: int) -> None:
        for i, spec in enumerate(self.dir_cones):
            for idx in spec.indices:
                if idx >= n:
                    raise ValueError(f"dir_cones[{i}].indices contains {idx}, which is >= n = {n}.")


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

# direct_solve_method values: those that run here, and Moreau's GPU-only ones.
_CPU_METHODS = ("auto", "dense", "qdldl", "faer", "faer-1t", "faer-nt")
_GPU_METHODS = ("cudss", "woodbury")
_UNSUPPORTED_METHODS = ("riccati",)


def _check_direct_solve_method(name: str, v: Any) -> str:
    all_methods = _CPU_METHODS + _GPU_METHODS + _UNSUPPORTED_METHODS
    s = check_choice(all_methods)(name, v)
    if s in _GPU_METHODS:
        from ._devices import device_available

        if not device_available("cuda"):
            raise ValueError(
                f"{name}={s!r} needs a CUDA GPU backend, which this installation does not "
                f"have. Use 'auto', 'dense', 'qdldl' or 'faer' for the CPU solver."
            )
    if s in _UNSUPPORTED_METHODS:
        raise ValueError(
            f"{name}={s!r} is not implemented in moreau-jax. Use 'auto', 'dense', 'qdldl' or 'faer'."
        )
    return s


def _check_no_retry(name: str, v: Any):
    if v is None:
        return None
    try:
        return frozenset(to_status(s) for s in v)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be None or a set of SolverStatus values ({e}).") from None


_pos = check_float(gt=0)
_nonneg = check_float(ge=0)


class IPMSettings(Model):
    """Interior-point method settings (names and defaults of Moreau's IPMSettings).

    Convergence: ``tol_gap_abs``, ``tol_gap_rel``, ``tol_feas``, ``tol_infeas_abs``,
    ``tol_infeas_rel`` (all 1e-8), ``tol_ktratio`` (1e-6); the ``reduced_*``
    tolerances decide AlmostSolved / AlmostInfeasible when progress stalls.
    Algorithm: ``max_step_fraction`` (0.99), ``equilibrate_enable`` (True),
    ``direct_solve_method`` ('auto' | 'dense' | 'qdldl' | 'faer'; 'auto' factors KKT
    systems densely when n + m <= 96 with a sparse factor at least 40% full (and no
    PSD cone), else
    with a sparse simplicial or supernodal LDLᵀ;
    'faer-1t'/'faer-nt' are accepted as 'faer'; GPU-only methods such as 'cudss' raise ValueError).
    moreau-jax extras (Clarabel's names): ``equilibrate_max_iter``,
    ``equilibrate_min_scaling``, ``equilibrate_max_scaling``,
    ``static_regularization_constant``, ``dynamic_regularization_eps``,
    ``dynamic_regularization_delta``, ``iterative_refinement_enable``.
    Accepted for compatibility and currently without effect on the CPU solver:
    ``cudss_ir_steps``, ``cudss_pivot_enable``, ``max_lu_nnz``, ``diff_method``,
    ``diff_smoothing_mu``, ``diff_smoothing_step_factor``,
    ``chordal_decomposition_enable``, ``chordal_decomposition_merge_method``.
    ``warm_start_no_retry``: statuses that do not trigger a cold retry after a
    warm-started solve (None = {Solved, AlmostSolved, MaxIterations, CallbackTerminated}).
    """

    _fields = {
        "tol_gap_abs": Field(1e-8, check=_pos),
        "tol_gap_rel": Field(1e-8, check=_pos),
        "tol_feas": Field(1e-8, check=_pos),
        "tol_infeas_abs": Field(1e-8, check=_pos),
        "tol_infeas_rel": Field(1e-8, check=_pos),
        "tol_ktratio": Field(1e-6, check=_pos),
        "max_step_fraction": Field(0.99, check=check_float(gt=0, le=1)),
        "equilibrate_enable": Field(True, check=check_bool),
        "direct_solve_method": Field("auto", check=_check_direct_solve_method),
        "cudss_ir_steps": Field(2, check=check_int(ge=0)),
        "cudss_pivot_enable": Field(False, check=check_bool),
        "max_lu_nnz": Field(-1, check=check_int()),
        "reduced_tol_gap_abs": Field(5e-5, check=_pos),
        "reduced_tol_gap_rel": Field(5e-5, check=_pos),
        "reduced_tol_feas": Field(1e-4, check=_pos),
        "reduced_tol_infeas_abs": Field(5e-12, check=_pos),
        "reduced_tol_infeas_rel": Field(5e-5, check=_pos),
        "reduced_tol_ktratio": Field(1e-4, check=_pos),
        "diff_method": Field("auto", check=check_choice(("auto", "smoothed", "exact"))),
        "diff_smoothing_mu": Field(1e-4, check=_pos),
        "diff_smoothing_step_factor": Field(30.0, check=check_float(gt=1)),
        "warm_start_no_retry": Field(None, check=_check_no_retry),
        "chordal_decomposition_enable": Field(True, check=check_bool),
        "chordal_decomposition_merge_method": Field(
            "clique_graph", check=check_choice(("clique_graph", "parent_child", "none"))
        ),
        # moreau-jax extras (passed to the Rust solver)
        "equilibrate_max_iter": Field(10, check=check_int(ge=0)),
        "equilibrate_min_scaling": Field(1e-4, check=_pos),
        "equilibrate_max_scaling": Field(1e4, check=_pos),
        "static_regularization_constant": Field(1e-8, check=_nonneg),
        "dynamic_regularization_eps": Field(1e-13, check=_nonneg),
        "dynamic_regularization_delta": Field(2e-7, check=_nonneg),
        "iterative_refinement_enable": Field(True, check=check_bool),
    }

    def _validate_model(self) -> None:
        if self.equilibrate_min_scaling > self.equilibrate_max_scaling:
            raise ValueError(
                "IPMSettings.equilibrate_min_scaling must be <= equilibrate_max_scaling "
                f"(got {self.equilibrate_min_scaling} > {self.equilibrate_max_scaling})."
            )


def _check_solver(name: str, v: Any) -> SolverType:
    return SolverType(check_choice(("auto", "ipm", "active_set"))(name, v))


def _check_diff_method(name: str, v: Any) -> str:
    v = check_choice(("exact", "smoothed"))(name, v)
    if v == "smoothed":
        raise ValueError(
            f"{name}='smoothed' is not implemented in moreau-jax; use 'exact' (the derivative at the "
            "returned solution), or solver='ipm'."
        )
    return v


class ActiveSetSettings(Model):
    """Active-set method settings (names and defaults of Moreau's ActiveSetSettings).

    ``iter_limit`` (10000) caps the method's iterations (an element that reaches it
    is solved by the interior-point method).  ``diff_method`` is 'exact' (the
    derivative at the returned solution; 'smoothed' raises ValueError).  Accepted
    for compatibility and without effect here: ``primal_tol``, ``dual_tol``,
    ``zero_tol``, ``pivot_tol``, ``progress_tol``, ``fval_bound``, ``cycle_tol``,
    ``diff_smoothing_mu``: the method's solution is accepted only when it passes the
    interior-point method's optimality test at ``ipm_settings``' tolerances.
    """

    _fields = {
        "primal_tol": Field(1e-6, check=_pos),
        "dual_tol": Field(1e-12, check=_pos),
        "zero_tol": Field(1e-11, check=_pos),
        "pivot_tol": Field(1e-6, check=_pos),
        "progress_tol": Field(1e-14, check=_pos),
        "fval_bound": Field(1e30, check=check_float(allow_inf=True)),
        "iter_limit": Field(10000, check=check_int(ge=1)),
        "cycle_tol": Field(10, check=check_int(ge=1)),
        "diff_method": Field("exact", check=_check_diff_method),
        "diff_smoothing_mu": Field(1e-4, check=_pos),
    }


def _check_nested(cls: type, none_means_default: bool):
    """Check of a nested settings field: an instance of `cls`, a dict of its fields,
    or None (`cls()` when `none_means_default`, else kept as None, as Moreau does)."""

    def check(name: str, v: Any):
        if v is None:
            return cls() if none_means_default else None
        if isinstance(v, dict):
            return cls(**v)
        if isinstance(v, cls):
            return v
        raise TypeError(f"{name} must be an {cls.__name__} (or a dict of its fields), got {type(v).__name__}.")

    return check


class Settings(Model):
    """Solver settings (names and defaults of Moreau's Settings).

    Fields: ``solver`` ('auto' | 'ipm' | 'active_set', see SolverType), ``device`` ('auto' | 'cpu' |
    'cuda'; 'cuda' raises RuntimeError when a solver is built on a machine
    without a CUDA backend), ``device_id`` (-1), ``batch_size`` (1, for
    CompiledSolver), ``enable_grad`` (False), ``auto_tune`` (False, no effect:
    there is one CPU backend), ``max_iter`` (200), ``time_limit`` (seconds,
    inf), ``verbose`` (False), ``ipm_settings`` (an IPMSettings; a dict is
    converted, None gives the defaults), ``active_set_settings`` (None or an
    ActiveSetSettings / dict; None means its defaults), and the moreau-jax extra
    ``num_threads`` (threads for batched solves, 0 = all cores).
    """

    _fields = {
        "solver": Field(SolverType.AUTO, check=_check_solver),
        "device": Field("auto", check=check_choice(("auto", "cpu", "cuda"))),
        "device_id": Field(-1, check=check_int(ge=-1)),
        "batch_size": Field(1, check=check_int(ge=1)),
        "enable_grad": Field(False, check=check_bool),
        "auto_tune": Field(False, check=check_bool),
        "max_iter": Field(200, check=check_int(ge=1)),
        "time_limit": Field(math.inf, check=check_float(gt=0, allow_inf=True)),
        "verbose": Field(False, check=check_bool),
        "ipm_settings": Field(None, check=_check_nested(IPMSettings, none_means_default=True)),
        "active_set_settings": Field(None, check=_check_nested(ActiveSetSettings, none_means_default=False)),
        "num_threads": Field(0, check=check_int(ge=0)),
    }

    def __getattr__(self, name: str) -> Any:
        # Called only for names that are not fields (normal lookup failed).
        # cvxpylayers applies solver_args with ``if hasattr(settings, key):
        # setattr(...)`` and silently skips unknown keys, so a misspelled option
        # would have no effect and no message; this probe is where we can say so.
        if not name.startswith("_"):
            warnings.warn(
                f"moreau.Settings has no option {name!r}.{_suggest(name, type(self)._fields)} "
                f"An option with this name (e.g. a key of cvxpylayers' solver_args) is "
                f"ignored. Valid options: {', '.join(type(self)._fields)} (IPM tolerances "
                f"go in the nested 'ipm_settings' dict).",
                UserWarning,
                stacklevel=2,
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


# ---------------------------------------------------------------------------
# Warm starts and results
# ---------------------------------------------------------------------------


@dataclass
class WarmStart:
    """Starting point for one problem: ``x`` (n,), ``z`` (m,), ``s`` (m,)."""

    x: Any
    z: Any
    s: Any
    z_x: Any = None

    def __repr__(self) -> str:
        return f"WarmStart(n={np.shape(self.x)[-1] if np.ndim(self.x) else 0})"


@dataclass
class BatchedWarmStart:
    """Starting points for a batch: ``x`` (B, n), ``z`` (B, m), ``s`` (B, m)."""

    x: Any
    z: Any
    s: Any
    z_x: Any = None

    def __len__(self) -> int:
        return int(np.shape(self.x)[0])

    def __getitem__(self, idx: int) -> WarmStart:
        b = len(self)
        if idx < 0:
            idx += b
        if not 0 <= idx < b:
            raise IndexError(f"Index {idx} out of range for batch size {b}.")
        zx = None if self.z_x is None else self.z_x[idx]
        return WarmStart(x=self.x[idx], z=self.z[idx], s=self.s[idx], z_x=zx)

    def __iter__(self) -> Iterator[WarmStart]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"BatchedWarmStart(batch_size={len(self)})"


@dataclass
class SolveInfo:
    """What happened in one solve.

    status (SolverStatus), obj_val (1/2 x'Px + q'x; NaN unless solved),
    iterations, solve_time (seconds in the interior-point loop), setup_time
    (seconds of symbolic analysis when the solver was built),
    construction_time (seconds to build the solver object), primal_res,
    dual_res, gap (final residuals).
    """

    status: SolverStatus
    obj_val: float
    iterations: int
    solve_time: float
    setup_time: float = 0.0
    construction_time: float = 0.0
    primal_res: float = math.nan
    dual_res: float = math.nan
    gap: float = math.nan

    def __repr__(self) -> str:
        return (
            f"SolveInfo(status={self.status.name}, obj_val={self.obj_val:.6g}, "
            f"iterations={self.iterations}, solve_time={self.solve_time:.3g}s)"
        )


@dataclass
class Solution:
    """Solution of one problem: primal ``x`` (n,), dual ``z`` (m,), slack ``s`` (m,)."""

    x: np.ndarray
    z: np.ndarray
    s: np.ndarray
    z_x: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if self.z_x is None:
            self.z_x = np.zeros(0, dtype=np.float64)

    def __repr__(self) -> str:
        return f"Solution(n={np.shape(self.x)[-1]})"

    def to_warm_start(self) -> WarmStart:
        return WarmStart(x=self.x.copy(), z=self.z.copy(), s=self.s.copy(), z_x=self.z_x.copy())


@dataclass
class BatchedSolveInfo:
    """What happened in a batched solve.

    status: list of SolverStatus, one per problem; obj_val, iterations,
    primal_res, dual_res, gap, solve_times: arrays of shape (batch,);
    solve_time: wall-clock seconds of the whole batch; setup_time,
    construction_time as in SolveInfo. ``info[i]`` gives element i as SolveInfo.
    """

    status: List[SolverStatus]
    obj_val: np.ndarray
    iterations: np.ndarray
    solve_time: float
    setup_time: float = 0.0
    construction_time: float = 0.0
    primal_res: Optional[np.ndarray] = None
    dual_res: Optional[np.ndarray] = None
    gap: Optional[np.ndarray] = None
    solve_times: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.status)

    def __getitem__(self, i: int) -> SolveInfo:
        def pick(a):
            return math.nan if a is None else float(a[i])

        return SolveInfo(
            status=self.status[i],
            obj_val=float(self.obj_val[i]),
            iterations=int(self.iterations[i]),
            solve_time=pick(self.solve_times),
            setup_time=self.setup_time,
            construction_time=self.construction_time,
            primal_res=pick(self.primal_res),
            dual_res=pick(self.dual_res),
            gap=pick(self.gap),
        )

    def __repr__(self) -> str:
        return (
            f"BatchedSolveInfo(batch_size={len(self.status)}, "
            f"status={[s.name for s in self.status]}, solve_time={self.solve_time:.3g}s)"
        )


@dataclass
class BatchedSolution:
    """Solutions of a batch: ``x`` (B, n), ``z`` (B, m), ``s`` (B, m).
    ``solution[i]`` is element i as a Solution."""

    x: np.ndarray
    z: np.ndarray
    s: np.ndarray
    z_x: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if self.z_x is None:
            self.z_x = np.zeros((self.x.shape[0], 0), dtype=np.float64)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, idx: int) -> Solution:
        b = len(self)
        if idx < 0:
            idx += b
        if not 0 <= idx < b:
            raise IndexError(f"Index {idx} out of range for batch size {b}.")
        return Solution(x=self.x[idx], z=self.z[idx], s=self.s[idx], z_x=self.z_x[idx])

    def __iter__(self) -> Iterator[Solution]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"BatchedSolution(batch_size={len(self)})"

    def to_warm_start(self) -> BatchedWarmStart:
        return BatchedWarmStart(
            x=self.x.copy(), z=self.z.copy(), s=self.s.copy(), z_x=self.z_x.copy()
        )
