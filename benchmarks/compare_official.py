#!/usr/bin/env python
"""Compare moreau-jax with the official PyPI Moreau (and qpax / diffcp) through JAX.

Both packages are imported as ``moreau``, so every side runs in its own process, one
after another (never concurrently: they are timed), with the right interpreter:

  issue 4 (benchmarks/worker_native.py, native JAX APIs, seed family, n = 5 and 50):
    ours          this repo's .venv python      moreau.jax.Solver (XLA FFI custom calls)
    official      official venv python          PyPI moreau 0.4.1 + moreau-cpu, defaults
                                                (solver="auto": active set for these QPs)
    official-ipm  official venv python          the same with Settings(solver="ipm")
    qpax          official venv python          qpax.solve_qp_primal
  issue 5 (benchmarks/worker_layer.py, cvxpylayers 1.2.0 end to end, n = 5):
    ours          .venv python                  CvxpyLayer(..., solver="MOREAU"), this repo
    official      official venv python          CvxpyLayer(..., solver="MOREAU"), PyPI moreau
    official-ipm  official venv python          the same with solver_args={"solver": "ipm"}
    diffcp        .venv python                  CvxpyLayer(...) default backend (diffcp)

Ratios and targets use the official package's defaults ("official"); "official-ipm" is
shown for information (--no-official-ipm skips it).  Each worker prints one JSON object
on its last stdout line; this driver checks that "ours" imported this repo's moreau and
"official" the PyPI one, prints the tables and the correctness checks, and writes the
merged JSON to --out.

The official venv (default benchmarks/.venv-official, gitignored) is created from
benchmarks/requirements-official.txt when missing or with --setup; --official-python
reuses an existing interpreter instead.

Usage:
    .venv/bin/python benchmarks/compare_official.py            # full run (~5 min)
    .venv/bin/python benchmarks/compare_official.py --quick    # smoke test
    .venv/bin/python benchmarks/compare_official.py --official-python /tmp/venv-official/bin/python
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OFFICIAL_VENV = HERE / ".venv-official"
REQUIREMENTS = HERE / "requirements-official.txt"
OURS_MOREAU = (REPO / "moreau" / "__init__.py").resolve()

# issue 4 targets: max ours/official ratio of the median times, keyed by (n, batch)
TARGETS_NATIVE = {
    (5, 1): 0.1,
    (5, 64): 0.25,
    (5, 1024): 0.5,
    (50, 1): 0.1,
    (50, 64): 0.5,
    (50, 1024): 0.5,
}
# issue 5 target: ours <= 0.5x official at B = 64
TARGETS_LAYER = {64: 0.5}


# --------------------------------------------------------------------------- venvs


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def setup_official_venv(venv: Path, base_python: str) -> Path:
    print(f"==> creating the official venv {venv} with {base_python}", flush=True)
    subprocess.run([base_python, "-m", "venv", "--clear", str(venv)], check=True)
    py = venv_python(venv)
    subprocess.run(
        [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS)],
        check=True,
    )
    return py


def describe_python(py: str, module: str) -> dict:
    """Version and file of `module` as imported by `py` (run outside the repo root)."""
    code = (
        "import json, importlib\n"
        f"m = importlib.import_module({module!r})\n"
        "print(json.dumps({'file': m.__file__, 'version': getattr(m, '__version__', None)}))"
    )
    r = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd="/", env=worker_env())
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def worker_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # never let one side see the other's moreau
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --------------------------------------------------------------------------- runs


def run_worker(script: str, side: str, python: str, extra: list[str], timeout: float, log, retries: int = 1) -> dict:
    """Run one worker process; its stderr goes to the log as it runs.  A run that times
    out (XLA's CPU runtime has been seen to hang, rarely, in qpax's batched solve) is
    retried `retries` times."""
    cmd = [python, str(HERE / script), *extra]
    for attempt in range(retries + 1):
        print(f"--> {script} {' '.join(extra)}  [{python}]" + (f" (retry {attempt})" if attempt else ""), flush=True)
        log.write(f"### {script} {' '.join(extra)} ({python})\n")
        log.flush()
        start = log.tell()
        t0 = time.perf_counter()
        try:
            r = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=str(REPO), env=worker_env(), timeout=timeout
            )
        except subprocess.TimeoutExpired:
            log.write(f"### TIMEOUT after {timeout:.0f} s\n")
            log.flush()
            print(f"    TIMEOUT after {timeout:.0f} s", flush=True)
            continue
        wall = time.perf_counter() - t0
        log.flush()
        with open(log.name) as f:
            f.seek(start)
            stderr = f.read()
        log.write(f"### rc={r.returncode} wall={wall:.1f}s\n\n")
        data = None
        for line in reversed(r.stdout.strip().splitlines()):
            if line.startswith("{"):
                try:
                    data = json.loads(line)
                    break
                except json.JSONDecodeError:
                    pass
        if r.returncode != 0 or data is None:
            tail = (stderr.strip().splitlines() or ["(no stderr)"])[-1]
            print(f"    FAILED (rc={r.returncode}): {tail[:200]}", flush=True)
            failed = {"side": side, "cases": [], **(data or {})}
            failed["error"] = f"worker failed (rc={r.returncode}): {tail[:300]}"
            return failed
        data["wall_s"] = wall
        data["python"] = python
        if attempt:
            data["retries"] = attempt
        print(f"    done in {wall:.1f} s", flush=True)
        return data
    return {"side": side, "error": f"timed out after {timeout:.0f} s ({retries + 1} tries)", "cases": []}


def run_native(side: str, python: str, extra: list[str], ns: list[int], batches: list[int], timeout, log) -> dict:
    """worker_native.py once per n (a failure or hang loses only that n), merged."""
    merged: dict = {"side": side, "cases": [], "checks": [], "solver_resolved": {}, "wall_s": 0.0}
    for n in ns:
        d = run_worker("worker_native.py", side, python, extra + ["--ns", str(n)], timeout, log)
        if d.get("error"):
            d["cases"] = [c for c in d.get("cases", []) if c.get("n") == n] or [
                {"n": n, "case": case, "batch": B, "error": d["error"]}
                for case, B in [("jit(grad)", 1)] + [("jit(vmap(grad))", B) for B in batches]
            ]
            d.setdefault("checks", [{"n": n, "error": d["error"]}])
            merged.setdefault("errors", []).append(f"n={n}: {d['error']}")
        for k, v in d.items():
            if k not in ("cases", "checks", "solver_resolved", "error", "wall_s"):
                merged.setdefault(k, v)
        merged["cases"] += d.get("cases", [])
        merged["checks"] += d.get("checks", [])
        merged["solver_resolved"].update(d.get("solver_resolved", {}))
        merged["wall_s"] += d.get("wall_s", 0.0)
    if merged.get("errors"):
        merged["error"] = "; ".join(merged["errors"])
    return merged


def check_moreau_file(label: str, data: dict, expect_ours: bool) -> None:
    f = data.get("moreau_file")
    if f is None:
        return
    is_ours = Path(f).resolve() == OURS_MOREAU
    ok = is_ours if expect_ours else (not is_ours and "site-packages" in f)
    data["moreau_file_ok"] = ok
    if not ok:
        want = "this repo's moreau" if expect_ours else "PyPI moreau (site-packages)"
        msg = f"{label} imported {f}, expected {want}"
        print("    ERROR: " + msg, flush=True)
        data["error"] = msg


# --------------------------------------------------------------------------- tables


def fmt_t(v) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return "-"
    if v < 1e-3:
        return f"{v * 1e6:.0f} us"
    if v < 1.0:
        return f"{v * 1e3:.2f} ms"
    return f"{v:.2f} s"


def fmt_r(v) -> str:
    return "-" if v is None else f"{v:.3f}x"


def cell(run: dict | None, match: dict):
    """Median time of the case matching `match`, or an error string, or None."""
    if run is None:
        return None
    found = [c for c in run.get("cases", []) if all(c.get(k) == v for k, v in match.items())]
    for c in found:  # a timed entry (possibly a fallback mode) wins over a failed one
        if "median_s" in c:
            return c["median_s"]
    for c in found:
        return "ERR: " + (c.get("fallback_error") or c.get("error") or "?")[:40]
    if run.get("error"):
        return "ERR: " + run["error"][:40]
    return None


def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0:
        return a / b
    return None


def print_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [title, "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    text = "\n".join(lines)
    print(text)
    return text


def native_table(runs: dict, ns, batches) -> tuple[list[dict], str]:
    sides = [s for s in ("ours", "official", "official-ipm", "qpax") if s in runs]
    out, rows = [], []
    for n in ns:
        for B in [1, *batches]:
            case = "jit(grad)" if B == 1 else "jit(vmap(grad))"
            t = {s: cell(runs[s], {"n": n, "batch": B, "case": case}) for s in sides}
            r_off = ratio(t.get("ours"), t.get("official"))
            r_qp = ratio(t.get("ours"), t.get("qpax"))
            target = TARGETS_NATIVE.get((n, B))
            verdict = "-" if target is None else ("n/a" if r_off is None else ("PASS" if r_off <= target else "MISS"))
            row = {"n": n, "batch": B, "case": case, **{f"{s}_median_s": t[s] for s in sides}}
            row.update({"ours/official": r_off, "ours/qpax": r_qp, "target": target, "verdict": verdict})
            if "official-ipm" in sides:
                row["ours/official-ipm"] = ratio(t.get("ours"), t.get("official-ipm"))
            out.append(row)
            line = [str(n), "single" if B == 1 else f"B={B}", *(fmt_t(t[s]) for s in sides), fmt_r(r_off)]
            if "official-ipm" in sides:
                line.append(fmt_r(row["ours/official-ipm"]))
            line += [fmt_r(r_qp), "-" if target is None else f"<= {target}x", verdict]
            rows.append(line)
    header = ["n", "case", *sides, "ours/off"]
    if "official-ipm" in sides:
        header.append("ours/off-ipm")
    header += ["ours/qpax", "target", ""]
    text = print_table(
        "\nIssue 4: jit(grad) single and jit(vmap(grad)) batched, median wall time per call", header, rows
    )
    # issue 12: the single n = 5 call against the floor of a jitted trivial FFI call
    floor = cell(runs.get("ours"), {"case": "floor: jit(cholesky) 1x1"})
    single = cell(runs.get("ours"), {"n": 5, "batch": 1, "case": "jit(grad)"})
    r_floor = ratio(single, floor)
    if r_floor is not None:
        verdict = "PASS" if r_floor <= 1.5 else "MISS"
        line = (f"floor (jit(jnp.linalg.cholesky) of 1x1, one FFI call, ours' process): {fmt_t(floor)}; "
                f"ours n=5 single = {r_floor:.2f}x the floor (target <= 1.5x) {verdict}")
        print(line)
        text += "\n" + line
        out.append({"floor_s": floor, "ours_n5_single_over_floor": r_floor, "target": 1.5, "verdict": verdict})
    return out, text


def layer_table(runs: dict, batches) -> tuple[list[dict], str]:
    sides = [s for s in ("ours", "official", "official-ipm", "diffcp") if s in runs]
    out, rows = [], []
    for B in [1, *batches]:
        t = {s: cell(runs[s], {"batch": B}) for s in sides}
        r_off = ratio(t.get("ours"), t.get("official"))
        r_dc = ratio(t.get("ours"), t.get("diffcp"))
        target = TARGETS_LAYER.get(B)
        verdict = "-" if target is None else ("n/a" if r_off is None else ("PASS" if r_off <= target else "MISS"))
        modes = {}
        for s in sides:
            for c in (runs[s] or {}).get("cases", []):
                if c.get("batch") == B and "median_s" in c:
                    modes[s] = c.get("mode")
        row = {"batch": B, **{f"{s}_median_s": t[s] for s in sides}, "modes": modes}
        row.update({"ours/official": r_off, "ours/diffcp": r_dc, "target": target, "verdict": verdict})
        if "official-ipm" in sides:
            row["ours/official-ipm"] = ratio(t.get("ours"), t.get("official-ipm"))
        out.append(row)
        line = ["single jit(grad)" if B == 1 else f"B={B} jit(vmap(grad))"]
        for s in sides:
            v = fmt_t(t[s])
            if s == "diffcp" and modes.get(s) and "no jit" in modes[s]:
                v += " *"
            line.append(v)
        line.append(fmt_r(r_off))
        if "official-ipm" in sides:
            line.append(fmt_r(row["ours/official-ipm"]))
        line += [fmt_r(r_dc), "-" if target is None else f"<= {target}x", verdict]
        rows.append(line)
    header = ["case", *sides, "ours/off"]
    if "official-ipm" in sides:
        header.append("ours/off-ipm")
    header += ["ours/diffcp", "target", ""]
    text = print_table("\nIssue 5: cvxpylayers 1.2.0 end to end (n = 5), median wall time per call", header, rows)
    notes = []
    for s in sides:
        cases = (runs[s] or {}).get("cases", [])
        for c in cases:
            if c.get("mode") and c["mode"] not in ("jit(grad)", "jit(vmap(grad))") and "median_s" in c:
                why = c.get("error") or next(
                    (d["error"] for d in cases if d.get("batch") == c.get("batch") and d.get("error")), ""
                )
                notes.append(f"  * {s} B={c.get('batch')}: timed as {c['mode']} ({why[:90]})")
    if notes:
        print("\n".join(notes))
        text += "\n" + "\n".join(notes)
    return out, text


def verdict_x(err) -> str:
    if not isinstance(err, (int, float)):
        return "?"
    return "OK" if err <= 1e-6 else ("LOOSE" if err <= 1e-2 else "WRONG")


def checks_text(native: dict, layer: dict) -> tuple[list[dict], str]:
    out, lines = [], ["\nCorrectness (x_basic: q = 1..5, expected [1, 0, 0, 0, 0]; errors are max abs)"]

    def fv(v):
        return "-" if v is None else (f"{v:.1e}" if isinstance(v, float) else str(v))

    for side, run in native.items():
        for c in (run or {}).get("checks", []):
            rec = {"issue": 4, "side": side, **c}
            out.append(rec)
            s = f"  issue 4 {side:13s} n={c.get('n'):<3} x_err={fv(c.get('x_err'))} grad_err={fv(c.get('grad_err'))}"
            if "x_basic" in c:
                s += f" x_basic={[round(v, 6) for v in c['x_basic']]} [{verdict_x(c.get('x_basic_err'))}]"
            if "error" in c:
                s += f" ERROR {c['error'][:100]}"
            lines.append(s)
        if run and run.get("error") and not run.get("checks"):
            lines.append(f"  issue 4 {side:13s} ERROR {run['error'][:120]}")
    for side, run in layer.items():
        c = (run or {}).get("check")
        if c:
            out.append({"issue": 5, "side": side, **c})
            s = f"  issue 5 {side:13s} n=5   x_err={fv(c.get('x_err'))} grad_err={fv(c.get('grad_err'))}"
            s += f" x_basic={[round(v, 6) for v in c.get('x_basic', [])]} [{verdict_x(c.get('x_basic_err'))}]"
            if "grad_error" in c:
                s += f" grad ERROR {c['grad_error'][:80]}"
            lines.append(s)
        elif run and run.get("error"):
            lines.append(f"  issue 5 {side:13s} ERROR {run['error'][:120]}")
    # batched gradient errors (vs the closed form)
    for label, runs in (("issue 4", native), ("issue 5", layer)):
        for side, run in runs.items():
            errs = [
                (c.get("n", 5), c["batch"], c["grad_err"])
                for c in (run or {}).get("cases", [])
                if "grad_err" in c and c.get("batch", 1) > 1
            ]
            if errs:
                lines.append(
                    f"  {label} {side:13s} batched grad_err: "
                    + ", ".join(f"n={n} B={B}: {e:.1e}" for n, B, e in errs)
                )
    resolved = []
    for label, runs in (("issue 4", native), ("issue 5", layer)):
        for side, run in runs.items():
            if run and run.get("solver_resolved"):
                resolved.append(f"  {label} {side}: solver {run['solver_resolved']}")
    if resolved:
        lines.append("Solvers used:")
        lines += resolved
    text = "\n".join(lines)
    print(text)
    return out, text


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", action="store_true", help="(re)create the official venv, then run")
    ap.add_argument("--setup-only", action="store_true", help="(re)create the official venv and stop")
    ap.add_argument("--official-venv", type=Path, default=DEFAULT_OFFICIAL_VENV)
    ap.add_argument("--official-python", default=None, help="reuse this interpreter (PyPI moreau installed)")
    ap.add_argument("--base-python", default="python3.11", help="interpreter used to create the official venv")
    ap.add_argument("--ours-python", default=str(REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--quick", action="store_true", help="smoke test: 3 repeats, 0.3 s budget per case")
    ap.add_argument("--repeats", type=int, default=None, help="max timed calls per case (default 200)")
    ap.add_argument("--budget", type=float, default=None, help="seconds of timed calls per case (default 3)")
    ap.add_argument("--ns", default="5,50")
    ap.add_argument("--batches", default="64,1024")
    ap.add_argument("--only", choices=["native", "layer"], default=None)
    ap.add_argument("--no-official-ipm", action="store_true", help="skip the official solver='ipm' runs")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per worker process (then 1 retry)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "compare_official.json")
    args = ap.parse_args()

    repeats = args.repeats or (3 if args.quick else 200)
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 3.0)

    # interpreters
    if args.official_python:
        off_py = args.official_python
    else:
        py = venv_python(args.official_venv)
        if args.setup or args.setup_only or not py.exists():
            py = setup_official_venv(args.official_venv, args.base_python)
        off_py = str(py)
    ours_py = args.ours_python
    for label, py, module, want_ours in (("ours", ours_py, "moreau", True), ("official", off_py, "moreau", False)):
        d = describe_python(py, module)
        print(f"{label:8s} python {py}: moreau {d.get('version')} from {d.get('file', d.get('error'))}")
        if "file" in d and (Path(d["file"]).resolve() == OURS_MOREAU) != want_ours:
            print(f"error: {label} python imports the wrong moreau ({d['file']})", file=sys.stderr)
            return 2
    if args.setup_only:
        return 0

    common = ["--repeats", str(repeats), "--budget", str(budget), "--batches", args.batches]
    native_plan = [
        ("ours", ours_py, ["--side", "ours"]),
        ("official", off_py, ["--side", "official"]),
        ("official-ipm", off_py, ["--side", "official", "--solver", "ipm"]),
        ("qpax", off_py, ["--side", "qpax"]),
    ]
    layer_plan = [
        ("ours", ours_py, ["--side", "ours"]),
        ("official", off_py, ["--side", "official"]),
        ("official-ipm", off_py, ["--side", "official", "--solver-args", json.dumps({"solver": "ipm"})]),
        ("diffcp", ours_py, ["--side", "diffcp"]),
    ]
    if args.no_official_ipm:
        native_plan = [p for p in native_plan if p[0] != "official-ipm"]
        layer_plan = [p for p in layer_plan if p[0] != "official-ipm"]

    batches = [int(x) for x in args.batches.split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.out.with_suffix(".log")
    started = _dt.datetime.now().astimezone()
    load_before = os.getloadavg()
    native, layer = {}, {}
    with open(log_path, "w") as log:
        if args.only != "layer":
            ns = [int(x) for x in args.ns.split(",")]
            for side, py, extra in native_plan:
                native[side] = run_native(side, py, extra + common, ns, batches, args.timeout, log)
                if side != "qpax":
                    check_moreau_file(f"issue 4 {side}", native[side], side == "ours")
        if args.only != "native":
            for side, py, extra in layer_plan:
                layer[side] = run_worker("worker_layer.py", side, py, extra + common, args.timeout, log)
                if side != "diffcp":
                    check_moreau_file(f"issue 5 {side}", layer[side], side == "ours")
    load_after = os.getloadavg()
    result = {
        "meta": {
            "date": started.isoformat(timespec="seconds"),
            "machine": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "quick": args.quick,
            "repeats": repeats,
            "budget_s": budget,
            "ours_python": ours_py,
            "official_python": off_py,
            "targets_native": {f"n={n},B={B}": t for (n, B), t in TARGETS_NATIVE.items()},
            "targets_layer": {f"B={B}": t for B, t in TARGETS_LAYER.items()},
            "worker_log": str(log_path),
        },
        "native": native,
        "layer": layer,
    }
    texts = [
        f"compare_official.py  {started:%Y-%m-%d %H:%M %Z}  {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {load_before[0]:.2f} -> {load_after[0]:.2f}"
        + ("  [--quick]" if args.quick else "")
    ]
    print("\n" + texts[0])
    if native:
        result["table_native"], t = native_table(native, [int(s) for s in args.ns.split(",")], batches)
        texts.append(t)
    if layer:
        result["table_layer"], t = layer_table(layer, batches)
        texts.append(t)
    result["checks"], t = checks_text(native, layer)
    texts.append(t)
    result["report"] = "\n".join(texts)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, default=str)
    print(f"\nwrote {args.out} (worker stderr in {log_path})")
    failed = [f"issue 4 {s}" for s, r in native.items() if r.get("error")]
    failed += [f"issue 5 {s}" for s, r in layer.items() if r.get("error")]
    if failed:
        print("workers with errors: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
