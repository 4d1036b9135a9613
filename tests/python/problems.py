"""Seeded random conic test problems with known solution state.

Problem form (Clarabel's / Moreau's convention):

    minimize    1/2 x'Px + q'x
    subject to  Ax + s = b,   s in K

K is the product, in this order, of: a zero cone, a nonnegative cone, second-order
cones, exponential cones ((x, y, z): y exp(x/y) <= z) and 3-d power cones
((x, y, z): x^a y^(1-a) >= |z|).

Every problem is a dict with keys

    name, family, seed, n, m
    P        scipy.sparse csr_matrix, FULL symmetric (exactly symmetric values)
    q, b     float64 vectors
    A        scipy.sparse csr_matrix (m x n)
    cones    {"zero": int, "nonneg": int, "soc": [dims], "exp": int, "power": [alphas]}
    expected "Solved" | "PrimalInfeasible" | "DualInfeasible"
    obj_star known optimal objective (constructive feasible families) or None
    x_star, s_star, z_star   a known primal-dual optimal point (constructive families)
    cert     a known infeasibility certificate (infeasible families)

Feasible "random" families are built constructively: pick x*, and (s*, z*) strictly
complementary in K x K* (s* in K, z* in K*, s*'z* = 0, on each cone either s* interior,
z* interior, or both nonzero on the boundary), then b = A x* + s* and
q = -P x* - A' z*.  (x*, s*, z*) satisfies the KKT conditions, so the optimum is
attained and its value is 1/2 x*'Px* + q'x*.

The "structured" families (entropy, log-sum-exp, logistic regression, p-norm, geometric
mean) are feasible and bounded by construction; their optimum is only known through a
reference solver.

Infeasible families are built from an explicit certificate:
    primal infeasible: z_bar in K* with A'z_bar = 0, b'z_bar < 0
    dual infeasible:   x_bar with P x_bar = 0, -A x_bar in K, q'x_bar < 0
(and the other side kept feasible, so the status is unambiguous).

Also: the benchmark corpus (`benchmark_corpus`), conversion to Clarabel, solve helpers
for Clarabel and for `moreau`, residual / cone-membership checks.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

E = math.e

# --------------------------------------------------------------------------------------
# cone bookkeeping
# --------------------------------------------------------------------------------------


def norm_cones(cones):
    return {
        "zero": int(cones.get("zero", 0)),
        "nonneg": int(cones.get("nonneg", 0)),
        "soc": [int(d) for d in cones.get("soc", [])],
        "exp": int(cones.get("exp", 0)),
        "power": [float(a) for a in cones.get("power", [])],
    }


def cone_dim(cones):
    c = norm_cones(cones)
    return c["zero"] + c["nonneg"] + sum(c["soc"]) + 3 * c["exp"] + 3 * len(c["power"])


def cone_blocks(cones):
    """Yield (kind, start, dim, alpha) in the solver's row order.

    zero and nonneg are single blocks of their full size."""
    c = norm_cones(cones)
    k = 0
    if c["zero"]:
        yield ("zero", k, c["zero"], None)
        k += c["zero"]
    if c["nonneg"]:
        yield ("nonneg", k, c["nonneg"], None)
        k += c["nonneg"]
    for d in c["soc"]:
        yield ("soc", k, d, None)
        k += d
    for _ in range(c["exp"]):
        yield ("exp", k, 3, None)
        k += 3
    for a in c["power"]:
        yield ("power", k, 3, a)
        k += 3


def cone_violation(cones, v, dual=False, eps=0.0):
    """Largest violation of `v in K` (or K* when dual=True), as a nonnegative number.

    For each block the violation is the smallest t >= 0 with v_blk + t*e in the cone,
    e a fixed interior direction of the (dual) cone, computed by bisection for the
    nonsymmetric cones (exact for nonneg / SOC).  Returns the max over blocks."""
    worst = 0.0
    for kind, k, d, a in cone_blocks(cones):
        blk = np.asarray(v[k:k + d], dtype=float)
        if kind == "zero":
            if not dual:
                worst = max(worst, float(np.max(np.abs(blk))))
            continue
        if kind == "nonneg":
            worst = max(worst, float(np.max(np.maximum(-blk, 0.0))))
            continue
        if kind == "soc":
            if d == 1:
                worst = max(worst, max(-blk[0], 0.0))
            else:
                # smallest t with (t0 + t) >= ||u||  (e = (1, 0, ..., 0))
                worst = max(worst, max(float(np.linalg.norm(blk[1:])) - blk[0], 0.0))
            continue
        if kind == "exp":
            e = np.array([-1.0, 1.0, 1.0])
            member = _in_exp_dual if dual else _in_exp
        else:
            e = np.array([1.0, 1.0, 0.0])
            member = (lambda w, a=a: _in_pow_dual(w, a)) if dual else (lambda w, a=a: _in_pow(w, a))
        worst = max(worst, _bisect_violation(blk, e, member))
    return worst


def _bisect_violation(blk, e, member):
    if member(blk):
        return 0.0
    hi = 1e-12
    while not member(blk + hi * e):
        hi *= 4.0
        if hi > 1e30:
            return float("inf")
    lo = 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if member(blk + mid * e):
            hi = mid
        else:
            lo = mid
    return hi


def _in_exp(w):
    x, y, z = w
    if y > 0 and z > 0:
        return x <= y * math.log(z / y)
    return x <= 0 and y == 0 and z >= 0


def _in_exp_dual(w):
    u, v, t = w
    if u < 0 and t > 0:
        return math.log(-u) + v / u <= 1.0 + math.log(t)
    return u == 0 and v >= 0 and t >= 0


def _in_pow(w, a):
    x, y, z = w
    if x < 0 or y < 0:
        return False
    if z == 0:
        return True
    if x == 0 or y == 0:
        return False
    return a * math.log(x) + (1 - a) * math.log(y) >= math.log(abs(z))


def _in_pow_dual(w, a):
    u, v, t = w
    return _in_pow((u / a, v / (1 - a), t), a)


# --------------------------------------------------------------------------------------
# complementary pairs
# --------------------------------------------------------------------------------------


def _pair(kind, d, alpha, rng, mode=None):
    """Return (s, z) with s in K, z in K*, s'z = 0 for one cone block.

    mode: "primal" (s interior, z = 0), "dual" (s = 0, z interior), "boundary" (both on
    the boundary, nonzero), or None (random)."""
    if kind == "zero":
        return np.zeros(d), rng.normal(size=d)
    if kind == "nonneg":
        s = np.zeros(d)
        z = np.zeros(d)
        act = rng.random(d) < 0.5
        s[~act] = rng.uniform(0.5, 2.0, size=(~act).sum())
        z[act] = rng.uniform(0.5, 2.0, size=act.sum())
        return s, z
    if mode is None:
        mode = ["primal", "dual", "boundary"][rng.integers(3)]
    if kind == "soc":
        if d == 1:
            return _pair("nonneg", 1, None, rng)
        u = rng.normal(size=d - 1)
        if mode == "boundary":
            r = rng.uniform(0.5, 2.0)
            u = u / np.linalg.norm(u) * r
            s = np.concatenate([[r], u])
            mu = rng.uniform(0.5, 2.0)
            z = mu * np.concatenate([[1.0], -u / r])
            return s, z
        v = np.concatenate([[np.linalg.norm(u) * rng.uniform(1.2, 2.0) + 0.1], u])
        return (v, np.zeros(d)) if mode == "primal" else (np.zeros(d), v)
    if kind == "exp":
        if mode == "boundary":
            r = rng.uniform(-1.5, 1.5)
            y = rng.uniform(0.5, 2.0)
            s = y * np.array([r, 1.0, math.exp(r)])
            mu = rng.uniform(0.5, 2.0)
            z = mu * np.array([-1.0, r - 1.0, math.exp(-r)])
            return s, z
        if mode == "primal":
            y = rng.uniform(0.5, 2.0)
            x = rng.normal()
            return np.array([x, y, y * math.exp(x / y) * rng.uniform(1.5, 3.0)]), np.zeros(3)
        u = -rng.uniform(0.5, 2.0)
        v = rng.normal()
        w = (-u * math.exp(v / u) / E) * rng.uniform(1.5, 3.0)
        return np.zeros(3), np.array([u, v, w])
    if kind == "power":
        a = alpha
        sg = 1.0 if rng.random() < 0.5 else -1.0
        if mode == "boundary":
            x, y = rng.uniform(0.5, 2.0, size=2)
            g = x ** a * y ** (1 - a)
            s = np.array([x, y, sg * g])
            mu = rng.uniform(0.5, 2.0)
            z = mu * np.array([a * g / x, (1 - a) * g / y, -sg])
            return s, z
        x, y = rng.uniform(0.5, 2.0, size=2)
        if mode == "primal":
            return np.array([x, y, sg * x ** a * y ** (1 - a) * rng.uniform(0.2, 0.8)]), np.zeros(3)
        w = sg * (x / a) ** a * (y / (1 - a)) ** (1 - a) * rng.uniform(0.2, 0.8)
        return np.zeros(3), np.array([x, y, w])
    raise ValueError(kind)


def _interior(kind, d, alpha, rng):
    """A strictly interior point of the cone block (zero block: zeros)."""
    if kind == "zero":
        return np.zeros(d)
    if kind == "nonneg":
        return rng.uniform(0.5, 2.0, size=d)
    s, _ = _pair(kind, d, alpha, rng, mode="primal")
    return s


def _dual_interior(kind, d, alpha, rng):
    if kind == "zero":
        return rng.normal(size=d)
    if kind == "nonneg":
        return rng.uniform(0.5, 2.0, size=d)
    _, z = _pair(kind, d, alpha, rng, mode="dual")
    return z


# --------------------------------------------------------------------------------------
# matrices
# --------------------------------------------------------------------------------------


def sym_csr(P):
    """Exactly symmetric CSR from a (numerically) symmetric matrix: mirror the upper
    triangle, so value(i,j) == value(j,i) bit for bit."""
    P = sp.csr_matrix(P)
    U = sp.triu(P, k=0, format="csr")
    S = (U + sp.triu(U, k=1, format="csr").T).tocsr()
    S.sum_duplicates()
    S.sort_indices()
    return S


def _sprandn(rng, m, n, per_row, ensure_cols=True, transversal=False, priority_rows=None,
             band=None):
    """Random sparse m x n matrix, `per_row` N(0,1) entries per row (duplicates merged).

    ensure_cols: every column gets at least one entry.
    transversal: add entries (r_j, j) for distinct rows r_j (priority_rows first, else
    rows 0, 1, ... first, then random rows), i.e. a matching of size min(m, n): the
    matrix has full structural rank, hence full rank almost surely; in particular the
    priority rows (the active constraints) are linearly independent and, when m >= n, A
    has full column rank.
    band: if given, each row's entries lie within +-band columns of a center (its
    matched column, else i*n/m), so that the KKT matrix of large problems factors with
    little fill (uniformly random patterns give nearly dense factors)."""
    if m == 0:
        return sp.csr_matrix((0, n))
    k = max(1, min(n, per_row))
    centers = (np.arange(m) * n) // max(m, 1)
    mrows = mcols = np.zeros(0, int)
    if transversal:
        t = min(m, n)
        if priority_rows is not None:
            pr_ = np.asarray(priority_rows, int)
            rest = np.setdiff1d(np.arange(m), pr_)
            r = np.concatenate([pr_, rng.permutation(rest)])
        elif m <= n:
            r = np.arange(m)
        else:
            r = np.concatenate([np.arange(n // 2), (n // 2) + rng.permutation(m - n // 2)])
        mrows = r[:t]
        mcols = rng.permutation(n)[:t]
        if band is not None:
            # monotone matching: the j-th smallest selected row gets column j (spread)
            srt = np.sort(mrows)
            mrows = srt
            mcols = (np.arange(t) * n) // t
        centers[mrows] = mcols
    rows = np.repeat(np.arange(m), k)
    if band is None:
        cols = rng.integers(0, n, size=m * k)
    else:
        cols = np.clip(np.repeat(centers, k) + rng.integers(-band, band + 1, size=m * k), 0, n - 1)
    vals = rng.normal(size=m * k)
    if transversal:
        t = mrows.size
        rows = np.concatenate([rows, mrows])
        cols = np.concatenate([cols, mcols])
        vals = np.concatenate([vals, rng.choice([-1.0, 1.0], size=t) * rng.uniform(0.5, 1.5, size=t)])
    if ensure_cols:
        present = np.zeros(n, bool)
        present[cols] = True
        miss = np.flatnonzero(~present)
        if miss.size:
            if band is None:
                extra_rows = rng.integers(0, m, size=miss.size)
            else:
                extra_rows = np.clip((miss * m) // n, 0, m - 1)
            rows = np.concatenate([rows, extra_rows])
            cols = np.concatenate([cols, miss])
            vals = np.concatenate([vals, rng.normal(size=miss.size)])
    A = sp.coo_matrix((vals, (rows, cols)), shape=(m, n)).tocsr()
    A.sum_duplicates()
    A.sort_indices()
    return A


def _random_psd(rng, n, rank_frac=0.5, per_row=3, diag_frac=0.5, band=None):
    k = max(1, int(round(rank_frac * n)))
    M = _sprandn(rng, k, n, per_row, ensure_cols=False, band=band)
    D = sp.diags(rng.uniform(0.1, 1.0, size=n) * (rng.random(n) < diag_frac))
    return sym_csr(M.T @ M + D)


def _zero_P(n):
    return sp.csr_matrix((n, n))


def _finish(name, family, seed, P, q, A, b, cones, expected, **extra):
    P = sym_csr(P)
    A = sp.csr_matrix(A)
    A.sort_indices()
    cones = norm_cones(cones)
    assert A.shape[0] == cone_dim(cones) == b.shape[0], (A.shape, cone_dim(cones))
    assert A.shape[1] == P.shape[0] == q.shape[0]
    d = dict(name=name, family=family, seed=seed, n=A.shape[1], m=A.shape[0], P=P,
             q=np.asarray(q, float), A=A, b=np.asarray(b, float), cones=cones,
             expected=expected, obj_star=None, x_star=None, s_star=None, z_star=None,
             cert=None)
    d.update(extra)
    return d


# --------------------------------------------------------------------------------------
# constructive feasible families
# --------------------------------------------------------------------------------------

SIZES_SMALL = [2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150]
SIZES_MEDIUM = [200, 300, 400, 500]
SIZES_LARGE = [1000, 2000]


def size_for_seed(seed, salt=0):
    """Seeds 0..10: small (2..150), 11..13: medium (200..500), 14: large (1000/2000),
    beyond 14 the same cycle again.  Deterministic in (seed, salt)."""
    rng = np.random.default_rng([10_000, seed, salt])
    r = seed % 15
    if r == 14:
        return SIZES_LARGE[(seed // 15 + salt) % len(SIZES_LARGE)]
    if r >= 11:
        return int(rng.choice(SIZES_MEDIUM))
    return int(rng.choice(SIZES_SMALL))


def _cones_for_family(family, n, rng):
    z = int(rng.integers(0, max(1, n // 4) + 1)) if n > 2 else int(rng.integers(0, 2))
    if family in ("lp", "qp"):
        return dict(zero=z, nonneg=int(n + rng.integers(1, n + 3)))
    if family == "socp":
        nsoc = int(rng.integers(1, max(2, n // 3) + 1))
        dims = [int(rng.integers(1, 8)) for _ in range(nsoc)]
        dims[0] = max(dims[0], 3)
        return dict(zero=z, nonneg=int(rng.integers(0, n + 1)), soc=dims)
    if family == "socp_large":
        # cones above the dense-H size (33) go into the KKT system in sparse
        # expanded form; mix them with small ones
        big = [int(rng.integers(33, 160)) for _ in range(int(rng.integers(1, 4)))]
        small = [int(rng.integers(1, 8)) for _ in range(int(rng.integers(0, 4)))]
        return dict(zero=z, nonneg=int(rng.integers(0, n + 1)), soc=big + small)
    if family == "socp_huge":
        # not in RANDOM_FAMILIES: one cone above the derivative's sparse-expansion
        # size (200, src/derivatives/soc_expansion.rs) next to small ones
        small = [int(rng.integers(1, 8)) for _ in range(int(rng.integers(0, 3)))]
        return dict(zero=z, nonneg=int(rng.integers(0, n + 1)), soc=[int(rng.integers(200, 260))] + small)
    if family == "exp":
        return dict(zero=z, nonneg=int(rng.integers(0, n // 2 + 2)),
                    exp=int(rng.integers(1, max(2, n) + 1)))
    if family == "pow":
        k = int(rng.integers(1, max(2, n) + 1))
        return dict(zero=z, nonneg=int(rng.integers(0, n // 2 + 2)),
                    power=[float(a) for a in rng.uniform(0.1, 0.9, size=k).round(3)])
    if family == "mixed":
        return dict(zero=z, nonneg=int(rng.integers(1, n + 2)),
                    soc=[int(rng.integers(2, 6)) for _ in range(int(rng.integers(1, max(2, n // 4) + 1)))],
                    exp=int(rng.integers(1, max(2, n // 3) + 1)),
                    power=[float(a) for a in rng.uniform(0.1, 0.9, size=int(rng.integers(1, max(2, n // 3) + 1))).round(3)])
    raise ValueError(family)


RANDOM_FAMILIES = ["lp", "qp", "socp", "socp_large", "exp", "pow", "mixed"]


def random_feasible(family, seed, n=None, scaling="well"):
    """Constructive feasible problem of `family` in RANDOM_FAMILIES.

    Non-degenerate by construction: strictly complementary (s*, z*); the number of
    "active" directions (zero rows, nonneg rows with s* = 0, d for a cone block at its
    apex s* = 0, 1 for a cone block with s*, z* on the boundary) is at most n, and the
    active rows are covered by a transversal of A (linearly independent almost surely);
    when P is singular (LP, and some SOCP/exp/pow/QP instances) exactly n directions
    are active, so x* is the unique solution; otherwise P is positive definite.

    scaling="bad": after construction, rows (per cone block; per row for zero/nonneg) and
    columns are scaled by factors 10^U(-3, 3) and the objective by 10^U(-2, 2), an exact
    change of variables (the known solution is transformed accordingly)."""
    rng = np.random.default_rng([_fam_id(family), seed, 0 if scaling == "well" else 1])
    if n is None:
        n = size_for_seed(seed, salt=_fam_id(family) + (scaling == "bad"))
    cones = norm_cones(_cones_for_family(family, n, rng))
    if n >= 1000:
        # thousands of exp / power cones make even Clarabel stall (InsufficientProgress
        # on about half of such instances); keep large instances at <= n/5 of them
        cones["exp"] = min(cones["exp"], n // 5)
        cones["power"] = cones["power"][: n // 5]
    if family == "lp":
        pkind = "zero"
    elif family in ("qp", "mixed"):
        pkind = "pd" if rng.random() < 0.5 else "psd"
    else:
        pkind = ["zero", "psd", "pd"][rng.integers(3)]
    # complementary pairs for the zero cone and the non-polyhedral cones
    budget = n - cones["zero"]
    pairs = []          # (kind, d, alpha, s, z, active rows within block)
    for kind, k, d, a in cone_blocks(cones):
        if kind in ("zero", "nonneg"):
            continue
        mode = ["primal", "dual", "boundary"][rng.integers(3)]
        if kind == "exp" and mode == "dual":
            # s* = 0 lies in the closure part of the exponential cone (y = 0), where
            # interior-point methods converge slowly; keep exp solutions at y > 0
            mode = "boundary"
        if kind == "soc" and d == 1:
            mode = "dual" if rng.random() < 0.5 else "primal"
        cost = {"primal": 0, "dual": d, "boundary": 1}[mode]
        if cost > budget:
            mode, cost = ("boundary", 1) if budget >= 1 and d > 1 else ("primal", 0)
        budget -= cost
        sb, zb = _pair(kind, d, a, rng, mode=mode)
        act = list(range(d)) if mode == "dual" else ([0] if mode == "boundary" else [])
        pairs.append((kind, d, a, sb, zb, act))
    # nonnegative rows: exactly `budget` active when P is singular, else at most budget
    if pkind == "pd":
        n_act = int(rng.integers(0, budget + 1))
    else:
        n_act = budget
    n_inact = max(int(rng.integers(1, n + 3)) if family in ("lp", "qp") else
                  int(rng.integers(0, n // 2 + 2)), 0)
    cones["nonneg"] = n_act + n_inact
    cones["nonneg"] += max(0, n + 2 - cone_dim(cones))
    n_inact = cones["nonneg"] - n_act
    m = cone_dim(cones)
    s = np.zeros(m)
    z = np.zeros(m)
    active_rows = []
    k = 0
    nz = cones["zero"]
    z[:nz] = rng.normal(size=nz)
    active_rows += list(range(nz))
    k = nz
    nn = cones["nonneg"]
    perm = rng.permutation(nn)
    actmask = np.zeros(nn, bool)
    actmask[perm[:n_act]] = True
    s[k:k + nn][~actmask] = rng.uniform(0.5, 2.0, size=n_inact)
    z[k:k + nn][actmask] = rng.uniform(0.5, 2.0, size=n_act)
    active_rows += list(k + np.flatnonzero(actmask))
    k += nn
    for kind, d, a, sb, zb, act in pairs:
        s[k:k + d] = sb
        z[k:k + d] = zb
        active_rows += [k + i for i in act]
        k += d
    assert k == m and len(active_rows) <= n
    per_row = int(rng.integers(2, 6))
    band = 8 if n >= 1000 else None
    A = _sprandn(rng, m, n, per_row, transversal=True, priority_rows=active_rows, band=band)
    if pkind == "zero":
        P = _zero_P(n)
    else:
        P = _random_psd(rng, n, rank_frac=rng.uniform(0.2, 1.0),
                        diag_frac=1.0 if pkind == "pd" else 0.3, band=band)
    x = rng.normal(size=n)
    if scaling == "bad":
        dr = np.ones(m)
        for kind, k, d, a in cone_blocks(cones):
            if kind in ("zero", "nonneg"):
                dr[k:k + d] = 10.0 ** rng.uniform(-3, 3, size=d)
            else:
                dr[k:k + d] = 10.0 ** rng.uniform(-3, 3)
        dc = 10.0 ** rng.uniform(-3, 3, size=n)
        c = 10.0 ** rng.uniform(-2, 2)
        A = sp.diags(dr) @ A @ sp.diags(dc)
        P = c * (sp.diags(dc) @ P @ sp.diags(dc))
        x = x / dc
        s = dr * s
        z = c * z / dr
    P = sym_csr(P)
    A = sp.csr_matrix(A)
    b = A @ x + s
    q = -(P @ x) - A.T @ z
    obj = 0.5 * x @ (P @ x) + q @ x
    return _finish(f"{family}_{scaling}_{seed}", family, seed, P, q, A, b, cones, "Solved",
                   obj_star=float(obj), x_star=x, s_star=s, z_star=z, scaling=scaling,
                   P_kind=pkind, n_active=len(active_rows))


def _fam_id(family):
    return sum((i + 1) * ord(c) for i, c in enumerate(family))


# --------------------------------------------------------------------------------------
# structured feasible families (explicit conic data)
# --------------------------------------------------------------------------------------


def _vstack_blocks(blocks, n):
    """blocks: list of (A_rows sparse, b_rows). Returns csr A, b."""
    A = sp.vstack([sp.csr_matrix(Ab[0]).reshape((-1, n)) if Ab[0].shape[0] else sp.csr_matrix((0, n))
                   for Ab in blocks]).tocsr()
    b = np.concatenate([np.asarray(Ab[1], float) for Ab in blocks])
    return A, b


def entropy_problem(seed, k=None):
    """max sum_i -x_i log x_i  s.t. F x = g (g = F x0, x0 > 0), sum x = 1.

    Variables v = [x (k), t (k)], minimize -sum t, (t_i, x_i, 1) in K_exp."""
    rng = np.random.default_rng([101, seed])
    k = k or int(rng.choice([3, 5, 10, 20, 50, 100, 200]))
    p = max(1, k // 4)
    x0 = rng.uniform(0.5, 2.0, size=k)
    x0 /= x0.sum()
    F = rng.normal(size=(p, k))
    g = F @ x0
    n = 2 * k
    Aeq = sp.hstack([sp.vstack([sp.csr_matrix(F), sp.csr_matrix(np.ones((1, k)))]),
                     sp.csr_matrix((p + 1, k))])
    beq = np.concatenate([g, [1.0]])
    rows, cols, vals, bexp = [], [], [], []
    for i in range(k):
        # s = b - A v = (t_i, x_i, 1)
        rows += [3 * i, 3 * i + 1]
        cols += [k + i, i]
        vals += [-1.0, -1.0]
        bexp += [0.0, 0.0, 1.0]
    Aexp = sp.csr_matrix((vals, (rows, cols)), shape=(3 * k, n))
    A = sp.vstack([Aeq, Aexp]).tocsr()
    b = np.concatenate([beq, bexp])
    q = np.concatenate([np.zeros(k), -np.ones(k)])
    return _finish(f"entropy_{seed}", "entropy", seed, _zero_P(n), q, A, b,
                   dict(zero=p + 1, exp=k), "Solved")


def logsumexp_problem(seed, k=None, N=None):
    """min log sum_i exp(a_i'x + c_i) + lam/2 ||x||^2.

    v = [x (k), t, u (N)]; sum u <= 1; (a_i'x + c_i - t, 1, u_i) in K_exp."""
    rng = np.random.default_rng([102, seed])
    k = k or int(rng.choice([2, 5, 10, 30, 60]))
    N = N or int(rng.integers(k, 3 * k + 2))
    lam = rng.uniform(0.1, 1.0)
    Am = rng.normal(size=(N, k))
    c = rng.normal(size=N)
    n = k + 1 + N
    P = sp.block_diag([lam * sp.eye(k), sp.csr_matrix((1 + N, 1 + N))]).tocsr()
    q = np.zeros(n)
    q[k] = 1.0
    # nonneg: 1 - sum u >= 0  -> A row = [0, 0, 1'], b = 1
    A1 = sp.hstack([sp.csr_matrix((1, k + 1)), sp.csr_matrix(np.ones((1, N)))])
    b1 = np.array([1.0])
    rows, cols, vals, bb = [], [], [], []
    for i in range(N):
        r = 3 * i
        # s0 = a_i'x + c_i - t  = b - A v  -> A row = [-a_i, +1, 0], b = c_i
        for j in range(k):
            rows.append(r); cols.append(j); vals.append(-Am[i, j])
        rows.append(r); cols.append(k); vals.append(1.0)
        # s1 = 1
        # s2 = u_i -> A row = -e_{u_i}
        rows.append(r + 2); cols.append(k + 1 + i); vals.append(-1.0)
        bb += [c[i], 1.0, 0.0]
    A2 = sp.csr_matrix((vals, (rows, cols)), shape=(3 * N, n))
    A = sp.vstack([A1, A2]).tocsr()
    b = np.concatenate([b1, bb])
    return _finish(f"logsumexp_{seed}", "logsumexp", seed, P, q, A, b,
                   dict(nonneg=1, exp=N), "Solved")


def logistic_problem(seed, k=None, N=None, lam=None):
    """min sum_i log(1 + exp(-y_i w'x_i)) + lam/2 ||w||^2  (exp-cone form).

    v = [w (k), t (N), u1 (N), u2 (N)]; u1+u2 <= 1; (-t, 1, u1) and
    (-y_i x_i'w - t, 1, u2) in K_exp."""
    rng = np.random.default_rng([103, seed])
    k = k or int(rng.choice([2, 5, 10, 20, 40]))
    N = N or int(rng.integers(2 * k, 5 * k + 1))
    lam = rng.uniform(0.05, 1.0) if lam is None else lam
    X = rng.normal(size=(N, k))
    wtrue = rng.normal(size=k)
    y = np.sign(X @ wtrue + 0.5 * rng.normal(size=N))
    y[y == 0] = 1.0
    return _logistic_data(f"logistic_{seed}", "logistic", seed, X, y, lam)


def _logistic_data(name, family, seed, X, y, lam):
    N, k = X.shape
    n = k + 3 * N
    it, iu1, iu2 = k, k + N, k + 2 * N
    P = sp.block_diag([lam * sp.eye(k), sp.csr_matrix((3 * N, 3 * N))]).tocsr()
    q = np.zeros(n)
    q[it:it + N] = 1.0
    # nonneg: 1 - u1 - u2 >= 0
    idx = np.arange(N)
    A1 = sp.csr_matrix((np.ones(2 * N), (np.concatenate([idx, idx]),
                                         np.concatenate([iu1 + idx, iu2 + idx]))), shape=(N, n))
    b1 = np.ones(N)
    Xs = sp.csr_matrix(X * y[:, None])
    rows, cols, vals, bb = [], [], [], []
    r0 = 0
    # first N cones (-t_i, 1, u1_i): s = b - A v -> A row0 = +e_t, row2 = -e_u1
    for i in range(N):
        r = r0 + 3 * i
        rows += [r, r + 2]; cols += [it + i, iu1 + i]; vals += [1.0, -1.0]
        bb += [0.0, 1.0, 0.0]
    Aa = sp.csr_matrix((vals, (rows, cols)), shape=(3 * N, n))
    # second N cones (-y_i x_i'w - t_i, 1, u2_i): row0 = +y_i x_i' on w, +1 on t
    rows, cols, vals = [], [], []
    Xc = Xs.tocoo()
    rows += list(3 * Xc.row); cols += list(Xc.col); vals += list(Xc.data)
    rows += list(3 * idx); cols += list(it + idx); vals += [1.0] * N
    rows += list(3 * idx + 2); cols += list(iu2 + idx); vals += [-1.0] * N
    Ab = sp.csr_matrix((vals, (rows, cols)), shape=(3 * N, n))
    bb += [0.0, 1.0, 0.0] * N
    A = sp.vstack([A1, Aa, Ab]).tocsr()
    b = np.concatenate([b1, np.asarray(bb, float)])
    return _finish(name, family, seed, P, q, A, b, dict(nonneg=N, exp=2 * N), "Solved")


def pnorm_problem(seed, k=None, N=None, p=None):
    """min ||F x - g||_p + lam/2 ||x||^2 with power cones.

    v = [x (k), r (N), w (N), t]; r = F x - g; sum w = t; (w_i, t, r_i) in K_{1/p}."""
    rng = np.random.default_rng([104, seed])
    k = k or int(rng.choice([2, 4, 8, 16, 32]))
    N = N or int(rng.integers(k, 3 * k + 2))
    p = p or float(rng.choice([1.5, 3.0, 4.0, 2.5]))
    lam = rng.uniform(0.05, 1.0)
    F = rng.normal(size=(N, k))
    g = rng.normal(size=N)
    n = k + 2 * N + 1
    ir, iw, itt = k, k + N, k + 2 * N
    P = sp.block_diag([lam * sp.eye(k), sp.csr_matrix((2 * N + 1, 2 * N + 1))]).tocsr()
    q = np.zeros(n)
    q[itt] = 1.0
    # zero rows: F x - r = g  ;  sum w - t = 0
    Z1 = sp.hstack([sp.csr_matrix(F), -sp.eye(N), sp.csr_matrix((N, N + 1))])
    Z2 = sp.hstack([sp.csr_matrix((1, k + N)), sp.csr_matrix(np.ones((1, N))), sp.csr_matrix(-np.ones((1, 1)))])
    Az = sp.vstack([Z1, Z2])
    bz = np.concatenate([g, [0.0]])
    rows, cols, vals = [], [], []
    for i in range(N):
        r = 3 * i
        rows += [r, r + 1, r + 2]; cols += [iw + i, itt, ir + i]; vals += [-1.0, -1.0, -1.0]
    Ap = sp.csr_matrix((vals, (rows, cols)), shape=(3 * N, n))
    A = sp.vstack([Az, Ap]).tocsr()
    b = np.concatenate([bz, np.zeros(3 * N)])
    return _finish(f"pnorm_{seed}", "pnorm", seed, P, q, A, b,
                   dict(zero=N + 1, power=[1.0 / p] * N), "Solved")


def geomean_problem(seed, k=None, N=None):
    """max sum_i w_i  s.t. (F_i x + f_i, G_i x + g_i, w_i) in K_{alpha_i}, -1 <= x <= 1,
    plus a small quadratic term on x.  v = [x (k), w (N)]."""
    rng = np.random.default_rng([105, seed])
    k = k or int(rng.choice([2, 4, 8, 16, 40]))
    N = N or int(rng.integers(1, 2 * k + 2))
    alphas = rng.uniform(0.15, 0.85, size=N).round(3)
    n = k + N
    F = rng.normal(size=(N, k))
    G = rng.normal(size=(N, k))
    f = np.abs(F).sum(1) + rng.uniform(0.5, 1.5, size=N)   # F x + f > 0 on the box
    g = np.abs(G).sum(1) + rng.uniform(0.5, 1.5, size=N)
    P = sp.block_diag([rng.uniform(0.01, 0.1) * sp.eye(k), sp.csr_matrix((N, N))]).tocsr()
    q = np.concatenate([rng.normal(scale=0.1, size=k), -np.ones(N)])
    # nonneg: 1 - x >= 0, 1 + x >= 0
    Ab = sp.hstack([sp.vstack([sp.eye(k), -sp.eye(k)]), sp.csr_matrix((2 * k, N))])
    bb = np.ones(2 * k)
    rows, cols, vals, bp = [], [], [], []
    for i in range(N):
        r = 3 * i
        for j in range(k):
            rows += [r, r + 1]; cols += [j, j]; vals += [-F[i, j], -G[i, j]]
        rows.append(r + 2); cols.append(k + i); vals.append(-1.0)
        bp += [f[i], g[i], 0.0]
    Ap = sp.csr_matrix((vals, (rows, cols)), shape=(3 * N, n))
    A = sp.vstack([Ab, Ap]).tocsr()
    b = np.concatenate([bb, bp])
    return _finish(f"geomean_{seed}", "geomean", seed, P, q, A, b,
                   dict(nonneg=2 * k, power=list(alphas)), "Solved")


STRUCTURED = {
    "entropy": entropy_problem,
    "logsumexp": logsumexp_problem,
    "logistic": logistic_problem,
    "pnorm": pnorm_problem,
    "geomean": geomean_problem,
}


def seed_problem():
    """n=5, P=I, q=1..5, sum(x) == 1 (zero cone, first row), x >= 0 (-I x + s = 0).
    Solution x = [1, 0, 0, 0, 0], objective 1/2 + 1 = 1.5."""
    n = 5
    P = sp.eye(n, format="csr")
    q = np.arange(1.0, 6.0)
    A = sp.vstack([sp.csr_matrix(np.ones((1, n))), -sp.eye(n)]).tocsr()
    b = np.concatenate([[1.0], np.zeros(n)])
    x = np.array([1.0, 0, 0, 0, 0])
    return _finish("seed", "seed", 0, P, q, A, b, dict(zero=1, nonneg=5), "Solved",
                   obj_star=1.5, x_star=x)


# --------------------------------------------------------------------------------------
# infeasible families
# --------------------------------------------------------------------------------------

INFEASIBLE_FAMILIES = ["lp", "qp", "socp", "socp_large", "exp"]


def primal_infeasible(family, seed, n=None):
    """Primal infeasible: certificate z_bar in int(K*) on a few rows (a nonneg pair for
    lp/qp, one SOC block for socp, one exp block (+ a nonneg row) for exp), with
    A'z_bar = 0 and b'z_bar = -delta < 0.  The rest of the data is a constructive
    feasible-looking problem, the dual side feasible (q = -P x0 - A' z0)."""
    rng = np.random.default_rng([201, _fam_id(family), seed])
    n = n or int(rng.choice([2, 3, 5, 10, 20, 50, 100, 200]))
    base = random_feasible({"lp": "lp", "qp": "qp", "socp": "socp", "socp_large": "socp_large", "exp": "exp"}[family],
                           seed + 7919, n=n)
    A = base["A"].tolil()
    b = base["b"].copy()
    cones = base["cones"]
    m = A.shape[0]
    zbar = np.zeros(m)
    blocks = list(cone_blocks(cones))
    if family in ("lp", "qp"):
        kind, k0, d, _ = [bl for bl in blocks if bl[0] == "nonneg"][0]
        cnt = min(d, int(rng.integers(2, 4)))
        rows = k0 + rng.choice(d, size=cnt, replace=False)
        zbar[rows] = rng.uniform(0.5, 2.0, size=cnt)
    elif family in ("socp", "socp_large"):
        kind, k0, d, _ = [bl for bl in blocks if bl[0] == "soc" and bl[2] >= 2][0]
        zbar[k0:k0 + d] = _dual_interior("soc", d, None, rng)
        rows = np.arange(k0, k0 + d)
    else:
        kind, k0, d, _ = [bl for bl in blocks if bl[0] == "exp"][0]
        zbar[k0:k0 + 3] = _dual_interior("exp", 3, None, rng)
        rows = np.arange(k0, k0 + 3)
    # pick the row with the largest |zbar| to absorb A'z_bar = 0 and b'z_bar = -delta
    r = rows[np.argmax(np.abs(zbar[rows]))]
    others = [i for i in rows if i != r]
    Ad = A.toarray()
    Ad[r, :] = -sum(zbar[i] * Ad[i, :] for i in others) / zbar[r] if others else 0.0
    if not others:
        raise AssertionError("need >= 2 rows")
    delta = rng.uniform(0.5, 2.0)
    b[r] = (-delta - sum(zbar[i] * b[i] for i in others)) / zbar[r]
    A = sp.csr_matrix(Ad)
    A.eliminate_zeros()
    # dual side: keep q as constructed (q = -P x* - A0'z*) -> recompute with new A so the
    # dual is feasible: q = -P x0 - A'z0 with z0 from the base solution.
    q = -(base["P"] @ base["x_star"]) - A.T @ base["z_star"]
    assert abs(zbar @ b + delta) < 1e-9 * (1 + np.abs(b).max())
    return _finish(f"pinf_{family}_{seed}", f"pinf_{family}", seed, base["P"], q, A, b, cones,
                   "PrimalInfeasible", cert=zbar)


def dual_infeasible(family, seed, n=None):
    """Dual infeasible (primal unbounded): certificate x_bar with P x_bar = 0,
    -A x_bar = s_bar in K, q'x_bar = -delta < 0; primal strictly feasible
    (b = A x0 + s0 with s0 interior on the non-zero cones)."""
    rng = np.random.default_rng([202, _fam_id(family), seed])
    n = n or int(rng.choice([2, 3, 5, 10, 20, 50, 100, 200]))
    cones = norm_cones(_cones_for_family({"lp": "lp", "qp": "qp", "socp": "socp", "socp_large": "socp_large", "exp": "exp"}[family], n, rng))
    m = cone_dim(cones)
    # x_bar supported on a few coordinates
    supp = rng.choice(n, size=min(n, int(rng.integers(1, 4))), replace=False)
    xbar = np.zeros(n)
    xbar[supp] = rng.uniform(0.5, 2.0, size=supp.size) * rng.choice([-1.0, 1.0], size=supp.size)
    jr = supp[np.argmax(np.abs(xbar[supp]))]
    # P with P x_bar = 0
    if family == "lp":
        P = _zero_P(n)
    else:
        kP = max(1, n // 2)
        M = _sprandn(rng, kP, n, 3, ensure_cols=False).toarray()
        M[:, jr] = -(M @ xbar - M[:, jr] * xbar[jr]) / xbar[jr]
        D = rng.uniform(0.1, 1.0, size=n) * (rng.random(n) < 0.5)
        D[supp] = 0.0
        P = sym_csr(M.T @ M + np.diag(D))
    # A with -A x_bar = s_bar in K (s_bar in K; zero block -> 0)
    A = _sprandn(rng, m, n, int(rng.integers(2, 5))).toarray()
    sbar = np.zeros(m)
    for kind, k, d, a in cone_blocks(cones):
        if kind == "zero":
            continue
        if kind == "nonneg":
            sb = rng.uniform(0.0, 1.0, size=d) * (rng.random(d) < 0.5)
        else:
            sb = _pair(kind, d, a, rng)[0] if rng.random() < 0.5 else _interior(kind, d, a, rng)
        sbar[k:k + d] = sb
    A[:, jr] += (-sbar - A @ xbar) / xbar[jr]
    A = sp.csr_matrix(A)
    # primal strictly feasible point
    x0 = rng.normal(size=n)
    s0 = np.concatenate([_interior(kind, d, a, rng) for kind, k, d, a in cone_blocks(cones)])
    b = A @ x0 + s0
    q = rng.normal(size=n)
    delta = rng.uniform(0.5, 2.0)
    q[jr] += (-delta - q @ xbar) / xbar[jr]
    assert abs(q @ xbar + delta) < 1e-9 * (1 + np.abs(q).max())
    return _finish(f"dinf_{family}_{seed}", f"dinf_{family}", seed, P, q, A, b, cones,
                   "DualInfeasible", cert=xbar)


# --------------------------------------------------------------------------------------
# one-pattern batches (for CompiledSolver)
# --------------------------------------------------------------------------------------


def batch_same_pattern(seed, batch, n=12, family="mixed", shared_matrices=False):
    """`batch` constructive feasible problems sharing the sparsity pattern of P and A
    (P: full symmetric).  Returns dict with n, m, cones, P_pattern (csr with the union
    pattern), A_pattern, P_values (batch, nnzP), A_values (batch, nnzA), q (batch, n),
    b (batch, m), obj_star (batch,), problems (list of per-element problem dicts).
    shared_matrices=True: one P and one A for all elements (only q, b vary)."""
    rng = np.random.default_rng([301, seed])
    cones = norm_cones(_cones_for_family(family, n, rng))
    m = cone_dim(cones)
    cones["nonneg"] += max(0, n + 2 - m)
    m = cone_dim(cones)
    Apat = _sprandn(rng, m, n, 3, transversal=True)
    Mpat = _sprandn(rng, n, n, 2, ensure_cols=False)
    Ppat = sym_csr(abs(Mpat).T @ abs(Mpat) + sp.eye(n))
    Ppat.data[:] = 1.0
    Apat.data[:] = 1.0

    def values_on(pattern, Mat):
        Mat = sp.csr_matrix(Mat)
        r, c = pattern.nonzero()
        # nonzero() follows CSR order for a sorted csr
        return np.asarray(Mat[r, c]).ravel()

    def draw_matrices():
        A = Apat.copy()
        A.data = rng.normal(size=A.nnz)
        M = Mpat.copy()
        M.data = rng.normal(size=M.nnz)
        P = sym_csr(M.T @ M + sp.diags(rng.uniform(0.1, 1.0, size=n)))
        return values_on(Ppat, P), values_on(Apat, A)

    Pv, Av, Q, B, objs, probs = [], [], [], [], [], []
    if shared_matrices:
        shared = draw_matrices()
    for i in range(batch):
        pv, av = shared if shared_matrices else draw_matrices()
        P = sp.csr_matrix((pv, Ppat.indices.copy(), Ppat.indptr.copy()), shape=(n, n))
        A = sp.csr_matrix((av, Apat.indices.copy(), Apat.indptr.copy()), shape=(m, n))
        x = rng.normal(size=n)
        s = np.zeros(m)
        z = np.zeros(m)
        for kind, k, d, a in cone_blocks(cones):
            s[k:k + d], z[k:k + d] = _pair(kind, d, a, rng)
        b = A @ x + s
        q = -(P @ x) - A.T @ z
        obj = 0.5 * x @ (P @ x) + q @ x
        Pv.append(pv); Av.append(av); Q.append(q); B.append(b); objs.append(obj)
        probs.append(_finish(f"batch{seed}_{i}", "batch", seed, P, q, A, b, cones, "Solved",
                             obj_star=float(obj), x_star=x, s_star=s, z_star=z))
    return dict(n=n, m=m, cones=cones, P_pattern=Ppat, A_pattern=Apat,
                P_values=np.array(Pv), A_values=np.array(Av), q=np.array(Q), b=np.array(B),
                obj_star=np.array(objs), problems=probs)


# --------------------------------------------------------------------------------------
# solving
# --------------------------------------------------------------------------------------

TOL = 1e-8


def clarabel_cones(cones):
    import clarabel
    c = norm_cones(cones)
    out = []
    if c["zero"]:
        out.append(clarabel.ZeroConeT(c["zero"]))
    if c["nonneg"]:
        out.append(clarabel.NonnegativeConeT(c["nonneg"]))
    for d in c["soc"]:
        out.append(clarabel.SecondOrderConeT(d))
    for _ in range(c["exp"]):
        out.append(clarabel.ExponentialConeT())
    for a in c["power"]:
        out.append(clarabel.PowerConeT(a))
    return out


def to_clarabel(prob):
    """(P upper triangle csc, q, A csc, b, cone list)."""
    P = sp.triu(prob["P"], format="csc")
    A = sp.csc_matrix(prob["A"])
    return P, np.asarray(prob["q"], float), A, np.asarray(prob["b"], float), clarabel_cones(prob["cones"])


def clarabel_settings(tol=TOL, max_iter=200, **kw):
    """Clarabel settings at tolerance `tol` (gap abs/rel and feasibility).

    The reference uses direct_solve_method="qdldl" unless told otherwise: Clarabel
    0.11.1's "auto" picks faer for larger problems, and its faer path ends with
    NumericalError at iteration 1 on some instances that qdldl solves (e.g. the
    rank-deficient socp/pow instances found while writing this corpus)."""
    import clarabel
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.direct_solve_method = "qdldl"
    st.max_iter = max_iter
    st.tol_gap_abs = tol
    st.tol_gap_rel = tol
    st.tol_feas = tol
    for k, v in kw.items():
        setattr(st, k, v)
    return st


def solve_clarabel(prob, tol=TOL, max_iter=200, **kw):
    import clarabel
    P, q, A, b, cones = to_clarabel(prob)
    st = clarabel_settings(tol, max_iter, **kw)
    t0 = time.perf_counter()
    solver = clarabel.DefaultSolver(P, q, A, b, cones, st)
    r = solver.solve()
    wall = time.perf_counter() - t0
    return dict(status=str(r.status), x=np.array(r.x), z=np.array(r.z), s=np.array(r.s),
                obj=float(r.obj_val), iterations=int(r.iterations), solve_time=float(r.solve_time),
                wall_time=wall)


def moreau_cones(cones):
    import moreau
    c = norm_cones(cones)
    return moreau.Cones(num_zero_cones=c["zero"], num_nonneg_cones=c["nonneg"],
                        so_cone_dims=list(c["soc"]), num_exp_cones=c["exp"],
                        power_alphas=list(c["power"]))


def moreau_settings(tol=TOL, max_iter=200, direct_solve_method=None, **kw):
    import moreau
    ipm = dict(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
    if direct_solve_method is not None:
        ipm["direct_solve_method"] = direct_solve_method
    kw.setdefault("verbose", False)
    return moreau.Settings(max_iter=max_iter, ipm_settings=moreau.IPMSettings(**ipm), **kw)


def status_name(st):
    """Name of a moreau / clarabel status (IntEnum, enum or str)."""
    if isinstance(st, str):
        return st
    name = getattr(st, "name", None)
    if name is not None:
        return name
    try:
        import moreau
        return moreau.SolverStatus(int(st)).name
    except Exception:
        return str(st)


def solve_moreau(prob, tol=TOL, max_iter=200, direct_solve_method=None, **kw):
    """Solve with moreau.Solver (P passed as the full symmetric scipy matrix).

    Metadata is read from the result's `.info` if it has one, else from `solver.info`
    (Moreau's API puts it on the solver)."""
    import moreau
    st = moreau_settings(tol, max_iter, direct_solve_method, **kw)
    t0 = time.perf_counter()
    solver = moreau.Solver(prob["P"], prob["q"], prob["A"], prob["b"],
                           cones=moreau_cones(prob["cones"]), settings=st)
    r = solver.solve()
    wall = time.perf_counter() - t0
    info = getattr(r, "info", None) or solver.info
    return dict(status=status_name(info.status), x=np.asarray(r.x, float).ravel(),
                z=np.asarray(r.z, float).ravel(), s=np.asarray(r.s, float).ravel(),
                obj=float(info.obj_val), iterations=int(info.iterations),
                solve_time=float(info.solve_time), wall_time=wall)


def solve_moreau_batch(n, m, P_pattern, A_pattern, cones, P_values, A_values, q, b,
                       tol=TOL, max_iter=200, **kw):
    """Solve a batch with moreau.CompiledSolver.  P_pattern / A_pattern: csr matrices
    (P full symmetric); P_values / A_values: (nnz,) shared or (batch, nnz); q, b:
    (batch, n), (batch, m).  Returns dict with x, z, s (batch, .), status (list of
    names), obj, iterations (arrays)."""
    import moreau
    B = q.shape[0]
    st = moreau_settings(tol, max_iter, batch_size=B, **kw)
    solver = moreau.CompiledSolver(n, m, P_pattern.indptr.astype(np.int64), P_pattern.indices.astype(np.int64),
                                   A_pattern.indptr.astype(np.int64), A_pattern.indices.astype(np.int64),
                                   moreau_cones(cones), st)
    solver.setup(P_values, A_values)
    r = solver.solve(q, b)
    info = getattr(r, "info", None) or solver.info
    return dict(x=np.asarray(r.x, float), z=np.asarray(r.z, float), s=np.asarray(r.s, float),
                status=[status_name(v) for v in info.status],
                obj=np.asarray(info.obj_val, float), iterations=np.asarray(info.iterations))


# --------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------


def inf_norm(v):
    v = np.asarray(v, float)
    return float(np.max(np.abs(v))) if v.size else 0.0


def kkt_report(prob, x, s, z):
    """Relative KKT residuals of (x, s, z) for a problem dict."""
    P, q, A, b = prob["P"], prob["q"], prob["A"], prob["b"]
    Px = P @ x
    Ax = A @ x
    Atz = A.T @ z
    rp = Ax + s - b
    rd = Px + q + Atz
    xPx = float(x @ Px)
    pobj = 0.5 * xPx + float(q @ x)
    dobj = -0.5 * xPx - float(b @ z)
    scale_obj = max(1.0, abs(pobj))
    sn = max(inf_norm(s), inf_norm(z), 1e-300)
    return dict(
        prim_res=inf_norm(rp) / (1.0 + max(inf_norm(b), inf_norm(Ax), inf_norm(s))),
        dual_res=inf_norm(rd) / (1.0 + max(inf_norm(q), inf_norm(Px), inf_norm(Atz))),
        gap=abs(pobj - dobj) / scale_obj,
        sz=abs(float(s @ z)) / scale_obj,
        s_viol=cone_violation(prob["cones"], s) / (1.0 + inf_norm(s)),
        z_viol=cone_violation(prob["cones"], z, dual=True) / (1.0 + inf_norm(z)),
        pobj=pobj, dobj=dobj,
    )


def primal_cert_report(prob, z):
    """Primal infeasibility certificate quality for z (normalized by |b'z|)."""
    A, b = prob["A"], prob["b"]
    bz = float(b @ z)
    return dict(bz=bz,
                Atz_rel=inf_norm(A.T @ z) / max(abs(bz), 1e-300) / (1.0 + inf_norm(A.data)),
                z_viol=cone_violation(prob["cones"], z, dual=True) / max(inf_norm(z), abs(bz), 1e-300))


def dual_cert_report(prob, x, s=None):
    """Dual infeasibility certificate quality for x (normalized by |q'x|).

    s_viol is measured on -A x (the actual certificate condition); Axs_rel compares
    the returned s with -A x when s is finite (NaN otherwise)."""
    P, q, A = prob["P"], prob["q"], prob["A"]
    qx = float(q @ x)
    Ax = A @ x
    den = max(abs(qx), 1e-300)
    if s is not None and np.all(np.isfinite(s)):
        axs = inf_norm(Ax + s) / den / (1.0 + inf_norm(A.data))
    else:
        axs = float("nan")
    return dict(qx=qx,
                Px_rel=inf_norm(P @ x) / den / (1.0 + (inf_norm(P.data) if P.nnz else 0.0)),
                Axs_rel=axs,
                s_viol=cone_violation(prob["cones"], -Ax) / max(inf_norm(Ax), abs(qx), 1e-300))


# --------------------------------------------------------------------------------------
# corpora
# --------------------------------------------------------------------------------------


def test_corpus(seeds_per_family=15, structured_seeds=8):
    """(family, scaling, seed) triples for the comparison test (not the problems, which
    are built lazily)."""
    out = []
    for fam in RANDOM_FAMILIES:
        for sc in ("well", "bad"):
            for sd in range(seeds_per_family):
                out.append((fam, sc, sd))
    for fam in STRUCTURED:
        for sd in range(structured_seeds):
            out.append((fam, "well", sd))
    return out


def make_problem(family, scaling, seed):
    if family in STRUCTURED:
        return STRUCTURED[family](seed)
    return random_feasible(family, seed, scaling=scaling)


# --------------------------------------------------------------------------------------
# benchmark corpus (CVXPY canonicalization for CLARABEL: same cone order and conventions)
# --------------------------------------------------------------------------------------


def from_cvxpy(cvx_prob, name, family):
    """Conic data of a CVXPY problem as canonicalized for Clarabel.

    CVXPY's Clarabel data: P (full symmetric, absent for LPs), c, A, b, dims with cones
    ordered zero, nonneg, soc, exp, 3-d power; the exp cone (x, y, z) is
    y exp(x/y) <= z and the power cone x^a y^(1-a) >= |z|, the same as Clarabel's."""
    import cvxpy as cp
    data, _, _ = cvx_prob.get_problem_data(cp.CLARABEL)
    dims = data["dims"]
    assert not getattr(dims, "psd", []), "PSD cones are not supported"
    q = np.asarray(data["c"], float)
    n = q.size
    P = data.get("P")
    P = _zero_P(n) if P is None else sp.csr_matrix(P)
    A = sp.csr_matrix(data["A"])
    b = np.asarray(data["b"], float)
    cones = dict(zero=int(dims.zero), nonneg=int(dims.nonneg), soc=[int(d) for d in dims.soc],
                 exp=int(dims.exp), power=[float(a) for a in getattr(dims, "p3d", [])])
    for key in ("lower_bounds", "upper_bounds"):
        assert data.get(key) is None, f"{key} not supported"
    return _finish(name, family, 0, P, q, A, b, cones, "Solved")


def _bench_lp(n, seed):
    return random_feasible("lp", seed, n=n) | dict(name=f"lp_n{n}", family="lp")


def _bench_qp(n, seed):
    return random_feasible("qp", seed, n=n) | dict(name=f"qp_n{n}", family="qp")


def _bench_portfolio(n_assets, k, seed):
    """max mu'w - gamma * (||F'w||^2 + ||D^1/2 w||^2) with factor model, sum w = 1,
    w >= 0, and a risk limit ||(F'w, D^1/2 w)||_2 <= sigma (SOC)."""
    import cvxpy as cp
    rng = np.random.default_rng([401, seed])
    mu = np.abs(rng.normal(size=n_assets)) * 0.1
    F = sp.random(n_assets, k, density=0.5, random_state=seed, data_rvs=rng.standard_normal)
    Ff = F.toarray() * 0.1
    d = rng.uniform(0.0, 0.1 * np.sqrt(k), size=n_assets) * 0.1
    w = cp.Variable(n_assets)
    f = cp.Variable(k)
    gamma = 1.0
    risk = cp.sum_squares(f) + cp.sum_squares(cp.multiply(np.sqrt(d), w))
    sigma = 0.1
    prob = cp.Problem(cp.Maximize(mu @ w - gamma * risk),
                      [cp.sum(w) == 1, w >= 0, f == Ff.T @ w,
                       cp.norm(cp.hstack([f, cp.multiply(np.sqrt(d), w)]), 2) <= sigma])
    return from_cvxpy(prob, f"portfolio_n{n_assets}_k{k}", "portfolio")


def _bench_lasso(m, n, seed, density=0.1):
    import cvxpy as cp
    rng = np.random.default_rng([402, seed])
    Ad = sp.random(m, n, density=density, random_state=seed, data_rvs=rng.standard_normal)
    xt = rng.normal(size=n) * (rng.random(n) < 0.1)
    bd = Ad @ xt + 0.1 * rng.normal(size=m)
    lam = 0.1 * np.max(np.abs(Ad.T @ bd))
    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Ad @ x - bd) + lam * cp.norm1(x)))
    return from_cvxpy(prob, f"lasso_{m}x{n}", "lasso")


def _bench_huber(m, n, seed, density=0.1):
    import cvxpy as cp
    rng = np.random.default_rng([403, seed])
    Ad = sp.random(m, n, density=density, random_state=seed, data_rvs=rng.standard_normal)
    xt = rng.normal(size=n)
    bd = Ad @ xt + 0.1 * rng.normal(size=m)
    out = rng.random(m) < 0.05
    bd[out] += 10 * rng.normal(size=out.sum())
    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.huber(Ad @ x - bd, 1.0))))
    return from_cvxpy(prob, f"huber_{m}x{n}", "huber")


def _bench_logistic(N, k, seed, density=0.3):
    rng = np.random.default_rng([404, seed])
    X = sp.random(N, k, density=density, random_state=seed, data_rvs=rng.standard_normal).toarray()
    wt = rng.normal(size=k)
    y = np.sign(X @ wt + 0.5 * rng.normal(size=N))
    y[y == 0] = 1.0
    return _logistic_data(f"logistic_{N}x{k}", "logistic", seed, X, y, 0.1)


def benchmark_corpus(quick=False):
    """List of problem dicts for benchmarks/bench_solver.py (n up to ~5000)."""
    specs = [
        ("lp", lambda: _bench_lp(100, 1), True),
        ("lp", lambda: _bench_lp(1000, 2), False),
        ("lp", lambda: _bench_lp(4000, 3), False),
        ("qp", lambda: _bench_qp(100, 1), True),
        ("qp", lambda: _bench_qp(1000, 2), False),
        ("qp", lambda: _bench_qp(4000, 3), False),
        ("portfolio", lambda: _bench_portfolio(100, 10, 1), True),
        ("portfolio", lambda: _bench_portfolio(1000, 30, 2), False),
        ("portfolio", lambda: _bench_portfolio(2500, 50, 3), False),
        ("lasso", lambda: _bench_lasso(50, 100, 1), True),
        ("lasso", lambda: _bench_lasso(300, 600, 2), False),
        ("lasso", lambda: _bench_lasso(1000, 2000, 3, density=0.02), False),
        ("huber", lambda: _bench_huber(100, 30, 1), True),
        ("huber", lambda: _bench_huber(600, 200, 2), False),
        ("huber", lambda: _bench_huber(1500, 400, 3, density=0.05), False),
        ("logistic", lambda: _bench_logistic(100, 10, 1), True),
        ("logistic", lambda: _bench_logistic(500, 20, 2), False),
        ("logistic", lambda: _bench_logistic(1500, 50, 3), False),
    ]
    return [make() for fam, make, small in specs if small or not quick]
