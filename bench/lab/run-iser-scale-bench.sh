#!/usr/bin/env bash
# Many iSER connections against one target, ours and tgtd, in ONE soft-RoCE guest run (native/lab/run.sh): the same
# client (`Iser.Bench sessions --transport iser`, our initiator, one iSER connection per session) logs N sessions in,
# each reading back a known block, then, while all are held: the target's registered memory (the MRs `rdma resource
# show mr` lists for its PID), its RSS and threads, one more login + READ, and 4 KiB random reads on every session
# (4 in flight each) for a few seconds.
#   ours:  `iser target --iser` (RAM LUN), defaults: connections share the SRQ, send buffers and CQ threads
#   tgtd:  `tgtd --iser` (LUN a file in /dev/shm), its iSER portal on 3260
# Bar (issue 16): registered memory per connection <= 256 KiB at defaults.
#
#   bench/lab/run-iser-scale-bench.sh            builds on the host, boots the guest, records
#                                                bench/results/iser-scale-bench-<date>.md
#   LAB_RECORD=0 bench/lab/run-iser-scale-bench.sh    prints only
# Environment: ISER_SCALE_COUNTS (64,256), ISER_SCALE_SECONDS (5), ISER_SCALE_TARGETS ("ours tgtd"), ISER_SCALE_QUEUES
#   (shared: the client's connections share their SRQ, send buffers and CQ threads; own: each has its own).
# Registered memory: every MR `rdma resource show mr` lists that no thread of the client registered (the kernel tags
# an MR with the registering thread, not its process; the target and the client are the guest's only RDMA users).
set -uo pipefail
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
cli_dll=$repo/src/Cli/bin/Release/net10.0/iser.dll
probe_dll=$repo/bench/Iser.Bench/bin/Release/net10.0/Iser.Bench.dll

if [ "${LAB_GUEST:-0}" != 1 ]; then
  cd "$repo"
  dotnet build src/Cli -c Release -v q -nologo </dev/null >/dev/null \
    || { echo "run-iser-scale-bench: building the CLI failed" >&2; exit 1; }
  dotnet build bench/Iser.Bench -c Release -v q -nologo </dev/null >/dev/null \
    || { echo "run-iser-scale-bench: building bench/Iser.Bench failed" >&2; exit 1; }
  . "$script_dir/lib-host.sh"
  lab_bench_host_run iser-scale-bench "Many iSER connections, ours and tgtd" "$script_dir/run-iser-scale-bench.sh" \
    "Peers: tgt $(dpkg-query -W -f='${Version}' tgt 2>/dev/null); iproute2 $(dpkg-query -W -f='${Version}' iproute2 2>/dev/null)."
  exit $?
fi

# --- inside the guest ---------------------------------------------------------------------
. "$repo/native/lab/guest-lib.sh"
PATH="$PATH:/usr/sbin:/sbin"
addr=${LAB_RDMA_ADDR:-169.254.10.1}
counts=${ISER_SCALE_COUNTS:-64,256}
seconds=${ISER_SCALE_SECONDS:-5}
ours_iqn=iqn.2026-12.org.example:scale-ours
tgtd_iqn=iqn.2026-12.org.example:scale-tgtd
ours_port=3262
logdir=$(mktemp -d)
ours_pid="" tgtd_pid="" control=$(( 2000 + RANDOM % 20000 ))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ulimit -l unlimited 2>/dev/null || true

cleanup() {
  [ -n "$ours_pid" ] && lab_stop "$ours_pid"
  if [ -n "$tgtd_pid" ]; then
    tgtadm -C "$control" --lld iser --op delete --force --mode target --tid 1 >/dev/null 2>&1
    tgtadm -C "$control" --op delete --mode system >/dev/null 2>&1
    sleep 1; lab_stop "$tgtd_pid"
  fi
  rm -f /dev/shm/iser-scale.img
  rm -rf "$logdir"
}
trap cleanup EXIT

queues=${ISER_SCALE_QUEUES:-shared}
targets=${ISER_SCALE_TARGETS:-ours tgtd}
probe() {
  local before; before=$(rnr_counters)
  dotnet "$probe_dll" sessions --transport iser --iser-queues "$queues" --counts "$counts" --seconds "$seconds" "$@"
  local rc=$?
  echo
  echo "rxe RNR NAKs over the run (both ends share the device): sent $(( $(rnr_counters | cut -d' ' -f1) - ${before%% *} )), received $(( $(rnr_counters | cut -d' ' -f2) - ${before##* } ))."
  return $rc
}
# rxe's hardware counters: RNR NAKs sent (a receive queue was empty when a SEND arrived) and received.
rnr_counters() {
  local dir=/sys/class/infiniband/${LAB_RDMA_DEVICE:-rxe0}/ports/1/hw_counters
  echo "$(cat "$dir/send_rnr_err" 2>/dev/null || echo 0) $(cat "$dir/rcvd_rnr_err" 2>/dev/null || echo 0)"
}

echo "Counts $counts; 4 KiB random reads, 4 in flight per session, $seconds s; client: \`Iser.Bench sessions --transport iser --iser-queues $queues\` (our initiator,"
echo "one iSER connection per session, in one process). Registered per session: the target's MR bytes over what it held before the first count."
if [[ " $targets " == *" ours "* ]]; then
  echo
  echo "## Our target (\`iser target --iser\`, defaults)"
  echo
  dotnet "$cli_dll" target --portal "$addr:$ours_port" --iqn "$ours_iqn" --lun ram:256M --iser --nop-interval 0 > "$logdir/ours.log" 2>&1 &
  ours_pid=$!
  for ((i = 0; i < 600; i++)); do grep -qx ready "$logdir/ours.log" && break; kill -0 "$ours_pid" 2>/dev/null || break; sleep 0.1; done
  grep -qx ready "$logdir/ours.log" || { echo "run-iser-scale-bench: our target did not start:" >&2; cat "$logdir/ours.log" >&2; exit 1; }
  probe --portal "$addr:$ours_port" --iqn "$ours_iqn" --pid "$ours_pid" \
    || { echo "run-iser-scale-bench: the client failed against our target; its log:" >&2; tail -n 30 "$logdir/ours.log" >&2; exit 1; }
  grep -E "shared receive queue|CQ thread" "$logdir/ours.log" | head -n 3 | sed 's/^/    /'
  lab_stop "$ours_pid"; ours_pid=""
fi
if [[ " $targets " == *" tgtd "* ]]; then
  echo
  echo "## tgtd (\`tgtd --iser\`)"
  echo
  dd if=/dev/zero of=/dev/shm/iser-scale.img bs=1M count=256 status=none
  tgtd -f -C "$control" --iser pool_sz_mb=128 > "$logdir/tgtd.log" 2>&1 &
  tgtd_pid=$!
  adm() { lab_retry 20 tgtadm -C "$control" "$@" >> "$logdir/tgtd.log" 2>&1; }
  adm --lld iser --op new --mode target --tid 1 -T "$tgtd_iqn" &&
  adm --lld iser --op new --mode logicalunit --tid 1 --lun 1 -b /dev/shm/iser-scale.img &&
  adm --lld iser --op bind --mode target --tid 1 -I ALL ||
    { echo "run-iser-scale-bench: tgtd set-up failed:" >&2; cat "$logdir/tgtd.log" >&2; exit 1; }
  # tgtd refuses an iSER login as "target not found" unless the initiator's name is bound too (-I ALL alone lets TCP in):
  # the client's names are writer, extra and s0, s1, ...
  max=$(tr ',' '\n' <<< "$counts" | sort -n | tail -n 1)
  for name in writer extra $(seq -f 's%g' 0 $((max - 1))); do
    tgtadm -C "$control" --lld iser --op bind --mode target --tid 1 --initiator-name "iqn.2026-12.org.iser.bench:$name" >> "$logdir/tgtd.log" 2>&1 ||
      { echo "run-iser-scale-bench: binding initiator $name to tgtd's target failed:" >&2; tail -n 5 "$logdir/tgtd.log" >&2; exit 1; }
  done
  tgtadm -C "$control" --lld iser --op show --mode target | grep -q "$tgtd_iqn" ||
    { echo "run-iser-scale-bench: tgtd does not list $tgtd_iqn:" >&2; tgtadm -C "$control" --lld iser --op show --mode target >&2; cat "$logdir/tgtd.log" >&2; exit 1; }
  # tgtd giving up at some count is a result, recorded in the table with its reason (and tgtd's last words), not a failure of the run.
  if ! SCALE_LUN=1 probe --portal "$addr:3260" --iqn "$tgtd_iqn" --pid "$tgtd_pid"; then
    echo
    kill -0 "$tgtd_pid" 2>/dev/null && echo "tgtd still runs after the failed count." || echo "tgtd is no longer running ($(wait "$tgtd_pid" 2>/dev/null; echo "exit status $?"))."
    echo "tgtd's last log lines:"; echo; tail -n 5 "$logdir/tgtd.log" | sed 's/^/    /'
  fi
fi
