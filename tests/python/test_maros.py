"""A hard Maros–Meszaros QP (CONT-200, n = 40397, 120k conic rows) end to end.

Regression for two failures: the solve used to stop after ONE iteration with
InsufficientProgress (the first step raised the primal residual from 3.5e-11 to 4.7e-6
while it cut the gap 50x).  The file comes from ../shared/data/qp (see its README); the
test skips when it is absent.  BOYD1 (slower) is in benchmarks/bench_maros.py.
"""

import numpy as np
import pytest

import maros
import problems as pr

pytestmark = pytest.mark.skipif(not maros.available("CONT-200"),
                                reason=f"{maros.path_of('CONT-200')} not present")


def test_cont200_solved():
    import moreau
    prob = maros.load_qp("CONT-200")
    solver = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"],
                           cones=pr.moreau_cones(prob["cones"]), settings=pr.moreau_settings())
    sol = solver.solve()
    info = solver.info
    assert pr.status_name(info.status) == "Solved", f"{info.status} after {info.iterations} iterations"
    assert info.iterations <= 30
    obj = info.obj_val + prob["r"]
    assert abs(obj - prob["obj_star"]) <= 1e-6 * abs(prob["obj_star"]), obj
    # The returned point itself: feasible and with the reported objective.
    x, s = np.asarray(sol.x), np.asarray(sol.s)
    rep = pr.kkt_report(prob, x, s, np.asarray(sol.z))
    assert rep["prim_res"] < 1e-7 and rep["dual_res"] < 1e-7 and rep["gap"] < 1e-7, rep
    assert rep["s_viol"] < 1e-7 and rep["z_viol"] < 1e-7, rep
