"""Quickstart: solve a small QP with the NumPy-level API.

    minimize    1/2 ||x||^2 + q'x
    subject to  sum(x) == 1,  x >= 0,        q = (1, 2, 3, 4, 5)

The answer is x = (1, 0, 0, 0, 0): all weight on the cheapest coordinate.
In the solver's form (min 1/2 x'Px + q'x  s.t.  Ax + s = b, s in K) the
equality is one zero-cone row and x >= 0 is five nonnegative-cone rows -x + s = 0.
"""

import numpy as np
import scipy.sparse as sp

import moreau

n = 5
P = sp.eye(n, format="csr")
q = np.arange(1.0, n + 1.0)
A = sp.vstack([sp.csr_array(np.ones((1, n))), -sp.eye(n)], format="csr")
b = np.concatenate([[1.0], np.zeros(n)])
cones = moreau.Cones(num_zero_cones=1, num_nonneg_cones=n)

solver = moreau.Solver(P, q, A, b, cones, moreau.Settings(device="cpu"))
solution = solver.solve()
info = solver.info

print("status:", info.status)
print("x:", np.round(solution.x, 6) + 0.0)
print(f"objective: {info.obj_val:.6f} in {info.iterations} iterations")

assert info.status == moreau.SolverStatus.Solved, info.status
np.testing.assert_allclose(solution.x, [1.0, 0.0, 0.0, 0.0, 0.0], atol=1e-6)
print("OK")
