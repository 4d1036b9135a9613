//! Modified Ruiz equilibration of the KKT data (as in OSQP / Clarabel).
//!
//! Finds diagonal D (n), E (m) and a cost scale c so that the scaled data
//! `P~ = c D P D, q~ = c D q, A~ = E A D, b~ = E b` has rows and columns of similar
//! infinity norm.  Solutions map back as x = D x~, s = s~ / E, z = E z~ / c.

use crate::cones::{Cone, SupportedCone};
use crate::problem::ProblemPattern;
use crate::settings::Settings;

pub struct Equilibration {
    pub d: Vec<f64>,
    pub e: Vec<f64>,
    pub c: f64,
}

impl Equilibration {
    pub fn identity(n: usize, m: usize) -> Self {
        Equilibration { d: vec![1.0; n], e: vec![1.0; m], c: 1.0 }
    }
}

/// Clamp a norm used as a scaling: tiny norms are left alone, huge ones capped.
fn limit_scaling(v: f64, min: f64, max: f64) -> f64 {
    if v < min {
        1.0
    } else if v > max {
        max
    } else {
        v
    }
}

/// Scale p (full symmetric values), a, q, b in place and return the scaling.
pub fn equilibrate(
    pattern: &ProblemPattern,
    cones: &[(SupportedCone, std::ops::Range<usize>)],
    settings: &Settings,
    p: &mut [f64],
    a: &mut [f64],
    q: &mut [f64],
    b: &mut [f64],
) -> Equilibration {
    let (n, m) = (pattern.n, pattern.m);
    let mut eq = Equilibration::identity(n, m);
    if !settings.equilibrate_enable {
        return eq;
    }
    let (min_s, max_s) = (settings.equilibrate_min_scaling, settings.equilibrate_max_scaling);
    let mut dx = vec![0.0f64; n];
    let mut dz = vec![0.0f64; m];
    for _ in 0..settings.equilibrate_max_iter {
        dx.iter_mut().for_each(|v| *v = 0.0);
        dz.iter_mut().for_each(|v| *v = 0.0);
        // Column norms of [P; A] (P symmetric: row r of P = column r) and row norms of A.
        for (r, _c, k) in pattern.p.entries() {
            dx[r] = f64::max(dx[r], p[k].abs());
        }
        for (r, c, k) in pattern.a.entries() {
            let v = a[k].abs();
            dx[c] = dx[c].max(v);
            dz[r] = dz[r].max(v);
        }
        for v in dx.iter_mut().chain(dz.iter_mut()) {
            *v = 1.0 / limit_scaling(*v, min_s, max_s).sqrt();
        }
        // Cones other than the orthants need one scaling per block to stay invariant.
        for (cone, range) in cones {
            if matches!(cone, SupportedCone::Zero(_) | SupportedCone::Nonnegative(_)) {
                continue;
            }
            let block = &mut dz[range.clone()];
            let mean = block.iter().sum::<f64>() / cone.dim() as f64;
            block.iter_mut().for_each(|v| *v = mean);
        }
        for (r, c, k) in pattern.p.entries() {
            p[k] *= dx[r] * dx[c];
        }
        for (r, c, k) in pattern.a.entries() {
            a[k] *= dz[r] * dx[c];
        }
        for j in 0..n {
            eq.d[j] *= dx[j];
        }
        for i in 0..m {
            eq.e[i] *= dz[i];
        }
    }
    for j in 0..n {
        q[j] *= eq.d[j];
    }
    for i in 0..m {
        b[i] *= eq.e[i];
    }
    // Cost scaling from the mean column norm of P and the norm of q.
    let mut col_norm = vec![0.0f64; n];
    for (r, _c, k) in pattern.p.entries() {
        col_norm[r] = col_norm[r].max(p[k].abs());
    }
    let mean_p = if n > 0 { col_norm.iter().sum::<f64>() / n as f64 } else { 0.0 };
    let norm_q = q.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
    let scale = limit_scaling(mean_p.max(norm_q), min_s, max_s);
    eq.c = 1.0 / scale;
    p.iter_mut().for_each(|v| *v *= eq.c);
    q.iter_mut().for_each(|v| *v *= eq.c);
    eq
}
