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
//! is stored dense, zeros included).  M itself is never factored: `ldlt.rs` solves
//! its symmetric form K (an LU of M had KKT-breaking fill, 25x the forward solve on
//! MPC problems); this module holds the shared pattern data.

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
    c.gen_power.iter().for_each(|(a, d2)| push(BlockKind::GenPow(a.as_slice().into()), a.len() + d2));
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
            ldlt: None,
        };
        this.ldlt = super::ldlt::SymSymbolic::new(&this, pattern);
        Ok(this)
    }

    pub fn dim(&self) -> usize {
        self.n + self.m
    }
}

/// Blocks at least this large get (A_b' D_b) by a dense product.  4: the 6-dim SOC
/// blocks of socp_20x60 (dense rows of A) cost a third of its assembly through the
/// scattered loop; 3-dim exp/power blocks stay on it.
const DENSE_BLOCK: usize = 4;

/// x rows of block b's v columns (those of its first column, `col`) and the dense
/// `(A_b' D_b)` restricted to them (rows: x rows, columns: the block's columns).
fn block_ad(
    sym: &DerivSymbolic,
    pattern: &ProblemPattern,
    a: &[f64],
    d: &[f64],
    b: &Block,
    (col_ptr, row_idx): (&[usize], &[usize]),
    col: usize,
) -> (Vec<usize>, faer::Mat<f64>) {
    let xrows: Vec<usize> = row_idx[col_ptr[col]..col_ptr[col + 1]].iter().copied().filter(|&r| r < sym.n).collect();
    let mut pos = vec![usize::MAX; sym.n];
    xrows.iter().enumerate().for_each(|(j, &r)| pos[r] = j);
    let mut ab = faer::Mat::<f64>::zeros(b.dim, xrows.len());
    for i in 0..b.dim {
        let r = b.start + i;
        for k in pattern.a.indptr[r]..pattern.a.indptr[r + 1] {
            ab[(i, pos[pattern.a.indices[k]])] += a[k];
        }
    }
    let db = faer::Mat::<f64>::from_fn(b.dim, b.dim, |i, c| d[b.offset + i * b.dim + c]);
    let mut ad = faer::Mat::<f64>::zeros(xrows.len(), b.dim);
    faer::linalg::matmul::matmul(ad.as_mut(), faer::Accum::Replace, ab.transpose(), db.as_ref(), 1.0, faer::Par::Seq);
    (xrows, ad)
}

/// Fill the v columns (one per row of A, block by block, starting at column n) of
/// the symmetric form, whose CSC pattern `(col_ptr, row_idx)` holds in column c of
/// block b the block's x rows (sorted, the same for every column) and then its own
/// rows 0..=c: the x rows get (A'D)[:, c], then `block_rows(b, c, base, values)`
/// writes the block's rows, row r at `values[base + r]`.  Blocks for which `skip`
/// holds are left alone (their columns are written by the caller).
#[allow(clippy::too_many_arguments)]
pub fn assemble_v_columns(
    sym: &DerivSymbolic,
    pattern: &ProblemPattern,
    a: &[f64],
    d: &[f64],
    (col_ptr, row_idx): (&[usize], &[usize]),
    values: &mut [f64],
    skip: impl Fn(&Block) -> bool,
    mut block_rows: impl FnMut(&Block, usize, usize, &mut [f64]),
) {
    // position of an x row among the current block's x rows
    let mut pos = vec![usize::MAX; sym.n];
    let mut col = sym.n;
    for b in &sym.blocks {
        if skip(b) {
            col += b.dim;
            continue;
        }
        // (the block's first column: its x rows and its own diagonal)
        let nx = col_ptr[col + 1] - col_ptr[col] - 1;
        debug_assert!((0..b.dim).all(|c| row_idx[col_ptr[col + c]..col_ptr[col + c] + nx] == row_idx[col_ptr[col]..col_ptr[col] + nx]
            && row_idx[col_ptr[col + c] + nx] == sym.n + b.start));
        // large blocks (SOC): (A_b' D_b) as one dense product, O(gemm) instead of a
        // scattered O(dim * nnz(A_b)) loop that cost as much as the factorization,
        // when A_b is dense enough that the product beats the loop (a gemm does ~8x
        // the flops per second): 61 x 61 of a 61-dim SOC block on an identity-like
        // A_b (socp_20x60) cost 60x the loop's flops
        let nnz_b = pattern.a.indptr[b.start + b.dim] - pattern.a.indptr[b.start];
        if b.dim >= DENSE_BLOCK && 8 * nnz_b >= b.dim * nx {
            let (_, ad) = block_ad(sym, pattern, a, d, b, (col_ptr, row_idx), col);
            for c in 0..b.dim {
                let base = col_ptr[col + c];
                values[base..base + nx].iter_mut().zip(ad.col_as_slice(c)).for_each(|(v, x)| *v += x);
                block_rows(b, c, base + nx, values);
            }
            col += b.dim;
            continue;
        }
        let xrows = &row_idx[col_ptr[col]..col_ptr[col] + nx];
        xrows.iter().enumerate().for_each(|(j, &r)| pos[r] = j);
        for c in 0..b.dim {
            let base = col_ptr[col + c];
            for i in 0..b.dim {
                let dic = d[b.offset + i * b.dim + c];
                if dic != 0.0 {
                    let r = b.start + i;
                    for k in pattern.a.indptr[r]..pattern.a.indptr[r + 1] {
                        values[base + pos[pattern.a.indices[k]]] += a[k] * dic;
                    }
                }
            }
            block_rows(b, c, base + nx, values);
        }
        xrows.iter().for_each(|&r| pos[r] = usize::MAX);
        col += b.dim;
    }
}
