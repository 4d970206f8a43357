"""Scale: time and peak RSS of plan, table, scoring, report and resume at 10k, 100k, 1M and 5M rows.

    python benchmarks/bench_scale.py [--sizes 10k 100k 1M 5M] [--phases plan table scoring report resume resume-cli]
                                     [--time-cap-s 600] [--mem-cap-gib 8] [--workdir DIR]

Each phase runs in a FRESH subprocess, so its peak RSS (``ru_maxrss`` of that process, from ``os.wait4``)
is its own; the parent kills a phase that passes the time or memory cap and prints "skipped: over cap"
instead of swapping a shared machine. The timed code is what users run:

- plan:       ``load_plan`` + ``plan_jobs`` (every row and its response key);
- table:      ``write_tidy_table`` (log read, one parsed row per planned row, results.parquet + results.csv)
              and the table's content digest, after planning in the same process (its RSS includes the plan);
- scoring:    the pipeline's score step (``_score_and_report`` without a report: ``score_run`` + stamps);
- report:     the pipeline's report step (scores up to date: report.xlsx, tables and plots only);
- resume:     ``run_experiment`` on the finished run (nothing to ask, nothing to rewrite), timed in-process;
- resume-cli: ``python -m biasbench run CONFIG --out DIR -q`` on it, process start and imports included.

"time s" is the phase's own call measured inside the child; "wall s" is the child process from start to
exit (imports and, for table, planning included). Run directories are generated directly (not by asking
a model): the demo_espeak pool (12 voices, 480 clips synthesized once with espeak into a shared cache),
demo_mc (40 items, latin rotations, audio + text) and two simulated-instrument models; rows grow with
``repeats`` (640 rows per model and repeat). The log holds one answer per row as the runner writes it
(keys checked against ``Request.key`` on a sample), answers drawn with a fixed seed at planted per-accent
accuracies. The understanding step is off in the bench config (with a simulated model and no audit it
has no signal). Slopes are least-squares fits of log(time) and log(RSS) against log(rows).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000, "5M": 5_000_000}
PHASES = ("plan", "table", "scoring", "report", "resume", "resume-cli")
NEEDS = {"table": "setup", "scoring": "table", "report": "scoring", "resume": "report", "resume-cli": "report"}
ROWS_PER_REPEAT = 640  # demo_mc: 40 items × (12 voices × 1 latin rotation + 4 text rotations)
PLANTED = {"sim-a": {"en-us": 0.85, "en-gb": 0.80, "en-029": 0.65}, "sim-b": {"en-us": 0.75, "en-gb": 0.75, "en-029": 0.75}}


# ----- the run directory of one size ----------------------------------------------------------------------
def write_config(folder: Path, rows: int, cache: Path) -> Path:
    import yaml

    repeats = max(1, round(rows / (ROWS_PER_REPEAT * len(PLANTED))))
    for name in ("tasks", "voice_pools"):
        link = folder / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    config = {
        "name": "bench-scale", "pool": "demo_espeak", "tasks": ["demo_mc"],
        "models": [{"name": name, "adapter": "simulated", "params": {"axis": "accent", "planted": planted, "text_accuracy": 0.9, "seed": 0}}
                   for name, planted in PLANTED.items()],
        "modalities": ["audio", "text"], "repeats": repeats, "seed": 0, "report": True, "cache_dir": str(cache),
        "understanding": {"enabled": False},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def setup(config_path: Path, run_dir: Path) -> dict:
    """Manifest (the runner's own builder) and a response log of one answer per planned row."""
    from biasbench.config import load_config
    from biasbench.core.hashing import canonical_json
    from biasbench.core.response import Response
    from biasbench.core.rundir import Invocation, RunDir, now_iso
    from biasbench.runner.plan import load_plan
    from biasbench.runner.progress import RunProgress
    from biasbench.runner.requests import build_request, generation_params, oracle_context
    from biasbench.runner.run import build_manifest, output_identity, synthesize

    config = load_config(config_path)
    plan = load_plan(config, config_path.parent)
    run = RunDir(run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    with RunProgress(enabled=False) as progress:
        clips, _, _, tts_info = synthesize(config, plan, run.path, progress)
    identity = output_identity(config, plan)
    manifest = build_manifest(config, plan, run, str(config_path), None, identity)
    manifest.tts = tts_info
    manifest.status = "complete"
    manifest.invocations = [Invocation(index=0, started=now_iso(), finished=now_iso(), status="complete", phase="done",
                                       rows_total=len(plan.rows), model_calls=len(plan.rows))]
    run.write_manifest(manifest)

    params = {m.name: generation_params(config, m) for m in config.models}
    fingerprints = {name: adapter.fingerprint() for name, adapter in plan.adapters.items()}
    prefixes: dict[tuple, tuple[hashlib._Hash, object]] = {}
    answers = {letter: json.dumps(Response(text=letter, latency_s=0.0).to_json(), sort_keys=True) for letter in "ABCD"}
    rng = random.Random(0)
    now = now_iso()
    checked = 0
    with open(run.log, "w", encoding="utf-8") as log:
        for row in plan.rows:
            clip = clips.get((row.voice.id, row.spoken_text)) if row.voice is not None and row.spoken_text else None
            base = (row.model, row.task, row.item.id, row.voice_id, row.modality, row.rotation)
            if base not in prefixes:
                request = build_request(row, clip, params[row.model], config.system_prompt, oracle=True)
                text = canonical_json([fingerprints[row.model], [m.key_json() for m in request.messages], request.params.to_json()])
                prefixes[base] = (hashlib.sha256((text[:-1] + ",").encode("utf-8")), oracle_context(row))
            digest, context = prefixes[base]
            h = digest.copy()
            h.update(f"{row.repeat}]".encode())
            key = h.hexdigest()
            if checked < 200 or rng.random() < 1e-4:  # the shortcut is Request.key, exactly
                request = build_request(row, clip, params[row.model], config.system_prompt, oracle=True)
                assert request.key(fingerprints[row.model]) == key, "generated key differs from Request.key"
                checked += 1
            accuracy = PLANTED[row.model].get(row.voice.label("accent"), 0.8) if row.voice is not None else 0.9
            target = context.target_index
            pick = target if rng.random() < accuracy else rng.choice([i for i in range(context.n_choices) if i != target])
            identity_json = json.dumps(row.identity(), sort_keys=True)
            log.write(f'{{"invocation": 0, "key": "{key}", "response": {answers["ABCD"[pick]]}, "row": {identity_json}, "time": "{now}"}}\n')
    return {"rows": len(plan.rows), "keys_checked": checked}


# ----- phases (each in its own process) -------------------------------------------------------------------
def _plan(config_path: Path, run_dir: Path):
    from biasbench.config import load_config
    from biasbench.runner.plan import load_plan
    from biasbench.runner.progress import RunProgress
    from biasbench.runner.run import plan_jobs, synthesize

    config = load_config(config_path)
    plan = load_plan(config, config_path.parent)
    with RunProgress(enabled=False) as progress:
        clips = synthesize(config, plan, run_dir, progress)[0]
    jobs, keys = plan_jobs(config, plan, clips)
    return config, plan, clips, keys


def phase(name: str, config_path: Path, run_dir: Path) -> dict:
    """Run one phase; returns its own time (the measured call) and notes."""
    notes: dict = {}
    if name == "setup":
        began = time.perf_counter()
        notes = setup(config_path, run_dir)
    elif name == "plan":
        began = time.perf_counter()
        _, plan, _, keys = _plan(config_path, run_dir)
        notes = {"rows": len(plan.rows), "keys": len(keys)}
    elif name == "table":
        from biasbench.core.rundir import RunDir
        from biasbench.pipeline import _table_digest
        from biasbench.runner.freshness import stamp_table, table_inputs_digest
        from biasbench.runner.run import output_identity, write_tidy_table
        from biasbench.runner.store import ResponseLog

        config, plan, clips, keys = _plan(config_path, run_dir)
        run = RunDir(run_dir)
        began = time.perf_counter()
        table = write_tidy_table(plan, run.path, keys, ResponseLog(run.path), 1)
        manifest = run.manifest()  # stamped as run_experiment stamps it (invocation 0 wrote the log and ended complete)
        inputs = table_inputs_digest(run, output_identity(config, plan), plan, clips)
        manifest.results_table = stamp_table(run, inputs, table, calls=len({k for _, k in keys}), clips=len(clips), invocation=0)
        _table_digest(run, manifest)
        notes = {"rows": table.rows, "unanswered": table.unanswered}
    elif name in ("scoring", "report"):
        from biasbench.config import load_config
        from biasbench.core.rundir import RunDir
        from biasbench.pipeline import _score_and_report

        config = load_config(config_path)
        if name == "scoring":
            from biasbench.runner.stamps import Stamps

            Stamps(run_dir).clear()  # scores and report are built again, not found up to date
            config = config.model_copy(update={"report": False})
        began = time.perf_counter()
        _score_and_report(config, RunDir(run_dir), strict=True)
    elif name == "resume":
        from biasbench.config import load_config
        from biasbench.pipeline import run_experiment

        config = load_config(config_path)
        began = time.perf_counter()
        outcome = run_experiment(config, run_dir, config_path.parent, show_progress=False, echo=lambda line: None)
        stats = outcome.stats
        notes = {"table_rewritten": outcome.table is not None, "model_calls": stats.model_calls, "status": stats.status}
    else:
        raise SystemExit(f"unknown phase {name}")
    import resource

    return {"time_s": time.perf_counter() - began, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, **notes}


# ----- the parent: capped children ------------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_capped(argv: list[str], time_cap: float, mem_cap_kib: int, env: dict) -> dict:
    """Run a child; kill it past either cap. Returns wall, peak RSS (wait4), its JSON line and why it stopped."""
    began = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    killed = ""
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - began > time_cap:
            killed = f"over time cap ({time_cap:.0f} s)"
        elif rss_kib(child.pid) > mem_cap_kib:
            killed = f"over memory cap ({mem_cap_kib / 2**20:.1f} GiB)"
        if killed:
            os.killpg(child.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.05)
    wall = time.perf_counter() - began
    out = child.stdout.read().decode() if child.stdout else ""
    err = child.stderr.read().decode() if child.stderr else ""
    child.returncode = os.waitstatus_to_exitcode(status)
    result = {"wall_s": wall, "peak_kib": usage.ru_maxrss, "killed": killed, "code": child.returncode}
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if lines:
        result.update(json.loads(lines[-1]))
    elif not killed and child.returncode != 0:
        result["error"] = (err.strip().splitlines() or ["no output"])[-1][:160]
    if not killed and child.returncode != 0 and "error" not in result:
        result["error"] = (err.strip().splitlines() or [f"exit {child.returncode}"])[-1][:160]
    return result


def slope(points: list[tuple[float, float]]) -> str:
    points = [(x, y) for x, y in points if x > 0 and y > 0]
    if len(points) < 2:
        return "n/a"
    xs, ys = [math.log(x) for x, _ in points], [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return f"{sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den:.2f}" if den else "n/a"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), 0)
    return f"{cpu}, {os.cpu_count()} CPUs, {mem / 2**20:.0f} GiB RAM, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--phases", nargs="+", default=list(PHASES), choices=list(PHASES))
    parser.add_argument("--time-cap-s", type=float, default=600.0, help="per phase (setup included)")
    parser.add_argument("--mem-cap-gib", type=float, default=8.0, help="per phase, resident memory")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/biasbench-bench-scale"))
    parser.add_argument("--child", nargs=3, metavar=("PHASE", "CONFIG", "RUN_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, config, run_dir = args.child
        print(json.dumps(phase(name, Path(config), Path(run_dir))), flush=True)
        return

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    mem_cap = int(args.mem_cap_gib * 2**20)
    print(f"machine: {machine()}")
    print(f"caps per phase: {args.time_cap_s:.0f} s, {args.mem_cap_gib:.1f} GiB RSS; work dir {args.workdir}")
    print(f"{'rows':>10} {'phase':<11} {'time s':>9} {'wall s':>9} {'peak RSS MiB':>13} {'load 1m':>8}  note", flush=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    cache = args.workdir / "cache"
    measured: dict[str, list[tuple[int, float, float]]] = {p: [] for p in PHASES}
    for label in args.sizes:
        folder = args.workdir / label
        folder.mkdir(exist_ok=True)
        config = write_config(folder, SIZES[label], cache)
        run_dir = folder / "run"
        done: dict[str, bool] = {}
        for name in ("setup", *[p for p in PHASES if p in args.phases]):
            need = NEEDS.get(name)
            load = os.getloadavg()[0]
            if need is not None and need in done and not done[need]:
                print(f"{label:>10} {name:<11} {'':>9} {'':>9} {'':>13} {load:>8.2f}  skipped: needs {need}", flush=True)
                done[name] = False
                continue
            if name == "setup" and (run_dir / "responses.jsonl").exists() and (run_dir / "manifest.json").exists():
                done[name] = True  # generated by an earlier bench run (same config): reuse
                continue
            if name == "resume-cli":
                argv = [sys.executable, "-m", "biasbench", "run", str(config), "--out", str(run_dir), "-q"]
            else:
                argv = [sys.executable, __file__, "--child", name, str(config), str(run_dir)]
            table = run_dir / "results.parquet"
            before = table.stat().st_mtime_ns if table.exists() else None
            result = run_capped(argv, args.time_cap_s, mem_cap, env)
            if name.startswith("resume"):
                result["table_untouched"] = before is not None and table.exists() and table.stat().st_mtime_ns == before
            ok = not result["killed"] and result["code"] == 0 and "error" not in result
            done[name] = ok
            rows = result.get("rows", "")
            note = f"skipped: {result['killed']}" if result["killed"] else result.get("error", "")
            if ok:
                note = ", ".join(f"{k}={v}" for k, v in result.items() if k not in ("wall_s", "peak_kib", "killed", "code", "time_s", "rss_kib"))
            own = result.get("time_s", result["wall_s"] if name == "resume-cli" else float("nan"))
            print(f"{rows or label:>10} {name:<11} {own:>9.2f} {result['wall_s']:>9.2f} {result['peak_kib'] / 1024:>13.0f} {load:>8.2f}  {note}",
                  flush=True)
            if ok and name in measured:
                measured[name].append((SIZES[label], own, result["peak_kib"]))
    print("\nlog-log slopes vs rows (1.0 = linear):")
    for name, points in measured.items():
        if points:
            print(f"  {name:<11} time {slope([(n, t) for n, t, _ in points])}, peak RSS {slope([(n, m) for n, _, m in points])}"
                  f"  ({len(points)} sizes)")


if __name__ == "__main__":
    main()
