//! The work behind each custom call: broadcasting of batch dimensions, the
//! batched solve and (once wired) the batched derivatives.

use std::borrow::Cow;

use super::registry::{self, Entry};
use super::Kind;
use crate::absent;
use crate::batch::{batch_row, BatchValues};
use crate::derivatives::{BatchCotangent, BatchGradOut, BatchSolution, BatchTangent, BatchTangentOut};
use crate::error::SolverError;
use crate::status::SolverStatus;

/// One custom call as decoded by the C++ handler.
pub struct Call<'a> {
    pub kind: Kind,
    /// Full batch dimensions (the leading dimensions of the outputs).
    pub batch: &'a [i64],
    /// Leading dimensions of every input, `batch.len()` per input, concatenated.
    pub lead: &'a [i64],
    pub ins: &'a [&'a [f64]],
}

/// Number of columns of the info output: status, iterations, objective, solve time.
pub const INFO_WIDTH: usize = 4;

impl<'a> Call<'a> {
    fn size(&self) -> usize {
        self.batch.iter().map(|&d| d as usize).product()
    }

    fn lead_of(&self, idx: usize) -> &'a [i64] {
        let k = self.batch.len();
        &self.lead[idx * k..(idx + 1) * k]
    }

    /// Input `idx` with `width` values per element, as (values, rows): rows is 1
    /// when the operand is shared by the whole batch, else the batch size (an
    /// operand batched along only some dimensions is expanded).
    fn operand(&self, idx: usize, width: usize, name: &str) -> Result<(Cow<'a, [f64]>, usize), SolverError> {
        let data = *self
            .ins
            .get(idx)
            .ok_or_else(|| SolverError::Internal(format!("missing operand {name}")))?;
        let lead = self.lead_of(idx);
        let mut rows = 1usize;
        for (&l, &d) in lead.iter().zip(self.batch) {
            if l != 1 && l != d {
                return Err(SolverError::Data(format!(
                    "{name} has batch dimensions {lead:?}, not broadcastable to {:?}",
                    self.batch
                )));
            }
            rows *= l as usize;
        }
        if data.len() != rows * width {
            return Err(SolverError::Data(format!(
                "{name} has {} values, expected {rows} x {width}",
                data.len()
            )));
        }
        let total = self.size();
        if rows == 1 || rows == total {
            return Ok((Cow::Borrowed(data), rows));
        }
        // Partially batched (nested vmap with this operand batched along some axes).
        let mut out = Vec::with_capacity(total * width);
        let mut index = vec![0i64; self.batch.len()];
        for _ in 0..total {
            let mut src = 0usize;
            for (j, &l) in lead.iter().enumerate() {
                src = src * l as usize + if l == 1 { 0 } else { index[j] as usize };
            }
            out.extend_from_slice(&data[src * width..(src + 1) * width]);
            for j in (0..index.len()).rev() {
                index[j] += 1;
                if index[j] < self.batch[j] {
                    break;
                }
                index[j] = 0;
            }
        }
        Ok((Cow::Owned(out), total))
    }

    /// Input `idx` with one row per batch element (shared operands repeated).
    fn per_element(&self, idx: usize, width: usize, name: &str) -> Result<Cow<'a, [f64]>, SolverError> {
        let (data, rows) = self.operand(idx, width, name)?;
        let total = self.size();
        if rows == total {
            Ok(data)
        } else {
            Ok(Cow::Owned(data.iter().copied().cycle().take(total * width).collect()))
        }
    }
}

fn check_out(out: &[f64], want: usize, name: &str) -> Result<(), SolverError> {
    if out.len() != want {
        return Err(SolverError::Internal(format!("output {name} has {} values, expected {want}", out.len())));
    }
    Ok(())
}

pub fn run(call: &Call<'_>, pattern_id: i64, settings: &str, outs: &mut [&mut [f64]]) -> Result<(), SolverError> {
    if call.lead.len() != call.batch.len() * call.ins.len() {
        return Err(SolverError::Internal("inconsistent batch dimensions".into()));
    }
    let entry = registry::lookup(pattern_id, settings)?;
    match call.kind {
        Kind::Solve => solve(call, &entry, outs),
        Kind::Jvp => jvp(call, &entry, outs),
        Kind::Vjp => vjp(call, &entry, outs),
    }
}

/// Elements whose rows of `data` (`rows` rows of `width`) hold NaN/Inf.  Such an
/// element is not an error of the whole call: it gets a NumericalError status
/// (forward) or NaN derivatives, like any element the solver fails on.
fn mark_nonfinite(bad: &mut [bool], data: &[f64], rows: usize, width: usize) {
    for k in 0..bad.len() {
        if batch_row(data, rows, k, width).iter().any(|v| !v.is_finite()) {
            bad[k] = true;
        }
    }
}

/// Elements whose b has an infinity other than +inf on a nonnegative row (an
/// absent bound, see `absent`), or NaN: under jit these cannot raise, so the
/// element gets a NumericalError status and NaN outputs.
fn mark_bad_b(bad: &mut [bool], b: &[f64], entry: &Entry) {
    let (m, cones) = (entry.family.pattern.m, &entry.family.pattern.cones);
    for k in 0..bad.len() {
        if absent::absent_rows(cones, &b[k * m..(k + 1) * m], "b").is_err() {
            bad[k] = true;
        }
    }
}

/// `data` with the rows of bad elements zeroed (only copies when needed).
fn zero_rows<'a>(data: Cow<'a, [f64]>, rows: usize, width: usize, bad: &[bool]) -> Cow<'a, [f64]> {
    if !bad.iter().any(|&b| b) || width == 0 {
        return data;
    }
    let mut owned = data.into_owned();
    if rows == 1 {
        if owned.iter().any(|v| !v.is_finite()) {
            owned.iter_mut().for_each(|v| *v = 0.0);
        }
    } else {
        for (k, &b) in bad.iter().enumerate() {
            if b {
                owned[k * width..(k + 1) * width].iter_mut().for_each(|v| *v = 0.0);
            }
        }
    }
    Cow::Owned(owned)
}

/// Residuals of the derivative calls: the problem data and the solution (inputs
/// 0..8), with elements that have non-finite data or are not solved marked.
struct Residuals<'a> {
    p: Cow<'a, [f64]>,
    p_rows: usize,
    a: Cow<'a, [f64]>,
    a_rows: usize,
    q: Cow<'a, [f64]>,
    b: Cow<'a, [f64]>,
    x: Cow<'a, [f64]>,
    z: Cow<'a, [f64]>,
    s: Cow<'a, [f64]>,
    status: Vec<i32>,
}

impl<'a> Residuals<'a> {
    fn new(call: &Call<'a>, entry: &Entry, bad: &mut [bool]) -> Result<Self, SolverError> {
        let pat = &entry.family.pattern;
        let (n, m, np, na) = (pat.n, pat.m, pat.p.nnz(), pat.a.nnz());
        let (p, p_rows, a, a_rows, q, b) = problem_values(call, entry)?;
        let x = call.per_element(4, n, "x")?;
        let z = call.per_element(5, m, "z")?;
        let s = call.per_element(6, m, "s")?;
        let info = call.per_element(7, INFO_WIDTH, "info")?;
        mark_nonfinite(bad, &p, p_rows, np);
        mark_nonfinite(bad, &a, a_rows, na);
        mark_nonfinite(bad, &q, bad.len(), n);
        mark_bad_b(bad, &b, entry);
        let status = (0..bad.len())
            .map(|k| if bad[k] { SolverStatus::NumericalError as i32 } else { info[k * INFO_WIDTH] as i32 })
            .collect();
        Ok(Residuals {
            p: zero_rows(p, p_rows, np, bad),
            p_rows,
            a: zero_rows(a, a_rows, na, bad),
            a_rows,
            q: zero_rows(q, bad.len(), n, bad),
            b: zero_rows(b, bad.len(), m, bad),
            x,
            z,
            s,
            status,
        })
    }

    fn values(&self) -> BatchValues<'_> {
        BatchValues {
            batch: self.status.len(),
            p: &self.p,
            p_rows: self.p_rows,
            a: &self.a,
            a_rows: self.a_rows,
            q: &self.q,
            b: &self.b,
            warm: None,
        }
    }

    fn solution(&self) -> BatchSolution<'_> {
        BatchSolution { x: &self.x, z: &self.z, s: &self.s, status: &self.status }
    }
}

/// Reverse mode: cotangents of (x, z, s) to per-element gradients of (P, A, q, b).
fn vjp(call: &Call<'_>, entry: &Entry, outs: &mut [&mut [f64]]) -> Result<(), SolverError> {
    let pat = &entry.family.pattern;
    let (n, m) = (pat.n, pat.m);
    let batch = call.size();
    if call.ins.len() != 11 {
        return Err(SolverError::Internal(format!("vjp takes 11 operands, got {}", call.ins.len())));
    }
    let mut bad = vec![false; batch];
    let gx = call.per_element(8, n, "cotangent of x")?;
    let gz = call.per_element(9, m, "cotangent of z")?;
    let gs = call.per_element(10, m, "cotangent of s")?;
    mark_nonfinite(&mut bad, &gx, batch, n);
    mark_nonfinite(&mut bad, &gz, batch, m);
    mark_nonfinite(&mut bad, &gs, batch, m);
    let res = Residuals::new(call, entry, &mut bad)?;
    let (gx, gz, gs) = (zero_rows(gx, batch, n, &bad), zero_rows(gz, batch, m, &bad), zero_rows(gs, batch, m, &bad));
    let [dp, da, dq, db] = outs else {
        return Err(SolverError::Internal("vjp has 4 outputs".into()));
    };
    let mut out = BatchGradOut { dp, da, dq, db };
    let cot = BatchCotangent { dx: &gx, dz: &gz, ds: &gs };
    entry.family.vjp_batch(&res.values(), &res.solution(), &cot, &entry.settings, &mut out)
}

/// Forward mode: tangents of (P, A, q, b) to tangents of (x, z, s).
fn jvp(call: &Call<'_>, entry: &Entry, outs: &mut [&mut [f64]]) -> Result<(), SolverError> {
    let pat = &entry.family.pattern;
    let (n, m, np, na) = (pat.n, pat.m, pat.p.nnz(), pat.a.nnz());
    let batch = call.size();
    if call.ins.len() != 12 {
        return Err(SolverError::Internal(format!("jvp takes 12 operands, got {}", call.ins.len())));
    }
    let mut bad = vec![false; batch];
    let (tp, tp_rows) = call.operand(8, np, "tangent of P_values")?;
    let (ta, ta_rows) = call.operand(9, na, "tangent of A_values")?;
    let tq = call.per_element(10, n, "tangent of q")?;
    let tb = call.per_element(11, m, "tangent of b")?;
    mark_nonfinite(&mut bad, &tp, tp_rows, np);
    mark_nonfinite(&mut bad, &ta, ta_rows, na);
    mark_nonfinite(&mut bad, &tq, batch, n);
    mark_nonfinite(&mut bad, &tb, batch, m);
    let res = Residuals::new(call, entry, &mut bad)?;
    let (tp, ta) = (zero_rows(tp, tp_rows, np, &bad), zero_rows(ta, ta_rows, na, &bad));
    let (tq, tb) = (zero_rows(tq, batch, n, &bad), zero_rows(tb, batch, m, &bad));
    let [dx, dz, ds] = outs else {
        return Err(SolverError::Internal("jvp has 3 outputs".into()));
    };
    let tan = BatchTangent { dp: &tp, dp_rows: tp_rows, da: &ta, da_rows: ta_rows, dq: &tq, db: &tb };
    let mut out = BatchTangentOut { dx, dz, ds };
    entry.family.jvp_batch(&res.values(), &res.solution(), &tan, &entry.settings, &mut out)
}

/// The problem data P, A, q, b (inputs 0..4) as the solver's batch values.
fn problem_values<'a>(
    call: &Call<'a>,
    entry: &Entry,
) -> Result<(Cow<'a, [f64]>, usize, Cow<'a, [f64]>, usize, Cow<'a, [f64]>, Cow<'a, [f64]>), SolverError> {
    let pat = &entry.family.pattern;
    let (p, p_rows) = call.operand(0, pat.p.nnz(), "P_values")?;
    let (a, a_rows) = call.operand(1, pat.a.nnz(), "A_values")?;
    let q = call.per_element(2, pat.n, "q")?;
    let b = call.per_element(3, pat.m, "b")?;
    Ok((p, p_rows, a, a_rows, q, b))
}

fn solve(call: &Call<'_>, entry: &Entry, outs: &mut [&mut [f64]]) -> Result<(), SolverError> {
    let (n, m) = (entry.family.pattern.n, entry.family.pattern.m);
    let batch = call.size();
    let (p, p_rows, a, a_rows, q, b) = problem_values(call, entry)?;
    let warm = match call.ins.len() {
        4 => None,
        7 => Some((
            call.per_element(4, n, "warm x")?,
            call.per_element(5, m, "warm z")?,
            call.per_element(6, m, "warm s")?,
        )),
        k => return Err(SolverError::Internal(format!("solve takes 4 or 7 operands, got {k}"))),
    };
    let [x_out, z_out, s_out, info_out] = outs else {
        return Err(SolverError::Internal("solve has 4 outputs".into()));
    };
    check_out(x_out, batch * n, "x")?;
    check_out(z_out, batch * m, "z")?;
    check_out(s_out, batch * m, "s")?;
    check_out(info_out, batch * INFO_WIDTH, "info")?;
    let pat = &entry.family.pattern;
    let mut bad = vec![false; batch];
    mark_nonfinite(&mut bad, &p, p_rows, pat.p.nnz());
    mark_nonfinite(&mut bad, &a, a_rows, pat.a.nnz());
    mark_nonfinite(&mut bad, &q, batch, n);
    mark_bad_b(&mut bad, &b, entry);
    let (p, a) = (zero_rows(p, p_rows, pat.p.nnz(), &bad), zero_rows(a, a_rows, pat.a.nnz(), &bad));
    let (q, b) = (zero_rows(q, batch, n, &bad), zero_rows(b, batch, m, &bad));
    // A warm start with NaN/Inf is dropped for the whole call (it only affects speed);
    // s = +inf on absent rows (b = +inf) is that of a previous solution and is kept.
    let cones = &pat.cones;
    let warm = warm.filter(|(x, z, s)| {
        x.iter().chain(z.iter()).all(|v| v.is_finite())
            && (0..batch).all(|k| absent::slack_ok(cones, &s[k * m..(k + 1) * m], &b[k * m..(k + 1) * m]))
    });
    let values = BatchValues {
        batch,
        p: &p,
        p_rows,
        a: &a,
        a_rows,
        q: &q,
        b: &b,
        warm: warm.as_ref().map(|(x, z, s)| (&x[..], &z[..], &s[..])),
    };
    let results = entry.family.solve_batch(&values, &entry.settings)?;
    for (k, r) in results.iter().enumerate() {
        x_out[k * n..(k + 1) * n].copy_from_slice(&r.x);
        z_out[k * m..(k + 1) * m].copy_from_slice(&r.z);
        s_out[k * m..(k + 1) * m].copy_from_slice(&r.s);
        let info = &mut info_out[k * INFO_WIDTH..(k + 1) * INFO_WIDTH];
        info[0] = r.status.code() as f64;
        info[1] = r.iterations as f64;
        info[2] = r.obj_val;
        info[3] = r.solve_time;
        if bad[k] {
            x_out[k * n..(k + 1) * n].fill(f64::NAN);
            z_out[k * m..(k + 1) * m].fill(f64::NAN);
            s_out[k * m..(k + 1) * m].fill(f64::NAN);
            info[0] = SolverStatus::NumericalError.code() as f64;
            info[2] = f64::NAN;
        }
    }
    Ok(())
}
