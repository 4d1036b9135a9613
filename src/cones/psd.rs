//! Positive semidefinite cone on scaled svec coordinates, with Nesterov-Todd scaling.
//!
//! Coordinates.  A symmetric k x k matrix X is stored as the vector
//! `svec(X)` of its upper triangle, column by column, off-diagonal entries times
//! sqrt(2): `(X00, sqrt2 X01, X11, sqrt2 X02, sqrt2 X12, X22, ...)`, entry (i, j),
//! i <= j, at position `j (j + 1) / 2 + i` (CVXPY's MOREAU interface:
//! `PSD_TRIANGLE_KIND = UPPER`, `PSD_SQRT2_SCALING = True`; Moreau's `psd_dims`).
//! svec is an isometry: `svec(X)' svec(Y) = tr(X Y)`, so the cone
//! `K = {svec(X) : X PSD}` is self-dual in these coordinates and dim = k (k + 1) / 2.
//!
//! Jordan algebra: `X o Y = (X Y + Y X) / 2`, identity e = I, barrier
//! `f(X) = -log det X` of degree k, gradient `-X^{-1}`.
//!
//! Nesterov-Todd scaling (as in Clarabel's PSD cone).  With Cholesky factors
//! `S = L1 L1'`, `Z = L2 L2'` and the SVD `L2' L1 = U Lambda V'`, set
//!
//! ```text
//!     R = L1 V Lambda^{-1/2},      R^{-1} = Lambda^{-1/2} U' L2'
//!     W(X) = R' X R,   W'(X) = R X R',   W^{-T}(X) = R^{-1} X R^{-T}.
//! ```
//!
//! Then `W(Z) = Lambda^{-1/2} V' (L1' L2 L2' L1) V Lambda^{-1/2} = Lambda` and
//! `W^{-T}(S) = Lambda^{1/2} V' L1^{-1} L1 L1' L1^{-T} V Lambda^{1/2} = Lambda`: the
//! scaled point `lambda = W z = W^{-T} s` is the diagonal matrix Lambda, and the
//! KKT block is `H = W'W : X -> B X B` with `B = R R'`, so `H z = R Lambda R' = S`.
//! In svec coordinates H is the symmetric Kronecker product of B with itself:
//! for p = (i, j), q = (a, b) (upper-triangle pairs),
//!
//! ```text
//!     H[p, q] = f_p f_q (B_ia B_jb + B_ib B_ja),   f = 1 off the diagonal, 1/sqrt(2) on it,
//! ```
//!
//! a dense `dim x dim` block that goes into the KKT matrix as it is.
//!
//! Interior-point terms (the symmetric-cone Mehrotra scheme, as for the SOC):
//! - affine rhs: `lambda o lambda = Lambda^2`;
//! - corrector shift: `(W^{-T} dS) o (W dZ) - sigma mu I` from the affine step;
//! - offset `W'(lambda \ D)`, where `Lambda o X = D` is solved entrywise by
//!   `X_ij = 2 D_ij / (lambda_i + lambda_j)`;
//! - step length: `Z + a dZ` is PSD iff its congruence `Lambda + a W(dZ)` is, iff
//!   `I + a Lambda^{-1/2} W(dZ) Lambda^{-1/2}` is: with mu_min the smallest eigenvalue of
//!   the scaled direction, a* = -1 / mu_min when mu_min < 0 (unbounded otherwise);
//!   the same for s with `W^{-T}(dS)`.  This uses the scaling of the current point,
//!   which the IPM computes (`update_scaling`) before it asks for step lengths.

// Dense index loops over (i, j) pairs read best indexed.
#![allow(clippy::needless_range_loop)]

use dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::linalg::svd::{svd, svd_scratch, ComputeSvdVectors};
use faer::{Accum, Mat, MatRef, Par};

use super::util::triu_index;
use super::{Cone, ScalingStrategy, StepSettings};

const SQRT2: f64 = std::f64::consts::SQRT_2;

/// Number of svec entries of a k x k symmetric matrix.
pub fn svec_dim(k: usize) -> usize {
    k * (k + 1) / 2
}

/// The side k with `svec_dim(k) == dim`, if there is one.
pub fn svec_side(dim: usize) -> Option<usize> {
    let k = (((8 * dim + 1) as f64).sqrt() as usize).saturating_sub(1) / 2;
    (k..=k + 1).find(|&k| svec_dim(k) == dim)
}

/// The symmetric matrix X with svec(X) = x.
pub fn svec_to_mat(x: &[f64], k: usize) -> Mat<f64> {
    let mut m = Mat::<f64>::zeros(k, k);
    for j in 0..k {
        for i in 0..j {
            let v = x[triu_index(i, j)] / SQRT2;
            m[(i, j)] = v;
            m[(j, i)] = v;
        }
        m[(j, j)] = x[triu_index(j, j)];
    }
    m
}

/// svec of the symmetric part of m.
pub fn mat_to_svec(m: MatRef<'_, f64>, out: &mut [f64]) {
    let k = m.nrows();
    for j in 0..k {
        for i in 0..j {
            out[triu_index(i, j)] = (m[(i, j)] + m[(j, i)]) * (SQRT2 / 2.0);
        }
        out[triu_index(j, j)] = m[(j, j)];
    }
}

/// a b, sequentially (the cones of a batch already run on separate threads).
fn mul(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::<f64>::zeros(a.nrows(), b.ncols());
    matmul(c.as_mut(), Accum::Replace, a, b, 1.0, Par::Seq);
    c
}

/// a x b.
fn mul3(a: MatRef<'_, f64>, x: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    mul(mul(a, x).as_ref(), b)
}

/// Lower Cholesky factor of a symmetric positive definite matrix (None if not PD).
fn cholesky(a: MatRef<'_, f64>) -> Option<Mat<f64>> {
    let k = a.nrows();
    let mut l = a.to_owned();
    let mut mem = MemBuffer::try_new(cholesky_in_place_scratch::<f64>(k, Par::Seq, Default::default())).ok()?;
    cholesky_in_place(l.as_mut(), Default::default(), Par::Seq, MemStack::new(&mut mem), Default::default()).ok()?;
    for j in 0..k {
        for i in 0..j {
            l[(i, j)] = 0.0;
        }
        if !(l[(j, j)] > 0.0 && l[(j, j)].is_finite()) {
            return None;
        }
    }
    Some(l)
}

/// Eigenvalues (ascending) of a symmetric matrix.
pub(crate) fn eigenvalues(a: MatRef<'_, f64>) -> Option<Vec<f64>> {
    let k = a.nrows();
    let mut s = faer::Col::<f64>::zeros(k);
    let mut mem =
        MemBuffer::try_new(self_adjoint_evd_scratch::<f64>(k, ComputeEigenvectors::No, Par::Seq, Default::default()))
            .ok()?;
    self_adjoint_evd(a, s.as_diagonal_mut(), None, Par::Seq, MemStack::new(&mut mem), Default::default()).ok()?;
    let ev: Vec<f64> = (0..k).map(|i| s[i]).collect();
    ev.iter().all(|v| v.is_finite()).then_some(ev)
}

/// Thin SVD a = U diag(s) V' of a square matrix.
fn svd_square(a: MatRef<'_, f64>) -> Option<(Mat<f64>, Vec<f64>, Mat<f64>)> {
    let k = a.nrows();
    let mut s = faer::Col::<f64>::zeros(k);
    let mut u = Mat::<f64>::zeros(k, k);
    let mut v = Mat::<f64>::zeros(k, k);
    let req = svd_scratch::<f64>(k, k, ComputeSvdVectors::Full, ComputeSvdVectors::Full, Par::Seq, Default::default());
    let mut mem = MemBuffer::try_new(req).ok()?;
    svd(a, s.as_diagonal_mut(), Some(u.as_mut()), Some(v.as_mut()), Par::Seq, MemStack::new(&mut mem), Default::default())
        .ok()?;
    Some((u, (0..k).map(|i| s[i]).collect(), v))
}

/// Smallest eigenvalue of `Lambda^{-1/2} Y Lambda^{-1/2}` -> largest a with
/// `I + a (that) >= 0`, capped at alpha_max.
fn scaled_step(y: &Mat<f64>, lambda: &[f64], alpha_max: f64) -> f64 {
    let k = lambda.len();
    let m = Mat::<f64>::from_fn(k, k, |i, j| y[(i, j)] / (lambda[i] * lambda[j]).sqrt());
    match eigenvalues(m.as_ref()) {
        Some(ev) if ev[0] < 0.0 => alpha_max.min(-1.0 / ev[0]).max(0.0),
        Some(_) => alpha_max,
        None => 0.0,
    }
}

/// -log det of a symmetric matrix, +inf if it is not positive definite.
fn neg_log_det(a: MatRef<'_, f64>) -> f64 {
    match cholesky(a) {
        Some(l) => -2.0 * (0..a.nrows()).map(|i| l[(i, i)].ln()).sum::<f64>(),
        None => f64::INFINITY,
    }
}

/// The PSD cone of k x k matrices (dimension k (k + 1) / 2, barrier degree k).
#[derive(Clone, Debug)]
pub struct PsdTriangleCone {
    k: usize,
    /// Upper-triangle pair (i, j) of every svec position.
    pairs: Vec<(usize, usize)>,
    /// NT scaling W(X) = R' X R, its inverse factor, and B = R R' (H = B (.) B).
    r: Mat<f64>,
    rinv: Mat<f64>,
    b: Mat<f64>,
    /// Scaled point Lambda = W(Z) = W^{-T}(S) (its diagonal).
    lambda: Vec<f64>,
}

impl PsdTriangleCone {
    pub fn new(k: usize) -> Self {
        assert!(k >= 1, "a PSD cone needs a matrix side k >= 1");
        let mut pairs = Vec::with_capacity(svec_dim(k));
        for j in 0..k {
            for i in 0..=j {
                pairs.push((i, j));
            }
        }
        let eye = Mat::<f64>::identity(k, k);
        PsdTriangleCone { k, pairs, r: eye.clone(), rinv: eye.clone(), b: eye, lambda: vec![1.0; k] }
    }

    /// Side of the matrices.
    pub fn side(&self) -> usize {
        self.k
    }

    /// R' X R.
    fn mul_w(&self, x: &Mat<f64>) -> Mat<f64> {
        mul3(self.r.transpose(), x.as_ref(), self.r.as_ref())
    }

    /// R X R'.
    fn mul_wt(&self, x: &Mat<f64>) -> Mat<f64> {
        mul3(self.r.as_ref(), x.as_ref(), self.r.transpose())
    }

    /// R^{-1} X R^{-T}.
    fn mul_winv_t(&self, x: &Mat<f64>) -> Mat<f64> {
        mul3(self.rinv.as_ref(), x.as_ref(), self.rinv.transpose())
    }

    fn mat(&self, x: &[f64]) -> Mat<f64> {
        svec_to_mat(x, self.k)
    }
}

impl Cone for PsdTriangleCone {
    fn dim(&self) -> usize {
        svec_dim(self.k)
    }
    fn degree(&self) -> usize {
        self.k
    }
    fn is_symmetric(&self) -> bool {
        true
    }
    fn hs_is_diagonal(&self) -> bool {
        false
    }
    fn margins(&self, z: &[f64]) -> (f64, f64) {
        match eigenvalues(self.mat(z).as_ref()) {
            Some(ev) => (ev[0], ev.iter().map(|v| v.max(0.0)).sum()),
            None => (f64::NEG_INFINITY, 0.0),
        }
    }
    fn scaled_unit_shift(&self, z: &mut [f64], alpha: f64) {
        for j in 0..self.k {
            z[triu_index(j, j)] += alpha;
        }
    }
    fn unit_initialization(&self, z: &mut [f64], s: &mut [f64]) {
        z.fill(0.0);
        s.fill(0.0);
        self.scaled_unit_shift(z, 1.0);
        self.scaled_unit_shift(s, 1.0);
    }
    fn update_scaling(&mut self, s: &[f64], z: &[f64], _mu: f64, _st: ScalingStrategy) -> bool {
        let (Some(l1), Some(l2)) = (cholesky(self.mat(s).as_ref()), cholesky(self.mat(z).as_ref())) else {
            return false;
        };
        let Some((u, sig, v)) = svd_square(mul(l2.transpose(), l1.as_ref()).as_ref()) else {
            return false;
        };
        if !sig.iter().all(|x| *x > 0.0 && x.is_finite()) {
            return false;
        }
        let k = self.k;
        let mut r = mul(l1.as_ref(), v.as_ref());
        let mut rinv = mul(u.transpose(), l2.transpose());
        for j in 0..k {
            let c = sig[j].sqrt();
            for i in 0..k {
                r[(i, j)] /= c;
                rinv[(j, i)] /= c;
            }
        }
        self.b = mul(r.as_ref(), r.transpose());
        self.r = r;
        self.rinv = rinv;
        self.lambda = sig;
        let finite = |m: &Mat<f64>| m.as_ref().is_all_finite();
        finite(&self.r) && finite(&self.rinv) && finite(&self.b)
    }
    fn hs_block(&self, out: &mut [f64]) {
        let b = &self.b;
        let f = |i: usize, j: usize| if i == j { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
        for (q, &(a, c)) in self.pairs.iter().enumerate() {
            let fq = f(a, c);
            for (p, &(i, j)) in self.pairs[..=q].iter().enumerate() {
                out[triu_index(p, q)] = f(i, j) * fq * (b[(i, a)] * b[(j, c)] + b[(i, c)] * b[(j, a)]);
            }
        }
    }
    fn mul_hs(&self, y: &mut [f64], x: &[f64]) {
        let bx = mul3(self.b.as_ref(), self.mat(x).as_ref(), self.b.as_ref());
        mat_to_svec(bx.as_ref(), y);
    }
    fn affine_ds(&self, ds: &mut [f64], _s: &[f64]) {
        ds.fill(0.0);
        for (j, l) in self.lambda.iter().enumerate() {
            ds[triu_index(j, j)] = l * l;
        }
    }
    fn combined_ds_shift(&mut self, shift: &mut [f64], dz: &[f64], ds: &[f64], sigma_mu: f64) {
        let wdz = self.mul_w(&self.mat(dz));
        let winv_ds = self.mul_winv_t(&self.mat(ds));
        // Jordan product: the symmetric part of (W^{-T} dS)(W dZ).
        mat_to_svec(mul(winv_ds.as_ref(), wdz.as_ref()).as_ref(), shift);
        for j in 0..self.k {
            shift[triu_index(j, j)] -= sigma_mu;
        }
    }
    fn delta_s_from_delta_z_offset(&self, out: &mut [f64], ds: &[f64], _z: &[f64]) {
        let l = &self.lambda;
        let d = self.mat(ds);
        let x = Mat::<f64>::from_fn(self.k, self.k, |i, j| 2.0 * d[(i, j)] / (l[i] + l[j]));
        mat_to_svec(self.mul_wt(&x).as_ref(), out);
    }
    fn step_length(
        &self,
        dz: &[f64],
        ds: &[f64],
        _z: &[f64],
        _s: &[f64],
        _settings: &StepSettings,
        alpha_max: f64,
    ) -> (f64, f64) {
        let az = scaled_step(&self.mul_w(&self.mat(dz)), &self.lambda, alpha_max);
        let as_ = scaled_step(&self.mul_winv_t(&self.mat(ds)), &self.lambda, alpha_max);
        (az, as_)
    }
    fn compute_barrier(&self, z: &[f64], s: &[f64], dz: &[f64], ds: &[f64], a: f64) -> f64 {
        let shifted = |x: &[f64], dx: &[f64]| -> Vec<f64> { x.iter().zip(dx).map(|(x, d)| x + a * d).collect() };
        let fz = neg_log_det(self.mat(&shifted(z, dz)).as_ref());
        let fs = neg_log_det(self.mat(&shifted(s, ds)).as_ref());
        fz + fs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64) / ((1u64 << 53) as f64) * 2.0 - 1.0
        }
    }

    /// svec of a random positive definite matrix G G' + shift I.
    fn random_pd(k: usize, shift: f64, rng: &mut Lcg) -> Vec<f64> {
        let g = Mat::<f64>::from_fn(k, k, |_, _| rng.next());
        let mut m = mul(g.as_ref(), g.transpose());
        for i in 0..k {
            m[(i, i)] += shift;
        }
        let mut x = vec![0.0; svec_dim(k)];
        mat_to_svec(m.as_ref(), &mut x);
        x
    }

    fn dense_h(c: &PsdTriangleCone) -> Vec<Vec<f64>> {
        let d = c.dim();
        let mut packed = vec![0.0; d * (d + 1) / 2];
        c.hs_block(&mut packed);
        let mut h = vec![vec![0.0; d]; d];
        for q in 0..d {
            for p in 0..=q {
                h[p][q] = packed[triu_index(p, q)];
                h[q][p] = h[p][q];
            }
        }
        h
    }

    fn max_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn svec_roundtrip_and_isometry() {
        assert_eq!(svec_side(0), Some(0));
        for k in 1..40 {
            assert_eq!(svec_side(svec_dim(k)), Some(k));
            assert_eq!(svec_side(svec_dim(k) + 1), None);
        }
        let mut rng = Lcg(3);
        let x: Vec<f64> = (0..10).map(|_| rng.next()).collect();
        let y: Vec<f64> = (0..10).map(|_| rng.next()).collect();
        let (xm, ym) = (svec_to_mat(&x, 4), svec_to_mat(&y, 4));
        let mut back = vec![0.0; 10];
        mat_to_svec(xm.as_ref(), &mut back);
        assert!(max_diff(&back, &x) < 1e-15);
        // <svec X, svec Y> = tr(X Y)
        let tr: f64 = (0..4).map(|i| mul(xm.as_ref(), ym.as_ref())[(i, i)]).sum();
        let dot: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!((tr - dot).abs() < 1e-14);
        // column-major upper triangle with sqrt(2) off the diagonal
        assert_eq!(xm[(0, 1)], x[1] / SQRT2);
        assert_eq!(xm[(1, 2)], x[4] / SQRT2);
        assert_eq!(xm[(2, 2)], x[5]);
    }

    #[test]
    fn membership_by_margins() {
        let c = PsdTriangleCone::new(3);
        // diag(2, 1, -0.5) rotated is outside; identity is inside with margin 1
        let mut e = vec![0.0; 6];
        c.scaled_unit_shift(&mut e, 1.0);
        let (alpha, beta) = c.margins(&e);
        assert!((alpha - 1.0).abs() < 1e-14 && (beta - 3.0).abs() < 1e-14);
        // [[1, 2], [2, 1]] has eigenvalues -1 and 3
        let c2 = PsdTriangleCone::new(2);
        let x = [1.0, 2.0 * SQRT2, 1.0];
        let (alpha, beta) = c2.margins(&x);
        assert!((alpha + 1.0).abs() < 1e-14 && (beta - 3.0).abs() < 1e-14);
        assert!(neg_log_det(svec_to_mat(&x, 2).as_ref()).is_infinite());
        // shifting by -alpha puts it on the boundary, a bit more inside
        let mut y = x.to_vec();
        c2.scaled_unit_shift(&mut y, 1.0 + 1e-9);
        assert!(c2.margins(&y).0 > 0.0);
        // k = 1 is the nonnegative ray
        let c1 = PsdTriangleCone::new(1);
        assert_eq!(c1.margins(&[-0.25]).0, -0.25);
    }

    #[test]
    fn nt_scaling_identities() {
        let mut rng = Lcg(17);
        for k in [1usize, 2, 3, 5, 8] {
            for trial in 0..5 {
                let mut c = PsdTriangleCone::new(k);
                let s = random_pd(k, 0.1 + trial as f64, &mut rng);
                let z = random_pd(k, 0.05, &mut rng);
                assert!(c.update_scaling(&s, &z, 1.0, ScalingStrategy::PrimalDual));
                let d = c.dim();
                // H z = s, through mul_hs and through the packed block
                let mut hz = vec![0.0; d];
                c.mul_hs(&mut hz, &z);
                let scale = s.iter().fold(1.0f64, |a, v| a.max(v.abs()));
                assert!(max_diff(&hz, &s) < 1e-10 * scale, "k={k}: H z != s");
                let h = dense_h(&c);
                let hz2: Vec<f64> = (0..d).map(|p| (0..d).map(|q| h[p][q] * z[q]).sum()).collect();
                assert!(max_diff(&hz2, &s) < 1e-10 * scale, "k={k}: packed H wrong");
                // H = W'W on a random direction too
                let x: Vec<f64> = (0..d).map(|_| rng.next()).collect();
                let mut hx = vec![0.0; d];
                c.mul_hs(&mut hx, &x);
                let hx2: Vec<f64> = (0..d).map(|p| (0..d).map(|q| h[p][q] * x[q]).sum()).collect();
                assert!(max_diff(&hx, &hx2) < 1e-10 * scale);
                // W z = W^{-T} s = Lambda (diagonal)
                let wz = c.mul_w(&c.mat(&z));
                let ws = c.mul_winv_t(&c.mat(&s));
                for i in 0..k {
                    for j in 0..k {
                        let l = if i == j { c.lambda[i] } else { 0.0 };
                        assert!((wz[(i, j)] - l).abs() < 1e-9 * scale && (ws[(i, j)] - l).abs() < 1e-9 * scale);
                    }
                }
                // R R^{-1} = I
                let ri = mul(c.r.as_ref(), c.rinv.as_ref());
                for i in 0..k {
                    for j in 0..k {
                        assert!((ri[(i, j)] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9);
                    }
                }
            }
        }
        // Not PD: the scaling reports failure.
        let mut c = PsdTriangleCone::new(2);
        assert!(!c.update_scaling(&[1.0, 2.0 * SQRT2, 1.0], &[1.0, 0.0, 1.0], 1.0, ScalingStrategy::PrimalDual));
    }

    #[test]
    fn offset_inverts_jordan_product() {
        // W'(lambda \ D) with D = lambda o (W^{-T} x) gives back W' W^{-T} x = x.
        let mut rng = Lcg(5);
        let k = 4;
        let mut c = PsdTriangleCone::new(k);
        assert!(c.update_scaling(&random_pd(k, 0.3, &mut rng), &random_pd(k, 0.2, &mut rng), 1.0, ScalingStrategy::PrimalDual));
        let x: Vec<f64> = (0..c.dim()).map(|_| rng.next()).collect();
        let y = c.mul_winv_t(&c.mat(&x));
        let lam = Mat::<f64>::from_fn(k, k, |i, j| if i == j { c.lambda[i] } else { 0.0 });
        let mut dvec = vec![0.0; c.dim()];
        mat_to_svec(mul(lam.as_ref(), y.as_ref()).as_ref(), &mut dvec); // sym part = lambda o y
        let mut out = vec![0.0; c.dim()];
        c.delta_s_from_delta_z_offset(&mut out, &dvec, &[]);
        assert!(max_diff(&out, &x) < 1e-10);
    }

    #[test]
    fn step_length_on_boundary() {
        let mut rng = Lcg(9);
        for k in [1usize, 2, 4, 7] {
            let mut c = PsdTriangleCone::new(k);
            let s = random_pd(k, 0.5, &mut rng);
            let z = random_pd(k, 0.5, &mut rng);
            assert!(c.update_scaling(&s, &z, 1.0, ScalingStrategy::PrimalDual));
            let st = StepSettings::default();
            // dz = -z / 0.4 reaches the boundary (Z = 0) at a = 0.4 exactly
            let dz: Vec<f64> = z.iter().map(|v| -v / 0.4).collect();
            // ds = -2 u u' (u a unit eigen-direction of S... any rank one): S - a 2uu' singular
            let ds: Vec<f64> = (0..c.dim()).map(|_| rng.next()).collect();
            let (az, as_) = c.step_length(&dz, &ds, &z, &s, &st, 10.0);
            assert!((az - 0.4).abs() < 1e-10, "k={k}: {az}");
            // s + as ds is on the boundary: smallest eigenvalue ~ 0, and a larger step leaves
            if as_ < 10.0 {
                let p: Vec<f64> = s.iter().zip(&ds).map(|(a, b)| a + as_ * b).collect();
                let ev = eigenvalues(svec_to_mat(&p, k).as_ref()).unwrap();
                assert!(ev[0].abs() < 1e-9, "k={k}: {ev:?}");
                let q: Vec<f64> = s.iter().zip(&ds).map(|(a, b)| a + 1.01 * as_ * b).collect();
                assert!(eigenvalues(svec_to_mat(&q, k).as_ref()).unwrap()[0] < 0.0);
            }
            // directions into the cone: the cap
            let (az, as_) = c.step_length(&z, &s, &z, &s, &st, 3.0);
            assert_eq!((az, as_), (3.0, 3.0));
        }
        // k = 1: the ray, step -x/dx
        let mut c = PsdTriangleCone::new(1);
        assert!(c.update_scaling(&[2.0], &[3.0], 1.0, ScalingStrategy::PrimalDual));
        let (az, as_) = c.step_length(&[-6.0], &[-8.0], &[3.0], &[2.0], &StepSettings::default(), 1.0);
        assert!((az - 0.5).abs() < 1e-14 && (as_ - 0.25).abs() < 1e-14);
    }

    #[test]
    fn barrier_gradient_matches_fd() {
        // d/da [-log det(S + a dS)] at 0 = -tr(S^{-1} dS) = -<svec(S^{-1}), ds>.
        let mut rng = Lcg(21);
        for k in [1usize, 2, 3, 6] {
            let c = PsdTriangleCone::new(k);
            let d = c.dim();
            let s = random_pd(k, 0.5, &mut rng);
            let z = random_pd(k, 0.5, &mut rng);
            let ds: Vec<f64> = (0..d).map(|_| rng.next()).collect();
            let dz: Vec<f64> = (0..d).map(|_| rng.next()).collect();
            let h = 1e-6;
            let fd = (c.compute_barrier(&z, &s, &dz, &ds, h) - c.compute_barrier(&z, &s, &dz, &ds, -h)) / (2.0 * h);
            let grad = |x: &[f64]| {
                let inv = faer::linalg::solvers::DenseSolveCore::inverse(&svec_to_mat(x, k).llt(faer::Side::Lower).unwrap());
                let mut g = vec![0.0; d];
                mat_to_svec(inv.as_ref(), &mut g);
                g.iter_mut().for_each(|v| *v = -*v);
                g
            };
            let an: f64 = grad(&s).iter().zip(&ds).map(|(a, b)| a * b).sum::<f64>()
                + grad(&z).iter().zip(&dz).map(|(a, b)| a * b).sum::<f64>();
            assert!((fd - an).abs() < 1e-6 * (1.0 + an.abs()), "k={k}: fd {fd} vs {an}");
            // unit point: f(I) = 0 and the barrier is infinite outside
            let mut e = vec![0.0; d];
            let mut e2 = vec![0.0; d];
            c.unit_initialization(&mut e, &mut e2);
            assert!(c.compute_barrier(&e, &e2, &ds, &dz, 0.0).abs() < 1e-14);
            let neg: Vec<f64> = e.iter().map(|v| -v).collect();
            assert!(c.compute_barrier(&e, &e2, &neg, &neg, 1.5).is_infinite());
        }
    }

    #[test]
    fn combined_shift_is_jordan_product() {
        // With W = I (unit scaling): shift = dS o dZ - sigma mu I.
        let c0 = PsdTriangleCone::new(3);
        let mut c = c0.clone();
        let e = {
            let mut e = vec![0.0; 6];
            c.scaled_unit_shift(&mut e, 1.0);
            e
        };
        assert!(c.update_scaling(&e, &e, 1.0, ScalingStrategy::PrimalDual));
        let mut rng = Lcg(2);
        let dz: Vec<f64> = (0..6).map(|_| rng.next()).collect();
        let ds: Vec<f64> = (0..6).map(|_| rng.next()).collect();
        let mut shift = vec![0.0; 6];
        c.combined_ds_shift(&mut shift, &dz, &ds, 0.3);
        let (a, b) = (svec_to_mat(&ds, 3), svec_to_mat(&dz, 3));
        let mut jp = mul(a.as_ref(), b.as_ref()) + mul(b.as_ref(), a.as_ref());
        for i in 0..3 {
            for j in 0..3 {
                jp[(i, j)] *= 0.5;
            }
            jp[(i, i)] -= 0.3;
        }
        let mut want = vec![0.0; 6];
        mat_to_svec(jp.as_ref(), &mut want);
        assert!(max_diff(&shift, &want) < 1e-14);
        let mut ads = vec![0.0; 6];
        c.affine_ds(&mut ads, &e);
        assert!(max_diff(&ads, &e) < 1e-14);
    }
}
