//! Compiles the XLA FFI handlers (ffi/handlers.cc) and the cxx bridge against the
//! XLA FFI headers shipped with the installed jaxlib (`jax.ffi.include_dir()`).
//!
//! Python is found as: $PYO3_PYTHON, $VIRTUAL_ENV/bin/python, ./.venv/bin/python,
//! python3.  The jaxlib found there must be the one used at run time (the FFI API
//! is versioned); pyproject.toml pins it in the build requirements for `pip install`.

use std::path::PathBuf;
use std::process::Command;

fn python_candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Ok(p) = std::env::var("PYO3_PYTHON") {
        c.push(PathBuf::from(p));
    }
    if let Ok(v) = std::env::var("VIRTUAL_ENV") {
        c.push(PathBuf::from(v).join("bin/python"));
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    c.push(manifest.join(".venv/bin/python"));
    c.push(PathBuf::from("python3"));
    c
}

fn jax_include_dir() -> PathBuf {
    let mut tried = Vec::new();
    for py in python_candidates() {
        if py.is_absolute() && !py.exists() {
            continue;
        }
        let out = Command::new(&py).args(["-c", "import jax.ffi; print(jax.ffi.include_dir())"]).output();
        match out {
            Ok(o) if o.status.success() => {
                let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
                if dir.join("xla/ffi/api/ffi.h").exists() {
                    return dir;
                }
                tried.push(format!("{}: no xla/ffi/api/ffi.h under {}", py.display(), dir.display()));
            }
            Ok(o) => tried.push(format!("{}: {}", py.display(), String::from_utf8_lossy(&o.stderr).trim().lines().last().unwrap_or(""))),
            Err(e) => tried.push(format!("{}: {e}", py.display())),
        }
    }
    panic!(
        "moreau-jax needs the XLA FFI headers of jaxlib to build its JAX custom calls, but no \
         Python with jax importable was found. Install the pinned jax/jaxlib (pip install -r \
         requirements-dev.txt) or set PYO3_PYTHON to a Python that has them. Tried:\n  {}",
        tried.join("\n  ")
    );
}

fn main() {
    let include = jax_include_dir();
    cxx_build::bridge("src/xla/mod.rs")
        .file("ffi/handlers.cc")
        .include(&include)
        .std("c++17")
        .flag_if_supported("-O2")
        // The XLA headers trigger a few harmless warnings (unused parameters etc.).
        .warnings(false)
        .compile("moreau_ffi");
    println!("cargo:rerun-if-changed=ffi/handlers.cc");
    println!("cargo:rerun-if-changed=src/xla/mod.rs");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
}
