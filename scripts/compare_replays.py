#!/usr/bin/env python3
"""Side-by-side comparison of two analyses of the same generated studies, against the truth.

Measuring a change to the analysis (docs/accuracy.md, "Developer aid"): run
`scripts/evaluate.py --debug-images` once, replay the analysis before and after the change with
`--replay A` and `--replay B` (or use `out` for the full runs), then

  scripts/compare_replays.py --work /tmp/ischia-eval A B [--min-change 0.3]

lists every side whose tip error, retraction error, thickness error or grade changed between the
two, and prints for each analysis the summary the accuracy targets are stated in: tip error
median / mean / sides over 7 and 10 mm / max, retraction error max and tears over 5 mm,
thickness error median and max (sides without a complete tear), grades right. Standard library
only.
"""
import argparse, glob, json, math, os, statistics, sys


def side_errors(truth, result):
    """Errors of one side (None where not measurable): tip (mm), retraction (signed, complete
    tears), thickness (signed, sides without a complete tear), grade right."""
    if not result.get("found"):
        return {"found": False, "tip": None, "retraction": None, "thickness": None, "grade": False}
    complete = truth["tear"]["type"] == "complete"
    retraction = result["tear"].get("retraction_mm")
    return {
        "found": True,
        "tip": math.dist(truth["tuberosityTipLps"], result["tuberosity_mm"]),
        # null when no stump was found: not measurable (the summary counts the measured ones)
        "retraction": retraction - truth["tear"]["retractionMm"]
        if complete and retraction is not None else None,
        "thickness": None if complete
        else result["tendon"]["thickness_mm"] - truth["tendon"]["maxThicknessMm"],
        "grade": result.get("grade") == truth["grade"],
    }


def fmt(v, spec):
    return format(v, spec) if v is not None else "  n/a"


def summary(name, errs):
    tips = [e["tip"] for e in errs if e["tip"] is not None]
    retr = [abs(e["retraction"]) for e in errs if e["retraction"] is not None]
    thick = [abs(e["thickness"]) for e in errs if e["thickness"] is not None]
    line = f"{name:12} sides {len(errs)}, not found {sum(not e['found'] for e in errs)}"
    if tips:
        line += (f" | tip median {statistics.median(tips):.2f} mean {statistics.mean(tips):.2f}"
                 f" >7 {sum(t > 7 for t in tips)} >10 {sum(t > 10 for t in tips)} max {max(tips):.1f}")
    if retr:
        line += f" | retraction max {max(retr):.1f}, over 5 mm {sum(r > 5 for r in retr)} of {len(retr)} measured"
    if thick:
        line += f" | thickness median {statistics.median(thick):.2f} max {max(thick):.2f}"
    line += f" | grade right {sum(e['grade'] for e in errs)}"
    print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="the evaluate.py work directory")
    ap.add_argument("a", help="first analysis: WORK/A-SEED/result.json ('out' for the full runs)")
    ap.add_argument("b", help="second analysis, likewise")
    ap.add_argument("--min-change", type=float, default=0.3,
                    help="list a side when an error changed by more than this (mm)")
    args = ap.parse_args()

    rows = []
    for study in sorted(glob.glob(os.path.join(args.work, "study-*"))):
        seed = study.rsplit("-", 1)[1]
        paths = [os.path.join(study, "truth", "truth.json")] + [
            os.path.join(args.work, f"{name}-{seed}", "result.json") for name in (args.a, args.b)]
        if not all(os.path.exists(p) for p in paths):
            continue
        truth, ra, rb = (json.load(open(p)) for p in paths)
        for side in ("left", "right"):
            ea = side_errors(truth["sides"][side], ra["sides"][side])
            eb = side_errors(truth["sides"][side], rb["sides"][side])
            rows.append((seed, side, ea, eb))
    if not rows:
        sys.exit(f"no study in {args.work} has a truth and both {args.a}-SEED and {args.b}-SEED results")

    def changed(ea, eb):
        if ea["found"] != eb["found"] or ea["grade"] != eb["grade"]:
            return True
        return any(ea[k] is not None and eb[k] is not None and abs(ea[k] - eb[k]) > args.min_change
                   for k in ("tip", "retraction", "thickness"))

    for seed, side, ea, eb in rows:
        if changed(ea, eb):
            print(f"{seed} {side:5} tip {fmt(ea['tip'], '5.1f')} -> {fmt(eb['tip'], '5.1f')}"
                  f"  retraction {fmt(ea['retraction'], '+5.1f')} -> {fmt(eb['retraction'], '+5.1f')}"
                  f"  thickness {fmt(ea['thickness'], '+5.2f')} -> {fmt(eb['thickness'], '+5.2f')}"
                  f"  grade {'right' if ea['grade'] else 'wrong'} -> {'right' if eb['grade'] else 'wrong'}")
    summary(args.a, [r[2] for r in rows])
    summary(args.b, [r[3] for r in rows])


if __name__ == "__main__":
    main()
