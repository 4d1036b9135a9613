//! pyo3 bindings: `moreau_jax._native.NativeSolver` (see docs/native-interface.md).
//!
//! Validation errors become `ValueError`; a Rust panic is caught and raised as
//! `RuntimeError` so that nothing unwinds into the interpreter.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString, PyTuple};

use crate::batch::{BatchValues, Family};
use crate::canonical::{self, CanonError, Entries};
use crate::derivatives::{BatchCotangent, BatchGradOut, BatchSolution, BatchTangent, BatchTangentOut};
use crate::error::SolverError;
use crate::problem::{ConeSpec, CsrPattern, ProblemPattern};
use crate::settings::{SettingValue, Settings};
use crate::SolveResult;

fn value_error(e: SolverError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// The Rust kernels index raw slices: every array must be C-contiguous.
fn require_contiguous(arrays: &[(&str, &PyReadonlyArray2<'_, f64>)]) -> PyResult<()> {
    match arrays.iter().find(|(_, a)| !a.is_c_contiguous()) {
        Some((name, _)) => Err(PyValueError::new_err(format!("{name} must be C-contiguous"))),
        None => Ok(()),
    }
}

/// Run `work` without the GIL; a panic becomes a RuntimeError naming `what`,
/// a solver error a ValueError.
fn run_detached<T: Send>(
    py: Python<'_>,
    what: &str,
    work: impl FnOnce() -> Result<T, SolverError> + Send,
) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(work)))
        .map_err(|_| PyRuntimeError::new_err(format!("internal error (panic) in the {what}; please report it")))?
        .map_err(value_error)
}

fn parse_settings(dict: Option<&Bound<'_, PyDict>>) -> PyResult<Settings> {
    let mut settings = Settings::default();
    if let Some(dict) = dict {
        for (key, value) in dict.iter() {
            let key: String = key.extract()?;
            let v = if value.is_instance_of::<PyBool>() {
                SettingValue::Bool(value.extract()?)
            } else if value.is_instance_of::<PyInt>() {
                SettingValue::Int(value.extract()?)
            } else if value.is_instance_of::<PyFloat>() {
                SettingValue::Float(value.extract()?)
            } else if value.is_instance_of::<PyString>() {
                SettingValue::Str(value.extract()?)
            } else if let Ok(f) = value.extract::<f64>() {
                SettingValue::Float(f)
            } else {
                return Err(PyValueError::new_err(format!("setting {key:?} has an unsupported type")));
            };
            settings.set(&key, &v).map_err(value_error)?;
        }
    }
    Ok(settings)
}

fn parse_cones(dict: &Bound<'_, PyDict>) -> PyResult<ConeSpec> {
    let mut spec = ConeSpec::default();
    for (key, value) in dict.iter() {
        let key: String = key.extract()?;
        let count = |v: &Bound<'_, PyAny>| -> PyResult<usize> {
            let c: i64 = v.extract()?;
            if c < 0 {
                return Err(PyValueError::new_err(format!("invalid cones: {key} must be >= 0, got {c}")));
            }
            Ok(c as usize)
        };
        match key.as_str() {
            "zero" => spec.zero = count(&value)?,
            "nonneg" => spec.nonneg = count(&value)?,
            "exp" => spec.exp = count(&value)?,
            "soc" => {
                let dims: Vec<i64> = value.extract()?;
                if let Some(d) = dims.iter().find(|d| **d < 0) {
                    return Err(PyValueError::new_err(format!("invalid cones: SOC dimension {d} < 0")));
                }
                spec.soc = dims.into_iter().map(|d| d as usize).collect();
            }
            "psd" => {
                let sides: Vec<i64> = value.extract()?;
                if let Some(k) = sides.iter().find(|k| **k < 0) {
                    return Err(PyValueError::new_err(format!("invalid cones: PSD side {k} < 0")));
                }
                spec.psd = sides.into_iter().map(|k| k as usize).collect();
            }
            "power" => spec.power = value.extract()?,
            "gen_power" => {
                let cones: Vec<(Vec<f64>, i64)> = value.extract()?;
                if let Some((_, d)) = cones.iter().find(|(_, d)| *d < 1) {
                    return Err(PyValueError::new_err(format!("invalid cones: generalized power cone dim2 = {d} < 1")));
                }
                spec.gen_power = cones.into_iter().map(|(a, d)| (a, d as usize)).collect();
            }
            _ => return Err(PyValueError::new_err(format!("invalid cones: unknown cone kind {key:?}"))),
        }
    }
    Ok(spec)
}

/// A zeroed (rows, cols) float64 array that the kernels write in place (one
/// NumPy-owned array: a Vec-owning array plus its reshaped view cost more).
fn new_matrix(py: Python<'_>, rows: usize, cols: usize) -> Bound<'_, PyArray2<f64>> {
    PyArray2::<f64>::zeros(py, [rows, cols], false)
}

fn output_dict<'py, const N: usize>(py: Python<'py>, outputs: [(&str, Bound<'py, PyArray2<f64>>); N]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, arr) in outputs {
        d.set_item(name, arr)?;
    }
    Ok(d)
}

fn result_dict<'py>(py: Python<'py>, results: &[SolveResult], n: usize, m: usize, setup_time: f64) -> PyResult<Bound<'py, PyDict>> {
    let b = results.len();
    let d = PyDict::new(py);
    // Each output is one NumPy-owned array written in place: a Vec-owning array plus
    // its reshaped view cost more than the copy on a tiny problem.
    let stack = |f: &dyn Fn(&SolveResult) -> &[f64], width: usize| -> PyResult<Bound<'py, PyAny>> {
        let arr = new_matrix(py, b, width);
        {
            let mut rw = arr.readwrite();
            let out = rw.as_slice_mut()?;
            for (k, r) in results.iter().enumerate() {
                let row = f(r);
                if row.len() != width {
                    return Err(PyRuntimeError::new_err("internal error: a result has the wrong length; please report it"));
                }
                out[k * width..(k + 1) * width].copy_from_slice(row);
            }
        }
        Ok(arr.into_any())
    };
    d.set_item("x", stack(&|r| &r.x, n)?)?;
    d.set_item("z", stack(&|r| &r.z, m)?)?;
    d.set_item("s", stack(&|r| &r.s, m)?)?;
    let ints = |f: &dyn Fn(&SolveResult) -> i64| PyArray1::from_slice(py, &results.iter().map(f).collect::<Vec<_>>());
    let floats = |f: &dyn Fn(&SolveResult) -> f64| PyArray1::from_slice(py, &results.iter().map(f).collect::<Vec<_>>());
    d.set_item("status", ints(&|r| r.status.code()))?;
    d.set_item("iterations", ints(&|r| r.iterations as i64))?;
    d.set_item("obj_val", floats(&|r| r.obj_val))?;
    d.set_item("primal_res", floats(&|r| r.primal_res))?;
    d.set_item("dual_res", floats(&|r| r.dual_res))?;
    d.set_item("gap", floats(&|r| r.gap))?;
    d.set_item("solve_time", floats(&|r| r.solve_time))?;
    d.set_item("setup_time", setup_time)?;
    Ok(d)
}

/// A problem family with fixed sparsity, ready to solve batches of values.
#[pyclass(module = "moreau_jax._native", frozen)]
struct NativeSolver {
    family: Family,
    settings: Settings,
}

#[pymethods]
impl NativeSolver {
    #[new]
    #[pyo3(signature = (n, m, P_indptr, P_indices, A_indptr, A_indices, cones, settings=None))]
    #[allow(non_snake_case, clippy::too_many_arguments)]
    fn new(
        n: usize,
        m: usize,
        P_indptr: PyReadonlyArray1<'_, i64>,
        P_indices: PyReadonlyArray1<'_, i64>,
        A_indptr: PyReadonlyArray1<'_, i64>,
        A_indices: PyReadonlyArray1<'_, i64>,
        cones: &Bound<'_, PyDict>,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let settings = parse_settings(settings)?;
        let cones = parse_cones(cones)?;
        let p = CsrPattern::new("P", n, n, P_indptr.as_array().to_vec(), P_indices.as_array().to_vec())
            .map_err(value_error)?;
        let a = CsrPattern::new("A", m, n, A_indptr.as_array().to_vec(), A_indices.as_array().to_vec())
            .map_err(value_error)?;
        let pattern = ProblemPattern::new(p, a, cones).map_err(value_error)?;
        let family = catch_unwind(AssertUnwindSafe(|| Family::new(pattern, &settings)))
            .map_err(|_| PyRuntimeError::new_err("internal error (panic) during symbolic analysis"))?
            .map_err(value_error)?;
        Ok(NativeSolver { family, settings })
    }

    #[getter]
    fn n(&self) -> usize {
        self.family.pattern.n
    }
    #[getter]
    fn m(&self) -> usize {
        self.family.pattern.m
    }
    #[getter]
    #[allow(non_snake_case)]
    fn nnz_P(&self) -> usize {
        self.family.pattern.p.nnz()
    }
    #[getter]
    #[allow(non_snake_case)]
    fn nnz_A(&self) -> usize {
        self.family.pattern.a.nnz()
    }
    #[getter]
    fn setup_time(&self) -> f64 {
        self.family.setup_time
    }

    /// Solve a batch.  See docs/native-interface.md for shapes and outputs.
    #[pyo3(signature = (P_values, A_values, q, b, warm_x=None, warm_z=None, warm_s=None))]
    #[allow(non_snake_case, clippy::too_many_arguments)]
    fn solve<'py>(
        &self,
        py: Python<'py>,
        P_values: PyReadonlyArray2<'py, f64>,
        A_values: PyReadonlyArray2<'py, f64>,
        q: PyReadonlyArray2<'py, f64>,
        b: PyReadonlyArray2<'py, f64>,
        warm_x: Option<PyReadonlyArray2<'py, f64>>,
        warm_z: Option<PyReadonlyArray2<'py, f64>>,
        warm_s: Option<PyReadonlyArray2<'py, f64>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let batch = q.shape()[0];
        if b.shape()[0] != batch {
            return Err(PyValueError::new_err(format!(
                "q has batch size {batch} but b has batch size {}",
                b.shape()[0]
            )));
        }
        require_contiguous(&[("P_values", &P_values), ("A_values", &A_values), ("q", &q), ("b", &b)])?;
        let warm = match (&warm_x, &warm_z, &warm_s) {
            (Some(x), Some(z), Some(s)) => {
                require_contiguous(&[("warm_x", x), ("warm_z", z), ("warm_s", s)])?;
                Some((x.as_slice()?, z.as_slice()?, s.as_slice()?))
            }
            (None, None, None) => None,
            _ => return Err(PyValueError::new_err("warm start needs all of x, z and s")),
        };
        let values = BatchValues { warm, ..batch_values(batch, &P_values, &A_values, &q, &b)? };
        let family = &self.family;
        let settings = &self.settings;
        let results = run_detached(py, "solver", || family.solve_batch(&values, settings))?;
        result_dict(py, &results, family.pattern.n, family.pattern.m, family.setup_time)
    }

    /// Gradients of (P_values, A_values, q, b) from cotangents of (x, z, s) of a
    /// solved batch (VJP).  See docs/native-interface.md.
    #[pyo3(signature = (P_values, A_values, q, b, x, z, s, status, dx, dz, ds))]
    #[allow(non_snake_case, clippy::too_many_arguments)]
    fn vjp<'py>(
        &self,
        py: Python<'py>,
        P_values: PyReadonlyArray2<'py, f64>,
        A_values: PyReadonlyArray2<'py, f64>,
        q: PyReadonlyArray2<'py, f64>,
        b: PyReadonlyArray2<'py, f64>,
        x: PyReadonlyArray2<'py, f64>,
        z: PyReadonlyArray2<'py, f64>,
        s: PyReadonlyArray2<'py, f64>,
        status: PyReadonlyArray1<'py, i64>,
        dx: PyReadonlyArray2<'py, f64>,
        dz: PyReadonlyArray2<'py, f64>,
        ds: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        require_contiguous(&[("P_values", &P_values), ("A_values", &A_values), ("q", &q), ("b", &b), ("x", &x), ("z", &z), ("s", &s), ("dx", &dx), ("dz", &dz), ("ds", &ds)])?;
        let batch = q.shape()[0];
        let values = batch_values(batch, &P_values, &A_values, &q, &b)?;
        let status: Vec<i32> = status.as_array().iter().map(|&c| c as i32).collect();
        let sol = BatchSolution { x: x.as_slice()?, z: z.as_slice()?, s: s.as_slice()?, status: &status };
        let cot = BatchCotangent { dx: dx.as_slice()?, dz: dz.as_slice()?, ds: ds.as_slice()? };
        let (n, m) = (self.family.pattern.n, self.family.pattern.m);
        let (np, na) = (self.family.pattern.p.nnz(), self.family.pattern.a.nnz());
        let outputs = [("dP_values", np), ("dA_values", na), ("dq", n), ("db", m)].map(|(name, width)| (name, new_matrix(py, batch, width)));
        {
            let mut guards = outputs.each_ref().map(|(_, arr)| arr.readwrite());
            let [gp, ga, gq, gb] = guards.each_mut().map(|g| g.as_slice_mut());
            let (gp, ga, gq, gb) = (gp?, ga?, gq?, gb?);
            let family = &self.family;
            let settings = &self.settings;
            run_detached(py, "derivative", || {
                let mut out = BatchGradOut { dp: gp, da: ga, dq: gq, db: gb };
                family.vjp_batch(&values, &sol, &cot, settings, &mut out)
            })?;
        }
        output_dict(py, outputs)
    }

    /// Tangents of (x, z, s) from tangents of (P_values, A_values, q, b) of a solved
    /// batch (JVP).  dP_values / dA_values have 1 (shared) or B rows.
    #[pyo3(signature = (P_values, A_values, q, b, x, z, s, status, dP_values, dA_values, dq, db))]
    #[allow(non_snake_case, clippy::too_many_arguments)]
    fn jvp<'py>(
        &self,
        py: Python<'py>,
        P_values: PyReadonlyArray2<'py, f64>,
        A_values: PyReadonlyArray2<'py, f64>,
        q: PyReadonlyArray2<'py, f64>,
        b: PyReadonlyArray2<'py, f64>,
        x: PyReadonlyArray2<'py, f64>,
        z: PyReadonlyArray2<'py, f64>,
        s: PyReadonlyArray2<'py, f64>,
        status: PyReadonlyArray1<'py, i64>,
        dP_values: PyReadonlyArray2<'py, f64>,
        dA_values: PyReadonlyArray2<'py, f64>,
        dq: PyReadonlyArray2<'py, f64>,
        db: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        require_contiguous(&[("P_values", &P_values), ("A_values", &A_values), ("q", &q), ("b", &b), ("x", &x), ("z", &z), ("s", &s), ("dP_values", &dP_values), ("dA_values", &dA_values), ("dq", &dq), ("db", &db)])?;
        let batch = q.shape()[0];
        let values = batch_values(batch, &P_values, &A_values, &q, &b)?;
        let status: Vec<i32> = status.as_array().iter().map(|&c| c as i32).collect();
        let sol = BatchSolution { x: x.as_slice()?, z: z.as_slice()?, s: s.as_slice()?, status: &status };
        let tan = BatchTangent {
            dp: dP_values.as_slice()?,
            dp_rows: dP_values.shape()[0],
            da: dA_values.as_slice()?,
            da_rows: dA_values.shape()[0],
            dq: dq.as_slice()?,
            db: db.as_slice()?,
        };
        let (n, m) = (self.family.pattern.n, self.family.pattern.m);
        let outputs = [("dx", n), ("dz", m), ("ds", m)].map(|(name, width)| (name, new_matrix(py, batch, width)));
        {
            let mut guards = outputs.each_ref().map(|(_, arr)| arr.readwrite());
            let [tx, tz, ts] = guards.each_mut().map(|g| g.as_slice_mut());
            let (tx, tz, ts) = (tx?, tz?, ts?);
            let family = &self.family;
            let settings = &self.settings;
            run_detached(py, "derivative", || {
                let mut out = BatchTangentOut { dx: tx, dz: tz, ds: ts };
                family.jvp_batch(&values, &sol, &tan, settings, &mut out)
            })?;
        }
        output_dict(py, outputs)
    }
}

fn batch_values<'a>(
    batch: usize,
    p: &'a PyReadonlyArray2<'_, f64>,
    a: &'a PyReadonlyArray2<'_, f64>,
    q: &'a PyReadonlyArray2<'_, f64>,
    b: &'a PyReadonlyArray2<'_, f64>,
) -> PyResult<BatchValues<'a>> {
    Ok(BatchValues {
        batch,
        p: p.as_slice()?,
        p_rows: p.shape()[0],
        a: a.as_slice()?,
        a_rows: a.shape()[0],
        q: q.as_slice()?,
        b: b.as_slice()?,
        warm: None,
    })
}

/// A scipy index array (int32 or int64; anything else is cast to int64) as i64.
/// (`cast` first: a failed `extract` builds a Python exception, which costs more
/// than the rest of the call on a tiny matrix.)
fn index_vec(x: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if let Ok(a) = x.cast::<PyArray1<i32>>() {
        return Ok(a.readonly().as_array().iter().map(|&i| i as i64).collect());
    }
    if let Ok(a) = x.cast::<PyArray1<i64>>() {
        return Ok(a.readonly().as_array().to_vec());
    }
    let a: PyReadonlyArray1<'_, i64> = x.call_method1("astype", ("int64",))?.extract()?;
    Ok(a.as_array().to_vec())
}

/// The Python wording of a rejected matrix (the messages of moreau_jax/_problem.py,
/// floats in Python's repr / str so that they read the same as before).
fn canon_error(py: Python<'_>, name: &str, e: CanonError) -> PyErr {
    let repr = |v: f64| PyFloat::new(py, v).repr().map(|s| s.to_string()).unwrap_or_else(|_| v.to_string());
    match e {
        CanonError::Structure(msg) => PyValueError::new_err(format!("{name}: invalid sparse matrix storage: {msg}.")),
        CanonError::NonFinite { index, value } => {
            let v = PyFloat::new(py, value).str().map(|s| s.to_string()).unwrap_or_else(|_| value.to_string());
            PyValueError::new_err(format!(
                "{name} (stored values) contains a non-finite value ({v} at index {index}); all problem \
                 data must be finite (no NaN or Inf)."
            ))
        }
        CanonError::Asymmetric { row, col, value, mirror, worst } => {
            let worst = PyString::new(py, "{:.3g}")
                .call_method1("format", (worst,))
                .map(|s| s.to_string())
                .unwrap_or_else(|_| format!("{worst:e}"));
            PyValueError::new_err(format!(
                "P must be symmetric: P[{row}, {col}] = {} but P[{col}, {row}] = {} (max |P - P^T| = {worst}). \
                 Pass the full symmetric matrix, or only its upper triangle (then nothing may be stored below \
                 the diagonal). If you passed the lower triangle, pass its transpose.",
                repr(value),
                repr(mirror)
            ))
        }
    }
}

/// Canonical CSR of a caller's scipy matrix (see `crate::canonical`): `format` is
/// "csr" / "csc" (`major`, `minor` = indptr, indices) or "coo" (row, col);
/// `symmetric` builds the full symmetric P.  Returns (indptr, indices, values,
/// dest, src, weight, identity), the three terms None for an identity map; a bad
/// matrix raises ValueError.
#[pyfunction]
#[pyo3(signature = (name, format, nrows, ncols, major, minor, data, symmetric))]
#[allow(clippy::too_many_arguments)]
fn canonical_csr<'py>(
    py: Python<'py>,
    name: &str,
    format: &str,
    nrows: usize,
    ncols: usize,
    major: &Bound<'py, PyAny>,
    minor: &Bound<'py, PyAny>,
    data: PyReadonlyArray1<'py, f64>,
    symmetric: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let (a, b) = (index_vec(major)?, index_vec(minor)?);
    let data = data.as_array();
    let data = data.as_slice().map(|s| s.to_vec()).unwrap_or_else(|| data.to_vec());
    let work = || -> Result<canonical::Canonical, CanonError> {
        let e = match format {
            "csr" => Entries::compressed(nrows, ncols, &a, &b, false)?,
            "csc" => Entries::compressed(nrows, ncols, &a, &b, true)?,
            "coo" => Entries::coo(nrows, ncols, &a, &b)?,
            other => return Err(CanonError::Structure(format!("unknown storage format {other:?}"))),
        };
        if symmetric {
            canonical::symmetric(&e, &data)
        } else {
            canonical::general(&e, &data)
        }
    };
    let c = catch_unwind(AssertUnwindSafe(work))
        .map_err(|_| PyRuntimeError::new_err("internal error (panic) in canonical_csr; please report it"))?
        .map_err(|e| canon_error(py, name, e))?;
    // from_slice: a NumPy-owned copy is cheaper than a Vec-owning array on tiny
    // data; an identity map needs no terms (ValueMap never applies it).
    let terms = |v: &[i64]| (!c.identity).then(|| PyArray1::from_slice(py, v));
    (
        PyArray1::from_slice(py, &c.indptr),
        PyArray1::from_slice(py, &c.indices),
        PyArray1::from_slice(py, &c.values),
        terms(&c.dest),
        terms(&c.src),
        (!c.identity).then(|| PyArray1::from_slice(py, &c.weight)),
        c.identity,
    )
        .into_pyobject(py)
}

/// Register a CSR pattern and cones for the XLA custom calls; returns the id that
/// the calls carry as their `pattern_id` attribute.  Validates like NativeSolver.
#[pyfunction]
#[pyo3(signature = (n, m, P_indptr, P_indices, A_indptr, A_indices, cones))]
#[allow(non_snake_case)]
fn register_pattern(
    n: usize,
    m: usize,
    P_indptr: PyReadonlyArray1<'_, i64>,
    P_indices: PyReadonlyArray1<'_, i64>,
    A_indptr: PyReadonlyArray1<'_, i64>,
    A_indices: PyReadonlyArray1<'_, i64>,
    cones: &Bound<'_, PyDict>,
) -> PyResult<i64> {
    let cones = parse_cones(cones)?;
    let p = CsrPattern::new("P", n, n, P_indptr.as_array().to_vec(), P_indices.as_array().to_vec())
        .map_err(value_error)?;
    let a = CsrPattern::new("A", m, n, A_indptr.as_array().to_vec(), A_indices.as_array().to_vec())
        .map_err(value_error)?;
    let pattern = ProblemPattern::new(p, a, cones).map_err(value_error)?;
    Ok(crate::xla::registry::register_pattern(pattern))
}

/// Check a settings attribute string (as the custom calls will parse it), so that
/// a bad setting raises ValueError at trace time instead of failing inside XLA.
#[pyfunction]
fn check_ffi_settings(settings: &str) -> PyResult<()> {
    crate::xla::registry::parse_settings(settings).map(|_| ()).map_err(value_error)
}

/// {target name: handler address} of the XLA FFI handlers (wrap each address with
/// `jax.ffi.pycapsule` and register it with `jax.ffi.register_ffi_target`).
#[pyfunction]
fn ffi_targets(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (name, addr) in crate::xla::handler_symbols() {
        d.set_item(name, addr)?;
    }
    Ok(d)
}

/// {path: count} of the derivative solves since the last call, which resets them
/// (ldlt, ldlt_projected = least squares on a singular system, lsqr = fallback).
#[pyfunction]
fn derivative_path_counts(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let c = crate::derivatives::ldlt::take_path_counts();
    for (name, k) in ["ldlt", "ldlt_projected", "lsqr"].iter().zip(c) {
        d.set_item(name, k)?;
    }
    Ok(d)
}

/// {"active_set": solved, "active_set_fallback": handed to the interior-point
/// method} for the elements sent to the active-set method since the last call,
/// which resets them.
#[pyfunction]
fn solve_path_counts(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let [solved, handed] = crate::active_set::take_solve_counts();
    d.set_item("active_set", solved)?;
    d.set_item("active_set_fallback", handed)?;
    Ok(d)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The iteration table of `verbose=True` goes through `tracing` to stdout.
    // MOREAU_LOG=debug (or trace) also shows the per-iteration step details.
    let level = match std::env::var("MOREAU_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stdout)
        .without_time()
        .with_target(false)
        .with_level(false)
        .try_init();
    m.add_class::<NativeSolver>()?;
    m.add_function(wrap_pyfunction!(register_pattern, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_csr, m)?)?;
    m.add_function(wrap_pyfunction!(check_ffi_settings, m)?)?;
    m.add_function(wrap_pyfunction!(ffi_targets, m)?)?;
    m.add_function(wrap_pyfunction!(derivative_path_counts, m)?)?;
    m.add_function(wrap_pyfunction!(solve_path_counts, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
