//! Zero cone {0}: the slack is fixed at zero and the dual is free (equality rows).

use super::{Cone, ScalingStrategy, StepSettings};

#[derive(Clone, Debug)]
pub struct ZeroCone {
    dim: usize,
}

impl ZeroCone {
    pub fn new(dim: usize) -> Self {
        ZeroCone { dim }
    }
}

impl Cone for ZeroCone {
    fn dim(&self) -> usize {
        self.dim
    }
    fn degree(&self) -> usize {
        0
    }
    fn is_symmetric(&self) -> bool {
        true
    }
    fn hs_is_diagonal(&self) -> bool {
        true
    }
    // The dual is free: it never limits the initial shift.
    fn margins(&self, _z: &[f64]) -> (f64, f64) {
        (f64::INFINITY, 0.0)
    }
    fn scaled_unit_shift(&self, _z: &mut [f64], _alpha: f64) {}
    fn unit_initialization(&self, z: &mut [f64], s: &mut [f64]) {
        z.fill(0.0);
        s.fill(0.0);
    }
    fn update_scaling(&mut self, _s: &[f64], _z: &[f64], _mu: f64, _st: ScalingStrategy) -> bool {
        true
    }
    fn hs_block(&self, out: &mut [f64]) {
        out.fill(0.0);
    }
    fn mul_hs(&self, y: &mut [f64], _x: &[f64]) {
        y.fill(0.0);
    }
    fn affine_ds(&self, ds: &mut [f64], _s: &[f64]) {
        ds.fill(0.0);
    }
    fn combined_ds_shift(&mut self, shift: &mut [f64], _dz: &[f64], _ds: &[f64], _sigma_mu: f64) {
        shift.fill(0.0);
    }
    fn delta_s_from_delta_z_offset(&self, out: &mut [f64], _ds: &[f64], _z: &[f64]) {
        out.fill(0.0);
    }
    fn step_length(
        &self,
        _dz: &[f64],
        _ds: &[f64],
        _z: &[f64],
        _s: &[f64],
        _settings: &StepSettings,
        alpha_max: f64,
    ) -> (f64, f64) {
        (alpha_max, alpha_max)
    }
    fn compute_barrier(&self, _z: &[f64], _s: &[f64], _dz: &[f64], _ds: &[f64], _a: f64) -> f64 {
        0.0
    }
}
