//! Rust side of the XLA FFI custom calls (C++ handlers in `ffi/handlers.cc`).
//!
//! The C++ handlers decode XLA's buffers and attributes and call
//! [`ffi_dispatch`] through a cxx bridge.  Every operand is float64 with the
//! same number of leading batch dimensions (jax's `vmap_method="expand_dims"`:
//! each leading dimension is either the batch size or 1 for an operand that is
//! not batched along it); outputs carry the full batch dimensions.  Operands
//! broadcast along every batch dimension are passed to the solver as shared
//! (one row), so P and A are not copied per element.
//!
//! Errors (bad shapes, unknown pattern, a panic) come back as `Err(String)`,
//! which cxx turns into a C++ exception that the handler maps to an FFI error.

mod kernels;
pub mod registry;

use std::panic::{catch_unwind, AssertUnwindSafe};

#[cxx::bridge(namespace = "moreau_ffi")]
mod bridge {
    /// A float64 buffer: address and element count (0 may come with a null address).
    struct Buf {
        addr: usize,
        len: usize,
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
    let ins: Vec<&[f64]> = inputs.iter().map(|b| unsafe { as_slice(b) }).collect();
    let mut outs: Vec<&mut [f64]> = outputs.iter().map(|b| unsafe { as_slice_mut(b) }).collect();
    let call = kernels::Call { kind, batch, lead, ins: &ins };
    match catch_unwind(AssertUnwindSafe(|| kernels::run(&call, pattern_id, settings, &mut outs))) {
        Ok(Ok(())) => Ok(()),
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

unsafe fn as_slice<'a>(b: &Buf) -> &'a [f64] {
    if b.len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(b.addr as *const f64, b.len)
    }
}

unsafe fn as_slice_mut<'a>(b: &Buf) -> &'a mut [f64] {
    if b.len == 0 {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(b.addr as *mut f64, b.len)
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
