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
    use crate::batch::{BatchValues, Family};
    use crate::derivatives::{BatchCotangent, BatchGradOut, BatchSolution};
    use crate::problem::CsrPattern;
    use crate::settings::Settings;

    /// min 1/2||x||^2 + q'x, rows: x0 + x1 = 1 (zero), then x_j <= u_j (nonneg,
    /// a dense row each) for j = 0..nl; the family shares A across the batch.
    fn family(n: usize, nl: usize) -> (Family, Vec<f64>) {
        let p = CsrPattern::new("P", n, n, (0..=n as i64).collect(), (0..n as i64).collect()).unwrap();
        let mut indptr = vec![0i64, 2];
        let mut indices = vec![0i64, 1];
        let mut a = vec![1.0, 1.0];
        for i in 0..nl {
            for j in 0..n {
                indices.push(j as i64);
                a.push(if j == i % n { 1.0 } else { 0.1 * (i + j) as f64 });
            }
            indptr.push(indices.len() as i64);
        }
        let a_pat = CsrPattern::new("A", 1 + nl, n, indptr, indices).unwrap();
        let cones = ConeSpec { zero: 1, nonneg: nl, ..Default::default() };
        (Family::new(ProblemPattern::new(p, a_pat, cones).unwrap(), &Settings::default()).unwrap(), a)
    }

    #[test]
    fn absent_rows_solve_like_removed_rows_per_batch_element() {
        let (n, nl) = (3, 4);
        let (fam, a) = family(n, nl);
        let q = [-1.0, -2.0, -0.5];
        let u = [0.2, 0.3, 0.1, 0.5];
        let mut b = vec![1.0];
        b.extend_from_slice(&u);
        // element 0: all rows; element 1: rows 2 and 4 absent
        let mut b1 = b.clone();
        b1[2] = f64::INFINITY;
        b1[4] = f64::INFINITY;
        let bb: Vec<f64> = b.iter().chain(&b1).copied().collect();
        let qq: Vec<f64> = q.iter().chain(&q).copied().collect();
        let p = vec![1.0; n];
        let v = BatchValues { batch: 2, p: &p, p_rows: 1, a: &a, a_rows: 1, q: &qq, b: &bb, warm: None };
        let settings = Settings::default();
        let res = fam.solve_batch(&v, &settings).unwrap();
        assert!(res.iter().all(|r| r.status.is_solved()));
        assert_eq!((res[1].z[2], res[1].z[4]), (0.0, 0.0));
        assert_eq!((res[1].s[2], res[1].s[4]), (f64::INFINITY, f64::INFINITY));
        // the absent rows were active in element 0: removing them matters
        assert!((0..n).any(|j| (res[0].x[j] - res[1].x[j]).abs() > 1e-3));
        assert!(res[0].z[2] > 1e-3 || res[0].z[4] > 1e-3);
        // the same problem with rows 2 and 4 removed
        let (small, a_all) = family(n, nl - 2);
        let keep_a: Vec<f64> = a[..2].iter().chain(&a[2..2 + n]).chain(&a[2 + 2 * n..2 + 3 * n]).copied().collect();
        assert_eq!(keep_a.len(), a_all.len());
        let bs = vec![1.0, u[0], u[2]];
        let vs = BatchValues { batch: 1, p: &p, p_rows: 1, a: &keep_a, a_rows: 1, q: &q, b: &bs, warm: None };
        let r = small.solve_batch(&vs, &settings).unwrap().remove(0);
        for j in 0..n {
            assert!((res[1].x[j] - r.x[j]).abs() < 1e-7, "x[{j}]: {} vs {}", res[1].x[j], r.x[j]);
        }
        for (i, k) in [(0, 0), (1, 1), (3, 2)] {
            assert!((res[1].z[i] - r.z[k]).abs() < 1e-7, "z[{i}]");
        }
        // gradients: db and dA of the absent rows are 0, the rest as without them
        let status = [res[0].status.code() as i32, res[1].status.code() as i32];
        let (x, z, s): (Vec<f64>, Vec<f64>, Vec<f64>) = (
            res.iter().flat_map(|r| r.x.clone()).collect(),
            res.iter().flat_map(|r| r.z.clone()).collect(),
            res.iter().flat_map(|r| r.s.clone()).collect(),
        );
        let sol = BatchSolution { x: &x, z: &z, s: &s, status: &status };
        let gx = vec![1.0, -1.0, 0.5, 1.0, -1.0, 0.5];
        let zeros = vec![0.0; 2 * (1 + nl)];
        let (mut dp, mut da, mut dq, mut db) = (vec![0.0; 2 * n], vec![0.0; 2 * a.len()], vec![0.0; 2 * n], vec![0.0; 2 * (1 + nl)]);
        let mut out = BatchGradOut { dp: &mut dp, da: &mut da, dq: &mut dq, db: &mut db };
        fam.vjp_batch(&v, &sol, &BatchCotangent { dx: &gx, dz: &zeros, ds: &zeros }, &settings, &mut out).unwrap();
        let m = 1 + nl;
        assert_eq!((db[m + 2], db[m + 4]), (0.0, 0.0));
        assert!(da[a.len() + 2 + n..a.len() + 2 + 2 * n].iter().all(|&g| g == 0.0));
        let rsol = BatchSolution { x: &r.x, z: &r.z, s: &r.s, status: &status[1..] };
        let zs = vec![0.0; 3];
        let (mut dp2, mut da2, mut dq2, mut db2) = (vec![0.0; n], vec![0.0; keep_a.len()], vec![0.0; n], vec![0.0; 3]);
        let mut out2 = BatchGradOut { dp: &mut dp2, da: &mut da2, dq: &mut dq2, db: &mut db2 };
        small.vjp_batch(&vs, &rsol, &BatchCotangent { dx: &gx[n..], dz: &zs, ds: &zs }, &settings, &mut out2).unwrap();
        for j in 0..n {
            assert!((dq[n + j] - dq2[j]).abs() < 1e-6, "dq[{j}]: {} vs {}", dq[n + j], dq2[j]);
        }
        for (i, k) in [(0, 0), (1, 1), (3, 2)] {
            assert!((db[m + i] - db2[k]).abs() < 1e-6, "db[{i}]");
        }
    }

    fn cones() -> ConeSpec {
        ConeSpec { zero: 1, nonneg: 2, soc: vec![3], exp: 1, power: vec![0.5], ..Default::default() }
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
