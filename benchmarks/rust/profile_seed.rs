//! Profiling driver for issue 12: the seed family
//! `min 1/2 |x|^2 + q'x  s.t.  sum(x) = 1, x >= 0` solved and differentiated (VJP of
//! `sum(x^2)`) for a batch of q values, on one thread, with no Python in the way.
//!
//! ```text
//! cargo run --release --example profile_seed -- [n] [batch] [repeats] [method]
//! valgrind --tool=callgrind target/release/examples/profile_seed 5 256 1
//! ```
//! Prints the wall time per element (solve, VJP) and the mean iteration count.
//! `PROFILE_SOLVER=ipm` forces the interior-point method (default: "auto").
//! `PROFILE_FAMILY=denseqp` swaps in a QP with dense P and A (m = 3n/2 nonneg rows).

use std::time::Instant;

use moreau_jax::settings::{Algorithm, DirectSolveMethod};
use moreau_jax::{BatchCotangent, BatchGradOut, BatchSolution, BatchValues, ConeSpec, CsrPattern, Family, ProblemPattern, Settings};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: usize| args.get(i).map_or(default, |s| s.parse().expect("integer argument"));
    let (n, batch, repeats) = (arg(1, 5), arg(2, 256), arg(3, 20));
    let method = args.get(4).map_or("auto", String::as_str);

    let dense_data = std::env::var("PROFILE_FAMILY").is_ok_and(|f| f == "denseqp");
    let mut seed = 7u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    // seed: P = I, A = [1'; -I], b = [1; 0], cones 1 zero + n nonneg.
    // denseqp (PROFILE_FAMILY=denseqp): P = I + B'B/n dense, A dense (m = 3n/2
    // nonneg rows), b = 1: an all-dense KKT matrix.
    let (pattern, p_values, a_values, m) = if dense_data {
        let m = 3 * n / 2;
        let full = |rows: usize| -> (Vec<i64>, Vec<i64>) {
            ((0..=rows).map(|r| (r * n) as i64).collect(), (0..rows).flat_map(|_| 0..n as i64).collect())
        };
        let (pi, pj) = full(n);
        let (ai, aj) = full(m);
        let b_mat: Vec<f64> = (0..n * n).map(|_| rnd()).collect();
        let mut p_values = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                p_values[i * n + j] = (0..n).map(|k| b_mat[k * n + i] * b_mat[k * n + j]).sum::<f64>() / n as f64
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let a_values: Vec<f64> = (0..m * n).map(|_| rnd()).collect();
        let p = CsrPattern::new("P", n, n, pi, pj).unwrap();
        let a = CsrPattern::new("A", m, n, ai, aj).unwrap();
        let cones = ConeSpec { nonneg: m, ..Default::default() };
        (ProblemPattern::new(p, a, cones).unwrap(), p_values, a_values, m)
    } else {
        let p = CsrPattern::new("P", n, n, (0..=n as i64).collect(), (0..n as i64).collect()).unwrap();
        let mut indptr = vec![0i64, n as i64];
        let mut indices: Vec<i64> = (0..n as i64).collect();
        for j in 0..n {
            indices.push(j as i64);
            indptr.push((n + j + 1) as i64);
        }
        let a = CsrPattern::new("A", n + 1, n, indptr, indices).unwrap();
        let cones = ConeSpec { zero: 1, nonneg: n, ..Default::default() };
        let mut a_values = vec![1.0; n];
        a_values.extend(std::iter::repeat(-1.0).take(n));
        (ProblemPattern::new(p, a, cones).unwrap(), vec![1.0; n], a_values, n + 1)
    };
    let (np, na) = (pattern.p.nnz(), pattern.a.nnz());
    let mut settings = Settings::default();
    settings.num_threads = 1;
    settings.direct_solve_method = DirectSolveMethod::parse(method).unwrap();
    // PROFILE_SOLVER=ipm|active_set|auto (default auto: the active-set method here)
    settings.solver = Algorithm::parse(&std::env::var("PROFILE_SOLVER").unwrap_or_else(|_| "auto".into())).unwrap();
    let family = Family::new(pattern, &settings).unwrap();

    let mut b = vec![if dense_data { 1.0 } else { 0.0 }; batch * m];
    let mut q = vec![0.0; batch * n];
    for k in 0..batch {
        if !dense_data {
            b[k * m] = 1.0;
        }
        for j in 0..n {
            q[k * n + j] = rnd();
        }
    }
    let values = BatchValues { batch, p: &p_values, p_rows: 1, a: &a_values, a_rows: 1, q: &q, b: &b, warm: None };

    let (mut t_solve, mut t_vjp, mut iters) = (f64::INFINITY, f64::INFINITY, 0usize);
    for _ in 0..repeats {
        let t0 = Instant::now();
        let results = family.solve_batch(&values, &settings).unwrap();
        t_solve = t_solve.min(t0.elapsed().as_secs_f64());
        iters = results.iter().map(|r| r.iterations).sum();
        let flat = |f: &dyn Fn(&moreau_jax::SolveResult) -> &[f64]| results.iter().flat_map(|r| f(r).to_vec()).collect::<Vec<f64>>();
        let (x, z, s) = (flat(&|r| &r.x), flat(&|r| &r.z), flat(&|r| &r.s));
        let status: Vec<i32> = results.iter().map(|r| r.status as i32).collect();
        let dx: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
        let zeros = vec![0.0; batch * m];
        let (mut dp, mut da, mut dq, mut db) =
            (vec![0.0; batch * np], vec![0.0; batch * na], vec![0.0; batch * n], vec![0.0; batch * m]);
        let t1 = Instant::now();
        family
            .vjp_batch(
                &values,
                &BatchSolution { x: &x, z: &z, s: &s, status: &status },
                &BatchCotangent { dx: &dx, dz: &zeros, ds: &zeros },
                &settings,
                &mut BatchGradOut { dp: &mut dp, da: &mut da, dq: &mut dq, db: &mut db },
            )
            .unwrap();
        t_vjp = t_vjp.min(t1.elapsed().as_secs_f64());
    }
    let per = |t: f64| t / batch as f64 * 1e6;
    println!(
        "{} n={n} batch={batch} method={method}: solve {:.2} us/element, vjp {:.2} us/element, {:.2} iterations",
        if dense_data { "denseqp" } else { "seed" },
        per(t_solve),
        per(t_vjp),
        iters as f64 / batch as f64
    );
}
