#!/usr/bin/env bash
# The lab's physical limit, measured with perftest in one guest run: ib_send_lat and
# ib_read_lat (2 B), ib_write_bw and ib_read_bw (64 KiB), all RC over rxe0 / RoCE v2.
#
#   native/lab/perftest-baseline.sh            boots the guest, prints the figures and records
#                                              them in bench/results/perftest-<date>.md
#   LAB_RECORD=0 native/lab/perftest-baseline.sh   prints only
# Inside the guest (LAB_GUEST=1) it runs the probes directly.
set -uo pipefail
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
iterations=${PERFTEST_ITERATIONS:-5000}

if [ "${LAB_GUEST:-0}" != 1 ]; then
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  cd "$repo"
  started=$(date +%s)
  "$script_dir/run.sh" "$script_dir/perftest-baseline.sh" | tee "$out"
  rc=${PIPESTATUS[0]}
  elapsed=$(( $(date +%s) - started ))
  [ "$rc" = 0 ] || { echo "perftest-baseline: the guest run failed (exit $rc)" >&2; exit "$rc"; }
  if [ "${LAB_RECORD:-1}" = 1 ]; then
    mkdir -p "$repo/bench/results"
    result=$repo/bench/results/perftest-$(date -u +%F).md
    {
      echo "# perftest baseline, soft-RoCE lab ($(date -u '+%F %H:%M UTC'))"
      echo
      echo "Guest: QEMU $(qemu-system-x86_64 --version | head -n1 | awk '{print $4}') TCG, ${LAB_SMP:-2} vCPUs, ${LAB_MEM:-3G};" \
           "kernel $(cat "$repo/.lab-cache"/*/kver 2>/dev/null | head -n1); rdma_rxe on dummy0, RoCE v2, RC."
      echo "Host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs," \
           "load average at the end $(cut -d' ' -f1-3 /proc/loadavg); whole run ${elapsed} s."
      echo "Absolute figures under TCG say little about hardware; compare ratios taken in one run."
      echo
      echo '```'
      cat "$out"
      echo '```'
    } > "$result"
    echo "perftest-baseline: recorded in ${result#"$repo"/}" >&2
  fi
  exit 0
fi

# --- inside the guest ---------------------------------------------------------------------
. "$script_dir/guest-lib.sh"
dev=${LAB_RDMA_DEVICE:-rxe0}
addr=${LAB_RDMA_ADDR:-169.254.10.1}
gid=$(lab_gid_index "$dev" "$addr") || { echo "no RoCE v2 GID for $addr on $dev" >&2; exit 1; }
logdir=$(mktemp -d)
echo "device $dev, GID index $gid ($addr), active MTU $(ibv_devinfo -d "$dev" | awk '/active_mtu/ { print $2 }'), $iterations iterations each"
status=0
port=18700
for probe in "ib_send_lat 2" "ib_read_lat 2" "ib_write_bw 65536" "ib_read_bw 65536"; do
  set -- $probe
  port=$((port + 1))
  if lab_perftest_pair "$logdir/$1" "$port" "$1" -d "$dev" -x "$gid" -s "$2" -n "$iterations"; then
    printf '%-12s %s\n' "$1" "$(lab_perftest_figure "$logdir/$1.client")"
  else
    printf '%-12s FAILED: %s\n' "$1" "$(tail -n3 "$logdir/$1.client" | xargs)"
    status=1
  fi
done
exit $status
