"""Device discovery (re-exported from moreau_jax._devices)."""

from moreau_jax._devices import (  # noqa: F401
    available_devices,
    default_device,
    device_available,
    device_error,
    get_default_device,
    jax_available,
    set_default_device,
    torch_available,
)

__all__ = [
    "available_devices",
    "default_device",
    "device_available",
    "device_error",
    "get_default_device",
    "jax_available",
    "set_default_device",
    "torch_available",
]
