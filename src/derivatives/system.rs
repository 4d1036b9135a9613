//! The linear system of the residual map and its solution.
//!
//! With `v = z - s`, `D = D proj_{K*}(v)` (block diagonal), the optimality conditions
//! `Px + q + A' proj(v) = 0`, `Ax + proj(v) - v - b = 0` have the Jacobian
//!
//! ```text
//!     M = [ P   A'D   ]      (n + m) x (n + m), not symmetric
//!         [ A   D - I ]
//! ```
//!
//! Its sparsity pattern depends only on the problem pattern (every cone block of D
//! is stored dense, zeros included), so the sparse LU's symbolic analysis (column
//! ordering, elimination structure) is done once per `Family` and reused.  A failed
//! or inaccurate LU solve falls back to LSQR on M, which returns a least-squares
//! solution when M is singular.

use dyn_stack::{MemBuffer, MemStack};
use faer::sparse::linalg::lu::{factorize_symbolic_lu, LuRef, LuSymbolicParams, NumericLu, SymbolicLu};
use faer::sparse::linalg::SupernodalThreshold;
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};

use super::projection::BlockKind;
use crate::error::SolverError;
use crate::problem::ProblemPattern;

/// One block of D: kind and row range (zero/nonneg rows are 1x1 blocks).
#[derive(Clone, Debug)]
pub struct Block {
    pub kind: BlockKind,
    pub start: usize,
    pub dim: usize,
    /// Offset of this block's dense `dim x dim` values in the D buffer.
    pub offset: usize,
}

/// Pattern of M, shared by every element of a family.
pub struct DerivSymbolic {
    pub n: usize,
    pub m: usize,
    pub blocks: Vec<Block>,
    /// Block index of every row of A.
    pub block_of_row: Vec<usize>,
    /// Total length of the dense D buffer.
    pub d_len: usize,
    pub col_ptr: Vec<usize>,
    pub row_idx: Vec<usize>,
    /// CSC of A (for column j: entries (row, value index)).
    pub at_ptr: Vec<usize>,
    pub at_rows: Vec<usize>,
    pub at_vals: Vec<usize>,
    /// Symbolic LU of M, built on the first fallback to the LU path.
    lu: std::sync::OnceLock<Option<SymbolicLu<usize>>>,
    /// Symbolic LDL^T of the symmetric form (the primary path), None if it failed.
    pub ldlt: Option<super::ldlt::SymSymbolic>,
}

fn blocks_of(pattern: &ProblemPattern) -> Vec<Block> {
    let c = &pattern.cones;
    let mut blocks = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    let mut push = |kind, dim| {
        blocks.push(Block { kind, start, dim, offset });
        start += dim;
        offset += dim * dim;
    };
    (0..c.zero).for_each(|_| push(BlockKind::Zero, 1));
    (0..c.nonneg).for_each(|_| push(BlockKind::Nonneg, 1));
    c.soc.iter().for_each(|&d| push(BlockKind::Soc, d));
    c.psd.iter().for_each(|&k| push(BlockKind::Psd(k), k * (k + 1) / 2));
    (0..c.exp).for_each(|_| push(BlockKind::Exp, 3));
    c.power.iter().for_each(|&a| push(BlockKind::Pow(a), 3));
    blocks
}

impl DerivSymbolic {
    pub fn new(pattern: &ProblemPattern) -> Result<Self, SolverError> {
        let (n, m) = (pattern.n, pattern.m);
        let blocks = blocks_of(pattern);
        let mut block_of_row = vec![0; m];
        for (k, b) in blocks.iter().enumerate() {
            block_of_row[b.start..b.start + b.dim].iter_mut().for_each(|r| *r = k);
        }
        let d_len = blocks.iter().map(|b| b.dim * b.dim).sum();
        // CSC of A
        let a = &pattern.a;
        let mut at_ptr = vec![0; n + 1];
        for &j in &a.indices {
            at_ptr[j + 1] += 1;
        }
        for j in 0..n {
            at_ptr[j + 1] += at_ptr[j];
        }
        let mut fill = at_ptr.clone();
        let mut at_rows = vec![0; a.nnz()];
        let mut at_vals = vec![0; a.nnz()];
        for (r, c, k) in a.entries() {
            at_rows[fill[c]] = r;
            at_vals[fill[c]] = k;
            fill[c] += 1;
        }
        // Columns of M: x columns (P column = P row by symmetry, then A column),
        // v columns (A'D: the x-rows touched by the block's rows of A; D - I: block rows).
        let mut col_ptr = vec![0usize];
        let mut row_idx = Vec::new();
        for j in 0..n {
            row_idx.extend_from_slice(&pattern.p.indices[pattern.p.indptr[j]..pattern.p.indptr[j + 1]]);
            row_idx.extend(at_rows[at_ptr[j]..at_ptr[j + 1]].iter().map(|r| n + r));
            col_ptr.push(row_idx.len());
        }
        let mut mark = vec![usize::MAX; n];
        for b in &blocks {
            let mut xrows = Vec::new();
            for i in b.start..b.start + b.dim {
                for &c in &a.indices[a.indptr[i]..a.indptr[i + 1]] {
                    if mark[c] != b.start {
                        mark[c] = b.start;
                        xrows.push(c);
                    }
                }
            }
            xrows.sort_unstable();
            for _ in 0..b.dim {
                row_idx.extend_from_slice(&xrows);
                row_idx.extend((b.start..b.start + b.dim).map(|r| n + r));
                col_ptr.push(row_idx.len());
            }
        }
        let mut this = DerivSymbolic {
            n,
            m,
            blocks,
            block_of_row,
            d_len,
            col_ptr,
            row_idx,
            at_ptr,
            at_rows,
            at_vals,
            lu: std::sync::OnceLock::new(),
            ldlt: None,
        };
        this.ldlt = super::ldlt::SymSymbolic::new(&this, pattern);
        Ok(this)
    }

    /// Symbolic LU of M (COLAMD column ordering), computed once on first use.
    fn lu(&self) -> Option<&SymbolicLu<usize>> {
        self.lu
            .get_or_init(|| {
                let dim = self.dim();
                let sym = SymbolicSparseColMatRef::new_checked(dim, dim, &self.col_ptr, None, &self.row_idx);
                // Elements of a batch run on separate threads: sequential factorizations.
                // Supernodal: faer's simplicial LU was 2x slower on the benchmark corpus.
                let params = LuSymbolicParams {
                    supernodal_flop_ratio_threshold: SupernodalThreshold::FORCE_SUPERNODAL,
                    ..Default::default()
                };
                factorize_symbolic_lu(sym, params).ok()
            })
            .as_ref()
    }

    pub fn dim(&self) -> usize {
        self.n + self.m
    }
}

/// Fill the v columns (one per row of A, block by block, starting at column n) of
/// M or of its symmetric form, whose CSC pattern is `(col_ptr, row_idx)`: the x rows
/// of column c of block b get (A'D)[:, c], then `block_rows(b, c, where_row, values)`
/// writes the block's own rows, with `where_row[row]` the position of `row` in the
/// current column.
pub fn assemble_v_columns(
    sym: &DerivSymbolic,
    pattern: &ProblemPattern,
    a: &[f64],
    d: &[f64],
    (col_ptr, row_idx): (&[usize], &[usize]),
    values: &mut [f64],
    mut block_rows: impl FnMut(&Block, usize, &[usize], &mut [f64]),
) {
    let mut where_row = vec![usize::MAX; sym.dim()];
    let mut col = sym.n;
    for b in &sym.blocks {
        for c in 0..b.dim {
            for t in col_ptr[col]..col_ptr[col + 1] {
                where_row[row_idx[t]] = t;
            }
            for i in 0..b.dim {
                let dic = d[b.offset + i * b.dim + c];
                if dic != 0.0 {
                    let r = b.start + i;
                    for k in pattern.a.indptr[r]..pattern.a.indptr[r + 1] {
                        values[where_row[pattern.a.indices[k]]] += a[k] * dic;
                    }
                }
            }
            block_rows(b, c, &where_row, values);
            col += 1;
        }
    }
}

/// Numeric values of M for one element, plus its LU (when it succeeded).
pub struct Jacobian<'s> {
    pub sym: &'s DerivSymbolic,
    pub values: Vec<f64>,
    /// Numeric LU (None when the factorization failed).
    pub lu: Option<NumericLu<usize, f64>>,
}

impl<'s> Jacobian<'s> {
    /// Assemble M from P, A values and the dense blocks of D.
    pub fn assemble(sym: &'s DerivSymbolic, pattern: &ProblemPattern, p: &[f64], a: &[f64], d: &[f64]) -> Self {
        let n = sym.n;
        let mut values = vec![0.0; sym.row_idx.len()];
        let mut pos = 0;
        for j in 0..n {
            for k in pattern.p.indptr[j]..pattern.p.indptr[j + 1] {
                values[pos] = p[k];
                pos += 1;
            }
            for t in sym.at_ptr[j]..sym.at_ptr[j + 1] {
                values[pos] = a[sym.at_vals[t]];
                pos += 1;
            }
        }
        // v columns: (A'D)[:, c] on the x rows, (D - I)[:, c] on the block's rows
        assemble_v_columns(sym, pattern, a, d, (&sym.col_ptr, &sym.row_idx), &mut values, |b, c, where_row, values| {
            for i in 0..b.dim {
                let dic = d[b.offset + i * b.dim + c];
                values[where_row[n + b.start + i]] = dic - if i == c { 1.0 } else { 0.0 };
            }
        });
        let lu = sym.lu().and_then(|symbolic| {
            let mat = SparseColMatRef::new(
                SymbolicSparseColMatRef::new_checked(sym.dim(), sym.dim(), &sym.col_ptr, None, &sym.row_idx),
                &values,
            );
            let mut numeric = NumericLu::new();
            let mut mem = MemBuffer::try_new(symbolic.factorize_numeric_lu_scratch::<f64>(Par::Seq, Default::default())).ok()?;
            symbolic
                .factorize_numeric_lu(&mut numeric, mat, Par::Seq, MemStack::new(&mut mem), Default::default())
                .ok()?;
            Some(numeric)
        });
        Jacobian { sym, values, lu }
    }

    /// y = M x (transpose = false) or y = M' x.
    pub fn apply(&self, transpose: bool, x: &[f64], y: &mut [f64]) {
        y.iter_mut().for_each(|v| *v = 0.0);
        for j in 0..self.sym.dim() {
            for t in self.sym.col_ptr[j]..self.sym.col_ptr[j + 1] {
                let i = self.sym.row_idx[t];
                if transpose {
                    y[j] += self.values[t] * x[i];
                } else {
                    y[i] += self.values[t] * x[j];
                }
            }
        }
    }

    fn frobenius_norm(&self) -> f64 {
        self.values.iter().map(|a| a * a).sum::<f64>().sqrt()
    }

    fn residual(&self, transpose: bool, x: &[f64], rhs: &[f64]) -> Vec<f64> {
        let mut r = vec![0.0; rhs.len()];
        self.apply(transpose, x, &mut r);
        r.iter_mut().zip(rhs).for_each(|(ri, bi)| *ri = bi - *ri);
        r
    }

    /// Solve M x = rhs (or M' x = rhs): LU with iterative refinement; LSQR when
    /// the LU is missing, non-finite or not accurate.
    pub fn solve(&self, transpose: bool, rhs: &[f64]) -> Vec<f64> {
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let rhs_norm = norm(rhs);
        if rhs_norm == 0.0 {
            return vec![0.0; rhs.len()];
        }
        let tol = 1e-12 * rhs_norm;
        if let (Some(numeric), Some(symbolic)) = (&self.lu, self.sym.lu()) {
            let lu = LuRef::new_unchecked(symbolic, numeric);
            let mut mem = MemBuffer::new(symbolic.solve_in_place_scratch::<f64>(1, Par::Seq));
            let mut lu_solve = |b: &[f64]| {
                let mut x = b.to_vec();
                let mat = MatMut::from_column_major_slice_mut(&mut x, b.len(), 1);
                let stack = MemStack::new(&mut mem);
                if transpose {
                    lu.solve_transpose_in_place_with_conj(Conj::No, mat, Par::Seq, stack);
                } else {
                    lu.solve_in_place_with_conj(Conj::No, mat, Par::Seq, stack);
                }
                x
            };
            let mut x = lu_solve(rhs);
            if x.iter().all(|v| v.is_finite()) {
                let mut res_norm = f64::INFINITY;
                for _ in 0..4 {
                    let r = self.residual(transpose, &x, rhs);
                    let rn = norm(&r);
                    if rn <= tol || !(rn < 0.5 * res_norm) {
                        break;
                    }
                    res_norm = rn;
                    let dx = lu_solve(&r);
                    x.iter_mut().zip(&dx).for_each(|(a, b)| *a += b);
                }
                // backward-stable solves leave a residual ~ eps |M| |x|: judge it on that scale
                let rn = norm(&self.residual(transpose, &x, rhs));
                let scale = self.frobenius_norm() * norm(&x) + rhs_norm;
                if rn.is_finite() && rn <= 1e-10 * scale {
                    return x;
                }
                tracing::debug!("derivative: LU residual {rn:.2e} (scale {scale:.2e}); falling back to LSQR (dim {})", rhs.len());
            }
        } else {
            tracing::debug!("derivative: no LU factorization; LSQR (dim {})", rhs.len());
        }
        self.lsqr(transpose, rhs)
    }

    /// LSQR (Paige & Saunders) on M x = rhs: least-squares solution when M is singular.
    fn lsqr(&self, transpose: bool, rhs: &[f64]) -> Vec<f64> {
        let dim = rhs.len();
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let op = |t: bool, x: &[f64], y: &mut [f64]| self.apply(t != transpose, x, y);
        let mut x = vec![0.0; dim];
        let mut u = rhs.to_vec();
        let mut beta = norm(&u);
        u.iter_mut().for_each(|a| *a /= beta);
        let mut v = vec![0.0; dim];
        op(true, &u, &mut v);
        let mut alpha = norm(&v);
        if alpha == 0.0 {
            return x;
        }
        v.iter_mut().for_each(|a| *a /= alpha);
        let mut w = v.clone();
        let (mut phibar, mut rhobar) = (beta, alpha);
        let mut tmp = vec![0.0; dim];
        let anorm_est = self.frobenius_norm().max(1e-300);
        for _ in 0..(20 * dim).max(1000) {
            op(false, &v, &mut tmp);
            u.iter_mut().zip(&tmp).for_each(|(a, b)| *a = b - alpha * *a);
            beta = norm(&u);
            if beta > 0.0 {
                u.iter_mut().for_each(|a| *a /= beta);
            }
            op(true, &u, &mut tmp);
            v.iter_mut().zip(&tmp).for_each(|(a, b)| *a = b - beta * *a);
            alpha = norm(&v);
            if alpha > 0.0 {
                v.iter_mut().for_each(|a| *a /= alpha);
            }
            let rho = (rhobar * rhobar + beta * beta).sqrt();
            let (c, s) = (rhobar / rho, beta / rho);
            let theta = s * alpha;
            rhobar = -c * alpha;
            let phi = c * phibar;
            phibar *= s;
            for i in 0..dim {
                x[i] += (phi / rho) * w[i];
                w[i] = v[i] - (theta / rho) * w[i];
            }
            // stop when the normal-equation residual |M' r| = phibar*alpha*|c| is tiny
            if phibar * alpha * c.abs() <= 1e-14 * anorm_est * anorm_est * norm(&x).max(1.0) || alpha == 0.0 {
                break;
            }
        }
        x
    }
}
