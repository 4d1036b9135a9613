//! Solver settings, with Moreau's names and defaults.

use crate::error::SolverError;

/// Which sparse LDL^T factorization the KKT solver uses on CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectSolveMethod {
    /// Dense when small and mostly full (`kkt_dense::prefer_dense`), else
    /// simplicial or supernodal by faer's symbolic flop count.
    Auto,
    /// Simplicial (row by row) LDL^T with a precomputed pattern, like QDLDL
    /// (`kkt_simplicial`): best for very sparse KKTs.
    Qdldl,
    /// faer's supernodal LDL^T: best when the factor has dense blocks.
    Faer,
    /// Dense LDL^T of the whole KKT matrix (AMD order): fastest for small
    /// systems with a mostly full factor; "auto" picks it up to
    /// `kkt_dense::DENSE_AUTO_MAX_DIM`.
    Dense,
}

/// Which algorithm solves a problem (Moreau's `Settings.solver`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The active-set method where `active_set::auto_prefers` the pattern (small
    /// QPs with zero and nonnegative cones only), else the interior-point method.
    Auto,
    /// The interior-point method (`ipm`).
    Ipm,
    /// The dual active-set method (`active_set`) on every element it applies to;
    /// an element it cannot finish (P not positive definite, infeasible, ...) is
    /// solved by the interior-point method.
    ActiveSet,
}

impl Algorithm {
    pub fn parse(name: &str) -> Result<Self, SolverError> {
        match name {
            "auto" => Ok(Self::Auto),
            "ipm" => Ok(Self::Ipm),
            "active_set" => Ok(Self::ActiveSet),
            _ => Err(SolverError::Settings(format!(
                "unknown solver {name:?}; expected \"auto\", \"ipm\" or \"active_set\""
            ))),
        }
    }
}

impl DirectSolveMethod {
    pub fn parse(name: &str) -> Result<Self, SolverError> {
        match name {
            "auto" => Ok(Self::Auto),
            "qdldl" => Ok(Self::Qdldl),
            "faer" => Ok(Self::Faer),
            "dense" => Ok(Self::Dense),
            "cudss" | "cudss_ldlt" | "cudss_lu" | "cudss_cholesky" | "mixed" => Err(SolverError::Settings(format!(
                "direct_solve_method={name:?} needs a CUDA GPU, which is not available on the CPU backend; \
                 use \"auto\", \"dense\", \"qdldl\" or \"faer\""
            ))),
            _ => Err(SolverError::Settings(format!(
                "unknown direct_solve_method {name:?}; expected \"auto\", \"dense\", \"qdldl\" or \"faer\""
            ))),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub solver: Algorithm,
    /// Iteration cap of the active-set method (Moreau's ActiveSetSettings.iter_limit).
    pub active_set_iter_limit: usize,
    pub max_iter: usize,
    /// Seconds; infinity means no limit.
    pub time_limit: f64,
    pub verbose: bool,
    pub tol_gap_abs: f64,
    pub tol_gap_rel: f64,
    pub tol_feas: f64,
    pub tol_infeas_abs: f64,
    pub tol_infeas_rel: f64,
    pub tol_ktratio: f64,
    pub reduced_tol_gap_abs: f64,
    pub reduced_tol_gap_rel: f64,
    pub reduced_tol_feas: f64,
    pub reduced_tol_infeas_abs: f64,
    pub reduced_tol_infeas_rel: f64,
    pub reduced_tol_ktratio: f64,
    pub max_step_fraction: f64,
    pub equilibrate_enable: bool,
    pub equilibrate_max_iter: usize,
    pub equilibrate_min_scaling: f64,
    pub equilibrate_max_scaling: f64,
    pub direct_solve_method: DirectSolveMethod,
    pub static_regularization_constant: f64,
    pub static_regularization_proportional: f64,
    pub dynamic_regularization_eps: f64,
    pub dynamic_regularization_delta: f64,
    pub iterative_refinement_enable: bool,
    pub iterative_refinement_reltol: f64,
    pub iterative_refinement_abstol: f64,
    pub iterative_refinement_max_iter: usize,
    pub iterative_refinement_stop_ratio: f64,
    /// Steps shorter than this end the solve (InsufficientProgress or Almost*).
    pub min_terminate_step_length: f64,
    /// Threads for batch solves; 0 means rayon's default (all cores).
    pub num_threads: usize,
    /// Keep what the derivative kernels need after a solve.
    pub enable_grad: bool,
    /// Refine LP/QP solutions on their active set (see `ipm::polish`).
    pub polish_enable: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            solver: Algorithm::Auto,
            active_set_iter_limit: 10_000,
            max_iter: 200,
            time_limit: f64::INFINITY,
            verbose: false,
            tol_gap_abs: 1e-8,
            tol_gap_rel: 1e-8,
            tol_feas: 1e-8,
            tol_infeas_abs: 1e-8,
            tol_infeas_rel: 1e-8,
            tol_ktratio: 1e-6,
            reduced_tol_gap_abs: 5e-5,
            reduced_tol_gap_rel: 5e-5,
            reduced_tol_feas: 1e-4,
            reduced_tol_infeas_abs: 5e-12,
            reduced_tol_infeas_rel: 5e-5,
            reduced_tol_ktratio: 1e-4,
            max_step_fraction: 0.99,
            equilibrate_enable: true,
            equilibrate_max_iter: 10,
            equilibrate_min_scaling: 1e-4,
            equilibrate_max_scaling: 1e4,
            direct_solve_method: DirectSolveMethod::Auto,
            static_regularization_constant: 1e-8,
            static_regularization_proportional: f64::EPSILON * f64::EPSILON,
            dynamic_regularization_eps: 1e-13,
            dynamic_regularization_delta: 2e-7,
            iterative_refinement_enable: true,
            iterative_refinement_reltol: 1e-13,
            iterative_refinement_abstol: 1e-12,
            iterative_refinement_max_iter: 10,
            // Clarabel uses 5; near convergence with exp/pow cones the static
            // regularization makes each round gain only 2-3x, and stopping early
            // there leaves a Newton direction too inaccurate to finish.
            iterative_refinement_stop_ratio: 2.0,
            min_terminate_step_length: 1e-4,
            num_threads: 0,
            enable_grad: false,
            polish_enable: true,
        }
    }
}

/// A setting value as it arrives from Python.
#[derive(Clone, Debug)]
pub enum SettingValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl SettingValue {
    fn as_f64(&self, key: &str) -> Result<f64, SolverError> {
        match self {
            SettingValue::Float(v) => Ok(*v),
            SettingValue::Int(v) => Ok(*v as f64),
            _ => Err(SolverError::Settings(format!("setting {key} must be a number"))),
        }
    }
    fn as_usize(&self, key: &str) -> Result<usize, SolverError> {
        match self {
            SettingValue::Int(v) if *v >= 0 => Ok(*v as usize),
            SettingValue::Float(v) if *v >= 0.0 && v.fract() == 0.0 => Ok(*v as usize),
            _ => Err(SolverError::Settings(format!("setting {key} must be a non-negative integer"))),
        }
    }
    fn as_bool(&self, key: &str) -> Result<bool, SolverError> {
        match self {
            SettingValue::Bool(v) => Ok(*v),
            SettingValue::Int(v) if *v == 0 || *v == 1 => Ok(*v == 1),
            _ => Err(SolverError::Settings(format!("setting {key} must be a bool"))),
        }
    }
}

impl Settings {
    /// Set one named field, validating its value.
    pub fn set(&mut self, key: &str, value: &SettingValue) -> Result<(), SolverError> {
        fn positive(key: &str, v: f64) -> Result<f64, SolverError> {
            if v > 0.0 && !v.is_nan() {
                Ok(v)
            } else {
                Err(SolverError::Settings(format!("setting {key} must be > 0, got {v}")))
            }
        }
        match key {
            "solver" => match value {
                SettingValue::Str(s) => self.solver = Algorithm::parse(s)?,
                _ => return Err(SolverError::Settings("solver must be a string".into())),
            },
            "active_set_iter_limit" => self.active_set_iter_limit = value.as_usize(key)?,
            "max_iter" => self.max_iter = value.as_usize(key)?,
            "time_limit" => self.time_limit = positive(key, value.as_f64(key)?)?,
            "verbose" => self.verbose = value.as_bool(key)?,
            "tol_gap_abs" => self.tol_gap_abs = positive(key, value.as_f64(key)?)?,
            "tol_gap_rel" => self.tol_gap_rel = positive(key, value.as_f64(key)?)?,
            "tol_feas" => self.tol_feas = positive(key, value.as_f64(key)?)?,
            "tol_infeas_abs" => self.tol_infeas_abs = positive(key, value.as_f64(key)?)?,
            "tol_infeas_rel" => self.tol_infeas_rel = positive(key, value.as_f64(key)?)?,
            "tol_ktratio" => self.tol_ktratio = positive(key, value.as_f64(key)?)?,
            "reduced_tol_gap_abs" => self.reduced_tol_gap_abs = positive(key, value.as_f64(key)?)?,
            "reduced_tol_gap_rel" => self.reduced_tol_gap_rel = positive(key, value.as_f64(key)?)?,
            "reduced_tol_feas" => self.reduced_tol_feas = positive(key, value.as_f64(key)?)?,
            "reduced_tol_infeas_abs" => self.reduced_tol_infeas_abs = positive(key, value.as_f64(key)?)?,
            "reduced_tol_infeas_rel" => self.reduced_tol_infeas_rel = positive(key, value.as_f64(key)?)?,
            "reduced_tol_ktratio" => self.reduced_tol_ktratio = positive(key, value.as_f64(key)?)?,
            "max_step_fraction" => {
                let v = value.as_f64(key)?;
                if !(v > 0.0 && v <= 1.0) {
                    return Err(SolverError::Settings(format!("max_step_fraction must be in (0, 1], got {v}")));
                }
                self.max_step_fraction = v;
            }
            "equilibrate_enable" => self.equilibrate_enable = value.as_bool(key)?,
            "equilibrate_max_iter" => self.equilibrate_max_iter = value.as_usize(key)?,
            "equilibrate_min_scaling" => self.equilibrate_min_scaling = positive(key, value.as_f64(key)?)?,
            "equilibrate_max_scaling" => self.equilibrate_max_scaling = positive(key, value.as_f64(key)?)?,
            "direct_solve_method" => match value {
                SettingValue::Str(s) => self.direct_solve_method = DirectSolveMethod::parse(s)?,
                _ => return Err(SolverError::Settings("direct_solve_method must be a string".into())),
            },
            "static_regularization_constant" => {
                self.static_regularization_constant = positive(key, value.as_f64(key)?)?
            }
            "dynamic_regularization_eps" => self.dynamic_regularization_eps = positive(key, value.as_f64(key)?)?,
            "dynamic_regularization_delta" => {
                self.dynamic_regularization_delta = positive(key, value.as_f64(key)?)?
            }
            "iterative_refinement_enable" => self.iterative_refinement_enable = value.as_bool(key)?,
            "num_threads" => self.num_threads = value.as_usize(key)?,
            "enable_grad" => self.enable_grad = value.as_bool(key)?,
            "polish_enable" => self.polish_enable = value.as_bool(key)?,
            _ => return Err(SolverError::Settings(format!("unknown setting {key:?}"))),
        }
        Ok(())
    }
}
