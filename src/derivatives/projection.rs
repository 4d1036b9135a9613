//! Derivatives of the Euclidean projection onto each cone.
//!
//! The residual map works with `v = z - s`: at an optimum `z = proj_{K*}(v)` and
//! `s = proj_K(-v)` (Moreau decomposition).  By the same identity
//! `D proj_{K*}(v) = I - D proj_K(-v)`, so every cone only needs the Jacobian of
//! its primal projection `J = D proj_K(v0)` at `v0 = s - z`, whose projection is `s`.
//!
//! Generalized Jacobian at kinks (documented choice): when `v0` lies in K (its
//! boundary included) J = I, i.e. a constraint with zero multiplier is treated as
//! inactive.  Exponential/power cones: when the smooth boundary formula breaks down
//! (projection at a corner of the cone), a diagonal one-sided element is used.
//! Generalized power cones: `genpow_projection.rs`.

use faer::Mat;

use super::dense;
use crate::cones::{mat_to_svec, svec_to_mat};

/// Kind of one block of the cone product, in row order.
#[derive(Clone, Debug, PartialEq)]
pub enum BlockKind {
    Zero,
    Nonneg,
    Soc,
    /// PSD cone of k x k matrices on svec coordinates (dimension k (k + 1) / 2).
    Psd(usize),
    Exp,
    Pow(f64),
    /// Generalized power cone with these alphas (the rest of the block is y).
    GenPow(std::sync::Arc<[f64]>),
}

/// Write `J = D proj_K(v0)` (row-major `d x d`) for a block, given `v0 = s - z` and
/// the projection `p = s` (only the exponential and power cones read `p`).
pub fn primal_jacobian(kind: BlockKind, v0: &[f64], p: &[f64], out: &mut [f64]) {
    let d = v0.len();
    out.iter_mut().for_each(|o| *o = 0.0);
    match kind {
        Kind::Zero => {}
        Kind::Nonneg => {
            for i in 0..d {
                out[i * d + i] = if v0[i] >= 0.0 { 1.0 } else { 0.0 };
            }
        }
        Kind::Soc => soc_jacobian(v0, out),
        Kind::Psd(k) => psd_jacobian(v0, k, out),
        Kind::Exp => exp_jacobian(v0, p, out),
        Kind::Pow(alpha) => pow_jacobian(v0, p, alpha, out),
        Kind::GenPow(alphas) => super::genpow_projection::genpow_jacobian(v0, &alphas, out),
    }
}
use BlockKind as Kind;

fn identity(out: &mut [f64], d: usize) {
    out.iter_mut().for_each(|o| *o = 0.0);
    for i in 0..d {
        out[i * d + i] = 1.0;
    }
}

/// Projection onto the second-order cone {(t, x): ||x|| <= t}.
pub fn soc_project(v0: &[f64], out: &mut [f64]) {
    let t = v0[0];
    let nx = v0[1..].iter().map(|a| a * a).sum::<f64>().sqrt();
    if nx <= t {
        out.copy_from_slice(v0);
    } else if nx <= -t {
        out.iter_mut().for_each(|o| *o = 0.0);
    } else {
        let c = 0.5 * (t + nx);
        out[0] = c;
        for i in 1..v0.len() {
            out[i] = c * v0[i] / nx;
        }
    }
}

fn soc_jacobian(v0: &[f64], out: &mut [f64]) {
    let d = v0.len();
    let t = v0[0];
    let nx = v0[1..].iter().map(|a| a * a).sum::<f64>().sqrt();
    if nx <= t {
        identity(out, d);
    } else if nx <= -t {
        // already zero
    } else {
        // 1/2 [[1, u'], [u, (1 + t/|x|) I - (t/|x|) u u']] with u = x/|x|
        let r = t / nx;
        out[0] = 0.5;
        for i in 1..d {
            let ui = v0[i] / nx;
            out[i] = 0.5 * ui;
            out[i * d] = 0.5 * ui;
            for j in 1..d {
                let uj = v0[j] / nx;
                let eye = if i == j { 1.0 + r } else { 0.0 };
                out[i * d + j] = 0.5 * (eye - r * ui * uj);
            }
        }
    }
}

/// Projection onto the PSD cone in svec coordinates: with `mat(v0) = Q diag(l) Q'`,
/// `proj(v0) = svec(Q diag(max(l, 0)) Q')`.
pub fn psd_project(v0: &[f64], k: usize, out: &mut [f64]) {
    let Some((ev, q)) = dense::symmetric_eigen(svec_to_mat(v0, k).as_ref()) else {
        out.iter_mut().for_each(|o| *o = f64::NAN);
        return;
    };
    let p = Mat::<f64>::from_fn(k, k, |i, j| (0..k).map(|a| q[(i, a)] * ev[a].max(0.0) * q[(j, a)]).sum());
    mat_to_svec(p.as_ref(), out);
}

/// Jacobian of the PSD projection (the Loewner / Daleckii-Krein formula): with
/// `mat(v0) = Q diag(l) Q'`,
///
/// ```text
///     D proj(v0)[dX] = Q (Omega o (Q' dX Q)) Q',
///     Omega_ab = 1 if l_a, l_b >= 0;  0 if both < 0;  (l_a^+ - l_b^+) / (l_a - l_b) otherwise,
/// ```
///
/// (`o` the entrywise product).  At a zero eigenvalue this takes the interior
/// element (Omega = 1 with the nonnegative ones), so `J = I` for v0 in K, as for the
/// other cones.  Column q of J (row-major out) is the svec of the image of the q-th
/// svec basis matrix `E_q`, whose transform `Q' E_q Q` is the symmetrized outer
/// product of two rows of Q: O(k^3) per column, O(k^5) in all.
fn psd_jacobian(v0: &[f64], k: usize, out: &mut [f64]) {
    let d = v0.len();
    let Some((ev, q)) = dense::symmetric_eigen(svec_to_mat(v0, k).as_ref()) else {
        return identity(out, d); // non-finite data: the choice of the interior element
    };
    if ev.iter().all(|&l| l >= 0.0) {
        return identity(out, d);
    }
    if ev.iter().all(|&l| l < 0.0) {
        return; // projection is 0 nearby
    }
    let omega = Mat::<f64>::from_fn(k, k, |a, b| {
        let (la, lb) = (ev[a], ev[b]);
        match (la >= 0.0, lb >= 0.0) {
            (true, true) => 1.0,
            (false, false) => 0.0,
            _ => (la.max(0.0) - lb.max(0.0)) / (la - lb),
        }
    });
    let qt = q.transpose();
    let mut y = Mat::<f64>::zeros(k, k);
    let mut col = vec![0.0; d];
    let inv_sqrt2 = std::f64::consts::FRAC_1_SQRT_2;
    let mut qcol = 0;
    for jj in 0..k {
        for ii in 0..=jj {
            // Q' E_q Q with E_q = (e_i e_j' + e_j e_i') / sqrt(2) (i < j) or e_i e_i'
            for a in 0..k {
                for b in 0..k {
                    let t = if ii == jj {
                        qt[(a, ii)] * qt[(b, ii)]
                    } else {
                        (qt[(a, ii)] * qt[(b, jj)] + qt[(a, jj)] * qt[(b, ii)]) * inv_sqrt2
                    };
                    y[(a, b)] = omega[(a, b)] * t;
                }
            }
            let img = dense::mul(dense::mul(q.as_ref(), y.as_ref()).as_ref(), qt);
            mat_to_svec(img.as_ref(), &mut col);
            for p in 0..d {
                out[p * d + qcol] = col[p];
            }
            qcol += 1;
        }
    }
}

/// Membership in the exponential cone (closure included).
pub fn in_exp(w: &[f64]) -> bool {
    let (x, y, z) = (w[0], w[1], w[2]);
    if y > 0.0 && z > 0.0 {
        x <= y * (z / y).ln()
    } else {
        x <= 0.0 && y == 0.0 && z >= 0.0
    }
}

/// Membership in the dual exponential cone {(u,v,w): u < 0, -u exp(v/u) <= e w} (closure).
pub fn in_exp_dual(w: &[f64]) -> bool {
    let (u, v, t) = (w[0], w[1], w[2]);
    if u < 0.0 && t > 0.0 {
        (-u).ln() + v / u <= 1.0 + t.ln()
    } else {
        u == 0.0 && v >= 0.0 && t >= 0.0
    }
}

pub fn in_pow(w: &[f64], alpha: f64) -> bool {
    let (x, y, z) = (w[0], w[1], w[2]);
    if x < 0.0 || y < 0.0 {
        return false;
    }
    z.abs() <= x.powf(alpha) * y.powf(1.0 - alpha)
}

pub fn in_pow_dual(w: &[f64], alpha: f64) -> bool {
    in_pow(&[w[0] / alpha, w[1] / (1.0 - alpha), w[2]], alpha)
}

/// A smooth piece of a cone boundary `g(p) = 0` (g convex, g <= 0 inside): the
/// value, gradient and Hessian (row-major 3x3) at p.
pub type Boundary = fn(&[f64], f64) -> (f64, [f64; 3], [f64; 9]);

/// g(p) = y exp(x/y) - z on y > 0.
pub fn exp_boundary(p: &[f64], _alpha: f64) -> (f64, [f64; 3], [f64; 9]) {
    let (x, y, z) = (p[0], p[1], p[2]);
    let r = x / y;
    let e = r.exp();
    let grad = [e, e * (1.0 - r), -1.0];
    let hess = [e / y, -e * r / y, 0.0, -e * r / y, e * r * r / y, 0.0, 0.0, 0.0, 0.0];
    (y * e - z, grad, hess)
}

/// g(p) = |z| - x^a y^(1-a) on x, y > 0, z != 0.
pub fn pow_boundary(p: &[f64], a: f64) -> (f64, [f64; 3], [f64; 9]) {
    let (x, y, z) = (p[0], p[1], p[2]);
    let phi = x.powf(a) * y.powf(1.0 - a);
    let grad = [-a * phi / x, -(1.0 - a) * phi / y, z.signum()];
    let c = phi * a * (1.0 - a);
    let hess = [c / (x * x), -c / (x * y), 0.0, -c / (x * y), c / (y * y), 0.0, 0.0, 0.0, 0.0];
    (z.abs() - phi, grad, hess)
}

/// Jacobian of the projection onto `{g <= 0}` at v0 whose projection p lies on the
/// smooth boundary: differentiate `p - v0 + mu grad g(p) = 0, g(p) = 0`, which gives
/// `[[I + mu H, grad g], [grad g', 0]] [dp; dmu] = [dv0; 0]`.  Returns None when the
/// bordered matrix is not usable (non-finite data).
fn boundary_jacobian(v0: &[f64], p: &[f64], alpha: f64, g: Boundary, out: &mut [f64]) -> Option<()> {
    let (_, grad, hess) = g(p, alpha);
    let gg: f64 = grad.iter().map(|a| a * a).sum();
    let mu = ((0..3).map(|i| (v0[i] - p[i]) * grad[i]).sum::<f64>() / gg).max(0.0);
    let bordered = Mat::<f64>::from_fn(4, 4, |i, j| match (i, j) {
        (3, 3) => 0.0,
        (3, j) => grad[j],
        (i, 3) => grad[i],
        (i, j) => (if i == j { 1.0 } else { 0.0 }) + mu * hess[i * 3 + j],
    });
    if !bordered.as_ref().is_all_finite() {
        return None;
    }
    let inv = dense::inverse(bordered.as_ref());
    for i in 0..3 {
        for j in 0..3 {
            out[i * 3 + j] = inv[(i, j)];
        }
    }
    out.iter().all(|v| v.is_finite()).then_some(())
}

fn exp_jacobian(v0: &[f64], p: &[f64], out: &mut [f64]) {
    if in_exp(v0) {
        return identity(out, 3);
    }
    let minus: Vec<f64> = v0.iter().map(|v| -v).collect();
    if in_exp_dual(&minus) {
        return; // projection is 0
    }
    // Corner piece (x < 0, y < 0): projection (x, 0, max(z, 0)).
    let scale = p.iter().fold(0.0f64, |a, b| a.max(b.abs())).max(1e-300);
    if (v0[0] < 0.0 && v0[1] < 0.0) || p[1] <= 1e-12 * scale {
        out.iter_mut().for_each(|o| *o = 0.0);
        out[0] = 1.0;
        out[8] = if v0[2] > 0.0 { 1.0 } else { 0.0 };
        return;
    }
    if boundary_jacobian(v0, p, 0.0, exp_boundary, out).is_none() {
        out.iter_mut().for_each(|o| *o = 0.0);
        out[0] = 1.0;
        out[8] = 1.0;
    }
}

fn pow_jacobian(v0: &[f64], p: &[f64], alpha: f64, out: &mut [f64]) {
    if in_pow(v0, alpha) {
        return identity(out, 3);
    }
    let minus: Vec<f64> = v0.iter().map(|v| -v).collect();
    if in_pow_dual(&minus, alpha) {
        return;
    }
    let scale = p.iter().fold(0.0f64, |a, b| a.max(b.abs())).max(1e-300);
    let corner = p[0] <= 1e-12 * scale || p[1] <= 1e-12 * scale || p[2].abs() <= 1e-12 * scale;
    if corner || boundary_jacobian(v0, p, alpha, pow_boundary, out).is_none() {
        // Projection onto {x, y >= 0, z = 0} locally: one-sided diagonal element.
        out.iter_mut().for_each(|o| *o = 0.0);
        out[0] = if v0[0] > 0.0 { 1.0 } else { 0.0 };
        out[4] = if v0[1] > 0.0 { 1.0 } else { 0.0 };
    }
}

/// Projection onto `{g <= 0}` for v0 outside the cone whose projection lies on the
/// smooth boundary near `p_start`: Newton's method on the optimality conditions
/// `p - v0 + mu grad g(p) = 0, g(p) = 0`.  Used to check the Jacobians by finite
/// differences (and valid wherever the projection stays on that boundary piece).
pub fn project_boundary_newton(v0: &[f64], p_start: &[f64], alpha: f64, g: Boundary) -> [f64; 3] {
    let mut p = [p_start[0], p_start[1], p_start[2]];
    let (_, grad, _) = g(&p, alpha);
    let gg: f64 = grad.iter().map(|a| a * a).sum();
    let mut mu = (0..3).map(|i| (v0[i] - p[i]) * grad[i]).sum::<f64>() / gg;
    for _ in 0..50 {
        let (gv, grad, hess) = g(&p, alpha);
        let mut res = [0.0; 4];
        for i in 0..3 {
            res[i] = p[i] - v0[i] + mu * grad[i];
        }
        res[3] = gv;
        if res.iter().map(|r| r.abs()).fold(0.0, f64::max) < 1e-15 {
            break;
        }
        let jac = Mat::<f64>::from_fn(4, 4, |i, j| match (i, j) {
            (3, 3) => 0.0,
            (3, j) => grad[j],
            (i, 3) => grad[i],
            (i, j) => (if i == j { 1.0 } else { 0.0 }) + mu * hess[i * 3 + j],
        });
        let inv = dense::inverse(jac.as_ref());
        for i in 0..3 {
            p[i] -= (0..4).map(|j| inv[(i, j)] * res[j]).sum::<f64>();
        }
        mu -= (0..4).map(|j| inv[(3, j)] * res[j]).sum::<f64>();
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of `proj` around v0, compared with `jac` (row-major).
    fn check_fd(v0: &[f64], jac: &[f64], proj: &dyn Fn(&[f64]) -> Vec<f64>, tol: f64) {
        let d = v0.len();
        let h = 1e-6;
        for j in 0..d {
            let mut vp = v0.to_vec();
            let mut vm = v0.to_vec();
            vp[j] += h;
            vm[j] -= h;
            let (pp, pm) = (proj(&vp), proj(&vm));
            for i in 0..d {
                let fd = (pp[i] - pm[i]) / (2.0 * h);
                let an = jac[i * d + j];
                assert!((fd - an).abs() <= tol * (1.0 + an.abs()), "J[{i},{j}]: fd {fd} vs analytic {an} at {v0:?}");
            }
        }
    }

    fn lcg(state: &mut u64) -> f64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*state >> 11) as f64) / ((1u64 << 53) as f64) * 2.0 - 1.0
    }

    #[test]
    fn nonneg_and_zero_match_fd() {
        let v0 = [1.5, -0.3, 2.0, -4.0];
        let mut jac = vec![0.0; 16];
        primal_jacobian(Kind::Nonneg, &v0, &v0, &mut jac);
        check_fd(&v0, &jac, &|v| v.iter().map(|a| a.max(0.0)).collect(), 1e-7);
        primal_jacobian(Kind::Zero, &v0, &v0, &mut jac);
        check_fd(&v0, &jac, &|v| vec![0.0; v.len()], 1e-7);
        // kink: v0 = 0 uses the interior (identity) element
        primal_jacobian(Kind::Nonneg, &[0.0], &[0.0], &mut jac[..1]);
        assert_eq!(jac[0], 1.0);
    }

    #[test]
    fn soc_matches_fd() {
        let mut st = 7u64;
        for d in [1usize, 2, 3, 5, 8] {
            for trial in 0..30 {
                let mut v0: Vec<f64> = (0..d).map(|_| 3.0 * lcg(&mut st)).collect();
                if trial % 3 == 0 && d > 1 {
                    v0[0] = 0.1 * v0[0]; // mostly the boundary piece
                }
                let mut jac = vec![0.0; d * d];
                primal_jacobian(Kind::Soc, &v0, &v0, &mut jac);
                let proj = |v: &[f64]| {
                    let mut o = vec![0.0; v.len()];
                    soc_project(v, &mut o);
                    o
                };
                check_fd(&v0, &jac, &proj, 1e-6);
            }
        }
    }

    #[test]
    fn psd_matches_fd() {
        let mut st = 5u64;
        for k in [1usize, 2, 3, 4, 6] {
            let d = k * (k + 1) / 2;
            for trial in 0..12 {
                let mut v0: Vec<f64> = (0..d).map(|_| 2.0 * lcg(&mut st)).collect();
                if trial % 4 == 0 {
                    // mostly PSD, a mostly NSD point
                    for j in 0..k {
                        v0[j * (j + 1) / 2 + j] += if trial % 8 == 0 { 4.0 } else { -4.0 };
                    }
                }
                let mut jac = vec![0.0; d * d];
                primal_jacobian(Kind::Psd(k), &v0, &v0, &mut jac);
                let proj = |v: &[f64]| {
                    let mut o = vec![0.0; v.len()];
                    psd_project(v, k, &mut o);
                    o
                };
                check_fd(&v0, &jac, &proj, 1e-6);
                // symmetric with eigenvalues in [0, 1] (needed by the symmetric LDL^T)
                for i in 0..d {
                    for j in 0..d {
                        assert!((jac[i * d + j] - jac[j * d + i]).abs() < 1e-12);
                    }
                }
            }
        }
        // Moreau decomposition: proj_K(v) - proj_K(-v) = v
        let v0 = [1.0, 3.0, -2.0, 0.5, -1.0, 0.2];
        let (mut p, mut m) = ([0.0; 6], [0.0; 6]);
        psd_project(&v0, 3, &mut p);
        psd_project(&v0.map(|x| -x), 3, &mut m);
        for i in 0..6 {
            assert!((p[i] - m[i] - v0[i]).abs() < 1e-12);
        }
    }

    /// v0 = p + mu grad g(p) with p on the boundary: the projection of v0 is p.
    fn boundary_cases(g: Boundary, alpha: f64, make_p: &dyn Fn(&mut u64) -> [f64; 3], kind: Kind) {
        let mut st = 11u64;
        for _ in 0..200 {
            let p = make_p(&mut st);
            let (gv, grad, _) = g(&p, alpha);
            assert!(gv.abs() < 1e-10);
            let mu = 0.1 + 2.0 * lcg(&mut st).abs();
            let v0: Vec<f64> = (0..3).map(|i| p[i] + mu * grad[i]).collect();
            // the Newton projection reproduces p, and v0 is in neither K nor -K*
            let pn = project_boundary_newton(&v0, &p, alpha, g);
            for i in 0..3 {
                assert!((pn[i] - p[i]).abs() < 1e-10 * (1.0 + p[i].abs()));
            }
            let mut jac = vec![0.0; 9];
            primal_jacobian(kind.clone(), &v0, &p, &mut jac);
            let proj = |v: &[f64]| project_boundary_newton(v, &p, alpha, g).to_vec();
            check_fd(&v0, &jac, &proj, 1e-6);
        }
    }

    #[test]
    fn exp_boundary_matches_fd() {
        let make = |st: &mut u64| {
            let r = 1.5 * lcg(st);
            let y = 0.5 + 1.5 * lcg(st).abs();
            [y * r, y, y * r.exp()]
        };
        boundary_cases(exp_boundary, 0.0, &make, Kind::Exp);
    }

    #[test]
    fn pow_boundary_matches_fd() {
        for alpha in [0.2, 0.5, 0.77] {
            let make = move |st: &mut u64| {
                let x = 0.5 + 1.5 * lcg(st).abs();
                let y = 0.5 + 1.5 * lcg(st).abs();
                let sg = if lcg(st) < 0.0 { -1.0 } else { 1.0 };
                [x, y, sg * x.powf(alpha) * y.powf(1.0 - alpha)]
            };
            boundary_cases(pow_boundary, alpha, &make, Kind::Pow(alpha));
        }
    }

    #[test]
    fn exp_pow_interior_and_polar() {
        let mut jac = vec![0.0; 9];
        // interior of K: identity; interior of the polar: zero
        let inside = [0.5, 1.0, 3.0];
        primal_jacobian(Kind::Exp, &inside, &inside, &mut jac);
        check_fd(&inside, &jac, &|v| v.to_vec(), 1e-7);
        let polar = [1.0, -0.5, -3.0]; // -polar = (-1, 0.5, 3) in K_exp*
        assert!(in_exp_dual(&[-1.0, 0.5, 3.0]));
        primal_jacobian(Kind::Exp, &polar, &[0.0; 3], &mut jac);
        assert!(jac.iter().all(|v| *v == 0.0));
        let inside = [1.0, 2.0, 0.3];
        primal_jacobian(Kind::Pow(0.3), &inside, &inside, &mut jac);
        check_fd(&inside, &jac, &|v| v.to_vec(), 1e-7);
        // corner piece of the exponential cone: (x, 0, max(z, 0))
        let corner = [-1.0, -2.0, 0.7];
        primal_jacobian(Kind::Exp, &corner, &[-1.0, 0.0, 0.7], &mut jac);
        check_fd(&corner, &jac, &|v| vec![v[0], 0.0, v[2].max(0.0)], 1e-7);
    }
}
