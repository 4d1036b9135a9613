//! Nonnegative orthant: s >= 0 componentwise, self-dual.  NT scaling W = diag(sqrt(s/z)).

use super::{Cone, ScalingStrategy, StepSettings};

#[derive(Clone, Debug)]
pub struct NonnegativeCone {
    dim: usize,
    /// NT scaling point: w = sqrt(s / z).
    w: Vec<f64>,
    /// Scaled variable lambda = W z = sqrt(s z).
    lambda: Vec<f64>,
}

impl NonnegativeCone {
    pub fn new(dim: usize) -> Self {
        NonnegativeCone { dim, w: vec![1.0; dim], lambda: vec![1.0; dim] }
    }
}

/// Largest a <= alpha_max with x + a dx >= 0.
fn orthant_step(x: &[f64], dx: &[f64], alpha_max: f64) -> f64 {
    let mut alpha = alpha_max;
    for (xi, di) in x.iter().zip(dx) {
        if *di < 0.0 {
            alpha = alpha.min(-xi / di);
        }
    }
    alpha.max(0.0)
}

impl Cone for NonnegativeCone {
    fn dim(&self) -> usize {
        self.dim
    }
    fn degree(&self) -> usize {
        self.dim
    }
    fn is_symmetric(&self) -> bool {
        true
    }
    fn hs_is_diagonal(&self) -> bool {
        true
    }
    fn margins(&self, z: &[f64]) -> (f64, f64) {
        let alpha = z.iter().cloned().fold(f64::INFINITY, f64::min);
        let beta = z.iter().map(|v| v.max(0.0)).sum();
        (alpha, beta)
    }
    fn scaled_unit_shift(&self, z: &mut [f64], alpha: f64) {
        z.iter_mut().for_each(|v| *v += alpha);
    }
    fn unit_initialization(&self, z: &mut [f64], s: &mut [f64]) {
        z.fill(1.0);
        s.fill(1.0);
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64], _mu: f64, _st: ScalingStrategy) -> bool {
        for i in 0..self.dim {
            self.w[i] = (s[i] / z[i]).sqrt();
            self.lambda[i] = (s[i] * z[i]).sqrt();
        }
        self.w.iter().all(|v| v.is_finite() && *v > 0.0)
    }
    fn hs_block(&self, out: &mut [f64]) {
        for (o, w) in out.iter_mut().zip(&self.w) {
            *o = w * w;
        }
    }
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        for i in 0..self.dim {
            y[i] = self.w[i] * self.w[i] * x[i];
        }
    }
    fn affine_ds(&self, ds: &mut [f64], _s: &[f64]) {
        for (d, l) in ds.iter_mut().zip(&self.lambda) {
            *d = l * l;
        }
    }
    fn combined_ds_shift(&mut self, shift: &mut [f64], dz: &[f64], ds: &[f64], sigma_mu: f64) {
        // (W^{-1} ds) o (W dz) = ds * dz for a diagonal W.
        for i in 0..self.dim {
            shift[i] = ds[i] * dz[i] - sigma_mu;
        }
    }
    fn delta_s_from_delta_z_offset(&self, out: &mut [f64], ds: &[f64], _z: &[f64]) {
        // W (lambda \ ds) = w * ds / lambda
        for i in 0..self.dim {
            out[i] = self.w[i] * ds[i] / self.lambda[i];
        }
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
        (orthant_step(z, dz, alpha_max), orthant_step(s, ds, alpha_max))
    }
    fn compute_barrier(&self, z: &[f64], s: &[f64], dz: &[f64], ds: &[f64], a: f64) -> f64 {
        let mut barrier = 0.0;
        for i in 0..self.dim {
            let si = s[i] + a * ds[i];
            let zi = z[i] + a * dz[i];
            barrier -= (si * zi).ln();
        }
        barrier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_maps_z_to_s() {
        let mut c = NonnegativeCone::new(3);
        let s = [1.0, 2.0, 0.5];
        let z = [4.0, 0.5, 2.0];
        assert!(c.update_scaling(&s, &z, 1.0, ScalingStrategy::PrimalDual));
        let mut hz = [0.0; 3];
        c.mul_hs(&mut hz, &z);
        for i in 0..3 {
            assert!((hz[i] - s[i]).abs() < 1e-14);
        }
    }

    #[test]
    fn step_length_hits_boundary() {
        let c = NonnegativeCone::new(2);
        let (az, as_) = c.step_length(&[-2.0, 1.0], &[1.0, -0.5], &[1.0, 1.0], &[1.0, 1.0], &StepSettings::default(), 1.0);
        assert!((az - 0.5).abs() < 1e-15);
        assert!((as_ - 1.0).abs() < 1e-15);
    }
}
