"""Device discovery for moreau-jax.

This build has one solver backend, the Rust CPU solver. ``"cuda"`` is a valid
*setting* (the official Moreau API has it), but asking to solve on it without
a CUDA backend raises a ``RuntimeError`` that says so, instead of silently
running somewhere else.
"""

from __future__ import annotations

import importlib.util
from typing import List, Optional

__all__ = [
    "available_devices",
    "device_available",
    "device_error",
    "default_device",
    "set_default_device",
    "get_default_device",
    "resolve_device",
    "jax_available",
    "torch_available",
]

_VALID_DEVICES = ("auto", "cpu", "cuda")
_default_device_override: Optional[str] = None


def _cuda_backend_available() -> bool:
    """True only if the native extension reports a working CUDA solver."""
    try:
        from . import _native  # type: ignore[attr-defined]
    except ImportError:
        return False
    probe = getattr(_native, "cuda_available", None)
    if probe is None:
        return False
    try:
        return bool(probe() if callable(probe) else probe)
    except Exception:
        return False


def available_devices() -> List[str]:
    """Names of the devices a solver can run on, best first; always contains ``"cpu"``."""
    return ["cuda", "cpu"] if _cuda_backend_available() else ["cpu"]


def device_available(name: str) -> bool:
    """Whether solves can run on device ``name`` (``"cpu"`` always can)."""
    if name == "cpu":
        return True
    if name == "cuda":
        return _cuda_backend_available()
    return False


def device_error(name: str) -> Optional[str]:
    """Why a device is unavailable (None if it is available or unknown)."""
    if name == "cuda" and not device_available("cuda"):
        return (
            "this build of moreau-jax has no CUDA solver backend (only the Rust CPU "
            "solver is available)"
        )
    return None


def default_device() -> str:
    """The device that ``device="auto"`` resolves to."""
    if _default_device_override is not None:
        return _default_device_override
    return "cpu"


def set_default_device(device: Optional[str]) -> None:
    """Force the device used for ``device="auto"``; ``None`` resets to automatic choice."""
    global _default_device_override
    if device is None:
        _default_device_override = None
        return
    if not isinstance(device, str):
        raise TypeError(f"device must be a string or None, got {type(device).__name__}.")
    if not device_available(device):
        reason = device_error(device)
        raise ValueError(
            f"Device {device!r} is not available"
            + (f" ({reason})" if reason else "")
            + f". Available devices: {available_devices()}."
        )
    _default_device_override = device


def get_default_device() -> Optional[str]:
    """The override set with :func:`set_default_device`, or None."""
    return _default_device_override


def resolve_device(device: str) -> str:
    """Turn a ``Settings.device`` value into a concrete device, or raise a clear error."""
    if device == "auto":
        return default_device()
    if device not in _VALID_DEVICES:
        raise ValueError(f"device must be one of {_VALID_DEVICES}, got {device!r}.")
    if not device_available(device):
        raise RuntimeError(
            f"Settings.device={device!r} was requested, but {device_error(device)}. "
            f"Use device='cpu' or device='auto' (available devices: {available_devices()})."
        )
    return device


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def jax_available(device: Optional[str] = None) -> bool:
    """Whether the JAX integration (``moreau.jax``) can be used, optionally on ``device``."""
    if device is not None and not device_available(device):
        return False
    return _module_exists("jax") and _module_exists("moreau.jax")


def torch_available(device: Optional[str] = None) -> bool:
    """Whether the PyTorch integration (``moreau.torch``) can be used: torch is
    installed (found without importing it, so this stays cheap)."""
    if device is not None and not device_available(device):
        return False
    return _module_exists("torch") and _module_exists("moreau.torch")
