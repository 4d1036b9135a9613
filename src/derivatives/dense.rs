//! Small dense factorizations (cone blocks), run sequentially: faer's high-level
//! solvers use the global (rayon) parallelism, whose wake-ups cost far more than a
//! 3x3 factorization, and the elements of a batch already run on separate threads.

use dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::lu::partial_pivoting::{factor, solve};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix.
pub fn symmetric_eigen(a: MatRef<'_, f64>) -> Option<(Vec<f64>, Mat<f64>)> {
    let n = a.nrows();
    let mut s = faer::Col::<f64>::zeros(n);
    let mut u = Mat::<f64>::zeros(n, n);
    let mut mem = MemBuffer::try_new(self_adjoint_evd_scratch::<f64>(
        n,
        ComputeEigenvectors::Yes,
        Par::Seq,
        Default::default(),
    ))
    .ok()?;
    self_adjoint_evd(a, s.as_diagonal_mut(), Some(u.as_mut()), Par::Seq, MemStack::new(&mut mem), Default::default()).ok()?;
    Some(((0..n).map(|i| s[i]).collect(), u))
}

/// Inverse of a small square matrix by LU with partial pivoting.
pub fn inverse(a: MatRef<'_, f64>) -> Mat<f64> {
    let n = a.nrows();
    let mut lu = a.to_owned();
    let mut perm = vec![0usize; n];
    let mut perm_inv = vec![0usize; n];
    let mut mem = MemBuffer::new(StackReq::any_of(&[
        factor::lu_in_place_scratch::<usize, f64>(n, n, Par::Seq, Default::default()),
        solve::solve_in_place_scratch::<usize, f64>(n, n, Par::Seq),
    ]));
    let (_, row_perm) = factor::lu_in_place(lu.as_mut(), &mut perm, &mut perm_inv, Par::Seq, MemStack::new(&mut mem), Default::default());
    let mut out = Mat::<f64>::identity(n, n);
    solve::solve_in_place(lu.as_ref(), lu.as_ref(), row_perm, out.as_mut(), Par::Seq, MemStack::new(&mut mem));
    out
}

/// a b, sequentially.
pub fn mul(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::<f64>::zeros(a.nrows(), b.ncols());
    matmul(c.as_mut(), Accum::Replace, a, b, 1.0, Par::Seq);
    c
}
