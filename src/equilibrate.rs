//! Modified Ruiz equilibration of the KKT data (as in OSQP / Clarabel).
//!
//! Finds diagonal D (n), E (m) and a cost scale c so that the scaled data
//! `P~ = c D P D, q~ = c D q, A~ = E A D, b~ = E b` has rows and columns of similar
//! infinity norm.  Solutions map back as x = D x~, s = s~ / E, z = E z~ / c.

use crate::cones::{Cone, SupportedCone};
use crate::problem::{CsrPattern, ProblemPattern};
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

/// The value slices of the rows of a CSR matrix (plain index loops: this runs ten
/// times per solve, where the flattened entry iterator cost more than the arithmetic).
fn rows<'v>(pat: &'v CsrPattern, values: &'v [f64]) -> impl Iterator<Item = (usize, &'v [f64])> + 'v {
    (0..pat.nrows).map(move |r| (r, &values[pat.indptr[r]..pat.indptr[r + 1]]))
}

fn rows_mut<'v>(pat: &'v CsrPattern, values: &'v mut [f64]) -> impl Iterator<Item = (usize, &'v mut [f64])> + 'v {
    let mut rest = values;
    (0..pat.nrows).map(move |r| {
        let (row, tail) = std::mem::take(&mut rest).split_at_mut(pat.indptr[r + 1] - pat.indptr[r]);
        rest = tail;
        (r, row)
    })
}

/// The Ruiz part of the equilibration: D, E and the scaled P and A values
/// (`D P D`, `E A D`), which depend on P and A only.  A batch whose elements share
/// P and A computes it once (`Family::solve_batch`).
pub struct RuizScaling {
    pub d: Vec<f64>,
    pub e: Vec<f64>,
    pub p: Vec<f64>,
    pub a: Vec<f64>,
}

/// Modified Ruiz iterations on P (full symmetric values) and A.
pub fn ruiz(
    pattern: &ProblemPattern,
    cones: &[(SupportedCone, std::ops::Range<usize>)],
    settings: &Settings,
    p_values: &[f64],
    a_values: &[f64],
) -> RuizScaling {
    let (n, m) = (pattern.n, pattern.m);
    let mut eq = RuizScaling { d: vec![1.0; n], e: vec![1.0; m], p: p_values.to_vec(), a: a_values.to_vec() };
    if !settings.equilibrate_enable {
        return eq;
    }
    let (p, a) = (&mut eq.p, &mut eq.a);
    let (min_s, max_s) = (settings.equilibrate_min_scaling, settings.equilibrate_max_scaling);
    let mut dx = vec![0.0f64; n];
    let mut dz = vec![0.0f64; m];
    for _ in 0..settings.equilibrate_max_iter {
        dx.iter_mut().for_each(|v| *v = 0.0);
        dz.iter_mut().for_each(|v| *v = 0.0);
        // Column norms of [P; A] (P symmetric: row r of P = column r) and row norms of A.
        for (r, row) in rows(&pattern.p, p) {
            dx[r] = row.iter().fold(dx[r], |acc, v| acc.max(v.abs()));
        }
        for (r, row) in rows(&pattern.a, a) {
            for (&c, v) in pattern.a.row_indices(r).iter().zip(row.iter()) {
                let v = v.abs();
                dx[c] = dx[c].max(v);
                dz[r] = dz[r].max(v);
            }
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
        for (r, row) in rows_mut(&pattern.p, p) {
            for (&c, v) in pattern.p.row_indices(r).iter().zip(row.iter_mut()) {
                *v *= dx[r] * dx[c];
            }
        }
        for (r, row) in rows_mut(&pattern.a, a) {
            for (&c, v) in pattern.a.row_indices(r).iter().zip(row.iter_mut()) {
                *v *= dz[r] * dx[c];
            }
        }
        for j in 0..n {
            eq.d[j] *= dx[j];
        }
        for i in 0..m {
            eq.e[i] *= dz[i];
        }
    }
    eq
}

/// The full equilibration of one problem from its Ruiz part: scales q and b in
/// place, writes `c D P D` into `p` and `E A D` into `a`, and returns the scaling.
pub fn equilibrate(
    pattern: &ProblemPattern,
    ruiz: &RuizScaling,
    settings: &Settings,
    p: &mut [f64],
    a: &mut [f64],
    q: &mut [f64],
    b: &mut [f64],
) -> Equilibration {
    let n = pattern.n;
    p.copy_from_slice(&ruiz.p);
    a.copy_from_slice(&ruiz.a);
    let mut eq = Equilibration { d: ruiz.d.clone(), e: ruiz.e.clone(), c: 1.0 };
    if !settings.equilibrate_enable {
        return eq;
    }
    for j in 0..n {
        q[j] *= eq.d[j];
    }
    for (bi, ei) in b.iter_mut().zip(&eq.e) {
        *bi *= ei;
    }
    // Cost scaling from the mean column norm of P and the norm of q.
    let mut col_norm = vec![0.0f64; n];
    for (r, row) in rows(&pattern.p, p) {
        col_norm[r] = row.iter().fold(col_norm[r], |acc, v| acc.max(v.abs()));
    }
    let mean_p = if n > 0 { col_norm.iter().sum::<f64>() / n as f64 } else { 0.0 };
    let norm_q = q.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
    let scale = limit_scaling(mean_p.max(norm_q), settings.equilibrate_min_scaling, settings.equilibrate_max_scaling);
    eq.c = 1.0 / scale;
    p.iter_mut().for_each(|v| *v *= eq.c);
    q.iter_mut().for_each(|v| *v *= eq.c);
    eq
}
