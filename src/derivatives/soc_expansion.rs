//! Sparse expansion of large second-order-cone blocks of the symmetric derivative
//! system K (`ldlt.rs`), the analogue of the forward KKT's sparse SOC scaling.
//!
//! At a boundary point (v0 = s - z with |x0| > |t0|, u = x0/|x0|, r = t0/|x0|) the
//! SOC block of `D = I - D proj_K(v0)` is
//!
//! ```text
//!     D = c (I - aa' - bb') + 0 aa' + 1 bb',   c = (1 - r)/2,
//!     a = (1, u)/sqrt2  (D a = 0),   b = (-1, u)/sqrt2  (D b = b),
//! ```
//!
//! (in the interior D = 0, outside the polar cone D = I: c = 0 or 1, no low-rank
//! part).  Every function of D is then `f(c) I + (f(0) - f(c)) aa' + (f(1) - f(c)) bb'`,
//! so the block's part of K,
//!
//! ```text
//!     [ .          A_b'D           ]      A_b: the block's rows of A,
//!     [ D A_b      D(D - I) - N    ]      N: projector onto null(D),
//! ```
//!
//! is `S + sum_{e in {a, b}} [δ_e (f_e g_e' + g_e f_e') + γ_e g_e g_e']` with the sparse
//! part `S = [. , c A_b'; c A_b, q I]`, `q = c(c - 1) - [c = 0]` (the bulk of
//! D(D - I) - N), `f_e = [A_b' e; 0]` (x rows), `g_e = [0; e]` (block rows),
//! `δ_a = -c`, `γ_a = -1 - q`, `δ_b = 1 - c`, `γ_b = -q`.  Per direction the
//! 2 x 2 form `[[0, δ], [δ, γ]]` (in the basis f_e, g_e) has eigenvalues
//! `λ± = (γ ± sqrt(γ² + 4δ²))/2`, λ+ >= 0 >= λ-, eigenvectors ∝ (δ, λ±), so the
//! correction is `h+ h+' - h- h-'` with `h± = sqrt|λ±| (p± f_e + q± g_e)`.  Four
//! extra variables y per block give the sparse symmetric matrix
//!
//! ```text
//!     E = [ S    H  ]     H = [h_a+, h_a-, h_b+, h_b-],  J = diag(-1, +1, -1, +1),
//!         [ H'   J  ]
//! ```
//!
//! whose Schur complement `S - H J^{-1} H' = S + h_a+h_a+' - h_a-h_a-' + ...` is K:
//! solving `E [x; y] = [rhs; 0]` gives `K x = rhs`.  The dense dim x dim block and
//! its dense coupling to x become O(nnz(A_b) + dim) entries, like the forward KKT.

use super::projection::BlockKind;
use super::system::{Block, DerivSymbolic};
use crate::problem::ProblemPattern;

/// SOC blocks at least this large are expanded.  Below it the dense block costs
/// little, and the dense K's regularized factor is the better refinement
/// preconditioner: with blocks of 33..160 expanded, refinement stalled more often
/// (a 61-dim block sent `socp_20x60` of the backward benchmark to the dense
/// fallback, 10x slower), while a dense 321-dim block made the backward pass 2x
/// the forward solve (`portfolio_soc_n300`).
pub const EXPAND_SOC: usize = 200;

/// Pivot of each extra variable (h_a+, h_a-, h_b+, h_b-): J above.
pub const EXTRA_PIVOTS: [f64; 4] = [-1.0, 1.0, -1.0, 1.0];

/// Whether block b is expanded.
pub fn expands(b: &Block) -> bool {
    b.kind == BlockKind::Soc && b.dim >= EXPAND_SOC
}

/// One expanded block: its index, the x rows its A rows touch (sorted), and the
/// first of its four extra columns of E.
pub struct Expanded {
    pub block: usize,
    pub xrows: Vec<usize>,
    pub first_col: usize,
}

/// The structure of one SOC block of D: (c, Some(u)) at a boundary point, (c, None)
/// for D = c I (c = 0 or 1).  None when `blk` has neither form (to 1e-10).
fn soc_structure(dim: usize, blk: &[f64]) -> Option<(f64, Option<Vec<f64>>)> {
    let diagonal = (1..dim).all(|i| blk[i * dim] == 0.0 && blk[i] == 0.0);
    if diagonal && (0..dim).all(|i| blk[i * dim + i] == blk[0]) {
        return Some((blk[0], None));
    }
    if (blk[0] - 0.5).abs() > 1e-12 {
        return None;
    }
    let u: Vec<f64> = (1..dim).map(|i| -2.0 * blk[i * dim]).collect();
    let nu = u.iter().map(|a| a * a).sum::<f64>().sqrt();
    if (nu - 1.0).abs() > 1e-10 {
        return None;
    }
    // bulk eigenvalue c from any diagonal entry: D_ii = c (1 - u_i^2) + u_i^2 / 2 ...
    // more robustly from the trace: trace = 0 + 1 + (dim - 2) c
    let trace: f64 = (0..dim).map(|i| blk[i * dim + i]).sum();
    Some(((trace - 1.0) / (dim as f64 - 2.0), Some(u)))
}

/// Write block b's part of E into `values` (CSC of E, upper triangle, pattern from
/// `pattern_columns`): its v columns (c A_b' on the x rows, q on the diagonal) and
/// its four extra columns (h entries, then the pivot J).  False when D's block does
/// not have the SOC structure.
pub fn write_block(
    e: &Expanded,
    sym: &DerivSymbolic,
    pattern: &ProblemPattern,
    a: &[f64],
    d: &[f64],
    (col_ptr, row_idx): (&[usize], &[usize]),
    null_eig: f64,
    values: &mut [f64],
) -> bool {
    let n = sym.n;
    let b = &sym.blocks[e.block];
    let Some((c, u)) = soc_structure(b.dim, &d[b.offset..b.offset + b.dim * b.dim]) else {
        return false;
    };
    let q = c * (c - 1.0) - if c.abs() <= null_eig { 1.0 } else { 0.0 };
    let a_pat = &pattern.a;
    // v columns: x rows sorted like A's row (see `pattern_columns`), then the diagonal
    let mut pos = vec![usize::MAX; n];
    for i in 0..b.dim {
        let col = n + b.start + i;
        let r = b.start + i;
        for t in col_ptr[col]..col_ptr[col + 1] - 1 {
            pos[row_idx[t]] = t;
        }
        for k in a_pat.indptr[r]..a_pat.indptr[r + 1] {
            values[pos[a_pat.indices[k]]] = c * a[k];
        }
        values[col_ptr[col + 1] - 1] = q;
    }
    // extra columns: xrows, then the block rows, then the pivot
    let nx = e.xrows.len();
    for (j, &r) in e.xrows.iter().enumerate() {
        pos[r] = j;
    }
    let s2 = std::f64::consts::FRAC_1_SQRT_2;
    for k in 0..4 {
        let col = e.first_col + k;
        values[col_ptr[col]..col_ptr[col + 1]].fill(0.0);
        values[col_ptr[col + 1] - 1] = EXTRA_PIVOTS[k];
    }
    let Some(u) = u else {
        return true;
    };
    // e = a = (1, u)/sqrt2 with (d_e, q_e) = (0, -1); e = b = (-1, u)/sqrt2 with (1, 0)
    for (dir, sign0, d_e, q_e) in [(0usize, 1.0, 0.0, -1.0), (1usize, -1.0, 1.0, 0.0)] {
        let ev = |i: usize| s2 * if i == 0 { sign0 } else { u[i - 1] };
        let mut ae = vec![0.0; nx];
        for i in 0..b.dim {
            let r = b.start + i;
            let ei = ev(i);
            for k in a_pat.indptr[r]..a_pat.indptr[r + 1] {
                ae[pos[a_pat.indices[k]]] += a[k] * ei;
            }
        }
        let (delta, gamma) = (d_e - c, q_e - q);
        let disc = (gamma * gamma + 4.0 * delta * delta).sqrt();
        for (slot, lam) in [(0usize, 0.5 * (gamma + disc)), (1usize, 0.5 * (gamma - disc))] {
            let (pf, pg) = if delta != 0.0 {
                let h = delta.hypot(lam);
                (delta / h, lam / h)
            } else if lam != 0.0 {
                (0.0, 1.0)
            } else {
                (1.0, 0.0)
            };
            let w = lam.abs().sqrt();
            let col = e.first_col + 2 * dir + slot;
            let base = col_ptr[col];
            for j in 0..nx {
                values[base + j] = w * pf * ae[j];
            }
            for i in 0..b.dim {
                values[base + nx + i] = w * pg * ev(i);
            }
        }
    }
    true
}

/// Pattern columns of an expanded block's v columns (appended to `row_idx`): column
/// i holds the x rows of A's row `b.start + i` (sorted) and its diagonal.
pub fn v_columns(b: &Block, pattern: &ProblemPattern, col_ptr: &mut Vec<usize>, row_idx: &mut Vec<usize>) {
    let n = pattern.n;
    for i in 0..b.dim {
        let r = b.start + i;
        let mut xs = pattern.a.row_indices(r).to_vec();
        xs.sort_unstable();
        row_idx.extend(xs);
        row_idx.push(n + r);
        col_ptr.push(row_idx.len());
    }
}

/// Pattern of the four extra columns of `e` (starting at column `e.first_col`).
pub fn extra_columns(e: &Expanded, b: &Block, n: usize, col_ptr: &mut Vec<usize>, row_idx: &mut Vec<usize>) {
    for k in 0..4 {
        row_idx.extend_from_slice(&e.xrows);
        row_idx.extend((0..b.dim).map(|r| n + b.start + r));
        row_idx.push(e.first_col + k);
        col_ptr.push(row_idx.len());
    }
}
