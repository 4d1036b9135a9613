//! Dense LDLᵀ for small KKT systems.
//!
//! For a KKT matrix of dimension up to about a hundred the sparse machinery
//! (permutations, elimination tree, index chasing per entry) costs more than the
//! arithmetic.  This backend takes the SAME assembled upper-triangle CSC values as the
//! sparse one (static regularization included, fixed pattern), scatters them into a
//! preallocated dense lower triangle through a precomputed position map, and factors
//!
//! ```text
//!     K = L D Lᵀ,   L unit lower triangular,  D diagonal,
//! ```
//! in the sparse path's fill-reducing (AMD) elimination order, so that both paths
//! see the same pivots, regularization decisions and rounding behaviour (on LPs and
//! badly scaled cones the natural order is measurably less accurate).  K is
//! quasi-definite once regularized, so LDLᵀ exists for every symmetric permutation and
//! no pivoting is needed.  Dynamic regularization follows faer's rule exactly: a pivot
//! whose sign disagrees with the expected one (`signs`), or whose magnitude is below
//! `eps`, is replaced by `sign * delta`.
//!
//! Row-oriented (Crout) form, L stored row-major so every update is a contiguous dot
//! product:
//! ```text
//!     for j:  w_k = L_jk d_k (k < j),   d_j = K_jj - sum_k L_jk w_k,
//!             L_ij = (K_ij - sum_{k<j} L_ik w_k) / d_j   (i > j)
//! ```
//! Nothing is allocated after `DenseLdlt::new`.

/// "auto" factors a KKT system of dimension n + m up to this densely when the
/// sparse factor would hold at least `DENSE_MIN_FILL` of the dense strict lower
/// triangle.  Measured with `benchmarks/rust/profile_seed.rs` (callgrind, solve +
/// VJP per element): on dense-data QPs (fill 1) the dense factor takes 4-18% fewer
/// instructions than the simplicial one (`kkt_simplicial`) from n + m = 10 to 75;
/// on the seed family (n + m = 11, fill 0.2) it takes 13% more.
pub const DENSE_AUTO_MAX_DIM: usize = 96;
pub const DENSE_MIN_FILL: f64 = 0.4;

/// Whether "auto" should factor a KKT system of dimension `dim` densely, given the
/// nonzero count of its sparse factor (strict lower triangle).
pub fn prefer_dense(dim: usize, sparse_factor_nnz: usize) -> bool {
    dim >= 2 && dim <= DENSE_AUTO_MAX_DIM && sparse_factor_nnz as f64 >= DENSE_MIN_FILL * (dim * (dim - 1) / 2) as f64
}

/// faer's dynamic regularization of a pivot `d` (shared by the dense and the
/// simplicial factor): a pivot whose sign disagrees with the expected `sign`, or
/// whose magnitude is at most `eps`, becomes `sign * delta` (delta = 0: off).
#[inline]
pub fn regularized_pivot(d: f64, sign: i8, eps: f64, delta: f64) -> f64 {
    let (eps, delta) = (eps.abs(), delta.abs());
    if delta == 0.0 {
        return d;
    }
    if (sign > 0 && d <= eps) || (sign < 0 && d >= -eps) {
        f64::from(sign) * delta
    } else if sign == 0 && d.abs() <= eps {
        if d < 0.0 { -delta } else { delta }
    } else {
        d
    }
}

/// Dense factor and its workspace, sized once for a KKT pattern.
pub struct DenseLdlt {
    dim: usize,
    /// Row-major dense lower triangle (the full dim x dim square; the strict upper
    /// part is unused): K on input, L (unit diagonal implicit) after `factor`.
    l: Vec<f64>,
    d: Vec<f64>,
    /// w_k = L_jk d_k for the current row j.
    w: Vec<f64>,
    /// Dense index (row-major, lower triangle) of every KKT value, in the
    /// elimination order.
    positions: Vec<usize>,
    /// Elimination order: `order[i]` is the KKT row eliminated i-th.
    order: Vec<usize>,
    /// Expected pivot signs in the elimination order.
    signs: Vec<i8>,
    /// Right-hand side in the elimination order.
    work: Vec<f64>,
}

impl DenseLdlt {
    /// `col_ptr`/`row_idx`: the upper-triangle CSC pattern of K (row <= column);
    /// `order`: elimination order (None: natural); `signs`: expected pivot signs.
    pub fn new(dim: usize, col_ptr: &[usize], row_idx: &[usize], order: Option<&[usize]>, signs: &[i8]) -> Self {
        let order: Vec<usize> = order.map_or_else(|| (0..dim).collect(), <[usize]>::to_vec);
        let mut inverse = vec![0; dim];
        for (i, &k) in order.iter().enumerate() {
            inverse[k] = i;
        }
        let mut positions = Vec::with_capacity(row_idx.len());
        for c in 0..dim {
            for &r in &row_idx[col_ptr[c]..col_ptr[c + 1]] {
                // entry (r, c) goes to the lower triangle of the permuted matrix
                let (i, j) = (inverse[r], inverse[c]);
                positions.push(i.max(j) * dim + i.min(j));
            }
        }
        let signs = order.iter().map(|&k| signs[k]).collect();
        DenseLdlt {
            dim,
            l: vec![0.0; dim * dim],
            d: vec![0.0; dim],
            w: vec![0.0; dim],
            positions,
            order,
            signs,
            work: vec![0.0; dim],
        }
    }

    /// Factor K given by its CSC values.  Returns false when a pivot is zero or the
    /// factor is not finite.
    pub fn factor(&mut self, values: &[f64], delta: f64, eps: f64) -> bool {
        let dim = self.dim;
        self.l.fill(0.0);
        for (&pos, &v) in self.positions.iter().zip(values) {
            self.l[pos] = v;
        }
        let mut finite = true;
        for j in 0..dim {
            let (upper, lower) = self.l.split_at_mut((j + 1) * dim);
            let row_j = &upper[j * dim..j * dim + j + 1];
            let (lj, kjj) = row_j.split_at(j);
            let w = &mut self.w[..j];
            let mut dj = kjj[0];
            for ((wk, &ljk), &dk) in w.iter_mut().zip(lj).zip(&self.d[..j]) {
                *wk = ljk * dk;
                dj -= ljk * *wk;
            }
            let dj = regularized_pivot(dj, self.signs[j], eps, delta);
            if dj == 0.0 || !dj.is_finite() {
                return false;
            }
            self.d[j] = dj;
            let inv = 1.0 / dj;
            // rows below j: L_ij = (K_ij - L_i,0..j . w) / d_j
            for row_i in lower.chunks_exact_mut(dim) {
                let (li, kij) = row_i[..=j].split_at_mut(j);
                let v = (kij[0] - dot(li, w)) * inv;
                finite &= v.is_finite();
                kij[0] = v;
            }
        }
        finite
    }

    /// Solve K x = b in place with the last factor.
    pub fn solve_in_place(&mut self, b: &mut [f64]) {
        for (w, &k) in self.work.iter_mut().zip(&self.order) {
            *w = b[k];
        }
        let mut x = std::mem::take(&mut self.work);
        self.solve_permuted(&mut x);
        for (&xi, &k) in x.iter().zip(&self.order) {
            b[k] = xi;
        }
        self.work = x;
    }

    /// Solve in the elimination order.
    fn solve_permuted(&self, x: &mut [f64]) {
        let dim = self.dim;
        // L y = b
        for (i, row) in self.l.chunks_exact(dim).enumerate() {
            let (done, rest) = x.split_at_mut(i);
            rest[0] -= dot(&row[..i], done);
        }
        for (xi, &di) in x.iter_mut().zip(&self.d) {
            *xi /= di;
        }
        // Lᵀ x = y, column-oriented on the row-major L
        for (i, row) in self.l.chunks_exact(dim).enumerate().rev() {
            let (head, rest) = x.split_at_mut(i);
            let xi = rest[0];
            for (xk, &lik) in head.iter_mut().zip(&row[..i]) {
                *xk -= lik * xi;
            }
        }
    }
}

/// Dot product; four accumulators on long vectors (lets the compiler vectorize).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 8 {
        return a.iter().zip(b).map(|(x, y)| x * y).sum();
    }
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Shared by the tests of the dense and simplicial factors.
#[cfg(test)]
pub(crate) mod test_support {
    /// Deterministic pseudo-random values in [-0.5, 0.5).
    pub fn test_values(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        }
    }

    /// The stored upper triangle (CSC: col_ptr, row_idx, values) of a row-major
    /// dim x dim symmetric matrix.
    pub fn upper_csc(full: &[f64], dim: usize) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
        let (mut col_ptr, mut row_idx, mut values) = (vec![0], Vec::new(), Vec::new());
        for c in 0..dim {
            for r in 0..=c {
                if full[r * dim + c] != 0.0 {
                    row_idx.push(r);
                    values.push(full[r * dim + c]);
                }
            }
            col_ptr.push(row_idx.len());
        }
        (col_ptr, row_idx, values)
    }

    /// |full x - b| < 1e-12 in every row.
    pub fn assert_solves(full: &[f64], dim: usize, x: &[f64], b: &[f64]) {
        for i in 0..dim {
            let kx: f64 = (0..dim).map(|j| full[i * dim + j] * x[j]).sum();
            assert!((kx - b[i]).abs() < 1e-12, "row {i}: {kx} vs {}", b[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{assert_solves, test_values, upper_csc};
    use super::*;

    /// A random quasi-definite matrix, factored densely, solves like a direct solve.
    #[test]
    fn solves_quasi_definite_system() {
        let (n, m) = (4usize, 3usize);
        let dim = n + m;
        let mut rnd = test_values(12345);
        let mut full = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..=i {
                let v = rnd();
                full[i * dim + j] = v;
                full[j * dim + i] = v;
            }
        }
        for i in 0..n {
            full[i * dim + i] = 3.0 + full[i * dim + i].abs();
        }
        for i in n..dim {
            full[i * dim + i] = -3.0 - full[i * dim + i].abs();
        }
        // every entry is nonzero: a dense upper CSC pattern
        let (col_ptr, row_idx, values) = upper_csc(&full, dim);
        assert_eq!(row_idx.len(), dim * (dim + 1) / 2);
        let signs: Vec<i8> = (0..dim).map(|i| if i < n { 1 } else { -1 }).collect();
        let reversed: Vec<usize> = (0..dim).rev().collect();
        for order in [None, Some(&reversed[..])] {
            let mut f = DenseLdlt::new(dim, &col_ptr, &row_idx, order, &signs);
            assert!(f.factor(&values, 1e-7, 1e-13));
            let b: Vec<f64> = (0..dim).map(|i| i as f64 - 2.0).collect();
            let mut x = b.clone();
            f.solve_in_place(&mut x);
            assert_solves(&full, dim, &x, &b);
        }
    }

    /// A zero pivot of the wrong sign is replaced by sign * delta, as in faer.
    #[test]
    fn dynamic_regularization_replaces_bad_pivots() {
        // K = [0 1; 1 0] with signs (+, -): d_0 = 0 -> +delta, d_1 = -1/delta
        let col_ptr = [0, 1, 3];
        let row_idx = [0, 0, 1];
        let values = [0.0, 1.0, 0.0];
        let mut f = DenseLdlt::new(2, &col_ptr, &row_idx, None, &[1, -1]);
        assert!(f.factor(&values, 1e-3, 1e-13));
        assert_eq!(f.d[0], 1e-3);
        assert!((f.d[1] + 1e3).abs() < 1e-9);
    }
}
