#!/usr/bin/env python3
"""Speed and memory of `ischia run` on one generated study (a benchmark, not a test).

Generates (once) a study with an axial T1 and an axial PD fat-sat series, runs the pipeline
`--repeat` times and prints wall time, peak memory (of the run's process tree) and the
per-stage times from result.json.

  scripts/bench_run.py [--seed 424242] [--work /tmp/ischia-bench] [--threads 2] [--repeat 3]
"""
import argparse, json, os, resource, statistics, subprocess, sys, time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=424242)
    ap.add_argument("--work", default="/tmp/ischia-bench")
    ap.add_argument("--ischia", default=os.path.join(os.path.dirname(__file__), "..", "build", "ischia"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--with-pictures", action="store_true",
                    help="also time the render and report stages (default: the analysis only)")
    args = ap.parse_args()
    study = os.path.join(args.work, f"study-{args.seed}")
    if not os.path.exists(os.path.join(study, "truth", "truth.json")):
        subprocess.run([args.ischia, "phantom", "--out", study, "--seed", str(args.seed), "--series",
                        "t1,pdfs", "--left", "normal", "--right", "tendinopathy", "--force"], check=True,
                       stdout=subprocess.DEVNULL)
    truth = json.load(open(os.path.join(study, "truth", "truth.json")))
    sizes = {s["description"]: s["geometry"]["size"] for s in truth["series"]
             if "geometry" in s and s.get("written", True)}
    print(f"study {study}: " + ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in sizes.items()))
    walls, stages = [], []
    for i in range(args.repeat):
        out = os.path.join(args.work, f"out-{i}")
        t0 = time.time()
        extra = [] if args.with_pictures else ["--no-render", "--no-pdf"]
        code = subprocess.run([args.ischia, "run", study, "--out", out, "--threads", str(args.threads)] + extra,
                              stdout=subprocess.DEVNULL).returncode
        walls.append(time.time() - t0)
        if code != 0:
            sys.exit(f"ischia run exited {code}")
        stages.append(json.load(open(os.path.join(out, "result.json")))["timings_s"])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"threads {args.threads}, {args.repeat} runs: wall median {statistics.median(walls):.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f}); peak memory {peak_mb:.0f} MB")
    for stage in stages[0]:
        print(f"  {stage:36} {statistics.median(s[stage] for s in stages):7.2f} s")


if __name__ == "__main__":
    main()
