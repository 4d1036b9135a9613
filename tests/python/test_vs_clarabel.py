"""Correctness against Clarabel 0.11.1 on seeded random conic problems.

Every problem comes from tests/python/problems.py: constructive feasible problems with
a known optimum (LP, QP, SOCP, exp-cone, power-cone, mixed; well scaled and badly
scaled, n = 2 .. 2000) and structured ones (entropy, log-sum-exp, logistic regression,
p-norm, geometric mean).  Both solvers run at the same tolerances (1e-8 gap abs/rel and
feasibility, max_iter 200).  For each problem:

- status: when Clarabel says Solved, we must say Solved.  A handful of badly scaled /
  nonsymmetric-cone instances end AlmostSolved in Clarabel (its gap stalls just above
  1e-8); there we accept Solved or AlmostSolved and compare at the reduced tolerance.
  On badly scaled instances the last digits depend on the CPU's rounding: there an
  AlmostSolved of ours passes if it meets the Solved-level checks, and where Clarabel
  itself fails the known optimum is the reference.
- objective within 1e-6 * max(1, |obj|) of Clarabel's and of the known optimum.
- our own KKT residuals, measured on the unscaled data:
  primal ||Ax + s - b||_inf / (1 + max(||b||, ||Ax||, ||s||)),
  dual   ||Px + q + A'z||_inf / (1 + max(||q||, ||Px||, ||A'z||)),
  duality gap |x'Px + q'x + b'z| / max(1, |obj|),
  s in K and z in K* (violation relative to 1 + ||.||_inf).
"""

import numpy as np
import pytest

import problems as pr

TOL = 1e-8

# thresholds on OUR solution when the status is Solved (Clarabel's own solutions on
# this corpus stay below 4e-8 on well scaled and 4e-7 on badly scaled data)
RES_TOL = {"well": 1e-6, "bad": 1e-5}
OBJ_TOL = 1e-6
CONE_TOL = 1e-7
# AlmostSolved (reduced tolerances 5e-5 gap, 1e-4 feasibility)
ALMOST_TOL = 1e-4

CORPUS = pr.test_corpus()
assert len(CORPUS) >= 200


def _rel(a, b):
    return abs(a - b) / max(1.0, abs(b))


def _check_solution(prob, ours, tol_res, tol_obj, tol_cone, ref_obj=None):
    rep = pr.kkt_report(prob, ours["x"], ours["s"], ours["z"])
    msgs = []
    if rep["prim_res"] > tol_res:
        msgs.append(f"primal residual {rep['prim_res']:.2e} > {tol_res:.0e}")
    if rep["dual_res"] > tol_res:
        msgs.append(f"dual residual {rep['dual_res']:.2e} > {tol_res:.0e}")
    if rep["gap"] > tol_res:
        msgs.append(f"duality gap {rep['gap']:.2e} > {tol_res:.0e}")
    if rep["s_viol"] > tol_cone:
        msgs.append(f"s not in K (violation {rep['s_viol']:.2e})")
    if rep["z_viol"] > tol_cone:
        msgs.append(f"z not in K* (violation {rep['z_viol']:.2e})")
    # the reported objective is 1/2 x'Px + q'x of the returned x
    if _rel(ours["obj"], rep["pobj"]) > tol_obj:
        msgs.append(f"info.obj_val {ours['obj']:.10g} != 1/2x'Px+q'x {rep['pobj']:.10g}")
    if ref_obj is not None and _rel(ours["obj"], ref_obj) > tol_obj:
        msgs.append(f"objective {ours['obj']:.12g} vs reference {ref_obj:.12g} "
                    f"(rel {_rel(ours['obj'], ref_obj):.2e})")
    return msgs


@pytest.mark.parametrize("family,scaling,seed", CORPUS,
                         ids=[f"{f}-{sc}-{sd}" for f, sc, sd in CORPUS])
def test_vs_clarabel(family, scaling, seed):
    prob = pr.make_problem(family, scaling, seed)
    ref = pr.solve_clarabel(prob, tol=TOL)
    # Badly scaled instances sit at the edge of double precision: whether the last
    # iterations get below 1e-8 depends on rounding, which depends on the CPU (faer and
    # Clarabel pick SIMD kernels at run time).  On one 2-core EPYC without AVX-512,
    # Clarabel ends socp_bad_14 NumericalError and we end exp_bad_14 and pow_bad_13
    # AlmostSolved with objectives within 2e-8 of the known optimum, all Solved
    # elsewhere.  There the known optimum is the reference and AlmostSolved passes
    # if the point meets the Solved-level checks below.
    bad = scaling == "bad"
    clarabel_ok = ref["status"] in ("Solved", "AlmostSolved")
    assert clarabel_ok or (bad and prob["obj_star"] is not None), \
        f"reference Clarabel failed on {prob['name']}: {ref['status']}"
    ours = pr.solve_moreau(prob, tol=TOL)
    where = f"{prob['name']} (n={prob['n']}, m={prob['m']}, cones={_cones_short(prob)})"
    if ref["status"] == "Solved" or not clarabel_ok:
        accepted = ("Solved", "AlmostSolved") if bad else ("Solved",)
        assert ours["status"] in accepted, \
            f"{where}: status {ours['status']} after {ours['iterations']} it, Clarabel {ref['status']} " \
            f"in {ref['iterations']}"
        # an AlmostSolved point of a bad instance still meets the Solved-level checks
        tol_res, tol_obj, tol_cone = RES_TOL[scaling], OBJ_TOL, CONE_TOL
    else:
        assert ours["status"] in ("Solved", "AlmostSolved"), \
            f"{where}: status {ours['status']}, Clarabel AlmostSolved"
        tol_res = tol_obj = ALMOST_TOL
        tol_cone = 1e-6
    msgs = _check_solution(prob, ours, tol_res, tol_obj, tol_cone, ref_obj=ref["obj"] if clarabel_ok else None)
    if prob["obj_star"] is not None and _rel(ours["obj"], prob["obj_star"]) > tol_obj:
        msgs.append(f"objective {ours['obj']:.12g} vs known optimum {prob['obj_star']:.12g}")
    assert not msgs, where + ": " + "; ".join(msgs)


def _cones_short(prob):
    c = prob["cones"]
    return (f"z{c['zero']} l{c['nonneg']} q{len(c['soc'])}/{sum(c['soc'])} "
            f"e{c['exp']} p{len(c['power'])}")


# ---------------------------------------------------------------------------------------
# the seed problem
# ---------------------------------------------------------------------------------------


def test_seed_problem():
    """n=5, P=I, q=1..5, sum(x) == 1 (zero cone, first row), x >= 0 -> x = e_0.

    Note: degenerate (the multiplier of x_1 >= 0 is 0); Clarabel 0.11.1 itself only
    gets x_1 to ~6e-5 at 1e-8 tolerances.  The spec asks 1e-6."""
    prob = pr.seed_problem()
    ours = pr.solve_moreau(prob)
    ref = pr.solve_clarabel(prob)
    assert ours["status"] == "Solved"
    np.testing.assert_allclose(ours["x"], [1.0, 0.0, 0.0, 0.0, 0.0], atol=1e-6, rtol=0)
    assert abs(ours["obj"] - 1.5) <= 1e-6
    assert abs(ours["obj"] - ref["obj"]) <= 1e-6 * 1.5
    assert not _check_solution(prob, ours, 1e-6, 1e-6, CONE_TOL)


# ---------------------------------------------------------------------------------------
# a few problems with each direct solve method
# ---------------------------------------------------------------------------------------

METHOD_CASES = [(f, sd) for f in pr.RANDOM_FAMILIES for sd in (1, 12)]


@pytest.mark.parametrize("method", ["qdldl", "faer"])
@pytest.mark.parametrize("family,seed", METHOD_CASES, ids=[f"{f}-{s}" for f, s in METHOD_CASES])
def test_direct_solve_methods(family, seed, method):
    prob = pr.random_feasible(family, seed)
    ours = pr.solve_moreau(prob, direct_solve_method=method)
    assert ours["status"] == "Solved", f"{prob['name']} with {method}: {ours['status']}"
    msgs = _check_solution(prob, ours, 1e-6, OBJ_TOL, CONE_TOL, ref_obj=prob["obj_star"])
    assert not msgs, f"{prob['name']} with {method}: " + "; ".join(msgs)


# ---------------------------------------------------------------------------------------
# batches through CompiledSolver
# ---------------------------------------------------------------------------------------

BATCH_CASES = [
    # (seed, batch, n, family, shared P/A)
    (0, 64, 12, "mixed", False),
    (1, 64, 12, "mixed", True),
    (2, 64, 30, "qp", False),
    (3, 64, 20, "socp", False),
    (4, 64, 8, "exp", True),
]


@pytest.mark.parametrize("seed,batch,n,family,shared", BATCH_CASES,
                         ids=[f"{c[3]}-n{c[2]}-{'shared' if c[4] else 'per-element'}" for c in BATCH_CASES])
def test_batch_vs_individual_vs_clarabel(seed, batch, n, family, shared):
    data = pr.batch_same_pattern(seed, batch, n=n, family=family, shared_matrices=shared)
    Pv = data["P_values"][0] if shared else data["P_values"]
    Av = data["A_values"][0] if shared else data["A_values"]
    res = pr.solve_moreau_batch(data["n"], data["m"], data["P_pattern"], data["A_pattern"],
                                data["cones"], Pv, Av, data["q"], data["b"])
    assert res["x"].shape == (batch, data["n"])
    assert res["z"].shape == (batch, data["m"]) and res["s"].shape == (batch, data["m"])
    assert len(res["status"]) == batch
    failures = []
    for i, prob in enumerate(data["problems"]):
        ref = pr.solve_clarabel(prob)
        one = pr.solve_moreau(prob)
        el = dict(x=res["x"][i], z=res["z"][i], s=res["s"][i], obj=float(res["obj"][i]),
                  status=res["status"][i])
        if el["status"] != ref["status"] or one["status"] != ref["status"]:
            failures.append(f"[{i}] batch {el['status']}, single {one['status']}, Clarabel {ref['status']}")
            continue
        msgs = _check_solution(prob, el, 1e-6, OBJ_TOL, CONE_TOL, ref_obj=ref["obj"])
        if _rel(el["obj"], prob["obj_star"]) > OBJ_TOL:
            msgs.append(f"objective {el['obj']} vs known {prob['obj_star']}")
        if _rel(el["obj"], one["obj"]) > 1e-9:
            msgs.append(f"batch objective {el['obj']!r} != single {one['obj']!r}")
        scale = 1.0 + np.abs(one["x"]).max()
        if np.abs(el["x"] - one["x"]).max() > 1e-7 * scale:
            msgs.append(f"batch x differs from single x by {np.abs(el['x'] - one['x']).max():.2e}")
        if msgs:
            failures.append(f"[{i}] " + "; ".join(msgs))
    assert not failures, f"{family} batch (seed {seed}, shared={shared}):\n" + "\n".join(failures)
