//! The quasi-definite KKT system of the interior-point method
//!
//! ```text
//!     K = [ P + eps I      A'       ]
//!         [ A          -(H + eps I) ]
//! ```
//! stored as its upper triangle in CSC and factored with faer's sparse LDL^T.
//! Large second-order cones do not put their dense H block in K: H = D + uu' - vv'
//! (D diagonal) is written as -D on the diagonal plus two extra columns per cone,
//!
//! ```text
//!     [ -D   v   u ]
//!     [ v'  -1   0 ]     whose Schur complement on the first block is -(D + uu' - vv'),
//!     [ u'   0  +1 ]
//! ```
//! so a cone of dimension d costs O(d) entries instead of O(d^2) (as in Clarabel).
//! The pattern, the fill-reducing ordering (AMD) and the symbolic factorization
//! depend only on the sparsity of P, A and the cones: `KktSymbolic` computes them
//! once and is shared (read-only) by every solve of the family, also across the
//! threads of a batch.  Each solve owns a `KktSystem` with the numeric values.
//!
//! Three factorizations of the same assembled values, all in faer's AMD order with
//! the same regularization and refinement: faer's supernodal LDLᵀ for factors with
//! dense blocks, the simplicial LDLᵀ of `kkt_simplicial.rs` (pattern precomputed per
//! family) for sparser ones, and the dense LDLᵀ of `kkt_dense.rs` for small systems
//! whose factor is mostly full (or `direct_solve_method = "dense"`).

use std::sync::Arc;

use dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::ldlt::factor::{LdltParams, LdltRegularization};
use faer::sparse::linalg::cholesky::{
    factorize_symbolic_cholesky, CholeskySymbolicParams, LdltRef, SymbolicCholesky, SymbolicCholeskyRaw,
    SymmetricOrdering,
};
use faer::sparse::linalg::SupernodalThreshold;
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par, Side, Spec};

use crate::cones::Cone;
use crate::error::SolverError;
use crate::kkt_dense::DenseLdlt;
use crate::kkt_simplicial::{SimplicialLdlt, SimplicialSymbolic};
use crate::problem::ProblemPattern;
use crate::settings::DirectSolveMethod;

/// A refined KKT solve whose residual exceeds this times max(1, |rhs|) comes from a
/// broken factor (seen: 1e35 on a PSD problem near convergence).  Tighter tests
/// (1e-4, 1) also fire on the diverging iterates of infeasible problems, whose
/// detection a refactorization then delays.
const BROKEN_FACTOR_RESIDUAL: f64 = 1e8;

/// The symbolic side of the factorization chosen for a KKT pattern (all in faer's
/// AMD elimination order).
#[derive(Debug)]
enum FactorPlan {
    /// faer's supernodal LDLᵀ, for factors with dense blocks.
    Supernodal(SymbolicCholesky<usize>),
    /// `kkt_simplicial`'s precomputed pattern, for sparser factors.
    Simplicial(Arc<SimplicialSymbolic>),
    /// `kkt_dense`, with the elimination order.
    Dense(Vec<usize>),
}

/// Whether "auto" factors a KKT system of dimension `dim` densely, from its sparse
/// factor's nonzero count (`kkt_dense::prefer_dense`).  Not with PSD cones: their
/// dense H block fills the factor without the problem being small, and near
/// convergence (H condition ~ 1/mu^2) the dense factor broke where faer's did not
/// (test_psd seed 10: residual 4e-2 and a diverging refinement at iteration 7;
/// faer's factor solved it to 1e-10).
fn auto_prefers_dense(pattern: &ProblemPattern, dim: usize, sparse_factor_nnz: usize) -> bool {
    pattern.cones.psd.is_empty() && crate::kkt_dense::prefer_dense(dim, sparse_factor_nnz)
}

/// Where each piece of data lands in the KKT value array.
#[derive(Debug)]
pub struct KktSymbolic {
    pub n: usize,
    pub m: usize,
    /// n + m + 2 * (number of expanded cones).
    dim: usize,
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    /// (KKT position, index into P's full value array) for the upper triangle of P.
    p_map: Vec<(usize, usize)>,
    /// KKT position of each A value (A stored row-wise = columns of A').
    a_map: Vec<usize>,
    /// KKT position of the diagonal entry of every column.
    diag: Vec<usize>,
    /// For every cone (in order), the KKT positions of its H block values, in the
    /// order `Cone::hs_block` writes them; for expanded cones the positions of
    /// D, then of the v column, then of the u column (3 * dim).
    hs_map: Vec<Vec<usize>>,
    /// (KKT position, value) of the fixed -1 / +1 diagonals of the extra columns.
    extra_diag: Vec<(usize, f64)>,
    /// Per cone: H goes in sparse expanded form.
    expanded: Vec<bool>,
    /// Which factorization, with its symbolic part.
    plan: FactorPlan,
    /// +1 for the x block, -1 for the z block (dynamic regularization signs).
    signs: Vec<i8>,
}

impl KktSymbolic {
    /// `expand`: put the H block of expandable cones (large SOCs) in sparse
    /// expanded form; otherwise every H block is dense.  `method` "auto" picks the
    /// dense factorization for small systems (see `kkt_dense::prefer_dense`).
    pub fn new(
        pattern: &ProblemPattern,
        cones: &[(impl Cone, std::ops::Range<usize>)],
        method: DirectSolveMethod,
        expand: bool,
    ) -> Result<Self, SolverError> {
        let built = Self::build(pattern, cones, method, expand)?;
        // "auto" chose a dense factor in `build` unless an expanded (sparse) SOC block
        // was in the way: then the dense system is the unexpanded one
        if method == DirectSolveMethod::Auto && built.has_expanded_cones() && auto_prefers_dense(pattern, built.dim, built.factor_nnz()) {
            return Self::build(pattern, cones, DirectSolveMethod::Dense, expand);
        }
        Ok(built)
    }

    fn build(
        pattern: &ProblemPattern,
        cones: &[(impl Cone, std::ops::Range<usize>)],
        method: DirectSolveMethod,
        expand: bool,
    ) -> Result<Self, SolverError> {
        let (n, m) = (pattern.n, pattern.m);
        let dense = method == DirectSolveMethod::Dense;
        // a dense factor gains nothing from the sparse SOC expansion
        let expand = expand && !dense;
        let expanded: Vec<bool> = cones.iter().map(|(c, _)| expand && c.hs_is_expandable()).collect();
        let n_expanded = expanded.iter().filter(|&&e| e).count();
        let dim = n + m + 2 * n_expanded;
        // Cone block of each constraint row.
        let mut row_cone = vec![0usize; m];
        for (k, (_, range)) in cones.iter().enumerate() {
            for r in range.clone() {
                row_cone[r] = k;
            }
        }
        let mut col_ptr = Vec::with_capacity(dim + 1);
        let mut row_idx = Vec::new();
        let mut p_map = Vec::new();
        let mut a_map = vec![0; pattern.a.nnz()];
        let mut diag = vec![0; dim];
        let mut hs_map: Vec<Vec<usize>> = cones
            .iter()
            .zip(&expanded)
            .map(|((c, _), &exp)| {
                let d = c.dim();
                let len = if exp {
                    3 * d
                } else if c.hs_is_diagonal() {
                    d
                } else {
                    d * (d + 1) / 2
                };
                vec![0; len]
            })
            .collect();
        col_ptr.push(0);
        // Columns of the x block: upper triangle of P (row c of the full CSR,
        // entries with column <= c), then a diagonal entry if P has none.
        for c in 0..n {
            let mut has_diag = false;
            for k in pattern.p.indptr[c]..pattern.p.indptr[c + 1] {
                let r = pattern.p.indices[k];
                if r > c {
                    break;
                }
                if r == c {
                    has_diag = true;
                    diag[c] = row_idx.len();
                }
                p_map.push((row_idx.len(), k));
                row_idx.push(r);
            }
            if !has_diag {
                diag[c] = row_idx.len();
                row_idx.push(c);
            }
            col_ptr.push(row_idx.len());
        }
        // Columns of the z block: row i of A (as rows j < n), then the H block.
        for i in 0..m {
            for k in pattern.a.indptr[i]..pattern.a.indptr[i + 1] {
                a_map[k] = row_idx.len();
                row_idx.push(pattern.a.indices[k]);
            }
            let kc = row_cone[i];
            let (cone, range) = &cones[kc];
            let local = i - range.start;
            if cone.hs_is_diagonal() || expanded[kc] {
                hs_map[kc][local] = row_idx.len();
                diag[n + i] = row_idx.len();
                row_idx.push(n + i);
            } else {
                for r in 0..=local {
                    hs_map[kc][crate::cones::util::triu_index(r, local)] = row_idx.len();
                    if r == local {
                        diag[n + i] = row_idx.len();
                    }
                    row_idx.push(n + range.start + r);
                }
            }
            col_ptr.push(row_idx.len());
        }
        // The two extra columns of every expanded cone: its rows, then the diagonal.
        let mut extra_diag = Vec::with_capacity(2 * n_expanded);
        let mut signs = vec![1i8; dim];
        signs[n..n + m].fill(-1);
        let mut col = n + m;
        for (kc, (cone, range)) in cones.iter().enumerate() {
            if !expanded[kc] {
                continue;
            }
            let d = cone.dim();
            for (block, (diag_value, sign)) in [(1, (-1.0, -1i8)), (2, (1.0, 1i8))] {
                for local in 0..d {
                    hs_map[kc][block * d + local] = row_idx.len();
                    row_idx.push(n + range.start + local);
                }
                diag[col] = row_idx.len();
                extra_diag.push((row_idx.len(), diag_value));
                signs[col] = sign;
                row_idx.push(col);
                col_ptr.push(row_idx.len());
                col += 1;
            }
        }
        let threshold = match method {
            DirectSolveMethod::Qdldl => SupernodalThreshold::FORCE_SIMPLICIAL,
            DirectSolveMethod::Faer => SupernodalThreshold::FORCE_SUPERNODAL,
            DirectSolveMethod::Auto | DirectSolveMethod::Dense => SupernodalThreshold::AUTO,
        };
        // `mul_unregularized` relies on it: each column ends with its diagonal.
        assert!((0..dim).all(|c| diag[c] + 1 == col_ptr[c + 1] && row_idx[diag[c]] == c));
        let symbolic = SymbolicSparseColMatRef::new_checked(dim, dim, &col_ptr, None, &row_idx);
        let sparse = factorize_symbolic_cholesky(
            symbolic,
            Side::Upper,
            SymmetricOrdering::Amd,
            CholeskySymbolicParams { supernodal_flop_ratio_threshold: threshold, ..Default::default() },
        )
        .map_err(|e| SolverError::Internal(format!("symbolic factorization failed: {e:?}")))?;
        // The dense and simplicial paths keep only faer's elimination order; faer's
        // own numeric factorization is used for supernodal factors.
        let order = sparse.perm().map_or_else(|| (0..dim).collect(), |p| p.arrays().0.to_vec());
        let supernodal = matches!(sparse.raw(), SymbolicCholeskyRaw::Supernodal(_));
        // "auto" without expanded blocks: the same system factored densely when
        // small and filled (faer's L holds the diagonal of a simplicial factor)
        let auto_dense = method == DirectSolveMethod::Auto
            && n_expanded == 0
            && auto_prefers_dense(pattern, dim, if supernodal { sparse.len_val() } else { sparse.len_val() - dim });
        let plan = if dense || auto_dense {
            FactorPlan::Dense(order)
        } else if supernodal {
            FactorPlan::Supernodal(sparse)
        } else {
            FactorPlan::Simplicial(Arc::new(SimplicialSymbolic::new(dim, &col_ptr, &row_idx, &order, &signs)))
        };
        Ok(KktSymbolic {
            n,
            m,
            dim,
            col_ptr,
            row_idx,
            p_map,
            a_map,
            diag,
            hs_map,
            extra_diag,
            expanded,
            plan,
            signs,
        })
    }

    /// True if some cone's H block is in sparse expanded form.
    pub fn has_expanded_cones(&self) -> bool {
        self.expanded.iter().any(|&e| e)
    }

    pub fn nnz(&self) -> usize {
        self.row_idx.len()
    }

    /// Nonzeros of the L factor (a measure of factorization cost).
    pub fn factor_nnz(&self) -> usize {
        match &self.plan {
            FactorPlan::Supernodal(f) => f.len_val(),
            FactorPlan::Simplicial(f) => f.factor_nnz(),
            FactorPlan::Dense(_) => self.dim * (self.dim - 1) / 2,
        }
    }

    /// True if the KKT system is factored densely.
    pub fn is_dense(&self) -> bool {
        matches!(self.plan, FactorPlan::Dense(_))
    }
}

/// The numeric factorization (all in faer's AMD order): supernodal (faer),
/// simplicial (`kkt_simplicial`) or dense (`kkt_dense`).
enum Factor {
    Sparse { l_values: Vec<f64>, mem: MemBuffer },
    Simplicial(SimplicialLdlt),
    Dense(DenseLdlt),
}

/// Static regularization of x columns with curvature is this fraction of P_jj ...
const CURVATURE_REG_RATIO: f64 = 1e-2;
/// ... but at least this fraction of the regular eps.
const CURVATURE_REG_FLOOR: f64 = 1e-4;

/// Static regularization of an x column, given the regular `eps` and the column's
/// `curvature` (P_jj when P's column j is that entry alone, else 0).
///
/// The regularization eps makes K quasi-definite, which bounds every x pivot of
/// the LDL^T away from zero.  A column whose only P entry is P_jj > 0 needs no
/// such help: in exact arithmetic its pivot is at least P_jj + eps_j in any
/// elimination order (the pivot is the Schur complement of a leading block onto
/// x_j; eliminating z rows adds A'H^{-1}A >= 0 to P + diag(eps), which only raises
/// it).  There eps would only perturb K: where equilibration leaves P_jj far
/// below eps (BOYD1: columns with 1e9 entries in A get P~_jj ~ 1e-10 < 1e-8),
/// refinement against the unregularized K contracts the error by only
/// eps / (P_jj + eps) ~ 0.99 per round, stalls, and the Newton directions miss
/// the dual residual (it stalled at 5e-4 while mu -> 0).  So such a column gets
/// eps_j = 1e-2 P_jj (refinement gains 100x per round), clamped to
/// [1e-4 eps, eps] so that pivots stay well above the dynamic regularization's
/// threshold and well-scaled columns (P_jj >= 100 eps) keep eps.
fn static_reg_of_column(eps: f64, curvature: f64) -> f64 {
    if curvature > 0.0 {
        (CURVATURE_REG_RATIO * curvature).clamp(CURVATURE_REG_FLOOR * eps, eps)
    } else {
        eps
    }
}

/// Numeric KKT values and factor of one solve.
pub struct KktSystem {
    symbolic: Arc<KktSymbolic>,
    /// KKT values including the static regularization.
    values: Vec<f64>,
    factor: Factor,
    /// Static regularization currently on each diagonal entry (its magnitude:
    /// added where the pivot sign is +1, subtracted where it is -1).
    static_reg: Vec<f64>,
    /// Per x column: P_jj where P's column j has no other nonzero, else 0
    /// (see `static_reg_of_column`).
    curvature: Vec<f64>,
    reg_delta: f64,
    reg_eps: f64,
    refine: bool,
    work_rhs: Vec<f64>,
    work_block: Vec<f64>,
    /// Right-hand side and solution padded with the extra columns.
    work_b: Vec<f64>,
    work_x: Vec<f64>,
    work_res: Vec<f64>,
    work_sol: Vec<f64>,
}

/// Settings of the KKT solve that come from the solver settings.
#[derive(Clone, Copy, Debug)]
pub struct KktSettings {
    pub static_reg_constant: f64,
    pub static_reg_proportional: f64,
    pub dynamic_reg_eps: f64,
    pub dynamic_reg_delta: f64,
    pub refine_enable: bool,
    pub refine_reltol: f64,
    pub refine_abstol: f64,
    pub refine_max_iter: usize,
    pub refine_stop_ratio: f64,
}

impl KktSystem {
    pub fn new(symbolic: Arc<KktSymbolic>) -> Self {
        let dim = symbolic.dim;
        let factor = match &symbolic.plan {
            FactorPlan::Supernodal(f) => {
                let params: Spec<LdltParams, f64> = Default::default();
                let req = StackReq::any_of(&[
                    f.factorize_numeric_ldlt_scratch::<f64>(Par::Seq, params),
                    f.solve_in_place_scratch::<f64>(1, Par::Seq),
                ]);
                Factor::Sparse { l_values: vec![0.0; f.len_val()], mem: MemBuffer::new(req) }
            }
            FactorPlan::Simplicial(f) => Factor::Simplicial(SimplicialLdlt::new(Arc::clone(f))),
            FactorPlan::Dense(order) => Factor::Dense(DenseLdlt::new(
                dim,
                &symbolic.col_ptr,
                &symbolic.row_idx,
                Some(order),
                &symbolic.signs,
            )),
        };
        KktSystem {
            values: vec![0.0; symbolic.nnz()],
            factor,
            static_reg: vec![0.0; dim],
            curvature: vec![0.0; symbolic.n],
            reg_delta: 0.0,
            reg_eps: 0.0,
            refine: true,
            work_rhs: vec![0.0; dim],
            work_b: vec![0.0; dim],
            work_block: Vec::new(),
            work_x: vec![0.0; dim],
            work_res: vec![0.0; dim],
            work_sol: vec![0.0; dim],
            symbolic,
        }
    }

    /// Write P and A values (called once per solve, after equilibration).
    pub fn set_data(&mut self, p_values: &[f64], a_values: &[f64]) {
        let s = &self.symbolic;
        for v in self.values.iter_mut() {
            *v = 0.0;
        }
        self.static_reg.fill(0.0);
        for &(pos, k) in &s.p_map {
            self.values[pos] = p_values[k];
        }
        // Columns of P that are their diagonal entry alone.
        let n = s.n;
        for j in 0..n {
            self.curvature[j] = self.values[s.diag[j]].max(0.0);
        }
        for c in 0..n {
            for k in s.col_ptr[c]..s.col_ptr[c + 1] {
                let r = s.row_idx[k];
                if r < n && r != c && self.values[k] != 0.0 {
                    self.curvature[r] = 0.0;
                    self.curvature[c] = 0.0;
                }
            }
        }
        for (k, &pos) in s.a_map.iter().enumerate() {
            self.values[pos] = a_values[k];
        }
    }

    /// Write the -H blocks of the cones and the static regularization, then factor.
    /// Returns false if the factorization failed.
    pub fn update_and_factor<C: Cone>(&mut self, cones: &[(C, std::ops::Range<usize>)], settings: &KktSettings) -> bool {
        let s = Arc::clone(&self.symbolic);
        let n = s.n;
        let mut block = std::mem::take(&mut self.work_block);
        for (k, (cone, _)) in cones.iter().enumerate() {
            let positions = &s.hs_map[k];
            block.resize(positions.len(), 0.0);
            if s.expanded[k] {
                let d = cone.dim();
                let (diag, rest) = block.split_at_mut(d);
                let (v, u) = rest.split_at_mut(d);
                cone.hs_expansion(diag, v, u);
                for i in 0..d {
                    self.values[positions[i]] = -diag[i];
                    self.values[positions[d + i]] = v[i];
                    self.values[positions[2 * d + i]] = u[i];
                }
            } else {
                cone.hs_block(&mut block);
                for (&pos, &h) in positions.iter().zip(&block) {
                    self.values[pos] = -h;
                }
            }
        }
        self.work_block = block;
        for &(pos, value) in &s.extra_diag {
            self.values[pos] = value;
        }
        // Remove the old static regularization from the x block (the z block and
        // the extra columns were just overwritten), then add the new one.
        for j in 0..n {
            self.values[s.diag[j]] -= self.static_reg[j];
        }
        self.static_reg.fill(0.0);
        let max_diag = s.diag.iter().map(|&p| self.values[p].abs()).fold(0.0, f64::max);
        let eps = settings.static_reg_constant + settings.static_reg_proportional * max_diag;
        self.reg_delta = settings.dynamic_reg_delta;
        self.reg_eps = settings.dynamic_reg_eps;
        self.refine = settings.refine_enable;
        self.factor_with_retries(eps)
    }

    /// Factor with static regularization `eps`; when a pivot still breaks down
    /// (tiny pivots that pass the dynamic check can blow up the later ones near
    /// convergence), retry with a 100x larger one.  Iterative refinement against
    /// the unregularized K recovers the accuracy.
    fn factor_with_retries(&mut self, mut eps: f64) -> bool {
        const RETRIES: usize = 3;
        for attempt in 0..=RETRIES {
            self.set_static_reg(eps);
            if self.factor() {
                return true;
            }
            if attempt < RETRIES {
                tracing::debug!(eps, "LDLT factorization failed; retrying with more static regularization");
                eps *= 100.0;
            }
        }
        false
    }

    /// Replace the static regularization: eps (less on some x columns, see
    /// `static_reg_of_column`) times the expected pivot sign.
    fn set_static_reg(&mut self, eps: f64) {
        let s = &self.symbolic;
        for (j, (&pos, &sign)) in s.diag.iter().zip(&s.signs).enumerate() {
            let new = if j < s.n { static_reg_of_column(eps, self.curvature[j]) } else { eps };
            self.values[pos] += f64::from(sign) * (new - self.static_reg[j]);
            self.static_reg[j] = new;
        }
    }

    /// Factor the KKT system of the equality-constrained QP used by polishing:
    /// rows with `active[i]` keep their A row and get H = 0 (an equality), the
    /// others get a zero A row and H = 1, which forces z_i = 0.  Only for diagonal
    /// cone blocks (zero and nonnegative cones).
    pub fn factor_polish(&mut self, p_values: &[f64], a_values: &[f64], active: &[bool], settings: &KktSettings) -> bool {
        self.set_data(p_values, a_values);
        let s = Arc::clone(&self.symbolic);
        let n = s.n;
        for i in 0..s.m {
            if !active[i] {
                self.values[s.diag[n + i]] = -1.0;
            }
        }
        for i in 0..s.m {
            if active[i] {
                continue;
            }
            let col = n + i;
            for k in s.col_ptr[col]..s.col_ptr[col + 1] {
                if s.row_idx[k] < n {
                    self.values[k] = 0.0;
                }
            }
        }
        self.reg_delta = settings.dynamic_reg_delta;
        self.reg_eps = settings.dynamic_reg_eps;
        self.refine = true;
        self.factor_with_retries(settings.static_reg_constant)
    }

    fn factor(&mut self) -> bool {
        let s = &self.symbolic;
        let dim = s.dim;
        let ok = match (&mut self.factor, &s.plan) {
            (Factor::Dense(f), _) => f.factor(&self.values, self.reg_delta, self.reg_eps),
            (Factor::Simplicial(f), _) => f.factor(&self.values, self.reg_delta, self.reg_eps),
            (Factor::Sparse { l_values, mem }, FactorPlan::Supernodal(symbolic)) => {
                let mat = SparseColMatRef::new(
                    SymbolicSparseColMatRef::new_checked(dim, dim, &s.col_ptr, None, &s.row_idx),
                    &self.values,
                );
                let reg = LdltRegularization {
                    dynamic_regularization_signs: Some(&s.signs),
                    dynamic_regularization_delta: self.reg_delta,
                    dynamic_regularization_epsilon: self.reg_eps,
                };
                let result = symbolic.factorize_numeric_ldlt(
                    l_values,
                    mat,
                    Side::Upper,
                    reg,
                    Par::Seq,
                    MemStack::new(mem),
                    Default::default(),
                );
                if let Err(e) = &result {
                    tracing::debug!(error = ?e, "faer LDLT error");
                }
                result.is_ok() && l_values.iter().all(|v| v.is_finite())
            }
            (Factor::Sparse { .. }, _) => unreachable!("supernodal factor without its symbolic factorization"),
        };
        if !ok {
            tracing::debug!(
                dense = s.is_dense(),
                values_finite = self.values.iter().all(|v| v.is_finite()),
                max_abs_value = self.values.iter().fold(0.0f64, |a, v| a.max(v.abs())),
                "LDLT factorization failed"
            );
        }
        ok
    }

    fn solve_factored(&mut self, x: &mut [f64]) {
        let s = &self.symbolic;
        match (&mut self.factor, &s.plan) {
            (Factor::Dense(f), _) => f.solve_in_place(x),
            (Factor::Simplicial(f), _) => f.solve_in_place(x),
            (Factor::Sparse { l_values, mem }, FactorPlan::Supernodal(symbolic)) => {
                let ldlt = LdltRef::new(symbolic, l_values);
                let len = x.len();
                let rhs = MatMut::from_column_major_slice_mut(x, len, 1);
                ldlt.solve_in_place_with_conj(Conj::No, rhs, Par::Seq, MemStack::new(mem));
            }
            (Factor::Sparse { .. }, _) => unreachable!("supernodal factor without its symbolic factorization"),
        }
    }

    /// y = K x with the unregularized K (true P, A and -H).
    ///
    /// Every column of the upper triangle ends with its diagonal entry (`build`),
    /// so the loop needs no test for it; it runs once per refinement round, a third
    /// of a small problem's solve time, hence the unchecked indexing: `build` checks
    /// `row_idx[k] < dim` (faer's `new_checked`) and `values`, `x`, `y` have the
    /// lengths asserted here.
    fn mul_unregularized(&self, y: &mut [f64], x: &[f64]) {
        let s = &self.symbolic;
        let dim = s.dim;
        assert!(x.len() == dim && y.len() == dim && s.col_ptr.len() == dim + 1);
        assert!(self.values.len() == s.row_idx.len() && s.col_ptr[dim] == s.row_idx.len());
        y.fill(0.0);
        let (rows, vals) = (&s.row_idx[..], &self.values[..]);
        for c in 0..dim {
            // SAFETY: c < dim; col_ptr is nondecreasing with col_ptr[dim] = nnz, and
            // every row index is < dim (see above).
            unsafe {
                let (start, diag) = (*s.col_ptr.get_unchecked(c), *s.col_ptr.get_unchecked(c + 1) - 1);
                let xc = *x.get_unchecked(c);
                for k in start..diag {
                    let r = *rows.get_unchecked(k);
                    let v = *vals.get_unchecked(k);
                    *y.get_unchecked_mut(r) += v * xc;
                    *y.get_unchecked_mut(c) += v * x.get_unchecked(r);
                }
                *y.get_unchecked_mut(c) += vals.get_unchecked(diag) * xc;
            }
        }
        for (j, &sign) in s.signs.iter().enumerate() {
            y[j] -= f64::from(sign) * self.static_reg[j] * x[j];
        }
    }

    /// Solve K [x; z] = rhs for rhs and solution of length n + m (the extra
    /// columns of expanded cones have a zero right-hand side).
    pub fn solve(&mut self, rhs: &[f64], x: &mut [f64], settings: &KktSettings) {
        let nm = rhs.len();
        let mut b = std::mem::take(&mut self.work_b);
        let mut sol = std::mem::take(&mut self.work_x);
        b[..nm].copy_from_slice(rhs);
        b[nm..].fill(0.0);
        let residual = self.solve_full(&b, &mut sol, settings);
        let norm_rhs = rhs.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let broken = residual.is_nan() || residual > BROKEN_FACTOR_RESIDUAL * norm_rhs.max(1.0);
        if broken || !sol.iter().all(|v| v.is_finite()) {
            // A factor whose tiny pivots passed the dynamic check (dense, badly scaled
            // cone blocks near convergence, e.g. PSD) can solve to NaN or to garbage
            // that refinement cannot repair: refactor with more static regularization
            // (refinement against the unregularized K recovers the accuracy) and solve again.
            // (the regular eps is the largest entry: curvature columns only get less)
            let current = self.static_reg.iter().fold(0.0f64, |a, &v| a.max(v));
            let eps = (100.0 * current).max(settings.static_reg_constant);
            tracing::debug!(eps, residual, "KKT solve failed; refactoring with more static regularization");
            if self.factor_with_retries(eps) {
                self.solve_full(&b, &mut sol, settings);
            }
        }
        x.copy_from_slice(&sol[..nm]);
        self.work_b = b;
        self.work_x = sol;
    }

    /// Solve K x = rhs in the full dimension, with iterative refinement against
    /// the unregularized K.  Returns the final residual norm (0 without refinement).
    fn solve_full(&mut self, rhs: &[f64], x: &mut [f64], settings: &KktSettings) -> f64 {
        x.copy_from_slice(rhs);
        self.solve_factored(x);
        if !self.refine {
            return 0.0;
        }
        let norm_rhs = rhs.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let tol = settings.refine_abstol + settings.refine_reltol * norm_rhs;
        let mut res = std::mem::take(&mut self.work_res);
        let mut corr = std::mem::take(&mut self.work_sol);
        let mut tmp = std::mem::take(&mut self.work_rhs);
        self.mul_unregularized(&mut tmp, x);
        let mut norm_e = 0.0f64;
        for ((r, &b), &kx) in res.iter_mut().zip(rhs).zip(tmp.iter()) {
            *r = b - kx;
            norm_e = norm_e.max(r.abs());
        }
        for _ in 0..settings.refine_max_iter {
            if norm_e <= tol {
                break;
            }
            corr.copy_from_slice(&res);
            self.solve_factored(&mut corr);
            for ((t, &xi), &ci) in tmp.iter_mut().zip(x.iter()).zip(corr.iter()) {
                *t = xi + ci;
            }
            self.mul_unregularized(&mut corr, &tmp);
            let mut norm_new = 0.0f64;
            for (c, &b) in corr.iter_mut().zip(rhs) {
                *c = b - *c;
                norm_new = norm_new.max(c.abs());
            }
            tracing::trace!(norm_e, norm_new, "refinement step");
            if norm_new >= norm_e {
                break; // no improvement: keep the current x
            }
            x.copy_from_slice(&tmp);
            std::mem::swap(&mut res, &mut corr);
            let ratio = norm_e / norm_new;
            norm_e = norm_new;
            if ratio < settings.refine_stop_ratio {
                break; // slow progress: not worth another round
            }
        }
        tracing::trace!(residual = norm_e, tol, "KKT refinement");
        self.work_res = res;
        self.work_sol = corr;
        self.work_rhs = tmp;
        norm_e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cones::ScalingStrategy;
    use crate::problem::{ConeSpec, CsrPattern};

    fn settings() -> KktSettings {
        KktSettings {
            static_reg_constant: 1e-8,
            static_reg_proportional: f64::EPSILON * f64::EPSILON,
            dynamic_reg_eps: 1e-13,
            dynamic_reg_delta: 2e-7,
            refine_enable: true,
            refine_reltol: 1e-13,
            refine_abstol: 1e-12,
            refine_max_iter: 10,
            refine_stop_ratio: 2.0,
        }
    }

    /// BOYD1 in miniature: a diagonal P whose (equilibrated) entries lie far below
    /// the regularization eps = 1e-8, one dense equality row, and bounds x >= l
    /// that are inactive (H = s/z = 1e12, so they add only 1e-12 to the x pivots).
    /// With eps on those columns refinement gains only eps / (P_jj + eps) ~ 0.99 per
    /// round and stops far from the solution; with eps_j = 1e-2 P_jj it converges.
    #[test]
    fn refinement_converges_where_p_is_far_below_eps() {
        let n = 4;
        let diag = |k: usize| CsrPattern { nrows: k, ncols: n, indptr: (0..=k).collect(), indices: (0..k).collect() };
        let p = diag(n);
        let mut a = CsrPattern { nrows: 1 + n, ncols: n, indptr: vec![0, n], indices: (0..n).collect() };
        for j in 0..n {
            a.indptr.push(n + j + 1);
            a.indices.push(j);
        }
        let pattern =
            ProblemPattern::new(p, a, ConeSpec { zero: 1, nonneg: n, ..Default::default() }).unwrap();
        let mut cones = pattern.cones.build();
        for (cone, r) in cones.iter_mut() {
            let s = vec![1.0; r.len()];
            let z = vec![1e-12; r.len()];
            assert!(cone.update_scaling(&s, &z, 1.0, ScalingStrategy::PrimalDual));
        }
        let sym = Arc::new(KktSymbolic::new(&pattern, &cones, DirectSolveMethod::Auto, false).unwrap());
        let p_values = [1e-10, 3e-10, 2e-9, 1.0];
        let a_values = [1.0, 0.5, -0.7, 0.3, -1.0, -1.0, -1.0, -1.0];
        let m = 1 + n;
        let rhs: Vec<f64> = (0..n + m).map(|i| 1.0 + 0.1 * i as f64).collect();
        // Relative residual of the refined solve; `uniform`: eps on every column.
        let solve = |uniform: bool| -> (f64, KktSystem) {
            let mut kkt = KktSystem::new(Arc::clone(&sym));
            kkt.set_data(&p_values, &a_values);
            if uniform {
                kkt.curvature.fill(0.0);
            }
            assert!(kkt.update_and_factor(&cones, &settings()));
            let mut x = vec![0.0; n + m];
            kkt.solve(&rhs, &mut x, &settings());
            let mut kx = vec![0.0; n + m];
            kkt.mul_unregularized(&mut kx, &x);
            let res = rhs.iter().zip(&kx).map(|(b, y)| (b - y).abs()).fold(0.0, f64::max);
            let scale = x.iter().chain(&rhs).fold(0.0f64, |acc, v| acc.max(v.abs()));
            (res / scale, kkt)
        };
        let (res, kkt) = solve(false);
        // The well-scaled column keeps eps; the others get 1e-2 P_jj.
        assert!((kkt.static_reg[3] - 1e-8).abs() < 1e-15);
        assert!((kkt.static_reg[0] - 1e-12).abs() < 1e-20);
        assert!(res < 1e-14, "relative KKT residual {res:e}");
        let (res_uniform, _) = solve(true);
        assert!(res_uniform > 1e3 * res, "uniform eps: {res_uniform:e} vs {res:e}");
    }

    #[test]
    fn column_regularization_rule() {
        let eps = 1e-8;
        assert_eq!(static_reg_of_column(eps, 0.0), eps); // no curvature: regular eps
        assert_eq!(static_reg_of_column(eps, 1.0), eps); // well scaled: unchanged
        assert!((static_reg_of_column(eps, 1e-9) - 1e-11).abs() < 1e-24);
        assert_eq!(static_reg_of_column(eps, 1e-20), 1e-4 * eps); // floor
    }
}
