//! Derivatives of the solution map (x, z, s) of a solved problem with respect to
//! (P, A, q, b): JVP and VJP by implicit differentiation of the residual map
//! (Agrawal et al., "Differentiating through a cone program", with the quadratic
//! term added).
//!
//! With `v = z - s` the optimum satisfies `F(x, v) = 0` where
//! `F = [Px + q + A' proj_{K*}(v);  Ax + proj_{K*}(v) - v - b]`, and
//! `z = proj_{K*}(v)`, `s = z - v`.  Differentiating:
//! `M [dx; dv] = -[dP x + dA' z + dq;  dA x - db]`, `dz = D dv`, `ds = (D - I) dv`,
//! with `M` from `system.rs` and `D` from `projection.rs`.
//!
//! - Elements whose status is not Solved/AlmostSolved get NaN outputs.
//! - At kinks (degenerate solutions) the projection derivative is a fixed one-sided
//!   element (see `projection.rs`); when M is singular (solution not unique) the
//!   system is solved in the minimum-norm least-squares sense (`K^+`, see `ldlt.rs`),
//!   by the same LDL^T factor, so derivatives stay finite and cost the same.
//! - Every element of a batch takes its own path; a slow one never slows the others
//!   beyond its own thread.
//! - Absent rows (`b_i = +inf` on a nonnegative row, see `absent`) are
//!   differentiated in their neutral form and get zero outputs: db_i = 0 and
//!   dA on row i = 0 (VJP), dz_i = ds_i = 0 (JVP).
//! - dP follows P's full symmetric storage: the two entries of a symmetric pair get
//!   equal gradients (half of the total each); a P tangent is symmetrized the same way.

mod block_elimination;
mod dense;
mod genpow_projection;
pub mod ldlt;
mod ordered;
pub mod projection;
mod soc_expansion;
pub mod system;

use std::borrow::Cow;

use rayon::prelude::*;

use crate::absent;
use crate::batch::{batch_row, in_thread_pool, BatchValues, Family};
use crate::error::SolverError;
use crate::problem::{check_finite, ProblemPattern};
use crate::settings::Settings;
use crate::status::SolverStatus;
pub use system::DerivSymbolic;
use ldlt::SymSystem;

/// Solutions of a batch (row-major, one row per element) and their statuses.
pub struct BatchSolution<'a> {
    pub x: &'a [f64],
    pub z: &'a [f64],
    pub s: &'a [f64],
    pub status: &'a [i32],
}

/// Cotangents of x, z, s (batch x n, batch x m, batch x m).
pub struct BatchCotangent<'a> {
    pub dx: &'a [f64],
    pub dz: &'a [f64],
    pub ds: &'a [f64],
}

/// VJP outputs: per-element gradients (batch x nnzP, batch x nnzA, batch x n, batch x m).
pub struct BatchGradOut<'a> {
    pub dp: &'a mut [f64],
    pub da: &'a mut [f64],
    pub dq: &'a mut [f64],
    pub db: &'a mut [f64],
}

/// JVP inputs: tangents of P and A (`*_rows` = 1 means shared by the batch), q and b.
pub struct BatchTangent<'a> {
    pub dp: &'a [f64],
    pub dp_rows: usize,
    pub da: &'a [f64],
    pub da_rows: usize,
    pub dq: &'a [f64],
    pub db: &'a [f64],
}

/// JVP outputs: tangents of x, z, s.
pub struct BatchTangentOut<'a> {
    pub dx: &'a mut [f64],
    pub dz: &'a mut [f64],
    pub ds: &'a mut [f64],
}

fn differentiable(status: i32) -> bool {
    status == SolverStatus::Solved as i32 || status == SolverStatus::AlmostSolved as i32
}

/// Per-element data: D at the solution and the factored linear system.
struct Element<'s> {
    sym: &'s DerivSymbolic,
    pattern: &'s ProblemPattern,
    a: &'s [f64],
    /// Dense blocks of D = D proj_{K*}(v).
    d: Vec<f64>,
    /// Symmetric form K and its factor.
    ksym: SymSystem<'s>,
    /// Test-only switch (`MOREAU_DERIV_PATH=lsqr`): skip the LDL^T, use LSQR on K.
    force_lsqr: bool,
}

/// Whether `MOREAU_DERIV_PATH=lsqr` (test-only) forces the LSQR path.
fn force_lsqr() -> bool {
    std::env::var("MOREAU_DERIV_PATH").is_ok_and(|v| v == "lsqr")
}

/// y = B x (or B' x) for a block-diagonal matrix stored as dense row-major blocks
/// (B symmetric or not).  Both walk the rows contiguously: B x by row dot products,
/// B' x as a sum of rows scaled by x (a strided column walk cost 3x more on the
/// 61-dim SOC block of socp_20x60).
fn apply_blocks(sym: &DerivSymbolic, blocks: &[f64], transpose: bool, x: &[f64], y: &mut [f64]) {
    for b in &sym.blocks {
        let (xb, yb) = (&x[b.start..b.start + b.dim], &mut y[b.start..b.start + b.dim]);
        let rows = blocks[b.offset..b.offset + b.dim * b.dim].chunks_exact(b.dim);
        if transpose {
            yb.fill(0.0);
            for (row, &xi) in rows.zip(xb) {
                if xi != 0.0 {
                    yb.iter_mut().zip(row).for_each(|(o, r)| *o += r * xi);
                }
            }
        } else {
            for (o, row) in yb.iter_mut().zip(rows) {
                *o = row.iter().zip(xb).map(|(r, v)| r * v).sum();
            }
        }
    }
}

impl<'s> Element<'s> {
    /// None when K cannot be formed (a cone block's eigen-decomposition failed).
    fn new(
        sym: &'s DerivSymbolic,
        pattern: &'s ProblemPattern,
        p: &'s [f64],
        a: &'s [f64],
        z: &[f64],
        s: &[f64],
        static_reg: f64,
        force_lsqr: bool,
    ) -> Option<Self> {
        let mut d = vec![0.0; sym.d_len];
        // v0 = s - z of one block (one buffer: most blocks are 1x1 rows)
        let mut v0 = Vec::new();
        for b in &sym.blocks {
            let r = b.start..b.start + b.dim;
            v0.clear();
            v0.extend(s[r.clone()].iter().zip(&z[r.clone()]).map(|(si, zi)| si - zi));
            let out = &mut d[b.offset..b.offset + b.dim * b.dim];
            projection::primal_jacobian(b.kind.clone(), &v0, &s[r], out);
            // D proj_{K*}(v) = I - D proj_K(-v)
            out.iter_mut().for_each(|o| *o = -*o);
            for i in 0..b.dim {
                out[i * b.dim + i] += 1.0;
            }
        }
        let ksym = sym.ldlt.as_ref().and_then(|ss| SymSystem::new(sym, ss, pattern, p, a, &d, static_reg));
        let Some(ksym) = ksym else {
            tracing::debug!(symbolic = sym.ldlt.is_some(), "derivative: symmetric system unavailable; NaN derivatives");
            return None;
        };
        Some(Element { sym, pattern, a, d, ksym, force_lsqr })
    }

    fn solve_k(&mut self, rhs: &[f64]) -> Vec<f64> {
        let (y, path) = self.ksym.solve(rhs, self.force_lsqr);
        ldlt::count_path(path);
        y
    }

    /// Solve M [dx; dv] = [r1; r2] (generalized: see `ldlt.rs`); returns (dx, dv).
    fn solve_forward(&mut self, r: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, m) = (self.sym.n, self.sym.m);
        let mut rhs = r.to_vec();
        apply_blocks(self.sym, &self.d, false, &r[n..], &mut rhs[n..]);
        let y = self.solve_k(&rhs);
        let (dx, dv_r) = y.split_at(n);
        // dv = dv_R + N (A dx - r2)
        let a_pat = &self.pattern.a;
        let mut t: Vec<f64> = (0..m)
            .map(|i| (a_pat.indptr[i]..a_pat.indptr[i + 1]).map(|k| self.a[k] * dx[a_pat.indices[k]]).sum())
            .collect();
        t.iter_mut().zip(&r[n..]).for_each(|(ti, ri)| *ti -= ri);
        let mut dv = vec![0.0; m];
        apply_blocks(self.sym, &self.ksym.null_proj, false, &t, &mut dv);
        dv.iter_mut().zip(dv_r).for_each(|(a, b)| *a += b);
        (dx.to_vec(), dv)
    }

    /// Adjoint: given (gx, c), find (w1, u2) with gx.dx + c.dv = w1.r1 + u2.r2 for the
    /// solution (dx, dv) of M [dx; dv] = [r1; r2].
    fn solve_adjoint(&mut self, gx: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, m) = (self.sym.n, self.sym.m);
        // K w = [gx + A' N c; c], then u2 = D w2 - N c
        let mut nc = vec![0.0; m];
        apply_blocks(self.sym, &self.ksym.null_proj, true, c, &mut nc);
        let mut rhs = vec![0.0; n + m];
        rhs[..n].copy_from_slice(gx);
        let a_pat = &self.pattern.a;
        for i in 0..m {
            for k in a_pat.indptr[i]..a_pat.indptr[i + 1] {
                rhs[a_pat.indices[k]] += self.a[k] * nc[i];
            }
        }
        rhs[n..].copy_from_slice(c);
        let w = self.solve_k(&rhs);
        let mut u2 = vec![0.0; m];
        apply_blocks(self.sym, &self.d, true, &w[n..], &mut u2);
        u2.iter_mut().zip(&nc).for_each(|(a, b)| *a -= b);
        (w[..n].to_vec(), u2)
    }
}

impl Family {
    fn deriv_symbolic(&self) -> Result<&DerivSymbolic, SolverError> {
        if let Some(sym) = self.deriv.get() {
            return Ok(sym);
        }
        let sym = DerivSymbolic::new(&self.pattern)?;
        Ok(self.deriv.get_or_init(|| sym))
    }

    fn check_solution(&self, v: &BatchValues<'_>, sol: &BatchSolution<'_>) -> Result<(), SolverError> {
        let (n, m, batch) = (self.pattern.n, self.pattern.m, v.batch);
        if sol.x.len() != batch * n || sol.z.len() != batch * m || sol.s.len() != batch * m || sol.status.len() != batch {
            return Err(SolverError::Data(format!(
                "solution must have shapes x ({batch}, {n}), z ({batch}, {m}), s ({batch}, {m}), status ({batch},); got {}, {}, {}, {} values",
                sol.x.len(),
                sol.z.len(),
                sol.s.len(),
                sol.status.len()
            )));
        }
        for k in 0..batch {
            if differentiable(sol.status[k]) {
                check_finite(format_args!("solution x of element {k}"), &sol.x[k * n..(k + 1) * n])?;
                check_finite(format_args!("solution z of element {k}"), &sol.z[k * m..(k + 1) * m])?;
                let r = k * m..(k + 1) * m;
                if !absent::slack_ok(&self.pattern.cones, &sol.s[r.clone()], &v.b[r.clone()]) {
                    check_finite(format_args!("solution s of element {k}"), &sol.s[r])?;
                }
            }
        }
        Ok(())
    }

    /// Element k's A values, z and s, with its absent rows neutralized (owned
    /// copies only when it has some), and those rows.
    fn neutral_element<'v>(
        &self,
        v: &BatchValues<'v>,
        sol: &BatchSolution<'v>,
        k: usize,
    ) -> (Cow<'v, [f64]>, Cow<'v, [f64]>, Cow<'v, [f64]>, Vec<usize>) {
        let m = self.pattern.m;
        let (_, a) = self.element_matrices(v, k);
        let (z, s) = (&sol.z[k * m..(k + 1) * m], &sol.s[k * m..(k + 1) * m]);
        let rows = absent::absent_rows_or_empty(&self.pattern.cones, &v.b[k * m..(k + 1) * m]);
        if rows.is_empty() {
            return (Cow::Borrowed(a), Cow::Borrowed(z), Cow::Borrowed(s), rows);
        }
        let (a, _) = absent::neutralize(&self.pattern, a, &v.b[k * m..(k + 1) * m], &rows);
        let (z, s) = absent::neutral_point(z, s, &rows);
        (Cow::Owned(a), Cow::Owned(z), Cow::Owned(s), rows)
    }

    /// Map `f` over the batch on rayon threads (like `solve_batch`); result k at index k.
    fn run_parallel<R: Send, F: Fn(usize) -> R + Sync + Send>(&self, batch: usize, settings: &Settings, f: F) -> Result<Vec<R>, SolverError> {
        if batch <= 1 {
            return Ok((0..batch).map(f).collect());
        }
        in_thread_pool(settings, || (0..batch).into_par_iter().map(f).collect())
    }

    /// Vector-Jacobian products for a batch: cotangents of (x, z, s) to gradients of
    /// (P_values, A_values, q, b), one row per element (also for shared P/A).
    pub fn vjp_batch(
        &self,
        v: &BatchValues<'_>,
        sol: &BatchSolution<'_>,
        cot: &BatchCotangent<'_>,
        settings: &Settings,
        out: &mut BatchGradOut<'_>,
    ) -> Result<(), SolverError> {
        self.validate(v)?;
        self.check_solution(v, sol)?;
        let (n, m, batch) = (self.pattern.n, self.pattern.m, v.batch);
        let (np, na) = (self.pattern.p.nnz(), self.pattern.a.nnz());
        if cot.dx.len() != batch * n || cot.dz.len() != batch * m || cot.ds.len() != batch * m {
            return Err(SolverError::Data(format!(
                "cotangents must have shapes dx ({batch}, {n}), dz ({batch}, {m}), ds ({batch}, {m}); got {}, {}, {} values",
                cot.dx.len(),
                cot.dz.len(),
                cot.ds.len()
            )));
        }
        check_finite("dx", cot.dx)?;
        check_finite("dz", cot.dz)?;
        check_finite("ds", cot.ds)?;
        if out.dp.len() != batch * np || out.da.len() != batch * na || out.dq.len() != batch * n || out.db.len() != batch * m {
            return Err(SolverError::Data(format!(
                "gradient outputs must have shapes ({batch}, {np}), ({batch}, {na}), ({batch}, {n}), ({batch}, {m})"
            )));
        }
        let sym = self.deriv_symbolic()?;
        let pattern = &self.pattern;
        let static_reg = settings.static_regularization_constant.max(1e-10);
        let force = force_lsqr();
        // Elements compute into their own buffers; copied into `out` afterwards.
        let results = self.run_parallel(batch, settings, |k| {
            let nan_grads = || (vec![f64::NAN; np], vec![f64::NAN; na], vec![f64::NAN; n], vec![f64::NAN; m]);
            if !differentiable(sol.status[k]) {
                return nan_grads();
            }
            let (p, _) = self.element_matrices(v, k);
            let (a, z, s, absent_rows) = self.neutral_element(v, sol, k);
            let (a, z, s) = (&a[..], &z[..], &s[..]);
            let x = &sol.x[k * n..(k + 1) * n];
            let Some(mut el) = Element::new(sym, pattern, p, a, z, s, static_reg, force) else {
                return nan_grads();
            };
            // the loss is gx.dx + c.dv with c = D'(gz + gs) - gs
            let gx = &cot.dx[k * n..(k + 1) * n];
            let gz = &cot.dz[k * m..(k + 1) * m];
            let gs = &cot.ds[k * m..(k + 1) * m];
            let sum: Vec<f64> = gz.iter().zip(gs).map(|(a, b)| a + b).collect();
            let mut c = vec![0.0; m];
            apply_blocks(sym, &el.d, true, &sum, &mut c);
            c.iter_mut().zip(gs).for_each(|(ci, g)| *ci -= g);
            let (w1, w2) = el.solve_adjoint(gx, &c);
            let (mut dp, mut da, mut dq, mut db) = (vec![0.0; np], vec![0.0; na], vec![0.0; n], vec![0.0; m]);
            let (w1, w2) = (&w1[..], &w2[..]);
            // with r1 = -(dP x + dA' z + dq), r2 = db - dA x
            dq.iter_mut().zip(w1).for_each(|(o, wi)| *o = -wi);
            db.copy_from_slice(w2);
            let a_pat = &pattern.a;
            for i in 0..m {
                let r = a_pat.indptr[i]..a_pat.indptr[i + 1];
                for (o, &j) in da[r.clone()].iter_mut().zip(&a_pat.indices[r]) {
                    *o = -(z[i] * w1[j] + w2[i] * x[j]);
                }
            }
            for (i, j, t) in pattern.p.entries() {
                dp[t] = -0.5 * (w1[i] * x[j] + w1[j] * x[i]);
            }
            for &i in &absent_rows {
                db[i] = 0.0;
                da[pattern.a.indptr[i]..pattern.a.indptr[i + 1]].fill(0.0);
            }
            (dp, da, dq, db)
        })?;
        for (k, (dp, da, dq, db)) in results.into_iter().enumerate() {
            out.dp[k * np..(k + 1) * np].copy_from_slice(&dp);
            out.da[k * na..(k + 1) * na].copy_from_slice(&da);
            out.dq[k * n..(k + 1) * n].copy_from_slice(&dq);
            out.db[k * m..(k + 1) * m].copy_from_slice(&db);
        }
        Ok(())
    }

    /// Jacobian-vector products for a batch: tangents of (P_values, A_values, q, b)
    /// to tangents of (x, z, s).
    pub fn jvp_batch(
        &self,
        v: &BatchValues<'_>,
        sol: &BatchSolution<'_>,
        tan: &BatchTangent<'_>,
        settings: &Settings,
        out: &mut BatchTangentOut<'_>,
    ) -> Result<(), SolverError> {
        self.validate(v)?;
        self.check_solution(v, sol)?;
        let (n, m, batch) = (self.pattern.n, self.pattern.m, v.batch);
        let (np, na) = (self.pattern.p.nnz(), self.pattern.a.nnz());
        for (name, rows) in [("dP_values", tan.dp_rows), ("dA_values", tan.da_rows)] {
            if rows != 1 && rows != batch {
                return Err(SolverError::Data(format!(
                    "{name} has batch size {rows} but the batch has {batch} problems (use 1 to share it)"
                )));
            }
        }
        if tan.dp.len() != tan.dp_rows * np || tan.da.len() != tan.da_rows * na || tan.dq.len() != batch * n || tan.db.len() != batch * m {
            return Err(SolverError::Data(format!(
                "tangents must have shapes dP ({}, {np}), dA ({}, {na}), dq ({batch}, {n}), db ({batch}, {m}); got {}, {}, {}, {} values",
                tan.dp_rows,
                tan.da_rows,
                tan.dp.len(),
                tan.da.len(),
                tan.dq.len(),
                tan.db.len()
            )));
        }
        check_finite("dP_values", tan.dp)?;
        check_finite("dA_values", tan.da)?;
        check_finite("dq", tan.dq)?;
        check_finite("db", tan.db)?;
        if out.dx.len() != batch * n || out.dz.len() != batch * m || out.ds.len() != batch * m {
            return Err(SolverError::Data(format!(
                "tangent outputs must have shapes ({batch}, {n}), ({batch}, {m}), ({batch}, {m})"
            )));
        }
        let sym = self.deriv_symbolic()?;
        let pattern = &self.pattern;
        let static_reg = settings.static_regularization_constant.max(1e-10);
        let force = force_lsqr();
        let results = self.run_parallel(batch, settings, |k| {
            let (mut dx, mut dz, mut ds) = (vec![0.0; n], vec![0.0; m], vec![0.0; m]);
            if !differentiable(sol.status[k]) {
                for o in dx.iter_mut().chain(dz.iter_mut()).chain(ds.iter_mut()) {
                    *o = f64::NAN;
                }
                return (dx, dz, ds);
            }
            let (p, _) = self.element_matrices(v, k);
            let (a, z, s, absent_rows) = self.neutral_element(v, sol, k);
            let (a, z, s) = (&a[..], &z[..], &s[..]);
            let x = &sol.x[k * n..(k + 1) * n];
            let tp = batch_row(tan.dp, tan.dp_rows, k, np);
            let ta = batch_row(tan.da, tan.da_rows, k, na);
            let Some(mut el) = Element::new(sym, pattern, p, a, z, s, static_reg, force) else {
                return (vec![f64::NAN; n], vec![f64::NAN; m], vec![f64::NAN; m]);
            };
            // rhs = -[dP x + dA' z + dq; dA x - db], dP symmetrized over mirror pairs
            let mut rhs = vec![0.0; n + m];
            for (i, j, t) in pattern.p.entries() {
                rhs[i] -= 0.5 * (tp[t] + tp[pattern.p_mirror[t]]) * x[j];
            }
            for (i, j, t) in pattern.a.entries() {
                rhs[j] -= ta[t] * z[i];
                rhs[n + i] -= ta[t] * x[j];
            }
            for j in 0..n {
                rhs[j] -= tan.dq[k * n + j];
            }
            for i in 0..m {
                rhs[n + i] += tan.db[k * m + i];
            }
            let (sol_dx, dv) = el.solve_forward(&rhs);
            dx.copy_from_slice(&sol_dx);
            apply_blocks(sym, &el.d, false, &dv, &mut dz);
            ds.iter_mut().zip(dz.iter()).zip(&dv).for_each(|((o, dzi), dvi)| *o = dzi - dvi);
            for &i in &absent_rows {
                dz[i] = 0.0;
                ds[i] = 0.0;
            }
            (dx, dz, ds)
        })?;
        for (k, (dx, dz, ds)) in results.into_iter().enumerate() {
            out.dx[k * n..(k + 1) * n].copy_from_slice(&dx);
            out.dz[k * m..(k + 1) * m].copy_from_slice(&dz);
            out.ds[k * m..(k + 1) * m].copy_from_slice(&ds);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{ConeSpec, CsrPattern};

    /// min 1/2 x'Px + q'x, x >= 0, sum x = 1 with P = diag(p): the seed problem of the
    /// design notes when p = 1, q = 1..5 (degenerate: x_1 = 0 with zero multiplier).
    fn simplex_family(n: usize) -> Family {
        let p = CsrPattern::new("P", n, n, (0..=n as i64).collect(), (0..n as i64).collect()).unwrap();
        let mut indptr = vec![0i64, n as i64];
        let mut indices: Vec<i64> = (0..n as i64).collect();
        for j in 0..n as i64 {
            indices.push(j);
            indptr.push(n as i64 + j + 1);
        }
        let a = CsrPattern::new("A", n + 1, n, indptr, indices).unwrap();
        let cones = ConeSpec { zero: 1, nonneg: n, ..Default::default() };
        Family::new(ProblemPattern::new(p, a, cones).unwrap(), &Settings::default()).unwrap()
    }

    fn simplex_values(n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let a: Vec<f64> = std::iter::repeat(1.0).take(n).chain(std::iter::repeat(-1.0).take(n)).collect();
        let mut b = vec![0.0; n + 1];
        b[0] = 1.0;
        (vec![1.0; n], a, (1..=n).map(|i| i as f64).collect(), b)
    }

    #[test]
    fn seed_problem_vjp_is_finite_and_matches_jvp() {
        let n = 5;
        let fam = simplex_family(n);
        let (p, a, q, b) = simplex_values(n);
        let v = BatchValues { batch: 1, p: &p, p_rows: 1, a: &a, a_rows: 1, q: &q, b: &b, warm: None };
        let settings = Settings::default();
        let res = fam.solve_batch(&v, &settings).unwrap().remove(0);
        assert!(res.status.is_solved());
        let status = [res.status.code() as i32];
        let sol = BatchSolution { x: &res.x, z: &res.z, s: &res.s, status: &status };
        let gx = vec![1.0, 0.0, 0.0, 0.0, 0.0];
        let (gz, gs) = (vec![0.0; n + 1], vec![0.0; n + 1]);
        let (mut dp, mut da, mut dq, mut db) = (vec![0.0; n], vec![0.0; 2 * n], vec![0.0; n], vec![0.0; n + 1]);
        let mut out = BatchGradOut { dp: &mut dp, da: &mut da, dq: &mut dq, db: &mut db };
        fam.vjp_batch(&v, &sol, &BatchCotangent { dx: &gx, dz: &gz, ds: &gs }, &settings, &mut out).unwrap();
        assert!(dq.iter().chain(&db).chain(&dp).chain(&da).all(|g| g.is_finite()));
        // x_0 = 1 whatever q_2..q_4 (inactive side of x_j >= 0): zero derivative there
        for j in 2..n {
            assert!(dq[j].abs() < 1e-6, "dq[{j}] = {}", dq[j]);
        }
        // adjointness with the JVP along q
        let tq = [0.3, -0.2, 0.5, 0.1, -0.4];
        let zeros_p = vec![0.0; n];
        let zeros_a = vec![0.0; 2 * n];
        let zeros_b = vec![0.0; n + 1];
        let tan = BatchTangent { dp: &zeros_p, dp_rows: 1, da: &zeros_a, da_rows: 1, dq: &tq, db: &zeros_b };
        let (mut tx, mut tz, mut ts) = (vec![0.0; n], vec![0.0; n + 1], vec![0.0; n + 1]);
        fam.jvp_batch(&v, &sol, &tan, &settings, &mut BatchTangentOut { dx: &mut tx, dz: &mut tz, ds: &mut ts })
            .unwrap();
        let lhs: f64 = tx[0];
        let rhs: f64 = tq.iter().zip(&dq).map(|(t, g)| t * g).sum();
        assert!((lhs - rhs).abs() < 1e-9, "{lhs} vs {rhs}");
    }

    #[test]
    fn unsolved_elements_get_nan_and_bad_shapes_are_errors() {
        let n = 3;
        let fam = simplex_family(n);
        let (p, a, q, b) = simplex_values(n);
        let v = BatchValues { batch: 1, p: &p, p_rows: 1, a: &a, a_rows: 1, q: &q, b: &b, warm: None };
        let (x, z) = (vec![f64::NAN; n], vec![f64::NAN; n + 1]);
        let status = [SolverStatus::PrimalInfeasible as i32];
        let sol = BatchSolution { x: &x, z: &z, s: &z, status: &status };
        let (gx, gz) = (vec![1.0; n], vec![0.0; n + 1]);
        let (mut dp, mut da, mut dq, mut db) = (vec![0.0; n], vec![0.0; 2 * n], vec![0.0; n], vec![0.0; n + 1]);
        let mut out = BatchGradOut { dp: &mut dp, da: &mut da, dq: &mut dq, db: &mut db };
        let cot = BatchCotangent { dx: &gx, dz: &gz, ds: &gz };
        fam.vjp_batch(&v, &sol, &cot, &Settings::default(), &mut out).unwrap();
        assert!(dq.iter().chain(&db).chain(&dp).chain(&da).all(|g| g.is_nan()));
        let short = vec![1.0; n - 1];
        let cot = BatchCotangent { dx: &short, dz: &gz, ds: &gz };
        let mut out = BatchGradOut { dp: &mut dp, da: &mut da, dq: &mut dq, db: &mut db };
        let err = fam.vjp_batch(&v, &sol, &cot, &Settings::default(), &mut out).unwrap_err();
        assert!(err.to_string().contains("cotangents"), "{err}");
    }
}
