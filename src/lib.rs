//! moreau-jax: a differentiable conic interior-point solver.
//!
//! Solves `min 1/2 x'Px + q'x  s.t.  Ax + s = b, s in K` for K a product of zero,
//! nonnegative, second-order, exponential and power cones.  Module map:
//! - `problem`: CSR patterns, cone layout, validation;
//! - `canonical`: a caller's CSR / CSC / COO matrix -> canonical CSR + value map;
//! - `absent`: `b_i = +inf` on a nonnegative row (an absent bound);
//! - `cones`: per-cone barrier, scaling and step-length operations;
//! - `equilibrate`: Ruiz scaling of the data;
//! - `kkt`: the quasi-definite KKT system and its LDL^T factorizations
//!   (`kkt_simplicial`, `kkt_dense`, faer's supernodal);
//! - `ipm`: the predictor-corrector loop on the homogeneous embedding;
//! - `termination`: convergence, progress and best-iterate rules of that loop;
//! - `derivatives`: JVP/VJP of the solution map (residual map, cone projections);
//! - `batch`: a problem family (shared symbolic analysis) and parallel batches;
//! - `xla`: the XLA FFI custom calls (C++ handlers in ffi/, pattern registry);
//! - `python` (feature "python"): the pyo3 extension module.

pub mod absent;
pub mod active_set;
pub mod batch;
pub mod canonical;
pub mod cones;
pub mod derivatives;
pub mod equilibrate;
pub mod error;
pub mod ipm;
pub mod kkt;
pub mod kkt_dense;
pub mod kkt_simplicial;
pub mod linalg;
pub mod problem;
pub mod settings;
pub mod status;
mod termination;
pub mod xla;

#[cfg(feature = "python")]
mod python;

pub use batch::{BatchValues, Family};
pub use derivatives::{BatchCotangent, BatchGradOut, BatchSolution, BatchTangent, BatchTangentOut};
pub use error::SolverError;
pub use ipm::SolveResult;
pub use problem::{ConeSpec, CsrPattern, ProblemPattern};
pub use settings::Settings;
pub use status::SolverStatus;

/// mimalloc for every Rust allocation: a derivative pass makes a few dozen small
/// allocations per element, and glibc's malloc/free were a quarter of the time of
/// a tiny problem's solve + VJP (perf, benchmarks/rust/profile_seed.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
