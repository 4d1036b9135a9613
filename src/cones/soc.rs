//! Second-order cone {(t, x) : ||x|| <= t} with Nesterov-Todd scaling.
//!
//! With J = diag(1, -1, ..., -1), the NT scaling is W = eta * Wbar where
//! Wbar = [w0, w1'; w1, I + w1 w1' / (1 + w0)] is built from the unit
//! hyperbolic point wbar (Clarabel / CVXOPT form), and H = W'W = eta^2 (2 wbar wbar' - J).
//!
//! Cones larger than `MAX_DENSE_DIM` give H to the KKT system as
//! eta^2 (D + uu' - vv') with D = diag(d0, 1, ..., 1), u = (u0, a w1), v = (0, b w1):
//! matching entries with 2 w w' - J gives d0 + u0^2 = 2 w0^2 - 1, u0 a = 2 w0 and
//! a^2 - b^2 = 2.  Clarabel's choice d0 = 1 / (2 (2 w0^2 - 1)) keeps v'D^{-1}v < 1, so
//! the extra KKT pivots keep their expected signs (-1 for v, +1 for u).

use super::util::{dot, triu_index};
use super::{Cone, ScalingStrategy, StepSettings};

/// Second-order cones up to this dimension keep a dense H block in the KKT matrix.
/// (Clarabel expands from dimension 5.  The expansion costs accuracy when w is
/// extreme: the v pivot is -1/(1 + 2||w1||^2), which happens on infeasible
/// problems whose iterates diverge; below this size the dense block is cheap anyway.)
pub const MAX_DENSE_DIM: usize = 32;

#[derive(Clone, Debug)]
pub struct SecondOrderCone {
    dim: usize,
    /// Unit scaling point wbar (wbar' J wbar = 1).
    w: Vec<f64>,
    eta: f64,
    /// Scaled point lambda = W z = W^{-1} s.
    lambda: Vec<f64>,
    work: Vec<f64>,
    work2: Vec<f64>,
}

/// x' J x = x0^2 - ||x1||^2.
fn soc_residual(x: &[f64]) -> f64 {
    x[0] * x[0] - dot(&x[1..], &x[1..])
}

/// soc_residual(x + a y) without forming the point.
fn soc_residual_shifted(x: &[f64], y: &[f64], a: f64) -> f64 {
    let head = x[0] + a * y[0];
    let tail: f64 = x[1..].iter().zip(&y[1..]).map(|(xi, yi)| (xi + a * yi) * (xi + a * yi)).sum();
    head * head - tail
}

/// Jordan product x o y = (x'y, x0 y1 + y0 x1).
fn jordan_product(out: &mut [f64], x: &[f64], y: &[f64]) {
    out[0] = dot(x, y);
    for i in 1..x.len() {
        out[i] = x[0] * y[i] + y[0] * x[i];
    }
}

/// Solve lambda o out = v.
fn jordan_divide(out: &mut [f64], lambda: &[f64], v: &[f64]) {
    let rho = soc_residual(lambda);
    let l1v1 = dot(&lambda[1..], &v[1..]);
    let x0 = (lambda[0] * v[0] - l1v1) / rho;
    out[0] = x0;
    for i in 1..lambda.len() {
        out[i] = (v[i] - x0 * lambda[i]) / lambda[0];
    }
}

/// Largest a <= alpha_max with x + a y in the cone (x in the cone).
///
/// The feasible steps form an interval [0, a*]: a* is the smallest positive
/// root of (x + a y)'J(x + a y) = 0, also capped so that the first entry stays
/// nonnegative (this alone decides the cone of dimension 1, where the quadratic
/// has a double root that rounding can hide).
fn soc_step(x: &[f64], y: &[f64], alpha_max: f64) -> f64 {
    let mut alpha = alpha_max;
    if y[0] < 0.0 {
        alpha = alpha.min(-x[0] / y[0]);
    }
    let a = soc_residual(y);
    let b = 2.0 * (x[0] * y[0] - dot(&x[1..], &y[1..]));
    let c = soc_residual(x).max(0.0);
    if a > 0.0 && b > 0.0 {
        return alpha.max(0.0); // y points into the cone: the residual only grows
    }
    if a == 0.0 {
        if b < 0.0 {
            alpha = alpha.min(-c / b);
        }
        return alpha.max(0.0);
    }
    // Numerically stable roots; a negative discriminant here is rounding of a
    // double root, so clamp it to zero.
    let d = (b * b - 4.0 * a * c).max(0.0);
    let t = -0.5 * (b + b.signum() * d.sqrt());
    let r1 = t / a;
    let r2 = if t != 0.0 { c / t } else { r1 };
    for r in [r1, r2] {
        if r >= 0.0 {
            alpha = alpha.min(r);
        }
    }
    alpha.max(0.0)
}

impl SecondOrderCone {
    pub fn new(dim: usize) -> Self {
        assert!(dim >= 1, "a second-order cone needs dimension >= 1");
        let mut e = vec![0.0; dim];
        e[0] = 1.0;
        SecondOrderCone { dim, w: e.clone(), eta: 1.0, lambda: e, work: vec![0.0; dim], work2: vec![0.0; dim] }
    }

    /// y = W x (W symmetric).
    fn mul_w(&self, y: &mut [f64], x: &[f64]) {
        y.copy_from_slice(x);
        self.mul_w_in_place(y);
    }

    /// x <- W x.
    fn mul_w_in_place(&self, x: &mut [f64]) {
        let w = &self.w;
        let w1x1 = dot(&w[1..], &x[1..]);
        let c = x[0] + w1x1 / (1.0 + w[0]);
        x[0] = self.eta * (w[0] * x[0] + w1x1);
        for i in 1..self.dim {
            x[i] = self.eta * (x[i] + c * w[i]);
        }
    }

    /// y = W^{-1} x = (1/eta) [w0, -w1'; -w1, I + w1 w1'/(1 + w0)] x.
    fn mul_winv(&self, y: &mut [f64], x: &[f64]) {
        let w = &self.w;
        let w1x1 = dot(&w[1..], &x[1..]);
        let c = -x[0] + w1x1 / (1.0 + w[0]);
        y[0] = (w[0] * x[0] - w1x1) / self.eta;
        for i in 1..self.dim {
            y[i] = (x[i] + c * w[i]) / self.eta;
        }
    }
}

impl Cone for SecondOrderCone {
    fn dim(&self) -> usize {
        self.dim
    }
    fn degree(&self) -> usize {
        1
    }
    fn is_symmetric(&self) -> bool {
        true
    }
    fn hs_is_diagonal(&self) -> bool {
        false
    }
    fn hs_is_expandable(&self) -> bool {
        self.dim > MAX_DENSE_DIM
    }
    fn hs_expansion(&self, d: &mut [f64], v: &mut [f64], u: &mut [f64]) {
        let e2 = self.eta * self.eta;
        let w0 = self.w[0];
        let wsq = 2.0 * w0 * w0 - 1.0; // = ||w||^2 on the hyperbola
        let d0 = 0.5 / wsq;
        let u0 = (wsq - d0).sqrt();
        let a = 2.0 * w0 / u0;
        let b = (2.0 * (2.0 + 1.0 / wsq) / (2.0 * wsq - 1.0 / wsq)).sqrt(); // sqrt(a^2 - 2)
        d.fill(e2);
        d[0] = e2 * d0;
        u[0] = self.eta * u0;
        v[0] = 0.0;
        for i in 1..self.dim {
            u[i] = self.eta * a * self.w[i];
            v[i] = self.eta * b * self.w[i];
        }
    }
    fn margins(&self, z: &[f64]) -> (f64, f64) {
        let nrm = dot(&z[1..], &z[1..]).sqrt();
        let alpha = z[0] - nrm;
        let beta = alpha.max(0.0) + (z[0] + nrm).max(0.0);
        (alpha, beta)
    }
    fn scaled_unit_shift(&self, z: &mut [f64], alpha: f64) {
        z[0] += alpha;
    }
    fn unit_initialization(&self, z: &mut [f64], s: &mut [f64]) {
        z.fill(0.0);
        s.fill(0.0);
        z[0] = 1.0;
        s[0] = 1.0;
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64], _mu: f64, _st: ScalingStrategy) -> bool {
        let s_res = soc_residual(s);
        let z_res = soc_residual(z);
        if !(s_res > 0.0 && z_res > 0.0) {
            return false;
        }
        let s_scale = s_res.sqrt();
        let z_scale = z_res.sqrt();
        self.eta = (s_scale / z_scale).sqrt();
        // Normalized points and gamma = sqrt((1 + sbar'zbar) / 2).
        let sz = dot(s, z) / (s_scale * z_scale);
        let gamma = ((1.0 + sz) * 0.5).sqrt();
        self.w[0] = (s[0] / s_scale + z[0] / z_scale) / (2.0 * gamma);
        for i in 1..self.dim {
            self.w[i] = (s[i] / s_scale - z[i] / z_scale) / (2.0 * gamma);
        }
        // Re-normalize wbar to the hyperbola to counter rounding: w0 = sqrt(1 + ||w1||^2).
        self.w[0] = (1.0 + dot(&self.w[1..], &self.w[1..])).sqrt();
        let mut lambda = std::mem::take(&mut self.lambda);
        self.mul_w(&mut lambda, z);
        self.lambda = lambda;
        self.eta.is_finite() && self.w.iter().all(|v| v.is_finite())
    }
    fn hs_block(&self, out: &mut [f64]) {
        // H = eta^2 (2 w w' - J)
        let e2 = self.eta * self.eta;
        for j in 0..self.dim {
            for i in 0..=j {
                let mut h = 2.0 * self.w[i] * self.w[j];
                if i == j {
                    h += if i == 0 { -1.0 } else { 1.0 };
                }
                out[triu_index(i, j)] = e2 * h;
            }
        }
    }
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        let e2 = self.eta * self.eta;
        let c = 2.0 * dot(&self.w, x);
        y[0] = e2 * (c * self.w[0] - x[0]);
        for i in 1..self.dim {
            y[i] = e2 * (c * self.w[i] + x[i]);
        }
    }
    fn affine_ds(&self, ds: &mut [f64], _s: &[f64]) {
        jordan_product(ds, &self.lambda, &self.lambda);
    }
    fn combined_ds_shift(&mut self, shift: &mut [f64], dz: &[f64], ds: &[f64], sigma_mu: f64) {
        let mut wdz = std::mem::take(&mut self.work);
        let mut winv_ds = std::mem::take(&mut self.work2);
        self.mul_w(&mut wdz, dz);
        self.mul_winv(&mut winv_ds, ds);
        jordan_product(shift, &winv_ds, &wdz);
        shift[0] -= sigma_mu;
        self.work = wdz;
        self.work2 = winv_ds;
    }
    fn delta_s_from_delta_z_offset(&self, out: &mut [f64], ds: &[f64], _z: &[f64]) {
        jordan_divide(out, &self.lambda, ds);
        self.mul_w_in_place(out);
    }
    fn step_length(
        &self,
        dz: &[f64],
        ds: &[f64],
        z: &[f64],
        s: &[f64],
        _settings: &StepSettings,
        alpha_max: f64,
    ) -> (f64, f64) {
        (soc_step(z, dz, alpha_max), soc_step(s, ds, alpha_max))
    }
    fn compute_barrier(&self, z: &[f64], s: &[f64], dz: &[f64], ds: &[f64], a: f64) -> f64 {
        let rz = soc_residual_shifted(z, dz, a);
        let rs = soc_residual_shifted(s, ds, a);
        if rz <= 0.0 || rs <= 0.0 {
            return f64::INFINITY;
        }
        -(rz * rs).ln() / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense_h(c: &SecondOrderCone) -> Vec<Vec<f64>> {
        let d = c.dim;
        let mut packed = vec![0.0; d * (d + 1) / 2];
        c.hs_block(&mut packed);
        let mut h = vec![vec![0.0; d]; d];
        for j in 0..d {
            for i in 0..=j {
                h[i][j] = packed[triu_index(i, j)];
                h[j][i] = h[i][j];
            }
        }
        h
    }

    #[test]
    fn nt_scaling_maps_z_to_s() {
        let mut c = SecondOrderCone::new(4);
        let s = [3.0, 1.0, -0.5, 2.0];
        let z = [2.0, 0.3, 1.0, -1.2];
        assert!(c.update_scaling(&s, &z, 1.0, ScalingStrategy::PrimalDual));
        let h = dense_h(&c);
        let mut hz = [0.0; 4];
        c.mul_hs(&mut hz, &z);
        for i in 0..4 {
            let dense: f64 = (0..4).map(|j| h[i][j] * z[j]).sum();
            assert!((hz[i] - s[i]).abs() < 1e-12, "H z != s");
            assert!((dense - s[i]).abs() < 1e-12, "packed H wrong");
        }
        // lambda = W z = W^{-1} s
        let mut l2 = [0.0; 4];
        c.mul_winv(&mut l2, &s);
        for i in 0..4 {
            assert!((l2[i] - c.lambda[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn sparse_expansion_matches_dense_h() {
        let dim = MAX_DENSE_DIM + 3;
        let mut c = SecondOrderCone::new(dim);
        assert!(c.hs_is_expandable());
        // Interior points with a nontrivial scaling.
        let mut s: Vec<f64> = (0..dim).map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.3).collect();
        let mut z: Vec<f64> = (0..dim).map(|i| ((i * 3 % 7) as f64 - 3.0) * 0.2).collect();
        s[0] = 1.0 + dot(&s[1..], &s[1..]).sqrt();
        z[0] = 0.5 + dot(&z[1..], &z[1..]).sqrt();
        assert!(c.update_scaling(&s, &z, 1.0, ScalingStrategy::PrimalDual));
        let h = dense_h(&c);
        let (mut d, mut v, mut u) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
        c.hs_expansion(&mut d, &mut v, &mut u);
        let scale = h.iter().flatten().fold(0.0f64, |a, x| a.max(x.abs()));
        for i in 0..dim {
            for j in 0..dim {
                let diag = if i == j { d[i] } else { 0.0 };
                let e = diag + u[i] * u[j] - v[i] * v[j];
                assert!((e - h[i][j]).abs() < 1e-12 * scale, "H[{i},{j}]: {e} vs {}", h[i][j]);
            }
        }
        // The v pivot keeps its sign: v' D^{-1} v < 1 (scaled by eta^2).
        let vdv: f64 = (0..dim).map(|i| v[i] * v[i] / d[i]).sum();
        assert!(vdv < 1.0, "{vdv}");
        assert!(!SecondOrderCone::new(MAX_DENSE_DIM).hs_is_expandable());
    }

    #[test]
    fn jordan_divide_inverts_product() {
        let l = [2.0, 0.5, -0.3];
        let v = [1.0, 2.0, 3.0];
        let mut x = [0.0; 3];
        jordan_divide(&mut x, &l, &v);
        let mut back = [0.0; 3];
        jordan_product(&mut back, &l, &x);
        for i in 0..3 {
            assert!((back[i] - v[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn step_length_lands_on_boundary() {
        let x = [2.0, 0.0, 0.0];
        let y = [-1.0, 1.0, 0.0];
        let a = soc_step(&x, &y, 10.0);
        let p = [x[0] + a * y[0], x[1] + a * y[1], x[2] + a * y[2]];
        assert!(soc_residual(&p).abs() < 1e-12);
        assert!((a - 1.0).abs() < 1e-12);
        // Direction inside the cone: unbounded step.
        assert_eq!(soc_step(&x, &[1.0, 0.5, 0.0], 7.0), 7.0);
    }

    #[test]
    fn step_length_in_dimension_one() {
        // The cone {t >= 0}: the quadratic test alone (t^2 >= 0) would allow any step.
        assert!((soc_step(&[2.0], &[-4.0], 10.0) - 0.5).abs() < 1e-15);
        assert_eq!(soc_step(&[2.0], &[3.0], 10.0), 10.0);
        // Rounding of a double root must not let the step cross the boundary.
        let x = [1.0 / 3.0, 0.0];
        let y = [-0.1, 0.0];
        let a = soc_step(&x, &y, 100.0);
        assert!(x[0] + a * y[0] >= -1e-15 && a <= 10.0 / 3.0 + 1e-12);
    }
}
