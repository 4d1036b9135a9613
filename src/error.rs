//! Errors raised before a solve starts (bad input).  Problems that fail during the
//! solve are reported through `SolverStatus`, never as errors.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum SolverError {
    #[error("invalid problem data: {0}")]
    Data(String),
    #[error("invalid cones: {0}")]
    Cones(String),
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("internal error: {0}")]
    Internal(String),
}
