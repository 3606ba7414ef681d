#!/usr/bin/env python3
"""Accuracy of `ischia run` against generated studies with known ground truth.

Generates studies with `ischia phantom` (seeds never used in development by default), runs the
real pipeline on each, compares result.json and labels.nii.gz with truth/ and prints a per-side
table and a summary against the targets of issue 4. Standard library only.

  scripts/evaluate.py --seeds 9001-9030 --work /tmp/ischia-eval [--threads 2] [--check-threads]

Measuring a change to the analysis over many studies: run once with --debug-images (each run
keeps the images stages 3-6 start from in WORK/out-SEED/debug/), then after each change
`--replay NAME` runs only those stages again (build/ischia-replay, seconds a study) into
WORK/NAME-SEED/ and scores them.
"""
import argparse, gzip, json, math, os, statistics, struct, subprocess, sys, time

CASES = ["normal", "tendinopathy", "partial_tear", "complete_tear"]


def read_nifti(path):
    """Returns (dims, data, srow) of a uint16 .nii.gz label map (srow: RAS affine rows)."""
    raw = gzip.open(path, "rb").read()
    endian = "<" if struct.unpack("<i", raw[0:4])[0] == 348 else ">"
    dims = struct.unpack(endian + "8h", raw[40:56])
    datatype = struct.unpack(endian + "h", raw[70:72])[0]
    vox_offset = int(struct.unpack(endian + "f", raw[108:112])[0])
    srow = [struct.unpack(endian + "4f", raw[280 + 16 * i:296 + 16 * i]) for i in range(3)]
    n = dims[1] * dims[2] * dims[3]
    if datatype != 512:  # uint16
        raise ValueError(f"{path}: datatype {datatype}, expected uint16")
    data = struct.unpack(endian + f"{n}H", raw[vox_offset:vox_offset + 2 * n])
    return dims[1:4], data, srow


def side_masks(dims, data, srow, labels, midline_x_lps):
    """Voxel index sets of each of `labels`, split into patient left (+x LPS) and right, in one
    pass over the volume: {label: (left, right)}."""
    nx, ny, nz = dims
    masks = {label: (set(), set()) for label in labels}
    for idx, v in enumerate(data):
        if v not in masks:
            continue
        i = idx % nx
        j = (idx // nx) % ny
        k = idx // (nx * ny)
        x_ras = srow[0][0] * i + srow[0][1] * j + srow[0][2] * k + srow[0][3]
        masks[v][0 if -x_ras > midline_x_lps else 1].add(idx)
    return masks


def bone_scores(dims, srow, truth_bone, ours_bone, tip_z):
    """Our bone label against the truth's: precision (our voxels within one in-plane voxel of
    the truth bone: partial volume at the cortex) and coverage of the truth bone's lowest
    40 mm above the tip (the issue asks for at least that)."""
    nx, ny, _ = dims
    near = set()
    for idx in truth_bone:
        for dj in (-nx, 0, nx):
            for di in (-1, 0, 1):
                near.add(idx + dj + di)
    precision = len(ours_bone & near) / len(ours_bone) if ours_bone else 0.0
    low = {idx for idx in truth_bone
           if srow[2][0] * (idx % nx) + srow[2][1] * (idx // nx % ny) + srow[2][2] * (idx // (nx * ny))
           + srow[2][3] <= tip_z + 40.0}
    coverage = len(low & ours_bone) / len(low) if low else 0.0
    return precision, coverage


def dice(a, b):
    return 2 * len(a & b) / (len(a) + len(b)) if (a or b) else 1.0


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    return p.returncode, p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="9001-9030")
    ap.add_argument("--work", default="/tmp/ischia-eval")
    ap.add_argument("--ischia", default=os.path.join(os.path.dirname(__file__), "..", "build", "ischia"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check-threads", action="store_true", help="also run at --threads 1 and compare")
    ap.add_argument("--in-plane-scale", type=float, default=1.0)
    ap.add_argument("--generate-only", action="store_true", help="only write the studies")
    ap.add_argument("--debug-images", action="store_true",
                    help="keep the analysis input images in WORK/out-SEED/debug (for --replay)")
    ap.add_argument("--replay", metavar="NAME",
                    help="run stages 3-6 again on WORK/out-SEED/debug into WORK/NAME-SEED and score those")
    ap.add_argument("--score-only", action="store_true",
                    help="score the results already in WORK/out-SEED (no runs; time column 0)")
    args = ap.parse_args()
    seeds = []
    for part in args.seeds.split(","):  # "9001-9030" or "9001,9005,9010-9012"
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi or lo) + 1))
    os.makedirs(args.work, exist_ok=True)

    rows, failures, thread_mismatch = [], [], []
    for n, seed in enumerate(seeds):
        left, right = CASES[n % 4], CASES[(n // 4 + n + 1) % 4]
        study = os.path.join(args.work, f"study-{seed}")
        out = os.path.join(args.work, f"out-{seed}")
        if args.replay:
            debug = os.path.join(out, "debug")
            out = os.path.join(args.work, f"{args.replay}-{seed}")
        if not os.path.exists(os.path.join(study, "truth", "truth.json")):
            if args.score_only or args.replay:  # nothing to score: say so, do not generate
                failures.append((seed, None, f"no study with truth in {study}"))
                continue
            code, text = run([args.ischia, "phantom", "--out", study, "--seed", str(seed), "--left", left,
                              "--right", right, "--in-plane-scale", str(args.in_plane_scale), "--force"])
            if code != 0:
                sys.exit(f"phantom failed for seed {seed}: {text}")
        if args.generate_only:
            continue
        code, text, seconds = 0, "", 0.0
        if args.replay and not args.score_only:
            t0 = time.time()
            code, text = run([os.path.join(os.path.dirname(args.ischia), "ischia-replay"), debug,
                              "--out", out])
            seconds = time.time() - t0
        elif not args.score_only:
            t0 = time.time()
            env = dict(os.environ, ISCHIA_DEBUG_IMAGES="1") if args.debug_images else None
            code, text = run([args.ischia, "run", study, "--out", out, "--threads", str(args.threads),
                               "--no-render", "--no-pdf"], env)
            seconds = time.time() - t0
        truth = json.load(open(os.path.join(study, "truth", "truth.json")))
        if code != 0 or not os.path.exists(os.path.join(out, "result.json")):
            failures.append((seed, code, text.strip().splitlines()[-1:] if text else f"no {out}/result.json"))
            continue
        result = json.load(open(os.path.join(out, "result.json")))
        if args.check_threads and not args.score_only and not args.replay:
            out1 = out + "-t1"
            run([args.ischia, "run", study, "--out", out1, "--threads", "1", "--no-render", "--no-pdf"])
            r1 = json.load(open(os.path.join(out1, "result.json")))
            if r1["sides"] != result["sides"]:
                thread_mismatch.append(seed)
        midline = result.get("analysis_qc", {}).get("midline_x_mm", 0.0)
        tdims, tdata, tsrow = read_nifti(os.path.join(study, "truth", "labels.nii.gz"))
        rdims, rdata, rsrow = read_nifti(os.path.join(out, "labels.nii.gz"))
        tm = side_masks(tdims, tdata, tsrow, (1, 2), midline)
        rm = side_masks(rdims, rdata, rsrow, (1, 2), midline)
        for n_side, side in enumerate(("left", "right")):
            tmask, rmask = tm[2][n_side], rm[2][n_side]  # tendon
            tbone, rbone = tm[1][n_side], rm[1][n_side]
            ts, rs = truth["sides"][side], result["sides"][side]
            row = {"seed": seed, "side": side, "case": ts["grade"], "found": rs.get("found", False),
                   "seconds": seconds}
            if row["found"]:
                tip_t = ts["tuberosityTipLps"]
                row["tip_err"] = math.dist(tip_t, rs["tuberosity_mm"])
                row["dice"] = dice(tmask, rmask)
                row["bone_prec"], row["bone_cov"] = bone_scores(tdims, tsrow, tbone, rbone, tip_t[2])
                row["thick_true"] = ts["tendon"]["maxThicknessMm"]
                row["thick_meas"] = rs["tendon"]["thickness_mm"]
                row["tear_true"], row["tear_meas"] = ts["tear"]["type"], rs["tear"]["type"]
                row["retr_true"], row["retr_meas"] = ts["tear"]["retractionMm"], rs["tear"]["retraction_mm"]
                row["grade_true"], row["grade_meas"] = ts["grade"], rs["grade"]
            else:
                row["reason"] = rs.get("reason", "")
            rows.append(row)

    def fmt_or_na(v):  # a retraction is null when no stump was found
        return f"{v:<5.1f}" if v is not None else "n/a  "

    print(f"{'seed':>5} {'side':5} {'case':14} {'tip mm':>7} {'dice':>5} {'thick t/m':>11} "
          f"{'tear t/m':>19} {'retr t/m':>11} {'grade':>14} {'bone p/c':>9} {'s':>5}")
    for r in rows:
        if not r["found"]:
            print(f"{r['seed']:>5} {r['side']:5} {r['case']:14} not found: {r['reason']}")
            continue
        print(f"{r['seed']:>5} {r['side']:5} {r['case']:14} {r['tip_err']:7.1f} {r['dice']:5.2f} "
              f"{r['thick_true']:5.1f}/{r['thick_meas']:<5.1f} {r['tear_true']:>9}/{r['tear_meas']:<9} "
              f"{r['retr_true']:5.1f}/{fmt_or_na(r['retr_meas'])} {'ok' if r['grade_true'] == r['grade_meas'] else r['grade_meas']:>14} "
              f"{r['bone_prec']:4.2f}/{r['bone_cov']:<4.2f} {r['seconds']:5.1f}")
    found = [r for r in rows if r["found"]]
    total = len(seeds) * 2
    print(f"\nstudies {len(seeds)}, sides {total}, found {len(found)}, failed studies {len(failures)}")
    for f in failures:
        print("  failed:", f)
    if found:
        tips = [r["tip_err"] for r in found]
        dices = [r["dice"] for r in found if r["case"] != "complete_tear"]
        thick = [abs(r["thick_true"] - r["thick_meas"]) for r in found if r["tear_true"] != "complete"]
        complete = [r for r in found if r["tear_true"] == "complete"]
        retr = [abs(r["retr_true"] - r["retr_meas"]) for r in complete if r["retr_meas"] is not None]
        def line(name, values, target):
            if values:
                print(f"{name:36} median {statistics.median(values):6.2f}  max {max(values):6.2f}   target {target}")
        line("tuberosity tip error (mm)", tips, "median <= 5, every side <= 10")
        line("tendon Dice (sides without complete tear)", dices, "median >= 0.80")
        line("thickness error (mm, no complete tear)", thick, "median <= 0.7, max <= 1.5")
        line("retraction error (mm, complete tears)", retr, "<= 5")
        unmeasured = len(complete) - len(retr)
        if unmeasured:
            print(f"{'':36} retraction not measured (no stump found) on {unmeasured} of {len(complete)}")
        prec = [r["bone_prec"] for r in found]
        cov = [r["bone_cov"] for r in found]
        print(f"{'bone label precision (1-voxel margin)':36} median {statistics.median(prec):6.2f}  "
              f"min {min(prec):6.2f}")
        print(f"{'bone label coverage, lowest 40 mm':36} median {statistics.median(cov):6.2f}  "
              f"min {min(cov):6.2f}   (the issue: at least the lowest 40 mm)")
        tear_ok = sum(r["tear_true"] == r["tear_meas"] for r in found)
        grade_ok = sum(r["grade_true"] == r["grade_meas"] for r in found)
        print(f"{'tear type right':36} {tear_ok}/{total} sides ({100 * tear_ok / total:.0f}%)   target >= 95%")
        print(f"{'grade right':36} {grade_ok}/{total} sides ({100 * grade_ok / total:.0f}%)   target >= 90%")
        print(f"{'run time per study (s)':36} median {statistics.median(r['seconds'] for r in found):6.1f}")
    if args.check_threads:
        print(f"threads 1 vs {args.threads}: {len(seeds) - len(failures) - len(thread_mismatch)} identical, "
              f"{len(thread_mismatch)} differ {thread_mismatch}")


if __name__ == "__main__":
    main()
