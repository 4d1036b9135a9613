//! Absent bounds: `b_i = +inf` on a nonnegative-cone row.
//!
//! A row `a_i'x + s_i = b_i, s_i >= 0` with `b_i = +inf` constrains nothing, so
//! the problem is the one without that row, whose dual is `z_i = 0` (the
//! official Moreau package's convention).  The KKT pattern is fixed per problem
//! family and shared by a batch whose elements may differ in which rows are
//! absent, so the row is not removed but neutralized:
//!
//! ```text
//!     a_i := 0,   b_i := NEUTRAL_B (> 0)
//! ```
//!
//! Then `s_i = NEUTRAL_B` is strictly inside the cone, x does not see the row
//! (its column of A' is zero), and the interior-point method drives `z_i` to 0
//! (`z_i s_i = mu -> 0`).  The reported solution has `z_i = 0` exactly and
//! `s_i = +inf`.
//!
//! Derivatives use the same neutral data with `z_i = 0`, `s_i = NEUTRAL_B`.  The
//! row is decoupled there too: `a_i = 0`, and the projection derivative at a
//! strictly inactive nonnegative row (`s_i > 0 = z_i`) is 0, so dx, and dz, ds on
//! the other rows, are exactly those of the problem without the row.  The row's
//! own outputs are set to 0: `db_i = 0` and `dA` on row i = 0 (VJP), `dz_i = ds_i = 0`
//! (JVP).
//!
//! Any other infinity in b (-inf on a nonnegative row, +-inf on a zero,
//! second-order, exponential or power row), and NaN anywhere, is an error that
//! names the row.

use crate::error::SolverError;
use crate::problem::{ConeSpec, ProblemPattern};

/// The finite right-hand side given to an absent row (any positive value works).
pub const NEUTRAL_B: f64 = 1.0;

/// Kind of the cone that row `i` belongs to, for messages.
fn row_kind(cones: &ConeSpec, i: usize) -> &'static str {
    let soc_end = cones.zero + cones.nonneg + cones.soc.iter().sum::<usize>();
    let exp_end = soc_end + 3 * cones.exp;
    if i < cones.zero {
        "zero-cone"
    } else if i < cones.zero + cones.nonneg {
        "nonnegative-cone"
    } else if i < soc_end {
        "second-order-cone"
    } else if i < exp_end {
        "exponential-cone"
    } else {
        "power-cone"
    }
}

/// The absent rows of one element's `b` (rows with `+inf` on the nonnegative
/// cone), or an error for any other non-finite entry.  `what` names `b` in the
/// message (e.g. "b of element 3").
pub fn absent_rows(cones: &ConeSpec, b: &[f64], what: &str) -> Result<Vec<usize>, SolverError> {
    let nonneg = cones.zero..cones.zero + cones.nonneg;
    let mut rows = Vec::new();
    for (i, &v) in b.iter().enumerate() {
        if v.is_finite() {
            continue;
        }
        if v == f64::INFINITY && nonneg.contains(&i) {
            rows.push(i);
            continue;
        }
        let kind = row_kind(cones, i);
        return Err(SolverError::Data(if v.is_nan() {
            format!("{what} has a non-finite value (NaN) at index {i} (a {kind} row)")
        } else {
            format!(
                "{what}[{i}] = {v} on a {kind} row: infinite values of b are allowed only as +inf on \
                 nonnegative-cone rows (rows {}..{}), where +inf means the bound is absent",
                nonneg.start,
                nonneg.end as i64 - 1
            )
        }));
    }
    Ok(rows)
}

/// The absent rows of `b` (empty when the data is invalid: validation reports that).
pub fn absent_rows_or_empty(cones: &ConeSpec, b: &[f64]) -> Vec<usize> {
    if b.iter().all(|v| v.is_finite()) {
        return Vec::new();
    }
    absent_rows(cones, b, "b").unwrap_or_default()
}

/// One element's A values and b with the absent `rows` neutralized.
pub fn neutralize(pattern: &ProblemPattern, a: &[f64], b: &[f64], rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    for &i in rows {
        a[pattern.a.indptr[i]..pattern.a.indptr[i + 1]].fill(0.0);
        b[i] = NEUTRAL_B;
    }
    (a, b)
}

/// A point (z, s) with the absent rows set to the neutral solution z_i = 0, s_i = NEUTRAL_B.
pub fn neutral_point(z: &[f64], s: &[f64], rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let (mut z, mut s) = (z.to_vec(), s.to_vec());
    for &i in rows {
        z[i] = 0.0;
        s[i] = NEUTRAL_B;
    }
    (z, s)
}

/// The reported solution of absent rows: z_i = 0, s_i = +inf.
pub fn report(z: &mut [f64], s: &mut [f64], rows: &[usize]) {
    for &i in rows {
        z[i] = 0.0;
        s[i] = f64::INFINITY;
    }
}

/// Whether a slack `s` (one element's warm start or solution, with that element's
/// `b`) is finite except for `+inf` on absent rows.
pub fn slack_ok(cones: &ConeSpec, s: &[f64], b: &[f64]) -> bool {
    let nonneg = cones.zero..cones.zero + cones.nonneg;
    s.iter()
        .zip(b)
        .enumerate()
        .all(|(i, (&v, &bi))| v.is_finite() || (v == f64::INFINITY && bi == f64::INFINITY && nonneg.contains(&i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cones() -> ConeSpec {
        ConeSpec { zero: 1, nonneg: 2, soc: vec![3], exp: 1, power: vec![0.5] }
    }

    #[test]
    fn plus_inf_on_nonneg_rows_is_absent_everything_else_is_an_error() {
        let c = cones();
        let mut b = vec![0.0; 10];
        assert!(absent_rows(&c, &b, "b").unwrap().is_empty());
        b[2] = f64::INFINITY;
        assert_eq!(absent_rows(&c, &b, "b").unwrap(), vec![2]);
        for (row, v, kind) in [
            (1, f64::NEG_INFINITY, "nonnegative-cone"),
            (0, f64::INFINITY, "zero-cone"),
            (3, f64::INFINITY, "second-order-cone"),
            (6, f64::NEG_INFINITY, "exponential-cone"),
            (9, f64::INFINITY, "power-cone"),
            (1, f64::NAN, "nonnegative-cone"),
        ] {
            let mut bb = b.clone();
            bb[row] = v;
            let err = absent_rows(&c, &bb, "b").unwrap_err().to_string();
            assert!(err.contains(kind) && err.contains(&format!("{row}")), "{err}");
        }
    }
}
