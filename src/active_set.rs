//! Dual active-set method (Goldfarb & Idnani, 1983) for small strictly convex QPs.
//!
//! Problems whose cones are only zero and nonnegative rows,
//! ```text
//!     minimize 1/2 x'Px + q'x   subject to   a_i'x = b_i (zero rows),  a_i'x <= b_i (nonneg rows),
//! ```
//! with P positive definite.  Every constraint is written `c_i(x) = σ_i (b_i - a_i'x) >= 0`
//! with normal `n_i = -σ_i a_i` (σ_i = 1 for inequalities; an equality takes the sign
//! that makes it violated when it is added).  The method starts at the unconstrained
//! minimizer `x = -P^{-1} q` and adds violated constraints one at a time, keeping
//! every iterate optimal for the constraints in its active set W (dual feasible);
//! when adding constraint p would make a multiplier negative, that constraint leaves
//! W first (a partial step).  It ends when no constraint is violated.
//!
//! With `P = L L'`, the factorization kept is `J = L^{-T} Q` and an upper-triangular
//! R with `J' N_W = [R; 0]` (N_W: the active normals).  For the constraint p being
//! added and `d = J' n_p`, split after |W| entries as `(d1, d2)`:
//! ```text
//!     primal step direction   z = J2 d2,          (J2: the last n - |W| columns of J)
//!     dual step direction     r = R^{-1} d1,
//!     full step               t2 = -c_p(x) / (z' n_p),   z' n_p = |d2|^2,
//!     partial step            t1 = min { u_k / r_k : k in W an inequality, r_k > 0 }.
//! ```
//! Adding p rotates d2 onto its first entry (Givens rotations applied to J's
//! columns); dropping k deletes R's column and restores the triangle the same way.
//! At the end, `z_i = σ_i u_i` on W and 0 elsewhere, `s = b - Ax` on inequalities
//! (exactly 0 on W and on equalities): `Px + q + A'z = 0` holds through the
//! factorization.
//!
//! This is a fast path, never the last word: [`solve`] returns `Err(Fallback)` (and
//! the caller runs the interior-point method) when P is not numerically positive
//! definite, when a violated constraint cannot be satisfied (the problem may be
//! infeasible: the interior-point method finds the certificate and the status), when
//! the iteration cap is hit, or when the final point fails the interior-point
//! method's own optimality test (`termination::Progress::is_solved` at the full
//! tolerances).  A returned solution therefore passes the same test an
//! interior-point solution does; its complementarity is exact.
//!
//! P, J and R are dense (column-major), A stays in CSR: the method is meant for n up
//! to about a hundred, where it takes a few microseconds where the interior-point
//! method needs tens (`AUTO_MAX_N`).  Nothing is allocated per solve
//! after the first one on a [`Workspace`].

use std::time::Instant;

use crate::ipm::{ProblemValues, SolveResult};
use crate::linalg::{norm_inf, CsrOps};
use crate::problem::ProblemPattern;
use crate::settings::Settings;
use crate::status::SolverStatus;
use crate::termination::{Progress, Tolerances};

/// "auto" picks the active-set method for problems with zero and nonnegative
/// cones only, a P with every diagonal entry stored, and at most this many
/// variables and `AUTO_MAX_M` constraint rows.  Measured with
/// `benchmarks/rust/profile_seed.rs` (`PROFILE_SOLVER`, `PROFILE_FAMILY=denseqp`; see
/// benchmarks/README.md): up to n = 100 dense QPs solve 16-20x faster than by the
/// interior-point method.
pub const AUTO_MAX_N: usize = 100;
pub const AUTO_MAX_M: usize = 400;

/// A pivot of P's Cholesky factor at most this times P's largest diagonal entry
/// means P is not (numerically) positive definite.
const PIVOT_TOL: f64 = 1e-12;
/// d2 with |d2|^2 <= DEPENDENT_TOL |d|^2: the constraint's normal lies in the span
/// of the active normals (no primal step is possible).
const DEPENDENT_TOL: f64 = 1e-20;
/// A constraint counts as violated when c_i(x) < -VIOLATION_TOL (|b_i| + sum_j |a_ij x_j|):
/// a few hundred roundings of the product a_i'x.
const VIOLATION_TOL: f64 = 256.0 * f64::EPSILON;
/// An equality whose normal depends on the active ones is redundant (and skipped)
/// when its residual is at most this times max(1, |b_i| + sum_j |a_ij x_j|); the
/// final optimality test still bounds it by tol_feas.
const REDUNDANT_TOL: f64 = 1e-9;

/// Why the active-set method cannot take a pattern's cones (None: it can: zero
/// and nonnegative cones only).  Values (P positive definite) decide the rest at
/// solve time.
pub fn unsupported_cones(pattern: &ProblemPattern) -> Option<String> {
    let c = &pattern.cones;
    let found: Vec<String> = [
        (!c.soc.is_empty()).then(|| format!("second-order cones {:?}", c.soc)),
        (!c.psd.is_empty()).then(|| format!("PSD cones {:?}", c.psd)),
        (c.exp > 0).then(|| format!("{} exponential cones", c.exp)),
        (!c.power.is_empty()).then(|| format!("{} power cones", c.power.len())),
        (!c.gen_power.is_empty()).then(|| format!("{} generalized power cones", c.gen_power.len())),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!found.is_empty()).then(|| found.join(", "))
}

/// Whether "auto" should use the active-set method on this pattern: supported
/// cones, every diagonal entry of P stored (a QP that may be strictly convex),
/// and small sizes.
pub fn auto_prefers(pattern: &ProblemPattern) -> bool {
    let p = &pattern.p;
    let full_diagonal = (0..pattern.n).all(|j| p.indices[p.indptr[j]..p.indptr[j + 1]].contains(&j));
    unsupported_cones(pattern).is_none()
        && full_diagonal
        && (1..=AUTO_MAX_N).contains(&pattern.n)
        && pattern.m <= AUTO_MAX_M
}

/// Why a solve was handed back to the interior-point method (logged at debug).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    NotPositiveDefinite,
    Infeasible,
    IterationLimit,
    FailedOptimalityTest,
}

/// The method works on the Jacobi-scaled problem x = D y, D = diag(P)^{-1/2}:
/// P~ = D P D has a unit diagonal, so badly scaled columns (units of 1e-3 next to
/// 1e3) do not cost the factorization digits (the interior-point method
/// equilibrates for the same reason).  `PFactor` holds D and J0 = L^{-T} of
/// P~ = L L' (column-major n x n), `j0` None when P is not numerically positive
/// definite.  Computed once per batch when the elements share P, else per element.
pub struct PFactor {
    scale: Vec<f64>,
    j0: Option<Vec<f64>>,
}

impl PFactor {
    pub fn new(pattern: &ProblemPattern, p: &[f64]) -> Self {
        let n = pattern.n;
        let (mut l, mut j0, mut scale, mut scratch) = (vec![0.0; n * n], vec![0.0; n * n], vec![0.0; n], vec![0.0; n]);
        let pd = factor_into(pattern, p, &mut l, &mut j0, &mut scale, &mut scratch);
        PFactor { scale, j0: pd.then_some(j0) }
    }
}

/// D into `scale`, dense D P D into `l`, its Cholesky factor, then J0 = L^{-T}
/// into `j0` (`scratch`: n entries); false when P is not positive definite.
#[inline(always)]
fn factor_into(pattern: &ProblemPattern, p: &[f64], l: &mut [f64], j0: &mut [f64], scale: &mut [f64], scratch: &mut [f64]) -> bool {
    let n = pattern.n;
    let pp = &pattern.p;
    scale.iter_mut().for_each(|v| *v = 0.0);
    for row in 0..n {
        for k in pp.indptr[row]..pp.indptr[row + 1] {
            if pp.indices[k] == row {
                scale[row] = p[k];
            }
        }
    }
    if !scale.iter().all(|&d| d > 0.0 && d.is_finite()) {
        return false;
    }
    scale.iter_mut().for_each(|v| *v = 1.0 / v.sqrt());
    l.iter_mut().for_each(|v| *v = 0.0);
    for row in 0..n {
        for k in pp.indptr[row]..pp.indptr[row + 1] {
            let col = pp.indices[k];
            // column-major = row-major: P is symmetric
            l[col * n + row] = scale[row] * p[k] * scale[col];
        }
    }
    if !cholesky(l, n) {
        return false;
    }
    inverse_transpose(l, j0, scratch, n);
    true
}

static SOLVE_COUNTS: [std::sync::atomic::AtomicUsize; 2] =
    [std::sync::atomic::AtomicUsize::new(0), std::sync::atomic::AtomicUsize::new(0)];

/// Count one element the method solved (`solved`) or handed to the
/// interior-point method (process-wide; for benchmarks and tests).
pub fn count_solve(solved: bool) {
    SOLVE_COUNTS[usize::from(!solved)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// [solved, handed over] since the last call; resets them.
pub fn take_solve_counts() -> [usize; 2] {
    std::array::from_fn(|i| SOLVE_COUNTS[i].swap(0, std::sync::atomic::Ordering::Relaxed))
}

/// Per-thread memory of the method; sized on first use.
#[derive(Default)]
pub struct Workspace {
    /// Cholesky factor L of P (column-major, lower triangle).
    l: Vec<f64>,
    /// J = L^{-T} Q (column-major n x n).
    j: Vec<f64>,
    /// R (column-major, stride n, upper triangle of the first |W| columns).
    r: Vec<f64>,
    /// The iterate y of the scaled problem (x = D y).
    x: Vec<f64>,
    d: Vec<f64>,
    step: Vec<f64>,
    dual_step: Vec<f64>,
    /// Active constraints in order, their multipliers u and signs σ.
    active: Vec<usize>,
    u: Vec<f64>,
    sign: Vec<f64>,
    is_active: Vec<bool>,
    /// D of the Jacobi scaling and A D (CSR values of A).
    scale: Vec<f64>,
    a_scaled: Vec<f64>,
    /// Euclidean norms of the rows of A D.
    row_norm: Vec<f64>,
    /// Scratch of the final check: Px, A'z and Ax.
    px: Vec<f64>,
    atz: Vec<f64>,
    ax: Vec<f64>,
}

fn resize(v: &mut Vec<f64>, len: usize) {
    v.clear();
    v.resize(len, 0.0);
}

impl Workspace {
    fn prepare(&mut self, n: usize, m: usize) {
        for v in [&mut self.l, &mut self.j, &mut self.r] {
            if v.len() != n * n {
                resize(v, n * n);
            }
        }
        for v in [&mut self.x, &mut self.d, &mut self.step, &mut self.dual_step, &mut self.px, &mut self.atz, &mut self.scale] {
            resize(v, n);
        }
        self.u.clear();
        self.sign.clear();
        self.active.clear();
        self.is_active.clear();
        self.is_active.resize(m, false);
        resize(&mut self.ax, m);
    }
}

/// One row of A in CSR form.
#[derive(Clone, Copy)]
struct SparseRow<'a> {
    cols: &'a [usize],
    vals: &'a [f64],
}

impl SparseRow<'_> {
    /// a'x.
    #[inline]
    fn dot(&self, x: &[f64]) -> f64 {
        self.cols.iter().zip(self.vals).map(|(&c, v)| v * x[c]).sum()
    }
    /// sum_j |a_ij x_j|, the scale of a'x's rounding (the violation test).
    #[inline]
    fn magnitude(&self, x: &[f64]) -> f64 {
        self.cols.iter().zip(self.vals).map(|(&c, v)| (v * x[c]).abs()).sum()
    }
    fn norm(&self) -> f64 {
        self.vals.iter().map(|v| v * v).sum::<f64>().sqrt()
    }
}

/// A Givens rotation G = [c s; -s c] with G (a, b)' = (|(a, b)|, 0).  (The plain
/// square root: libm's overflow-safe hypot cost a fifth of a solve, and entries of
/// J' n are far from the overflow range.)
#[inline(always)]
fn givens(a: f64, b: f64) -> (f64, f64, f64) {
    let h = (a * a + b * b).sqrt();
    if h == 0.0 {
        (1.0, 0.0, 0.0)
    } else {
        (a / h, b / h, h)
    }
}

/// Columns i and k of a column-major matrix (column length `len`) times G':
/// col_i <- c col_i + s col_k, col_k <- -s col_i + c col_k.
#[inline(always)]
fn rotate_columns(mat: &mut [f64], len: usize, i: usize, k: usize, c: f64, s: f64) {
    debug_assert!(i < k);
    let (lo, hi) = mat.split_at_mut(k * len);
    let (ci, ck) = (&mut lo[i * len..(i + 1) * len], &mut hi[..len]);
    for (a, b) in ci.iter_mut().zip(ck.iter_mut()) {
        let (va, vb) = (*a, *b);
        *a = c * va + s * vb;
        *b = -s * va + c * vb;
    }
}

/// The factorization state of one solve.
struct Factors<'w> {
    n: usize,
    j: &'w mut [f64],
    r: &'w mut [f64],
    /// |W|.
    q: usize,
}

impl Factors<'_> {
    /// d = J' n_p with n_p = -σ a_p.
    #[inline(always)]
    fn project(&self, a_row: SparseRow<'_>, sigma: f64, d: &mut [f64]) {
        let n = self.n;
        for (c, dc) in d.iter_mut().enumerate() {
            *dc = -sigma * a_row.dot(&self.j[c * n..(c + 1) * n]);
        }
    }

    /// Primal step z = J2 d2 and dual step r = R^{-1} d1.
    #[inline(always)]
    fn directions(&self, d: &[f64], step: &mut [f64], dual_step: &mut [f64]) {
        let (n, q) = (self.n, self.q);
        step.iter_mut().for_each(|v| *v = 0.0);
        for c in q..n {
            let dc = d[c];
            if dc == 0.0 {
                continue;
            }
            for (z, jv) in step.iter_mut().zip(&self.j[c * n..(c + 1) * n]) {
                *z += dc * jv;
            }
        }
        // back substitution with the q x q upper triangle of R, by columns
        // (contiguous in the column-major R)
        dual_step[..q].copy_from_slice(&d[..q]);
        for i in (0..q).rev() {
            let col = &self.r[i * n..i * n + i + 1];
            let ri = dual_step[i] / col[i];
            dual_step[i] = ri;
            for (acc, rk) in dual_step[..i].iter_mut().zip(&col[..i]) {
                *acc -= rk * ri;
            }
        }
    }

    /// Add the constraint whose d = J' n_p is given: Givens rotations of
    /// (q, c) zero each nonzero d_c of the tail onto d_q (the same rotations on
    /// J's columns, so `J' N` stays `[R; 0]`), then d[..=q] is R's new column.
    /// Rotating into q directly, not along neighbours, costs O(n) per nonzero of
    /// d's tail: a bound constraint's d is sparse while J still is.
    #[inline(always)]
    fn add(&mut self, d: &mut [f64]) {
        let (n, q) = (self.n, self.q);
        for c in q + 1..n {
            if d[c] == 0.0 {
                continue;
            }
            let (cs, sn, h) = givens(d[q], d[c]);
            d[q] = h;
            d[c] = 0.0;
            rotate_columns(self.j, n, q, c, cs, sn);
        }
        self.r[q * n..q * n + q + 1].copy_from_slice(&d[..=q]);
        self.q += 1;
    }

    /// Drop the active constraint at position k: delete R's column k and restore
    /// the triangle with rotations of rows (i, i + 1), applied to J's columns too.
    #[inline(always)]
    fn drop(&mut self, k: usize) {
        let (n, q) = (self.n, self.q);
        for c in k..q - 1 {
            self.r.copy_within((c + 1) * n..(c + 1) * n + c + 2, c * n);
        }
        for i in k..q - 1 {
            let (c, s, h) = givens(self.r[i * n + i], self.r[i * n + i + 1]);
            self.r[i * n + i] = h;
            self.r[i * n + i + 1] = 0.0;
            for col in i + 1..q - 1 {
                let (a, b) = (self.r[col * n + i], self.r[col * n + i + 1]);
                self.r[col * n + i] = c * a + s * b;
                self.r[col * n + i + 1] = -s * a + c * b;
            }
            rotate_columns(self.j, n, i, i + 1, c, s);
        }
        self.q -= 1;
    }
}

/// Dense P = L L' in `l` (column-major lower triangle); false when a pivot is at
/// most PIVOT_TOL times P's largest diagonal entry.
#[inline(always)]
fn cholesky(l: &mut [f64], n: usize) -> bool {
    let max_diag = (0..n).map(|j| l[j * n + j]).fold(0.0, f64::max);
    let floor = PIVOT_TOL * max_diag;
    for j in 0..n {
        // column j: l_ij = (p_ij - sum_{k<j} l_ik l_jk) / l_jj  (left-looking)
        for k in 0..j {
            let ljk = l[k * n + j];
            if ljk != 0.0 {
                for i in j..n {
                    l[j * n + i] -= l[k * n + i] * ljk;
                }
            }
        }
        let pivot = l[j * n + j];
        if !(pivot > floor) {
            return false;
        }
        let root = pivot.sqrt();
        for i in j..n {
            l[j * n + i] /= root;
        }
    }
    true
}

/// J = L^{-T} as the transpose of Y = L^{-1}, whose column c solves L y = e_c by
/// forward substitution along L's (contiguous) columns, skipping zero entries of y:
/// a diagonal or banded P (after Jacobi scaling: L = I for a diagonal one) costs
/// O(n) per column instead of O(n^2).
#[inline(always)]
fn inverse_transpose(l: &[f64], j: &mut [f64], y: &mut [f64], n: usize) {
    for c in 0..n {
        y[c..n].iter_mut().for_each(|v| *v = 0.0);
        y[c] = 1.0;
        for i in c..n {
            if y[i] == 0.0 {
                continue;
            }
            let yi = y[i] / l[i * n + i];
            y[i] = yi;
            for (yk, lk) in y[i + 1..n].iter_mut().zip(&l[i * n + i + 1..(i + 1) * n]) {
                *yk -= lk * yi;
            }
        }
        // J[c, i] = Y[i, c]: row c of J (J is upper triangular)
        for i in 0..n {
            j[i * n + c] = if i < c { 0.0 } else { y[i] };
        }
    }
}

/// Solve one problem by the active-set method.  `Err` names why the caller should
/// use the interior-point method instead.  `values` are the user's data; the
/// method works on their Jacobi scaling (`PFactor`), the final test on them.
/// `shared`: P's factor when the batch shares P, else None (factored here).
///
/// The dense loops (Givens rotations on J's columns, J2 d2) are compiled twice: for
/// the baseline x86-64 target (SSE2, two lanes) and with AVX2 (four lanes), chosen
/// at run time; the arithmetic and its order are the same in both.
pub fn solve(
    pattern: &ProblemPattern,
    settings: &Settings,
    values: ProblemValues<'_>,
    shared: Option<&PFactor>,
    ws: &mut Workspace,
) -> Result<SolveResult, Fallback> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { solve_avx2(pattern, settings, values, shared, ws) };
    }
    solve_portable(pattern, settings, values, shared, ws)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn solve_avx2(
    pattern: &ProblemPattern,
    settings: &Settings,
    values: ProblemValues<'_>,
    shared: Option<&PFactor>,
    ws: &mut Workspace,
) -> Result<SolveResult, Fallback> {
    solve_portable(pattern, settings, values, shared, ws)
}

/// The method itself (see [`solve`]); inlined into both of its builds.
#[inline(always)]
fn solve_portable(
    pattern: &ProblemPattern,
    settings: &Settings,
    values: ProblemValues<'_>,
    shared: Option<&PFactor>,
    ws: &mut Workspace,
) -> Result<SolveResult, Fallback> {
    let start = Instant::now();
    let (n, m, m_eq) = (pattern.n, pattern.m, pattern.cones.zero);
    ws.prepare(n, m);
    match shared {
        Some(PFactor { scale, j0: Some(j0) }) => {
            ws.j.copy_from_slice(j0);
            ws.scale.copy_from_slice(scale);
        }
        Some(PFactor { j0: None, .. }) => return Err(Fallback::NotPositiveDefinite),
        None => {
            if !factor_into(pattern, values.p, &mut ws.l, &mut ws.j, &mut ws.scale, &mut ws.d) {
                return Err(Fallback::NotPositiveDefinite);
            }
        }
    }
    // the scaled problem: A~ = A D, q~ = D q; iterate y (x = D y, set in `finish`)
    ws.a_scaled.clear();
    ws.a_scaled.extend(pattern.a.indices.iter().zip(values.a).map(|(&c, v)| v * ws.scale[c]));
    // unconstrained minimizer y = -J J' q~
    for c in 0..n {
        ws.d[c] = ws.j[c * n..(c + 1) * n].iter().zip(values.q).zip(&ws.scale).map(|((u, v), d)| u * v * d).sum();
    }
    ws.x.iter_mut().for_each(|v| *v = 0.0);
    for c in 0..n {
        let dc = ws.d[c];
        for (xi, jv) in ws.x.iter_mut().zip(&ws.j[c * n..(c + 1) * n]) {
            *xi -= dc * jv;
        }
    }

    let Workspace { j, r, x, d, step, dual_step, active, u, sign, is_active, a_scaled, row_norm, .. } = ws;
    let mut f = Factors { n, j, r, q: 0 };
    let row = |i: usize| {
        let range = pattern.a.indptr[i]..pattern.a.indptr[i + 1];
        SparseRow { cols: &pattern.a.indices[range.clone()], vals: &a_scaled[range] }
    };
    // |a~_i|, the measure of a violation c_i / |a~_i| (once: a square root per row and pick cost a tenth of a solve)
    row_norm.clear();
    row_norm.extend((0..m).map(|i| row(i).norm().max(f64::MIN_POSITIVE)));
    // c_i(x) < -VIOLATION_TOL (|b_i| + sum_j |a_ij x_j|) (the magnitude only when c_i < 0)
    let violated = |x: &[f64], i: usize, c: f64| c < 0.0 && c < -VIOLATION_TOL * (values.b[i].abs() + row(i).magnitude(x));
    // Moreau caps the active-set method by both max_iter and its iter_limit
    let max_iter = settings.active_set_iter_limit.min(settings.max_iter);
    let mut iterations = 0;
    let mut next_eq = 0;
    loop {
        // the constraint to add: the next equality, else the most violated inequality
        // (by c_i / |a_i|)
        let pick = if next_eq < m_eq {
            let c = values.b[next_eq] - row(next_eq).dot(x);
            next_eq += 1;
            Some((next_eq - 1, if c > 0.0 { -1.0 } else { 1.0 }))
        } else {
            let mut worst = (0.0, None);
            for i in m_eq..m {
                if is_active[i] {
                    continue;
                }
                let c = values.b[i] - row(i).dot(x);
                if violated(x, i, c) {
                    let scaled = c / row_norm[i];
                    if scaled < worst.0 {
                        worst = (scaled, Some((i, 1.0)));
                    }
                }
            }
            worst.1
        };
        let Some((p, sigma)) = pick else { break };
        // step towards satisfying constraint p, dropping blocking constraints
        let mut u_p = 0.0;
        loop {
            iterations += 1;
            if iterations > max_iter {
                return Err(Fallback::IterationLimit);
            }
            f.project(row(p), sigma, d);
            f.directions(d, step, dual_step);
            let q = f.q;
            let d2: f64 = d[q..].iter().map(|v| v * v).sum();
            let dd: f64 = d2 + d[..q].iter().map(|v| v * v).sum::<f64>();
            let dependent = d2 <= DEPENDENT_TOL * dd;
            let c_p = sigma * (values.b[p] - row(p).dot(x));
            if dependent && p < m_eq {
                let mag = values.b[p].abs() + row(p).magnitude(x);
                if c_p.abs() <= REDUNDANT_TOL * mag.max(1.0) {
                    // an equality implied by the active ones: multiplier 0
                    break;
                }
            }
            let t2 = if dependent { f64::INFINITY } else { (-c_p).max(0.0) / d2 };
            let mut t1 = f64::INFINITY;
            let mut drop_at = usize::MAX;
            for k in 0..q {
                if active[k] >= m_eq && dual_step[k] > 0.0 {
                    let ratio = u[k] / dual_step[k];
                    if ratio < t1 {
                        t1 = ratio;
                        drop_at = k;
                    }
                }
            }
            if t1.is_infinite() && t2.is_infinite() {
                // no primal step and no multiplier to give up: p cannot be satisfied
                return Err(Fallback::Infeasible);
            }
            let t = t1.min(t2);
            if !dependent {
                for (xi, zi) in x.iter_mut().zip(step.iter()) {
                    *xi += t * zi;
                }
            }
            for k in 0..q {
                u[k] -= t * dual_step[k];
            }
            u_p += t;
            if t2 <= t1 {
                f.add(d);
                active.push(p);
                u.push(u_p);
                sign.push(sigma);
                is_active[p] = true;
                break;
            }
            // partial step: constraint drop_at leaves W, then retry p
            f.drop(drop_at);
            is_active[active[drop_at]] = false;
            active.remove(drop_at);
            u.remove(drop_at);
            sign.remove(drop_at);
        }
    }
    let (result, progress) = finish(pattern, values, ws, iterations, start);
    let tol = Tolerances::full(settings);
    if !progress.is_solved(&tol) {
        return Err(Fallback::FailedOptimalityTest);
    }
    if settings.verbose {
        tracing::info!(
            "moreau-jax active set  n = {n}, m = {m}: solved in {iterations} iterations, {} active, \
             pres {:.2e}, dres {:.2e}, gap {:.2e}",
            ws.active.len(),
            result.primal_res,
            result.dual_res,
            result.gap
        );
    }
    Ok(result)
}

/// The solution (x, z, s) of the final active set and its measures, on the same
/// scale as the interior-point method's (`ipm::State::progress`): residuals relative
/// to max(1, |b| + |x| + |s|) and max(1, |q| + |x| + |z|), gap = pobj - dobj.
fn finish(
    pattern: &ProblemPattern,
    values: ProblemValues<'_>,
    ws: &mut Workspace,
    iterations: usize,
    start: Instant,
) -> (SolveResult, Progress) {
    let (n, m, m_eq) = (pattern.n, pattern.m, pattern.cones.zero);
    let x: Vec<f64> = ws.x.iter().zip(&ws.scale).map(|(y, d)| y * d).collect();
    let mut z = vec![0.0; m];
    for ((&i, &ui), &si) in ws.active.iter().zip(&ws.u).zip(&ws.sign) {
        // a multiplier driven to -0.0 or -1e-17 by the last dual step is zero
        z[i] = if i < m_eq { si * ui } else { ui.max(0.0) };
    }
    // s = b - Ax, exactly 0 on equalities and active rows
    pattern.a.mul(values.a, &mut ws.ax, &x);
    let mut s = vec![0.0; m];
    let mut res_primal: f64 = 0.0;
    for (i, &ax) in ws.ax.iter().enumerate() {
        let slack = values.b[i] - ax;
        s[i] = if i < m_eq || ws.is_active[i] { 0.0 } else { slack.max(0.0) };
        res_primal = res_primal.max((ax + s[i] - values.b[i]).abs());
    }
    // dual residual Px + q + A'z (with the user's data: what the IPM measures)
    pattern.p.mul(values.p, &mut ws.px, &x);
    pattern.a.mul_t(values.a, &mut ws.atz, &z);
    let res_dual = (0..n).map(|j| (ws.px[j] + values.q[j] + ws.atz[j]).abs()).fold(0.0, f64::max);
    let xpx: f64 = x.iter().zip(&ws.px).map(|(u, v)| u * v).sum();
    let qx: f64 = x.iter().zip(values.q).map(|(u, v)| u * v).sum();
    let bz: f64 = z.iter().zip(values.b).map(|(u, v)| u * v).sum();
    let pobj = 0.5 * xpx + qx;
    let dobj = -0.5 * xpx - bz;
    let (nx, nz, ns) = (norm_inf(&x), norm_inf(&z), norm_inf(&s));
    let gap_abs = (pobj - dobj).abs();
    let progress = Progress {
        pobj,
        dobj,
        res_primal: res_primal / f64::max(1.0, norm_inf(values.b) + nx + ns),
        res_dual: res_dual / f64::max(1.0, norm_inf(values.q) + nx + nz),
        gap_abs,
        gap_rel: gap_abs / f64::max(1.0, f64::min(pobj.abs(), dobj.abs())),
        ..Default::default()
    };
    let result = SolveResult {
        x,
        z,
        s,
        status: SolverStatus::Solved,
        iterations,
        obj_val: pobj,
        primal_res: progress.res_primal,
        dual_res: progress.res_dual,
        gap: gap_abs,
        solve_time: start.elapsed().as_secs_f64(),
    };
    (result, progress)
}
