//! A problem family (one sparsity pattern) and its batched, parallel solve.
//!
//! `Family` holds what is shared by all solves: the validated pattern and the
//! symbolic KKT factorization (ordering computed once).  `solve_batch` runs the
//! elements on rayon threads, each thread reusing one `Workspace`; workspaces
//! go back to a pool in the `Family` after a call, so repeated calls (a training
//! loop) allocate no KKT memory either.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rayon::prelude::*;

use crate::absent;
use crate::active_set;
use crate::equilibrate::{self, RuizScaling};
use crate::error::SolverError;
use crate::ipm::{self, ProblemValues, SolveResult, WarmStart, Workspace};
use crate::kkt::KktSymbolic;
use crate::problem::{check_finite, check_p_symmetric, ProblemPattern};
use crate::settings::{Algorithm, DirectSolveMethod, Settings};
use crate::status::SolverStatus;

pub struct Family {
    pub pattern: ProblemPattern,
    pub symbolic: Arc<KktSymbolic>,
    /// Only when `symbolic` expands large second-order cones: the all-dense KKT
    /// layout, built on first use by `solve_one`'s fallback.
    dense_symbolic: OnceLock<Result<Arc<KktSymbolic>, SolverError>>,
    method: DirectSolveMethod,
    /// Seconds spent on the symbolic analysis.
    pub setup_time: f64,
    /// Pattern and symbolic LU of the derivative system, built on first use.
    pub deriv: OnceLock<crate::derivatives::DerivSymbolic>,
    /// Whether the active-set method takes the pattern's cones
    /// (`active_set::unsupported_cones`) and whether "auto" picks it (`active_set::auto_prefers`).
    active_set_applies: bool,
    active_set_auto: bool,
    /// Idle solve workspaces (for `symbolic`), reused across calls and threads.
    pool: Mutex<Vec<ElementWorkspace>>,
}

/// The memory one thread needs to solve elements: the interior-point method's and
/// the active-set method's.
pub struct ElementWorkspace {
    ipm: Workspace,
    active_set: active_set::Workspace,
}

/// A workspace borrowed from a family's pool; returned to it on drop.
struct PooledWorkspace<'f> {
    family: &'f Family,
    ws: Option<ElementWorkspace>,
}

impl std::ops::Deref for PooledWorkspace<'_> {
    type Target = ElementWorkspace;
    fn deref(&self) -> &ElementWorkspace {
        self.ws.as_ref().expect("workspace present until drop")
    }
}

impl std::ops::DerefMut for PooledWorkspace<'_> {
    fn deref_mut(&mut self) -> &mut ElementWorkspace {
        self.ws.as_mut().expect("workspace present until drop")
    }
}

impl Drop for PooledWorkspace<'_> {
    fn drop(&mut self) {
        if let Some(ws) = self.ws.take() {
            self.family.pool.lock().unwrap_or_else(|e| e.into_inner()).push(ws);
        }
    }
}

/// Batched inputs.  P and A are either shared (one row) or one row per element.
pub struct BatchValues<'a> {
    pub batch: usize,
    pub p: &'a [f64],
    pub p_rows: usize,
    pub a: &'a [f64],
    pub a_rows: usize,
    pub q: &'a [f64],
    pub b: &'a [f64],
    pub warm: Option<(&'a [f64], &'a [f64], &'a [f64])>,
}

impl Family {
    pub fn new(pattern: ProblemPattern, settings: &Settings) -> Result<Self, SolverError> {
        let start = Instant::now();
        let cones = pattern.cones.build();
        let method = settings.direct_solve_method;
        let symbolic = Arc::new(KktSymbolic::new(&pattern, &cones, method, true)?);
        let unsupported = active_set::unsupported_cones(&pattern);
        if let (Algorithm::ActiveSet, Some(cones)) = (settings.solver, &unsupported) {
            return Err(SolverError::Settings(format!(
                "solver='active_set' handles zero and nonnegative cones only; this problem has {cones}. \
                 Use solver='ipm' or solver='auto'."
            )));
        }
        let (active_set_applies, active_set_auto) = (unsupported.is_none(), active_set::auto_prefers(&pattern));
        Ok(Family {
            pattern,
            symbolic,
            dense_symbolic: OnceLock::new(),
            method,
            setup_time: start.elapsed().as_secs_f64(),
            deriv: OnceLock::new(),
            active_set_applies,
            active_set_auto,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// An idle workspace from the pool, or a new one.
    fn workspace(&self) -> PooledWorkspace<'_> {
        let ws = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let ws = ws.unwrap_or_else(|| ElementWorkspace {
            ipm: Workspace::new(&self.pattern, &self.symbolic),
            active_set: active_set::Workspace::default(),
        });
        PooledWorkspace { family: self, ws: Some(ws) }
    }

    /// Solve one element (`p_factor`: the active-set method's factor of this
    /// element's P, when a batch shares P).  Absent rows (`b_i = +inf` on a nonnegative row) are
    /// solved neutralized and reported with z_i = 0, s_i = +inf (`absent`).
    pub fn solve_one(
        &self,
        settings: &Settings,
        values: ProblemValues<'_>,
        warm: Option<WarmStart<'_>>,
        p_factor: Option<&active_set::PFactor>,
        ws: &mut ElementWorkspace,
    ) -> SolveResult {
        let rows = absent::absent_rows_or_empty(&self.pattern.cones, values.b);
        if rows.is_empty() {
            return self.solve_finite(settings, values, warm, p_factor, ws);
        }
        let (a, b) = absent::neutralize(&self.pattern, values.a, values.b, &rows);
        let warm_zs = warm.map(|w| absent::neutral_point(w.z, w.s, &rows));
        let warm = warm.zip(warm_zs.as_ref()).map(|(w, (z, s))| WarmStart { x: w.x, z, s });
        // A changed: a shared Ruiz scaling no longer applies
        let values = ProblemValues { p: values.p, a: &a, q: values.q, b: &b, ruiz: None };
        let mut res = self.solve_finite(settings, values, warm, p_factor, ws);
        absent::report(&mut res.z, &mut res.s, &rows);
        res
    }

    /// Whether `settings.solver` sends elements to the active-set method first.
    pub fn uses_active_set(&self, settings: &Settings) -> bool {
        match settings.solver {
            Algorithm::Ipm => false,
            Algorithm::ActiveSet => self.active_set_applies,
            Algorithm::Auto => self.active_set_auto,
        }
    }

    /// Solve one element with finite b: by the active-set method when the settings
    /// ask for it and it finishes (`active_set::solve` checks its solution with the
    /// interior-point method's optimality test), else by the interior-point method.
    fn solve_finite(
        &self,
        settings: &Settings,
        values: ProblemValues<'_>,
        warm: Option<WarmStart<'_>>,
        p_factor: Option<&active_set::PFactor>,
        ws: &mut ElementWorkspace,
    ) -> SolveResult {
        let mut spent = 0.0;
        if self.uses_active_set(settings) {
            let start = Instant::now();
            let outcome = active_set::solve(&self.pattern, settings, values, p_factor, &mut ws.active_set);
            active_set::count_solve(outcome.is_ok());
            match outcome {
                Ok(result) => return result,
                Err(why) => tracing::debug!(?why, "active set: element handed to the interior-point method"),
            }
            spent = start.elapsed().as_secs_f64();
        }
        let mut result = self.solve_ipm(settings, values, warm, &mut ws.ipm);
        result.solve_time += spent;
        result
    }

    /// Solve one element with finite b by the interior-point method.  The sparse expansion of large second-order cones loses
    /// accuracy when the scaling is extreme (late iterations, diverging iterates
    /// of infeasible problems), so an inconclusive outcome is retried with dense
    /// H blocks, whose factorization is backward stable.
    fn solve_ipm(
        &self,
        settings: &Settings,
        values: ProblemValues<'_>,
        warm: Option<WarmStart<'_>>,
        ws: &mut Workspace,
    ) -> SolveResult {
        let first = ipm::solve(&self.pattern, settings, values, warm, ws);
        let conclusive = matches!(
            first.status,
            SolverStatus::Solved | SolverStatus::PrimalInfeasible | SolverStatus::DualInfeasible | SolverStatus::MaxTime
        );
        if conclusive || !self.symbolic.has_expanded_cones() {
            return first;
        }
        let dense = self.dense_symbolic.get_or_init(|| {
            let cones = self.pattern.cones.build();
            KktSymbolic::new(&self.pattern, &cones, self.method, false).map(Arc::new)
        });
        let Ok(dense) = dense else { return first };
        tracing::debug!(status = ?first.status, "retrying with dense second-order cone blocks");
        let mut dense_ws = Workspace::new(&self.pattern, dense);
        let mut second = ipm::solve(&self.pattern, settings, values, warm, &mut dense_ws);
        second.solve_time += first.solve_time;
        second.iterations += first.iterations;
        second
    }

    /// Check shapes and values of a batch before solving anything.
    pub fn validate(&self, v: &BatchValues<'_>) -> Result<(), SolverError> {
        let (n, m) = (self.pattern.n, self.pattern.m);
        let (np, na) = (self.pattern.p.nnz(), self.pattern.a.nnz());
        let shape_err = |what: &str, got: usize, want: String| {
            Err(SolverError::Data(format!("{what} has {got} values, expected {want}")))
        };
        if v.p_rows != 1 && v.p_rows != v.batch {
            return Err(SolverError::Data(format!(
                "P_values has batch size {} but the batch has {} problems (use 1 to share P)",
                v.p_rows, v.batch
            )));
        }
        if v.a_rows != 1 && v.a_rows != v.batch {
            return Err(SolverError::Data(format!(
                "A_values has batch size {} but the batch has {} problems (use 1 to share A)",
                v.a_rows, v.batch
            )));
        }
        if v.p.len() != v.p_rows * np {
            return shape_err("P_values", v.p.len(), format!("{} x nnz(P) = {} x {np}", v.p_rows, v.p_rows));
        }
        if v.a.len() != v.a_rows * na {
            return shape_err("A_values", v.a.len(), format!("{} x nnz(A) = {} x {na}", v.a_rows, v.a_rows));
        }
        if v.q.len() != v.batch * n {
            return shape_err("q", v.q.len(), format!("batch x n = {} x {n}", v.batch));
        }
        if v.b.len() != v.batch * m {
            return shape_err("b", v.b.len(), format!("batch x m = {} x {m}", v.batch));
        }
        check_finite("P_values", v.p)?;
        check_finite("A_values", v.a)?;
        check_finite("q", v.q)?;
        // b may hold +inf on nonnegative rows (absent bounds); other infinities are errors.
        for (k, b) in v.b.chunks_exact(m.max(1)).enumerate() {
            if b.iter().any(|x| !x.is_finite()) {
                let what = if v.batch == 1 { "b".to_string() } else { format!("b of element {k}") };
                absent::absent_rows(&self.pattern.cones, b, &what)?;
            }
        }
        for k in 0..v.p_rows {
            check_p_symmetric(&self.pattern, &v.p[k * np..(k + 1) * np])?;
        }
        if let Some((x, z, s)) = v.warm {
            if x.len() != v.batch * n || z.len() != v.batch * m || s.len() != v.batch * m {
                return Err(SolverError::Data(format!(
                    "warm start must have shapes (batch, n), (batch, m), (batch, m) = ({}, {n}), ({}, {m}), ({}, {m})",
                    v.batch, v.batch, v.batch
                )));
            }
            check_finite("warm start x", x)?;
            check_finite("warm start z", z)?;
            // s of a previous solution is +inf on absent rows
            for k in 0..v.batch {
                let r = k * m..(k + 1) * m;
                if !absent::slack_ok(&self.pattern.cones, &s[r.clone()], &v.b[r]) {
                    check_finite("warm start s", &s[k * m..(k + 1) * m])?;
                }
            }
        }
        Ok(())
    }

    fn element<'a>(
        &self,
        v: &BatchValues<'a>,
        k: usize,
        shared_ruiz: Option<&'a RuizScaling>,
    ) -> (ProblemValues<'a>, Option<WarmStart<'a>>) {
        let (n, m) = (self.pattern.n, self.pattern.m);
        let (p, a) = self.element_matrices(v, k);
        let values = ProblemValues {
            p,
            a,
            q: &v.q[k * n..(k + 1) * n],
            b: &v.b[k * m..(k + 1) * m],
            ruiz: shared_ruiz,
        };
        let warm = v.warm.map(|(x, z, s)| WarmStart {
            x: &x[k * n..(k + 1) * n],
            z: &z[k * m..(k + 1) * m],
            s: &s[k * m..(k + 1) * m],
        });
        (values, warm)
    }

    /// P and A values of element k (row 0 when shared by the batch).
    pub fn element_matrices<'a>(&self, v: &BatchValues<'a>, k: usize) -> (&'a [f64], &'a [f64]) {
        (
            batch_row(v.p, v.p_rows, k, self.pattern.p.nnz()),
            batch_row(v.a, v.a_rows, k, self.pattern.a.nnz()),
        )
    }

    /// Solve every element; element k's result is at index k.  Validates first.
    pub fn solve_batch(&self, v: &BatchValues<'_>, settings: &Settings) -> Result<Vec<SolveResult>, SolverError> {
        self.validate(v)?;
        // Elements sharing P and A share its Ruiz scaling (which depends on nothing else).
        let shared_ruiz = (v.batch > 1 && v.p_rows == 1 && v.a_rows == 1).then(|| {
            let cones = self.pattern.cones.build();
            equilibrate::ruiz(&self.pattern, &cones, settings, v.p, v.a)
        });
        let shared_ruiz = shared_ruiz.as_ref();
        // ... and the active-set method's factor of P
        let p_factor = (v.batch > 1 && v.p_rows == 1 && self.uses_active_set(settings))
            .then(|| active_set::PFactor::new(&self.pattern, v.p));
        let p_factor = p_factor.as_ref();
        if v.batch <= 1 {
            let mut ws = self.workspace();
            return Ok((0..v.batch)
                .map(|k| {
                    let (values, warm) = self.element(v, k, shared_ruiz);
                    self.solve_one(settings, values, warm, p_factor, &mut ws)
                })
                .collect());
        }
        in_thread_pool(settings, || {
            (0..v.batch)
                .into_par_iter()
                .map_init(
                    || self.workspace(),
                    |ws, k| {
                        let (values, warm) = self.element(v, k, shared_ruiz);
                        self.solve_one(settings, values, warm, p_factor, ws)
                    },
                )
                .collect()
        })
    }
}

/// Row k of a row-major batch of `width`-wide rows, or row 0 when `rows == 1`
/// (an operand shared by every element).
pub fn batch_row(values: &[f64], rows: usize, k: usize, width: usize) -> &[f64] {
    let k = if rows == 1 { 0 } else { k };
    &values[k * width..(k + 1) * width]
}

/// Run `op` on rayon threads: the global pool when `settings.num_threads` is 0,
/// else a pool of that many threads.
pub fn in_thread_pool<R: Send>(settings: &Settings, op: impl FnOnce() -> R + Send) -> Result<R, SolverError> {
    if settings.num_threads == 0 {
        return Ok(op());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.num_threads)
        .build()
        .map_err(|e| SolverError::Internal(format!("could not start thread pool: {e}")))?;
    Ok(pool.install(op))
}
