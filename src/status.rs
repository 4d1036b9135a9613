//! Solver statuses, with the integer codes of Moreau's `SolverStatus`.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum SolverStatus {
    Unsolved = 0,
    Solved = 1,
    PrimalInfeasible = 2,
    DualInfeasible = 3,
    AlmostSolved = 4,
    AlmostPrimalInfeasible = 5,
    AlmostDualInfeasible = 6,
    MaxIterations = 7,
    MaxTime = 8,
    NumericalError = 9,
    InsufficientProgress = 10,
}

impl SolverStatus {
    pub fn code(self) -> i64 {
        self as i64
    }
    /// Whether x, z, s are an (approximate) optimal solution.
    pub fn is_solved(self) -> bool {
        matches!(self, SolverStatus::Solved | SolverStatus::AlmostSolved)
    }
}
