#!/usr/bin/env bash
# Submits an ischia batch to Slurm: the plan (studies under ROOT -> OUT/manifest.csv, headers
# only, run here), one array task per shard (scripts/slurm/shard.sbatch), and a merge job
# (scripts/slurm/merge.sbatch) that starts when every shard has succeeded (afterok).
#
#   scripts/slurm/submit.sh ROOT OUT [--shards N] [--cpus-per-task C] [--mem SIZE]
#                           [--time LIMIT] [--partition P] [--ischia PATH] [-- BATCH_OPTIONS...]
#
# OUT must be on a file system every node sees. BATCH_OPTIONS go to every `ischia batch`
# (e.g. --config FILE, --timeout S, --run-arg=...). A shard whose studies partly failed still
# succeeds (the failures are in its database); a shard that could not run at all fails, and
# the merge then never starts (squeue shows it as DependencyNeverSatisfied).
# Prints "array <id> merge <id>".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" >&2; exit 2; }
(($# >= 2)) || usage
root=$1 out=$2
shift 2
shards=4 cpus=2 mem="" time="" partition=""
ischia="${ISCHIA:-$here/../../build/ischia}"
extra=()
while (($#)); do
  case $1 in
    --shards) shards=$2; shift 2 ;;
    --cpus-per-task) cpus=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --time) time=$2; shift 2 ;;
    --partition) partition=$2; shift 2 ;;
    --ischia) ischia=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "submit.sh: unknown option $1" >&2; usage ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: --shards needs a positive number" >&2; exit 2; }
[[ -x $ischia ]] || { echo "submit.sh: $ischia is not an executable (set --ischia or ISCHIA)" >&2; exit 2; }
ischia="$(cd "$(dirname "$ischia")" && pwd)/$(basename "$ischia")"
mkdir -p "$out/slurm"
out="$(cd "$out" && pwd)"

# 1. The plan: one fixed, ordered list of studies that every shard reads.
"$ischia" batch "$root" --out "$out" --plan

opts=(--cpus-per-task="$cpus")
[[ -n $mem ]] && opts+=(--mem="$mem")
[[ -n $time ]] && opts+=(--time="$time")
[[ -n $partition ]] && opts+=(--partition="$partition")

# 2. One array task per shard.
array=$(sbatch --parsable --array="0-$((shards - 1))" "${opts[@]}" --job-name=ischia-shard \
  --output="$out/slurm/shard-%a.out" "$here/shard.sbatch" "$ischia" "$out" "$shards" \
  "${extra[@]}")
array=${array%%;*}

# 3. The merge, once every shard has succeeded.
mopts=(--cpus-per-task=1)
[[ -n $partition ]] && mopts+=(--partition="$partition")
merge=$(sbatch --parsable --dependency="afterok:$array" "${mopts[@]}" --job-name=ischia-merge \
  --output="$out/slurm/merge.out" "$here/merge.sbatch" "$ischia" "$out")
merge=${merge%%;*}
echo "array $array merge $merge"
