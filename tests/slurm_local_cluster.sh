#!/usr/bin/env bash
# A real single-node Slurm cluster on localhost (munged, slurmctld, slurmd started here with
# every file in a scratch folder, stopped on exit, also on failure), then
# scripts/slurm/submit.sh over 3 small generated studies with 2 shards: checks that the array
# ran, the dependent merge ran after it, and the merged database holds every study.
#   tests/slurm_local_cluster.sh ISCHIA_EXECUTABLE
# Needs root and the Debian packages slurm-wlm and munge (scripts/setup.sh installs them).
set -euo pipefail
ischia=$(readlink -f "${1:?usage: slurm_local_cluster.sh ISCHIA}")
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "[slurm-test $(date +%T)] $*"; }

[[ $(id -u) -eq 0 ]] || fail "needs root (the Slurm and munge daemons are started by the test)"
for c in munged munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol python3; do
  command -v "$c" >/dev/null || fail "$c not found: install slurm-wlm and munge (scripts/setup.sh)"
done

scratch=$(mktemp -d /tmp/ischia-slurm-test.XXXXXX)
chmod 0700 "$scratch"
cleanup() {
  local rc=$?
  for pidfile in "$scratch/slurmd.pid" "$scratch/slurmctld.pid" "$scratch/munged.pid"; do
    if [[ -s $pidfile ]]; then
      local pid
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  if ((rc != 0)); then
    for f in "$scratch"/*.log "$scratch"/out/slurm/*.out; do
      [[ -f $f ]] && { echo "---- $f"; tail -n 30 "$f"; }
    done
  fi
  rm -rf "$scratch"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# munge with a private key and socket.
mkdir -p "$scratch/munge"
chmod 0700 "$scratch/munge"
head -c 1024 /dev/urandom >"$scratch/munge/munge.key"
chmod 0400 "$scratch/munge/munge.key"
sock="$scratch/munge/munge.socket"
munged --force --key-file="$scratch/munge/munge.key" --socket="$sock" \
  --pid-file="$scratch/munged.pid" --log-file="$scratch/munged.log" \
  --seed-file="$scratch/munge/munge.seed"
for _ in $(seq 50); do [[ -S $sock ]] && break; sleep 0.1; done
munge -S "$sock" -n | unmunge -S "$sock" >/dev/null || fail "munge does not work"

# Two free loopback ports for slurmctld and slurmd.
read -r ctldport dport < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
host=$(hostname)
node=$(slurmd -C | head -n 1 | sed -e 's/ UpTime=.*//' -e 's/^NodeName=[^ ]*//')
realmem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
node=$(sed "s/RealMemory=[0-9]*/RealMemory=$((realmem * 9 / 10))/" <<<"$node")
mkdir -p "$scratch/state" "$scratch/spool"
cat >"$scratch/slurm.conf" <<CONF
ClusterName=ischiatest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctldport
SlurmdPort=$dport
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/slurmctld.log
SlurmdLogFile=$scratch/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MailProg=/bin/true
MpiDefault=none
SchedulerParameters=sched_interval=1
NodeName=$host NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$scratch/slurm.conf"
log "starting slurmctld (port $ctldport) and slurmd (port $dport)"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
state=""
for _ in $(seq 150); do
  state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
  [[ $state == idle ]] && break
  sleep 0.2
done
[[ $state == idle ]] || fail "node not idle after 30 s (state '$state')"
log "cluster up"

# Three small studies.
for seed in 101 102 103; do
  "$ischia" phantom --out "$scratch/data/study-$seed" --seed "$seed" --in-plane-scale 2 \
    --supersampling 1 --series t1,pdfs >/dev/null
done
log "studies generated"

read -r _ array _ merge < <(ISCHIA="$ischia" "$repo/scripts/slurm/submit.sh" "$scratch/data" \
  "$scratch/out" --shards 2 --cpus-per-task 1 | tail -n 1)
[[ $array =~ ^[0-9]+$ && $merge =~ ^[0-9]+$ ]] || fail "submit.sh did not print the job ids"
log "submitted array $array and merge $merge"

# Wait until the merge job has left the queue (squeue, not sbatch --wait: no accounting here).
deadline=$((SECONDS + 170))
while squeue -h -j "$array,$merge" 2>/dev/null | grep -q .; do
  ((SECONDS < deadline)) || { squeue; fail "jobs still queued after 170 s"; }
  sleep 1
done
log "jobs finished"

for i in 0 1; do
  [[ -f $scratch/out/shards/shard-$i-of-2.sqlite ]] || fail "shard $i wrote no database"
  grep -q "ischia shard $i/2" "$scratch/out/slurm/shard-$i.out" || fail "shard $i did not run"
done
[[ -f $scratch/out/cohort.sqlite ]] || fail "the merge job wrote no cohort.sqlite"
[[ -f $scratch/out/cohort.html ]] || fail "the merge job wrote no cohort.html"
python3 - "$scratch/out" "$scratch/data" <<'PY'
import csv, sqlite3, sys, pathlib
out, data = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
db = sqlite3.connect(out / "cohort.sqlite")
uids = {r[0] for r in db.execute("SELECT study_instance_uid FROM studies")}
statuses = db.execute("SELECT status, COUNT(*) FROM studies GROUP BY status").fetchall()
shards = {r[0] for r in db.execute("SELECT selection FROM runs")}
assert len(uids) == 3, f"merged database holds {len(uids)} studies, expected 3"
assert shards == {"shard-0-of-2", "shard-1-of-2"}, f"runs: {shards}"
for r in db.execute("SELECT study_key, status, output_dir FROM studies"):
    assert (out / r[2] / "batch.json").exists(), f"{r[0]}: no batch.json"
rows = list(csv.DictReader(open(out / "cohort.csv")))
assert len(rows) == 6, f"cohort.csv has {len(rows)} rows, expected 6"
print("merged:", len(uids), "studies", dict(statuses))
PY
echo "slurm local cluster test: 1 passed, 0 failed"
