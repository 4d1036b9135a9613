"""moreau.torch: the PyTorch solver of the Moreau API (implemented in moreau_jax._torch).

``Solver(n, m, P_row_offsets, P_col_indices, A_row_offsets, A_col_indices, cones,
settings)`` solves on the Rust CPU solver; ``solve(...)`` returns x, z, s with
autograd attached (backward = the Rust VJP), batched along a leading axis, and
traceable by ``torch.compile(fullgraph=True)`` (torch.library custom ops).
Importing this module imports torch; ``import moreau`` alone does not.
"""

from moreau_jax._torch import (
    Solver,
    TorchBatchedSolution,
    TorchBatchedSolveInfo,
    TorchSolution,
    TorchSolveInfo,
)

__all__ = ["Solver", "TorchSolution", "TorchBatchedSolution", "TorchSolveInfo", "TorchBatchedSolveInfo"]
