//! Dense elimination of the v variables of densely coupled expanded SOC blocks.
//!
//! In the factored matrix E (`soc_expansion.rs`) the v variables V of an expanded
//! SOC block are coupled to nothing but their diagonal pivots `p` (the bulk value
//! q of D(D - I) - N, regularized) and their neighbours R: the x rows its rows of A
//! touch and the block's four extra variables.  Ordering V first,
//!
//! ```text
//!     E = [ E_FF   W    ]      F: every other variable,  W: R rows x V columns
//!         [ W'     diag(p) ]   (c A_b' on the x rows, the h entries on the extras),
//! ```
//!
//! and the block LDL^T gives the Schur complement `E_FF - W diag(1/p) W'`, the factor
//! of which (faer's sparse LDL^T) solves with E:
//!
//! ```text
//!     y_F = rhs_F - W diag(1/p) rhs_V,   F y = y_F,   y_V = diag(1/p) (rhs_V - W' y).
//! ```
//!
//! When A_b is dense (sqrt-lasso: a 401-row cone on 150 variables) the sparse
//! factorization of E does the same elimination as one rank-1 update of the dense
//! R x R block per v variable (401 scattered updates of a 154 x 154 block, 70% of the
//! backward pass); here it is one dense product `W diag(1/p) W'` (gemm speed).
//! The pivots are regularized by the rule of faer's dynamic regularization
//! (`kkt_dense::regularized_pivot`, the same expected signs), so the factor is that
//! of E with V eliminated first, which is where AMD puts these degree-|R| columns.

use faer::linalg::matmul::triangular::{matmul as triangular_matmul, BlockStructure};
use faer::{Accum, Mat, Par};

use crate::kkt_dense::regularized_pivot;

/// An expanded block is eliminated densely when its rows of A fill at least this
/// fraction of the (block rows x touched columns) rectangle; sparser blocks keep the
/// sparse elimination, whose fill follows A_b's pattern.
pub const DENSE_COUPLING: f64 = 0.5;

/// One densely eliminated block.
struct Eliminated {
    /// E indices of the block's v variables: `v_first..v_first + dim`.
    v_first: usize,
    dim: usize,
    /// E indices of its neighbours R, ascending.
    r: Vec<usize>,
    /// (E entry, row of W, column of W) of every E entry between V and R.
    w_entries: Vec<(usize, usize, usize)>,
    /// E entry of each v variable's pivot, and its expected sign.
    pivots: Vec<(usize, i8)>,
    /// Position in F's values of entry (R_i, R_j), at `i * |R| + j` for i <= j.
    schur_pos: Vec<usize>,
}

/// F, the Schur complement of E on the variables not eliminated: pattern (upper
/// triangle, CSC, diagonal last) and the maps from E.
pub struct Reduction {
    pub col_ptr: Vec<usize>,
    pub row_idx: Vec<usize>,
    /// E index of every F index.
    pub e_of_f: Vec<usize>,
    /// F index of every E index (usize::MAX: eliminated).
    f_of_e: Vec<usize>,
    /// F position of every E entry (usize::MAX: an eliminated row or column).
    f_pos: Vec<usize>,
    blocks: Vec<Eliminated>,
}

/// The numeric side of one element: W and the inverse pivots of every block.
pub struct Reduced {
    w: Vec<Mat<f64>>,
    inv_p: Vec<Vec<f64>>,
}

const NONE: usize = usize::MAX;

impl Reduction {
    /// `(col_ptr, row_idx)`: E's upper-triangle CSC (diagonal last in each column);
    /// `signs`: E's expected pivot signs; `elim`: (first v index, dimension,
    /// neighbours R ascending) per block.  None when a block's v variables touch
    /// anything but R and their own diagonal.
    pub fn new(col_ptr: &[usize], row_idx: &[usize], signs: &[i8], elim: Vec<(usize, usize, Vec<usize>)>) -> Option<Self> {
        let dim_e = col_ptr.len() - 1;
        let mut owner = vec![NONE; dim_e];
        for (k, (v0, d, _)) in elim.iter().enumerate() {
            owner[*v0..v0 + d].iter_mut().for_each(|o| *o = k);
        }
        let mut f_of_e = vec![NONE; dim_e];
        let mut e_of_f = Vec::with_capacity(dim_e);
        for c in 0..dim_e {
            if owner[c] == NONE {
                f_of_e[c] = e_of_f.len();
                e_of_f.push(c);
            }
        }
        let dim_f = e_of_f.len();
        // F column j: E's entries between kept variables, and the dense R x R block
        let mut added: Vec<Vec<usize>> = vec![Vec::new(); dim_f];
        for (_, _, r) in &elim {
            for (j, &cj) in r.iter().enumerate() {
                added[f_of_e[cj]].extend(r[..=j].iter().map(|&ri| f_of_e[ri]));
            }
        }
        let (mut fcp, mut fri) = (vec![0usize], Vec::new());
        let mut mark = vec![NONE; dim_f];
        for j in 0..dim_f {
            let start = fri.len();
            let c = e_of_f[j];
            let kept = row_idx[col_ptr[c]..col_ptr[c + 1]].iter().filter(|&&r| owner[r] == NONE).map(|&r| f_of_e[r]);
            for fr in kept.chain(added[j].iter().copied()) {
                if mark[fr] != j {
                    mark[fr] = j;
                    fri.push(fr);
                }
            }
            fri[start..].sort_unstable();
            fcp.push(fri.len());
        }
        let find = |fr: usize, fc: usize| fcp[fc] + fri[fcp[fc]..fcp[fc + 1]].binary_search(&fr).expect("entry of F's pattern");
        let mut f_pos = vec![NONE; row_idx.len()];
        for c in 0..dim_e {
            for t in col_ptr[c]..col_ptr[c + 1] {
                let r = row_idx[t];
                if owner[c] == NONE && owner[r] == NONE {
                    f_pos[t] = find(f_of_e[r], f_of_e[c]);
                }
            }
        }
        let mut blocks = Vec::with_capacity(elim.len());
        let mut r_pos = vec![NONE; dim_e];
        for (k, (v_first, dim, r)) in elim.into_iter().enumerate() {
            r.iter().enumerate().for_each(|(i, &e)| r_pos[e] = i);
            let (mut w_entries, mut pivots) = (Vec::new(), Vec::with_capacity(dim));
            // entries in V's columns (rows in R or the diagonal) and in R's columns
            // (rows in V); anything else couples V beyond R
            for i in 0..dim {
                let c = v_first + i;
                let diag = col_ptr[c + 1] - 1;
                if row_idx[diag] != c {
                    return None;
                }
                pivots.push((diag, signs[c]));
                for t in col_ptr[c]..diag {
                    let rr = row_idx[t];
                    if r_pos[rr] == NONE {
                        return None;
                    }
                    w_entries.push((t, r_pos[rr], i));
                }
            }
            for c in 0..dim_e {
                if owner[c] == k {
                    continue;
                }
                for t in col_ptr[c]..col_ptr[c + 1] {
                    let rr = row_idx[t];
                    if owner[rr] == k {
                        if r_pos[c] == NONE {
                            return None;
                        }
                        w_entries.push((t, r_pos[c], rr - v_first));
                    }
                }
            }
            let nr = r.len();
            let mut schur_pos = vec![NONE; nr * nr];
            for j in 0..nr {
                for i in 0..=j {
                    schur_pos[i * nr + j] = find(f_of_e[r[i]], f_of_e[r[j]]);
                }
            }
            r.iter().for_each(|&e| r_pos[e] = NONE);
            blocks.push(Eliminated { v_first, dim, r, w_entries, pivots, schur_pos });
        }
        Some(Reduction { col_ptr: fcp, row_idx: fri, e_of_f, f_of_e, f_pos, blocks })
    }

    /// F's values (`f`, F's layout) from E's regularized values `reg`: the kept
    /// entries, minus `W diag(1/p) W'` per block, the pivots p regularized with
    /// (`dyn_eps`, `dyn_delta`) like faer's dynamic regularization.
    pub fn reduce(&self, reg: &[f64], dyn_eps: f64, dyn_delta: f64, f: &mut [f64]) -> Reduced {
        f.iter_mut().for_each(|v| *v = 0.0);
        for (t, &pos) in self.f_pos.iter().enumerate() {
            if pos != NONE {
                f[pos] += reg[t];
            }
        }
        let (mut ws, mut inv_ps) = (Vec::with_capacity(self.blocks.len()), Vec::with_capacity(self.blocks.len()));
        for b in &self.blocks {
            let nr = b.r.len();
            let mut w = Mat::<f64>::zeros(nr, b.dim);
            for &(t, i, k) in &b.w_entries {
                w[(i, k)] += reg[t];
            }
            let inv_p: Vec<f64> = b.pivots.iter().map(|&(t, sign)| 1.0 / regularized_pivot(reg[t], sign, dyn_eps, dyn_delta)).collect();
            let wd = Mat::<f64>::from_fn(nr, b.dim, |i, k| w[(i, k)] * inv_p[k]);
            let mut s = Mat::<f64>::zeros(nr, nr);
            triangular_matmul(
                s.as_mut(),
                BlockStructure::TriangularUpper,
                Accum::Replace,
                w.as_ref(),
                BlockStructure::Rectangular,
                wd.transpose(),
                BlockStructure::Rectangular,
                1.0,
                Par::Seq,
            );
            for j in 0..nr {
                for i in 0..=j {
                    f[b.schur_pos[i * nr + j]] -= s[(i, j)];
                }
            }
            ws.push(w);
            inv_ps.push(inv_p);
        }
        Reduced { w: ws, inv_p: inv_ps }
    }

    /// x <- E^{-1} x (`x` over E's indices) from F's factor (`solve_f`, in place
    /// over F's indices) and the eliminated blocks.
    pub fn solve(&self, red: &Reduced, x: &mut [f64], solve_f: impl FnOnce(&mut [f64])) {
        let mut y: Vec<f64> = self.e_of_f.iter().map(|&c| x[c]).collect();
        for (b, (w, inv_p)) in self.blocks.iter().zip(red.w.iter().zip(&red.inv_p)) {
            // y_R -= W diag(1/p) x_V
            let mut acc = vec![0.0; b.r.len()];
            for k in 0..b.dim {
                let tk = x[b.v_first + k] * inv_p[k];
                if tk != 0.0 {
                    acc.iter_mut().zip(w.col_as_slice(k)).for_each(|(a, wi)| *a += wi * tk);
                }
            }
            b.r.iter().zip(&acc).for_each(|(&e, a)| y[self.f_of_e[e]] -= a);
        }
        solve_f(&mut y);
        for (b, (w, inv_p)) in self.blocks.iter().zip(red.w.iter().zip(&red.inv_p)) {
            // x_V = diag(1/p) (x_V - W' y_R)
            let yr: Vec<f64> = b.r.iter().map(|&e| y[self.f_of_e[e]]).collect();
            for k in 0..b.dim {
                let wy: f64 = w.col_as_slice(k).iter().zip(&yr).map(|(a, b)| a * b).sum();
                x[b.v_first + k] = inv_p[k] * (x[b.v_first + k] - wy);
            }
        }
        for (j, &c) in self.e_of_f.iter().enumerate() {
            x[c] = y[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense solve of a x = b by Gaussian elimination with partial pivoting.
    fn dense_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for k in 0..n {
            let p = (k..n).max_by(|&i, &j| a[i][k].abs().total_cmp(&a[j][k].abs())).unwrap();
            a.swap(k, p);
            b.swap(k, p);
            for i in k + 1..n {
                let f = a[i][k] / a[k][k];
                for j in k..n {
                    a[i][j] -= f * a[k][j];
                }
                b[i] -= f * b[k];
            }
        }
        for k in (0..n).rev() {
            b[k] = (b[k] - (k + 1..n).map(|j| a[k][j] * b[j]).sum::<f64>()) / a[k][k];
        }
        b
    }

    /// E with a block V (pivots only, coupled to four x rows and two extra
    /// variables) eliminated densely: F's values are the Schur complement and
    /// `solve` (F solved densely) equals the dense solve with E.
    #[test]
    fn elimination_solves_with_e() {
        // x 0..5 (x 4 not coupled to V), V 5..12, extras 12..14
        let (dim, v0, dv) = (14usize, 5usize, 7usize);
        let coupled = |r: usize, c: usize| {
            let (lo, hi) = (r.min(c), r.max(c));
            let in_v = |i: usize| (v0..v0 + dv).contains(&i);
            if in_v(lo) && in_v(hi) {
                lo == hi
            } else if in_v(lo) || in_v(hi) {
                let other = if in_v(lo) { hi } else { lo };
                other < 4 || other >= v0 + dv
            } else {
                true
            }
        };
        let value = |r: usize, c: usize| -> f64 {
            let (lo, hi) = (r.min(c), r.max(c));
            if lo == hi {
                return match lo {
                    0..=4 => 6.0 + lo as f64,
                    12 => -4.0,
                    13 => 5.0,
                    _ => -1.5 - 0.1 * lo as f64,
                };
            }
            ((lo * 31 + hi * 17) % 23) as f64 / 11.0 - 1.0
        };
        let (mut col_ptr, mut row_idx, mut vals) = (vec![0usize], Vec::new(), Vec::new());
        for c in 0..dim {
            for r in 0..=c {
                if coupled(r, c) {
                    row_idx.push(r);
                    vals.push(value(r, c));
                }
            }
            col_ptr.push(row_idx.len());
        }
        let mut signs = vec![1i8; dim];
        signs[v0..v0 + dv].fill(-1);
        signs[12] = -1;
        let red = Reduction::new(&col_ptr, &row_idx, &signs, vec![(v0, dv, vec![0, 1, 2, 3, 12, 13])]).unwrap();
        let mut f = vec![0.0; red.row_idx.len()];
        let reduced = red.reduce(&vals, 1e-8, 1e-7, &mut f);
        let dim_f = red.e_of_f.len();
        let mut fd = vec![vec![0.0; dim_f]; dim_f];
        for c in 0..dim_f {
            for t in red.col_ptr[c]..red.col_ptr[c + 1] {
                let r = red.row_idx[t];
                fd[r][c] = f[t];
                fd[c][r] = f[t];
            }
        }
        let e_dense: Vec<Vec<f64>> =
            (0..dim).map(|r| (0..dim).map(|c| if coupled(r, c) { value(r, c) } else { 0.0 }).collect()).collect();
        let rhs: Vec<f64> = (0..dim).map(|i| ((i * 5 % 7) as f64) - 3.0).collect();
        let expected = dense_solve(e_dense, rhs.clone());
        let mut x = rhs.clone();
        red.solve(&reduced, &mut x, |y| {
            let sol = dense_solve(fd.clone(), y.to_vec());
            y.copy_from_slice(&sol);
        });
        for i in 0..dim {
            assert!((x[i] - expected[i]).abs() <= 1e-12 * (1.0 + expected[i].abs()), "entry {i}: {} vs {}", x[i], expected[i]);
        }
        // a V column touching a row outside R is refused
        assert!(Reduction::new(&col_ptr, &row_idx, &signs, vec![(v0, dv, vec![0, 1, 2, 12, 13])]).is_none());
    }
}
