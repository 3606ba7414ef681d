#!/usr/bin/env python3
"""Benchmark of `ischia batch` (not a test): studies per minute with 1 and 2 workers on generated
studies (scaling ratio), peak memory per study against the batch's estimate, and the overhead of
the batch machinery against the same studies run one by one with `ischia run`.

    scripts/bench_batch.py [--studies 4] [--seed 600] [--work /tmp/ischia-bench-batch]
                           [--in-plane-scale 1] [--ischia build/ischia] [--keep]

Every run uses 1 thread per study, so the 1-worker batch and the single runs do the same work and
their difference is the batch machinery (discovery, process start, bookkeeping, database).
Runs skip the pictures and the PDF (--no-render --no-pdf, when `ischia run --help` lists them):
the figures are for the analysis and the batch machinery. Prints a Markdown table for docs/batch.md.
"""
import argparse
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(cmd, **kw):
    """Runs cmd; returns (seconds, peak RSS MB of the process tree, exit code, output, CPU s)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    return (seconds, ru.ru_maxrss / 1024.0, proc.returncode, out.decode(errors="replace"),
            ru.ru_utime + ru.ru_stime)


def machine():
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1048576:.0f} GiB, {platform.system()} {platform.release()}"


def load():
    return open("/proc/loadavg").read().split()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=4)
    ap.add_argument("--seed", type=int, default=600)
    ap.add_argument("--work", default="/tmp/ischia-bench-batch")
    ap.add_argument("--in-plane-scale", default="1")
    ap.add_argument("--ischia", default=str(HERE.parent / "build" / "ischia"))
    ap.add_argument("--keep", action="store_true", help="keep the generated studies and outputs")
    args = ap.parse_args()
    ischia = str(Path(args.ischia).resolve())
    work = Path(args.work)
    data = work / "data"

    help_text = subprocess.run([ischia, "run", "--help"], capture_output=True, text=True).stdout
    run_extra = [f for f in ("--no-render", "--no-pdf") if f in help_text]
    batch_extra = [f"--run-arg={f}" for f in run_extra]

    if not data.exists():
        work.mkdir(parents=True, exist_ok=True)
        print(f"generating {args.studies} studies in {data} ...", file=sys.stderr)
        if args.studies >= 4:
            cmd = [ischia, "phantom", "--suite", str(args.studies), "--seed", str(args.seed),
                   "--in-plane-scale", args.in_plane_scale, "--out", str(data)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        else:
            for i in range(args.studies):
                subprocess.run([ischia, "phantom", "--seed", str(args.seed + i), "--in-plane-scale",
                                args.in_plane_scale, "--out", str(data / f"study-{i:03d}")],
                               check=True, stdout=subprocess.DEVNULL)
    studies = sorted(p for p in data.iterdir() if p.is_dir())
    n = len(studies)
    load_start = load()

    # Single runs, one after the other, 1 thread each.
    single = []
    for s in studies:
        out = work / "single" / s.name
        shutil.rmtree(out, ignore_errors=True)
        secs, rss, rc, text, cpu = run([ischia, "run", str(s), "--out", str(out), "--threads", "1"] + run_extra)
        if rc not in (0, 1):
            sys.exit(f"ischia run {s} failed ({rc}):\n{text}")
        single.append((secs, rss, cpu))
    single_total = sum(s[0] for s in single)
    single_cpu = sum(s[2] for s in single)

    results = {}
    for jobs in (1, 2):
        out = work / f"batch-{jobs}"
        shutil.rmtree(out, ignore_errors=True)
        secs, rss, rc, text, cpu = run([ischia, "batch", str(data), "--out", str(out), "--jobs", str(jobs),
                                   "--threads", "1", "--no-progress"] + batch_extra)
        if rc not in (0, 1):
            sys.exit(f"ischia batch --jobs {jobs} failed ({rc}):\n{text}")
        db = sqlite3.connect(out / "cohort.sqlite")
        rows = db.execute("SELECT seconds, peak_memory_mb, estimated_memory_mb, status FROM studies").fetchall()
        results[jobs] = dict(seconds=secs, cpu=cpu, rows=rows)
    load_end = load()

    b1, b2 = results[1]["seconds"], results[2]["seconds"]
    peaks = [r[1] for r in results[1]["rows"]]
    estimates = [r[2] for r in results[1]["rows"]]
    ok = sum(1 for r in results[1]["rows"] if r[3] == "ok")
    print(f"Machine: {machine()}; load average {load_start} at start, {load_end} at end.")
    print(f"{n} generated studies (seed {args.seed}, in-plane scale {args.in_plane_scale}), {ok} analysed; "
          f"runs with 1 thread each{'; run flags ' + ' '.join(run_extra) if run_extra else ''}.\n")
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| single `ischia run`, one after the other (sum of {n}) | {single_total:.1f} s ({n / single_total * 60:.2f} studies/min) |")
    print(f"| `ischia batch --jobs 1 --threads 1` | {b1:.1f} s ({n / b1 * 60:.2f} studies/min) |")
    print(f"| `ischia batch --jobs 2 --threads 1` | {b2:.1f} s ({n / b2 * 60:.2f} studies/min) |")
    print(f"| scaling 1 -> 2 workers (time ratio) | {b1 / b2:.2f}x |")
    print(f"| batch machinery overhead (1 worker vs single runs) | {b1 - single_total:+.1f} s "
          f"({(b1 / single_total - 1) * 100:+.1f}%, {(b1 - single_total) / n:+.2f} s per study) |")
    c1 = results[1]["cpu"]
    print(f"| CPU time (user + system, all processes): single runs / batch 1 worker / batch 2 workers "
          f"| {single_cpu:.1f} / {c1:.1f} / {results[2]['cpu']:.1f} s |")
    print(f"| batch machinery CPU overhead (1 worker vs single runs) | {c1 - single_cpu:+.1f} s "
          f"({(c1 / single_cpu - 1) * 100:+.1f}%) |")
    print(f"| peak memory per study (max RSS of its process tree) | {min(peaks):.0f}-{max(peaks):.0f} MB "
          f"(single runs: {min(s[1] for s in single):.0f}-{max(s[1] for s in single):.0f} MB) |")
    print(f"| batch's memory estimate per study | {min(estimates):.0f}-{max(estimates):.0f} MB |")
    if not args.keep:
        for d in ["single", "batch-1", "batch-2"]:
            shutil.rmtree(work / d, ignore_errors=True)


if __name__ == "__main__":
    main()
