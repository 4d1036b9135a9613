"""moreau.jax: the JAX solver of the Moreau API (implemented in moreau_jax._jax).

``Solver(n, m, P_row_offsets, P_col_indices, A_row_offsets, A_col_indices, cones,
settings)`` solves through native XLA FFI custom calls, differentiable in
forward and reverse mode and batched under ``jax.vmap``.
Importing this module does not change ``jax_enable_x64``.
"""

from moreau_jax._jax import JaxSolution, JaxSolveInfo, Solver

__all__ = ["Solver", "JaxSolution", "JaxSolveInfo"]
