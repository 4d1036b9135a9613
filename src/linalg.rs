//! Small dense/sparse kernels used by the IPM (CSR products with separate values).

use crate::problem::CsrPattern;

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn norm_inf(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |acc, v| acc.max(v.abs()))
}

/// Products with a CSR matrix given by a pattern and a value array.
pub trait CsrOps {
    /// y = M x
    fn mul(&self, values: &[f64], y: &mut [f64], x: &[f64]);
    /// y = M' x
    fn mul_t(&self, values: &[f64], y: &mut [f64], x: &[f64]);
}

impl CsrOps for CsrPattern {
    fn mul(&self, values: &[f64], y: &mut [f64], x: &[f64]) {
        for r in 0..self.nrows {
            let mut acc = 0.0;
            for k in self.indptr[r]..self.indptr[r + 1] {
                acc += values[k] * x[self.indices[k]];
            }
            y[r] = acc;
        }
    }
    fn mul_t(&self, values: &[f64], y: &mut [f64], x: &[f64]) {
        y.iter_mut().for_each(|v| *v = 0.0);
        for r in 0..self.nrows {
            let xr = x[r];
            for k in self.indptr[r]..self.indptr[r + 1] {
                y[self.indices[k]] += values[k] * xr;
            }
        }
    }
}
