"""A small validated-record base class (no pydantic dependency).

Settings and cone specifications are plain Python objects whose fields are
checked when they are constructed *and* when they are assigned, so that a
wrong value is reported where it is written, not deep inside a solve.

- Unknown keyword arguments to the constructor raise ``TypeError`` (with a
  "did you mean" hint): a typo in a solver option is never silently ignored.
- Assigning an unknown attribute raises ``AttributeError`` (CVXPY turns that
  into "unrecognized solver setting"; ``hasattr`` stays False for it).
- A value of the wrong type raises ``TypeError``; a value out of range raises
  ``ValueError``. Messages name the field and the accepted values.
"""

from __future__ import annotations

import copy
import difflib
import enum
import math
import numbers
from typing import Any, Callable, Dict, Optional

import numpy as np

__all__ = ["Field", "Model"]


class Field:
    """Declaration of one validated field."""

    def __init__(
        self,
        default: Any = None,
        *,
        factory: Optional[Callable[[], Any]] = None,
        check: Optional[Callable[[str, Any], Any]] = None,
        doc: str = "",
    ) -> None:
        self.default = default
        self.factory = factory
        self.check = check
        self.doc = doc

    def make_default(self) -> Any:
        if self.factory is not None:
            return self.factory()
        return copy.deepcopy(self.default)


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


# Called (without arguments) after any public field of any Model changes; the JAX
# solver uses it to key its jit caches on the live settings (moreau_jax._jax).
change_hooks: list = []

# A new token after every field assignment of every Model: whatever is derived from
# the fields' values (the native settings dict) stays valid while ``generation`` is
# the same object. A token is unique (no two assignments, threads or processes share
# one; a pickled or deep-copied cache never matches). Fields only change through
# assignment here: the values settings_to_native reads are immutable scalars.
generation = object()


class Model:
    """Base class: subclasses define ``_fields: Dict[str, Field]``."""

    _fields: Dict[str, Field] = {}
    _aliases: Dict[str, str] = {}

    def __init__(self, **kwargs: Any) -> None:
        cls = type(self)
        kwargs = self._preprocess_kwargs(dict(kwargs))
        unknown = [k for k in kwargs if k not in cls._fields]
        if unknown:
            hint = _suggest(unknown[0], cls._fields)
            raise TypeError(
                f"{cls.__name__}() got unexpected keyword argument(s) "
                f"{', '.join(repr(u) for u in unknown)}.{hint} "
                f"Valid names: {', '.join(cls._fields)}."
            )
        for name, field in cls._fields.items():
            value = kwargs[name] if name in kwargs else field.make_default()
            self._assign(name, value)
        self._validate_model()

    # -- hooks -----------------------------------------------------------------
    def _preprocess_kwargs(self, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        return kwargs

    def _validate_model(self) -> None:
        """Cross-field checks, run after construction and after assignment."""

    # -- attribute handling ----------------------------------------------------
    def _assign(self, name: str, value: Any) -> None:
        field = type(self)._fields[name]
        if field.check is not None:
            value = field.check(f"{type(self).__name__}.{name}", value)
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        cls = type(self)
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if name not in cls._fields:
            if isinstance(getattr(cls, name, None), property):
                raise AttributeError(
                    f"{cls.__name__}.{name} is read-only (it is computed from other fields)."
                )
            raise AttributeError(
                f"{cls.__name__} has no field {name!r}.{_suggest(name, cls._fields)} "
                f"Valid names: {', '.join(cls._fields)}."
            )
        global generation
        old = self.__dict__.get(name)
        self._assign(name, value)
        try:
            self._validate_model()
        except Exception:
            object.__setattr__(self, name, old)
            raise
        generation = object()
        for hook in change_hooks:
            hook()

    # -- pydantic-like helpers (CVXPY's MOREAU interface calls these) ----------
    def model_dump(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for name in type(self)._fields:
            out[name] = _dump(getattr(self, name))
        return out

    def model_copy(self, *, update: Optional[Dict[str, Any]] = None, deep: bool = False):
        new = copy.deepcopy(self) if deep else copy.copy(self)
        for k, v in (update or {}).items():
            setattr(new, k, v)
        return new

    def copy(self):
        """Deep copy."""
        return copy.deepcopy(self)

    def __eq__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        parts = []
        for name, field in type(self)._fields.items():
            value = getattr(self, name)
            parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _dump(value: Any) -> Any:
    if isinstance(value, Model):
        return value.model_dump()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_dump(v) for v in value)
    return value


# ---------------------------------------------------------------------------
# Checkers: each takes (qualified_name, value) and returns the normalized value.
# ---------------------------------------------------------------------------


def _is_bool(v: Any) -> bool:
    return isinstance(v, (bool, np.bool_))


def check_int(*, ge: Optional[int] = None) -> Callable[[str, Any], int]:
    def check(name: str, v: Any) -> int:
        if _is_bool(v) or not isinstance(v, (numbers.Integral, numbers.Real)):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}.")
        if not isinstance(v, numbers.Integral):
            fv = float(v)
            if not math.isfinite(fv) or fv != int(fv):
                raise TypeError(f"{name} must be an integer, got {v!r}.")
            v = int(fv)
        v = int(v)
        if ge is not None and v < ge:
            raise ValueError(f"{name} must be >= {ge}, got {v}.")
        return v

    return check


def check_float(
    *,
    gt: Optional[float] = None,
    ge: Optional[float] = None,
    le: Optional[float] = None,
    allow_inf: bool = False,
) -> Callable[[str, Any], float]:
    def check(name: str, v: Any) -> float:
        if _is_bool(v) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(v).__name__} {v!r}.")
        v = float(v)
        if math.isnan(v):
            raise ValueError(f"{name} must be a number, got NaN.")
        if math.isinf(v) and not (allow_inf and v > 0):
            raise ValueError(f"{name} must be finite, got {v}.")
        if gt is not None and not v > gt:
            raise ValueError(f"{name} must be > {gt}, got {v}.")
        if ge is not None and not v >= ge:
            raise ValueError(f"{name} must be >= {ge}, got {v}.")
        if le is not None and not v <= le:
            raise ValueError(f"{name} must be <= {le}, got {v}.")
        return v

    return check


def check_bool(name: str, v: Any) -> bool:
    if _is_bool(v):
        return bool(v)
    if isinstance(v, numbers.Integral) and int(v) in (0, 1):
        return bool(v)
    raise TypeError(f"{name} must be True or False, got {type(v).__name__} {v!r}.")


def check_choice(choices, *, lower: bool = True) -> Callable[[str, Any], str]:
    def check(name: str, v: Any) -> str:
        if isinstance(v, enum.Enum):
            v = v.value
        if isinstance(v, str):
            s = v.lower() if lower else v
            if s in choices:
                return s
            raise ValueError(
                f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {v!r}."
            )
        raise TypeError(
            f"{name} must be a string, one of {', '.join(repr(c) for c in choices)}; "
            f"got {type(v).__name__} {v!r}."
        )

    return check


def as_list(name: str, v: Any) -> list:
    if isinstance(v, (str, bytes, dict)):
        raise TypeError(f"{name} must be a list, got {type(v).__name__} {v!r}.")
    if isinstance(v, np.ndarray):
        if v.ndim != 1:
            raise ValueError(f"{name} must be a 1-D list, got an array of shape {v.shape}.")
        return v.tolist()
    try:
        return list(v)
    except TypeError:
        raise TypeError(f"{name} must be a list, got {type(v).__name__} {v!r}.") from None


def check_int_list(*, ge: Optional[int] = None) -> Callable[[str, Any], list]:
    elem = check_int(ge=ge)

    def check(name: str, v: Any) -> list:
        return [elem(f"{name}[{i}]", x) for i, x in enumerate(as_list(name, v))]

    return check
