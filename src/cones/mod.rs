//! Cones of the product `K = K_1 x ... x K_p` and the per-cone operations the
//! interior-point method needs (scaling, step length, centrality).
//!
//! The design mirrors Clarabel's cone trait: every cone knows how to
//! - start at an interior point (`unit_initialization`),
//! - build its block `H = W'W` of the KKT matrix (Nesterov-Todd scaling for the
//!   symmetric cones, primal-dual scaling for the exponential and power cones),
//! - form the complementarity right-hand sides of the predictor and corrector,
//! - compute the largest step that stays in the cone.
//!
//! Conventions (same as Clarabel and Moreau):
//! - zero cone: s = 0, dual z free;
//! - nonnegative: s >= 0;
//! - second-order: s = (t, x) with ||x|| <= t;
//! - PSD: s = svec(S) with S positive semidefinite (scaled upper triangle, see `psd.rs`);
//! - exponential: s = (x, y, z) with y > 0 and y exp(x / y) <= z (closure);
//! - power(alpha): s = (x, y, z) with x, y >= 0 and x^alpha y^(1-alpha) >= |z|;
//! - generalized power(alpha, dim2): s = (x, y), x >= 0, prod x_i^alpha_i >= ||y||.
//!
//! The newton system per cone reads `ds + H dz = -offset`, where `offset` is
//! `delta_s_from_delta_z_offset(rhs_ds)`.  This module is self-contained (std only)
//! so that it can be unit tested on its own.

mod exp;
mod genpow;
mod nonneg;
mod pow;
mod psd;
mod soc;
mod zero;

pub use exp::ExponentialCone;
pub use genpow::GenPowerCone;
pub use nonneg::NonnegativeCone;
pub use pow::PowerCone;
pub use psd::{svec_dim, svec_side, svec_to_mat, mat_to_svec, PsdTriangleCone};
pub use soc::SecondOrderCone;
pub use zero::ZeroCone;

/// How the scaling matrix of the non-symmetric cones is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalingStrategy {
    /// Primal-dual scaling (Tuncel / Dahl-Andersen): H maps dz to ds exactly.
    PrimalDual,
    /// Dual scaling only: H = mu * Hessian of the dual barrier at z.  Fallback.
    Dual,
}

/// Parameters of the backtracking line search used by the non-symmetric cones.
#[derive(Clone, Copy, Debug)]
pub struct StepSettings {
    /// Factor by which a step is shrunk when it leaves the cone (Clarabel: 0.8).
    pub backtrack: f64,
    /// Below this step the search gives up and returns it (Clarabel: 1e-4 for
    /// the primal-dual scaling, then the solver switches to dual scaling).
    pub min_step: f64,
}

impl Default for StepSettings {
    fn default() -> Self {
        StepSettings { backtrack: 0.8, min_step: 1e-4 }
    }
}

/// Operations the IPM needs from one cone.  All slices passed in have length
/// `dim()`; `z` is the dual variable and `s` the primal slack of this block.
pub trait Cone {
    /// Number of entries of s (and z) in this block.
    fn dim(&self) -> usize;
    /// Barrier degree nu of the cone (0 for the zero cone).
    fn degree(&self) -> usize;
    /// True for zero, nonnegative and second-order cones.
    fn is_symmetric(&self) -> bool;
    /// True when the block `H` is diagonal (`hs_block` then writes `dim()` values).
    fn hs_is_diagonal(&self) -> bool;
    /// True when `H = D + uu' - vv'` (D diagonal) may go into the KKT matrix in
    /// sparse expanded form (large second-order cones); see `hs_expansion`.
    fn hs_is_expandable(&self) -> bool {
        false
    }
    /// For expanded cones: D's diagonal, v and u (each `dim()` values).
    fn hs_expansion(&self, _d: &mut [f64], _v: &mut [f64], _u: &mut [f64]) {
        unreachable!("hs_expansion called on a cone that is not expanded")
    }

    /// Symmetric cones: alpha = max{a : z - a e in K} (may be negative) and
    /// beta = sum of max(0, eigenvalue).  Used to shift the initial point.
    /// Non-symmetric cones are never asked.
    fn margins(&self, z: &[f64]) -> (f64, f64);
    /// z <- z + alpha * e (symmetric cones only).
    fn scaled_unit_shift(&self, z: &mut [f64], alpha: f64);
    /// Write an interior starting point into s and z: the unit element e for the
    /// symmetric cones, a central point (s = z, s = -grad f*(z)) for the others.
    fn unit_initialization(&self, z: &mut [f64], s: &mut [f64]);

    /// Recompute the scaling at (s, z) in the interior of the cone.  `mu` is the
    /// current complementarity measure.  Returns false when it fails numerically.
    fn update_scaling(&mut self, s: &[f64], z: &[f64], mu: f64, strategy: ScalingStrategy)
        -> bool;

    /// Write the KKT block H = W'W: `dim()` diagonal values when
    /// `hs_is_diagonal()`, else the upper triangle column by column
    /// (H[0,0], H[0,1], H[1,1], H[0,2], H[1,2], H[2,2], ...), `dim*(dim+1)/2` values.
    fn hs_block(&self, out: &mut [f64]);
    /// y = H x.
    fn mul_hs(&self, y: &mut [f64], x: &[f64]);

    /// Right-hand side of the affine (predictor) complementarity equation.
    /// Symmetric cones: ds = lambda o lambda; non-symmetric: ds = s.
    fn affine_ds(&self, ds: &mut [f64], s: &[f64]);
    /// Corrector terms, written into `shift`:
    /// symmetric: (W^{-T} step_s) o (W step_z) - sigma_mu * e;
    /// non-symmetric (Clarabel): sigma_mu * grad f*(z) - eta, with eta the
    /// third-order correction built from the affine step (step_z, step_s);
    /// the combined rhs is then ds = affine_ds + shift (targeting s = -sigma mu grad f*(z)).
    fn combined_ds_shift(&mut self, shift: &mut [f64], step_z: &[f64], step_s: &[f64], sigma_mu: f64);
    /// The offset in `ds + H dz = -offset` given the complementarity rhs `ds`.
    /// Symmetric cones: W'(lambda \ ds); non-symmetric: ds itself.
    fn delta_s_from_delta_z_offset(&self, out: &mut [f64], ds: &[f64], z: &[f64]);

    /// Largest (alpha_z, alpha_s) <= alpha_max with z + alpha_z dz in K* and
    /// s + alpha_s ds in K (strictly inside for the non-symmetric cones, found
    /// by backtracking with `settings`).
    fn step_length(
        &self,
        dz: &[f64],
        ds: &[f64],
        z: &[f64],
        s: &[f64],
        settings: &StepSettings,
        alpha_max: f64,
    ) -> (f64, f64);

    /// Barrier value f(s + a ds) + f*(z + a dz) of the non-symmetric cones, for
    /// the centrality check of the combined step.  Symmetric cones return 0.
    fn compute_barrier(&self, z: &[f64], s: &[f64], dz: &[f64], ds: &[f64], alpha: f64) -> f64;
}

/// One cone of the product, dispatched statically.
#[derive(Clone, Debug)]
pub enum SupportedCone {
    Zero(ZeroCone),
    Nonnegative(NonnegativeCone),
    SecondOrder(SecondOrderCone),
    Psd(PsdTriangleCone),
    Exponential(ExponentialCone),
    Power(PowerCone),
    GenPower(GenPowerCone),
}

macro_rules! dispatch {
    ($self:expr, $c:ident => $e:expr) => {
        match $self {
            SupportedCone::Zero($c) => $e,
            SupportedCone::Nonnegative($c) => $e,
            SupportedCone::SecondOrder($c) => $e,
            SupportedCone::Psd($c) => $e,
            SupportedCone::Exponential($c) => $e,
            SupportedCone::Power($c) => $e,
            SupportedCone::GenPower($c) => $e,
        }
    };
}

impl Cone for SupportedCone {
    fn dim(&self) -> usize {
        dispatch!(self, c => c.dim())
    }
    fn degree(&self) -> usize {
        dispatch!(self, c => c.degree())
    }
    fn is_symmetric(&self) -> bool {
        dispatch!(self, c => c.is_symmetric())
    }
    fn hs_is_diagonal(&self) -> bool {
        dispatch!(self, c => c.hs_is_diagonal())
    }
    fn hs_is_expandable(&self) -> bool {
        dispatch!(self, c => c.hs_is_expandable())
    }
    fn hs_expansion(&self, d: &mut [f64], v: &mut [f64], u: &mut [f64]) {
        dispatch!(self, c => c.hs_expansion(d, v, u))
    }
    fn margins(&self, z: &[f64]) -> (f64, f64) {
        dispatch!(self, c => c.margins(z))
    }
    fn scaled_unit_shift(&self, z: &mut [f64], alpha: f64) {
        dispatch!(self, c => c.scaled_unit_shift(z, alpha))
    }
    fn unit_initialization(&self, z: &mut [f64], s: &mut [f64]) {
        dispatch!(self, c => c.unit_initialization(z, s))
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64], mu: f64, strategy: ScalingStrategy) -> bool {
        dispatch!(self, c => c.update_scaling(s, z, mu, strategy))
    }
    fn hs_block(&self, out: &mut [f64]) {
        dispatch!(self, c => c.hs_block(out))
    }
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        dispatch!(self, c => c.mul_hs(y, x))
    }
    fn affine_ds(&self, ds: &mut [f64], s: &[f64]) {
        dispatch!(self, c => c.affine_ds(ds, s))
    }
    fn combined_ds_shift(&mut self, shift: &mut [f64], step_z: &[f64], step_s: &[f64], sigma_mu: f64) {
        dispatch!(self, c => c.combined_ds_shift(shift, step_z, step_s, sigma_mu))
    }
    fn delta_s_from_delta_z_offset(&self, out: &mut [f64], ds: &[f64], z: &[f64]) {
        dispatch!(self, c => c.delta_s_from_delta_z_offset(out, ds, z))
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
        dispatch!(self, c => c.step_length(dz, ds, z, s, settings, alpha_max))
    }
    fn compute_barrier(&self, z: &[f64], s: &[f64], dz: &[f64], ds: &[f64], alpha: f64) -> f64 {
        dispatch!(self, c => c.compute_barrier(z, s, dz, ds, alpha))
    }
}

/// Shared small helpers for the cone implementations.
pub(crate) mod util {
    pub fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }
    /// Index of entry (i, j), i <= j, in a packed upper triangle stored column by column.
    #[inline]
    pub fn triu_index(i: usize, j: usize) -> usize {
        debug_assert!(i <= j);
        j * (j + 1) / 2 + i
    }
    /// Write the upper triangle of a dense symmetric 3x3 matrix in packed order.
    pub fn pack_triu3(h: &[[f64; 3]; 3], out: &mut [f64]) {
        for j in 0..3 {
            for i in 0..=j {
                out[triu_index(i, j)] = h[i][j];
            }
        }
    }
    /// y = H x for a dense symmetric 3x3 H.
    pub fn mul3(h: &[[f64; 3]; 3], y: &mut [f64], x: &[f64]) {
        for i in 0..3 {
            y[i] = h[i][0] * x[0] + h[i][1] * x[1] + h[i][2] * x[2];
        }
    }
}
