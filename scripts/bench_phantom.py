#!/usr/bin/env python3
"""Speed and memory of `ischia phantom` (a benchmark, not a test).

Generates one default study (clinical resolution, all four series) per seed, `--repeat`
times, and prints per run the wall time, the CPU time (user + sys of the process) and the
peak resident memory, then the medians per seed. Also prints the machine (CPU model, cores)
and the load average before and after: on a shared machine the wall time depends on the
other processes, the CPU time much less.

  scripts/bench_phantom.py [--seeds 1 7 9001] [--repeat 1] [--threads N] [--stages]
                           [--ischia build/ischia] [--work /tmp/ischia-bench-phantom]

--threads sets ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS (default: all cores); --stages prints the
per-stage times the generator reports with ISCHIA_PHANTOM_TIMING=1.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def run_once(ischia, seed, out, env):
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    proc = subprocess.Popen([ischia, "phantom", "--out", out, "--seed", str(seed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"ischia phantom --seed {seed} exited {proc.returncode}:\n{stderr}")
    shutil.rmtree(out, ignore_errors=True)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 7, 9001])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--ischia",
                    default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                         "ischia"))
    ap.add_argument("--work", default="/tmp/ischia-bench-phantom")
    args = ap.parse_args()

    env = dict(os.environ)
    if args.threads > 0:
        env["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(args.threads)
    if args.stages:
        env["ISCHIA_PHANTOM_TIMING"] = "1"
    os.makedirs(args.work, exist_ok=True)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; "
          f"threads {args.threads or 'default'}; load average before "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    rows = {}
    for r in range(args.repeat):
        for seed in args.seeds:
            wall, cpu, rss, stderr = run_once(args.ischia, seed,
                                              os.path.join(args.work, f"seed-{seed}"), env)
            rows.setdefault(seed, []).append((wall, cpu, rss))
            print(f"seed {seed:>6} run {r + 1}: wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
                  f"peak RSS {rss:6.0f} MB")
            if args.stages:
                for line in stderr.splitlines():
                    if line.startswith("phantom stage"):
                        print("    " + line)
    print("load average after " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("median per seed:")
    for seed, runs in rows.items():
        print(f"  seed {seed:>6}: wall {statistics.median(x[0] for x in runs):6.2f} s  "
              f"cpu {statistics.median(x[1] for x in runs):6.2f} s  "
              f"peak RSS {max(x[2] for x in runs):6.0f} MB")


if __name__ == "__main__":
    main()
