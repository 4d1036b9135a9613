//! Generalized power cone.
//!
//! Conventions (Clarabel's GenPowerCone, Moreau's `gen_power_cone_params`):
//! with alpha in R^d1, alpha_i > 0, sum alpha_i = 1, and s = (x, y), x in R^d1,
//! y in R^d2,
//! - primal K  = {(x, y) : x >= 0, prod_i x_i^alpha_i >= ||y||};
//! - dual   K* = {(u, w) : u >= 0, prod_i (u_i / alpha_i)^alpha_i >= ||w||}.
//!
//! Dual barrier (degree nu = d1 + 1, as in Clarabel):
//!     f*(z) = -log psi(z) - sum_i (1 - alpha_i) log u_i,
//!     psi(z) = phi(u) - ||w||^2,   phi(u) = prod_i (u_i / alpha_i)^(2 alpha_i).
//! With r = phi / psi >= 1 and a_i = 2 alpha_i / u_i (grad phi = phi a):
//!     grad_u f* = -r a - (1 - alpha) / u,        grad_w f* = 2 w / psi,
//!     Hess f*   = diag((2 alpha_i r + 1 - alpha_i) / u_i^2 ; 2 / psi)
//!                 + r (r - 1) a a' - (2 r / psi) (a w' + w a') + (4 / psi^2) w w'
//! (a lives on the u block, w on the w block): a diagonal plus a rank-2 term,
//! applied in O(d).  Its 2x2 core has determinant -4 r^2 / (phi psi) < 0, and
//! factoring it through its (w, w) entry gives exactly
//!     Hess f* = diag(...) + u u' - v v',   u = -r a + (2 / psi) w,   v = sqrt(r) a,
//! so cones larger than `MAX_DENSE_DIM` go into the KKT matrix in the sparse
//! expanded form of the large second-order cones (two extra columns); smaller
//! ones as a dense block.
//!
//! Primal gradient g(s) = -z with grad f*(z) = -s.  Solving the gradient
//! equations for z given r: u_i = (1 + alpha_i + 2 alpha_i t) / x_i with
//! t = r - 1, w = -psi y / 2 and psi = 4 t / ||y||^2; then phi(u) = r psi is one
//! scalar equation in t, written with tau = log t as
//!     H(tau) = sum_i 2 alpha_i log(1 + alpha_i + 2 alpha_i e^tau) - tau
//!              - log(1 + e^tau) + log(||y||^2 / 4) - sum_i 2 alpha_i log(alpha_i x_i) = 0.
//! H decreases strictly (dH/dr < 0 since sum 4 alpha_i^2 / (2 alpha_i r + 1 - alpha_i)
//! < 2 / r < 1/(r-1) + 1/r), from +inf to log(||y||^2 / prod x_i^(2 alpha_i)) < 0,
//! so it has one root, found by safeguarded Newton on a bracket.  y = 0 gives
//! t = 0.  The primal barrier is f(s) = -nu - f*(-g(s)).
//!
//! Scaling: the dual scaling H = mu Hess f*(z) only (Clarabel does the same for
//! this cone), with mu the cone's own complementarity <s, z> / nu unless the IPM
//! asks for the dual scaling with a given mu.  No third-order correction: the
//! corrector shift is sigma mu grad f*(z).

// NaN-aware `!(x > 0.0)` tests are deliberate.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

use super::soc::MAX_DENSE_DIM;
use super::util::{dot, triu_index};
use super::{Cone, ScalingStrategy, StepSettings};

/// The generalized power cone with exponents `alpha` (d1 = alpha.len()) and a
/// w part of dimension `dim2`.
#[derive(Clone, Debug)]
pub struct GenPowerCone {
    alpha: Vec<f64>,
    dim2: usize,
    /// mu used in H = mu Hess f*(z).
    mu: f64,
    /// z at the last `update_scaling`.
    z: Vec<f64>,
    /// grad f*(z).
    grad: Vec<f64>,
    /// Hess f*(z) = diag(d) + c_aa a a' + c_aw (a w' + w a') + c_ww w w'.
    hess: LowRankHess,
}

/// Hess f*(z) in its diagonal-plus-rank-2 form (see the module docs).
#[derive(Clone, Debug, Default)]
struct LowRankHess {
    d: Vec<f64>,
    /// a_i = 2 alpha_i / u_i (u block only).
    a: Vec<f64>,
    /// The w part of z (w block only).
    w: Vec<f64>,
    c_aa: f64,
    c_aw: f64,
    c_ww: f64,
}

impl LowRankHess {
    /// y = scale * H x.
    fn apply(&self, scale: f64, y: &mut [f64], x: &[f64]) {
        let d1 = self.a.len();
        let ax = dot(&self.a, &x[..d1]);
        let wx = dot(&self.w, &x[d1..]);
        for i in 0..d1 {
            y[i] = scale * (self.d[i] * x[i] + self.a[i] * (self.c_aa * ax + self.c_aw * wx));
        }
        for j in 0..self.w.len() {
            let k = d1 + j;
            y[k] = scale * (self.d[k] * x[k] + self.w[j] * (self.c_aw * ax + self.c_ww * wx));
        }
    }

    /// d, v, u with H = diag(d) + u u' - v v', all times `scale` (module docs).
    fn expansion(&self, scale: f64, d: &mut [f64], v: &mut [f64], u: &mut [f64]) {
        let d1 = self.a.len();
        // c_aa = r (r - 1), c_aw = -2 r / psi, c_ww = 4 / psi^2: r = -c_aw / sqrt(c_ww)
        let sw = self.c_ww.sqrt();
        let r = -self.c_aw / sw;
        let sq = scale.sqrt();
        let sr = r.max(0.0).sqrt();
        for i in 0..d1 {
            d[i] = scale * self.d[i];
            u[i] = -sq * r * self.a[i];
            v[i] = sq * sr * self.a[i];
        }
        for j in 0..self.w.len() {
            let k = d1 + j;
            d[k] = scale * self.d[k];
            u[k] = sq * sw * self.w[j];
            v[k] = 0.0;
        }
    }

    /// Entry (i, j) of H.
    fn entry(&self, i: usize, j: usize) -> f64 {
        let d1 = self.a.len();
        let diag = if i == j { self.d[i] } else { 0.0 };
        let low = match (i < d1, j < d1) {
            (true, true) => self.c_aa * self.a[i] * self.a[j],
            (true, false) => self.c_aw * self.a[i] * self.w[j - d1],
            (false, true) => self.c_aw * self.w[i - d1] * self.a[j],
            (false, false) => self.c_ww * self.w[i - d1] * self.w[j - d1],
        };
        diag + low
    }
}

impl GenPowerCone {
    /// `alpha`: positive, summing to 1 (checked by `ConeSpec::validate`); `dim2 >= 1`.
    pub fn new(alpha: Vec<f64>, dim2: usize) -> Self {
        assert!(!alpha.is_empty() && alpha.iter().all(|a| *a > 0.0), "generalized power cone: alphas must be > 0");
        assert!(dim2 >= 1, "generalized power cone: dim2 must be >= 1");
        let dim = alpha.len() + dim2;
        GenPowerCone {
            alpha,
            dim2,
            mu: 1.0,
            z: vec![0.0; dim],
            grad: vec![0.0; dim],
            hess: LowRankHess::default(),
        }
    }

    fn d1(&self) -> usize {
        self.alpha.len()
    }

    /// The central point e = -grad f*(e): u_i = sqrt(1 + alpha_i), w = 0.
    fn central_point(&self, out: &mut [f64]) {
        let d1 = self.d1();
        for i in 0..d1 {
            out[i] = (1.0 + self.alpha[i]).sqrt();
        }
        out[d1..d1 + self.dim2].iter_mut().for_each(|v| *v = 0.0);
    }
}

/// log phi(u) = sum 2 alpha_i log(u_i / alpha_i) and ||w||^2, or None unless u > 0
/// and everything is finite.
fn dual_parts(alpha: &[f64], z: &[f64]) -> Option<(f64, f64)> {
    let d1 = alpha.len();
    if !z.iter().all(|v| v.is_finite()) || !z[..d1].iter().all(|u| *u > 0.0) {
        return None;
    }
    let lphi: f64 = alpha.iter().zip(&z[..d1]).map(|(a, u)| 2.0 * a * (u / a).ln()).sum();
    let w2 = dot(&z[d1..], &z[d1..]);
    Some((lphi, w2))
}

/// psi / phi = 1 - ||w||^2 / phi in (0, 1], computed without cancellation.
fn psi_over_phi(lphi: f64, w2: f64) -> f64 {
    if w2 == 0.0 {
        1.0
    } else {
        -(w2.ln() - lphi).exp_m1()
    }
}

/// z strictly inside K*.
pub(crate) fn dual_feasible(alpha: &[f64], z: &[f64]) -> bool {
    match dual_parts(alpha, z) {
        Some((lphi, w2)) => {
            let q = psi_over_phi(lphi, w2);
            q > 0.0 && lphi.is_finite()
        }
        None => false,
    }
}

/// s strictly inside K.
pub(crate) fn primal_feasible(alpha: &[f64], s: &[f64]) -> bool {
    let d1 = alpha.len();
    if !s.iter().all(|v| v.is_finite()) || !s[..d1].iter().all(|x| *x > 0.0) {
        return false;
    }
    let lprod: f64 = alpha.iter().zip(&s[..d1]).map(|(a, x)| 2.0 * a * x.ln()).sum();
    let y2 = dot(&s[d1..], &s[d1..]);
    lprod.is_finite() && (y2 == 0.0 || -(y2.ln() - lprod).exp_m1() > 0.0)
}

/// f*(z); +inf outside int K*.
pub(crate) fn dual_barrier(alpha: &[f64], z: &[f64]) -> f64 {
    let (lphi, w2) = match dual_parts(alpha, z) {
        Some(p) => p,
        None => return f64::INFINITY,
    };
    let q = psi_over_phi(lphi, w2);
    if !(q > 0.0) {
        return f64::INFINITY;
    }
    let log_psi = lphi + q.ln();
    let sep: f64 = alpha.iter().zip(&z[..alpha.len()]).map(|(a, u)| (1.0 - a) * u.ln()).sum();
    let v = -log_psi - sep;
    if v.is_nan() {
        f64::INFINITY
    } else {
        v
    }
}

/// grad f*(z) and Hess f*(z) at a strictly dual feasible z (None otherwise).
fn dual_grad_hess(alpha: &[f64], z: &[f64], grad: &mut [f64], h: &mut LowRankHess) -> bool {
    let d1 = alpha.len();
    let (lphi, w2) = match dual_parts(alpha, z) {
        Some(p) => p,
        None => return false,
    };
    let q = psi_over_phi(lphi, w2);
    if !(q > 0.0) {
        return false;
    }
    let r = 1.0 / q; // phi / psi
    let inv_psi = (-(lphi + q.ln())).exp();
    if !(r.is_finite() && inv_psi.is_finite() && inv_psi > 0.0) {
        return false;
    }
    let dim = z.len();
    h.d.resize(dim, 0.0);
    h.a.resize(d1, 0.0);
    h.w.clear();
    h.w.extend_from_slice(&z[d1..]);
    for i in 0..d1 {
        let (a, u) = (alpha[i], z[i]);
        h.a[i] = 2.0 * a / u;
        grad[i] = -r * h.a[i] - (1.0 - a) / u;
        h.d[i] = (2.0 * a * r + 1.0 - a) / (u * u);
    }
    for k in d1..dim {
        grad[k] = 2.0 * z[k] * inv_psi;
        h.d[k] = 2.0 * inv_psi;
    }
    // r (r - 1) = r^2 ||w||^2 / phi, without cancellation in r - 1
    h.c_aa = r * r * (1.0 - q);
    h.c_aw = -2.0 * r * inv_psi;
    h.c_ww = 4.0 * inv_psi * inv_psi;
    grad.iter().all(|g| g.is_finite()) && h.d.iter().all(|v| v.is_finite() && *v > 0.0)
}

/// The root t = r - 1 of the scalar primal-gradient equation (module docs), for
/// s strictly primal feasible with y != 0.
fn primal_t(alpha: &[f64], x: &[f64], y2: f64) -> Option<f64> {
    let c = (y2 / 4.0).ln() - alpha.iter().zip(x).map(|(a, xi)| 2.0 * a * (a * xi).ln()).sum::<f64>();
    let h = |tau: f64| -> (f64, f64) {
        let e = tau.exp();
        let mut val = -tau - e.ln_1p() + c;
        let mut der = -1.0 - e / (1.0 + e);
        for &a in alpha {
            let den = 1.0 + a + 2.0 * a * e;
            val += 2.0 * a * den.ln();
            der += 4.0 * a * a * e / den;
        }
        (val, der)
    };
    // tau -> -inf: H ~ sum 2 a log(1 + a) - tau + c; start at that line's root.
    let mut tau = alpha.iter().map(|a| 2.0 * a * (1.0 + a).ln()).sum::<f64>() + c;
    if !tau.is_finite() {
        return None;
    }
    // Bracket [lo, hi] with H(lo) > 0 > H(hi).
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut step = 1.0;
    let mut probe = tau;
    for _ in 0..200 {
        let (v, _) = h(probe);
        if v > 0.0 {
            lo = probe;
            if hi.is_finite() {
                break;
            }
            probe += step;
        } else if v < 0.0 {
            hi = probe;
            if lo.is_finite() {
                break;
            }
            probe -= step;
        } else {
            return Some(probe.exp());
        }
        step *= 2.0;
        if lo.is_finite() && hi.is_finite() {
            break;
        }
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    tau = tau.clamp(lo, hi);
    for _ in 0..200 {
        let (v, d) = h(tau);
        if v == 0.0 {
            break;
        }
        if v > 0.0 {
            lo = tau;
        } else {
            hi = tau;
        }
        let mut next = tau - v / d;
        if !(next > lo && next < hi) || !next.is_finite() {
            next = 0.5 * (lo + hi);
        }
        let done = (next - tau).abs() <= 4.0 * f64::EPSILON * (1.0 + tau.abs()) || hi - lo <= 4.0 * f64::EPSILON * (1.0 + tau.abs());
        tau = next;
        if done {
            break;
        }
    }
    let t = tau.exp();
    t.is_finite().then_some(t)
}

/// z = -g(s) with grad f*(z) = -s (written to `z`); false unless s is strictly
/// primal feasible and the root was found.
pub(crate) fn primal_conjugate_point(alpha: &[f64], s: &[f64], z: &mut [f64]) -> bool {
    if !primal_feasible(alpha, s) {
        return false;
    }
    let d1 = alpha.len();
    let (x, y) = s.split_at(d1);
    let y2 = dot(y, y);
    let t = if y2 == 0.0 {
        0.0
    } else {
        match primal_t(alpha, x, y2) {
            Some(t) => t,
            None => return false,
        }
    };
    for i in 0..d1 {
        z[i] = (1.0 + alpha[i] + 2.0 * alpha[i] * t) / x[i];
    }
    // psi = phi(u) / r: exact at the root and valid for y = 0
    let lphi: f64 = alpha.iter().zip(&z[..d1]).map(|(a, u)| 2.0 * a * (u / a).ln()).sum();
    let psi = (lphi - t.ln_1p()).exp();
    for (zk, yk) in z[d1..].iter_mut().zip(y) {
        *zk = -0.5 * psi * yk;
    }
    z.iter().all(|v| v.is_finite()) && dual_feasible(alpha, z)
}

/// f(s) = -nu - f*(-g(s)); +inf outside int K.
pub(crate) fn primal_barrier(alpha: &[f64], s: &[f64]) -> f64 {
    let mut z = vec![0.0; s.len()];
    if !primal_conjugate_point(alpha, s, &mut z) {
        return f64::INFINITY;
    }
    let v = -((alpha.len() + 1) as f64) - dual_barrier(alpha, &z);
    if v.is_nan() {
        f64::INFINITY
    } else {
        v
    }
}

/// Largest a in {alpha_max * backtrack^k} with q + a dq strictly inside the set
/// tested by `feasible`; 0 once a drops below `min_step`.
fn backtrack(q: &[f64], dq: &[f64], alpha_max: f64, settings: &StepSettings, feasible: impl Fn(&[f64]) -> bool) -> f64 {
    if !(alpha_max > 0.0) {
        return 0.0;
    }
    let mut w = vec![0.0; q.len()];
    let mut a = alpha_max;
    for _ in 0..10_000 {
        for i in 0..q.len() {
            w[i] = q[i] + a * dq[i];
        }
        if feasible(&w) {
            return a;
        }
        a *= settings.backtrack;
        if !(a >= settings.min_step) {
            return 0.0;
        }
    }
    0.0
}

impl Cone for GenPowerCone {
    fn dim(&self) -> usize {
        self.alpha.len() + self.dim2
    }
    fn degree(&self) -> usize {
        self.alpha.len() + 1
    }
    fn is_symmetric(&self) -> bool {
        false
    }
    fn hs_is_diagonal(&self) -> bool {
        false
    }
    fn hs_is_expandable(&self) -> bool {
        self.dim() > MAX_DENSE_DIM
    }
    fn hs_expansion(&self, d: &mut [f64], v: &mut [f64], u: &mut [f64]) {
        self.hess.expansion(self.mu, d, v, u);
    }
    fn margins(&self, _z: &[f64]) -> (f64, f64) {
        // Never called: non-symmetric cones start from `unit_initialization`.
        (0.0, 0.0)
    }
    fn scaled_unit_shift(&self, _z: &mut [f64], _alpha: f64) {
        // Never called (see `margins`).
    }
    fn unit_initialization(&self, z: &mut [f64], s: &mut [f64]) {
        self.central_point(s);
        self.central_point(z);
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64], mu: f64, strategy: ScalingStrategy) -> bool {
        let dim = self.dim();
        if !dual_grad_hess(&self.alpha, &z[..dim], &mut self.grad, &mut self.hess) {
            return false;
        }
        self.z.copy_from_slice(&z[..dim]);
        // Only the dual scaling exists for this cone.  Asked for the primal-dual
        // one, use the local mu <s, z> / nu (H z = s exactly on the central path),
        // as the 3-d cones do when they fall back.
        let mut m = mu;
        if strategy == ScalingStrategy::PrimalDual {
            let local = dot(&s[..dim], &z[..dim]) / self.degree() as f64;
            if local > 0.0 && local.is_finite() {
                m = local;
            }
        }
        if !(m > 0.0 && m.is_finite()) {
            return false;
        }
        self.mu = m;
        true
    }
    fn hs_block(&self, out: &mut [f64]) {
        let dim = self.dim();
        for j in 0..dim {
            for i in 0..=j {
                out[triu_index(i, j)] = self.mu * self.hess.entry(i, j);
            }
        }
    }
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        self.hess.apply(self.mu, y, x);
    }
    fn affine_ds(&self, ds: &mut [f64], s: &[f64]) {
        let dim = self.dim();
        ds[..dim].copy_from_slice(&s[..dim]);
    }
    fn combined_ds_shift(&mut self, shift: &mut [f64], _step_z: &[f64], _step_s: &[f64], sigma_mu: f64) {
        for (o, g) in shift.iter_mut().zip(&self.grad) {
            *o = sigma_mu * g;
        }
    }
    fn delta_s_from_delta_z_offset(&self, out: &mut [f64], ds: &[f64], _z: &[f64]) {
        let dim = self.dim();
        out[..dim].copy_from_slice(&ds[..dim]);
    }
    fn step_length(
        &self,
        dz: &[f64],
        ds: &[f64],
        z: &[f64],
        s: &[f64],
        settings: &StepSettings,
        alpha_max: f64,
    ) -> (f64, f64) {
        let dim = self.dim();
        let az = backtrack(&z[..dim], &dz[..dim], alpha_max, settings, |w| dual_feasible(&self.alpha, w));
        let as_ = backtrack(&s[..dim], &ds[..dim], alpha_max, settings, |w| primal_feasible(&self.alpha, w));
        (az, as_)
    }
    fn compute_barrier(&self, z: &[f64], s: &[f64], dz: &[f64], ds: &[f64], alpha: f64) -> f64 {
        let dim = self.dim();
        let cz: Vec<f64> = (0..dim).map(|i| z[i] + alpha * dz[i]).collect();
        let cs: Vec<f64> = (0..dim).map(|i| s[i] + alpha * ds[i]).collect();
        let b = dual_barrier(&self.alpha, &cz) + primal_barrier(&self.alpha, &cs);
        if b.is_nan() {
            f64::INFINITY
        } else {
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::exp::test_support::{assert_vec_close, close, Lcg};
    use super::*;

    fn random_alpha(rng: &mut Lcg, d1: usize) -> Vec<f64> {
        let raw: Vec<f64> = (0..d1).map(|_| rng.range(0.05, 1.0)).collect();
        let t: f64 = raw.iter().sum();
        raw.iter().map(|v| v / t).collect()
    }

    /// Random interior point of K (primal) or K* (dual) with ||y|| at a random
    /// fraction of its bound.
    fn random_point(rng: &mut Lcg, alpha: &[f64], d2: usize, dual: bool) -> Vec<f64> {
        let d1 = alpha.len();
        let mut v: Vec<f64> = (0..d1).map(|_| rng.range(-2.0, 2.0).exp()).collect();
        let bound: f64 = alpha
            .iter()
            .zip(&v)
            .map(|(a, x)| a * if dual { (x / a).ln() } else { x.ln() })
            .sum::<f64>()
            .exp();
        let dir: Vec<f64> = (0..d2).map(|_| rng.range(-1.0, 1.0)).collect();
        let nd = dot(&dir, &dir).sqrt().max(1e-300);
        let frac = rng.range(0.0, 0.99);
        v.extend(dir.iter().map(|d| d / nd * frac * bound));
        v
    }

    fn cases() -> Vec<(Vec<f64>, usize)> {
        let mut rng = Lcg(21);
        let mut out = vec![(vec![0.5, 0.5], 1), (vec![0.3, 0.7], 1), (vec![1.0], 1), (vec![1.0], 3)];
        for &(d1, d2) in &[(2, 2), (3, 1), (3, 4), (5, 2), (8, 6)] {
            out.push((random_alpha(&mut rng, d1), d2));
        }
        out
    }

    fn hess_dense(h: &LowRankHess, dim: usize) -> Vec<Vec<f64>> {
        (0..dim).map(|i| (0..dim).map(|j| h.entry(i, j)).collect()).collect()
    }

    #[test]
    fn membership() {
        let a = [0.3, 0.7];
        // primal: x1^0.3 x2^0.7 >= |y|
        let b = 2f64.powf(0.3) * 0.5f64.powf(0.7);
        assert!(primal_feasible(&a, &[2.0, 0.5, 0.999 * b]));
        assert!(!primal_feasible(&a, &[2.0, 0.5, 1.001 * b]));
        assert!(primal_feasible(&a, &[2.0, 0.5, 0.0]));
        assert!(!primal_feasible(&a, &[0.0, 0.5, 0.0])); // boundary
        assert!(!primal_feasible(&a, &[-1.0, 0.5, 0.0]));
        assert!(!primal_feasible(&a, &[2.0, f64::NAN, 0.0]));
        // ||y|| with dim2 = 2
        let a3 = [0.2, 0.3, 0.5];
        let bound = 1.5f64.powf(0.2) * 2.0f64.powf(0.3) * 0.7f64.powf(0.5);
        let c = std::f64::consts::FRAC_1_SQRT_2 * bound;
        assert!(primal_feasible(&a3, &[1.5, 2.0, 0.7, 0.999 * c, -0.999 * c]));
        assert!(!primal_feasible(&a3, &[1.5, 2.0, 0.7, 1.001 * c, -1.001 * c]));
        // dual: (u1/0.3)^0.3 (u2/0.7)^0.7 >= ||w||
        assert!(dual_feasible(&a, &[0.3, 0.7, 0.999]));
        assert!(dual_feasible(&a, &[0.3, 0.7, -0.999]));
        assert!(!dual_feasible(&a, &[0.3, 0.7, 1.001]));
        assert!(!dual_feasible(&a, &[0.0, 0.7, 0.0]));
        // the dual cone is not the primal one
        assert!(dual_feasible(&a, &[1.0, 1.0, 1.8]) && !primal_feasible(&a, &[1.0, 1.0, 1.8]));
        // d1 = 1: the second-order cone {x >= ||y||}
        assert!(primal_feasible(&[1.0], &[1.0, 0.6, 0.79]) && !primal_feasible(&[1.0], &[1.0, 0.6, 0.81]));
    }

    #[test]
    fn dual_gradient_and_hessian_vs_fd() {
        let mut rng = Lcg(22);
        for (alpha, d2) in cases() {
            let dim = alpha.len() + d2;
            let nu = (alpha.len() + 1) as f64;
            for _ in 0..30 {
                let z = random_point(&mut rng, &alpha, d2, true);
                assert!(dual_feasible(&alpha, &z));
                let mut g = vec![0.0; dim];
                let mut h = LowRankHess::default();
                assert!(dual_grad_hess(&alpha, &z, &mut g, &mut h));
                // log-homogeneity: <g, z> = -nu, H z = -g
                assert!(close(dot(&g, &z), -nu, 1e-10, 0.0));
                let mut hz = vec![0.0; dim];
                h.apply(1.0, &mut hz, &z);
                let mg: Vec<f64> = g.iter().map(|v| -v).collect();
                assert_vec_close(&hz, &mg, 1e-9, "Hz = -g");
                let hd = hess_dense(&h, dim);
                for j in 0..dim {
                    let e = 1e-6 * z[j].abs().max(1e-3 * dot(&z, &z).sqrt());
                    let (mut zp, mut zm) = (z.clone(), z.clone());
                    zp[j] += e;
                    zm[j] -= e;
                    let fd = (dual_barrier(&alpha, &zp) - dual_barrier(&alpha, &zm)) / (2.0 * e);
                    assert!(close(g[j], fd, 1e-6, 1.0), "grad {j}: {} vs fd {fd}", g[j]);
                    let (mut gp, mut gm) = (vec![0.0; dim], vec![0.0; dim]);
                    let mut tmp = LowRankHess::default();
                    assert!(dual_grad_hess(&alpha, &zp, &mut gp, &mut tmp));
                    assert!(dual_grad_hess(&alpha, &zm, &mut gm, &mut tmp));
                    let col: Vec<f64> = (0..dim).map(|i| (gp[i] - gm[i]) / (2.0 * e)).collect();
                    let an: Vec<f64> = (0..dim).map(|i| hd[i][j]).collect();
                    assert_vec_close(&an, &col, 1e-5, "Hess vs FD");
                }
            }
        }
    }

    #[test]
    fn primal_gradient_is_the_conjugate_point_and_fd_of_the_barrier() {
        let mut rng = Lcg(23);
        for (alpha, d2) in cases() {
            let dim = alpha.len() + d2;
            let nu = (alpha.len() + 1) as f64;
            let mut pts: Vec<Vec<f64>> = (0..30).map(|_| random_point(&mut rng, &alpha, d2, false)).collect();
            // near the boundary, y = 0 and tiny y
            let mut edge = random_point(&mut rng, &alpha, d2, false);
            let bound: f64 = alpha.iter().zip(&edge).map(|(a, x)| a * x.ln()).sum::<f64>().exp();
            let ny = dot(&edge[alpha.len()..], &edge[alpha.len()..]).sqrt().max(1e-300);
            for k in alpha.len()..dim {
                edge[k] *= (1.0 - 1e-6) * bound / ny;
            }
            pts.push(edge.clone());
            edge[alpha.len()..].iter_mut().for_each(|v| *v = 0.0);
            pts.push(edge.clone());
            edge[alpha.len()] = 1e-200;
            pts.push(edge);
            for (k, s) in pts.into_iter().enumerate() {
                // the point 1e-6 from the boundary is ill-conditioned (cond ~ 1e6)
                let tol = if k == 30 { 1e-6 } else { 1e-9 };
                let mut z = vec![0.0; dim];
                assert!(primal_conjugate_point(&alpha, &s, &mut z), "no gradient at {s:?}");
                // grad f*(z) = -s and <g(s), s> = -nu
                let mut g = vec![0.0; dim];
                let mut h = LowRankHess::default();
                assert!(dual_grad_hess(&alpha, &z, &mut g, &mut h));
                let ms: Vec<f64> = s.iter().map(|v| -v).collect();
                assert_vec_close(&g, &ms, tol, "grad f*(-g(s)) = -s");
                assert!(close(dot(&z, &s), nu, tol, 0.0));
                // grad of the primal barrier by FD (the random points, away from the boundary)
                if k >= 30 {
                    continue;
                }
                let fb = primal_barrier(&alpha, &s);
                assert!(fb.is_finite());
                for j in 0..dim {
                    let e = 1e-6 * s[j].abs().max(1e-3 * dot(&s, &s).sqrt());
                    let (mut sp, mut sm) = (s.clone(), s.clone());
                    sp[j] += e;
                    sm[j] -= e;
                    if !(primal_feasible(&alpha, &sp) && primal_feasible(&alpha, &sm)) {
                        continue;
                    }
                    let fd = (primal_barrier(&alpha, &sp) - primal_barrier(&alpha, &sm)) / (2.0 * e);
                    assert!(close(-z[j], fd, 1e-5, 1.0), "primal grad {j}: {} vs fd {fd}", -z[j]);
                }
            }
        }
        assert!(!primal_conjugate_point(&[0.5, 0.5], &[1.0, 1.0, 1.5], &mut [0.0; 3]));
        assert_eq!(primal_barrier(&[0.5, 0.5], &[1.0, 1.0, 1.5]), f64::INFINITY);
    }

    #[test]
    fn unit_initialization_is_central() {
        for (alpha, d2) in cases() {
            let cone = GenPowerCone::new(alpha.clone(), d2);
            let dim = cone.dim();
            let (mut z, mut s) = (vec![0.0; dim], vec![0.0; dim]);
            cone.unit_initialization(&mut z, &mut s);
            assert_eq!(s, z);
            assert!(primal_feasible(&alpha, &s) && dual_feasible(&alpha, &z));
            let mut g = vec![0.0; dim];
            assert!(dual_grad_hess(&alpha, &z, &mut g, &mut LowRankHess::default()));
            let mg: Vec<f64> = g.iter().map(|v| -v).collect();
            assert_vec_close(&s, &mg, 1e-14, "s = -grad f*(z)");
            // f(e) + f*(e) = -nu at the central point with mu = 1
            let b = cone.compute_barrier(&z, &s, &vec![0.0; dim], &vec![0.0; dim], 0.0);
            assert!(close(b, -(cone.degree() as f64), 1e-10, 0.0), "{b}");
            assert_eq!(cone.degree(), alpha.len() + 1);
        }
    }

    #[test]
    fn scaling_block_and_product_agree() {
        let mut rng = Lcg(24);
        for (alpha, d2) in cases() {
            let mut cone = GenPowerCone::new(alpha.clone(), d2);
            let dim = cone.dim();
            let s = random_point(&mut rng, &alpha, d2, false);
            let z = random_point(&mut rng, &alpha, d2, true);
            assert!(cone.update_scaling(&s, &z, 0.7, ScalingStrategy::Dual));
            let mut packed = vec![0.0; dim * (dim + 1) / 2];
            cone.hs_block(&mut packed);
            let x: Vec<f64> = (0..dim).map(|_| rng.range(-1.0, 1.0)).collect();
            let mut y = vec![0.0; dim];
            cone.mul_hs(&mut y, &x);
            let mut y2 = vec![0.0; dim];
            for i in 0..dim {
                for j in 0..dim {
                    y2[i] += packed[triu_index(i.min(j), i.max(j))] * x[j];
                }
            }
            assert_vec_close(&y, &y2, 1e-12, "mul_hs vs hs_block");
            // the expanded form D + uu' - vv' is the same matrix
            let (mut dd, mut vv, mut uu) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
            cone.hs_expansion(&mut dd, &mut vv, &mut uu);
            let y3: Vec<f64> = (0..dim).map(|i| dd[i] * x[i] + uu[i] * dot(&uu, &x) - vv[i] * dot(&vv, &x)).collect();
            assert_vec_close(&y3, &y, 1e-10, "expansion vs mul_hs");
            // H = 0.7 Hess f*(z) is positive definite: x'Hx > 0
            assert!(dot(&x, &y) > 0.0);
            // primal-dual request: local mu, so that H z = s on the central path
            let mut e = vec![0.0; dim];
            cone.central_point(&mut e);
            let zz: Vec<f64> = e.iter().map(|v| 3.0 * v).collect();
            assert!(cone.update_scaling(&e, &zz, 100.0, ScalingStrategy::PrimalDual));
            cone.mul_hs(&mut y, &zz);
            assert_vec_close(&y, &e, 1e-12, "central H z = s");
            // z outside K*: failure
            let mut bad = zz.clone();
            bad[0] = -1.0;
            assert!(!cone.update_scaling(&e, &bad, 1.0, ScalingStrategy::Dual));
        }
    }

    #[test]
    fn step_length_backtracks_to_the_boundary() {
        let mut rng = Lcg(25);
        let settings = StepSettings::default();
        for (alpha, d2) in cases() {
            let cone = GenPowerCone::new(alpha.clone(), d2);
            let dim = cone.dim();
            for _ in 0..20 {
                let s = random_point(&mut rng, &alpha, d2, false);
                let z = random_point(&mut rng, &alpha, d2, true);
                let ds: Vec<f64> = (0..dim).map(|_| rng.range(-3.0, 3.0)).collect();
                let dz: Vec<f64> = (0..dim).map(|_| rng.range(-3.0, 3.0)).collect();
                let (az, as_) = cone.step_length(&dz, &ds, &z, &s, &settings, 1.0);
                for (a, q, dq, primal) in [(az, &z, &dz, false), (as_, &s, &ds, true)] {
                    let feas = |a: f64| {
                        let w: Vec<f64> = (0..dim).map(|i| q[i] + a * dq[i]).collect();
                        if primal {
                            primal_feasible(&alpha, &w)
                        } else {
                            dual_feasible(&alpha, &w)
                        }
                    };
                    assert!((0.0..=1.0).contains(&a));
                    if a > 0.0 {
                        assert!(feas(a), "step leaves the cone");
                        if a < 1.0 {
                            assert!(!feas(a / settings.backtrack), "step not maximal");
                        }
                    } else {
                        assert!(!feas(settings.min_step / settings.backtrack));
                    }
                }
            }
            // straight out of the cone: 0; inside along itself: 1
            let mut e = vec![0.0; dim];
            cone.central_point(&mut e);
            let out: Vec<f64> = e.iter().map(|v| -1e6 * v).collect();
            assert_eq!(cone.step_length(&out, &out, &e, &e, &settings, 1.0), (0.0, 0.0));
            assert_eq!(cone.step_length(&e, &e, &e, &e, &settings, 1.0), (1.0, 1.0));
        }
    }

    #[test]
    fn barrier_value_fenchel_young() {
        let mut rng = Lcg(26);
        for (alpha, d2) in cases() {
            let cone = GenPowerCone::new(alpha.clone(), d2);
            let dim = cone.dim();
            let nu = cone.degree() as f64;
            for _ in 0..20 {
                let s = random_point(&mut rng, &alpha, d2, false);
                let z = random_point(&mut rng, &alpha, d2, true);
                let b = cone.compute_barrier(&z, &s, &vec![0.0; dim], &vec![0.0; dim], 0.0);
                // f(s) + f*(z) >= -nu - nu log(<s,z>/nu)
                assert!(b >= -nu - nu * (dot(&s, &z) / nu).ln() - 1e-9, "{b}");
            }
            // f*(t z) = f*(z) - nu log t
            let mut e = vec![0.0; dim];
            cone.central_point(&mut e);
            let b0 = cone.compute_barrier(&e, &e, &vec![0.0; dim], &vec![0.0; dim], 0.0);
            let b1 = cone.compute_barrier(&e, &e, &e, &vec![0.0; dim], 1.0);
            assert!(close(b1, b0 - nu * 2f64.ln(), 1e-12, 1.0));
        }
    }
}
