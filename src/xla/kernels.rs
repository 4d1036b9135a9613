//! The work behind each custom call: broadcasting of batch dimensions, the
//! batched solve and (once wired) the batched derivatives.

use std::borrow::Cow;

use super::registry::{self, Entry};
use super::Kind;
use crate::batch::BatchValues;
use crate::error::SolverError;

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
        Kind::Jvp | Kind::Vjp => Err(SolverError::Internal(
            "derivatives of the solve are not available in this build".into(),
        )),
    }
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
    }
    Ok(())
}
