//! Termination and progress rules of the interior-point loop.
//!
//! Every iterate is measured on the user's (unscaled) problem (`Progress`); the loop
//! then asks, in this order (as Clarabel's `check_termination` / `post_process`):
//!
//! 1. Converged?  `classify` with the full tolerances: Solved (kappa/tau <= 1,
//!    both residuals < tol_feas, gap_abs < tol_gap_abs or gap_rel < tol_gap_rel),
//!    or a primal / dual infeasibility certificate.
//! 2. Did the last step go backwards?  `went_backwards` (below): if so the step is
//!    undone; with non-symmetric cones under the primal-dual scaling the loop
//!    retries from there with the dual scaling (Clarabel's
//!    `strategy_checkpoint_insufficient_progress`), otherwise the solve ends with
//!    InsufficientProgress.  (A step shorter than `min_terminate_step_length`
//!    ends it the same way.)
//! 3. Iteration / time limits: MaxIterations, MaxTime.
//!
//! A solve that ends without converging (InsufficientProgress, NumericalError,
//! MaxIterations, MaxTime) returns its best iterate: the last one if it meets the
//! reduced tolerances (`reduced_tol_*`, status Almost*), else the iterate of least
//! `merit` seen (`BestIterate`), Almost* if that one meets the reduced tolerances,
//! otherwise with the failure status unchanged.

use crate::status::SolverStatus;

/// Measures of one iterate on the unscaled problem.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Progress {
    pub pobj: f64,
    pub dobj: f64,
    pub res_primal: f64,
    pub res_dual: f64,
    pub gap_abs: f64,
    pub gap_rel: f64,
    pub ktratio: f64,
    /// Primal infeasibility: b'z and ||A'z|| for the normalized z direction.
    pub dot_bz: f64,
    pub res_primal_inf: f64,
    /// Dual infeasibility: q'x, ||Px|| and ||Ax + s|| for the normalized x direction.
    pub dot_qx: f64,
    pub res_dual_inf: f64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Tolerances {
    pub gap_abs: f64,
    pub gap_rel: f64,
    pub feas: f64,
    pub infeas_abs: f64,
    pub infeas_rel: f64,
    pub ktratio: f64,
}

impl Tolerances {
    /// The full tolerances of `settings` (the Solved / Infeasible tests).
    pub fn full(settings: &crate::settings::Settings) -> Self {
        Tolerances {
            gap_abs: settings.tol_gap_abs,
            gap_rel: settings.tol_gap_rel,
            feas: settings.tol_feas,
            infeas_abs: settings.tol_infeas_abs,
            infeas_rel: settings.tol_infeas_rel,
            ktratio: settings.tol_ktratio,
        }
    }
}

/// Steps before which no step counts as backwards (Clarabel: `iter > 1`).  The
/// start point solves the linear part of the KKT conditions, so its residuals are
/// at rounding level and the first steps raise them by orders of magnitude while
/// they cut the gap; judging those steps by the residuals alone ends good solves.
pub(crate) const MIN_ITER_BACKWARDS: usize = 2;

/// A residual must grow by this factor, and exceed this multiple of tol_feas, for
/// a step to count as diverging (Clarabel's constant).
const DIVERGE_FACTOR: f64 = 100.0;

impl Progress {
    pub fn is_solved(&self, t: &Tolerances) -> bool {
        self.ktratio <= 1.0
            && self.res_primal < t.feas
            && self.res_dual < t.feas
            && (self.gap_abs < t.gap_abs || self.gap_rel < t.gap_rel)
    }
    /// Certificates are only trusted once kappa/tau is large (tau -> 0).
    pub fn is_primal_infeasible(&self, t: &Tolerances) -> bool {
        self.ktratio > 1.0 / t.ktratio && self.dot_bz < -t.infeas_abs && self.res_primal_inf < -t.infeas_rel * self.dot_bz
    }
    pub fn is_dual_infeasible(&self, t: &Tolerances) -> bool {
        self.ktratio > 1.0 / t.ktratio && self.dot_qx < -t.infeas_abs && self.res_dual_inf < -t.infeas_rel * self.dot_qx
    }

    /// How far the iterate is from passing the optimality test of `t`: the largest
    /// of res_primal / tol_feas, res_dual / tol_feas and the better of the two gap
    /// ratios (the test accepts either gap).  Below 1 (with kappa/tau <= 1) means
    /// solved; lower is better.  NaN measures count as infinitely bad.
    pub fn merit(&self, t: &Tolerances) -> f64 {
        let gap = f64::min(self.gap_abs / t.gap_abs, self.gap_rel / t.gap_rel);
        let m = (self.res_primal / t.feas).max(self.res_dual / t.feas).max(gap);
        if m.is_nan() || self.res_primal.is_nan() || self.res_dual.is_nan() || gap.is_nan() {
            f64::INFINITY
        } else {
            m
        }
    }

    /// True when the step from `prev` to `self` (the `iter`-th step, counting from
    /// 1) went backwards and the solve should stop at `prev`.
    ///
    /// Clarabel's rules, applied only from the second step on and only when the
    /// primal or the dual residual got worse:
    /// - stalled: kappa/tau < 100 eps and the previous gap already met its
    ///   tolerance: the residuals cannot be pushed further, keep `prev`;
    /// - diverged: kappa/tau < 1 and a residual rose above 100 tol_feas and to
    ///   more than 100x its previous value.
    ///
    /// One addition: a diverging step must also have made the `merit` worse.  A
    /// step that raises a residual from rounding level to 1e-6 while it cuts a
    /// gap of 1e6 by 50x moves towards the solution (the next steps reduce both);
    /// only a step that leaves the iterate further from the Solved test than
    /// before is undone.
    pub fn went_backwards(&self, prev: &Progress, t: &Tolerances, iter: usize) -> bool {
        if iter < MIN_ITER_BACKWARDS {
            return false;
        }
        let worse = self.res_dual > prev.res_dual || self.res_primal > prev.res_primal;
        if !worse {
            return false;
        }
        let stalled =
            self.ktratio < 100.0 * f64::EPSILON && (prev.gap_abs < t.gap_abs || prev.gap_rel < t.gap_rel);
        let jumped = |now: f64, before: f64| now > DIVERGE_FACTOR * t.feas && now > DIVERGE_FACTOR * before;
        let diverged = self.ktratio < 1.0
            && (jumped(self.res_dual, prev.res_dual) || jumped(self.res_primal, prev.res_primal))
            && self.merit(t) >= prev.merit(t);
        stalled || diverged
    }

    /// Final status from the optimality / infeasibility tests, if any holds.
    pub fn classify(&self, t: &Tolerances, reduced: bool) -> Option<SolverStatus> {
        use SolverStatus::*;
        if self.is_solved(t) {
            Some(if reduced { AlmostSolved } else { Solved })
        } else if self.is_primal_infeasible(t) {
            Some(if reduced { AlmostPrimalInfeasible } else { PrimalInfeasible })
        } else if self.is_dual_infeasible(t) {
            Some(if reduced { AlmostDualInfeasible } else { DualInfeasible })
        } else {
            None
        }
    }
}

/// Statuses after which the solve returns its best iterate and tries the reduced
/// tolerances (Clarabel's `post_process`: errors and limits).
pub(crate) fn is_unconverged(status: SolverStatus) -> bool {
    matches!(
        status,
        SolverStatus::InsufficientProgress
            | SolverStatus::NumericalError
            | SolverStatus::MaxIterations
            | SolverStatus::MaxTime
    )
}

/// Status of a solve that stopped with `status` (see `is_unconverged`) at an iterate
/// measured by `last`, given the best iterate seen (`best`, None when that is the
/// last one).  Returns the status and whether to return the best iterate instead
/// of the last.
pub(crate) fn final_status(
    status: SolverStatus,
    last: &Progress,
    best: Option<&Progress>,
    tol: &Tolerances,
    reduced: &Tolerances,
) -> (SolverStatus, bool) {
    if !is_unconverged(status) {
        return (status, false);
    }
    // The last iterate first: it may be (nearly) an infeasibility certificate,
    // which the merit (an optimality measure) does not see.
    if let Some(s) = last.classify(reduced, true) {
        return (s, false);
    }
    match best {
        Some(b) if b.merit(tol) < last.merit(tol) => (b.classify(reduced, true).unwrap_or(status), true),
        _ => (status, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol() -> Tolerances {
        Tolerances { gap_abs: 1e-8, gap_rel: 1e-8, feas: 1e-8, infeas_abs: 1e-8, infeas_rel: 1e-8, ktratio: 1e-6 }
    }
    fn reduced() -> Tolerances {
        Tolerances { gap_abs: 5e-5, gap_rel: 5e-5, feas: 1e-4, infeas_abs: 5e-12, infeas_rel: 5e-5, ktratio: 1e-4 }
    }
    fn point(res_primal: f64, res_dual: f64, gap_abs: f64, ktratio: f64) -> Progress {
        Progress { res_primal, res_dual, gap_abs, gap_rel: gap_abs / 4.0, ktratio, ..Default::default() }
    }

    /// CONT-200's first step: the primal residual rises 1e5x (from 3.5e-11) while
    /// the gap falls 50x.  Neither the first nor a later such step stops the solve.
    #[test]
    fn step_that_raises_a_residual_but_cuts_the_gap_continues() {
        let before = point(3.5e-11, 9.9e-16, 1.85e6, 1.0);
        let after = point(4.7e-6, 5.9e-12, 3.45e4, 1.85e-2);
        for iter in 1..5 {
            assert!(!after.went_backwards(&before, &tol(), iter), "iter {iter}");
        }
    }

    #[test]
    fn no_step_counts_as_backwards_before_the_second() {
        let before = point(1e-9, 1e-9, 1e-3, 1e-3);
        let after = point(1e-3, 1e-3, 1e-3, 1e-3); // much worse
        assert!(!after.went_backwards(&before, &tol(), 1));
        assert!(after.went_backwards(&before, &tol(), 2));
    }

    #[test]
    fn residual_blowup_that_worsens_the_merit_is_backwards() {
        let before = point(1e-9, 1e-8, 1e-6, 1e-4);
        let after = point(1e-4, 1e-8, 5e-7, 1e-4); // gap halves, primal residual 1e5x
        assert!(after.went_backwards(&before, &tol(), 5));
        // Rising but within 100x, or within 100 tol_feas: not a divergence.
        assert!(!point(5e-8, 1e-8, 5e-7, 1e-4).went_backwards(&before, &tol(), 5));
        assert!(!point(9e-7, 1e-8, 5e-7, 1e-4).went_backwards(&before, &tol(), 5));
        // Large kappa/tau (heading for a certificate): residuals are meaningless.
        assert!(!point(1e-4, 1e-8, 5e-7, 2.0).went_backwards(&before, &tol(), 5));
    }

    #[test]
    fn stall_at_converged_gap_is_backwards() {
        let before = point(1e-7, 2e-7, 1e-9, 1e-17);
        let after = point(1.1e-7, 2e-7, 1e-10, 1e-17);
        assert!(after.went_backwards(&before, &tol(), 10));
        // Same step with the gap not yet converged: keep going.
        let before = point(1e-7, 2e-7, 1e-5, 1e-17);
        assert!(!after.went_backwards(&before, &tol(), 10));
    }

    #[test]
    fn merit_orders_iterates_and_nan_is_worst() {
        let good = point(1e-9, 1e-9, 1e-9, 0.0);
        assert!(good.merit(&tol()) < 1.0 && good.is_solved(&tol()));
        let bad = point(1e-3, 1e-9, 1e-9, 0.0);
        assert!(bad.merit(&tol()) > good.merit(&tol()));
        assert_eq!(point(f64::NAN, 1e-9, 1e-9, 0.0).merit(&tol()), f64::INFINITY);
    }

    /// A stalled solve returns its best iterate: AlmostSolved when that one meets
    /// the reduced tolerances, the failure status otherwise.
    #[test]
    fn stall_ends_with_the_best_iterate() {
        let last = point(5e-3, 5e-4, 1e-2, 1e-9);
        let best = point(5e-5, 6e-5, 1e-5, 1e-9);
        let (s, use_best) = final_status(SolverStatus::InsufficientProgress, &last, Some(&best), &tol(), &reduced());
        assert_eq!((s, use_best), (SolverStatus::AlmostSolved, true));
        let (s, use_best) = final_status(SolverStatus::MaxIterations, &last, Some(&best), &tol(), &reduced());
        assert_eq!((s, use_best), (SolverStatus::AlmostSolved, true));
        // Best not good enough for the reduced tolerances: honest failure status,
        // still the best point.
        let best = point(1e-3, 1e-4, 1e-3, 1e-9);
        let (s, use_best) = final_status(SolverStatus::InsufficientProgress, &last, Some(&best), &tol(), &reduced());
        assert_eq!((s, use_best), (SolverStatus::InsufficientProgress, true));
        // The last iterate is the best: keep it.
        let (s, use_best) = final_status(SolverStatus::MaxIterations, &best, Some(&last), &tol(), &reduced());
        assert_eq!((s, use_best), (SolverStatus::MaxIterations, false));
        // Converged statuses are left alone.
        let (s, _) = final_status(SolverStatus::Solved, &last, Some(&best), &tol(), &reduced());
        assert_eq!(s, SolverStatus::Solved);
    }

    #[test]
    fn almost_infeasible_last_iterate_is_kept() {
        let last = Progress { ktratio: 1e6, dot_bz: -1.0, res_primal_inf: 1e-6, res_primal: 1.0, res_dual: 1.0, gap_abs: 1.0, gap_rel: 1.0, ..Default::default() };
        let best = point(1e-3, 1e-3, 1e-3, 1e-3);
        let (s, use_best) = final_status(SolverStatus::MaxIterations, &last, Some(&best), &tol(), &reduced());
        assert_eq!((s, use_best), (SolverStatus::AlmostPrimalInfeasible, false));
    }
}
