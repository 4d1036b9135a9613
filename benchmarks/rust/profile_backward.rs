//! Profiling driver for the backward pass (issue 14): one problem dumped from Python
//! (P, A, q, b, the solution x, z, s and cotangents), its VJP timed on one thread
//! with no Python in the way.  The dump format is one `name len` line per array
//! followed by its values (`benchmarks/rust/dump_backward.py` writes it).
//!
//! ```text
//! .venv/bin/python benchmarks/rust/dump_backward.py socp_20x60 /tmp/socp.txt
//! cargo run --release --example profile_backward -- /tmp/socp.txt [repeats]
//! valgrind --tool=callgrind target/release/examples/profile_backward /tmp/socp.txt 5
//! ```
//! `PROFILE_LOG=debug` shows the derivative's debug lines.  Prints the minimum and median wall time per VJP and the derivative paths taken.

use std::collections::HashMap;
use std::time::Instant;

use moreau_jax::derivatives::ldlt::take_path_counts;
use moreau_jax::{BatchCotangent, BatchGradOut, BatchSolution, BatchValues, ConeSpec, CsrPattern, Family, ProblemPattern, Settings};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: profile_backward DUMP [repeats]");
    let repeats: usize = args.get(2).map_or(200, |s| s.parse().expect("integer repeats"));
    // PROFILE_LOG=debug shows the derivative's debug lines (symbolic statistics, paths)
    if std::env::var("PROFILE_LOG").is_ok_and(|v| v == "debug") {
        tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).without_time().with_target(false).init();
    }
    let text = std::fs::read_to_string(path).expect("readable dump");
    let mut lines = text.lines();
    let mut arrays: HashMap<String, Vec<f64>> = HashMap::new();
    while let Some(head) = lines.next() {
        let mut parts = head.split_whitespace();
        let name = parts.next().unwrap_or_default().to_string();
        let len: usize = parts.next().and_then(|s| s.parse().ok()).expect("`name len` header");
        let vals: Vec<f64> = lines.next().unwrap_or_default().split_whitespace().map(|s| s.parse().expect("number")).collect();
        assert_eq!(vals.len(), len, "array {name}");
        arrays.insert(name, vals);
    }
    let get = |k: &str| arrays.get(k).unwrap_or_else(|| panic!("array {k} missing")).clone();
    let ints = |k: &str| get(k).iter().map(|&v| v as i64).collect::<Vec<i64>>();
    let dims = get("dims");
    let (n, m) = (dims[0] as usize, dims[1] as usize);
    let cones = ConeSpec {
        zero: dims[2] as usize,
        nonneg: dims[3] as usize,
        soc: get("soc").iter().map(|&v| v as usize).collect(),
        exp: dims[4] as usize,
        ..Default::default()
    };
    let p = CsrPattern::new("P", n, n, ints("pi"), ints("pj")).unwrap();
    let a = CsrPattern::new("A", m, n, ints("ai"), ints("aj")).unwrap();
    let pattern = ProblemPattern::new(p, a, cones).unwrap();
    let (np, na) = (pattern.p.nnz(), pattern.a.nnz());
    let mut settings = Settings::default();
    settings.num_threads = 1;
    let family = Family::new(pattern, &settings).unwrap();
    let (pv, av, q, b) = (get("pv"), get("av"), get("q"), get("b"));
    let values = BatchValues { batch: 1, p: &pv, p_rows: 1, a: &av, a_rows: 1, q: &q, b: &b, warm: None };
    let (x, z, s) = (get("x"), get("z"), get("s"));
    let (dx, dz, ds) = (get("dx"), get("dz"), get("ds"));
    let status = [moreau_jax::SolverStatus::Solved as i32];
    let (mut gp, mut ga, mut gq, mut gb) = (vec![0.0; np], vec![0.0; na], vec![0.0; n], vec![0.0; m]);
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats + 1 {
        let t0 = Instant::now();
        family
            .vjp_batch(
                &values,
                &BatchSolution { x: &x, z: &z, s: &s, status: &status },
                &BatchCotangent { dx: &dx, dz: &dz, ds: &ds },
                &settings,
                &mut BatchGradOut { dp: &mut gp, da: &mut ga, dq: &mut gq, db: &mut gb },
            )
            .unwrap();
        times.push(t0.elapsed().as_secs_f64());
    }
    // the first call builds the symbolic factorization
    let first = times.remove(0);
    times.sort_by(f64::total_cmp);
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    println!(
        "{path}: n={n} m={m} first {:.3} ms, min {:.3} ms, median {:.3} ms, paths {:?}, |dA| {:.12e} |db| {:.12e} |dq| {:.12e}",
        first * 1e3,
        times[0] * 1e3,
        times[times.len() / 2] * 1e3,
        take_path_counts(),
        norm(&ga),
        norm(&gb),
        norm(&gq)
    );
}
