//! The factored matrix of the derivative system in its fill-reducing order,
//! permuted once per pattern.
//!
//! faer's numeric LDL^T permutes its input into the AMD order on every call, and
//! transposes it to the triangle its kernel reads (together 6-13% of the socp_20x60
//! backward pass, with a pattern check on top).  The order depends on the pattern
//! only, so the permuted pattern and the position of each entry in it are computed
//! here once: with `inv` the new index of each original one, entry (r, c) goes to
//! row/column (inv[r], inv[c]) of the upper triangle (the symbolic factorization and
//! the simplicial kernel) or of the lower one (the supernodal kernel).  Each element
//! scatters its values straight into that order, the factor is built with the
//! identity ordering, and a solve permutes the rhs itself (`x_new[inv[i]] = x[i]`).

use dyn_stack::MemStack;
use faer::linalg::cholesky::ldlt::factor::{LdltParams, LdltRegularization};
use faer::sparse::linalg::cholesky::{
    factorize_symbolic_cholesky, CholeskySymbolicParams, LdltRef, SymbolicCholesky, SymbolicCholeskyRaw,
    SymmetricOrdering,
};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par, Side, Spec};

/// A symmetric pattern (upper triangle) in its AMD order and its symbolic LDL^T.
pub struct Ordered {
    /// Permuted triangle that the numeric factorization reads (`side`), CSC with
    /// rows ascending.
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    side: Side,
    /// Position in the permuted values of every entry of the original pattern.
    pos: Vec<usize>,
    /// New index of every original index.
    inv: Vec<usize>,
    factor: SymbolicCholesky<usize>,
    /// Expected pivot signs in the new order.
    signs: Vec<i8>,
}

impl Ordered {
    /// `(col_ptr, row_idx)`: the upper-triangle CSC pattern; `signs`: expected pivot
    /// signs (original order).  None when faer's symbolic factorization fails.
    pub fn new(col_ptr: &[usize], row_idx: &[usize], signs: &[i8], params: CholeskySymbolicParams) -> Option<Self> {
        let dim = col_ptr.len() - 1;
        let sym = SymbolicSparseColMatRef::new_checked(dim, dim, col_ptr, None, row_idx);
        let amd = factorize_symbolic_cholesky(sym, Side::Upper, SymmetricOrdering::Amd, params).ok()?;
        let (fwd, inv): (Vec<usize>, Vec<usize>) = match amd.perm() {
            Some(p) => {
                let (f, i) = p.arrays();
                (f.to_vec(), i.to_vec())
            }
            None => ((0..dim).collect(), (0..dim).collect()),
        };
        // the upper triangle for the symbolic factorization
        let upper = |i: usize, j: usize| (i.max(j), i.min(j));
        let (pcp, pri, _) = permuted_pattern(col_ptr, row_idx, &inv, upper);
        let psym = SymbolicSparseColMatRef::new_checked(dim, dim, &pcp, None, &pri);
        let factor = factorize_symbolic_cholesky(psym, Side::Upper, SymmetricOrdering::Identity, params).ok()?;
        // the numeric factorization reads the lower triangle (supernodal) or the upper
        // one (simplicial), and transposes anything else on every call
        let side = if matches!(factor.raw(), SymbolicCholeskyRaw::Supernodal(_)) { Side::Lower } else { Side::Upper };
        let (pcp, pri, pos) = match side {
            Side::Lower => permuted_pattern(col_ptr, row_idx, &inv, |i, j| (i.min(j), i.max(j))),
            Side::Upper => permuted_pattern(col_ptr, row_idx, &inv, upper),
        };
        let signs = fwd.iter().map(|&o| signs[o]).collect();
        Some(Ordered { col_ptr: pcp, row_idx: pri, side, pos, inv, factor, signs })
    }

    pub fn dim(&self) -> usize {
        self.inv.len()
    }

    pub fn factor_len(&self) -> usize {
        self.factor.len_val()
    }

    pub fn supernodal(&self) -> bool {
        matches!(self.factor.raw(), SymbolicCholeskyRaw::Supernodal(_))
    }

    pub fn factor_scratch(&self, params: Spec<LdltParams, f64>) -> dyn_stack::StackReq {
        dyn_stack::StackReq::any_of(&[
            self.factor.factorize_numeric_ldlt_scratch::<f64>(Par::Seq, params),
            self.factor.solve_in_place_scratch::<f64>(1, Par::Seq),
        ])
    }

    /// Numeric LDL^T (into `l_values`) of the matrix with values `vals` in the
    /// original pattern's layout (permuted into `permuted`), dynamically regularized
    /// with (`eps`, `delta`).
    #[allow(clippy::too_many_arguments)]
    pub fn factorize(
        &self,
        vals: &[f64],
        eps: f64,
        delta: f64,
        l_values: &mut [f64],
        permuted: &mut Vec<f64>,
        stack: &mut MemStack,
        params: Spec<LdltParams, f64>,
    ) -> bool {
        permuted.clear();
        permuted.resize(vals.len(), 0.0);
        self.pos.iter().zip(vals).for_each(|(&p, &v)| permuted[p] = v);
        let dim = self.dim();
        // SAFETY: the pattern passed `new_checked` in `new` and is never modified
        let sym = unsafe { SymbolicSparseColMatRef::new_unchecked(dim, dim, &self.col_ptr, None, &self.row_idx) };
        let mat = SparseColMatRef::new(sym, &permuted[..]);
        let dynamic = LdltRegularization {
            dynamic_regularization_signs: Some(&self.signs),
            dynamic_regularization_delta: delta,
            dynamic_regularization_epsilon: eps,
        };
        self.factor.factorize_numeric_ldlt(l_values, mat, self.side, dynamic, Par::Seq, stack, params).is_ok()
    }

    /// x <- M^{-1} x (original order) from the factor in `l_values`.
    pub fn solve(&self, l_values: &[f64], x: &mut [f64], stack: &mut MemStack) {
        let mut z = vec![0.0; x.len()];
        self.inv.iter().zip(x.iter()).for_each(|(&k, &v)| z[k] = v);
        let len = z.len();
        let ldlt = LdltRef::new(&self.factor, l_values);
        ldlt.solve_in_place_with_conj(Conj::No, MatMut::from_column_major_slice_mut(&mut z, len, 1), Par::Seq, stack);
        self.inv.iter().zip(x.iter_mut()).for_each(|(&k, v)| *v = z[k]);
    }
}

/// The pattern (`col_ptr`, `row_idx`, upper triangle) with entry (r, c) moved to
/// `place(inv[r], inv[c])` = (new column, new row): CSC with rows ascending, and the
/// new position of every entry.
fn permuted_pattern(
    col_ptr: &[usize],
    row_idx: &[usize],
    inv: &[usize],
    place: impl Fn(usize, usize) -> (usize, usize),
) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let dim = col_ptr.len() - 1;
    let mut entries: Vec<(usize, usize, usize)> = Vec::with_capacity(row_idx.len());
    for c in 0..dim {
        for t in col_ptr[c]..col_ptr[c + 1] {
            let (nc, nr) = place(inv[row_idx[t]], inv[c]);
            entries.push((nc, nr, t));
        }
    }
    entries.sort_unstable();
    let mut pcp = vec![0usize; dim + 1];
    let mut pri = Vec::with_capacity(entries.len());
    let mut pos = vec![0usize; row_idx.len()];
    for (k, &(c, r, t)) in entries.iter().enumerate() {
        pcp[c + 1] += 1;
        pri.push(r);
        pos[t] = k;
    }
    for c in 0..dim {
        pcp[c + 1] += pcp[c];
    }
    (pcp, pri, pos)
}
