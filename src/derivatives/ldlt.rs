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
//! The pattern of K is fixed per family, so the AMD ordering, the permuted pattern
//! and the symbolic factorization are computed once (`ordered.rs`).  Unlike the LU
//! of M (symmetric pivots only), the fill stays that of a KKT system.
//!
//! Generalized derivative (documented choice): `K^{-1}` above is the pseudo-inverse
//! `K^+`, the minimum-norm least-squares solution.  It is the derivative wherever the
//! solution map is differentiable (K nonsingular); where the solution is not unique
//! (an epigraph variable with no curvature and no active constraint, a face of LP
//! optima) the undetermined directions get a zero derivative and a right-hand side
//! component along them is dropped, so results stay finite.  `K^+` is symmetric, so
//! the JVP and the VJP stay exact adjoints.  Every path of [`SymSystem::solve`]
//! computes this same quantity: the LDL^T (direct, or on the rhs projected off
//! null(K), or off near-null vectors of K that the stalled refinement exposes) and
//! the fallback (a dense pseudo-inverse of K for small systems, LSQR on K above;
//! `MOREAU_DERIV_PATH=lsqr` forces it, for tests), taken only when the LDL^T
//! solution fails its backward-error or forward-error-estimate test.  Variables
//! whose row and column of K are exactly zero (an epigraph variable of inactive
//! cones) are such null directions known before any solve: they are dropped up
//! front (`SymSystem::solve`, step 0).
//!
//! SOC blocks of dimension >= `soc_expansion::EXPAND_SOC` are not stored dense: the
//! factored matrix is then E, K with those blocks expanded into a sparse part and
//! four extra variables each (`soc_expansion.rs`), whose Schur complement is K.  The
//! factor of E solves with K (rhs padded with zeros); `apply`, the acceptance tests
//! and the fallback work with K itself through that Schur-complement product.  When
//! such a block's rows of A are dense, its v variables are eliminated from E by one
//! dense product and the rest, F, is factored (`block_elimination.rs`).

use std::borrow::Cow;

use dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::ldlt::factor::LdltParams;
use faer::sparse::linalg::cholesky::CholeskySymbolicParams;
use faer::sparse::linalg::SupernodalThreshold;
use faer::Spec;

use super::block_elimination as belim;
use super::ordered::Ordered;
use super::projection::BlockKind;
use super::soc_expansion::{self as socx, Expanded};
use super::system::{assemble_v_columns, DerivSymbolic};
use crate::problem::ProblemPattern;

/// Upper-triangle CSC pattern of the factored matrix E (K itself, or K with its
/// large SOC blocks expanded, `soc_expansion.rs`) and its symbolic LDL^T.
pub struct SymSymbolic {
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    /// Symbolic LDL^T (in its AMD order) of the factored matrix: E, or F (E with
    /// its densely coupled expanded blocks eliminated, `reduction`).
    factor: Ordered,
    /// Expected pivot signs of E.
    signs: Vec<i8>,
    reduction: Option<belim::Reduction>,
    /// Expanded SOC blocks (their extra columns follow K's n + m columns).
    expanded: Vec<Expanded>,
    /// Dimension of E (n + m + 4 per expanded block).
    dim_e: usize,
    /// K's first n + m columns with both triangles, row by row: column and E entry
    /// of every entry (a gather-only product in `apply`).
    full_ptr: Vec<usize>,
    full_col: Vec<usize>,
    full_src: Vec<usize>,
    /// Buffers of finished elements, for the next ones.
    pool: std::sync::Mutex<Vec<Buffers>>,
}

impl SymSymbolic {
    /// Columns: x (upper triangle of P), then v columns per block (x rows touched by
    /// the block's rows of A, then the block's upper triangle; for an expanded SOC
    /// block the x rows of its own A row and the diagonal), then four extra columns
    /// per expanded block.
    pub fn new(sym: &DerivSymbolic, pattern: &ProblemPattern) -> Option<Self> {
        Self::build(sym, pattern, true)
    }

    /// `new`, with the dense elimination of densely coupled expanded blocks
    /// (`block_elimination.rs`) switched off by `eliminate = false` (tests).
    fn build(sym: &DerivSymbolic, pattern: &ProblemPattern, eliminate: bool) -> Option<Self> {
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
        let mut expanded = Vec::new();
        for (bi, b) in sym.blocks.iter().enumerate() {
            if socx::expands(b) {
                let rows = &sym.row_idx[sym.col_ptr[col]..sym.col_ptr[col + 1]];
                let xrows = rows.iter().copied().filter(|&r| r < n).collect();
                expanded.push(Expanded { block: bi, xrows, first_col: 0 });
                socx::v_columns(b, pattern, &mut col_ptr, &mut row_idx);
                col += b.dim;
                continue;
            }
            for c in 0..b.dim {
                let rows = &sym.row_idx[sym.col_ptr[col]..sym.col_ptr[col + 1]];
                row_idx.extend(rows.iter().filter(|&&r| r < n));
                row_idx.extend((0..=c).map(|r| n + b.start + r));
                col_ptr.push(row_idx.len());
                col += 1;
            }
        }
        let mut dim_e = dim;
        for e in &mut expanded {
            e.first_col = dim_e;
            socx::extra_columns(e, &sym.blocks[e.block], n, &mut col_ptr, &mut row_idx);
            dim_e += 4;
        }
        let mut signs = vec![1i8; dim_e];
        signs[n..dim].fill(-1);
        for e in &expanded {
            for (k, p) in socx::EXTRA_PIVOTS.iter().enumerate() {
                signs[e.first_col + k] = if *p > 0.0 { 1 } else { -1 };
            }
        }
        // densely coupled expanded blocks: their v variables are eliminated by one
        // dense product (`block_elimination.rs`) and F, the rest, is factored
        let elim: Vec<(usize, usize, Vec<usize>)> = expanded
            .iter()
            .filter_map(|e| {
                let b = &sym.blocks[e.block];
                let nnz = pattern.a.indptr[b.start + b.dim] - pattern.a.indptr[b.start];
                let dense = nnz as f64 >= belim::DENSE_COUPLING * (b.dim * e.xrows.len()) as f64;
                let r = e.xrows.iter().copied().chain(e.first_col..e.first_col + 4).collect();
                (eliminate && dense).then_some((n + b.start, b.dim, r))
            })
            .collect();
        let reduction = if elim.is_empty() { None } else { Some(belim::Reduction::new(&col_ptr, &row_idx, &signs, elim)?) };
        let (fsigns, fcp, fri) = match &reduction {
            Some(red) => (red.e_of_f.iter().map(|&c| signs[c]).collect(), &red.col_ptr, &red.row_idx),
            None => (signs.clone(), &col_ptr, &row_idx),
        };
        let params = CholeskySymbolicParams {
            supernodal_flop_ratio_threshold: SupernodalThreshold(SUPERNODAL_THRESHOLD),
            ..Default::default()
        };
        let factor = Ordered::new(fcp, fri, &fsigns, params)?;
        tracing::debug!(
            dim_e,
            dim_f = factor.dim(),
            nnz_e = row_idx.len(),
            nnz_f = fri.len(),
            nnz_l = factor.factor_len(),
            supernodal = factor.supernodal(),
            "derivative: symbolic LDLT of K"
        );
        // K's first n + m columns with both triangles, by row (for `apply`)
        let mut full_ptr = vec![0usize; dim + 1];
        for c in 0..dim {
            for &r in &row_idx[col_ptr[c]..col_ptr[c + 1]] {
                full_ptr[r + 1] += 1;
                if r != c {
                    full_ptr[c + 1] += 1;
                }
            }
        }
        for i in 0..dim {
            full_ptr[i + 1] += full_ptr[i];
        }
        let mut next = full_ptr.clone();
        let (mut full_col, mut full_src) = (vec![0usize; full_ptr[dim]], vec![0usize; full_ptr[dim]]);
        for c in 0..dim {
            for t in col_ptr[c]..col_ptr[c + 1] {
                let r = row_idx[t];
                (full_col[next[r]], full_src[next[r]]) = (c, t);
                next[r] += 1;
                if r != c {
                    (full_col[next[c]], full_src[next[c]]) = (r, t);
                    next[c] += 1;
                }
            }
        }
        Some(SymSymbolic { col_ptr, row_idx, factor, signs, reduction, expanded, dim_e, full_ptr, full_col, full_src, pool: Default::default() })
    }
}

/// Large per-element buffers, handed back to their pattern's pool when the element
/// is done: fresh allocations of this size cost a page fault per 4 KiB on every call
/// (glibc returns the freed top of the heap to the system), ~200 faults per
/// socp_20x60 backward pass, as long as its arithmetic on this machine.
#[derive(Default)]
struct Buffers {
    values: Vec<f64>,
    full_values: Vec<f64>,
    l_values: Vec<f64>,
    reg: Vec<f64>,
    permuted: Vec<f64>,
    mem: Option<MemBuffer>,
}

/// Buffers kept per pattern (at most one per concurrent element is ever in use).
const POOL_MAX: usize = 64;

/// Numeric K of one element, its factor, and the null-space projector of D.
pub struct SymSystem<'s> {
    sym: &'s DerivSymbolic,
    ss: &'s SymSymbolic,
    /// Unregularized values of K (upper triangle).
    values: Vec<f64>,
    /// The same values in `ss.full_*` order (both triangles of K's first n + m columns).
    full_values: Vec<f64>,
    l_values: Vec<f64>,
    /// Regularized values of the factored matrix and their permuted copy (`factor`).
    reg: Vec<f64>,
    permuted: Vec<f64>,
    /// Dense blocks of N (projector onto null(D)), same layout as D.
    pub null_proj: Vec<f64>,
    mem: MemBuffer,
    /// Frobenius norm of K (scale of the acceptance tests).
    knorm: f64,
    /// Whether `l_values` holds a usable factor (else only LSQR is available).
    factored: bool,
    /// The eliminated blocks' numeric part when E is factored through F.
    reduced: Option<belim::Reduced>,
    /// Variables whose row and column of K are exactly zero (see `solve`).
    decoupled: Vec<usize>,
}

impl Drop for SymSystem<'_> {
    fn drop(&mut self) {
        let bufs = Buffers {
            values: std::mem::take(&mut self.values),
            full_values: std::mem::take(&mut self.full_values),
            l_values: std::mem::take(&mut self.l_values),
            reg: std::mem::take(&mut self.reg),
            permuted: std::mem::take(&mut self.permuted),
            mem: Some(std::mem::replace(&mut self.mem, MemBuffer::new(StackReq::EMPTY))),
        };
        if let Ok(mut pool) = self.ss.pool.lock() {
            if pool.len() < POOL_MAX {
                pool.push(bufs);
            }
        }
    }
}

/// How a derivative solve was done, per element (counted by `take_path_counts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// LDL^T of K with refinement, residual at rounding level.
    Ldlt = 0,
    /// The same factor on the rhs projected off null(K) (singular K, least squares).
    LdltProjected = 1,
    /// Dense pseudo-inverse or LSQR on K (factor missing or inaccurate, or forced).
    Lsqr = 2,
}

static PATH_COUNTS: [std::sync::atomic::AtomicUsize; 3] =
    [std::sync::atomic::AtomicUsize::new(0), std::sync::atomic::AtomicUsize::new(0), std::sync::atomic::AtomicUsize::new(0)];

/// Count one solve by `path` (process-wide; for benchmarks and tests).
pub fn count_path(path: Path) {
    PATH_COUNTS[path as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Solves per path ([Ldlt, LdltProjected, Lsqr]) since the last call; resets them.
pub fn take_path_counts() -> [usize; 3] {
    std::array::from_fn(|i| PATH_COUNTS[i].swap(0, std::sync::atomic::Ordering::Relaxed))
}

/// A refined solution: the iterate with the smallest residual, that residual and
/// its norm, its refinement correction when one was computed, and the norm of the
/// refinement step that produced it (None for the first iterate).
struct Refined {
    x: Vec<f64>,
    rn: f64,
    res: Vec<f64>,
    correction: Option<Vec<f64>>,
    last_step: Option<f64>,
}

/// faer's supernodal-vs-simplicial threshold (scale of its flops per factor entry
/// test, 1 = its default of 40).  0.8: socp_20x60 of the backward benchmark (ratio
/// ~37, a dense 122-variable coupling) factors in a quarter of the simplicial
/// instructions and 0.6x its time, while the sparser factors of socp_n100 (~25),
/// exp_n60 (~14) and the LPs stay simplicial, where supernodes were slower.
const SUPERNODAL_THRESHOLD: f64 = 0.8;
/// Dynamic regularization of the factor: pivots of magnitude <= DYN_EPS (or of the
/// wrong sign) become +-DYN_DELTA.
const DYN_EPS: f64 = 1e-8;
const DYN_DELTA: f64 = 1e-7;

/// Refinement passes on one rhs (each costs one triangular solve pair and one K x).
const MAX_REFINE: usize = 20;
/// Most near-null vectors of K deflated by `solve_deflated`.
const MAX_NULL: usize = 4;

/// v <- v - sum_n (n'v) n for orthonormal vectors n.
fn project_off(nulls: &[Vec<f64>], v: &mut [f64]) {
    for n in nulls {
        let d: f64 = n.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
        v.iter_mut().zip(n).for_each(|(vi, ni)| *vi -= d * ni);
    }
}
/// Accept a refined solution when |K x - rhs| <= ACCEPT (|K| |x| + |rhs|).
const ACCEPT: f64 = 1e-10;
/// The fallback uses a dense eigen-decomposition of K up to this dimension, LSQR above.
const DENSE_MAX: usize = 400;
/// Relative eigenvalue cutoff of the dense pseudo-inverse.
const PINV_CUTOFF: f64 = 1e-13;
/// Largest accepted forward-error estimate (relative).
const FORWARD_TOL: f64 = 1e-4;
/// A stalled residual r with |K r| <= NULL_RESIDUAL |K| |r| lies in null(K).
const NULL_RESIDUAL: f64 = 1e-8;

/// sum_k vals[k] x[cols[k]], in four independent partial sums: a single running sum
/// is one add latency per entry, which made `apply` (~13k entries per row block of
/// socp_20x60's K) latency-bound.
fn gather_dot(vals: &[f64], cols: &[usize], x: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (v4, c4) = (vals.chunks_exact(4), cols.chunks_exact(4));
    let (vr, cr) = (v4.remainder(), c4.remainder());
    for (v, c) in v4.zip(c4) {
        for k in 0..4 {
            acc[k] += v[k] * x[c[k]];
        }
    }
    let tail: f64 = vr.iter().zip(cr).map(|(v, &c)| v * x[c]).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Whether every value is finite, by four independent partial sums of `v * 0`
/// (0 for a finite v, NaN otherwise): no early exit, so no branch per entry.
fn all_finite(vals: &[f64]) -> bool {
    let mut acc = [0.0f64; 4];
    let v4 = vals.chunks_exact(4);
    let tail: f64 = v4.remainder().iter().map(|v| v * 0.0).sum();
    for v in v4 {
        for k in 0..4 {
            acc[k] += v[k] * 0.0;
        }
    }
    (acc[0] + acc[1] + acc[2] + acc[3] + tail) == 0.0
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Eigenvalues of D below this count as exact zeros (the constraint is inactive).
const NULL_EIG: f64 = 1e-12;

/// `N = [eig(D) ~ 0]` and `Q = D(D - I) - N` (row-major `dim x dim`) for one block
/// of D.  Diagonal blocks (zero/nonneg cones, interior SOC points) and SOC blocks
/// on the boundary use closed forms, O(dim^2): there D has eigenvalue 0 on
/// e1 = (1, u)/sqrt2, 1 on e0 = (-1, u)/sqrt2 and c elsewhere (u = -2 D[1.., 0] the
/// unit direction of the projected point), so f(D) = f(0) e1e1' + f(1) e0e0' +
/// f(c) (I - e1e1' - e0e0').  Other blocks (3x3 exp/power) use a dense
/// eigen-decomposition.  None when that fails.
fn block_functions(kind: &BlockKind, dim: usize, blk: &[f64], null_out: &mut [f64], quad_out: &mut [f64]) -> Option<()> {
    let is_null = |s: f64| s.abs() <= NULL_EIG;
    let diagonal = (0..dim).all(|i| (0..dim).all(|j| i == j || blk[i * dim + j] == 0.0));
    if diagonal {
        for i in 0..dim {
            let s = blk[i * dim + i];
            let nul = if is_null(s) { 1.0 } else { 0.0 };
            null_out[i * dim + i] = nul;
            quad_out[i * dim + i] = s * (s - 1.0) - nul;
        }
        return Some(());
    }
    if *kind == BlockKind::Soc && soc_block_functions(dim, blk, null_out, quad_out) {
        return Some(());
    }
    let mat = faer::Mat::<f64>::from_fn(dim, dim, |i, j| 0.5 * (blk[i * dim + j] + blk[j * dim + i]));
    let (s, u) = super::dense::symmetric_eigen(mat.as_ref())?;
    null_out.iter_mut().chain(quad_out.iter_mut()).for_each(|o| *o = 0.0);
    for k in 0..dim {
        let nul = if is_null(s[k]) { 1.0 } else { 0.0 };
        let q = s[k] * (s[k] - 1.0) - nul;
        for i in 0..dim {
            for j in 0..dim {
                let uu = u[(i, k)] * u[(j, k)];
                null_out[i * dim + j] += nul * uu;
                quad_out[i * dim + j] += q * uu;
            }
        }
    }
    Some(())
}

/// Closed form of `block_functions` for an SOC block of D at a boundary point; false
/// (nothing written) when `blk` does not have that structure to 1e-10.
fn soc_block_functions(dim: usize, blk: &[f64], null_out: &mut [f64], quad_out: &mut [f64]) -> bool {
    if dim < 2 || (blk[0] - 0.5).abs() > 1e-12 {
        return false;
    }
    let u: Vec<f64> = (1..dim).map(|i| -2.0 * blk[i * dim]).collect();
    if (norm(&u) - 1.0).abs() > 1e-10 {
        return false;
    }
    let trace: f64 = (0..dim).map(|i| blk[i * dim + i]).sum();
    let c = if dim > 2 { (trace - 1.0) / (dim as f64 - 2.0) } else { 0.0 };
    // w = (1, u): e1e1' + e0e0' = diag(1, uu'), e0e0' = (-1, u)(-1, u)'/2
    let w = |i: usize| if i == 0 { 1.0 } else { u[i - 1] };
    let sgn = |i: usize| if i == 0 { -1.0 } else { 1.0 };
    let both = |i: usize, j: usize| if i == 0 || j == 0 { if i == j { 1.0 } else { 0.0 } } else { u[i - 1] * u[j - 1] };
    let bulk_null = c.abs() <= NULL_EIG;
    for i in 0..dim {
        for j in 0..dim {
            let e1 = 0.5 * w(i) * w(j);
            let e0 = 0.5 * sgn(i) * w(i) * sgn(j) * w(j);
            let bulk = if i == j { 1.0 } else { 0.0 } - both(i, j);
            if (blk[i * dim + j] - (e0 + c * bulk)).abs() > 1e-10 {
                return false;
            }
            let nul = e1 + if bulk_null { bulk } else { 0.0 };
            null_out[i * dim + j] = nul;
            quad_out[i * dim + j] = c * (c - 1.0) * bulk - nul;
        }
    }
    true
}

impl<'s> SymSystem<'s> {
    /// Assemble K from P, A and D, and factor it (`factored` false when the
    /// factorization fails).  None only when a block's eigen-decomposition fails.
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
        // per block: N (projector onto null(D)) and Q = D(D - I) - N, both functions
        // of D through its eigen-decomposition
        let mut null_proj = vec![0.0; sym.d_len];
        let mut quad = vec![0.0; sym.d_len];
        for b in &sym.blocks {
            let r = b.offset..b.offset + b.dim * b.dim;
            block_functions(&b.kind, b.dim, &d[r.clone()], &mut null_proj[r.clone()], &mut quad[r])?;
        }
        let mut bufs = ss.pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default();
        let mut values = std::mem::take(&mut bufs.values);
        values.clear();
        values.resize(ss.row_idx.len(), 0.0);
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
        assemble_v_columns(sym, pattern, a, d, (&ss.col_ptr, &ss.row_idx), &mut values, socx::expands, |b, c, base, values| {
            for r in 0..=c {
                values[base + r] = quad[b.offset + r * b.dim + c];
            }
        });
        for e in &ss.expanded {
            if !socx::write_block(e, sym, pattern, a, d, (&ss.col_ptr, &ss.row_idx), NULL_EIG, &mut values) {
                tracing::debug!("derivative: SOC block of D without its closed form; no symmetric system");
                return None;
            }
        }
        let mut full_values = std::mem::take(&mut bufs.full_values);
        full_values.clear();
        full_values.extend(ss.full_src.iter().map(|&t| values[t]));
        // exactly zero rows/columns of K: a variable nothing constrains (an epigraph
        // variable whose constraints are all inactive, D = 0 on them), a null vector
        // of K known up front.  Only x variables (a v variable has its pivot or its row
        // of A): candidates from their rows of K's first n + m columns (early exit),
        // then the extra columns of expanded blocks
        let row_zero = |j: usize| full_values[ss.full_ptr[j]..ss.full_ptr[j + 1]].iter().all(|&v| v == 0.0);
        let mut decoupled: Vec<usize> = (0..n).filter(|&j| row_zero(j)).collect();
        if !decoupled.is_empty() && ss.dim_e > sym.dim() {
            let mut coupled = vec![false; n];
            for t in ss.col_ptr[sym.dim()]..ss.row_idx.len() {
                if ss.row_idx[t] < n && values[t] != 0.0 {
                    coupled[ss.row_idx[t]] = true;
                }
            }
            decoupled.retain(|&j| !coupled[j]);
        }
        let params: Spec<LdltParams, f64> = Default::default();
        let req = ss.factor.factor_scratch(params);
        let knorm = {
            // off-diagonal entries stand for two entries of K; with expanded SOC blocks
            // the Frobenius norm of E without its +-1 pivots (the same scale: the h
            // columns carry the blocks' low-rank part)
            let mut acc = 0.0;
            for c in 0..ss.dim_e {
                // the diagonal is the last entry of every column
                let diag = ss.col_ptr[c + 1] - 1;
                acc += 2.0 * values[ss.col_ptr[c]..diag].iter().map(|v| v * v).sum::<f64>();
                if c < sym.dim() {
                    acc += values[diag] * values[diag];
                }
            }
            acc.sqrt()
        };
        let mut l_values = std::mem::take(&mut bufs.l_values);
        l_values.resize(ss.factor.factor_len(), 0.0);
        let mem = match bufs.mem.take() {
            Some(mem) => mem,
            None => MemBuffer::try_new(req).ok()?,
        };
        let mut this = SymSystem {
            sym,
            ss,
            l_values,
            full_values,
            values,
            reg: std::mem::take(&mut bufs.reg),
            permuted: std::mem::take(&mut bufs.permuted),
            null_proj,
            mem,
            knorm,
            factored: false,
            reduced: None,
            decoupled,
        };
        // factor K + static regularization (+eps on x, -eps on v); on a pivot breakdown
        // retry with 100x more (refinement against the unregularized K restores accuracy)
        let mut eps = static_reg;
        for attempt in 0..4 {
            if this.factor(eps, params) {
                this.factored = true;
                return Some(this);
            }
            tracing::debug!(eps, attempt, "derivative: LDLT factorization failed; more static regularization");
            eps *= 100.0;
        }
        // K itself is still there for LSQR
        Some(this)
    }

    fn factor(&mut self, eps: f64, params: Spec<LdltParams, f64>) -> bool {
        let (ss, dim) = (self.ss, self.ss.dim_e);
        let reg = &mut self.reg;
        reg.clear();
        reg.extend_from_slice(&self.values);
        for c in 0..dim {
            // the diagonal is the last entry of every column; +eps on x (and +1
            // pivots), -eps on v (and -1 pivots)
            reg[ss.col_ptr[c + 1] - 1] += f64::from(ss.signs[c]) * eps;
        }
        // a decoupled variable is its own unit pivot (its solution component is zero)
        for &j in &self.decoupled {
            reg[ss.col_ptr[j + 1] - 1] = f64::from(ss.signs[j]);
        }
        let mut f = Vec::new();
        if let Some(red) = &ss.reduction {
            f.resize(red.row_idx.len(), 0.0);
            self.reduced = Some(red.reduce(reg, DYN_EPS, DYN_DELTA, &mut f));
        }
        let factored_values = if ss.reduction.is_some() { &f } else { &self.reg };
        // pivots below DYN_EPS = 1e-8 are near-zero eigen-directions of K (P
        // singular, D eigenvalue 1), not information: replacing them by +-delta
        // keeps the factor bounded (1e-13 let tiny pivots blow the solve up to inf,
        // sending SOCPs to the LU path), and refinement below restores the accuracy
        let ok = ss.factor.factorize(
            factored_values,
            DYN_EPS,
            DYN_DELTA,
            &mut self.l_values,
            &mut self.permuted,
            MemStack::new(&mut self.mem),
            params,
        );
        ok && all_finite(&self.l_values)
    }

    /// y = K x (unregularized); for expanded SOC blocks K = S - H J^{-1} H', the
    /// Schur complement of E (see `soc_expansion.rs`).
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let ss = self.ss;
        let (vals, rows) = (&self.values[..], &ss.row_idx[..]);
        for (i, yi) in y.iter_mut().enumerate().take(self.sym.dim()) {
            let range = ss.full_ptr[i]..ss.full_ptr[i + 1];
            *yi = gather_dot(&self.full_values[range.clone()], &ss.full_col[range], x);
        }
        for c in self.sym.dim()..ss.dim_e {
            let (lo, diag) = (ss.col_ptr[c], ss.col_ptr[c + 1] - 1);
            let ht_x: f64 = (lo..diag).map(|t| vals[t] * x[rows[t]]).sum();
            let yk = -ht_x / vals[diag];
            for t in lo..diag {
                y[rows[t]] += vals[t] * yk;
            }
        }
    }

    /// Iterative refinement of K x = rhs from the regularized factor; returns the
    /// iterate with the smallest residual.
    fn refine(&mut self, rhs: &[f64]) -> Option<Refined> {
        self.refine_off(rhs, &[])
    }

    /// `refine` with the iterates kept orthogonal to the orthonormal `nulls`.
    fn refine_off(&mut self, rhs: &[f64], nulls: &[Vec<f64>]) -> Option<Refined> {
        let dim = rhs.len();
        let knorm = self.knorm;
        let rhs_norm = norm(rhs);
        let mut x = rhs.to_vec();
        self.solve_factored(&mut x);
        project_off(nulls, &mut x);
        let mut kx = vec![0.0; dim];
        let mut res = vec![0.0; dim];
        let mut best: Option<Refined> = None;
        let mut last_step = None;
        for _it in 0..MAX_REFINE {
            self.apply(&x, &mut kx);
            res.iter_mut().zip(rhs.iter().zip(&kx)).for_each(|(r, (b, k))| *r = b - k);
            let rn = norm(&res);
            if !rn.is_finite() {
                tracing::debug!("derivative: symmetric LDLT solve gave a non-finite residual");
                return None;
            }
            let best_rn = best.as_ref().map_or(f64::INFINITY, |b| b.rn);
            let improved_enough = rn <= 0.9 * best_rn;
            let is_best = rn < best_rn;
            if is_best {
                best = Some(Refined { x: x.clone(), rn, res: res.clone(), correction: None, last_step });
            }
            if rn <= 1e-14 * (knorm * norm(&x) + rhs_norm) || !improved_enough {
                tracing::trace!(iterations = _it, rn, "derivative: refinement done");
                break;
            }
            self.solve_factored(&mut res);
            project_off(nulls, &mut res);
            if is_best {
                // the forward-error estimate of this iterate (`accurate_off`)
                best.as_mut().expect("best set above").correction = Some(res.clone());
            }
            last_step = Some(norm(&res));
            x.iter_mut().zip(&res).for_each(|(a, b)| *a += b);
        }
        best
    }

    /// Least squares on a numerically singular K whose near-null vectors the
    /// stalled refinement exposes, after the plain projected solve (`solve`, step 2)
    /// did not apply because the residual r is not itself a null vector.
    ///
    /// Refinement stalls when K G r ~ 0 (G the regularized inverse): G r is then a
    /// near-null vector of K, the regularization having turned a near-zero pivot into
    /// +-delta.  Three steps of inverse iteration with G from r sharpen it to an
    /// eigenvector n of K with |K n| <= NULL_RESIDUAL |K|; K^+ rhs is then the
    /// solution orthogonal to n of K x = (I - nn') rhs (null(K) = range(K)^perp),
    /// found by refinement with every correction projected off n.  Repeated for up to
    /// MAX_NULL such vectors; None when a candidate is not a null vector or the
    /// deflated solve still fails its acceptance test.
    fn solve_deflated(&mut self, rhs: &[f64], stalled: Vec<f64>) -> Option<Vec<f64>> {
        let dim = rhs.len();
        let mut nulls: Vec<Vec<f64>> = Vec::new();
        let mut x = stalled;
        let mut b = rhs.to_vec();
        let mut kx = vec![0.0; dim];
        for _ in 0..MAX_NULL {
            self.apply(&x, &mut kx);
            let mut nv: Vec<f64> = b.iter().zip(&kx).map(|(bi, ki)| bi - ki).collect();
            for _ in 0..3 {
                self.solve_factored(&mut nv);
                project_off(&nulls, &mut nv);
                let nn = norm(&nv);
                if !(nn.is_finite() && nn > 0.0) {
                    return None;
                }
                nv.iter_mut().for_each(|a| *a /= nn);
            }
            self.apply(&nv, &mut kx);
            if norm(&kx) > NULL_RESIDUAL * self.knorm {
                tracing::debug!(null_test = norm(&kx) / self.knorm, found = nulls.len(), "derivative: no further null vector of K");
                return None;
            }
            nulls.push(nv);
            b = rhs.to_vec();
            project_off(&nulls, &mut b);
            let refined = self.refine_off(&b, &nulls)?;
            if self.accurate_off(&refined, &b, &nulls) {
                tracing::debug!(null_vectors = nulls.len(), inconsistent = norm(&b.iter().zip(rhs).map(|(p, r)| p - r).collect::<Vec<_>>()) / norm(rhs), "derivative: symmetric LDLT least-squares solve (null vectors deflated)");
                return Some(refined.x);
            }
            x = refined.x;
        }
        None
    }

    /// Accept a refined x for K x = rhs when its backward error is at rounding level
    /// and the forward-error estimate |G (rhs - K x)| / |x| (the next refinement
    /// correction, G the regularized inverse; kept by `refine_off` when it was
    /// computed) is small: an ill-conditioned K can leave a tiny residual on a
    /// solution that is still percents off.  When refinement stopped on the iterate
    /// right after a step e = G r_prev (no correction computed), |e| stands in for
    /// that estimate if it passes the test already: G r = (I - G K) e, and a
    /// refinement whose residual just dropped to rounding level contracts, so |e|
    /// bounds |G r| (saves the third solve of the usual one-step refinement); a
    /// larger |e| falls back to computing G r.
    fn accurate(&mut self, refined: &Refined, rhs: &[f64]) -> bool {
        self.accurate_off(refined, rhs, &[])
    }

    /// `accurate` with the correction taken orthogonal to the orthonormal `nulls`.
    fn accurate_off(&mut self, refined: &Refined, rhs: &[f64], nulls: &[Vec<f64>]) -> bool {
        let x = &refined.x;
        if refined.rn > ACCEPT * (self.knorm * norm(x) + norm(rhs)) {
            return false;
        }
        let forward_num = match (&refined.correction, refined.last_step) {
            (Some(e), _) => norm(e),
            (None, Some(step)) if step <= FORWARD_TOL * norm(x) => step,
            (None, _) => {
                let mut e = refined.res.clone();
                self.solve_factored(&mut e);
                project_off(nulls, &mut e);
                norm(&e)
            }
        };
        let forward = forward_num / norm(x).max(f64::MIN_POSITIVE);
        if forward > FORWARD_TOL {
            tracing::debug!(forward, "derivative: LDLT solution rejected by its forward-error estimate");
            return false;
        }
        true
    }

    /// The generalized solution `K^+ rhs` (see the module notes) and how it was found.
    ///
    /// 0. Variables whose row and column of K are exactly zero (`decoupled`) are
    ///    null vectors known up front: their rhs components are dropped (counted as
    ///    least squares when nonzero) and the rest is solved as below, without the
    ///    stalled refinement that would otherwise expose them (CVXPY's epigraph
    ///    variables of inactive cones, `socp_20x60` and the MPC of the benchmark).
    /// 1. LDL^T with refinement; accepted when the residual is at rounding level.
    /// 2. Refinement stalled on a residual r with K r ~ 0: rhs has a component in
    ///    null(K) (= range(K)^perp, K symmetric), i.e. no exact solution exists.  The
    ///    least-squares solution solves K x = rhs - r, a consistent system the same
    ///    factor solves; its null component is zero up to rounding (the regularized
    ///    factor does not excite null(K) from a range-space rhs), so this is K^+ rhs.
    /// 3. Refinement stalled above rounding level on a residual that is not a null
    ///    vector: near-null vectors of K found from it by inverse iteration are
    ///    deflated (`solve_deflated`), again least squares (K^+ rhs).
    /// 4. Otherwise (or when forced): K^+ rhs from a dense eigen-decomposition of K
    ///    (dimension <= DENSE_MAX), else LSQR on K from 0, whose limit is K^+ rhs.
    pub fn solve(&mut self, rhs: &[f64], force_lsqr: bool) -> (Vec<f64>, Path) {
        // e_j of a decoupled variable j is in null(K) = range(K)^perp: K^+ drops the
        // rhs component along it and gives it a zero solution component (the factor
        // holds a unit pivot there, so refinement keeps it zero)
        let mut rhs = Cow::Borrowed(rhs);
        // the forced fallback sees the rhs as given: an independent check of this step
        let projected = !force_lsqr && self.decoupled.iter().any(|&j| rhs[j] != 0.0);
        if projected {
            let r = rhs.to_mut();
            self.decoupled.iter().for_each(|&j| r[j] = 0.0);
        }
        let (x, path) = self.solve_projected(&rhs, force_lsqr);
        (x, if projected && path == Path::Ldlt { Path::LdltProjected } else { path })
    }

    /// `solve` on a rhs with no component along the decoupled variables.
    fn solve_projected(&mut self, rhs: &[f64], force_lsqr: bool) -> (Vec<f64>, Path) {
        let dim = rhs.len();
        if norm(rhs) == 0.0 {
            return (vec![0.0; dim], Path::Ldlt);
        }
        if self.factored && !force_lsqr {
            if let Some(refined) = self.refine(rhs) {
                if self.accurate(&refined, rhs) {
                    let x = refined.x;
                    tracing::debug!(relative_residual = refined.rn / (self.knorm * norm(&x) + norm(rhs)), "derivative: symmetric LDLT solve");
                    return (x, Path::Ldlt);
                }
                let Refined { x, rn, res: r, .. } = refined;
                let mut kr = vec![0.0; dim];
                self.apply(&r, &mut kr);
                if norm(&kr) <= NULL_RESIDUAL * self.knorm * rn {
                    let b2: Vec<f64> = rhs.iter().zip(&r).map(|(b, ri)| b - ri).collect();
                    if let Some(refined2) = self.refine(&b2) {
                        if self.accurate(&refined2, &b2) {
                            tracing::debug!(
                                inconsistent = rn / norm(rhs),
                                relative_residual = refined2.rn / (self.knorm * norm(&refined2.x) + norm(&b2)),
                                "derivative: symmetric LDLT least-squares solve (rhs projected off null(K))"
                            );
                            return (refined2.x, Path::LdltProjected);
                        }
                    }
                }
                // only when refinement stalled above rounding level: a solution with a
                // small residual rejected by its forward-error estimate (ill-conditioned,
                // K^+ keeps eigenvalues down to PINV_CUTOFF) goes to the fallback
                let stalled = rn > ACCEPT * (self.knorm * norm(&x) + norm(rhs));
                if stalled {
                    if let Some(x3) = self.solve_deflated(rhs, x.clone()) {
                        return (x3, Path::LdltProjected);
                    }
                }
                tracing::debug!(
                    relative_residual = rn / (self.knorm * norm(&x) + norm(rhs)),
                    null_test = norm(&kr) / (self.knorm * rn),
                    "derivative: symmetric LDLT solve inaccurate; LSQR on K"
                );
            }
        }
        let t0 = std::time::Instant::now();
        if dim <= DENSE_MAX {
            if let Some(x) = self.dense_pinv_solve(rhs) {
                tracing::debug!(dim, seconds = t0.elapsed().as_secs_f64(), forced = force_lsqr, "derivative: dense pseudo-inverse of K");
                return (x, Path::Lsqr);
            }
        }
        let (x, iters) = self.lsqr(rhs);
        tracing::debug!(dim, iters, seconds = t0.elapsed().as_secs_f64(), forced = force_lsqr, "derivative: LSQR on K");
        (x, Path::Lsqr)
    }

    /// K^+ rhs from the dense eigen-decomposition of K (eigenvalues below
    /// `PINV_CUTOFF` times the largest count as zero); for small systems, where it
    /// is exact and cheap, unlike LSQR's slow convergence on ill-conditioned K.
    fn dense_pinv_solve(&self, rhs: &[f64]) -> Option<Vec<f64>> {
        let dim = rhs.len();
        let mut k = faer::Mat::<f64>::zeros(dim, dim);
        if self.ss.expanded.is_empty() {
            for c in 0..dim {
                for t in self.ss.col_ptr[c]..self.ss.col_ptr[c + 1] {
                    let r = self.ss.row_idx[t];
                    k[(r, c)] = self.values[t];
                    k[(c, r)] = self.values[t];
                }
            }
        } else {
            // K's columns through its Schur-complement product
            let (mut e, mut col) = (vec![0.0; dim], vec![0.0; dim]);
            for c in 0..dim {
                e[c] = 1.0;
                self.apply(&e, &mut col);
                e[c] = 0.0;
                (0..dim).for_each(|r| k[(r, c)] = col[r]);
            }
        }
        let (s, u) = super::dense::symmetric_eigen(k.as_ref())?;
        let smax = s.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        let mut x = vec![0.0; dim];
        for (j, &lam) in s.iter().enumerate() {
            if lam.abs() <= PINV_CUTOFF * smax {
                continue;
            }
            let coef = (0..dim).map(|i| u[(i, j)] * rhs[i]).sum::<f64>() / lam;
            x.iter_mut().enumerate().for_each(|(i, xi)| *xi += coef * u[(i, j)]);
        }
        Some(x)
    }

    /// LSQR (Paige & Saunders) on the symmetric K from x = 0: converges to the
    /// minimum-norm least-squares solution K^+ rhs.
    fn lsqr(&self, rhs: &[f64]) -> (Vec<f64>, usize) {
        let dim = rhs.len();
        let mut x = vec![0.0; dim];
        let mut u = rhs.to_vec();
        let mut beta = norm(&u);
        u.iter_mut().for_each(|a| *a /= beta);
        let mut v = vec![0.0; dim];
        self.apply(&u, &mut v);
        let mut alpha = norm(&v);
        if alpha == 0.0 {
            return (x, 0);
        }
        v.iter_mut().for_each(|a| *a /= alpha);
        let mut w = v.clone();
        let (mut phibar, mut rhobar) = (beta, alpha);
        let mut tmp = vec![0.0; dim];
        let anorm = self.knorm.max(1e-300);
        let max_iter = (20 * dim).max(1000);
        for it in 0..max_iter {
            self.apply(&v, &mut tmp);
            u.iter_mut().zip(&tmp).for_each(|(a, b)| *a = b - alpha * *a);
            beta = norm(&u);
            if beta > 0.0 {
                u.iter_mut().for_each(|a| *a /= beta);
            }
            self.apply(&u, &mut tmp);
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
            // stop when the normal-equation residual |K r| = phibar*alpha*|c| is tiny
            if phibar * alpha * c.abs() <= 1e-15 * anorm * anorm * norm(&x).max(1.0) || alpha == 0.0 || beta == 0.0 {
                return (x, it + 1);
            }
        }
        (x, max_iter)
    }

    /// x <- G x, G the regularized inverse of K: the leading block of E^{-1}
    /// (solve E [x; y] = [x; 0]).
    fn solve_factored(&mut self, x: &mut [f64]) {
        let (factor, l_values, mem) = (&self.ss.factor, &self.l_values, &mut self.mem);
        let mut solve_f = |y: &mut [f64]| factor.solve(l_values, y, MemStack::new(mem));
        let len = x.len();
        if self.ss.dim_e == len {
            solve_f(x);
            return;
        }
        let mut full = vec![0.0; self.ss.dim_e];
        full[..len].copy_from_slice(x);
        match (&self.ss.reduction, &self.reduced) {
            (Some(red), Some(values)) => red.solve(values, &mut full, solve_f),
            _ => solve_f(&mut full),
        }
        x.copy_from_slice(&full[..len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocks of D = I - J(v0) (J the Jacobian of the projection onto the cone).
    fn d_blocks(sym: &DerivSymbolic, v0: &[f64]) -> Vec<f64> {
        let mut d = vec![0.0; sym.d_len];
        for b in &sym.blocks {
            let out = &mut d[b.offset..b.offset + b.dim * b.dim];
            let v = &v0[b.start..b.start + b.dim];
            crate::derivatives::projection::primal_jacobian(b.kind.clone(), v, v, out);
            out.iter_mut().for_each(|o| *o = -*o);
            (0..b.dim).for_each(|i| out[i * b.dim + i] += 1.0);
        }
        d
    }

    /// The dense K = [P, A'D; DA, D(D - I) - N] of the module notes, from the
    /// problem's values and D's blocks; each block's D(D - I) - N by
    /// `block_functions` with the block's own kind, or with `kind` when given.
    fn dense_k(
        sym: &DerivSymbolic,
        pattern: &ProblemPattern,
        pv: &[f64],
        av: &[f64],
        d: &[f64],
        kind: Option<&BlockKind>,
    ) -> faer::Mat<f64> {
        let (n, m) = (pattern.n, pattern.m);
        let mut k = faer::Mat::<f64>::zeros(n + m, n + m);
        for (i, j, t) in pattern.p.entries() {
            k[(i, j)] = pv[t];
        }
        let mut a_dense = faer::Mat::<f64>::zeros(m, n);
        for (i, j, t) in pattern.a.entries() {
            a_dense[(i, j)] += av[t];
        }
        for b in &sym.blocks {
            let blk = &d[b.offset..b.offset + b.dim * b.dim];
            let (mut nul, mut quad) = (vec![0.0; b.dim * b.dim], vec![0.0; b.dim * b.dim]);
            block_functions(kind.unwrap_or(&b.kind), b.dim, blk, &mut nul, &mut quad).unwrap();
            for c in 0..b.dim {
                for r in 0..b.dim {
                    k[(n + b.start + r, n + b.start + c)] = quad[r * b.dim + c];
                }
                for j in 0..n {
                    // (A'D)[j, c] = sum_r A[r, j] D[r, c]
                    let adj = (0..b.dim).map(|r| a_dense[(b.start + r, j)] * blk[r * b.dim + c]).sum::<f64>();
                    k[(j, n + b.start + c)] = adj;
                    k[(n + b.start + c, j)] = adj;
                }
            }
        }
        k
    }

    /// `ks.apply` equals `k`, column by column, within `tol |k|`.
    fn assert_apply_matches(ks: &SymSystem<'_>, k: &faer::Mat<f64>, tol: f64, label: &str) {
        let (dim, kn) = (k.nrows(), k.norm_l2());
        let (mut e, mut col) = (vec![0.0; dim], vec![0.0; dim]);
        for c in 0..dim {
            e[c] = 1.0;
            ks.apply(&e, &mut col);
            e[c] = 0.0;
            for r in 0..dim {
                assert!((col[r] - k[(r, c)]).abs() <= tol * kn, "{label}: K[{r}, {c}] {} vs {}", col[r], k[(r, c)]);
            }
        }
    }

    /// A 203-dim SOC block (expanded, `soc_expansion.rs`) next to a nonnegative row:
    /// K applied through the Schur complement of E equals the dense K of the module
    /// notes, and `solve` gives its least-squares solution, at boundary, interior
    /// (D = 0) and polar-side (D = I) points.
    #[test]
    fn expanded_soc_block_is_k() {
        use crate::problem::{ConeSpec, CsrPattern, ProblemPattern};
        let (n, dsoc) = (4usize, 203usize);
        let m = dsoc + 1;
        let p_pat = CsrPattern::new("P", n, n, (0..=n as i64).collect(), (0..n as i64).collect()).unwrap();
        // dense A: every row touches every column
        let a_pat = CsrPattern::new(
            "A",
            m,
            n,
            (0..=m as i64).map(|i| i * n as i64).collect(),
            (0..m * n).map(|k| (k % n) as i64).collect(),
        )
        .unwrap();
        let cones = ConeSpec { nonneg: 1, soc: vec![dsoc], ..Default::default() };
        let pattern = ProblemPattern::new(p_pat, a_pat, cones).unwrap();
        let sym = DerivSymbolic::new(&pattern).unwrap();
        let ss = sym.ldlt.as_ref().unwrap();
        assert_eq!(ss.expanded.len(), 1);
        let pv = vec![0.5, 1.0, 2.0, 3.0];
        let av: Vec<f64> = (0..m * n).map(|k| ((k * 37 % 101) as f64 / 50.0 - 1.0) + if k % (n + 1) == 0 { 2.0 } else { 0.0 }).collect();
        let dim = n + m;
        for t0 in [0.3f64, 2.0, -2.0] {
            // v0 = s - z: nonneg row 0.7 (D = 0), SOC part (t0 |x|, x)
            let mut v0: Vec<f64> = (0..m).map(|i| (i * 13 % 29) as f64 / 7.0 - 2.0).collect();
            v0[0] = 0.7;
            let nx = v0[2..].iter().map(|a| a * a).sum::<f64>().sqrt();
            v0[1] = t0 * nx;
            let d = d_blocks(&sym, &v0);
            let mut ks = SymSystem::new(&sym, ss, &pattern, &pv, &av, &d, 1e-10).unwrap();
            // the reference K through the dense eigen-decomposition of each block
            // (BlockKind::Exp), not the SOC closed form under test
            let k = dense_k(&sym, &pattern, &pv, &av, &d, Some(&BlockKind::Exp));
            let kn = k.norm_l2();
            assert_apply_matches(&ks, &k, 1e-12, &format!("t0 {t0}"));
            let rhs: Vec<f64> = (0..dim).map(|i| ((i * 7 % 11) as f64) - 5.0).collect();
            // least squares (K is singular at the polar-side point: 203 rows on 4
            // variables with a zero block): K (rhs - K x) = 0
            let (x, path) = ks.solve(&rhs, false);
            let r: Vec<f64> = (0..dim).map(|i| rhs[i] - (0..dim).map(|c| k[(i, c)] * x[c]).sum::<f64>()).collect();
            let kr: Vec<f64> = (0..dim).map(|i| (0..dim).map(|c| k[(i, c)] * r[c]).sum::<f64>()).collect();
            assert!(norm(&kr) <= 1e-9 * kn * (kn * norm(&x) + norm(&rhs)), "t0 {t0}: |K r| {}, path {path:?}", norm(&kr));
        }
    }

    /// With and without the dense elimination of a densely coupled expanded SOC
    /// block (`block_elimination.rs`; its algebra is tested there) the solutions
    /// K^+ rhs agree, K nonsingular or not, at boundary, interior and polar-side
    /// points (there the block's pivots are zero and dynamically regularized).  The
    /// regularized factors themselves differ: at a boundary point the block's
    /// extra variables get a zero pivot when eliminated before x, in either order.
    #[test]
    fn dense_elimination_matches_sparse_factor() {
        use crate::problem::{ConeSpec, CsrPattern, ProblemPattern};
        let (n, dsoc, nn) = (6usize, 211usize, 3usize);
        let m = nn + dsoc;
        let p_pat = CsrPattern::new("P", n, n, (0..=n as i64).collect(), (0..n as i64).collect()).unwrap();
        // nonnegative rows on one variable each, a dense SOC block (its first row
        // on variable 0 only, like an epigraph variable)
        let mut indptr = vec![0i64];
        let mut indices = Vec::new();
        for i in 0..nn {
            indices.push(i as i64);
            indptr.push(indices.len() as i64);
        }
        indices.push(0);
        indptr.push(indices.len() as i64);
        for _ in 1..dsoc {
            indices.extend(1..n as i64);
            indptr.push(indices.len() as i64);
        }
        let nnz = indices.len();
        let a_pat = CsrPattern::new("A", m, n, indptr, indices).unwrap();
        let cones = ConeSpec { nonneg: nn, soc: vec![dsoc], ..Default::default() };
        let pattern = ProblemPattern::new(p_pat, a_pat, cones).unwrap();
        let sym = DerivSymbolic::new(&pattern).unwrap();
        let with = sym.ldlt.as_ref().unwrap();
        let without = SymSymbolic::build(&sym, &pattern, false).unwrap();
        assert!(with.reduction.is_some() && without.reduction.is_none());
        let av: Vec<f64> = (0..nnz).map(|k| (k * 53 % 97) as f64 / 40.0 - 1.2).collect();
        let dim = n + m;
        // P > 0 and inactive nonnegative rows: K nonsingular; P with zeros and an
        // active row: K singular
        for (pv, nonneg) in [
            (vec![0.5, 1.0, 0.5, 0.7, 2.0, 1.5], [0.7, 0.4, 1.1]),
            (vec![0.0, 1.0, 0.5, 0.0, 2.0, 1.5], [0.7, -0.4, 1.1]),
        ] {
            for t0 in [0.3f64, 2.0, -2.0] {
                let mut v0: Vec<f64> = (0..m).map(|i| (i * 17 % 31) as f64 / 9.0 - 1.5).collect();
                v0[..nn].copy_from_slice(&nonneg);
                let nx = v0[nn + 1..].iter().map(|a| a * a).sum::<f64>().sqrt();
                v0[nn] = t0 * nx;
                let d = d_blocks(&sym, &v0);
                let mut k1 = SymSystem::new(&sym, with, &pattern, &pv, &av, &d, 1e-10).unwrap();
                let mut k2 = SymSystem::new(&sym, &without, &pattern, &pv, &av, &d, 1e-10).unwrap();
                assert!(k1.factored && k2.factored, "t0 {t0}");
                let rhs: Vec<f64> = (0..dim).map(|i| ((i * 7 % 13) as f64) - 6.0).collect();
                let diff = |a: &[f64], b: &[f64]| norm(&a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>());
                let ((x1, p1), (x2, p2)) = (k1.solve(&rhs, false), k2.solve(&rhs, false));
                let dx = diff(&x1, &x2);
                assert!(dx <= 1e-8 * norm(&x2), "P {pv:?} t0 {t0}: K^+ rhs differ by {dx} (|x| {}), paths {p1:?} {p2:?}", norm(&x2));
            }
        }
    }

    /// A variable with an exactly zero row and column of K (P_jj = 0, its only
    /// constraints inactive: D = 0) is decoupled up front: the solve equals the dense
    /// pseudo-inverse K^+ rhs and is reported as least squares when the rhs has a
    /// component along it.
    #[test]
    fn decoupled_variable_is_least_squares() {
        use crate::problem::{ConeSpec, CsrPattern, ProblemPattern};
        let n = 3usize;
        let p_pat = CsrPattern::new("P", n, n, vec![0, 1, 2, 3], vec![0, 1, 2]).unwrap();
        // rows: x0 + x2, x1, x2 (nonnegative)
        let a_pat = CsrPattern::new("A", 3, n, vec![0, 2, 3, 4], vec![0, 2, 1, 2]).unwrap();
        let pattern = ProblemPattern::new(p_pat, a_pat, ConeSpec { nonneg: 3, ..Default::default() }).unwrap();
        let sym = DerivSymbolic::new(&pattern).unwrap();
        let ss = sym.ldlt.as_ref().unwrap();
        let (pv, av) = (vec![1.0, 2.0, 0.0], vec![1.0, 0.5, -1.5, 2.0]);
        // v0 = s - z: rows 0 and 2 inactive (D = 0), row 1 active (D = 1)
        let d = vec![0.0, 1.0, 0.0];
        let mut ks = SymSystem::new(&sym, ss, &pattern, &pv, &av, &d, 1e-10).unwrap();
        assert_eq!(ks.decoupled, vec![2]);
        for rhs in [vec![1.0, -2.0, 3.0, 0.5, 1.5, -1.0], vec![1.0, -2.0, 0.0, 0.5, 1.5, -1.0]] {
            let (x, path) = ks.solve(&rhs, false);
            let expected = ks.dense_pinv_solve(&rhs).unwrap();
            let err = norm(&x.iter().zip(&expected).map(|(a, b)| a - b).collect::<Vec<_>>());
            assert!(err <= 1e-12 * norm(&expected), "rhs {rhs:?}: {x:?} vs {expected:?}");
            let want = if rhs[2] != 0.0 { Path::LdltProjected } else { Path::Ldlt };
            assert_eq!(path, want, "rhs {rhs:?}");
        }
    }

    /// The assembled K equals the dense [P, A'D; DA, D(D - I) - N] of the module
    /// notes, entry by entry through `apply`, on a pattern that takes every branch of
    /// `assemble_v_columns`: a 6-dim SOC block on dense rows of A (dense product), a
    /// 10-dim SOC block on identity-like rows (scattered loop), an exp block and
    /// nonnegative rows (1x1 and 3x3 blocks, one of them inactive), P with an
    /// off-diagonal pair; and `solve` gives K^+ rhs (the dense pseudo-inverse).
    #[test]
    fn assembled_k_matches_dense() {
        use crate::problem::{ConeSpec, CsrPattern, ProblemPattern};
        let n = 9usize;
        // P: diagonal plus the symmetric pair (0, 1), (1, 0)
        let (mut p_ptr, mut p_idx) = (vec![0i64], Vec::new());
        for j in 0..n {
            match j {
                0 => p_idx.extend([0, 1]),
                1 => p_idx.extend([0, 1]),
                _ => p_idx.push(j as i64),
            }
            p_ptr.push(p_idx.len() as i64);
        }
        let pv: Vec<f64> = (0..p_idx.len()).map(|t| if t == 1 || t == 2 { 0.3 } else { 1.0 + 0.1 * t as f64 }).collect();
        // rows: 2 nonneg (sparse), SOC 6 (dense rows), SOC 10 (row 0 empty, then
        // e_j), exp 3 (two entries per row)
        let cones = ConeSpec { nonneg: 2, soc: vec![6, 10], exp: 1, ..Default::default() };
        let m = 2 + 6 + 10 + 3;
        let mut rows: Vec<Vec<i64>> = vec![vec![0, 2], vec![3, 8]];
        rows.extend((0..6).map(|_| (0..n as i64).collect()));
        rows.push(vec![]);
        rows.extend((0..9).map(|j| vec![j]));
        rows.extend((0..3).map(|i| vec![i, i + 4]));
        let (mut a_ptr, mut a_idx) = (vec![0i64], Vec::new());
        for r in &rows {
            a_idx.extend(r);
            a_ptr.push(a_idx.len() as i64);
        }
        let av: Vec<f64> = (0..a_idx.len()).map(|t| ((t * 37 % 101) as f64 / 50.0 - 1.0) + if t % 5 == 0 { 1.5 } else { 0.0 }).collect();
        let p_pat = CsrPattern::new("P", n, n, p_ptr, p_idx).unwrap();
        let a_pat = CsrPattern::new("A", m, n, a_ptr, a_idx).unwrap();
        let pattern = ProblemPattern::new(p_pat, a_pat, cones).unwrap();
        let sym = DerivSymbolic::new(&pattern).unwrap();
        let ss = sym.ldlt.as_ref().unwrap();
        assert!(ss.expanded.is_empty());
        // v0 = s - z: nonneg rows active / inactive, SOC blocks off both cones
        // (boundary projection, dense D), a generic exp point
        let mut v0: Vec<f64> = (0..m).map(|i| (i * 13 % 29) as f64 / 7.0 - 2.0).collect();
        (v0[0], v0[1]) = (-0.7, 0.4);
        for (start, dim) in [(2usize, 6usize), (8, 10)] {
            let nx = v0[start + 1..start + dim].iter().map(|a| a * a).sum::<f64>().sqrt();
            v0[start] = 0.2 * nx;
        }
        let d = d_blocks(&sym, &v0);
        let mut ks = SymSystem::new(&sym, ss, &pattern, &pv, &av, &d, 1e-10).unwrap();
        let dim = n + m;
        let k = dense_k(&sym, &pattern, &pv, &av, &d, None);
        assert_apply_matches(&ks, &k, 1e-13, "");
        let rhs: Vec<f64> = (0..dim).map(|i| ((i * 7 % 11) as f64) - 5.0).collect();
        let (x, _) = ks.solve(&rhs, false);
        let expected = ks.dense_pinv_solve(&rhs).unwrap();
        let err = norm(&x.iter().zip(&expected).map(|(a, b)| a - b).collect::<Vec<_>>());
        assert!(err <= 1e-9 * norm(&expected), "|x - K^+ rhs| {err} of {}", norm(&expected));
    }

    /// `gather_dot` and `all_finite` on every remainder length of their 4-way split.
    #[test]
    fn gather_dot_and_all_finite() {
        let x: Vec<f64> = (0..20).map(|i| (i as f64 * 0.7).cos()).collect();
        for len in 0..13 {
            let cols: Vec<usize> = (0..len).map(|k| (k * 7 + 3) % 20).collect();
            let vals: Vec<f64> = (0..len).map(|k| 1.0 + k as f64 * 0.25).collect();
            let want: f64 = vals.iter().zip(&cols).map(|(v, &c)| v * x[c]).sum();
            assert!((gather_dot(&vals, &cols, &x) - want).abs() <= 1e-14 * (1.0 + want.abs()), "len {len}");
            assert!(all_finite(&vals), "len {len}");
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                for at in 0..len {
                    let mut v = vals.clone();
                    v[at] = bad;
                    assert!(!all_finite(&v), "len {len}, {bad} at {at}");
                }
            }
        }
    }

    /// The closed-form N and Q of SOC blocks equal the eigen-decomposition's.
    #[test]
    fn soc_closed_form_matches_eigen() {
        for (k, dim) in [2usize, 3, 5, 17].into_iter().enumerate() {
            // v0 = s - z outside both K and -K (the projection is on the boundary)
            let mut v0: Vec<f64> = (0..dim).map(|i| ((i * 7 + k * 3) as f64 * 0.37).sin()).collect();
            let nx: f64 = v0[1..].iter().map(|a| a * a).sum::<f64>().sqrt();
            v0[0] = 0.3 * nx;
            let mut j = vec![0.0; dim * dim];
            super::super::projection::primal_jacobian(BlockKind::Soc, &v0, &v0, &mut j);
            let d: Vec<f64> = (0..dim * dim).map(|t| if t / dim == t % dim { 1.0 } else { 0.0 } - j[t]).collect();
            let (mut n1, mut q1, mut n2, mut q2) = (vec![0.0; dim * dim], vec![0.0; dim * dim], vec![0.0; dim * dim], vec![0.0; dim * dim]);
            assert!(soc_block_functions(dim, &d, &mut n1, &mut q1), "dim {dim}");
            // the generic path (a non-SOC kind with the same dense block)
            block_functions(&BlockKind::Exp, dim, &d, &mut n2, &mut q2).unwrap();
            for t in 0..dim * dim {
                assert!((n1[t] - n2[t]).abs() < 1e-12 && (q1[t] - q2[t]).abs() < 1e-12, "dim {dim} entry {t}");
            }
        }
    }
}
