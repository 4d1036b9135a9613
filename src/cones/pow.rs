//! Power cone.
//!
//! Conventions (Clarabel), alpha in (0, 1):
//! - primal K_pow  = {(x, y, z) : x, y >= 0, x^alpha y^(1-alpha) >= |z|};
//! - dual   K_pow* = {(u, v, w) : u, v >= 0, (u/alpha)^alpha (v/(1-alpha))^(1-alpha) >= |w|}.
//!
//! Dual barrier (degree 3, Clarabel):
//!     f*(z) = -log psi(z) - (1-alpha) log z1 - alpha log z2,
//!     psi(z) = (z1/alpha)^(2 alpha) (z2/(1-alpha))^(2-2 alpha) - z3^2.
//! All the IPM machinery (scaling, correction, step length, barrier value) is
//! shared with the exponential cone, see `exp.rs`; the primal gradient guess
//! is Clarabel's one-dimensional Newton method for its third component.

// NaN-aware `!(x > 0.0)` tests are deliberate; 3x3 loops read best indexed.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

use super::exp::{
    all_finite, compute_barrier_3d, step_length_3d, Barrier3, NonsymScaling, M3, V3,
};
use super::util::{mul3, pack_triu3};
use super::{Cone, ScalingStrategy, StepSettings};

/// The 3-d power cone with exponent `alpha` (dimension 3, barrier degree 3).
#[derive(Clone, Debug)]
pub struct PowerCone {
    barrier: PowBarrier,
    sc: NonsymScaling,
}

impl PowerCone {
    /// `alpha` must lie in (0, 1).
    pub fn new(alpha: f64) -> Self {
        assert!(alpha > 0.0 && alpha < 1.0, "power cone exponent must lie in (0,1), got {alpha}");
        PowerCone { barrier: PowBarrier { alpha }, sc: NonsymScaling::new() }
    }

    pub fn alpha(&self) -> f64 {
        self.barrier.alpha
    }
}

impl Cone for PowerCone {
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
        let e = self.barrier.central_point();
        s[..3].copy_from_slice(&e);
        z[..3].copy_from_slice(&e);
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

/// Barrier functions of the power cone.
#[derive(Clone, Copy, Debug)]
struct PowBarrier {
    alpha: f64,
}

impl PowBarrier {
    /// phi(z) = (z1/alpha)^(2 alpha) (z2/(1-alpha))^(2-2 alpha).
    fn phi(&self, z: &V3) -> f64 {
        let a = self.alpha;
        (2.0 * a * (z[0] / a).ln() + (2.0 - 2.0 * a) * (z[1] / (1.0 - a)).ln()).exp()
    }
}

impl Barrier3 for PowBarrier {
    fn primal_feasible(&self, s: &[f64]) -> bool {
        let a = self.alpha;
        all_finite(&s[..3])
            && s[0] > 0.0
            && s[1] > 0.0
            && (2.0 * a * s[0].ln() + (2.0 - 2.0 * a) * s[1].ln()).exp() - s[2] * s[2] > 0.0
    }

    fn dual_feasible(&self, z: &[f64]) -> bool {
        all_finite(&z[..3])
            && z[0] > 0.0
            && z[1] > 0.0
            && self.phi(&[z[0], z[1], z[2]]) - z[2] * z[2] > 0.0
    }

    fn psi(&self, z: &V3) -> (f64, V3, M3) {
        let a2 = 2.0 * self.alpha; // exponent of z1 in phi
        let b2 = 2.0 - a2; // exponent of z2 in phi
        let phi = self.phi(z);
        let psi = phi - z[2] * z[2];
        let g = [a2 * phi / z[0], b2 * phi / z[1], -2.0 * z[2]];
        let h12 = a2 * b2 * phi / (z[0] * z[1]);
        let h = [
            [a2 * (a2 - 1.0) * phi / (z[0] * z[0]), h12, 0.0],
            [h12, b2 * (b2 - 1.0) * phi / (z[1] * z[1]), 0.0],
            [0.0, 0.0, -2.0],
        ];
        (psi, g, h)
    }

    fn psi_third(&self, z: &V3, u: &V3, v: &V3) -> V3 {
        let a2 = 2.0 * self.alpha;
        let b2 = 2.0 - a2;
        let phi = self.phi(z);
        let (x, y) = (z[0], z[1]);
        let p111 = a2 * (a2 - 1.0) * (a2 - 2.0) * phi / (x * x * x);
        let p112 = a2 * (a2 - 1.0) * b2 * phi / (x * x * y);
        let p122 = a2 * b2 * (b2 - 1.0) * phi / (x * y * y);
        let p222 = b2 * (b2 - 1.0) * (b2 - 2.0) * phi / (y * y * y);
        let uv11 = u[0] * v[0];
        let uv12 = u[0] * v[1] + u[1] * v[0];
        let uv22 = u[1] * v[1];
        [
            p111 * uv11 + p112 * uv12 + p122 * uv22,
            p112 * uv11 + p122 * uv12 + p222 * uv22,
            0.0,
        ]
    }

    fn sep(&self, z: &V3) -> (f64, V3, V3) {
        let a = self.alpha;
        let val = -(1.0 - a) * z[0].ln() - a * z[1].ln();
        let g = [-(1.0 - a) / z[0], -a / z[1], 0.0];
        let h = [(1.0 - a) / (z[0] * z[0]), a / (z[1] * z[1]), 0.0];
        (val, g, h)
    }

    fn sep_third(&self, z: &V3, u: &V3, v: &V3) -> V3 {
        let a = self.alpha;
        [
            -2.0 * (1.0 - a) * u[0] * v[0] / (z[0] * z[0] * z[0]),
            -2.0 * a * u[1] * v[1] / (z[1] * z[1] * z[1]),
            0.0,
        ]
    }

    fn primal_gradient_guess(&self, s: &V3) -> Option<V3> {
        // Clarabel: g3 from a one-sided 1-d Newton method, then
        //   g1 = -(alpha g3 s3 + 1 + alpha) / s1,
        //   g2 = -((1-alpha) g3 s3 + 2 - alpha) / s2   (so that <g, s> = -3).
        let a = self.alpha;
        let phi = (2.0 * a * s[0].ln() + (2.0 - 2.0 * a) * s[1].ln()).exp(); // unscaled
        let abs3 = s[2].abs();
        let g3 = if abs3 > f64::EPSILON * phi.sqrt() {
            let x = newton_powcone(abs3, phi, a);
            if s[2] < 0.0 {
                -x
            } else {
                x
            }
        } else {
            0.0
        };
        let g = [
            -(a * g3 * s[2] + 1.0 + a) / s[0],
            -((1.0 - a) * g3 * s[2] + 2.0 - a) / s[1],
            g3,
        ];
        if all_finite(&g) {
            Some(g)
        } else {
            None
        }
    }

    fn central_point(&self) -> V3 {
        // s = z = (sqrt(1 + alpha), sqrt(2 - alpha), 0) satisfies s = -grad f*(z)
        [(1.0 + self.alpha).sqrt(), (2.0 - self.alpha).sqrt(), 0.0]
    }
}

/// |g3(s)| for s3 = `s3` > 0, phi = s1^(2 alpha) s2^(2 - 2 alpha): root of the
/// increasing function f0 below, by Newton's method started to the left of
/// the root (Clarabel).  The starting point
///   x0 = -1/s3 + 2 (s3 + sqrt(4 phi^2/s3^2 + 3 phi)) / (4 phi - s3^2)
/// is evaluated in the cancellation-free form
///   x0 = 3 s3 (1 + 1/(1 + q)) / (4 phi - s3^2),  q = sqrt(1 + 3 s3^2 / (4 phi)).
fn newton_powcone(s3: f64, phi: f64, a: f64) -> f64 {
    let q = (1.0 + 3.0 * s3 * s3 / (4.0 * phi)).sqrt();
    let x0 = 3.0 * s3 * (1.0 + 1.0 / (1.0 + q)) / (4.0 * phi - s3 * s3);
    // shift due to the normalisation of the dual barrier
    let t0 = -2.0 * a * a.ln() - 2.0 * (1.0 - a) * (1.0 - a).ln();
    let lphi = phi.ln();
    let f0 = |x: f64| {
        let t1 = x * x;
        let t2 = 2.0 * x / s3;
        2.0 * a * (2.0 * a * t1 + (1.0 + a) * t2).ln()
            + 2.0 * (1.0 - a) * (2.0 * (1.0 - a) * t1 + (2.0 - a) * t2).ln()
            - lphi
            - (t1 + t2).ln()
            - 2.0 * t2.ln()
            + t0
    };
    let f1 = |x: f64| {
        let t1 = x * x;
        let t2 = 2.0 * x / s3;
        2.0 * a * a / (a * x + (1.0 + a) / s3)
            + 2.0 * (1.0 - a) * (1.0 - a) / ((1.0 - a) * x + (2.0 - a) / s3)
            - 2.0 * (x + 1.0 / s3) / (t1 + t2)
    };
    let mut x = x0;
    for _ in 0..100 {
        let d = f1(x);
        let dx = -f0(x) / d;
        // one-sided: iterates increase towards the root; a non-positive step
        // means we are at the root up to rounding
        if !(dx > 0.0) || !dx.is_finite() || !(d.abs() > f64::EPSILON) {
            break;
        }
        x += dx;
        if dx <= 1e-15 * x {
            break;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::super::exp::test_support::*;
    use super::super::exp::{chol3, chol3_solve, dual_barrier, dual_grad_hess, primal_gradient};
    use super::*;
    use super::super::util::dot;

    const ALPHAS: [f64; 6] = [0.5, 0.1, 0.3, 0.7, 0.9, 0.999];

    fn random_primal(rng: &mut Lcg, a: f64) -> V3 {
        let x = rng.range(-2.0, 2.0).exp();
        let y = rng.range(-2.0, 2.0).exp();
        let z = rng.sign() * x.powf(a) * y.powf(1.0 - a) * rng.range(0.0, 0.99);
        [x, y, z]
    }

    fn random_dual(rng: &mut Lcg, a: f64) -> V3 {
        let u = rng.range(-2.0, 2.0).exp();
        let v = rng.range(-2.0, 2.0).exp();
        let w = rng.sign() * (u / a).powf(a) * (v / (1.0 - a)).powf(1.0 - a) * rng.range(0.0, 0.99);
        [u, v, w]
    }

    #[test]
    fn membership() {
        let b = PowBarrier { alpha: 0.3 };
        assert!(b.primal_feasible(&[1.0, 1.0, 0.99]));
        assert!(b.primal_feasible(&[1.0, 1.0, -0.99]));
        assert!(!b.primal_feasible(&[1.0, 1.0, 1.01]));
        assert!(!b.primal_feasible(&[1.0, 1.0, -1.01]));
        assert!(!b.primal_feasible(&[-0.1, 1.0, 0.0]));
        assert!(!b.primal_feasible(&[0.0, 1.0, 0.0])); // boundary
        let v = 8f64.powf(0.3) * 0.5f64.powf(0.7);
        assert!(b.primal_feasible(&[8.0, 0.5, 0.999 * v]));
        assert!(!b.primal_feasible(&[8.0, 0.5, 1.001 * v]));
        assert!(b.dual_feasible(&[0.3, 0.7, 0.99]));
        assert!(b.dual_feasible(&[0.3, 0.7, -0.99]));
        assert!(!b.dual_feasible(&[0.3, 0.7, 1.01]));
        assert!(!b.dual_feasible(&[-0.3, 0.7, 0.0]));
        assert!(!b.dual_feasible(&[0.3, 0.7, f64::NAN]));
        // the dual cone is not the primal one
        assert!(b.primal_feasible(&[1.0, 1.0, 0.99]) && !b.dual_feasible(&[1.0, 1.0, 2.0]));
        assert!(b.dual_feasible(&[1.0, 1.0, 1.8]));
    }

    #[test]
    fn dual_derivatives() {
        let mut rng = Lcg(11);
        for &a in &ALPHAS {
            let b = PowBarrier { alpha: a };
            check_dual_derivatives(&b, &b.central_point(), &mut rng);
            for _ in 0..100 {
                let z = random_dual(&mut rng, a);
                check_dual_derivatives(&b, &z, &mut rng);
            }
        }
    }

    #[test]
    fn primal_gradient_and_barrier() {
        let mut rng = Lcg(12);
        for &a in &ALPHAS {
            let b = PowBarrier { alpha: a };
            check_primal_gradient(&b, &b.central_point(), 1e-12);
            for _ in 0..100 {
                let s = random_primal(&mut rng, a);
                check_primal_gradient(&b, &s, 1e-9);
            }
            // tiny and near-boundary third components, bad scaling
            let r = 3f64.powf(a) * 0.2f64.powf(1.0 - a);
            for s3 in [1e-300, 1e-14, 1e-9 * r, 0.5 * r, (1.0 - 1e-6) * r, -(1.0 - 1e-6) * r] {
                let s = [3.0, 0.2, s3];
                let g = primal_gradient(&b, &s).unwrap();
                let (gd, _) = dual_grad_hess(&b, &[-g[0], -g[1], -g[2]]);
                assert_vec_close(&gd, &[-s[0], -s[1], -s[2]], 1e-7, "edge conjugacy");
                assert!(close(dot(&g, &s), -3.0, 1e-9, 0.0));
            }
            for t in [1e-6, 1e6] {
                let s = [3.0 * t, 0.2 * t, 0.5 * r * t];
                let g = primal_gradient(&b, &s).unwrap();
                let g0 = b.primal_gradient_guess(&s).unwrap();
                assert_vec_close(&g0, &g, 1e-9, "scaled guess");
                assert!(close(dot(&g, &s), -3.0, 1e-9, 0.0));
            }
        }
        let b = PowBarrier { alpha: 0.3 };
        assert!(primal_gradient(&b, &[1.0, 1.0, 1.5]).is_none());
        assert_eq!(b.primal_barrier(&[1.0, 1.0, 1.5]), f64::INFINITY);
    }

    #[test]
    fn unit_initialization_is_central() {
        for &a in &ALPHAS {
            let cone = PowerCone::new(a);
            let b = PowBarrier { alpha: a };
            let (mut z, mut s) = ([0.0; 3], [0.0; 3]);
            cone.unit_initialization(&mut z, &mut s);
            assert_eq!(s, z);
            assert!(b.primal_feasible(&s) && b.dual_feasible(&z));
            let (g, _) = dual_grad_hess(&b, &z);
            assert_vec_close(&s, &[-g[0], -g[1], -g[2]], 1e-14, "s = -grad f*(z)");
            assert_eq!((cone.dim(), cone.degree()), (3, 3));
            assert!(!cone.is_symmetric() && !cone.hs_is_diagonal());
        }
    }

    #[test]
    fn scaling() {
        let mut rng = Lcg(13);
        for &a in &ALPHAS {
            let b = PowBarrier { alpha: a };
            let mut cone = PowerCone::new(a);
            for _ in 0..100 {
                let s = random_primal(&mut rng, a);
                let z = random_dual(&mut rng, a);
                check_scaling(&mut cone, &b, &s, &z);
            }
            let e = b.central_point();
            let zz = [2.0 * e[0], 2.0 * e[1], 2.0 * e[2]];
            assert!(cone.update_scaling(&e, &zz, 5.0, ScalingStrategy::PrimalDual));
            let mut y = [0.0; 3];
            cone.mul_hs(&mut y, &zz);
            assert_vec_close(&y, &e, 1e-12, "central H z = s");
            assert!(!cone.update_scaling(&e, &[-1.0, 1.0, 0.0], 1.0, ScalingStrategy::PrimalDual));
            assert!(cone.update_scaling(&[1.0, 1.0, 5.0], &e, 1.0, ScalingStrategy::PrimalDual));
        }
    }

    #[test]
    fn third_order_correction() {
        let mut rng = Lcg(14);
        for &a in &ALPHAS {
            let b = PowBarrier { alpha: a };
            let mut cone = PowerCone::new(a);
            for _ in 0..50 {
                let s = random_primal(&mut rng, a);
                let z = random_dual(&mut rng, a);
                assert!(cone.update_scaling(&s, &z, 1.0, ScalingStrategy::PrimalDual));
                let dz = [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)];
                let ds = [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)];
                let sigma_mu = 0.3;
                let mut shift = [0.0; 3];
                cone.combined_ds_shift(&mut shift, &dz, &ds, sigma_mu);
                let (g, h) = dual_grad_hess(&b, &z);
                let u = chol3_solve(&chol3(&h).unwrap(), &ds);
                let e = 1e-6;
                let (_, hp) = dual_grad_hess(&b, &[z[0] + e * dz[0], z[1] + e * dz[1], z[2] + e * dz[2]]);
                let (_, hm) = dual_grad_hess(&b, &[z[0] - e * dz[0], z[1] - e * dz[1], z[2] - e * dz[2]]);
                let (mut p, mut m) = ([0.0; 3], [0.0; 3]);
                mul3(&hp, &mut p, &u);
                mul3(&hm, &mut m, &u);
                let expected: Vec<f64> =
                    (0..3).map(|i| sigma_mu * g[i] - 0.5 * (p[i] - m[i]) / (2.0 * e)).collect();
                assert_vec_close(&shift, &expected, 1e-5, "combined shift");
            }
        }
    }

    #[test]
    fn step_length_backtracks() {
        let mut rng = Lcg(15);
        for &a in &ALPHAS {
            let b = PowBarrier { alpha: a };
            let cone = PowerCone::new(a);
            for _ in 0..20 {
                let s = random_primal(&mut rng, a);
                let z = random_dual(&mut rng, a);
                check_step(&cone, &b, &s, &z, &mut rng);
            }
        }
    }

    #[test]
    fn barrier_value() {
        for &a in &ALPHAS {
            let cone = PowerCone::new(a);
            let b = PowBarrier { alpha: a };
            let (mut z, mut s) = ([0.0; 3], [0.0; 3]);
            cone.unit_initialization(&mut z, &mut s);
            let b0 = cone.compute_barrier(&z, &s, &[0.0; 3], &[0.0; 3], 0.0);
            assert!(close(b0, -3.0, 1e-12, 0.0), "{b0}");
            let ds = [0.1, -0.2, 0.3];
            let dz = [-0.1, 0.05, 0.2];
            let b1 = cone.compute_barrier(&z, &s, &dz, &ds, 0.5);
            let zs = [z[0] + 0.5 * dz[0], z[1] + 0.5 * dz[1], z[2] + 0.5 * dz[2]];
            let ss = [s[0] + 0.5 * ds[0], s[1] + 0.5 * ds[1], s[2] + 0.5 * ds[2]];
            assert!(close(b1, dual_barrier(&b, &zs) + b.primal_barrier(&ss), 1e-14, 0.0));
            // Fenchel-Young: f(s) + f*(z) >= -3 - 3 log(<s,z>/3)
            assert!(b1 >= -3.0 - 3.0 * (dot(&ss, &zs) / 3.0).ln() - 1e-12);
            assert_eq!(cone.compute_barrier(&z, &s, &[0.0, 0.0, 10.0], &[0.0; 3], 1.0), f64::INFINITY);
            assert_eq!(cone.compute_barrier(&z, &s, &[0.0; 3], &[0.0, 0.0, 10.0], 1.0), f64::INFINITY);
        }
    }
}
