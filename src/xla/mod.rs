//! Rust side of the XLA FFI custom calls (C++ handlers in `ffi/handlers.cc`).
//!
//! The C++ handlers decode XLA's buffers and attributes and call
//! [`ffi_dispatch`] through a cxx bridge.  Every operand and result is float32
//! or float64 (any mix; the [`Buf`] carries its element type), with the
//! same number of leading batch dimensions (jax's `vmap_method="expand_dims"`:
//! each leading dimension is either the batch size or 1 for an operand that is
//! not batched along it); outputs carry the full batch dimensions.  Operands
//! broadcast along every batch dimension are passed to the solver as shared
//! (one row), so P and A are not copied per element.
//!
//! Precision: the solver computes in float64.  float64 buffers are used in
//! place; a float32 operand is widened once on entry (one pass over the
//! buffer, shared operands converted once, not per element) and a float32
//! result is computed in a float64 scratch buffer and rounded once on exit.
//! With `jax_enable_x64` off XLA holds no float64 buffer at all, so this is
//! what lets float32 programs call the solver.
//!
//! Errors (bad shapes, unknown pattern, a panic) come back as `Err(String)`,
//! which cxx turns into a C++ exception that the handler maps to an FFI error.

mod kernels;
pub mod registry;

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

#[cxx::bridge(namespace = "moreau_ffi")]
mod bridge {
    /// An XLA buffer: address, element count (0 may come with a null
    /// address) and element type (`DTYPE_F64` or `DTYPE_F32`).
    struct Buf {
        addr: usize,
        len: usize,
        dtype: u8,
    }

    extern "Rust" {
        fn ffi_dispatch(
            kind: i32,
            pattern_id: i64,
            settings: &str,
            batch: &[i64],
            lead: &[i64],
            inputs: &[Buf],
            outputs: &[Buf],
        ) -> Result<()>;
    }
}

pub use bridge::Buf;

/// `Buf::dtype` of a float64 buffer.
pub const DTYPE_F64: u8 = 0;
/// `Buf::dtype` of a float32 buffer.
pub const DTYPE_F32: u8 = 1;

/// Which custom call: the forward solve, the JVP or the VJP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Solve = 0,
    Jvp = 1,
    Vjp = 2,
}

fn ffi_dispatch(
    kind: i32,
    pattern_id: i64,
    settings: &str,
    batch: &[i64],
    lead: &[i64],
    inputs: &[Buf],
    outputs: &[Buf],
) -> Result<(), String> {
    let kind = match kind {
        0 => Kind::Solve,
        1 => Kind::Jvp,
        2 => Kind::Vjp,
        k => return Err(format!("moreau: unknown custom-call kind {k}")),
    };
    // SAFETY: the handler passes XLA's buffers, valid for the duration of the call;
    // inputs are never written and outputs do not alias inputs.
    let ins: Vec<Cow<'_, [f64]>> = inputs.iter().map(|b| unsafe { input_f64(b) }).collect::<Result<_, _>>()?;
    let in_refs: Vec<&[f64]> = ins.iter().map(|c| &c[..]).collect();
    // float32 results are computed into float64 scratch and rounded on exit.
    let mut scratch: Vec<Vec<f64>> = outputs
        .iter()
        .map(|b| if b.dtype == DTYPE_F64 { Vec::new() } else { vec![0.0; b.len] })
        .collect();
    for b in outputs {
        check_dtype(b, "result")?;
    }
    let mut outs: Vec<&mut [f64]> = outputs
        .iter()
        .zip(scratch.iter_mut())
        .map(|(b, tmp)| if b.dtype == DTYPE_F64 { unsafe { as_slice_mut::<f64>(b) } } else { &mut tmp[..] })
        .collect();
    let call = kernels::Call { kind, batch, lead, ins: &in_refs };
    let result = catch_unwind(AssertUnwindSafe(|| kernels::run(&call, pattern_id, settings, &mut outs)));
    drop(outs);
    match result {
        Ok(Ok(())) => {
            for (b, tmp) in outputs.iter().zip(&scratch) {
                if b.dtype == DTYPE_F32 {
                    // SAFETY: as above; an f32 result buffer of b.len elements.
                    let dst = unsafe { as_slice_mut::<f32>(b) };
                    dst.iter_mut().zip(tmp).for_each(|(d, &v)| *d = v as f32);
                }
            }
            Ok(())
        }
        Ok(Err(e)) => Err(format!("moreau {kind:?}: {e}")),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("moreau {kind:?}: internal error (panic: {msg}); please report it"))
        }
    }
}

fn check_dtype(b: &Buf, what: &str) -> Result<(), String> {
    match b.dtype {
        DTYPE_F64 | DTYPE_F32 => Ok(()),
        t => Err(format!("moreau: {what} buffer of unsupported element type tag {t} (float32 or float64 expected)")),
    }
}

/// An operand as float64: borrowed when it already is, widened (exactly) when float32.
unsafe fn input_f64<'a>(b: &Buf) -> Result<Cow<'a, [f64]>, String> {
    check_dtype(b, "operand")?;
    Ok(if b.dtype == DTYPE_F64 {
        Cow::Borrowed(as_slice::<f64>(b))
    } else {
        Cow::Owned(as_slice::<f32>(b).iter().map(|&v| v as f64).collect())
    })
}

unsafe fn as_slice<'a, T>(b: &Buf) -> &'a [T] {
    if b.len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(b.addr as *const T, b.len)
    }
}

unsafe fn as_slice_mut<'a, T>(b: &Buf) -> &'a mut [T] {
    if b.len == 0 {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(b.addr as *mut T, b.len)
    }
}

extern "C" {
    fn MoreauSolveFfi(frame: *mut std::ffi::c_void) -> *mut std::ffi::c_void;
    fn MoreauJvpFfi(frame: *mut std::ffi::c_void) -> *mut std::ffi::c_void;
    fn MoreauVjpFfi(frame: *mut std::ffi::c_void) -> *mut std::ffi::c_void;
}

/// (target name, handler address) for `jax.ffi.register_ffi_target`.
pub fn handler_symbols() -> Vec<(&'static str, usize)> {
    vec![
        ("moreau_solve", MoreauSolveFfi as *const () as usize),
        ("moreau_jvp", MoreauJvpFfi as *const () as usize),
        ("moreau_vjp", MoreauVjpFfi as *const () as usize),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{ConeSpec, CsrPattern, ProblemPattern};

    /// min 1/2 x'x + q'x  s.t.  x0 + x1 = 1 (zero cone), solved
    /// with float32 and float64 buffers mixed; the answers agree to float32 rounding.
    #[test]
    fn float32_and_float64_buffers_mix() {
        let p = CsrPattern::new("P", 2, 2, vec![0, 1, 2], vec![0, 1]).unwrap();
        let a = CsrPattern::new("A", 1, 2, vec![0, 2], vec![0, 1]).unwrap();
        let cones = ConeSpec { zero: 1, nonneg: 0, soc: vec![], exp: 0, power: vec![], ..Default::default() };
        let id = registry::register_pattern(ProblemPattern::new(p, a, cones).unwrap());
        let buf64 = |v: &[f64]| Buf { addr: v.as_ptr() as usize, len: v.len(), dtype: DTYPE_F64 };
        let buf32 = |v: &[f32]| Buf { addr: v.as_ptr() as usize, len: v.len(), dtype: DTYPE_F32 };
        let (pv, av, q, b) = ([1.0f64, 1.0], [1.0f32, 1.0], [0.25f32, -0.5], [1.0f64]);
        // x = argmin 1/2|x|^2 + q'x on x0 + x1 = 1: x = -q + t(1, 1), t = (1 + q0 + q1) / 2.
        let t = (1.0 + 0.25 - 0.5) / 2.0;
        let want = [-0.25 + t, 0.5 + t];
        let (mut x32, mut z64, mut s32, mut info32) = ([0f32; 2], [0f64; 1], [0f32; 1], [0f32; 4]);
        let ins = [buf64(&pv), buf32(&av), buf32(&q), buf64(&b)];
        let outs = [
            Buf { addr: x32.as_mut_ptr() as usize, len: 2, dtype: DTYPE_F32 },
            Buf { addr: z64.as_mut_ptr() as usize, len: 1, dtype: DTYPE_F64 },
            Buf { addr: s32.as_mut_ptr() as usize, len: 1, dtype: DTYPE_F32 },
            Buf { addr: info32.as_mut_ptr() as usize, len: 4, dtype: DTYPE_F32 },
        ];
        ffi_dispatch(0, id, "", &[1], &[1, 1, 1, 1], &ins, &outs).unwrap();
        assert_eq!(info32[0], 1.0, "status Solved");
        for k in 0..2 {
            assert!((x32[k] as f64 - want[k]).abs() < 1e-6, "{x32:?} vs {want:?}");
        }
        // z: Px + q + A'z = 0  ->  z = -(x0 + q0), in float64.
        assert!((z64[0] + want[0] + 0.25).abs() < 1e-7, "{z64:?}");
        // An unsupported element type is an error, not a misread buffer.
        let bad = [Buf { dtype: 7, ..buf64(&pv) }, buf32(&av), buf32(&q), buf64(&b)];
        let err = ffi_dispatch(0, id, "", &[1], &[1, 1, 1, 1], &bad, &outs).unwrap_err();
        assert!(err.contains("element type"), "{err}");
    }
}
