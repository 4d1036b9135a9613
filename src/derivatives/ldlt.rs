//! Symmetric form of the derivative system, factored with faer's sparse LDL^T.
//!
//! Every block of `D` is symmetric with eigenvalues in [0, 1], so multiplying the
//! second block row of `M [dx; dv] = [r1; r2]` by `D` gives a symmetric matrix.  On
//! null(D) that row only says `dv_0 = (A dx - r2)_0`, which is solved afterwards;
//! writing `-1` there (the projector `N` onto null(D)) keeps the matrix nonsingular:
//!
//! ```text
//!     K = [ P     A'D            ]   [dx; dv_R] = K^{-1} [r1; D r2],
//!         [ DA    D(D - I) - N   ]   dv = dv_R + N (A dx - r2).
//! ```
//!
//! K is quasi-definite up to zero pivots (P singular, eigenvalue 1 of D, like the
//! equality rows of an interior-point KKT system): it is factored with static and
//! dynamic regularization and the solution refined against the unregularized K.
//! The pattern of K is fixed per family, so the AMD ordering and the symbolic
//! factorization are computed once.  Unlike the LU of M (symmetric pivots only),
//! the fill stays that of a KKT system.

use dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::ldlt::factor::{LdltParams, LdltRegularization};
use faer::sparse::linalg::cholesky::{
    factorize_symbolic_cholesky, CholeskySymbolicParams, LdltRef, SymbolicCholesky, SymmetricOrdering,
};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par, Side, Spec};

use super::system::{assemble_v_columns, DerivSymbolic};
use crate::problem::ProblemPattern;

/// Upper-triangle CSC pattern of K and its symbolic LDL^T.
pub struct SymSymbolic {
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    factor: SymbolicCholesky<usize>,
    signs: Vec<i8>,
}

impl SymSymbolic {
    /// Columns: x (upper triangle of P), then v columns per block (x rows touched by
    /// the block's rows of A, then the block's upper triangle).
    pub fn new(sym: &DerivSymbolic, pattern: &ProblemPattern) -> Option<Self> {
        let n = sym.n;
        let dim = sym.dim();
        let mut col_ptr = vec![0usize];
        let mut row_idx = Vec::new();
        for j in 0..n {
            // strict upper triangle of P, then the diagonal (stored even when P lacks
            // it: the regularization goes there)
            for &i in &pattern.p.indices[pattern.p.indptr[j]..pattern.p.indptr[j + 1]] {
                if i < j {
                    row_idx.push(i);
                }
            }
            row_idx.push(j);
            col_ptr.push(row_idx.len());
        }
        // the x rows of v column c are those of M's v column (already sorted)
        let mut col = n;
        for b in &sym.blocks {
            for c in 0..b.dim {
                let rows = &sym.row_idx[sym.col_ptr[col]..sym.col_ptr[col + 1]];
                row_idx.extend(rows.iter().filter(|&&r| r < n));
                row_idx.extend((0..=c).map(|r| n + b.start + r));
                col_ptr.push(row_idx.len());
                col += 1;
            }
        }
        let symbolic = SymbolicSparseColMatRef::new_checked(dim, dim, &col_ptr, None, &row_idx);
        let factor =
            factorize_symbolic_cholesky(symbolic, Side::Upper, SymmetricOrdering::Amd, CholeskySymbolicParams::default())
                .ok()?;
        let mut signs = vec![1i8; dim];
        signs[n..].fill(-1);
        Some(SymSymbolic { col_ptr, row_idx, factor, signs })
    }
}

/// Numeric K of one element, its factor, and the null-space projector of D.
pub struct SymSystem<'s> {
    sym: &'s DerivSymbolic,
    ss: &'s SymSymbolic,
    /// Unregularized values of K (upper triangle).
    values: Vec<f64>,
    l_values: Vec<f64>,
    /// Dense blocks of N (projector onto null(D)), same layout as D.
    pub null_proj: Vec<f64>,
    mem: MemBuffer,
}

/// Eigenvalues of D below this count as exact zeros (the constraint is inactive).
const NULL_EIG: f64 = 1e-12;

impl<'s> SymSystem<'s> {
    /// Assemble K from P, A and D, and factor it.  None when the factorization fails.
    pub fn new(
        sym: &'s DerivSymbolic,
        ss: &'s SymSymbolic,
        pattern: &ProblemPattern,
        p: &[f64],
        a: &[f64],
        d: &[f64],
        static_reg: f64,
    ) -> Option<Self> {
        let n = sym.n;
        // N per block (eigen-decomposition of the dense blocks)
        let mut null_proj = vec![0.0; sym.d_len];
        for b in &sym.blocks {
            let blk = &d[b.offset..b.offset + b.dim * b.dim];
            let out = &mut null_proj[b.offset..b.offset + b.dim * b.dim];
            if b.dim == 1 {
                out[0] = if blk[0].abs() <= NULL_EIG { 1.0 } else { 0.0 };
                continue;
            }
            let mat = faer::Mat::<f64>::from_fn(b.dim, b.dim, |i, j| 0.5 * (blk[i * b.dim + j] + blk[j * b.dim + i]));
            let (s, u) = super::dense::symmetric_eigen(mat.as_ref())?;
            for k in 0..b.dim {
                if s[k].abs() <= NULL_EIG {
                    for i in 0..b.dim {
                        for j in 0..b.dim {
                            out[i * b.dim + j] += u[(i, k)] * u[(j, k)];
                        }
                    }
                }
            }
        }
        let mut values = vec![0.0; ss.row_idx.len()];
        for j in 0..n {
            let mut pos = ss.col_ptr[j];
            for k in pattern.p.indptr[j]..pattern.p.indptr[j + 1] {
                let i = pattern.p.indices[k];
                if i < j {
                    values[pos] = p[k];
                    pos += 1;
                } else if i == j {
                    values[ss.col_ptr[j + 1] - 1] = p[k];
                }
            }
        }
        // v columns: (A'D)[:, c] on the x rows, (D(D - I) - N)[r, c] for r <= c
        assemble_v_columns(sym, pattern, a, d, (&ss.col_ptr, &ss.row_idx), &mut values, |b, c, where_row, values| {
            for r in 0..=c {
                let mut acc = -d[b.offset + r * b.dim + c] - null_proj[b.offset + r * b.dim + c];
                for k in 0..b.dim {
                    acc += d[b.offset + r * b.dim + k] * d[b.offset + k * b.dim + c];
                }
                values[where_row[n + b.start + r]] = acc;
            }
        });
        let params: Spec<LdltParams, f64> = Default::default();
        let req = StackReq::any_of(&[
            ss.factor.factorize_numeric_ldlt_scratch::<f64>(Par::Seq, params),
            ss.factor.solve_in_place_scratch::<f64>(1, Par::Seq),
        ]);
        let mut this = SymSystem {
            sym,
            ss,
            l_values: vec![0.0; ss.factor.len_val()],
            values,
            null_proj,
            mem: MemBuffer::try_new(req).ok()?,
        };
        // factor K + static regularization (+eps on x, -eps on v); on a pivot breakdown
        // retry with 100x more (refinement against the unregularized K restores accuracy)
        let mut eps = static_reg;
        for attempt in 0..4 {
            if this.factor(eps, params) {
                return Some(this);
            }
            tracing::debug!(eps, attempt, "derivative: LDLT factorization failed; more static regularization");
            eps *= 100.0;
        }
        None
    }

    fn factor(&mut self, eps: f64, params: Spec<LdltParams, f64>) -> bool {
        let (ss, n, dim) = (self.ss, self.sym.n, self.sym.dim());
        let mut reg = self.values.clone();
        for c in 0..dim {
            // the diagonal is the last entry of every column
            reg[ss.col_ptr[c + 1] - 1] += if c < n { eps } else { -eps };
        }
        let mat = SparseColMatRef::new(SymbolicSparseColMatRef::new_checked(dim, dim, &ss.col_ptr, None, &ss.row_idx), &reg);
        let dynamic = LdltRegularization {
            dynamic_regularization_signs: Some(&ss.signs),
            dynamic_regularization_delta: 1e-7,
            // pivots below 1e-8 are near-zero eigen-directions of K (P singular, D
            // eigenvalue 1), not information: replacing them by +-delta keeps the
            // factor bounded (1e-13 let tiny pivots blow the solve up to inf, sending
            // SOCPs to the LU path), and refinement below restores the accuracy
            dynamic_regularization_epsilon: 1e-8,
        };
        let ok = ss
            .factor
            .factorize_numeric_ldlt(&mut self.l_values, mat, Side::Upper, dynamic, Par::Seq, MemStack::new(&mut self.mem), params)
            .is_ok();
        ok && self.l_values.iter().all(|v| v.is_finite())
    }

    /// y = K x (unregularized).
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        y.iter_mut().for_each(|v| *v = 0.0);
        for c in 0..self.sym.dim() {
            for t in self.ss.col_ptr[c]..self.ss.col_ptr[c + 1] {
                let r = self.ss.row_idx[t];
                let v = self.values[t];
                y[r] += v * x[c];
                if r != c {
                    y[c] += v * x[r];
                }
            }
        }
    }

    /// Solve K x = rhs with iterative refinement; None when the residual does not
    /// reach rounding level (the caller falls back to the LU of M).
    pub fn solve(&mut self, rhs: &[f64]) -> Option<Vec<f64>> {
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let rhs_norm = norm(rhs);
        let dim = rhs.len();
        if rhs_norm == 0.0 {
            return Some(vec![0.0; dim]);
        }
        let knorm = norm(&self.values);
        let mut x = rhs.to_vec();
        self.solve_factored(&mut x);
        let mut kx = vec![0.0; dim];
        let mut res = vec![0.0; dim];
        let mut best = (f64::INFINITY, x.clone());
        for _ in 0..20 {
            self.apply(&x, &mut kx);
            res.iter_mut().zip(rhs.iter().zip(&kx)).for_each(|(r, (b, k))| *r = b - k);
            let rn = norm(&res);
            if !rn.is_finite() {
                tracing::debug!("derivative: symmetric LDLT solve gave a non-finite residual");
                return None;
            }
            let improved_enough = rn <= 0.9 * best.0;
            if rn < best.0 {
                best = (rn, x.clone());
            }
            if rn <= 1e-14 * (knorm * norm(&x) + rhs_norm) || !improved_enough {
                break;
            }
            self.solve_factored(&mut res);
            x.iter_mut().zip(&res).for_each(|(a, b)| *a += b);
        }
        let (rn, x) = best;
        let scale = knorm * norm(&x) + rhs_norm;
        tracing::debug!(relative_residual = rn / scale, "derivative: symmetric LDLT solve");
        (rn <= 1e-10 * scale).then_some(x)
    }

    fn solve_factored(&mut self, x: &mut [f64]) {
        let ldlt = LdltRef::new(&self.ss.factor, &self.l_values);
        let len = x.len();
        let rhs = MatMut::from_column_major_slice_mut(x, len, 1);
        ldlt.solve_in_place_with_conj(Conj::No, rhs, Par::Seq, MemStack::new(&mut self.mem));
    }
}
