"""moreau-jax: a differentiable conic interior-point solver written in Rust.

Most users import the ``moreau`` package (the API of the Moreau solver, which
forwards here). This package holds the implementation: problem conversion and
validation (``_problem``), the settings / cone types (``_types``), the NumPy
solvers (``_solver``) and the compiled Rust extension ``moreau_jax._native``.
"""

from ._devices import (
    available_devices,
    default_device,
    device_available,
    device_error,
    get_default_device,
    jax_available,
    set_default_device,
    torch_available,
)
from ._solver import CompiledSolver, Solver, load_native
from ._types import (
    BatchedSolution,
    BatchedSolveInfo,
    BatchedWarmStart,
    Cones,
    DirectConeSpec,
    ActiveSetSettings,
    IPMSettings,
    Settings,
    Solution,
    SolveInfo,
    SolverStatus,
    SolverType,
    WarmStart,
)

__version__ = "0.1.0"

# CVXPY >= 1.9 would move simple constraints (x >= 0, ...) into "direct cones"
# that cvxpylayers drops; keep them as rows of A (see _cvxpy_compat.py).
from . import _cvxpy_compat  # noqa: E402

_cvxpy_compat.install()

__all__ = [
    "Solver",
    "CompiledSolver",
    "Cones",
    "DirectConeSpec",
    "Settings",
    "IPMSettings",
    "ActiveSetSettings",
    "SolverType",
    "SolverStatus",
    "WarmStart",
    "BatchedWarmStart",
    "SolveInfo",
    "Solution",
    "BatchedSolveInfo",
    "BatchedSolution",
    "available_devices",
    "default_device",
    "device_available",
    "device_error",
    "get_default_device",
    "set_default_device",
    "jax_available",
    "torch_available",
    "load_native",
    "__version__",
]
