"""Re-export of the moreau data types (cvxpylayers imports WarmStart and
BatchedWarmStart from here)."""

from moreau_jax._types import (  # noqa: F401
    BatchedSolution,
    BatchedSolveInfo,
    BatchedWarmStart,
    Cones,
    DirectConeSpec,
    IPMSettings,
    Settings,
    Solution,
    SolveInfo,
    SolverStatus,
    SolverType,
    WarmStart,
)

__all__ = [
    "SolverType",
    "SolverStatus",
    "Cones",
    "DirectConeSpec",
    "Settings",
    "IPMSettings",
    "WarmStart",
    "BatchedWarmStart",
    "SolveInfo",
    "Solution",
    "BatchedSolveInfo",
    "BatchedSolution",
]
