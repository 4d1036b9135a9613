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

/// Column c of `(A_b' D_b)` on the block's x rows, added to `out`:
/// `out += sum_i D_b[i, c] A_b[i, :]`, with `ab` the block's rows of A gathered
/// densely (row-major `dim x nx`).  Contiguous axpys: the compiler vectorizes them,
/// unlike a scattered loop (and a general gemm costs 5x more on these 6 x 61 blocks
/// than the arithmetic itself).
fn add_ad_column(b: &Block, d: &[f64], ab: &[f64], c: usize, out: &mut [f64]) {
    let nx = out.len();
    for i in 0..b.dim {
        let dic = d[b.offset + i * b.dim + c];
        if dic != 0.0 {
            out.iter_mut().zip(&ab[i * nx..(i + 1) * nx]).for_each(|(v, a)| *v += dic * a);
        }
    }
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
    // a dense block's rows of A (row-major, its x rows as columns)
    let mut ab: Vec<f64> = Vec::new();
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
        // large blocks (SOC): (A_b' D_b) as a dense product (`add_ad_column`), O(dim^2
        // nx) contiguous flops instead of a scattered O(dim * nnz(A_b)) loop that cost
        // as much as the factorization, when A_b is dense enough that the product
        // beats the loop (contiguous flops run ~8x faster): 61 x 61 of a 61-dim SOC
        // block on an identity-like A_b (socp_20x60) cost 60x the loop's flops
        let nnz_b = pattern.a.indptr[b.start + b.dim] - pattern.a.indptr[b.start];
        let xrows = &row_idx[col_ptr[col]..col_ptr[col] + nx];
        xrows.iter().enumerate().for_each(|(j, &r)| pos[r] = j);
        if b.dim >= DENSE_BLOCK && 8 * nnz_b >= b.dim * nx {
            ab.clear();
            ab.resize(b.dim * nx, 0.0);
            for i in 0..b.dim {
                let r = b.start + i;
                for k in pattern.a.indptr[r]..pattern.a.indptr[r + 1] {
                    ab[i * nx + pos[pattern.a.indices[k]]] += a[k];
                }
            }
            for c in 0..b.dim {
                let base = col_ptr[col + c];
                add_ad_column(b, d, &ab, c, &mut values[base..base + nx]);
                block_rows(b, c, base + nx, values);
            }
            xrows.iter().for_each(|&r| pos[r] = usize::MAX);
            col += b.dim;
            continue;
        }
        // entry (r, j) of A_b adds A[r, j] D_b[i, :] to x row j of the block's columns:
        // row i of D_b read contiguously (the sums over i run in the same order as a
        // column-by-column loop)
        let cols = &col_ptr[col..col + b.dim];
        for i in 0..b.dim {
            let drow = &d[b.offset + i * b.dim..b.offset + (i + 1) * b.dim];
            if drow.iter().all(|&v| v == 0.0) {
                continue;
            }
            let r = b.start + i;
            for k in pattern.a.indptr[r]..pattern.a.indptr[r + 1] {
                let (p, av) = (pos[pattern.a.indices[k]], a[k]);
                for (&base, &dic) in cols.iter().zip(drow) {
                    values[base + p] += av * dic;
                }
            }
        }
        for c in 0..b.dim {
            block_rows(b, c, col_ptr[col + c] + nx, values);
        }
        xrows.iter().for_each(|&r| pos[r] = usize::MAX);
        col += b.dim;
    }
}
