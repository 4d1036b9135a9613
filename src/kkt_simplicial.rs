//! Simplicial sparse LDLᵀ with a fully precomputed pattern, for KKT systems whose
//! factor is too sparse for supernodes (most small and medium problems).
//!
//! faer's simplicial factorization recomputes each row's pattern (an elimination-tree
//! reach) and permutes the matrix on every call; for a KKT matrix of a few hundred
//! entries that bookkeeping costs several times the arithmetic (issue 12's profile:
//! at n = 50 the permutation and the reach were half the factorization).  The pattern
//! of K is fixed per problem family, so everything structural is computed once here:
//! the permuted upper triangle (as, per column, the rows and the KKT value index of
//! every entry), the elimination tree, the pattern of every row of L and the
//! position of each L entry.  The numeric factorization is then the up-looking
//! algorithm (as QDLDL's numeric phase), row by row in the elimination order:
//!
//! ```text
//!     y = K(0..k, k)  (scattered),  d = K(k, k)
//!     for j in pattern of row k of L (children before parents):
//!         y_i -= L(i, j) y_j   for the entries i < k of column j of L
//!         L(k, j) = y_j / d_j,  d -= L(k, j) y_j
//!     d_k = d  (dynamically regularized, `kkt_dense::regularized_pivot`)
//! ```
//!
//! The elimination order (AMD) and the pivot rule are the sparse path's, so this
//! factor has the same pivots as faer's up to rounding.  Nothing is allocated after
//! `SimplicialLdlt::new`.

use std::sync::Arc;

use crate::kkt_dense::regularized_pivot;

/// Sentinel for "no parent / no ancestor" in the elimination tree.
const NONE: usize = usize::MAX;

/// Everything structural, computed once per KKT pattern and shared (read-only) by
/// the numeric factors of every solve of the family.
#[derive(Debug)]
pub struct SimplicialSymbolic {
    dim: usize,
    /// Permuted upper triangle by column: entries `kcol_ptr[k]..kcol_ptr[k+1]` are
    /// (row i <= k, index of the value in the KKT value array).
    kcol_ptr: Vec<usize>,
    kcol_entries: Vec<(usize, usize)>,
    /// Strict lower triangle of L by column (rows ascending).
    lcol_ptr: Vec<usize>,
    lrow: Vec<usize>,
    /// Pattern of every row of L: `lrow_ptr[k]..lrow_ptr[k+1]` are (column j < k,
    /// position of L(k, j) in `lrow`), in a topological order of the tree.
    lrow_ptr: Vec<usize>,
    lrow_entries: Vec<(usize, usize)>,
    /// Elimination order: `order[i]` is the KKT row eliminated i-th.
    order: Vec<usize>,
    /// Expected pivot signs in the elimination order.
    signs: Vec<i8>,
}

/// The numeric factor of one solve.
pub struct SimplicialLdlt {
    symbolic: Arc<SimplicialSymbolic>,
    /// Values of L's strict lower triangle (positions of `symbolic.lrow`).
    lval: Vec<f64>,
    d: Vec<f64>,
    d_inv: Vec<f64>,
    /// Dense accumulator of the current row (zero between factorizations).
    acc: Vec<f64>,
    /// Right-hand side in the elimination order.
    work: Vec<f64>,
}

impl SimplicialSymbolic {
    /// `col_ptr`/`row_idx`: the upper-triangle CSC pattern of K (row <= column);
    /// `order`: elimination order (`order[i]` eliminated i-th); `signs`: expected
    /// pivot signs in KKT order.
    pub fn new(dim: usize, col_ptr: &[usize], row_idx: &[usize], order: &[usize], signs: &[i8]) -> Self {
        let mut inverse = vec![0; dim];
        for (i, &k) in order.iter().enumerate() {
            inverse[k] = i;
        }
        // Permuted upper triangle, bucketed by column.
        let mut count = vec![0usize; dim + 1];
        for c in 0..dim {
            for &r in &row_idx[col_ptr[c]..col_ptr[c + 1]] {
                count[inverse[r].max(inverse[c]) + 1] += 1;
            }
        }
        for k in 0..dim {
            count[k + 1] += count[k];
        }
        let kcol_ptr = count.clone();
        let mut kcol_entries = vec![(0, 0); row_idx.len()];
        for c in 0..dim {
            for (src, &r) in row_idx.iter().enumerate().take(col_ptr[c + 1]).skip(col_ptr[c]) {
                let (i, j) = (inverse[r].min(inverse[c]), inverse[r].max(inverse[c]));
                kcol_entries[count[j]] = (i, src);
                count[j] += 1;
            }
        }
        // Elimination tree (Liu's algorithm with path compression).
        let mut parent = vec![NONE; dim];
        let mut ancestor = vec![NONE; dim];
        for k in 0..dim {
            for &(i, _) in &kcol_entries[kcol_ptr[k]..kcol_ptr[k + 1]] {
                let mut r = i;
                while r != NONE && r < k {
                    let next = ancestor[r];
                    ancestor[r] = k;
                    if next == NONE {
                        parent[r] = k;
                    }
                    r = next;
                }
            }
        }
        // Row patterns of L: the reach of column k's entries in the tree, in faer's
        // order (the path of the last entry first, each path leaf to root; any
        // topological order is valid, this one makes the factor bit-identical to
        // faer's simplicial LDLᵀ, whose rounding the test corpus was checked with).
        let mut mark = vec![NONE; dim];
        let mut lrow_ptr = vec![0usize];
        let mut row_cols: Vec<usize> = Vec::new();
        let mut paths: Vec<std::ops::Range<usize>> = Vec::new();
        let mut scratch: Vec<usize> = Vec::new();
        for k in 0..dim {
            mark[k] = k;
            scratch.clear();
            paths.clear();
            for &(i, _) in &kcol_entries[kcol_ptr[k]..kcol_ptr[k + 1]] {
                let start = scratch.len();
                let mut j = i;
                while j != NONE && mark[j] != k {
                    mark[j] = k;
                    scratch.push(j);
                    j = parent[j];
                }
                paths.push(start..scratch.len());
            }
            for path in paths.iter().rev() {
                row_cols.extend_from_slice(&scratch[path.clone()]);
            }
            lrow_ptr.push(row_cols.len());
        }
        // Columns of L: row k is appended to column j for every j in row k's pattern,
        // so each column's rows come out ascending.
        let mut lcol_ptr = vec![0usize; dim + 1];
        for &j in &row_cols {
            lcol_ptr[j + 1] += 1;
        }
        for j in 0..dim {
            lcol_ptr[j + 1] += lcol_ptr[j];
        }
        let mut next = lcol_ptr.clone();
        let mut lrow = vec![0; row_cols.len()];
        let mut lrow_entries = Vec::with_capacity(row_cols.len());
        for k in 0..dim {
            for &j in &row_cols[lrow_ptr[k]..lrow_ptr[k + 1]] {
                lrow[next[j]] = k;
                lrow_entries.push((j, next[j]));
                next[j] += 1;
            }
        }
        // `SimplicialLdlt::solve_in_place` indexes unchecked on these.
        assert!(lrow.iter().all(|&k| k < dim) && lcol_ptr[dim] == lrow.len());
        SimplicialSymbolic {
            dim,
            kcol_ptr,
            kcol_entries,
            lcol_ptr,
            lrow,
            lrow_ptr,
            lrow_entries,
            order: order.to_vec(),
            signs: order.iter().map(|&k| signs[k]).collect(),
        }
    }

    /// Nonzeros of the strict lower triangle of L.
    pub fn factor_nnz(&self) -> usize {
        self.lrow.len()
    }
}

impl SimplicialLdlt {
    pub fn new(symbolic: Arc<SimplicialSymbolic>) -> Self {
        let (nnz, dim) = (symbolic.lrow.len(), symbolic.dim);
        SimplicialLdlt {
            symbolic,
            lval: vec![0.0; nnz],
            d: vec![0.0; dim],
            d_inv: vec![0.0; dim],
            acc: vec![0.0; dim],
            work: vec![0.0; dim],
        }
    }

    /// Factor K given by its upper-triangle CSC values.  Returns false when a pivot
    /// is zero or the factor is not finite.
    pub fn factor(&mut self, values: &[f64], delta: f64, eps: f64) -> bool {
        let s = &*self.symbolic;
        let y = &mut self.acc;
        let mut finite = true;
        for k in 0..s.dim {
            let mut dk = 0.0;
            for &(i, src) in &s.kcol_entries[s.kcol_ptr[k]..s.kcol_ptr[k + 1]] {
                if i == k {
                    dk += values[src];
                } else {
                    y[i] += values[src];
                }
            }
            for &(j, pos) in &s.lrow_entries[s.lrow_ptr[k]..s.lrow_ptr[k + 1]] {
                let yj = y[j];
                y[j] = 0.0;
                let start = s.lcol_ptr[j];
                for (&i, &l) in s.lrow[start..pos].iter().zip(&self.lval[start..pos]) {
                    y[i] -= l * yj;
                }
                let l_kj = yj * self.d_inv[j];
                self.lval[pos] = l_kj;
                dk -= l_kj * yj;
                finite &= l_kj.is_finite();
            }
            let dk = regularized_pivot(dk, s.signs[k], eps, delta);
            if dk == 0.0 || !dk.is_finite() {
                // leave the accumulator clean for the next factorization
                y.fill(0.0);
                return false;
            }
            self.d[k] = dk;
            self.d_inv[k] = 1.0 / dk;
        }
        finite
    }

    /// Solve K x = b in place with the last factor.
    pub fn solve_in_place(&mut self, b: &mut [f64]) {
        let s = &*self.symbolic;
        let dim = s.dim;
        assert!(b.len() >= dim && self.work.len() == dim && self.d_inv.len() == dim);
        let x = &mut self.work[..dim];
        for (xi, &k) in x.iter_mut().zip(&s.order) {
            *xi = b[k];
        }
        // Unchecked indexing: this loop pair is most of a small problem's solve time
        // (issue 12), and every index was built by `SimplicialSymbolic::new`, which
        // guarantees `lrow[p] < dim`, `lcol_ptr` nondecreasing with
        // `lcol_ptr[dim] == lrow.len() == lval.len()`.
        let (ptr, rows, vals) = (&s.lcol_ptr[..=dim], &s.lrow[..], &self.lval[..]);
        // L y = b, column by column
        for j in 0..dim {
            // SAFETY: j < dim and the invariants above.
            unsafe {
                let xj = *x.get_unchecked(j);
                if xj != 0.0 {
                    for p in *ptr.get_unchecked(j)..*ptr.get_unchecked(j + 1) {
                        *x.get_unchecked_mut(*rows.get_unchecked(p)) -= vals.get_unchecked(p) * xj;
                    }
                }
            }
        }
        // D Lᵀ x = y in one backward pass, x_j = y_j / d_j - sum_i L_ij x_i (faer's
        // arithmetic: the sum runs from the last row up)
        for j in (0..dim).rev() {
            // SAFETY: as above.
            unsafe {
                let mut sum = 0.0;
                for p in (*ptr.get_unchecked(j)..*ptr.get_unchecked(j + 1)).rev() {
                    sum += vals.get_unchecked(p) * x.get_unchecked(*rows.get_unchecked(p));
                }
                *x.get_unchecked_mut(j) = x.get_unchecked(j) * self.d_inv.get_unchecked(j) - sum;
            }
        }
        for (&xi, &k) in x.iter().zip(&s.order) {
            b[k] = xi;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kkt_dense::test_support::{assert_solves, test_values, upper_csc};

    /// A random sparse quasi-definite matrix in a scrambled order solves exactly.
    #[test]
    fn solves_sparse_quasi_definite_system() {
        let (n, m) = (6usize, 5usize);
        let dim = n + m;
        let mut rnd = test_values(99);
        let mut full = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..i {
                // about a third of the off-diagonal entries
                if rnd() > 0.2 {
                    continue;
                }
                let v = rnd();
                full[i * dim + j] = v;
                full[j * dim + i] = v;
            }
        }
        for i in 0..dim {
            full[i * dim + i] = if i < n { 2.0 + rnd().abs() } else { -2.0 - rnd().abs() };
        }
        let (col_ptr, row_idx, values) = upper_csc(&full, dim);
        let signs: Vec<i8> = (0..dim).map(|i| if i < n { 1 } else { -1 }).collect();
        let natural: Vec<usize> = (0..dim).collect();
        let scrambled: Vec<usize> = (0..dim).map(|i| (i * 7 + 3) % dim).collect();
        for order in [natural, scrambled] {
            let mut f = SimplicialLdlt::new(Arc::new(SimplicialSymbolic::new(dim, &col_ptr, &row_idx, &order, &signs)));
            for _ in 0..2 {
                // factor twice: the accumulator must be clean between calls
                assert!(f.factor(&values, 1e-7, 1e-13));
                let b: Vec<f64> = (0..dim).map(|i| i as f64 - 4.0).collect();
                let mut x = b.clone();
                f.solve_in_place(&mut x);
                assert_solves(&full, dim, &x, &b);
            }
        }
    }

    /// An arrowhead eliminated leaves-first has no fill.
    #[test]
    fn arrowhead_has_no_fill() {
        // K = [2 0 1; 0 2 1; 1 1 -3], upper CSC
        let col_ptr = [0, 1, 2, 5];
        let row_idx = [0, 1, 0, 1, 2];
        let f = SimplicialSymbolic::new(3, &col_ptr, &row_idx, &[0, 1, 2], &[1, 1, -1]);
        assert_eq!(f.factor_nnz(), 2);
        let g = SimplicialSymbolic::new(3, &col_ptr, &row_idx, &[2, 0, 1], &[1, 1, -1]);
        assert_eq!(g.factor_nnz(), 3);
    }
}
