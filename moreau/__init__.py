"""moreau: the public API of the Moreau conic solver, backed by moreau-jax.

A thin facade: every name here is implemented in the ``moreau_jax`` package
(Rust solver + Python conversion/validation) and re-exported unchanged, so code
written for Moreau (and CVXPY's / cvxpylayers' Moreau interfaces) runs as is.

Problem form::

    minimize    1/2 x'Px + q'x
    subject to  Ax + s = b,   s in K = zero x nonneg x SOC... x exp... x power...

Example::

    import numpy as np, scipy.sparse as sp, moreau
    P = sp.eye(2, format="csr"); q = np.array([2.0, 1.0])
    A = sp.csr_array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]); b = np.array([1.0, 0.7, 0.7])
    solver = moreau.Solver(P, q, A, b, moreau.Cones(num_zero_cones=1, num_nonneg_cones=2))
    sol = solver.solve(); print(sol.x, solver.info.status)
"""

from moreau_jax import __version__
from moreau_jax._devices import (
    available_devices,
    default_device,
    device_available,
    device_error,
    get_default_device,
    jax_available,
    set_default_device,
    torch_available,
)
from moreau_jax._solver import CompiledSolver, Solver
from moreau_jax._types import (
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
    "device_available",
    "device_error",
    "default_device",
    "set_default_device",
    "get_default_device",
    "torch_available",
    "jax_available",
    "__version__",
]
