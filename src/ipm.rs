//! The interior-point loop: homogeneous embedding with a quadratic objective,
//! Mehrotra predictor-corrector (Goulart & Chen, "Clarabel", 2024).
//!
//! Iterates (x, z, s, tau, kappa) of the scaled problem satisfy at the solution
//! ```text
//!   P x + A'z + q tau = 0,   A x + s - b tau = 0,
//!   q'x + b'z + kappa + x'Px / tau = 0,   s in K, z in K*, tau, kappa >= 0,
//! ```
//! with tau > 0 at an optimum and kappa > 0 with a Farkas certificate when the
//! problem is infeasible or unbounded.

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use crate::cones::{Cone, ScalingStrategy, StepSettings, SupportedCone};
use crate::equilibrate::{equilibrate, ruiz, Equilibration, RuizScaling};
use crate::kkt::{KktSettings, KktSymbolic, KktSystem};
use crate::linalg::{dot, norm_inf, CsrOps};
use crate::problem::ProblemPattern;
use crate::settings::Settings;
use crate::status::SolverStatus;
use crate::termination::{final_status, is_unconverged, Progress, Tolerances};

/// Values of one problem of a family (P is the full symmetric value array).
#[derive(Clone, Copy)]
pub struct ProblemValues<'a> {
    pub p: &'a [f64],
    pub a: &'a [f64],
    pub q: &'a [f64],
    pub b: &'a [f64],
    /// The Ruiz scaling of exactly these P and A values, when a batch sharing them
    /// computed it once; None: computed by the solve.
    pub ruiz: Option<&'a RuizScaling>,
}

/// A starting point in the user's (unscaled) variables.
#[derive(Clone, Copy)]
pub struct WarmStart<'a> {
    pub x: &'a [f64],
    pub z: &'a [f64],
    pub s: &'a [f64],
}

#[derive(Clone, Debug)]
pub struct SolveResult {
    pub x: Vec<f64>,
    pub z: Vec<f64>,
    pub s: Vec<f64>,
    pub status: SolverStatus,
    pub iterations: usize,
    pub obj_val: f64,
    pub primal_res: f64,
    pub dual_res: f64,
    pub gap: f64,
    pub solve_time: f64,
}

/// Per-solve memory, reusable across the solves of one thread.
pub struct Workspace {
    kkt: KktSystem,
    cones: Vec<(SupportedCone, Range<usize>)>,
    /// H dz in `newton_step` (m), kept so that iterations allocate nothing.
    hdz: Vec<f64>,
    /// The vectors of `solve`, taken at its start and given back at its end.
    buffers: Buffers,
}

impl Workspace {
    pub fn new(pattern: &ProblemPattern, symbolic: &Arc<KktSymbolic>) -> Self {
        Workspace {
            kkt: KktSystem::new(Arc::clone(symbolic)),
            cones: pattern.cones.build(),
            hdz: vec![0.0; pattern.m],
            buffers: Buffers::default(),
        }
    }
}

/// Every vector one `solve` needs besides its result.  A batch solves thousands of
/// small problems per thread with one workspace; allocating these afresh for each
/// (some 40 vectors) cost about a tenth of a tiny problem's solve (issue 12).
#[derive(Default)]
struct Buffers {
    // scaled data and iterate (moved into `State` for the solve)
    p: Vec<f64>,
    a: Vec<f64>,
    q: Vec<f64>,
    b: Vec<f64>,
    x: Vec<f64>,
    z: Vec<f64>,
    s: Vec<f64>,
    // residuals and Newton-step scratch
    rx: Vec<f64>,
    rz: Vec<f64>,
    px: Vec<f64>,
    x1: Vec<f64>,
    z1: Vec<f64>,
    ds: Vec<f64>,
    shift: Vec<f64>,
    kkt_rhs: Vec<f64>,
    kkt_sol: Vec<f64>,
    dir: Direction,
    aff: Direction,
    prev_iterate: Direction,
    best_iterate: Direction,
}

/// `v` as `len` zeros, reusing its memory.
fn zeroed(v: &mut Vec<f64>, len: usize) -> Vec<f64> {
    let mut out = std::mem::take(v);
    out.clear();
    out.resize(len, 0.0);
    out
}

impl Direction {
    /// `d` as a zero direction of sizes (n, m), reusing its memory.
    fn zeroed(d: &mut Direction, n: usize, m: usize) -> Direction {
        Direction { x: zeroed(&mut d.x, n), z: zeroed(&mut d.z, m), s: zeroed(&mut d.s, m), tau: 0.0, kappa: 0.0 }
    }
}

/// The scaled problem data and the iterate.
struct State<'a> {
    pattern: &'a ProblemPattern,
    // scaled data
    p: Vec<f64>,
    a: Vec<f64>,
    q: Vec<f64>,
    b: Vec<f64>,
    eq: Equilibration,
    // unscaled norms, for the termination tests
    norm_q: f64,
    norm_b: f64,
    // iterate
    x: Vec<f64>,
    z: Vec<f64>,
    s: Vec<f64>,
    tau: f64,
    kappa: f64,
}

impl State<'_> {
    fn save_iterate(&self, to: &mut Direction) {
        to.x.copy_from_slice(&self.x);
        to.z.copy_from_slice(&self.z);
        to.s.copy_from_slice(&self.s);
        to.tau = self.tau;
        to.kappa = self.kappa;
    }
    fn restore_iterate(&mut self, from: &Direction) {
        self.x.copy_from_slice(&from.x);
        self.z.copy_from_slice(&from.z);
        self.s.copy_from_slice(&from.s);
        self.tau = from.tau;
        self.kappa = from.kappa;
    }
}

/// Newton direction (also used to hold a saved iterate).
#[derive(Clone, Default)]
struct Direction {
    x: Vec<f64>,
    z: Vec<f64>,
    s: Vec<f64>,
    tau: f64,
    kappa: f64,
}


fn kkt_settings(s: &Settings) -> KktSettings {
    KktSettings {
        static_reg_constant: s.static_regularization_constant,
        static_reg_proportional: s.static_regularization_proportional,
        dynamic_reg_eps: s.dynamic_regularization_eps,
        dynamic_reg_delta: s.dynamic_regularization_delta,
        refine_enable: s.iterative_refinement_enable,
        refine_reltol: s.iterative_refinement_reltol,
        refine_abstol: s.iterative_refinement_abstol,
        refine_max_iter: s.iterative_refinement_max_iter,
        refine_stop_ratio: s.iterative_refinement_stop_ratio,
    }
}

impl<'a> State<'a> {
    fn n(&self) -> usize {
        self.pattern.n
    }
    fn m(&self) -> usize {
        self.pattern.m
    }

    fn p_mul(&self, y: &mut [f64], x: &[f64]) {
        self.pattern.p.mul(&self.p, y, x);
    }

    /// Residuals of the embedding: rx = Px + A'z + q tau, rz = Ax + s - b tau,
    /// rtau = q'x + b'z + kappa + x'Px / tau.  Also returns Px and x'Px.
    fn residuals(&self, rx: &mut [f64], rz: &mut [f64], px: &mut [f64]) -> (f64, f64) {
        self.p_mul(px, &self.x);
        let xpx = dot(&self.x, px);
        self.pattern.a.mul_t(&self.a, rx, &self.z);
        for j in 0..self.n() {
            rx[j] += px[j] + self.q[j] * self.tau;
        }
        self.pattern.a.mul(&self.a, rz, &self.x);
        for i in 0..self.m() {
            rz[i] += self.s[i] - self.b[i] * self.tau;
        }
        let rtau = dot(&self.q, &self.x) + dot(&self.b, &self.z) + self.kappa + xpx / self.tau;
        (rtau, xpx)
    }

    /// Termination measures on the unscaled problem.
    fn progress(&self, rx: &[f64], rz: &[f64], px: &[f64], xpx: f64) -> Progress {
        let (n, m) = (self.n(), self.m());
        let (d, e, c, tau) = (&self.eq.d, &self.eq.e, self.eq.c, self.tau);
        let mut pr = Progress::default();
        // Objectives (scaled objective / c is the unscaled one).
        let qx = dot(&self.q, &self.x);
        let bz = dot(&self.b, &self.z);
        let xpx_t = xpx / (tau * tau);
        pr.pobj = (0.5 * xpx_t + qx / tau) / c;
        pr.dobj = (-0.5 * xpx_t - bz / tau) / c;
        pr.gap_abs = (pr.pobj - pr.dobj).abs();
        pr.gap_rel = pr.gap_abs / f64::max(1.0, f64::min(pr.pobj.abs(), pr.dobj.abs()));
        pr.ktratio = self.kappa / tau;
        // Unscaled iterate norms.
        let norm_x = (0..n).map(|j| (d[j] * self.x[j]).abs()).fold(0.0, f64::max) / tau;
        let norm_z = (0..m).map(|i| (e[i] * self.z[i]).abs()).fold(0.0, f64::max) / (c * tau);
        let norm_s = (0..m).map(|i| (self.s[i] / e[i]).abs()).fold(0.0, f64::max) / tau;
        // Primal residual A x + s - b = E^{-1} rz / tau; dual residual D^{-1} rx / (c tau).
        let rp = (0..m).map(|i| (rz[i] / e[i]).abs()).fold(0.0, f64::max) / tau;
        let rd = (0..n).map(|j| (rx[j] / d[j]).abs()).fold(0.0, f64::max) / (c * tau);
        pr.res_primal = rp / f64::max(1.0, self.norm_b + norm_x + norm_s);
        pr.res_dual = rd / f64::max(1.0, self.norm_q + norm_x + norm_z);
        // Certificates: z direction E z (unscaled up to c), x direction D x.
        let zdir_norm = f64::max(1.0, (0..m).map(|i| (e[i] * self.z[i]).abs()).fold(0.0, f64::max));
        let xdir_norm = f64::max(1.0, (0..n).map(|j| (d[j] * self.x[j]).abs()).fold(0.0, f64::max));
        // b'(E z) = b~'z; A'(E z) = D^{-1} A~'z.
        pr.dot_bz = bz / zdir_norm;
        let atz = rx.iter().zip(px).zip(&self.q).map(|((r, p), q)| r - p - q * tau);
        pr.res_primal_inf = atz.enumerate().map(|(j, v)| (v / d[j]).abs()).fold(0.0, f64::max) / zdir_norm;
        // q'(D x) = q~'x / c; P (D x) = D^{-1} P~ x / c; A (D x) + s/E = E^{-1}(A~x + s).
        pr.dot_qx = qx / (c * xdir_norm);
        let norm_px = (0..n).map(|j| (px[j] / d[j]).abs()).fold(0.0, f64::max) / c;
        let norm_axs = (0..m).map(|i| ((rz[i] + self.b[i] * tau) / e[i]).abs()).fold(0.0, f64::max);
        pr.res_dual_inf = f64::max(norm_px, norm_axs) / xdir_norm;
        pr
    }
}

/// Below this combined step, problems with non-symmetric cones switch from the
/// primal-dual to the dual scaling (Clarabel's min_switch_step_length).
const MIN_SWITCH_STEP_LENGTH: f64 = 0.1;

/// Solve one problem.  `values` are the user's (unscaled) data.
pub fn solve(
    pattern: &ProblemPattern,
    settings: &Settings,
    values: ProblemValues<'_>,
    warm: Option<WarmStart<'_>>,
    ws: &mut Workspace,
) -> SolveResult {
    let start = Instant::now();
    let (n, m) = (pattern.n, pattern.m);
    let ksettings = kkt_settings(settings);
    let own_ruiz;
    let ruiz_scaling = match values.ruiz {
        Some(r) => r,
        None => {
            own_ruiz = ruiz(pattern, &ws.cones, settings, values.p, values.a);
            &own_ruiz
        }
    };
    let mut buf = std::mem::take(&mut ws.buffers);
    let mut p = zeroed(&mut buf.p, values.p.len());
    let mut a = zeroed(&mut buf.a, values.a.len());
    let mut q = zeroed(&mut buf.q, n);
    let mut b = zeroed(&mut buf.b, m);
    q.copy_from_slice(values.q);
    b.copy_from_slice(values.b);
    let eq = equilibrate(pattern, ruiz_scaling, settings, &mut p, &mut a, &mut q, &mut b);
    ws.kkt.set_data(&p, &a);
    let mut st = State {
        pattern,
        p,
        a,
        q,
        b,
        eq,
        norm_q: norm_inf(values.q),
        norm_b: norm_inf(values.b),
        x: zeroed(&mut buf.x, n),
        z: zeroed(&mut buf.z, m),
        s: zeroed(&mut buf.s, m),
        tau: 1.0,
        kappa: 1.0,
    };
    let degree = pattern.cones.degree() as f64;
    let symmetric = ws.cones.iter().all(|(c, _)| c.is_symmetric());
    let step_settings = StepSettings::default();

    let tol = Tolerances::full(settings);
    let reduced = Tolerances {
        gap_abs: settings.reduced_tol_gap_abs,
        gap_rel: settings.reduced_tol_gap_rel,
        feas: settings.reduced_tol_feas,
        infeas_abs: settings.reduced_tol_infeas_abs,
        infeas_rel: settings.reduced_tol_infeas_rel,
        ktratio: settings.reduced_tol_ktratio,
    };

    // (ds, shift, kkt_rhs and kkt_sol serve `initialize` as scratch first)
    let mut ds = zeroed(&mut buf.ds, m);
    let mut shift = zeroed(&mut buf.shift, m);
    let mut kkt_rhs = zeroed(&mut buf.kkt_rhs, n + m);
    let mut kkt_sol = zeroed(&mut buf.kkt_sol, n + m);
    let init_ok = initialize(&mut st, ws, &ksettings, warm, symmetric, [&mut ds, &mut shift], [&mut kkt_rhs, &mut kkt_sol]);
    for v in [&mut ds, &mut shift, &mut kkt_rhs, &mut kkt_sol] {
        v.fill(0.0);
    }

    let mut rx = zeroed(&mut buf.rx, n);
    let mut rz = zeroed(&mut buf.rz, m);
    let mut px = zeroed(&mut buf.px, n);
    let mut dir = Direction::zeroed(&mut buf.dir, n, m);
    let mut aff = Direction::zeroed(&mut buf.aff, n, m);
    let mut x1 = zeroed(&mut buf.x1, n);
    let mut z1 = zeroed(&mut buf.z1, m);
    let mut status = if init_ok { SolverStatus::Unsolved } else { SolverStatus::NumericalError };
    let mut iter = 0usize;
    let mut scaling = ScalingStrategy::PrimalDual;
    let mut short_pd_step: Option<(Direction, f64)> = None;
    // This pass repeats the iteration with dual scaling after a failure or a
    // short step under primal-dual scaling.
    let mut retrying_with_dual = false;
    let mut progress = Progress::default();
    // The iterate before the last step and its progress, to undo a bad last step.
    let mut prev_iterate = Direction::zeroed(&mut buf.prev_iterate, n, m);
    let mut prev_progress: Option<Progress> = None;
    // The iterate of least merit seen, returned when the solve fails (termination.rs).
    let mut best_iterate = Direction::zeroed(&mut buf.best_iterate, n, m);
    let mut best_progress: Option<Progress> = None;
    let mut last_alpha = 0.0;

    if settings.verbose {
        tracing::info!(
            "moreau-jax IPM  n = {n}, m = {m}, nnz(P) = {}, nnz(A) = {}, cones: {:?}",
            pattern.p.nnz(),
            pattern.a.nnz(),
            pattern.cones
        );
        tracing::info!(
            "{:>4} {:>13} {:>13} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "iter", "pcost", "dcost", "gap", "pres", "dres", "k/t", "mu", "step"
        );
    }

    while status == SolverStatus::Unsolved {
        let (rtau, xpx) = st.residuals(&mut rx, &mut rz, &mut px);
        let mu = (dot(&st.s, &st.z) + st.tau * st.kappa) / (degree + 1.0);
        progress = st.progress(&rx, &rz, &px, xpx);
        if settings.verbose {
            tracing::info!(
                "{:>4} {:>13.6e} {:>13.6e} {:>9.2e} {:>9.2e} {:>9.2e} {:>9.2e} {:>9.2e} {:>9}",
                iter,
                progress.pobj,
                progress.dobj,
                progress.gap_abs,
                progress.res_primal,
                progress.res_dual,
                progress.ktratio,
                mu,
                if iter == 0 { "------".to_string() } else { format!("{last_alpha:.2e}") }
            );
        }
        if let Some(s) = progress.classify(&tol, false) {
            status = s;
            break;
        }
        if let Some(prev) = prev_progress.as_ref() {
            if progress.went_backwards(prev, &tol, iter) {
                tracing::debug!(iter, ?scaling, "residuals went backwards: undoing the last step");
                st.restore_iterate(&prev_iterate);
                progress = *prev;
                if !symmetric && scaling == ScalingStrategy::PrimalDual {
                    // As Clarabel: with non-symmetric cones, retry from the
                    // previous point with the dual scaling before giving up.
                    scaling = ScalingStrategy::Dual;
                    retrying_with_dual = true;
                    continue;
                }
                status = SolverStatus::InsufficientProgress;
                break;
            }
        }
        if best_progress.is_none_or(|b| progress.merit(&tol) < b.merit(&tol)) {
            st.save_iterate(&mut best_iterate);
            best_progress = Some(progress);
        }
        if iter >= settings.max_iter {
            status = SolverStatus::MaxIterations;
            break;
        }
        if start.elapsed().as_secs_f64() > settings.time_limit {
            status = SolverStatus::MaxTime;
            break;
        }

        // Dual scaling is kept while it makes good steps; when it stalls too,
        // give the primal-dual scaling another chance.
        if scaling == ScalingStrategy::Dual && !retrying_with_dual && iter > 0 && last_alpha < MIN_SWITCH_STEP_LENGTH {
            scaling = ScalingStrategy::PrimalDual;
        }
        // Scaling and factorization at the current point.
        let mut scaling_ok = true;
        for (cone, r) in ws.cones.iter_mut() {
            // Under dual scaling a non-symmetric cone uses its own complementarity
            // <s_i, z_i> / nu_i: with the global mu, cones far from the average
            // get a badly scaled H near convergence.
            let cone_mu = if scaling == ScalingStrategy::Dual && !cone.is_symmetric() {
                dot(&st.s[r.clone()], &st.z[r.clone()]) / cone.degree() as f64
            } else {
                mu
            };
            scaling_ok &= cone.update_scaling(&st.s[r.clone()], &st.z[r.clone()], cone_mu, scaling);
        }
        let factor_ok = scaling_ok && ws.kkt.update_and_factor(&ws.cones, &ksettings);
        if !factor_ok {
            tracing::debug!(iter, scaling_ok, ?scaling, "scaling or factorization failed");
            if !symmetric && scaling == ScalingStrategy::PrimalDual {
                // As Clarabel: the dual scaling needs only z, so retry with it.
                scaling = ScalingStrategy::Dual;
                retrying_with_dual = true;
                continue;
            }
            status = SolverStatus::NumericalError;
            break;
        }
        // Constant part: K [x1; z1] = [-q; b].
        for j in 0..n {
            kkt_rhs[j] = -st.q[j];
        }
        kkt_rhs[n..].copy_from_slice(&st.b);
        ws.kkt.solve(&kkt_rhs, &mut kkt_sol, &ksettings);
        x1.copy_from_slice(&kkt_sol[..n]);
        z1.copy_from_slice(&kkt_sol[n..]);

        // Predictor.
        for (cone, r) in ws.cones.iter() {
            cone.affine_ds(&mut ds[r.clone()], &st.s[r.clone()]);
        }
        let dkappa_aff = st.tau * st.kappa;
        newton_step(&st, ws, &ksettings, &rx, &rz, rtau, &px, &x1, &z1, &ds, dkappa_aff, 1.0, &mut kkt_rhs, &mut kkt_sol, &mut aff);
        let alpha_aff = step_length(&st, ws, &aff, &step_settings, 1.0);
        let sigma = (1.0 - alpha_aff).powi(3);
        tracing::debug!(iter, alpha_aff, sigma, dtau = aff.tau, dkappa = aff.kappa, "affine step");

        // Corrector: ds = affine ds + shift(sigma mu, affine step).  In the first
        // iteration the second-order term is damped by the affine step length
        // (start points are often badly centred), as Clarabel does.
        let damp = if iter == 0 { alpha_aff } else { 1.0 };
        for v in aff.z.iter_mut() {
            *v *= damp;
        }
        for (cone, r) in ws.cones.iter_mut() {
            cone.combined_ds_shift(&mut shift[r.clone()], &aff.z[r.clone()], &aff.s[r.clone()], sigma * mu);
        }
        for i in 0..m {
            ds[i] += shift[i];
        }
        let dkappa = st.tau * st.kappa + damp * aff.tau * aff.kappa - sigma * mu;
        newton_step(&st, ws, &ksettings, &rx, &rz, rtau, &px, &x1, &z1, &ds, dkappa, 1.0 - sigma, &mut kkt_rhs, &mut kkt_sol, &mut dir);
        let mut alpha = step_length(&st, ws, &dir, &step_settings, 1.0);
        tracing::debug!(iter, alpha, ?scaling, dtau = dir.tau, dkappa = dir.kappa, "combined step");
        if !symmetric && scaling == ScalingStrategy::Dual {
            alpha = centrality_backtrack(&st, ws, &dir, alpha, degree, &step_settings);
        }
        alpha *= settings.max_step_fraction;

        if !symmetric && scaling == ScalingStrategy::PrimalDual && alpha < MIN_SWITCH_STEP_LENGTH {
            // Retry the iteration with the more conservative dual scaling, but keep
            // this step in case the dual-scaled one is even shorter (near the end
            // the dual scaling is often poorly centred).
            short_pd_step = Some((dir.clone(), alpha));
            scaling = ScalingStrategy::Dual;
            retrying_with_dual = true;
            continue;
        }
        if let Some((pd_dir, pd_alpha)) = short_pd_step.take() {
            if pd_alpha > alpha {
                dir = pd_dir;
                alpha = pd_alpha;
            }
        }
        if alpha < settings.min_terminate_step_length {
            status = SolverStatus::InsufficientProgress;
            break;
        }
        // Take the step.
        retrying_with_dual = false;
        st.save_iterate(&mut prev_iterate);
        prev_progress = Some(progress);
        for j in 0..n {
            st.x[j] += alpha * dir.x[j];
        }
        for i in 0..m {
            st.z[i] += alpha * dir.z[i];
            st.s[i] += alpha * dir.s[i];
        }
        st.tau += alpha * dir.tau;
        st.kappa += alpha * dir.kappa;
        last_alpha = alpha;
        iter += 1;
    }

    // Failed runs return their best iterate, Almost* if it meets the reduced
    // tolerances (termination::final_status).
    if is_unconverged(status) {
        // (Measured again: a failed start never measured its point.)
        let (_, xpx) = st.residuals(&mut rx, &mut rz, &mut px);
        progress = st.progress(&rx, &rz, &px, xpx);
        let (s, use_best) = final_status(status, &progress, best_progress.as_ref(), &tol, &reduced);
        if use_best {
            tracing::debug!(iter, ?status, "returning the best iterate seen");
            st.restore_iterate(&best_iterate);
            progress = best_progress.expect("best iterate");
        }
        status = s;
    }
    if status == SolverStatus::Solved && settings.polish_enable {
        let scratch = (&mut prev_iterate, &mut kkt_rhs[..], &mut kkt_sol[..]);
        let polished = polish(&mut st, ws, &ksettings, &tol, &mut rx, &mut rz, &mut px, scratch);
        if polished {
            let (_, xpx) = st.residuals(&mut rx, &mut rz, &mut px);
            progress = st.progress(&rx, &rz, &px, xpx);
        }
        if settings.verbose {
            tracing::info!("polish: {}", if polished { "accepted" } else { "rejected" });
        }
    }
    if settings.verbose {
        tracing::info!("terminated with status {:?} after {iter} iterations", status);
    }
    let result = finish(&st, status, iter, &progress, start.elapsed().as_secs_f64());
    let State { p, a, q, b, x, z, s, .. } = st;
    ws.buffers = Buffers {
        p,
        a,
        q,
        b,
        x,
        z,
        s,
        rx,
        rz,
        px,
        x1,
        z1,
        ds,
        shift,
        kkt_rhs,
        kkt_sol,
        dir,
        aff,
        prev_iterate,
        best_iterate,
    };
    result
}

/// Starting point: the user's warm start, or for symmetric cones the solution of
/// [P A'; A -I][x; z] = [-q; b] shifted into the cones, else the cones' central points.
fn initialize(
    st: &mut State<'_>,
    ws: &mut Workspace,
    ksettings: &KktSettings,
    warm: Option<WarmStart<'_>>,
    symmetric: bool,
    [e_z, e_s]: [&mut [f64]; 2],
    [rhs, sol]: [&mut [f64]; 2],
) -> bool {
    let (n, m) = (st.n(), st.m());
    st.tau = 1.0;
    st.kappa = 1.0;
    if let Some(w) = warm {
        let (d, e, c) = (&st.eq.d, &st.eq.e, st.eq.c);
        for j in 0..n {
            st.x[j] = w.x[j] / d[j];
        }
        for i in 0..m {
            st.z[i] = w.z[i] * c / e[i];
            st.s[i] = w.s[i] * e[i];
        }
        warm_shift_into_cones(st, ws);
        return true;
    }
    if !symmetric {
        for (cone, r) in ws.cones.iter() {
            cone.unit_initialization(&mut st.z[r.clone()], &mut st.s[r.clone()]);
        }
        st.x.iter_mut().for_each(|v| *v = 0.0);
        return true;
    }
    // H = I for every cone (zero cone: H = 0), from the unit point.
    for (cone, r) in ws.cones.iter_mut() {
        cone.unit_initialization(&mut e_z[r.clone()], &mut e_s[r.clone()]);
        cone.update_scaling(&e_s[r.clone()], &e_z[r.clone()], 1.0, ScalingStrategy::PrimalDual);
    }
    if !ws.kkt.update_and_factor(&ws.cones, ksettings) {
        return false;
    }
    if st.p.iter().all(|&v| v == 0.0) {
        // LP (as Clarabel): x and s from [0 A'; A -I][x; -s] = [0; b] (the
        // least-norm s with Ax + s = b), and z from the rhs [-q; 0].
        rhs[n..].copy_from_slice(&st.b);
        ws.kkt.solve(rhs, sol, ksettings);
        st.x.copy_from_slice(&sol[..n]);
        for i in 0..m {
            st.s[i] = -sol[n + i];
        }
        for j in 0..n {
            rhs[j] = -st.q[j];
        }
        rhs[n..].fill(0.0);
        ws.kkt.solve(rhs, sol, ksettings);
        st.z.copy_from_slice(&sol[n..]);
    } else {
        // QP: one solve with [-q; b] gives x and z, and s = -z.
        for j in 0..n {
            rhs[j] = -st.q[j];
        }
        rhs[n..].copy_from_slice(&st.b);
        ws.kkt.solve(rhs, sol, ksettings);
        st.x.copy_from_slice(&sol[..n]);
        for i in 0..m {
            st.z[i] = sol[n + i];
            st.s[i] = -sol[n + i];
        }
    }
    shift_into_cones(st, ws, Shift::Unit);
    true
}

/// How far `shift_into_cones` moves a point that is (nearly) on a symmetric cone's
/// boundary.
#[derive(Clone, Copy)]
enum Shift {
    /// Cold start: to margin 1 (the unit point's distance from the boundary), or
    /// with PSD cones all symmetric cones together to margin max(1, beta / 10).
    Unit,
    /// Warm start from a nearby problem's solution: only up to this margin, so
    /// that the point stays close to the old solution.
    Margin(f64),
}

/// A warm point (a solution of a nearby problem) sits on the cone boundaries with
/// s'z ~ 0.  Move s and z inside by a small margin only, and set kappa to the
/// resulting complementarity so that (tau, kappa) is as central as (s, z).
fn warm_shift_into_cones(st: &mut State<'_>, ws: &Workspace) {
    // 1e-2 (in equilibrated units): about 20% fewer iterations than a unit shift on
    // 1%-perturbed random problems; 1e-3 saves a little more but ends AlmostSolved
    // more often.
    shift_into_cones(st, ws, Shift::Margin(1e-2));
    let degree: usize = ws.cones.iter().map(|(c, _)| c.degree()).sum();
    if degree > 0 {
        st.kappa = (dot(&st.s, &st.z) / degree as f64).max(f64::EPSILON);
    }
}

/// Move s and z strictly inside their cones (s = 0 on zero-cone rows).
///
/// Cold start (`Shift::Unit`): each symmetric cone whose margin is below sqrt(eps) is
/// shifted to margin 1.  With PSD cones present, Clarabel's symmetric initialization
/// instead: with alpha = the smallest margin over all symmetric cones and beta = the
/// sum of their positive eigenvalues, every symmetric cone is shifted by the same
/// multiple of its unit element so that the smallest margin becomes
/// target = max(1, beta / 10).  (The per-cone rule cost the SDP benchmark about 25%
/// more iterations than Clarabel.  On the LP/QP/SOCP corpus both rules give the same
/// geomean iteration count, but the trajectories change; the rule is kept there until
/// that is validated on the full suite.)
fn shift_into_cones(st: &mut State<'_>, ws: &Workspace, shift: Shift) {
    let has_psd = ws.cones.iter().any(|(c, _)| matches!(c, SupportedCone::Psd(_)));
    if matches!(shift, Shift::Unit) && has_psd {
        for v in [&mut st.s, &mut st.z] {
            let symmetric = || ws.cones.iter().filter(|(c, _)| c.is_symmetric() && !matches!(c, SupportedCone::Zero(_)));
            let (mut alpha, mut beta) = (f64::INFINITY, 0.0);
            for (cone, r) in symmetric() {
                let (a, b) = cone.margins(&v[r.clone()]);
                alpha = alpha.min(a);
                beta += b;
            }
            let target = f64::max(1.0, 0.1 * beta);
            for (cone, r) in symmetric() {
                let block = &mut v[r.clone()];
                if alpha <= 0.0 {
                    // two stages so that large alpha does not cancel to exactly 0
                    cone.scaled_unit_shift(block, -alpha);
                    cone.scaled_unit_shift(block, target);
                } else if alpha < target {
                    cone.scaled_unit_shift(block, target - alpha);
                }
            }
        }
    }
    for (cone, r) in ws.cones.iter() {
        let (z, s) = (&mut st.z[r.clone()], &mut st.s[r.clone()]);
        match cone {
            SupportedCone::Zero(_) => s.iter_mut().for_each(|v| *v = 0.0),
            SupportedCone::Exponential(_) | SupportedCone::Power(_) | SupportedCone::GenPower(_) => {
                // Non-symmetric cones: keep a warm point only if strictly inside.
                let zeros = vec![0.0; cone.dim()];
                if !cone.compute_barrier(z, s, &zeros, &zeros, 0.0).is_finite() {
                    cone.unit_initialization(z, s);
                }
            }
            _ => {
                for v in [s, z] {
                    let (alpha, _) = cone.margins(v);
                    match shift {
                        Shift::Unit if has_psd => {} // done above, over all symmetric cones
                        Shift::Unit if alpha < f64::EPSILON.sqrt() => {
                            // two stages so that large alpha does not cancel to exactly 0
                            cone.scaled_unit_shift(v, -alpha);
                            cone.scaled_unit_shift(v, 1.0);
                        }
                        Shift::Margin(margin) if alpha < margin => cone.scaled_unit_shift(v, margin - alpha),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Solve the Newton system for complementarity rhs `ds` (cones) and `dkappa`,
/// with the residuals weighted by `eta` (1 for the predictor, 1 - sigma for the
/// corrector).  Writes the direction into `out`.
#[allow(clippy::too_many_arguments)]
fn newton_step(
    st: &State<'_>,
    ws: &mut Workspace,
    ksettings: &KktSettings,
    rx: &[f64],
    rz: &[f64],
    rtau: f64,
    px: &[f64],
    x1: &[f64],
    z1: &[f64],
    ds: &[f64],
    dkappa: f64,
    eta: f64,
    rhs: &mut [f64],
    sol: &mut [f64],
    out: &mut Direction,
) {
    let (n, m) = (st.n(), st.m());
    // offset: ds + H dz = -offset
    for (cone, r) in ws.cones.iter() {
        cone.delta_s_from_delta_z_offset(&mut out.s[r.clone()], &ds[r.clone()], &st.z[r.clone()]);
    }
    for j in 0..n {
        rhs[j] = -eta * rx[j];
    }
    for i in 0..m {
        rhs[n + i] = -eta * rz[i] + out.s[i];
    }
    ws.kkt.solve(rhs, sol, ksettings);
    let (x2, z2) = sol.split_at(n);
    // dtau from the linearized third equation (xi = x / tau).
    let tau = st.tau;
    let mut q2pxi_x1 = 0.0;
    let mut q2pxi_x2 = 0.0;
    for j in 0..n {
        let g = st.q[j] + 2.0 * px[j] / tau;
        q2pxi_x1 += g * x1[j];
        q2pxi_x2 += g * x2[j];
    }
    let xi_p_xi = dot(&st.x, px) / (tau * tau);
    let num = -eta * rtau + dkappa / tau - q2pxi_x2 - dot(&st.b, z2);
    let den = q2pxi_x1 + dot(&st.b, z1) - st.kappa / tau - xi_p_xi;
    let dtau = num / den;
    for j in 0..n {
        out.x[j] = x2[j] + dtau * x1[j];
    }
    for i in 0..m {
        out.z[i] = z2[i] + dtau * z1[i];
    }
    // ds = -offset - H dz
    let hdz = &mut ws.hdz;
    for (cone, r) in ws.cones.iter() {
        cone.mul_hs(&mut hdz[r.clone()], &out.z[r.clone()]);
    }
    for i in 0..m {
        out.s[i] = -out.s[i] - hdz[i];
    }
    out.tau = dtau;
    out.kappa = -(dkappa + st.kappa * dtau) / tau;
}

/// Largest step in (0, alpha_max] keeping s, z, tau, kappa in their cones.
fn step_length(st: &State<'_>, ws: &Workspace, d: &Direction, ss: &StepSettings, alpha_max: f64) -> f64 {
    let mut alpha = alpha_max;
    if d.tau < 0.0 {
        alpha = alpha.min(-st.tau / d.tau);
    }
    if d.kappa < 0.0 {
        alpha = alpha.min(-st.kappa / d.kappa);
    }
    for (cone, r) in ws.cones.iter() {
        let (az, as_) = cone.step_length(&d.z[r.clone()], &d.s[r.clone()], &st.z[r.clone()], &st.s[r.clone()], ss, alpha);
        alpha = alpha.min(az).min(as_);
    }
    alpha
}

/// For non-symmetric cones under dual scaling: shrink the step until the new
/// point is close to the central path, measured by the barrier-based proximity
/// psi = (nu + 1) ln(mu) - ln(tau kappa) + sum of cone barriers (+ constants).
fn centrality_backtrack(
    st: &State<'_>,
    ws: &Workspace,
    d: &Direction,
    mut alpha: f64,
    degree: f64,
    ss: &StepSettings,
) -> f64 {
    let m = st.m();
    let proximity = |a: f64| -> f64 {
        let tau = st.tau + a * d.tau;
        let kappa = st.kappa + a * d.kappa;
        if tau <= 0.0 || kappa <= 0.0 {
            return f64::INFINITY;
        }
        let mut sz = 0.0;
        for i in 0..m {
            sz += (st.s[i] + a * d.s[i]) * (st.z[i] + a * d.z[i]);
        }
        let mu = (sz + tau * kappa) / (degree + 1.0);
        if mu <= 0.0 {
            return f64::INFINITY;
        }
        let mut psi = (degree + 1.0) * mu.ln() - (tau * kappa).ln();
        for (cone, r) in ws.cones.iter() {
            let b = cone.compute_barrier(&st.z[r.clone()], &st.s[r.clone()], &d.z[r.clone()], &d.s[r.clone()], a);
            psi += b;
        }
        psi
    };
    // Accept steps with psi < 1.  As in Clarabel, psi leaves out the constant
    // -nu of f + f* for each exp/pow cone (f + f* = -nu ln mu - nu on the central
    // path), so it sits 3 per such cone below the true proximity: the test
    // mostly keeps the iterate away from the cone boundaries.  (Adding the
    // constant back made the search far too strict: logistic regression took
    // 47-70 iterations instead of 20-25.)
    for _ in 0..50 {
        if alpha <= ss.min_step {
            break;
        }
        let psi = proximity(alpha);
        if psi.is_finite() && psi < 1.0 {
            break;
        }
        alpha *= ss.backtrack;
    }
    alpha
}

/// Polishing for problems with only zero and nonnegative cones (LPs and QPs):
/// guess the active set from the solution (z_i > s_i), solve the
/// equality-constrained QP on it with the same KKT pattern, and keep the result
/// if it is primal and dual feasible and still meets the tolerances.  This makes
/// degenerate coordinates exact (e.g. x_i = 0 with a zero multiplier), where the
/// interior-point iterate is only accurate to about sqrt(mu).
fn polish(
    st: &mut State<'_>,
    ws: &mut Workspace,
    ksettings: &KktSettings,
    tol: &Tolerances,
    rx: &mut [f64],
    rz: &mut [f64],
    px: &mut [f64],
    (saved, rhs, sol): (&mut Direction, &mut [f64], &mut [f64]),
) -> bool {
    if !ws.cones.iter().all(|(c, _)| matches!(c, SupportedCone::Zero(_) | SupportedCone::Nonnegative(_))) {
        return false;
    }
    let (n, m) = (st.n(), st.m());
    let mut active = vec![true; m];
    let mut is_nonneg = vec![false; m];
    for (cone, r) in ws.cones.iter() {
        if let SupportedCone::Nonnegative(_) = cone {
            for i in r.clone() {
                is_nonneg[i] = true;
                active[i] = st.z[i] > st.s[i];
            }
        }
    }
    if !ws.kkt.factor_polish(&st.p, &st.a, &active, ksettings) {
        return false;
    }
    for j in 0..n {
        rhs[j] = -st.q[j];
    }
    for i in 0..m {
        rhs[n + i] = if active[i] { st.b[i] } else { 0.0 };
    }
    ws.kkt.solve(rhs, sol, ksettings);
    if sol.iter().any(|v| !v.is_finite()) {
        return false;
    }
    st.save_iterate(saved);
    st.x.copy_from_slice(&sol[..n]);
    st.pattern.a.mul(&st.a, &mut st.s, &sol[..n]);
    // s = b - A x, exactly 0 on active rows; z = 0 off the active set.
    let scale = 1.0 + norm_inf(&st.b);
    let z_scale = 1.0 + norm_inf(&saved.z);
    let mut feasible = true;
    for i in 0..m {
        st.s[i] = if active[i] { 0.0 } else { st.b[i] - st.s[i] };
        st.z[i] = if active[i] { sol[n + i] } else { 0.0 };
        if is_nonneg[i] {
            feasible &= st.s[i] >= -1e-9 * scale && st.z[i] >= -1e-9 * z_scale;
            st.s[i] = st.s[i].max(0.0);
            st.z[i] = st.z[i].max(0.0);
        }
    }
    st.tau = 1.0;
    st.kappa = 0.0;
    let (_, xpx) = st.residuals(rx, rz, px);
    let accepted = feasible && st.progress(rx, rz, px, xpx).is_solved(tol);
    if !accepted {
        st.restore_iterate(saved);
    }
    accepted
}

/// Map the iterate back to the user's variables and fill the result.
fn finish(st: &State<'_>, status: SolverStatus, iterations: usize, pr: &Progress, time: f64) -> SolveResult {
    let (n, m) = (st.n(), st.m());
    let (d, e, c, tau) = (&st.eq.d, &st.eq.e, st.eq.c, st.tau);
    let mut x: Vec<f64> = (0..n).map(|j| d[j] * st.x[j]).collect();
    let mut z: Vec<f64> = (0..m).map(|i| e[i] * st.z[i]).collect();
    let mut s: Vec<f64> = (0..m).map(|i| st.s[i] / e[i]).collect();
    let obj_val;
    match status {
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
            // Certificate z with b'z = -1.
            let bz = dot(&st.b, &st.z);
            z.iter_mut().for_each(|v| *v /= -bz);
            x.iter_mut().for_each(|v| *v = f64::NAN);
            s.iter_mut().for_each(|v| *v = f64::NAN);
            obj_val = f64::INFINITY;
        }
        SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => {
            // Certificate x with q'x = -1 (s is the matching direction).
            let qx = dot(&st.q, &st.x) / c;
            x.iter_mut().for_each(|v| *v /= -qx);
            s.iter_mut().for_each(|v| *v /= -qx);
            z.iter_mut().for_each(|v| *v = f64::NAN);
            obj_val = f64::NEG_INFINITY;
        }
        _ => {
            x.iter_mut().for_each(|v| *v /= tau);
            s.iter_mut().for_each(|v| *v /= tau);
            z.iter_mut().for_each(|v| *v /= c * tau);
            obj_val = pr.pobj;
        }
    }
    SolveResult {
        x,
        z,
        s,
        status,
        iterations,
        obj_val,
        primal_res: pr.res_primal,
        dual_res: pr.res_dual,
        gap: pr.gap_abs,
        solve_time: time,
    }
}
