//! Problem data: CSR sparsity patterns, cone layout and their validation.
//!
//! A `ProblemPattern` is everything that stays fixed between solves (sizes, the
//! CSR patterns of P and A, the cones).  Values (P, A, q, b) change per solve.

use crate::cones::{
    svec_dim, Cone, ExponentialCone, GenPowerCone, NonnegativeCone, PowerCone, PsdTriangleCone, SecondOrderCone,
    SupportedCone,
    ZeroCone,
};
use crate::error::SolverError;

/// Cone layout of the rows of A: zero, nonnegative, second-order, PSD (svec of
/// each k x k matrix, `psd` holds the sides k), exponential, power, generalized power.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConeSpec {
    pub zero: usize,
    pub nonneg: usize,
    pub soc: Vec<usize>,
    pub psd: Vec<usize>,
    pub exp: usize,
    pub power: Vec<f64>,
    /// Generalized power cones (alphas, dim2): rows (x in R^len(alphas), y in R^dim2).
    pub gen_power: Vec<(Vec<f64>, usize)>,
}

impl ConeSpec {
    pub fn num_rows(&self) -> usize {
        self.zero + self.nonneg + self.soc.iter().sum::<usize>()
            + self.psd.iter().map(|&k| svec_dim(k)).sum::<usize>()
            + 3 * self.exp + 3 * self.power.len()
            + self.gen_power.iter().map(|(a, d2)| a.len() + d2).sum::<usize>()
    }

    pub fn degree(&self) -> usize {
        self.nonneg + self.soc.len() + self.psd.iter().sum::<usize>() + 3 * self.exp + 3 * self.power.len()
            + self.gen_power.iter().map(|(a, _)| a.len() + 1).sum::<usize>()
    }

    pub fn validate(&self, m: usize) -> Result<(), SolverError> {
        if let Some(i) = self.soc.iter().position(|&d| d == 0) {
            return Err(SolverError::Cones(format!(
                "second-order cone {i} has dimension 0; every SOC needs dimension >= 1"
            )));
        }
        if let Some(i) = self.psd.iter().position(|&k| k == 0) {
            return Err(SolverError::Cones(format!(
                "PSD cone {i} has side 0; every PSD cone needs a matrix side k >= 1 (k (k + 1) / 2 rows)"
            )));
        }
        if let Some((i, a)) = self.power.iter().enumerate().find(|(_, a)| !(**a > 0.0 && **a < 1.0)) {
            return Err(SolverError::Cones(format!("power cone {i} has alpha = {a}; alpha must be in (0, 1)")));
        }
        for (i, (alphas, dim2)) in self.gen_power.iter().enumerate() {
            if alphas.is_empty() || *dim2 < 1 {
                return Err(SolverError::Cones(format!(
                    "generalized power cone {i} has {} alphas and dim2 = {dim2}; it needs at least one alpha and dim2 >= 1",
                    alphas.len()
                )));
            }
            if let Some((j, a)) = alphas.iter().enumerate().find(|(_, a)| !(a.is_finite() && **a > 0.0)) {
                return Err(SolverError::Cones(format!(
                    "generalized power cone {i} has alphas[{j}] = {a}; every alpha must be finite and > 0"
                )));
            }
            let total: f64 = alphas.iter().sum();
            if (total - 1.0).abs() > 1e-8 * alphas.len() as f64 {
                return Err(SolverError::Cones(format!(
                    "generalized power cone {i} has alphas summing to {total}; they must sum to 1"
                )));
            }
        }
        let rows = self.num_rows();
        if rows != m {
            return Err(SolverError::Cones(format!(
                "cone sizes add up to {rows} rows (zero {}, nonneg {}, soc {:?}, psd sides {:?}, exp 3x{}, power 3x{}, gen power {:?}) but A has m = {m} rows",
                self.zero,
                self.nonneg,
                self.soc,
                self.psd,
                self.exp,
                self.power.len(),
                self.gen_power.iter().map(|(a, d2)| a.len() + d2).collect::<Vec<_>>()
            )));
        }
        Ok(())
    }

    /// The cone objects, in row order, with the row range each one covers.
    pub fn build(&self) -> Vec<(SupportedCone, std::ops::Range<usize>)> {
        let mut cones = Vec::new();
        let mut start = 0;
        let mut push = |c: SupportedCone| {
            let d = c.dim();
            cones.push((c, start..start + d));
            start += d;
        };
        if self.zero > 0 {
            push(SupportedCone::Zero(ZeroCone::new(self.zero)));
        }
        if self.nonneg > 0 {
            push(SupportedCone::Nonnegative(NonnegativeCone::new(self.nonneg)));
        }
        for &d in &self.soc {
            push(SupportedCone::SecondOrder(SecondOrderCone::new(d)));
        }
        for &k in &self.psd {
            push(SupportedCone::Psd(PsdTriangleCone::new(k)));
        }
        for _ in 0..self.exp {
            push(SupportedCone::Exponential(ExponentialCone::new()));
        }
        for &a in &self.power {
            push(SupportedCone::Power(PowerCone::new(a)));
        }
        for (alphas, dim2) in &self.gen_power {
            push(SupportedCone::GenPower(GenPowerCone::new(alphas.clone(), *dim2)));
        }
        cones
    }
}

/// A compressed-sparse-row pattern (no values).
#[derive(Clone, Debug, PartialEq)]
pub struct CsrPattern {
    pub nrows: usize,
    pub ncols: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<usize>,
}

impl CsrPattern {
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Check that the pattern is a valid CSR with sorted, unique, in-range indices.
    pub fn new(
        name: &str,
        nrows: usize,
        ncols: usize,
        indptr: Vec<i64>,
        indices: Vec<i64>,
    ) -> Result<Self, SolverError> {
        let err = |msg: String| Err(SolverError::Data(format!("{name}: {msg}")));
        if indptr.len() != nrows + 1 {
            return err(format!("row offsets have length {}, expected nrows + 1 = {}", indptr.len(), nrows + 1));
        }
        if indptr[0] != 0 {
            return err(format!("row offsets must start at 0, got {}", indptr[0]));
        }
        for r in 0..nrows {
            if indptr[r + 1] < indptr[r] {
                return err(format!("row offsets must be non-decreasing (row {r})"));
            }
        }
        if indptr[nrows] as usize != indices.len() {
            return err(format!(
                "last row offset is {} but there are {} column indices",
                indptr[nrows],
                indices.len()
            ));
        }
        for r in 0..nrows {
            let row = &indices[indptr[r] as usize..indptr[r + 1] as usize];
            for (k, &c) in row.iter().enumerate() {
                if c < 0 || c as usize >= ncols {
                    return err(format!("column index {c} in row {r} is out of range [0, {ncols})"));
                }
                if k > 0 && row[k - 1] >= c {
                    return err(format!(
                        "column indices in row {r} must be sorted and unique (found {} then {c})",
                        row[k - 1]
                    ));
                }
            }
        }
        Ok(CsrPattern {
            nrows,
            ncols,
            indptr: indptr.into_iter().map(|v| v as usize).collect(),
            indices: indices.into_iter().map(|v| v as usize).collect(),
        })
    }

    /// Column indices of row r.
    pub fn row_indices(&self, r: usize) -> &[usize] {
        &self.indices[self.indptr[r]..self.indptr[r + 1]]
    }

    /// Position in the value array of entry (r, c), if stored.
    pub fn find(&self, r: usize, c: usize) -> Option<usize> {
        self.row_indices(r).binary_search(&c).ok().map(|k| self.indptr[r] + k)
    }

    /// Iterate (row, col, value index).
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.nrows).flat_map(move |r| (self.indptr[r]..self.indptr[r + 1]).map(move |k| (r, self.indices[k], k)))
    }
}

/// Everything fixed across solves of one problem family.
#[derive(Clone, Debug)]
pub struct ProblemPattern {
    pub n: usize,
    pub m: usize,
    /// Full symmetric pattern of P (both triangles).
    pub p: CsrPattern,
    pub a: CsrPattern,
    pub cones: ConeSpec,
    /// For every stored entry of P, the index of its mirror entry (j, i).
    pub p_mirror: Vec<usize>,
}

impl ProblemPattern {
    pub fn new(p: CsrPattern, a: CsrPattern, cones: ConeSpec) -> Result<Self, SolverError> {
        let n = p.nrows;
        if p.ncols != n {
            return Err(SolverError::Data(format!("P must be square, got {}x{}", p.nrows, p.ncols)));
        }
        if a.ncols != n {
            return Err(SolverError::Data(format!("A has {} columns but P is {n}x{n}", a.ncols)));
        }
        let m = a.nrows;
        cones.validate(m)?;
        let mut p_mirror = vec![0; p.nnz()];
        for (r, c, k) in p.entries() {
            match p.find(c, r) {
                Some(k2) => p_mirror[k] = k2,
                None => {
                    return Err(SolverError::Data(format!(
                        "P must be given as the full symmetric matrix: entry ({r}, {c}) is stored but ({c}, {r}) is not"
                    )))
                }
            }
        }
        Ok(ProblemPattern { n, m, p, a, cones, p_mirror })
    }
}

/// Check that a value array is finite, naming the offending entry.
/// (`name` is formatted only on error: callers pass `format_args!` per element.)
pub fn check_finite(name: impl std::fmt::Display, values: &[f64]) -> Result<(), SolverError> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(SolverError::Data(format!("{name} has a non-finite value ({}) at index {i}", values[i])));
    }
    Ok(())
}

/// Check that P's values are symmetric (P[i,j] == P[j,i] up to rounding).
pub fn check_p_symmetric(pattern: &ProblemPattern, p_values: &[f64]) -> Result<(), SolverError> {
    for (r, c, k) in pattern.p.entries() {
        if c <= r {
            continue;
        }
        let (a, b) = (p_values[k], p_values[pattern.p_mirror[k]]);
        if (a - b).abs() > 1e-12 * a.abs().max(b.abs()).max(1.0) {
            return Err(SolverError::Data(format!(
                "P must be symmetric: P[{r},{c}] = {a} but P[{c},{r}] = {b}"
            )));
        }
    }
    Ok(())
}
