//! The caller's sparse storage -> the solver's canonical CSR, plus the value map
//! (issue 12: building a tiny problem from scipy matrices must cost microseconds,
//! so the NumPy version of this, one NumPy call per step, moved here).
//!
//! A caller stores a matrix as CSR, CSC or COO, in any order, with duplicates and
//! explicit zeros; the solver wants CSR with rows in order and sorted unique
//! column indices (for P: the full symmetric matrix).  Besides that canonical
//! matrix we return the linear map from the caller's stored values `v` to the
//! canonical values `c`:
//!
//! `c[dest[t]] += weight[t] * v[src[t]]`  for every term t,
//!
//! which the Python `ValueMap` applies to value arrays (forward) and to gradients
//! (adjoint, `g_v[src[t]] += weight[t] * g_c[dest[t]]`).
//!
//! - General matrices (A): one term per stored entry, weight 1 (duplicates sum).
//! - P, upper-triangle convention (no nonzero below the diagonal after summing
//!   duplicates): an upper entry u_ij sets both P_ij and P_ji (two terms of
//!   weight 1); stored entries below the diagonal (zeros) get no term.
//! - P, full matrix (some nonzero below the diagonal): P must equal P^T to
//!   `|P - P^T| <= 1e-12 max|P|` (a missing mirror entry counts as 0); the solver
//!   uses (P + P^T) / 2, so each entry gives two terms of weight 1/2.
//!
//! The terms are listed in the order of the NumPy version (direct entries, then
//! mirrored ones) and summed in that order, so the values agree bit for bit.

/// Why the caller's matrix was rejected; the Python binding words the message.
#[derive(Debug, Clone, PartialEq)]
pub enum CanonError {
    /// Index arrays that do not describe a matrix of the given shape.
    Structure(String),
    /// A stored value that is NaN or +-inf, at caller position `index`.
    NonFinite { index: usize, value: f64 },
    /// P is neither an upper triangle nor symmetric: `P[row, col] = value` but
    /// `P[col, row] = mirror`, and `worst` is max |P - P^T|.
    Asymmetric { row: usize, col: usize, value: f64, mirror: f64, worst: f64 },
}

/// Canonical CSR and the value map (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Canonical {
    pub indptr: Vec<i64>,
    pub indices: Vec<i64>,
    pub values: Vec<f64>,
    pub dest: Vec<i64>,
    pub src: Vec<i64>,
    pub weight: Vec<f64>,
    /// dest = src = 0..nnz and all weights 1: the caller's values are canonical.
    pub identity: bool,
}

/// The caller's stored entries in the caller's order: entry k is (rows[k], cols[k]).
#[derive(Debug, Clone, PartialEq)]
pub struct Entries {
    pub nrows: usize,
    pub ncols: usize,
    pub rows: Vec<usize>,
    pub cols: Vec<usize>,
}

fn structure<T>(msg: String) -> Result<T, CanonError> {
    Err(CanonError::Structure(msg))
}

fn checked_index(what: &str, k: usize, i: i64, bound: usize) -> Result<usize, CanonError> {
    if i < 0 || i as usize >= bound {
        return structure(format!("{what}[{k}] = {i} is out of range [0, {bound})"));
    }
    Ok(i as usize)
}

impl Entries {
    /// Compressed storage: `indptr` over the `major` axis (rows for CSR, columns
    /// for CSC), `indices` along the other one; `csc` swaps the roles.
    pub fn compressed<I: Copy + Into<i64>>(
        nrows: usize,
        ncols: usize,
        indptr: &[I],
        indices: &[I],
        csc: bool,
    ) -> Result<Self, CanonError> {
        let (major, minor) = if csc { (ncols, nrows) } else { (nrows, ncols) };
        if indptr.len() != major + 1 {
            return structure(format!("indptr has length {}, expected {}", indptr.len(), major + 1));
        }
        let start: i64 = indptr[0].into();
        let end: i64 = indptr[major].into();
        if start != 0 || end != indices.len() as i64 {
            return structure(format!(
                "indptr runs from {start} to {end} but there are {} stored indices",
                indices.len()
            ));
        }
        let mut outer = Vec::with_capacity(indices.len());
        let mut inner = Vec::with_capacity(indices.len());
        for r in 0..major {
            let (lo, hi): (i64, i64) = (indptr[r].into(), indptr[r + 1].into());
            if hi < lo || hi > end {
                return structure(format!("indptr must not decrease from 0 to {end} (position {})", r + 1));
            }
            for k in lo as usize..hi as usize {
                outer.push(r);
                inner.push(checked_index("indices", k, indices[k].into(), minor)?);
            }
        }
        let (rows, cols) = if csc { (inner, outer) } else { (outer, inner) };
        Ok(Entries { nrows, ncols, rows, cols })
    }

    /// Coordinate storage (also the nonzeros of a dense array, row-major).
    pub fn coo<I: Copy + Into<i64>>(nrows: usize, ncols: usize, row: &[I], col: &[I]) -> Result<Self, CanonError> {
        if row.len() != col.len() {
            return structure(format!("{} row indices but {} column indices", row.len(), col.len()));
        }
        let rows = row.iter().enumerate().map(|(k, &i)| checked_index("row", k, i.into(), nrows)).collect::<Result<_, _>>()?;
        let cols = col.iter().enumerate().map(|(k, &j)| checked_index("col", k, j.into(), ncols)).collect::<Result<_, _>>()?;
        Ok(Entries { nrows, ncols, rows, cols })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Sorted unique pattern of the entries (r[k], c[k]): (indptr, indices, pos) with
/// pos[k] the canonical position of entry k.  Already canonical input (the common
/// case) is detected in one pass and costs no sort.
fn pattern(nrows: usize, rows: &[usize], cols: &[usize]) -> (Vec<i64>, Vec<i64>, Vec<usize>) {
    let nnz = rows.len();
    let mut indptr = vec![0i64; nrows + 1];
    for &r in rows {
        indptr[r + 1] += 1;
    }
    let sorted = (1..nnz).all(|k| (rows[k - 1], cols[k - 1]) < (rows[k], cols[k]));
    if sorted {
        for r in 0..nrows {
            indptr[r + 1] += indptr[r];
        }
        return (indptr, cols.iter().map(|&c| c as i64).collect(), (0..nnz).collect());
    }
    // Counting sort by row (stable), then sort each row's entries by column.
    let mut next: Vec<usize> = Vec::with_capacity(nrows + 1);
    let mut acc = 0usize;
    for r in 0..nrows {
        next.push(acc);
        acc += indptr[r + 1] as usize;
    }
    let mut order = vec![0usize; nnz];
    for (k, &r) in rows.iter().enumerate() {
        order[next[r]] = k;
        next[r] += 1;
    }
    let mut out_ptr = vec![0i64; nrows + 1];
    let mut indices = Vec::with_capacity(nnz);
    let mut pos = vec![0usize; nnz];
    let mut lo = 0usize;
    for r in 0..nrows {
        let hi = lo + indptr[r + 1] as usize;
        let row = &mut order[lo..hi];
        row.sort_unstable_by_key(|&k| cols[k]);
        let mut last = None;
        for &k in row.iter() {
            if last != Some(cols[k]) {
                indices.push(cols[k] as i64);
                last = Some(cols[k]);
            }
            pos[k] = indices.len() - 1;
        }
        out_ptr[r + 1] = indices.len() as i64;
        lo = hi;
    }
    (out_ptr, indices, pos)
}

fn check_finite(data: &[f64]) -> Result<(), CanonError> {
    match data.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(CanonError::NonFinite { index, value: data[index] }),
        None => Ok(()),
    }
}

/// Build the canonical matrix of the terms (row, col, src, weight).
fn assemble(nrows: usize, nnz_in: usize, rr: &[usize], cc: &[usize], src: Vec<usize>, weight: Vec<f64>, data: &[f64]) -> Canonical {
    let (indptr, indices, pos) = pattern(nrows, rr, cc);
    let mut values = vec![0.0; indices.len()];
    for t in 0..pos.len() {
        values[pos[t]] += weight[t] * data[src[t]];
    }
    let identity = indices.len() == nnz_in
        && pos.len() == nnz_in
        && (0..nnz_in).all(|t| pos[t] == t && src[t] == t && weight[t] == 1.0);
    Canonical {
        indptr,
        indices,
        values,
        dest: pos.into_iter().map(|p| p as i64).collect(),
        src: src.into_iter().map(|s| s as i64).collect(),
        weight,
        identity,
    }
}

/// A general matrix (A): duplicates summed, explicit zeros kept.
pub fn general(e: &Entries, data: &[f64]) -> Result<Canonical, CanonError> {
    if data.len() != e.len() {
        return structure(format!("{} stored values for {} stored entries", data.len(), e.len()));
    }
    check_finite(data)?;
    Ok(assemble(e.nrows, data.len(), &e.rows, &e.cols, (0..data.len()).collect(), vec![1.0; data.len()], data))
}

/// Relative tolerance of P's symmetry check.
pub const SYM_RTOL: f64 = 1e-12;

/// P (square): upper triangle or full symmetric matrix -> full symmetric CSR.
pub fn symmetric(e: &Entries, data: &[f64]) -> Result<Canonical, CanonError> {
    if e.nrows != e.ncols {
        return structure(format!("P is {} x {}, not square", e.nrows, e.ncols));
    }
    if data.len() != e.len() {
        return structure(format!("{} stored values for {} stored entries", data.len(), e.len()));
    }
    check_finite(data)?;
    let (n, nnz) = (e.nrows, data.len());
    // The summed matrix decides the convention and is checked for symmetry.
    let (ip, ix, pos) = pattern(n, &e.rows, &e.cols);
    let mut summed = vec![0.0; ix.len()];
    for k in 0..nnz {
        summed[pos[k]] += data[k];
    }
    let mut srow = Vec::with_capacity(ix.len());
    for r in 0..n {
        srow.resize(ip[r + 1] as usize, r);
    }
    let full = (0..ix.len()).any(|j| (ix[j] as usize) < srow[j] && summed[j] != 0.0);
    let (mut rr, mut cc, mut src, weight);
    if full {
        let find = |r: usize, c: usize| -> f64 {
            let row = &ix[ip[r] as usize..ip[r + 1] as usize];
            row.binary_search(&(c as i64)).map_or(0.0, |i| summed[ip[r] as usize + i])
        };
        let (mut worst, mut at, mut scale) = (-1.0f64, 0usize, 0.0f64);
        for j in 0..ix.len() {
            let d = (summed[j] - find(ix[j] as usize, srow[j])).abs();
            if d > worst {
                (worst, at) = (d, j);
            }
            scale = scale.max(summed[j].abs());
        }
        if worst > SYM_RTOL * scale.max(1e-300) {
            let (row, col) = (srow[at], ix[at] as usize);
            return Err(CanonError::Asymmetric { row, col, value: summed[at], mirror: find(col, row), worst });
        }
        rr = e.rows.clone();
        rr.extend_from_slice(&e.cols);
        cc = e.cols.clone();
        cc.extend_from_slice(&e.rows);
        src = (0..nnz).chain(0..nnz).collect();
        weight = vec![0.5; 2 * nnz];
    } else {
        (rr, cc, src) = (Vec::with_capacity(2 * nnz), Vec::with_capacity(2 * nnz), Vec::with_capacity(2 * nnz));
        for k in (0..nnz).filter(|&k| e.rows[k] <= e.cols[k]) {
            rr.push(e.rows[k]);
            cc.push(e.cols[k]);
            src.push(k);
        }
        for k in (0..nnz).filter(|&k| e.rows[k] < e.cols[k]) {
            rr.push(e.cols[k]);
            cc.push(e.rows[k]);
            src.push(k);
        }
        weight = vec![1.0; src.len()];
    }
    Ok(assemble(n, nnz, &rr, &cc, src, weight, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(n: usize, m: usize, ip: &[i64], ix: &[i64]) -> Entries {
        Entries::compressed(n, m, ip, ix, false).unwrap()
    }

    /// Dense matrix of a canonical result.
    fn dense(c: &Canonical, ncols: usize) -> Vec<Vec<f64>> {
        let nrows = c.indptr.len() - 1;
        let mut d = vec![vec![0.0; ncols]; nrows];
        for r in 0..nrows {
            for j in c.indptr[r] as usize..c.indptr[r + 1] as usize {
                d[r][c.indices[j] as usize] = c.values[j];
            }
        }
        d
    }

    /// The adjoint of the map: gradient on the caller's values.
    fn adjoint(c: &Canonical, g: &[f64], nnz_in: usize) -> Vec<f64> {
        let mut out = vec![0.0; nnz_in];
        for t in 0..c.dest.len() {
            out[c.src[t] as usize] += c.weight[t] * g[c.dest[t] as usize];
        }
        out
    }

    fn assert_canonical(c: &Canonical) {
        for r in 0..c.indptr.len() - 1 {
            let row = &c.indices[c.indptr[r] as usize..c.indptr[r + 1] as usize];
            assert!(row.windows(2).all(|w| w[0] < w[1]), "row {r} not sorted unique: {row:?}");
        }
    }

    #[test]
    fn sorted_csr_is_identity() {
        let e = csr(2, 3, &[0, 2, 3], &[0, 2, 1]);
        let c = general(&e, &[1.0, 2.0, 3.0]).unwrap();
        assert!(c.identity);
        assert_eq!(c.indices, vec![0, 2, 1]);
        assert_eq!(c.values, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn unsorted_csr_with_explicit_zero() {
        let e = csr(2, 3, &[0, 3, 4], &[2, 0, 1, 1]);
        let c = general(&e, &[1.0, 2.0, 0.0, 4.0]).unwrap();
        assert!(!c.identity);
        assert_canonical(&c);
        assert_eq!((c.indptr.clone(), c.indices.clone()), (vec![0, 3, 4], vec![0, 1, 2, 1]));
        assert_eq!(c.values, vec![2.0, 0.0, 1.0, 4.0]); // the explicit zero is kept
        // gradient of canonical position p goes to the caller's entry stored there
        assert_eq!(adjoint(&c, &[10.0, 20.0, 30.0, 40.0], 4), vec![30.0, 10.0, 20.0, 40.0]);
    }

    #[test]
    fn csc_and_coo_with_duplicates() {
        // [[1, 0], [2, 3]] as CSC
        let e = Entries::compressed(2, 2, &[0i32, 2, 3], &[0i32, 1, 1], true).unwrap();
        let c = general(&e, &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(dense(&c, 2), vec![vec![1.0, 0.0], vec![2.0, 3.0]]);
        // COO with a duplicate (1, 0) stored twice: summed, each gets the summed gradient
        let e = Entries::coo(2, 2, &[1i64, 0, 1], &[0i64, 0, 0]).unwrap();
        let c = general(&e, &[2.0, 1.0, 5.0]).unwrap();
        assert_eq!(dense(&c, 2), vec![vec![1.0, 0.0], vec![7.0, 0.0]]);
        assert_eq!(c.indices.len(), 2);
        assert_eq!(adjoint(&c, &[1.0, 9.0], 3), vec![9.0, 1.0, 9.0]);
    }

    #[test]
    fn empty_matrices() {
        let e = csr(3, 2, &[0, 0, 0, 0], &[]);
        let c = general(&e, &[]).unwrap();
        assert!(c.identity && c.indices.is_empty() && c.indptr == vec![0; 4]);
        let e = csr(0, 2, &[0], &[]);
        assert!(general(&e, &[]).unwrap().identity);
        let p = symmetric(&csr(2, 2, &[0, 0, 0], &[]), &[]).unwrap();
        assert!(p.identity && p.indices.is_empty());
    }

    #[test]
    fn upper_triangle_is_mirrored() {
        // upper triangle of [[2, 1], [1, 3]], with a stored zero below the diagonal
        let e = csr(2, 2, &[0, 2, 4], &[0, 1, 0, 1]);
        let c = symmetric(&e, &[2.0, 1.0, 0.0, 3.0]).unwrap();
        assert_eq!(dense(&c, 2), vec![vec![2.0, 1.0], vec![1.0, 3.0]]);
        // an upper entry stands for both P_01 and P_10; the lower zero gets nothing
        assert_eq!(adjoint(&c, &[1.0, 10.0, 100.0, 1000.0], 4), vec![1.0, 110.0, 0.0, 1000.0]);
    }

    #[test]
    fn diagonal_p_is_identity() {
        let c = symmetric(&csr(2, 2, &[0, 1, 2], &[0, 1]), &[1.0, 2.0]).unwrap();
        assert!(c.identity);
    }

    #[test]
    fn full_p_is_averaged() {
        let e = csr(2, 2, &[0, 2, 4], &[0, 1, 0, 1]);
        let c = symmetric(&e, &[2.0, 1.0, 1.0, 3.0]).unwrap();
        assert_eq!(dense(&c, 2), vec![vec![2.0, 1.0], vec![1.0, 3.0]]);
        assert!(!c.identity);
        assert_canonical(&c);
        // each entry of the pair gets half of the pair's total gradient
        assert_eq!(adjoint(&c, &[1.0, 10.0, 100.0, 1000.0], 4), vec![1.0, 55.0, 55.0, 1000.0]);
    }

    #[test]
    fn nearly_symmetric_p_accepted_asymmetric_rejected() {
        let e = csr(2, 2, &[0, 2, 4], &[0, 1, 0, 1]);
        let c = symmetric(&e, &[2.0, 1.0, 1.0 + 1e-15, 3.0]).unwrap();
        assert_eq!(c.values[1], c.values[2]);
        let err = symmetric(&e, &[2.0, 1.0, 1.5, 3.0]).unwrap_err();
        assert_eq!(err, CanonError::Asymmetric { row: 0, col: 1, value: 1.0, mirror: 1.5, worst: 0.5 });
        // a lower entry without its mirror: the mirror counts as 0
        let e = csr(2, 2, &[0, 1, 2], &[0, 0]);
        let err = symmetric(&e, &[1.0, 4.0]).unwrap_err();
        assert_eq!(err, CanonError::Asymmetric { row: 1, col: 0, value: 4.0, mirror: 0.0, worst: 4.0 });
    }

    #[test]
    fn unsorted_full_p_with_duplicates() {
        // [[1, 2], [2, 0]] as COO: (1, 0) stored twice (1 + 1), (0, 1) once, unsorted
        let e = Entries::coo(2, 2, &[1i64, 0, 0, 1], &[0i64, 1, 0, 0]).unwrap();
        let c = symmetric(&e, &[1.0, 2.0, 1.0, 1.0]).unwrap();
        assert_eq!(dense(&c, 2), vec![vec![1.0, 2.0], vec![2.0, 0.0]]);
        assert_canonical(&c);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(Entries::compressed(2, 2, &[0i64, 1], &[0i64], false), Err(CanonError::Structure(_))));
        assert!(matches!(Entries::compressed(2, 2, &[0i64, 2, 1], &[0i64, 1], false), Err(CanonError::Structure(_))));
        // a row running past the end before a later decrease brings indptr back
        assert!(matches!(Entries::compressed(2, 2, &[0i64, 5, 2], &[0i64, 1], false), Err(CanonError::Structure(_))));
        assert!(matches!(Entries::compressed(1, 2, &[0i64, 1], &[2i64], false), Err(CanonError::Structure(_))));
        assert!(matches!(Entries::compressed(1, 2, &[0i64, 2], &[0i64], false), Err(CanonError::Structure(_))));
        assert!(matches!(Entries::coo(1, 1, &[0i64], &[-1i64]), Err(CanonError::Structure(_))));
        let e = csr(1, 2, &[0, 2], &[0, 1]);
        assert!(matches!(general(&e, &[1.0, f64::NAN]), Err(CanonError::NonFinite { index: 1, value }) if value.is_nan()));
        assert!(matches!(symmetric(&csr(1, 1, &[0, 1], &[0]), &[f64::INFINITY]), Err(CanonError::NonFinite { index: 0, .. })));
        assert!(matches!(general(&e, &[1.0]), Err(CanonError::Structure(_))));
        assert!(matches!(symmetric(&csr(1, 2, &[0, 0], &[]), &[]), Err(CanonError::Structure(_))));
    }
}
