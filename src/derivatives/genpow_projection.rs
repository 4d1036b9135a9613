//! Projection onto the generalized power cone
//! K = {(x, y) : x in R^d1, x >= 0, prod_i x_i^alpha_i >= ||y||} and its Jacobian.
//!
//! For v0 = (x0, y0) outside K and outside the polar -K*, the projection lies on
//! the boundary and (by rotational symmetry in y) has y = t y0 / ||y0||, so it is
//! the projection of (x0, t0 = ||y0||) onto {(x, t) : prod x_i^alpha_i >= t}.
//! Stationarity of 1/2 ||x - x0||^2 + 1/2 (t - t0)^2 with the multiplier
//! lambda = t0 - t >= 0 of t <= prod x^alpha gives, per coordinate,
//!     x_i^2 - x0_i x_i - alpha_i t (t0 - t) = 0,
//!     x_i(t) = (x0_i + sqrt(x0_i^2 + 4 alpha_i t (t0 - t))) / 2,
//! and t solves the scalar equation F(t) = sum_i alpha_i log x_i(t) - log t = 0
//! on (0, t0).  F(0+) > 0 (v0 not in -K*) and F(t0-) < 0 (v0 not in K); every
//! root is a KKT point of the convex projection problem, so the root is unique;
//! it is found by bisection with Newton steps.
//!
//! Jacobian (implicit function theorem on F, then the chain rule through x_i(t)
//! and y = t y0 / t0):
//!     dt  = -(F_x0 . dx0 + F_t0 dt0) / F_t,   dt0 = yhat . dy0,
//!     dx_i = X_i,x0 dx0_i + X_i,t dt + X_i,t0 dt0,
//!     dy  = dt yhat + (t / t0) (I - yhat yhat') dy0.
//! In K: J = I (also on its boundary: a zero multiplier is treated as inactive);
//! in -K*: J = 0; at a corner (some x_i = 0 or t = 0 at the projection) the
//! one-sided element of the projection onto {x >= 0, y = 0} is used.

/// Membership in K (closure).
pub fn in_genpow(v: &[f64], alpha: &[f64]) -> bool {
    let d1 = alpha.len();
    if v[..d1].iter().any(|x| *x < 0.0) {
        return false;
    }
    let ny = v[d1..].iter().map(|a| a * a).sum::<f64>().sqrt();
    let lprod: f64 = alpha.iter().zip(&v[..d1]).map(|(a, x)| a * x.ln()).sum();
    ny == 0.0 || ny.ln() <= lprod
}

/// Membership in the dual cone K* (closure): prod (u_i / alpha_i)^alpha_i >= ||w||.
pub fn in_genpow_dual(v: &[f64], alpha: &[f64]) -> bool {
    let d1 = alpha.len();
    let scaled: Vec<f64> = v[..d1].iter().zip(alpha).map(|(u, a)| u / a).chain(v[d1..].iter().copied()).collect();
    in_genpow(&scaled, alpha)
}

/// x_i(t) and its partial derivatives (d/dx0_i, d/dt, d/dt0).
fn x_of_t(x0: f64, a: f64, t: f64, t0: f64) -> (f64, f64, f64, f64) {
    let disc = (x0 * x0 + 4.0 * a * t * (t0 - t)).max(0.0);
    let sq = disc.sqrt();
    // cancellation-free root for x0 < 0: x = 2 a t (t0 - t) / (sq - x0)
    let x = if x0 >= 0.0 { 0.5 * (x0 + sq) } else { 2.0 * a * t * (t0 - t) / (sq - x0) };
    if sq == 0.0 {
        return (x, 0.5, 0.0, 0.0);
    }
    (x, 0.5 * (1.0 + x0 / sq), a * (t0 - 2.0 * t) / sq, a * t / sq)
}

/// F(t) and F'(t).
fn f_of_t(x0: &[f64], alpha: &[f64], t: f64, t0: f64) -> (f64, f64) {
    let mut f = -t.ln();
    let mut df = -1.0 / t;
    for (&xi, &a) in x0.iter().zip(alpha) {
        let (x, _, dxt, _) = x_of_t(xi, a, t, t0);
        f += a * x.ln();
        df += a * dxt / x;
    }
    (f, df)
}

/// The root t of F on (0, t0).
fn solve_t(x0: &[f64], alpha: &[f64], t0: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, t0);
    let mut t = 0.5 * t0;
    for _ in 0..200 {
        let (f, df) = f_of_t(x0, alpha, t, t0);
        if f == 0.0 {
            break;
        }
        if f > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        let mut next = t - f / df;
        if !(next > lo && next < hi) || !next.is_finite() {
            next = 0.5 * (lo + hi);
        }
        if (next - t).abs() <= 4.0 * f64::EPSILON * t0 || hi - lo <= 4.0 * f64::EPSILON * t0 {
            t = next;
            break;
        }
        t = next;
    }
    t
}

/// Euclidean projection of `v0` onto K, written to `out` (the tests check the
/// Jacobian against finite differences of it).
#[allow(dead_code)]
pub fn genpow_project(v0: &[f64], alpha: &[f64], out: &mut [f64]) {
    let d1 = alpha.len();
    if in_genpow(v0, alpha) {
        out.copy_from_slice(v0);
        return;
    }
    let minus: Vec<f64> = v0.iter().map(|v| -v).collect();
    if in_genpow_dual(&minus, alpha) {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let t0 = v0[d1..].iter().map(|a| a * a).sum::<f64>().sqrt();
    if t0 == 0.0 {
        // y0 = 0: the projection onto {x >= 0, y = 0}
        for i in 0..d1 {
            out[i] = v0[i].max(0.0);
        }
        out[d1..].iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let t = solve_t(&v0[..d1], alpha, t0);
    for i in 0..d1 {
        out[i] = x_of_t(v0[i], alpha[i], t, t0).0;
    }
    for k in d1..v0.len() {
        out[k] = t * v0[k] / t0;
    }
}

/// `J = D proj_K(v0)`, row-major `d x d`.
pub fn genpow_jacobian(v0: &[f64], alpha: &[f64], out: &mut [f64]) {
    let d = v0.len();
    let d1 = alpha.len();
    out.iter_mut().for_each(|o| *o = 0.0);
    if in_genpow(v0, alpha) {
        for i in 0..d {
            out[i * d + i] = 1.0;
        }
        return;
    }
    let minus: Vec<f64> = v0.iter().map(|v| -v).collect();
    if in_genpow_dual(&minus, alpha) {
        return;
    }
    let t0 = v0[d1..].iter().map(|a| a * a).sum::<f64>().sqrt();
    let corner = |out: &mut [f64]| {
        out.iter_mut().for_each(|o| *o = 0.0);
        for i in 0..d1 {
            out[i * d + i] = if v0[i] > 0.0 { 1.0 } else { 0.0 };
        }
    };
    let scale = v0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !(t0 > 1e-12 * scale) {
        return corner(out);
    }
    let t = solve_t(&v0[..d1], alpha, t0);
    let parts: Vec<(f64, f64, f64, f64)> = (0..d1).map(|i| x_of_t(v0[i], alpha[i], t, t0)).collect();
    if !(t > 1e-12 * scale) || parts.iter().any(|p| !(p.0 > 1e-12 * scale)) {
        return corner(out);
    }
    // F_t, F_x0, F_t0
    let mut f_t = -1.0 / t;
    let mut f_t0 = 0.0;
    let mut f_x0 = vec![0.0; d1];
    for i in 0..d1 {
        let (x, dx0, dxt, dxt0) = parts[i];
        f_t += alpha[i] * dxt / x;
        f_t0 += alpha[i] * dxt0 / x;
        f_x0[i] = alpha[i] * dx0 / x;
    }
    if !(f_t.abs() > 0.0 && f_t.is_finite()) {
        return corner(out);
    }
    let yhat: Vec<f64> = v0[d1..].iter().map(|v| v / t0).collect();
    // dt = gx . dx0 + gt0 * dt0, with dt0 = yhat . dy0
    let gx: Vec<f64> = f_x0.iter().map(|f| -f / f_t).collect();
    let gt0 = -f_t0 / f_t;
    // Jacobian of (x0, dy0) -> t: row vector over the d inputs
    let mut dt = vec![0.0; d];
    dt[..d1].copy_from_slice(&gx);
    for (k, yh) in yhat.iter().enumerate() {
        dt[d1 + k] = gt0 * yh;
    }
    for i in 0..d1 {
        let (_, dx0, dxt, dxt0) = parts[i];
        for j in 0..d {
            out[i * d + j] = dxt * dt[j];
        }
        out[i * d + i] += dx0;
        for (k, yh) in yhat.iter().enumerate() {
            out[i * d + d1 + k] += dxt0 * yh;
        }
    }
    let ratio = t / t0;
    for k in 0..d - d1 {
        let row = d1 + k;
        for j in 0..d {
            out[row * d + j] = yhat[k] * dt[j];
        }
        for l in 0..d - d1 {
            let eye = if k == l { 1.0 } else { 0.0 };
            out[row * d + d1 + l] += ratio * (eye - yhat[k] * yhat[l]);
        }
    }
    if !out.iter().all(|v| v.is_finite()) {
        corner(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> f64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*state >> 11) as f64) / ((1u64 << 53) as f64) * 2.0 - 1.0
    }

    fn alphas(st: &mut u64, d1: usize) -> Vec<f64> {
        let raw: Vec<f64> = (0..d1).map(|_| 0.1 + lcg(st).abs()).collect();
        let t: f64 = raw.iter().sum();
        raw.iter().map(|v| v / t).collect()
    }

    /// Projection optimality: p in K, p - v0 in -K* (polar), <p, p - v0> = 0.
    fn check_projection(v0: &[f64], a: &[f64], p: &[f64]) {
        let scale = 1.0 + v0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = 1e-9 * scale;
        let d1 = a.len();
        let slack: Vec<f64> = p.iter().zip(v0).map(|(pi, vi)| pi - vi).collect();
        let inner: f64 = p.iter().zip(&slack).map(|(x, y)| x * y).sum();
        assert!(inner.abs() <= tol * scale, "complementarity {inner}");
        // in K up to tol
        let ny = p[d1..].iter().map(|v| v * v).sum::<f64>().sqrt();
        let prod: f64 = a.iter().zip(&p[..d1]).map(|(ai, x)| ai * x.max(0.0).ln()).sum::<f64>().exp();
        assert!(p[..d1].iter().all(|x| *x >= -tol) && ny <= prod + tol, "p not in K: {p:?}");
        // p - v0 in K*
        let nw = slack[d1..].iter().map(|v| v * v).sum::<f64>().sqrt();
        // (u = p - v0 loses digits where p_i ~ v0_i: allow rounding-level slack in u)
        let eps = 4.0 * f64::EPSILON * scale;
        let dprod: f64 = a.iter().zip(&slack[..d1]).map(|(ai, u)| ai * ((u.max(0.0) + eps) / ai).ln()).sum::<f64>().exp();
        assert!(slack[..d1].iter().all(|u| *u >= -tol) && nw <= dprod + tol, "p - v0 not in K*: {slack:?}");
    }

    #[test]
    fn projection_is_optimal_and_jacobian_matches_fd() {
        let mut st = 5u64;
        let mut boundary_cases = 0;
        for &(d1, d2) in &[(1usize, 1usize), (2, 1), (2, 3), (3, 1), (4, 2), (6, 5)] {
            for _ in 0..60 {
                let a = alphas(&mut st, d1);
                let d = d1 + d2;
                let v0: Vec<f64> = (0..d).map(|_| 3.0 * lcg(&mut st)).collect();
                let mut p = vec![0.0; d];
                genpow_project(&v0, &a, &mut p);
                check_projection(&v0, &a, &p);
                let mut jac = vec![0.0; d * d];
                genpow_jacobian(&v0, &a, &mut jac);
                let h = 1e-6;
                let mut smooth = true;
                for j in 0..d {
                    let (mut vp, mut vm) = (v0.clone(), v0.clone());
                    vp[j] += h;
                    vm[j] -= h;
                    let (mut pp, mut pm) = (vec![0.0; d], vec![0.0; d]);
                    genpow_project(&vp, &a, &mut pp);
                    genpow_project(&vm, &a, &mut pm);
                    // skip points where the FD stencil crosses a piece boundary
                    let classify = |v: &[f64]| {
                        let m: Vec<f64> = v.iter().map(|x| -x).collect();
                        (in_genpow(v, &a), in_genpow_dual(&m, &a))
                    };
                    if classify(&vp) != classify(&vm) {
                        smooth = false;
                        continue;
                    }
                    for i in 0..d {
                        let fd = (pp[i] - pm[i]) / (2.0 * h);
                        let an = jac[i * d + j];
                        assert!((fd - an).abs() <= 1e-5 * (1.0 + an.abs()), "J[{i},{j}] fd {fd} vs {an} at {v0:?}, a {a:?}");
                    }
                }
                let m: Vec<f64> = v0.iter().map(|x| -x).collect();
                if smooth && !in_genpow(&v0, &a) && !in_genpow_dual(&m, &a) {
                    boundary_cases += 1;
                }
            }
        }
        assert!(boundary_cases > 100, "only {boundary_cases} boundary cases");
    }

    #[test]
    fn matches_the_three_dimensional_power_cone() {
        // d1 = 2, d2 = 1 is the 3-d power cone: compare with its projection
        // (Newton on the smooth boundary, projection.rs) via the Jacobian identity.
        let mut st = 9u64;
        for _ in 0..50 {
            let alpha = 0.2 + 0.6 * lcg(&mut st).abs();
            let a = [alpha, 1.0 - alpha];
            let v0: Vec<f64> = (0..3).map(|_| 2.0 * lcg(&mut st)).collect();
            let mut jac = vec![0.0; 9];
            genpow_jacobian(&v0, &a, &mut jac);
            let mut p = vec![0.0; 3];
            genpow_project(&v0, &a, &mut p);
            let mut jac3 = vec![0.0; 9];
            super::super::projection::primal_jacobian(
                super::super::projection::BlockKind::Pow(alpha),
                &v0,
                &p,
                &mut jac3,
            );
            for k in 0..9 {
                assert!((jac[k] - jac3[k]).abs() < 1e-6 * (1.0 + jac3[k].abs()), "{jac:?} vs {jac3:?} at {v0:?}");
            }
        }
    }

    #[test]
    fn interior_polar_and_corner() {
        let a = [0.3, 0.7];
        let mut jac = vec![0.0; 9];
        genpow_jacobian(&[1.0, 2.0, 0.1], &a, &mut jac);
        assert_eq!(jac, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        genpow_jacobian(&[-1.0, -2.0, 0.1], &a, &mut jac);
        assert!(jac.iter().all(|v| *v == 0.0));
        // y0 = 0 with x0 partly negative: projection (x0+, 0)
        let mut p = vec![0.0; 3];
        genpow_project(&[1.0, -2.0, 0.0], &a, &mut p);
        assert_eq!(p, vec![1.0, 0.0, 0.0]);
        genpow_jacobian(&[1.0, -2.0, 0.0], &a, &mut jac);
        assert_eq!(jac, vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
