//! Exponential cone, and the machinery shared by the two 3-dimensional
//! non-symmetric cones (exponential and power; `pow.rs` reuses the `pub(super)`
//! items of this file).
//!
//! Conventions (Clarabel):
//! - primal K_exp  = closure{(x, y, z) : y > 0, y exp(x / y) <= z};
//! - dual   K_exp* = closure{(u, v, w) : u < 0, -u exp(v / u) <= e w}.
//!
//! The method follows Clarabel (Goulart & Chen 2024): the IPM works with the
//! logarithmically homogeneous (degree 3) *dual* barrier
//!     f*(z) = -log psi(z) + h(z),
//! with, for the exponential cone,
//!     psi(z) = z2 - z1 - z1 log(-z3 / z1),   h(z) = -log(-z1) - log(z3),
//! (1-based indices) whose gradient, Hessian and third derivative are
//! evaluated in closed form.  The primal barrier f is the conjugate of f*:
//! g(s) = grad f(s) is the point with grad f*(-g(s)) = -s, found from a closed
//! form guess (Wright omega function for the exponential cone) polished by
//! Newton's method on  min_z f*(z) + <s, z>,  and f(s) = -3 - f*(-g(s)).
//!
//! Scaling: primal-dual scaling (rank-3 BFGS-type update, Tuncel /
//! Dahl-Andersen) H with H z = s and H g(s) = grad f*(z), falling back to the
//! dual scaling H = mu * Hess f*(z).

// NaN-aware `!(x > 0.0)` tests are deliberate; 3x3 loops read best indexed.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

use super::util::{dot, mul3, pack_triu3};
use super::{Cone, ScalingStrategy, StepSettings};

pub(super) type V3 = [f64; 3];
pub(super) type M3 = [[f64; 3]; 3];

/// Central point of the exponential cone: s = z = -grad f*(z) (Clarabel).
const EXP_CENTRAL: V3 = [-1.051383945322714, 0.556409619469370, 1.258967884768947];

// ---------------------------------------------------------------------------
// Exponential cone
// ---------------------------------------------------------------------------

/// The exponential cone (dimension 3, barrier degree 3).
#[derive(Clone, Debug)]
pub struct ExponentialCone {
    barrier: ExpBarrier,
    sc: NonsymScaling,
}

impl ExponentialCone {
    pub fn new() -> Self {
        ExponentialCone { barrier: ExpBarrier, sc: NonsymScaling::new() }
    }
}

impl Default for ExponentialCone {
    fn default() -> Self {
        Self::new()
    }
}

impl Cone for ExponentialCone {
    fn dim(&self) -> usize {
        3
    }
    fn degree(&self) -> usize {
        3
    }
    fn is_symmetric(&self) -> bool {
        false
    }
    fn hs_is_diagonal(&self) -> bool {
        false
    }
    fn margins(&self, _z: &[f64]) -> (f64, f64) {
        // Never called: non-symmetric cones always start from
        // `unit_initialization`, never from a shifted point.
        (0.0, 0.0)
    }
    fn scaled_unit_shift(&self, _z: &mut [f64], _alpha: f64) {
        // Never called (see `margins`).
    }
    fn unit_initialization(&self, z: &mut [f64], s: &mut [f64]) {
        s[..3].copy_from_slice(&EXP_CENTRAL);
        z[..3].copy_from_slice(&EXP_CENTRAL);
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64], mu: f64, strategy: ScalingStrategy) -> bool {
        self.sc.update(&self.barrier, s, z, mu, strategy)
    }
    fn hs_block(&self, out: &mut [f64]) {
        pack_triu3(&self.sc.hs, out);
    }
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        mul3(&self.sc.hs, y, x);
    }
    fn affine_ds(&self, ds: &mut [f64], s: &[f64]) {
        ds[..3].copy_from_slice(&s[..3]);
    }
    fn combined_ds_shift(&mut self, shift: &mut [f64], step_z: &[f64], step_s: &[f64], sigma_mu: f64) {
        self.sc.combined_ds_shift(&self.barrier, shift, step_z, step_s, sigma_mu);
    }
    fn delta_s_from_delta_z_offset(&self, out: &mut [f64], ds: &[f64], _z: &[f64]) {
        out[..3].copy_from_slice(&ds[..3]);
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
        step_length_3d(&self.barrier, dz, ds, z, s, settings, alpha_max)
    }
    fn compute_barrier(&self, z: &[f64], s: &[f64], dz: &[f64], ds: &[f64], alpha: f64) -> f64 {
        compute_barrier_3d(&self.barrier, z, s, dz, ds, alpha)
    }
}

/// Barrier functions of the exponential cone.
#[derive(Clone, Copy, Debug)]
pub(super) struct ExpBarrier;

impl Barrier3 for ExpBarrier {
    fn primal_feasible(&self, s: &[f64]) -> bool {
        // s2 > 0, s3 > 0, s2 log(s3 / s2) - s1 > 0
        all_finite(&s[..3])
            && s[1] > 0.0
            && s[2] > 0.0
            && s[1] * (s[2] / s[1]).ln() - s[0] > 0.0
    }

    fn dual_feasible(&self, z: &[f64]) -> bool {
        // z1 < 0, z3 > 0, psi(z) = z2 - z1 - z1 log(-z3 / z1) > 0
        all_finite(&z[..3])
            && z[0] < 0.0
            && z[2] > 0.0
            && z[1] - z[0] - z[0] * (-z[2] / z[0]).ln() > 0.0
    }

    fn psi(&self, z: &V3) -> (f64, V3, M3) {
        let l = (-z[2] / z[0]).ln();
        let psi = z[1] - z[0] - z[0] * l;
        let g = [-l, 1.0, -z[0] / z[2]];
        let h13 = -1.0 / z[2];
        let h = [
            [1.0 / z[0], 0.0, h13],
            [0.0, 0.0, 0.0],
            [h13, 0.0, z[0] / (z[2] * z[2])],
        ];
        (psi, g, h)
    }

    fn psi_third(&self, z: &V3, u: &V3, v: &V3) -> V3 {
        // nonzero third derivatives: psi_111 = -1/z1^2, psi_133 = 1/z3^2,
        // psi_333 = -2 z1 / z3^3
        let z1s = z[0] * z[0];
        let z3s = z[2] * z[2];
        [
            -u[0] * v[0] / z1s + u[2] * v[2] / z3s,
            0.0,
            (u[0] * v[2] + u[2] * v[0]) / z3s - 2.0 * z[0] * u[2] * v[2] / (z3s * z[2]),
        ]
    }

    fn sep(&self, z: &V3) -> (f64, V3, V3) {
        let val = -(-z[0]).ln() - z[2].ln();
        let g = [-1.0 / z[0], 0.0, -1.0 / z[2]];
        let h = [1.0 / (z[0] * z[0]), 0.0, 1.0 / (z[2] * z[2])];
        (val, g, h)
    }

    fn sep_third(&self, z: &V3, u: &V3, v: &V3) -> V3 {
        [
            -2.0 * u[0] * v[0] / (z[0] * z[0] * z[0]),
            0.0,
            -2.0 * u[2] * v[2] / (z[2] * z[2] * z[2]),
        ]
    }

    fn primal_gradient_guess(&self, s: &V3) -> Option<V3> {
        // Closed form (Clarabel): with w = omega(1 - s1/s2 - log(s2/s3)),
        //   g1 = 1 / ((w - 1) s2),  g2 = g1 + g1 log(w s2 / s3) - 1/s2,
        //   g3 = w / ((1 - w) s3).
        let w = wright_omega(1.0 - s[0] / s[1] - (s[1] / s[2]).ln());
        if !(w.is_finite() && w > 1.0) {
            return None;
        }
        let g0 = 1.0 / ((w - 1.0) * s[1]);
        let g1 = g0 + g0 * (w * s[1] / s[2]).ln() - 1.0 / s[1];
        let g2 = w / ((1.0 - w) * s[2]);
        let g = [g0, g1, g2];
        if all_finite(&g) {
            Some(g)
        } else {
            None
        }
    }

    fn primal_barrier(&self, s: &V3) -> f64 {
        // f(s) = -3 - f*(-g(s)) = -log((w - 1)^2 / w) - 2 log s2 - log s3 - 3
        if !self.primal_feasible(s) {
            return f64::INFINITY;
        }
        let w = wright_omega(1.0 - s[0] / s[1] - (s[1] / s[2]).ln());
        if !(w.is_finite() && w > 1.0) {
            return primal_barrier_generic(self, s);
        }
        let val = -((w - 1.0) * (w - 1.0) / w).ln() - 2.0 * s[1].ln() - s[2].ln() - 3.0;
        if val.is_nan() {
            f64::INFINITY
        } else {
            val
        }
    }

    fn central_point(&self) -> V3 {
        EXP_CENTRAL
    }
}

/// Wright omega function: the solution w > 0 of w + log(w) = x.
/// Asymptotic / Taylor initial guess followed by safeguarded Newton steps
/// (w + log w is concave, so Newton iterates approach the root from below
/// after the first step).
pub(super) fn wright_omega(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return f64::INFINITY;
    }
    if x < -700.0 {
        // w = exp(x - w) with w ~ exp(x) negligible
        return x.exp();
    }
    let mut w = if x > 2.0 {
        let l = x.ln();
        x - l + l / x
    } else if x > -1.0 {
        let d = x - 1.0;
        1.0 + d * (0.5 + d * (1.0 / 16.0 - d / 192.0))
    } else {
        (x - x.exp()).exp()
    };
    for _ in 0..100 {
        // Newton: w <- w - (w + log w - x) / (1 + 1/w)
        let mut wn = w * (1.0 + x - w.ln()) / (1.0 + w);
        if !(wn > 0.0) {
            wn = 0.5 * w;
        }
        let done = (wn - w).abs() <= 2.0 * f64::EPSILON * w;
        w = wn;
        if done {
            break;
        }
    }
    w
}

// ---------------------------------------------------------------------------
// Shared machinery for the 3-d non-symmetric cones
// ---------------------------------------------------------------------------

/// A 3-d non-symmetric cone described by its dual barrier
/// f*(z) = -log psi(z) + h(z), h separable.  All inputs of the derivative
/// functions must be strictly dual feasible.
pub(super) trait Barrier3 {
    /// s strictly inside K.
    fn primal_feasible(&self, s: &[f64]) -> bool;
    /// z strictly inside K*.
    fn dual_feasible(&self, z: &[f64]) -> bool;
    /// psi(z), grad psi(z), Hess psi(z).
    fn psi(&self, z: &V3) -> (f64, V3, M3);
    /// D^3 psi(z)[u, v, .].
    fn psi_third(&self, z: &V3, u: &V3, v: &V3) -> V3;
    /// h(z), grad h(z), diagonal of Hess h(z).
    fn sep(&self, z: &V3) -> (f64, V3, V3);
    /// D^3 h(z)[u, v, .].
    fn sep_third(&self, z: &V3, u: &V3, v: &V3) -> V3;
    /// Cheap (closed form / 1-d Newton) approximation of g(s) = grad f(s);
    /// `s` is strictly primal feasible.
    fn primal_gradient_guess(&self, s: &V3) -> Option<V3>;
    /// Primal barrier f(s) = -3 - f*(-g(s)); +inf outside int K.
    fn primal_barrier(&self, s: &V3) -> f64 {
        primal_barrier_generic(self, s)
    }
    /// Central point e: e = -grad f*(e), e in int K and int K*.
    fn central_point(&self) -> V3;
}

#[inline]
pub(super) fn all_finite(x: &[f64]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// Finite with a positive diagonal.
fn usable_block(h: &M3) -> bool {
    h.iter().all(|r| all_finite(r)) && h[0][0] > 0.0 && h[1][1] > 0.0 && h[2][2] > 0.0
}

#[inline]
fn to3(x: &[f64]) -> V3 {
    [x[0], x[1], x[2]]
}

/// Dual barrier f*(z); +inf outside int K*.
pub(super) fn dual_barrier<C: Barrier3 + ?Sized>(c: &C, z: &V3) -> f64 {
    if !c.dual_feasible(z) {
        return f64::INFINITY;
    }
    let (psi, _, _) = c.psi(z);
    let (h, _, _) = c.sep(z);
    let val = -psi.ln() + h;
    if val.is_nan() {
        f64::INFINITY
    } else {
        val
    }
}

/// Gradient and Hessian of f*(z) at a strictly dual feasible z.
pub(super) fn dual_grad_hess<C: Barrier3 + ?Sized>(c: &C, z: &V3) -> (V3, M3) {
    let (psi, gp, hp) = c.psi(z);
    let (_, gh, hh) = c.sep(z);
    let ip = 1.0 / psi;
    let mut g = [0.0; 3];
    let mut h = [[0.0; 3]; 3];
    for i in 0..3 {
        g[i] = -gp[i] * ip + gh[i];
        for j in 0..3 {
            h[i][j] = -hp[i][j] * ip + gp[i] * gp[j] * ip * ip;
        }
        h[i][i] += hh[i];
    }
    (g, h)
}

/// Third derivative D^3 f*(z)[u, v, .].
pub(super) fn dual_third<C: Barrier3 + ?Sized>(c: &C, z: &V3, u: &V3, v: &V3) -> V3 {
    let (psi, gp, hp) = c.psi(z);
    let t = c.psi_third(z, u, v);
    let th = c.sep_third(z, u, v);
    let gu = dot(&gp, u);
    let gv = dot(&gp, v);
    let mut hu = [0.0; 3];
    let mut hv = [0.0; 3];
    mul3(&hp, &mut hu, u);
    mul3(&hp, &mut hv, v);
    let uhv = dot(u, &hv);
    let ip = 1.0 / psi;
    let ip2 = ip * ip;
    let mut out = [0.0; 3];
    for i in 0..3 {
        // D^3(-log psi)[u,v,w] = -psi'''/psi + (psi''[u,v] psi'[w] + psi''[u,w] psi'[v]
        //                        + psi''[v,w] psi'[u]) / psi^2 - 2 psi'[u] psi'[v] psi'[w] / psi^3
        out[i] = -t[i] * ip + (uhv * gp[i] + hu[i] * gv + hv[i] * gu) * ip2
            - 2.0 * gu * gv * gp[i] * ip2 * ip
            + th[i];
    }
    out
}

/// Cholesky factor (lower) of a symmetric 3x3 matrix; None unless positive definite.
pub(super) fn chol3(a: &M3) -> Option<M3> {
    let mut l = [[0.0; 3]; 3];
    for j in 0..3 {
        let mut d = a[j][j];
        for k in 0..j {
            d -= l[j][k] * l[j][k];
        }
        if !(d > 0.0) || !d.is_finite() {
            return None;
        }
        let djj = d.sqrt();
        l[j][j] = djj;
        for i in (j + 1)..3 {
            let mut v = a[i][j];
            for k in 0..j {
                v -= l[i][k] * l[j][k];
            }
            l[i][j] = v / djj;
        }
    }
    Some(l)
}

/// Solve (L L') x = b.
pub(super) fn chol3_solve(l: &M3, b: &V3) -> V3 {
    let mut y = [0.0; 3];
    for i in 0..3 {
        let mut v = b[i];
        for k in 0..i {
            v -= l[i][k] * y[k];
        }
        y[i] = v / l[i][i];
    }
    let mut x = [0.0; 3];
    for i in (0..3).rev() {
        let mut v = y[i];
        for k in (i + 1)..3 {
            v -= l[k][i] * x[k];
        }
        x[i] = v / l[i][i];
    }
    x
}

/// Newton decrement squared below which the damped-Newton fallback (no
/// closed-form guess available) is accepted.
const PRIMAL_GRAD_TOL: f64 = 1e-12;

/// Primal gradient g(s) = grad f(s), i.e. g = -z with grad f*(z) = -s.
///
/// The cone-specific closed-form guess (as in Clarabel) is polished by Newton
/// steps on F(z) = f*(z) + <s, z>, keeping an iterate only when it lowers the
/// Newton decrement.  Close to the boundary of K the guess is only as accurate
/// as the problem allows (the distance of s to the boundary is known to
/// ~eps/gap relative precision) and Hess f* may be numerically singular; the
/// guess is then used as it is, as Clarabel does.  Without a usable guess,
/// damped Newton starts from a scaled central point and must converge.
/// None when s is not strictly primal feasible or no gradient was found.
pub(super) fn primal_gradient<C: Barrier3 + ?Sized>(c: &C, s: &V3) -> Option<V3> {
    if !c.primal_feasible(s) {
        return None;
    }
    let guess = match c.primal_gradient_guess(s) {
        Some(g) if all_finite(&g) && c.dual_feasible(&[-g[0], -g[1], -g[2]]) => {
            Some([-g[0], -g[1], -g[2]])
        }
        _ => None,
    };
    let (mut z, max_iter) = match guess {
        Some(z0) => (z0, 4),
        None => {
            // minimiser of F along the ray t e (f* is 3-log-homogeneous)
            let e = c.central_point();
            let t = 3.0 / dot(s, &e);
            if !(t > 0.0 && t.is_finite()) {
                return None;
            }
            ([t * e[0], t * e[1], t * e[2]], 200)
        }
    };
    let mut best_z = z;
    let mut best_lam2 = f64::INFINITY;
    for _ in 0..max_iter {
        let (g, h) = dual_grad_hess(c, &z);
        let r = [g[0] + s[0], g[1] + s[1], g[2] + s[2]];
        let l = match chol3(&h) {
            Some(l) => l,
            None => break, // Hess f* numerically singular
        };
        let d = chol3_solve(&l, &r); // Newton step is -d
        let lam2 = dot(&r, &d);
        if !lam2.is_finite() {
            break;
        }
        if lam2 < best_lam2 {
            best_lam2 = lam2;
            best_z = z;
        } else if guess.is_some() || best_lam2 <= PRIMAL_GRAD_TOL {
            // no progress: rounding level reached (in the damped phase of the
            // fallback the decrement need not decrease monotonically)
            break;
        }
        if lam2 < 1e-30 {
            break;
        }
        let lam = lam2.max(0.0).sqrt();
        let mut step = if lam > 0.25 { 1.0 / (1.0 + lam) } else { 1.0 };
        let mut zn = [z[0] - step * d[0], z[1] - step * d[1], z[2] - step * d[2]];
        if !c.dual_feasible(&zn) {
            // damped steps of length 1/(1+lam) stay inside (self-concordance)
            step = 1.0 / (1.0 + lam);
            zn = [z[0] - step * d[0], z[1] - step * d[1], z[2] - step * d[2]];
            if !c.dual_feasible(&zn) {
                break;
            }
        }
        z = zn;
    }
    if guess.is_some() {
        // best_z is the guess unless a Newton step verifiably improved it
        Some([-best_z[0], -best_z[1], -best_z[2]])
    } else if best_lam2 <= PRIMAL_GRAD_TOL {
        Some([-best_z[0], -best_z[1], -best_z[2]])
    } else {
        None
    }
}

/// Primal barrier via conjugacy: f(s) = -3 - f*(-g(s)); +inf outside int K.
pub(super) fn primal_barrier_generic<C: Barrier3 + ?Sized>(c: &C, s: &V3) -> f64 {
    match primal_gradient(c, s) {
        Some(g) => {
            let val = -3.0 - dual_barrier(c, &[-g[0], -g[1], -g[2]]);
            if val.is_nan() {
                f64::INFINITY
            } else {
                val
            }
        }
        None => f64::INFINITY,
    }
}

/// Scaling state shared by the exponential and power cones.
#[derive(Clone, Debug)]
pub(super) struct NonsymScaling {
    /// z at the last `update_scaling`.
    pub(super) z: V3,
    /// grad f*(z).
    pub(super) grad: V3,
    /// Hess f*(z).
    pub(super) h_dual: M3,
    /// The KKT block H (primal-dual or dual scaling).
    pub(super) hs: M3,
}

impl NonsymScaling {
    pub(super) fn new() -> Self {
        NonsymScaling { z: [0.0; 3], grad: [0.0; 3], h_dual: [[0.0; 3]; 3], hs: [[0.0; 3]; 3] }
    }

    pub(super) fn update<C: Barrier3 + ?Sized>(
        &mut self,
        c: &C,
        s: &[f64],
        z: &[f64],
        mu: f64,
        strategy: ScalingStrategy,
    ) -> bool {
        let z = to3(z);
        let s = to3(s);
        if !c.dual_feasible(&z) {
            return false;
        }
        let (grad, h) = dual_grad_hess(c, &z);
        if !all_finite(&grad) || !h.iter().all(|r| all_finite(r)) {
            return false;
        }
        self.z = z;
        self.grad = grad;
        self.h_dual = h;

        if strategy == ScalingStrategy::PrimalDual && self.use_primal_dual(c, &s) {
            return true;
        }

        // Dual scaling H = mu Hess f*(z).  As in Clarabel, the fallback from
        // the primal-dual scaling uses the local mu = <s,z>/3 (exact H z = s on
        // the central path); an explicit `Dual` request uses the given mu.
        let mut m = mu;
        if strategy == ScalingStrategy::PrimalDual {
            let local = dot(&s, &z) / 3.0;
            if local > 0.0 && local.is_finite() {
                m = local;
            }
        }
        if !(m > 0.0 && m.is_finite()) {
            return false;
        }
        let mut hs = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                hs[i][j] = m * h[i][j];
            }
        }
        // no PD test: near the boundary Hess f* is PD but numerically singular,
        // which the (regularised) KKT factorisation has to cope with anyway
        if !usable_block(&hs) {
            return false;
        }
        self.hs = hs;
        true
    }

    /// Primal-dual scaling (Clarabel / Dahl-Andersen):
    /// H = s s'/<s,z> + ds ds'/<ds,dz> + t a a', with ds = s + mu st,
    /// dz = z + mu zt, st = grad f*(z), zt = g(s), a = z x zt / |z x zt|.
    /// Satisfies H z = s and H zt = st.  Returns false (and leaves hs
    /// unchanged) when it is numerically unreliable.
    fn use_primal_dual<C: Barrier3 + ?Sized>(&mut self, c: &C, s: &V3) -> bool {
        let zt = match primal_gradient(c, s) {
            Some(g) => g,
            None => return false,
        };
        let z = &self.z;
        let st = &self.grad;
        let hd = &self.h_dual;

        let dot_sz = dot(s, z);
        let mu = dot_sz / 3.0;
        let mut_ = dot(st, &zt) / 3.0;
        let mut ds = [0.0; 3];
        let mut dz = [0.0; 3];
        for i in 0..3 {
            ds[i] = s[i] + mu * st[i];
            dz[i] = z[i] + mu * zt[i];
        }
        let dot_dsz = dot(&ds, &dz);
        let mut hzt = [0.0; 3];
        mul3(hd, &mut hzt, &zt);
        let de1 = mu * mut_ - 1.0;
        let de2 = dot(&zt, &hzt) - 3.0 * mut_ * mut_;

        if !(de1.abs() > f64::EPSILON.sqrt()   // too close to the central path
            && de2.abs() > f64::EPSILON
            && dot_sz > 0.0
            && dot_dsz > 0.0
            && dot_sz.is_finite()
            && dot_dsz.is_finite())
        {
            return false;
        }

        // t = mu * || Hess f*(z) - st st'/3 - tmp tmp'/de2 ||_F, tmp = mut st - H zt
        let mut tmp = [0.0; 3];
        for i in 0..3 {
            tmp[i] = mut_ * st[i] - hzt[i];
        }
        let mut fro2 = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                let w = hd[i][j] - st[i] * st[j] / 3.0 - tmp[i] * tmp[j] / de2;
                fro2 += w * w;
            }
        }
        let t = mu * fro2.sqrt();

        let mut a = [
            z[1] * zt[2] - z[2] * zt[1],
            z[2] * zt[0] - z[0] * zt[2],
            z[0] * zt[1] - z[1] * zt[0],
        ];
        let na = dot(&a, &a).sqrt();
        if !(na > 0.0 && na.is_finite()) {
            return false;
        }
        for v in a.iter_mut() {
            *v /= na;
        }

        let mut hs = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                hs[i][j] = s[i] * s[j] / dot_sz + ds[i] * ds[j] / dot_dsz + t * a[i] * a[j];
            }
        }
        // PSD by construction (<s,z> > 0, <ds,dz> > 0, t >= 0)
        if !usable_block(&hs) {
            return false;
        }
        self.hs = hs;
        true
    }

    /// shift = sigma_mu grad f*(z) + eta, with the third-order correction
    /// eta = -1/2 D^3 f*(z)[step_z, Hess f*(z)^{-1} step_s] at the z of the last
    /// `update_scaling` (eta = 0 if that Hessian cannot be factored).
    /// Derivation: the second-order term of s + mu grad f*(z + a dz) along the
    /// affine step is 1/2 mu D^3 f*[dz, dz] ~ eta (mu Hess f* dz ~ -ds), and it
    /// moves to the right-hand side: ds + H dz = -(s + sigma mu g + eta).
    pub(super) fn combined_ds_shift<C: Barrier3 + ?Sized>(
        &self,
        c: &C,
        shift: &mut [f64],
        step_z: &[f64],
        step_s: &[f64],
        sigma_mu: f64,
    ) {
        let eta = self.eta(c, &to3(step_z), &to3(step_s));
        for i in 0..3 {
            shift[i] = sigma_mu * self.grad[i] + eta[i];
        }
    }

    pub(super) fn eta<C: Barrier3 + ?Sized>(&self, c: &C, step_z: &V3, step_s: &V3) -> V3 {
        let l = match chol3(&self.h_dual) {
            Some(l) => l,
            None => return [0.0; 3],
        };
        let u = chol3_solve(&l, step_s);
        let t = dual_third(c, &self.z, &u, step_z);
        let eta = [-0.5 * t[0], -0.5 * t[1], -0.5 * t[2]];
        if all_finite(&eta) {
            eta
        } else {
            [0.0; 3]
        }
    }
}

/// Largest a in {alpha_max * backtrack^k} with q + a dq strictly inside the
/// cone tested by `feasible`; 0 once a drops below `min_step`.
pub(super) fn backtrack(
    q: &[f64],
    dq: &[f64],
    alpha_max: f64,
    settings: &StepSettings,
    feasible: impl Fn(&[f64]) -> bool,
) -> f64 {
    if !(alpha_max > 0.0) {
        return 0.0;
    }
    let mut a = alpha_max;
    for _ in 0..10_000 {
        let w = [q[0] + a * dq[0], q[1] + a * dq[1], q[2] + a * dq[2]];
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

pub(super) fn step_length_3d<C: Barrier3 + ?Sized>(
    c: &C,
    dz: &[f64],
    ds: &[f64],
    z: &[f64],
    s: &[f64],
    settings: &StepSettings,
    alpha_max: f64,
) -> (f64, f64) {
    let az = backtrack(z, dz, alpha_max, settings, |w| c.dual_feasible(w));
    let as_ = backtrack(s, ds, alpha_max, settings, |w| c.primal_feasible(w));
    (az, as_)
}

pub(super) fn compute_barrier_3d<C: Barrier3 + ?Sized>(
    c: &C,
    z: &[f64],
    s: &[f64],
    dz: &[f64],
    ds: &[f64],
    alpha: f64,
) -> f64 {
    let cz = [z[0] + alpha * dz[0], z[1] + alpha * dz[1], z[2] + alpha * dz[2]];
    let cs = [s[0] + alpha * ds[0], s[1] + alpha * ds[1], s[2] + alpha * ds[2]];
    let b = dual_barrier(c, &cz) + c.primal_barrier(&cs);
    if b.is_nan() {
        f64::INFINITY
    } else {
        b
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// Generic checks shared by the exp and pow tests.
#[cfg(test)]
pub(super) mod test_support {
    use super::*;

    /// Small deterministic generator (no dependencies).
    pub struct Lcg(pub u64);
    impl Lcg {
        pub fn unif(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
        }
        pub fn range(&mut self, a: f64, b: f64) -> f64 {
            a + (b - a) * self.unif()
        }
        pub fn sign(&mut self) -> f64 {
            if self.unif() < 0.5 {
                -1.0
            } else {
                1.0
            }
        }
    }

    pub fn close(a: f64, b: f64, rtol: f64, scale: f64) -> bool {
        (a - b).abs() <= rtol * (scale + a.abs().max(b.abs()))
    }

    pub fn assert_vec_close(a: &[f64], b: &[f64], rtol: f64, what: &str) {
        let scale = a.iter().chain(b).fold(0.0f64, |m, v| m.max(v.abs()));
        for i in 0..a.len() {
            assert!(
                (a[i] - b[i]).abs() <= rtol * scale.max(1e-300),
                "{what}: component {i}: {:?} vs {:?}",
                a,
                b
            );
        }
    }

    fn plus(z: &V3, h: f64, i: usize) -> V3 {
        let mut w = *z;
        w[i] += h;
        w
    }

    /// gradient vs FD of f*, Hessian vs FD of gradient, homogeneity identities,
    /// third derivative vs FD of Hessian.
    pub fn check_dual_derivatives<C: Barrier3>(c: &C, z: &V3, rng: &mut Lcg) {
        assert!(c.dual_feasible(z));
        let (g, h) = dual_grad_hess(c, z);
        // logarithmic homogeneity: -<g, z> = 3, H z = -g
        assert!(close(-dot(&g, z), 3.0, 1e-10, 0.0), "-<g,z> = {}", -dot(&g, z));
        let mut hz = [0.0; 3];
        mul3(&h, &mut hz, z);
        assert_vec_close(&hz, &[-g[0], -g[1], -g[2]], 1e-9, "Hz = -g");
        // finite differences (central, step relative to |z_i|)
        let mut gfd = [0.0; 3];
        let mut hfd = [[0.0; 3]; 3];
        for i in 0..3 {
            let hh = 1e-6 * z[i].abs().max(1e-3 * (dot(z, z).sqrt()));
            gfd[i] = (dual_barrier(c, &plus(z, hh, i)) - dual_barrier(c, &plus(z, -hh, i))) / (2.0 * hh);
            let (gp, _) = dual_grad_hess(c, &plus(z, hh, i));
            let (gm, _) = dual_grad_hess(c, &plus(z, -hh, i));
            for j in 0..3 {
                hfd[j][i] = (gp[j] - gm[j]) / (2.0 * hh);
            }
        }
        assert_vec_close(&g, &gfd, 1e-6, "grad f* vs FD");
        for i in 0..3 {
            assert_vec_close(&h[i], &hfd[i], 1e-5, "Hess f* vs FD");
            for j in 0..3 {
                assert!(close(h[i][j], h[j][i], 1e-14, 0.0));
            }
        }
        assert!(chol3(&h).is_some(), "Hess f* not PD");
        // third derivative vs FD of the Hessian along v, applied to u
        let u = [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)];
        let mut v = [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)];
        let nz = dot(z, z).sqrt();
        for x in v.iter_mut() {
            *x *= nz;
        }
        let t = dual_third(c, z, &u, &v);
        let eps = 1e-6;
        let zp = [z[0] + eps * v[0], z[1] + eps * v[1], z[2] + eps * v[2]];
        let zm = [z[0] - eps * v[0], z[1] - eps * v[1], z[2] - eps * v[2]];
        let (_, hp) = dual_grad_hess(c, &zp);
        let (_, hm) = dual_grad_hess(c, &zm);
        let mut hpu = [0.0; 3];
        let mut hmu = [0.0; 3];
        mul3(&hp, &mut hpu, &u);
        mul3(&hm, &mut hmu, &u);
        let tfd = [
            (hpu[0] - hmu[0]) / (2.0 * eps),
            (hpu[1] - hmu[1]) / (2.0 * eps),
            (hpu[2] - hmu[2]) / (2.0 * eps),
        ];
        assert_vec_close(&t, &tfd, 1e-5, "D3 f* vs FD");
        // symmetric in (u, v)
        assert_vec_close(&t, &dual_third(c, z, &v, &u), 1e-10, "D3 symmetry");
    }

    /// primal gradient: conjugacy, homogeneity, FD of the primal barrier.
    pub fn check_primal_gradient<C: Barrier3>(c: &C, s: &V3, guess_tol: f64) {
        assert!(c.primal_feasible(s));
        let g = primal_gradient(c, s).expect("primal gradient failed");
        let mz = [-g[0], -g[1], -g[2]];
        assert!(c.dual_feasible(&mz));
        let (gd, _) = dual_grad_hess(c, &mz);
        assert_vec_close(&gd, &[-s[0], -s[1], -s[2]], 1e-9, "grad f*(-g(s)) = -s");
        assert!(close(dot(&g, s), -3.0, 1e-9, 0.0), "<g(s),s> = {}", dot(&g, s));
        // the cheap guess alone is already accurate
        if let Some(g0) = c.primal_gradient_guess(s) {
            assert_vec_close(&g0, &g, guess_tol, "primal gradient guess");
        }
        // gradient of the primal barrier by FD
        let mut gfd = [0.0; 3];
        for i in 0..3 {
            let hh = 1e-6 * s[i].abs().max(1e-3 * dot(s, s).sqrt());
            gfd[i] = (c.primal_barrier(&plus(s, hh, i)) - c.primal_barrier(&plus(s, -hh, i))) / (2.0 * hh);
        }
        assert_vec_close(&g, &gfd, 1e-6, "grad f vs FD");
        // closed form vs generic conjugate value
        let pb = c.primal_barrier(s);
        let pg = primal_barrier_generic(c, s);
        assert!(close(pb, pg, 1e-9, 1.0), "primal barrier {pb} vs {pg}");
    }

    /// Primal-dual scaling: secant conditions, symmetry, PD, packing.
    pub fn check_scaling<K: Cone, C: Barrier3>(cone: &mut K, c: &C, s: &V3, z: &V3) {
        assert!(cone.update_scaling(s, z, 0.7, ScalingStrategy::PrimalDual));
        let mut packed = [0.0; 6];
        cone.hs_block(&mut packed);
        let mut hm = [[0.0; 3]; 3];
        for j in 0..3 {
            for i in 0..=j {
                hm[i][j] = packed[super::super::util::triu_index(i, j)];
                hm[j][i] = hm[i][j];
            }
        }
        assert!(chol3(&hm).is_some(), "H not PD");
        let mut y = [0.0; 3];
        cone.mul_hs(&mut y, z);
        let mut y2 = [0.0; 3];
        mul3(&hm, &mut y2, z);
        assert_vec_close(&y, &y2, 1e-14, "mul_hs vs hs_block");
        assert_vec_close(&y, s, 1e-9, "H z = s");
        let zt = primal_gradient(c, s).unwrap();
        let (st, hd) = dual_grad_hess(c, z);
        cone.mul_hs(&mut y, &zt);
        assert_vec_close(&y, &st, 1e-8, "H g(s) = grad f*(z)");

        // dual scaling: H = mu Hess f*(z)
        assert!(cone.update_scaling(s, z, 0.7, ScalingStrategy::Dual));
        cone.hs_block(&mut packed);
        for j in 0..3 {
            for i in 0..=j {
                let v = packed[super::super::util::triu_index(i, j)];
                assert!(close(v, 0.7 * hd[i][j], 1e-12, 0.0));
            }
        }
    }

    /// Backtracking step: feasible, and maximal up to the backtracking factor.
    pub fn check_step<K: Cone, C: Barrier3>(cone: &K, c: &C, s: &V3, z: &V3, rng: &mut Lcg) {
        let settings = StepSettings::default();
        for _ in 0..20 {
            let ds = [rng.range(-3.0, 3.0), rng.range(-3.0, 3.0), rng.range(-3.0, 3.0)];
            let dz = [rng.range(-3.0, 3.0), rng.range(-3.0, 3.0), rng.range(-3.0, 3.0)];
            let (az, as_) = cone.step_length(&dz, &ds, z, s, &settings, 1.0);
            for (a, q, dq, primal) in [(az, z, &dz, false), (as_, s, &ds, true)] {
                let feas = |a: f64| {
                    let w = [q[0] + a * dq[0], q[1] + a * dq[1], q[2] + a * dq[2]];
                    if primal {
                        c.primal_feasible(&w)
                    } else {
                        c.dual_feasible(&w)
                    }
                };
                assert!((0.0..=1.0).contains(&a));
                if a > 0.0 {
                    assert!(a >= settings.min_step);
                    assert!(feas(a), "step leaves the cone");
                    if a < 1.0 {
                        assert!(!feas(a / settings.backtrack), "step not maximal");
                    }
                } else {
                    assert!(!feas(settings.min_step / settings.backtrack));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    fn random_primal(rng: &mut Lcg) -> V3 {
        // y > 0, z = y exp(x/y) (1 + margin)
        let y = rng.range(-2.0, 2.0).exp();
        let x = rng.range(-3.0, 2.0) * y;
        let z = y * (x / y).exp() * (1.0 + rng.range(0.01, 3.0));
        [x, y, z]
    }

    fn random_dual(rng: &mut Lcg) -> V3 {
        // u < 0, w > 0, v = psi + u + u log(-w/u) with psi > 0
        let u = -rng.range(-2.0, 2.0).exp();
        let w = rng.range(-2.0, 2.0).exp();
        let psi = rng.range(0.01, 3.0) * u.abs();
        let v = psi + u + u * (-w / u).ln();
        [u, v, w]
    }

    #[test]
    fn membership() {
        let b = ExpBarrier;
        assert!(b.primal_feasible(&[0.0, 1.0, 1.01]));
        assert!(!b.primal_feasible(&[0.0, 1.0, 0.99]));
        assert!(b.primal_feasible(&[-10.0, 1.0, 1e-3]));
        assert!(!b.primal_feasible(&[1.0, 1.0, std::f64::consts::E * 0.999]));
        assert!(b.primal_feasible(&[1.0, 1.0, std::f64::consts::E * 1.001]));
        assert!(!b.primal_feasible(&[-1.0, 0.0, 1.0])); // boundary (y = 0)
        assert!(!b.primal_feasible(&[-1.0, -1.0, 1.0]));
        assert!(b.dual_feasible(&[-1.0, 0.0, 1.0])); // e^{-1} <= 1
        assert!(!b.dual_feasible(&[-1.0, -5.0, 1.0]));
        assert!(!b.dual_feasible(&[1.0, 0.0, 1.0]));
        assert!(!b.dual_feasible(&[-1.0, 0.0, 0.0]));
        assert!(!b.dual_feasible(&[f64::NAN, 0.0, 1.0]));
        // -u exp(v/u) <= e w  <=>  psi > 0
        let (u, v) = (-2.0f64, 1.0f64);
        let wb = -u * (v / u).exp() / std::f64::consts::E;
        assert!(b.dual_feasible(&[u, v, wb * 1.001]));
        assert!(!b.dual_feasible(&[u, v, wb * 0.999]));
    }

    #[test]
    fn wright_omega_solves() {
        for &x in &[-50.0, -5.0, -1.0, 0.0, 1.0, 1.0 + 1e-12, 1.5, 2.0, 3.0, 10.0, 1e3, 1e7, 1e12, 1e100] {
            let w = wright_omega(x);
            assert!(w > 0.0);
            let res = w + w.ln() - x;
            assert!(res.abs() <= 4e-16 * x.abs().max(1.0) * 4.0, "x = {x}, res = {res}");
        }
    }

    #[test]
    fn dual_derivatives() {
        let mut rng = Lcg(1);
        let b = ExpBarrier;
        check_dual_derivatives(&b, &EXP_CENTRAL, &mut rng);
        for _ in 0..200 {
            let z = random_dual(&mut rng);
            check_dual_derivatives(&b, &z, &mut rng);
        }
    }

    #[test]
    fn primal_gradient_and_barrier() {
        let mut rng = Lcg(2);
        let b = ExpBarrier;
        check_primal_gradient(&b, &EXP_CENTRAL, 1e-10);
        for _ in 0..200 {
            let s = random_primal(&mut rng);
            check_primal_gradient(&b, &s, 1e-9);
        }
        // near the boundary and badly scaled
        for s in [[0.0, 1.0, 1.0 + 1e-6], [-30.0, 1.0, 1e-3], [1e3, 1e2, 1e2 * 10f64.exp() * 1.1], [-1e-3, 1e4, 1e4]] {
            assert!(b.primal_feasible(&s));
            let g = primal_gradient(&b, &s).unwrap();
            let (gd, _) = dual_grad_hess(&b, &[-g[0], -g[1], -g[2]]);
            assert_vec_close(&gd, &[-s[0], -s[1], -s[2]], 1e-7, "boundary conjugacy");
        }
        // the damped-Newton fallback alone (no guess) also converges
        struct NoGuess;
        impl Barrier3 for NoGuess {
            fn primal_feasible(&self, s: &[f64]) -> bool { ExpBarrier.primal_feasible(s) }
            fn dual_feasible(&self, z: &[f64]) -> bool { ExpBarrier.dual_feasible(z) }
            fn psi(&self, z: &V3) -> (f64, V3, M3) { ExpBarrier.psi(z) }
            fn psi_third(&self, z: &V3, u: &V3, v: &V3) -> V3 { ExpBarrier.psi_third(z, u, v) }
            fn sep(&self, z: &V3) -> (f64, V3, V3) { ExpBarrier.sep(z) }
            fn sep_third(&self, z: &V3, u: &V3, v: &V3) -> V3 { ExpBarrier.sep_third(z, u, v) }
            fn primal_gradient_guess(&self, _s: &V3) -> Option<V3> { None }
            fn central_point(&self) -> V3 { EXP_CENTRAL }
        }
        for _ in 0..50 {
            let s = random_primal(&mut rng);
            let g = primal_gradient(&NoGuess, &s).unwrap();
            let g2 = primal_gradient(&b, &s).unwrap();
            assert_vec_close(&g, &g2, 1e-8, "fallback Newton");
        }
        assert!(primal_gradient(&b, &[0.0, 1.0, 0.5]).is_none());
        assert_eq!(b.primal_barrier(&[0.0, 1.0, 0.5]), f64::INFINITY);
    }

    #[test]
    fn unit_initialization_is_central() {
        let cone = ExponentialCone::new();
        let (mut z, mut s) = ([0.0; 3], [0.0; 3]);
        cone.unit_initialization(&mut z, &mut s);
        assert_eq!(s, z);
        let b = ExpBarrier;
        assert!(b.primal_feasible(&s) && b.dual_feasible(&z));
        let (g, _) = dual_grad_hess(&b, &z);
        // Clarabel's constants are central to ~5e-9 only
        assert_vec_close(&s, &[-g[0], -g[1], -g[2]], 1e-8, "s = -grad f*(z)");
        assert_eq!(cone.dim(), 3);
        assert_eq!(cone.degree(), 3);
        assert!(!cone.is_symmetric() && !cone.hs_is_diagonal());
    }

    #[test]
    fn scaling() {
        let mut rng = Lcg(3);
        let b = ExpBarrier;
        let mut cone = ExponentialCone::new();
        for _ in 0..200 {
            let s = random_primal(&mut rng);
            let z = random_dual(&mut rng);
            check_scaling(&mut cone, &b, &s, &z);
        }
        // central pair: primal-dual update degenerates, falls back to the dual
        // scaling with the local mu, which still maps z to s
        let (mut z, mut s) = ([0.0; 3], [0.0; 3]);
        cone.unit_initialization(&mut z, &mut s);
        let zz = [2.0 * z[0], 2.0 * z[1], 2.0 * z[2]];
        assert!(cone.update_scaling(&s, &zz, 123.0, ScalingStrategy::PrimalDual));
        let mut y = [0.0; 3];
        cone.mul_hs(&mut y, &zz);
        assert_vec_close(&y, &s, 1e-8, "central H z = s");
        // z outside K*: failure
        assert!(!cone.update_scaling(&s, &[1.0, 0.0, 1.0], 1.0, ScalingStrategy::Dual));
        // s outside K: primal-dual falls back to dual scaling
        assert!(cone.update_scaling(&[0.0, 1.0, 0.5], &z, 1.0, ScalingStrategy::PrimalDual));
    }

    #[test]
    fn third_order_correction() {
        let mut rng = Lcg(4);
        let b = ExpBarrier;
        let mut cone = ExponentialCone::new();
        for _ in 0..100 {
            let s = random_primal(&mut rng);
            let z = random_dual(&mut rng);
            assert!(cone.update_scaling(&s, &z, 1.0, ScalingStrategy::PrimalDual));
            let dz = [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)];
            let ds = [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)];
            let sigma_mu = 0.3;
            let mut shift = [0.0; 3];
            cone.combined_ds_shift(&mut shift, &dz, &ds, sigma_mu);
            // eta = -1/2 D^3 f*(z)[dz, u], Hess f*(z) u = ds, by FD of the Hessian
            let (g, h) = dual_grad_hess(&b, &z);
            let u = chol3_solve(&chol3(&h).unwrap(), &ds);
            let e = 1e-6;
            let (_, hp) = dual_grad_hess(&b, &[z[0] + e * dz[0], z[1] + e * dz[1], z[2] + e * dz[2]]);
            let (_, hm) = dual_grad_hess(&b, &[z[0] - e * dz[0], z[1] - e * dz[1], z[2] - e * dz[2]]);
            let (mut a, mut c) = ([0.0; 3], [0.0; 3]);
            mul3(&hp, &mut a, &u);
            mul3(&hm, &mut c, &u);
            let eta_fd = [-0.5 * (a[0] - c[0]) / (2.0 * e), -0.5 * (a[1] - c[1]) / (2.0 * e), -0.5 * (a[2] - c[2]) / (2.0 * e)];
            let expected = [sigma_mu * g[0] + eta_fd[0], sigma_mu * g[1] + eta_fd[1], sigma_mu * g[2] + eta_fd[2]];
            assert_vec_close(&shift, &expected, 1e-5, "combined shift");
            // zero affine step: pure centering
            cone.combined_ds_shift(&mut shift, &[0.0; 3], &[0.0; 3], sigma_mu);
            assert_vec_close(&shift, &[sigma_mu * g[0], sigma_mu * g[1], sigma_mu * g[2]], 1e-15, "centering");
        }
    }

    #[test]
    fn step_length_backtracks() {
        let mut rng = Lcg(5);
        let cone = ExponentialCone::new();
        for _ in 0..50 {
            let s = random_primal(&mut rng);
            let z = random_dual(&mut rng);
            check_step(&cone, &ExpBarrier, &s, &z, &mut rng);
        }
        // a direction staying inside gives the full step
        let (mut z, mut s) = ([0.0; 3], [0.0; 3]);
        cone.unit_initialization(&mut z, &mut s);
        let (az, as_) = cone.step_length(&z, &s, &z, &s, &StepSettings::default(), 1.0);
        assert_eq!((az, as_), (1.0, 1.0));
        // straight out of the cone: 0
        let (az, as_) = cone.step_length(&[1e6, 0.0, 0.0], &[1e6, 0.0, 0.0], &z, &s, &StepSettings::default(), 1.0);
        assert_eq!((az, as_), (0.0, 0.0));
    }

    #[test]
    fn barrier_value() {
        let cone = ExponentialCone::new();
        let (mut z, mut s) = ([0.0; 3], [0.0; 3]);
        cone.unit_initialization(&mut z, &mut s);
        let b0 = cone.compute_barrier(&z, &s, &[0.0; 3], &[0.0; 3], 0.5);
        let expect = dual_barrier(&ExpBarrier, &z) + ExpBarrier.primal_barrier(&s);
        assert!(b0.is_finite() && close(b0, expect, 1e-14, 0.0));
        // at a central point f(s) + f*(z) = -3 - 3 log(mu) (mu = 1 here)
        assert!(close(b0, -3.0, 1e-9, 0.0), "{b0}");
        // scaling: f*(t z) = f*(z) - 3 log t
        let b1 = cone.compute_barrier(&z, &s, &z, &[0.0; 3], 1.0);
        assert!(close(b1, b0 - 3.0 * 2f64.ln(), 1e-12, 1.0));
        // Fenchel-Young: f(s) + f*(z) >= -3 - 3 log(<s,z>/3), equality on the central path
        let mut rng = Lcg(6);
        for _ in 0..100 {
            let (s, z) = (random_primal(&mut rng), random_dual(&mut rng));
            let bv = cone.compute_barrier(&z, &s, &[0.0; 3], &[0.0; 3], 0.0);
            assert!(bv >= -3.0 - 3.0 * (dot(&s, &z) / 3.0).ln() - 1e-10);
        }
        assert_eq!(cone.compute_barrier(&z, &s, &[1e6, 0.0, 0.0], &[0.0; 3], 1.0), f64::INFINITY);
        assert_eq!(cone.compute_barrier(&z, &s, &[0.0; 3], &[1e6, 0.0, 0.0], 1.0), f64::INFINITY);
    }

    #[test]
    fn trivial_methods() {
        let cone = ExponentialCone::new();
        let s = [1.0, 2.0, 3.0];
        let mut out = [0.0; 3];
        cone.affine_ds(&mut out, &s);
        assert_eq!(out, s);
        out = [0.0; 3];
        cone.delta_s_from_delta_z_offset(&mut out, &s, &[9.0; 3]);
        assert_eq!(out, s);
    }
}
