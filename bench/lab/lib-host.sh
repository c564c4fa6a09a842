# Host side of the lab bench scripts (sourced, bash).

# lab_bench_host_run NAME TITLE SCRIPT [PEERS]: runs SCRIPT inside the soft-RoCE guest (native/lab/run.sh), shows its
# output, and unless LAB_RECORD=0 keeps it in bench/results/NAME-<date>.md under a header naming the guest, the
# host, the commit and PEERS (a sentence, optional). Returns the guest run's exit code.
lab_bench_host_run() {
  local name=$1 title=$2 script=$3 peers=${4:-} repo out started rc elapsed result commit
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  out=$(mktemp)
  started=$(date +%s)
  "$repo/native/lab/run.sh" "$script" | tee "$out"
  rc=${PIPESTATUS[0]}
  elapsed=$(( $(date +%s) - started ))
  [ "$rc" = 0 ] || echo "$name: the guest run failed (exit $rc)" >&2
  if [ "${LAB_RECORD:-1}" = 1 ]; then
    mkdir -p "$repo/bench/results"
    result=$repo/bench/results/$name-$(date -u +%F-%H%M).md
    commit=$(git -C "$repo" rev-parse --short HEAD)
    git -C "$repo" diff --quiet HEAD -- src bench || commit="$commit plus uncommitted changes"
    {
      echo "# $title, soft-RoCE lab ($(date -u '+%F %H:%M UTC'))"
      echo
      echo "Guest: QEMU $(qemu-system-x86_64 --version | head -n1 | awk '{print $4}') TCG, ${LAB_SMP:-2} vCPUs, ${LAB_MEM:-3G};" \
           "kernel $(cat "$repo/.lab-cache"/*/kver 2>/dev/null | head -n1); rdma_rxe on dummy0 (169.254.10.1), RoCE v2, RC; commit $commit."
      echo "Host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs," \
           "load average at the end $(cut -d' ' -f1-3 /proc/loadavg); whole run ${elapsed} s."
      [ -z "$peers" ] || echo "$peers"
      echo
      cat "$out"
    } > "$result"
    echo "$name: recorded in ${result#"$repo"/}" >&2
  fi
  rm -f "$out"
  return "$rc"
}
