"""Progress rules end to end (src/termination.rs): a solve that cannot reach its
tolerances stalls, and then returns the best iterate it saw with an honest status.

With tolerances of 1e-300 no iterate can pass the Solved test; the iterations go on
until the steps stall (InsufficientProgress) and the solve must end AlmostSolved with
its most accurate point (the reduced tolerances are met), never with a worse one.
Clarabel ends these AlmostSolved too.
"""

import pytest

import problems as pr


@pytest.mark.parametrize("family,seed", [("qp", 3), ("lp", 3), ("socp", 3), ("mixed", 4)])
def test_stall_returns_best_iterate_almost_solved(family, seed):
    prob = pr.random_feasible(family, seed)
    ours = pr.solve_moreau(prob, tol=1e-300)
    assert ours["status"] == "AlmostSolved", f"{prob['name']}: {ours['status']} after {ours['iterations']}"
    rep = pr.kkt_report(prob, ours["x"], ours["s"], ours["z"])
    # The best iterate is far better than the reduced tolerances ask.
    assert rep["prim_res"] < 1e-9 and rep["dual_res"] < 1e-9 and rep["gap"] < 1e-9, rep
    assert abs(ours["obj"] - prob["obj_star"]) <= 1e-8 * max(1.0, abs(prob["obj_star"]))
    ref = pr.solve_clarabel(prob, tol=1e-300)
    assert ref["status"] == "AlmostSolved"
