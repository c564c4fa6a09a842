#!/usr/bin/env bash
# Our initiator (`iser perf --transport iser`, in each completion mode) against libiscsi's `iscsi-perf` over iSER,
# all clients of the SAME target in ONE soft-RoCE guest run (native/lab/run.sh); the targets are ours
# (`iser target --iser`, RAM LUN) and tgtd (`tgtd --iser`, LUN an allocated file in /dev/shm).
#   workloads: 4 KiB random read at 1 and 32 in flight, 4 KiB random write at 1 (ours only: iscsi-perf only reads),
#              128 KiB sequential read at 8 in flight
#   per run:   IOPS, p50/p99 latency (ours; iscsi-perf prints none), CPU time per command of the client process
#              (user + system over its commands, bench/lib/client-run.py)
#   floor:     at depth 1, the verbs of one 4 KiB iSER read and nothing else (`Iser.VerbsBench serve-bw --size 4096
#              --depth 1`: request SEND -> 4 KiB RDMA WRITE + response SEND), its client sleeping on its completion
#              channel (--client-waits 1) and busy-polling (--client-waits 0); shown as µs per exchange. And one
#              thread hand-off through a futex (bench/lab/wakeup-floor.c), what a default-mode completion pays once per
#              batch to leave the thread that reaped it.
# Clients take turns in an order that rotates each round; medians over rounds.
#
#   bench/lab/run-initiator-iser-bench.sh      builds on the host, boots the guest, prints the tables and records them
#                                              in bench/results/initiator-iser-bench-<date>.md (LAB_RECORD=0: print only)
# Environment: BENCH_SECONDS (5 per run), BENCH_ROUNDS (3), BENCH_SIZE_MIB (128), BENCH_WARMUP (10 s per target,
#   discarded), BENCH_RAMP (10 s of load before each of our runs, discarded), BENCH_MODES ("threadpool inline poll
#   inline+poll"; MODE/own runs it with --iser-queues own), BENCH_TARGETS ("ours tgtd").
set -uo pipefail
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
# ReadyToRun, as run-iser-bench.sh: under TCG a cold JIT costs seconds per process.
cli_dir=$repo/bench/.out/iser-cli-r2r
cli_dll=$cli_dir/iser.dll
verbs_dll=$repo/bench/Iser.VerbsBench/bin/Release/net10.0/Iser.VerbsBench.dll
client_run=$repo/bench/lib/client-run.py
handoff_bin=$repo/bench/.out/wakeup-floor

if [ "${LAB_GUEST:-0}" != 1 ]; then
  cd "$repo"
  dotnet publish src/Cli -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -o "$cli_dir" -v q -nologo </dev/null >/dev/null \
    || { echo "run-initiator-iser-bench: publishing the CLI failed" >&2; exit 1; }
  dotnet build bench/Iser.VerbsBench -c Release -v q -nologo </dev/null >/dev/null \
    || { echo "run-initiator-iser-bench: building bench/Iser.VerbsBench failed" >&2; exit 1; }
  gcc -O2 -pthread -o "$handoff_bin" "$script_dir/wakeup-floor.c" \
    || { echo "run-initiator-iser-bench: compiling bench/lab/wakeup-floor.c failed (needs gcc)" >&2; exit 1; }
  . "$script_dir/lib-host.sh"
  lab_bench_host_run initiator-iser-bench "Initiators over iSER: ours (per completion mode) and libiscsi, against ours and tgtd" \
    "$script_dir/run-initiator-iser-bench.sh" \
    "Peers: tgt $(dpkg-query -W -f='${Version}' tgt 2>/dev/null), libiscsi-bin $(dpkg-query -W -f='${Version}' libiscsi-bin 2>/dev/null)."
  exit $?
fi

# --- inside the guest ---------------------------------------------------------------------
. "$repo/native/lab/guest-lib.sh"
PATH="$PATH:/usr/sbin:/sbin"
addr=${LAB_RDMA_ADDR:-169.254.10.1}
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
size_mib=${BENCH_SIZE_MIB:-128}
warmup=${BENCH_WARMUP:-10}
# Each `iser perf` is a new process: under TCG the runtime re-compiles hot methods (tiered JIT) for tens of seconds,
# so it runs this long unmeasured first (measured: 2 s of ramp gave 507 IOPS at 4 KiB x 1, 10 s gave 879).
ramp=${BENCH_RAMP:-10}
modes=${BENCH_MODES:-threadpool inline poll inline+poll}
bench_targets=${BENCH_TARGETS:-ours tgtd}
initiator=iqn.2026-11.org.example:iser-bench
ours_iqn=iqn.2026-11.org.example:bench-ours
tgtd_iqn=iqn.2026-11.org.example:bench-tgtd
ours_port=3262   # tgtd's iSER portal is fixed at 3260 (LAB.md)
logdir=$(mktemp -d)
ours_pid="" tgtd_pid="" control=$(( 2000 + RANDOM % 20000 ))

cleanup() {
  [ -n "$ours_pid" ] && lab_stop "$ours_pid"
  if [ -n "$tgtd_pid" ]; then
    tgtadm -C "$control" --lld iser --op delete --force --mode target --tid 1 >/dev/null 2>&1
    tgtadm -C "$control" --op delete --mode system >/dev/null 2>&1
    sleep 1; lab_stop "$tgtd_pid"
  fi
  rm -f /dev/shm/initiator-bench.img
}
trap cleanup EXIT

dotnet "$cli_dll" target --portal "$addr:$ours_port" --iqn "$ours_iqn" --lun "ram:${size_mib}M" --iser > "$logdir/ours.log" 2>&1 &
ours_pid=$!
for ((i = 0; i < 600; i++)); do grep -qx ready "$logdir/ours.log" && break; kill -0 "$ours_pid" 2>/dev/null || break; sleep 0.1; done
grep -Eq " iser(,|$)" "$logdir/ours.log" || { echo "our target did not start with an iSER portal:" >&2; cat "$logdir/ours.log" >&2; exit 1; }

dd if=/dev/zero of=/dev/shm/initiator-bench.img bs=1M count="$size_mib" status=none
tgtd -f -C "$control" --iser pool_sz_mb=128 > "$logdir/tgtd.log" 2>&1 &
tgtd_pid=$!
adm() { lab_retry 20 tgtadm -C "$control" "$@" >> "$logdir/tgtd.log" 2>&1; }
adm --lld iser --op new --mode target --tid 1 -T "$tgtd_iqn" &&
adm --lld iser --op new --mode logicalunit --tid 1 --lun 1 -b /dev/shm/initiator-bench.img &&
adm --lld iser --op bind --mode target --tid 1 -I ALL &&
adm --lld iser --op bind --mode target --tid 1 --initiator-name "$initiator" ||
  { echo "tgtd set-up failed:" >&2; cat "$logdir/tgtd.log" >&2; exit 1; }

url_of() { [ "$1" = ours ] && echo "iser://$addr:$ours_port/$ours_iqn/0" || echo "iser://$addr:3260/$tgtd_iqn/1"; }
# label|bytes|in flight|iser perf mode
workloads=(
  "4 KiB random read, 1 in flight|4096|1|randread"
  "4 KiB random read, 32 in flight|4096|32|randread"
  "4 KiB random write, 1 in flight|4096|1|randwrite"
  "128 KiB sequential read, 8 in flight|131072|8|read"
)
clients=(libiscsi); for m in $modes; do clients+=("ours:$m"); done

run_client() { # client url bytes depth mode
  local client=$1 url=$2 bytes=$3 depth=$4 mode=$5
  if [ "$client" = libiscsi ]; then
    [ "$mode" = randwrite ] && return 0
    local args=(-i "$initiator" -t "$seconds" -m "$depth" -b $(( bytes / 512 )))
    [ "$mode" = randread ] && args+=(-r)
    python3 "$client_run" libiscsi "$seconds" -- iscsi-perf "${args[@]}" "$url" 2>"$logdir/client.err"
  else
    # A mode may name the iSER queues after a slash: threadpool/own gives the connection its own SRQ-less ring and CQ
    # thread (--iser-queues own), as before the initiators shared theirs; the default is shared.
    local spec=${client#ours:} queues=shared
    [[ $spec == */* ]] && queues=${spec#*/}
    python3 "$client_run" ours "$seconds" -- dotnet "$cli_dll" perf "$url" --transport iser --initiator-name "$initiator" \
      --mode "$mode" --block-size "$bytes" --queue-depth "$depth" --duration "${seconds}s" --ramp "${ramp}s" \
      --completions "${spec%%/*}" --iser-queues "$queues" --json --quiet 2>"$logdir/client.err"
  fi
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
key() { echo "$1" | tr -c 'a-zA-Z0-9\n' '_'; }

# Warm-up, discarded: the targets' JIT settles (our initiator is a new process per run and ramps inside it).
for t in $bench_targets; do
  lab_retry 3 timeout 60 iscsi-inq -i "$initiator" "$(url_of "$t")" > "$logdir/warmup.$t" 2>&1 || echo "warm-up login to $t failed" >&2
  [ "$warmup" -gt 0 ] && timeout $((warmup + 60)) iscsi-perf -i "$initiator" -t "$warmup" -m 32 -b 8 -r "$(url_of "$t")" >> "$logdir/warmup.$t" 2>&1
done

n=${#clients[@]}
floor_sleep=() floor_poll=() floor_handoff=()
for ((r = 1; r <= rounds; r++)); do
  for t in $bench_targets; do
    url=$(url_of "$t")
    i=0
    for w in "${workloads[@]}"; do
      IFS='|' read -r wlabel bytes depth mode <<<"$w"
      for ((k = 0; k < n; k++)); do
        client=${clients[$(( (k + r + i) % n ))]}
        [ "$client" = libiscsi ] && [ "$mode" = randwrite ] && continue
        result=$(run_client "$client" "$url" "$bytes" "$depth" "$mode")
        if [ -n "$result" ]; then
          echo "$result" >> "$logdir/$t.$i.$(key "$client")"
          echo "round $r: $t, $wlabel: $client $result (IOPS p50 p99 CPU-µs/cmd)" >&2
        else
          echo "round $r: $t, $wlabel: $client failed: $(tail -3 "$logdir/client.err" | tr '\n' ' ')" >&2
        fi
      done
      i=$((i + 1))
    done
  done
  # The floor at depth 1: µs per exchange = 4096 B / (MB/s x 2^20) x 10^6.
  for cw in 1 0; do
    mbs=$(timeout 120 dotnet "$verbs_dll" serve-bw --size 4096 --depth 1 --buffers 1 --client-waits "$cw" --iterations 3000 2>&1 \
      | sed -n 's/.*average \([0-9.]*\) MB\/s.*/\1/p')
    if [ -n "$mbs" ]; then
      us=$(awk -v m="$mbs" 'BEGIN { printf "%.1f", 4096 / (m * 1048576) * 1e6 }')
      if [ "$cw" = 1 ]; then floor_sleep+=("$us"); else floor_poll+=("$us"); fi
      echo "round $r: verbs floor at depth 1, client $([ "$cw" = 1 ] && echo sleeping || echo polling): $us µs per exchange" >&2
    else
      echo "round $r: the verbs floor (client-waits $cw) gave no figure" >&2
    fi
  done
  handoff=$(timeout 120 "$handoff_bin" 3000 | sed -n 's/.*median_ns=\([0-9]*\).*/\1/p')
  if [ -n "$handoff" ]; then
    floor_handoff+=("$(awk -v n="$handoff" 'BEGIN { printf "%.1f", n / 1000 }')")
    echo "round $r: one thread hand-off (futex): ${floor_handoff[-1]} µs" >&2
  else
    echo "round $r: the hand-off floor (bench/.out/wakeup-floor) gave no figure" >&2
  fi
done

fs=$(printf '%s\n' "${floor_sleep[@]}" | median); fp=$(printf '%s\n' "${floor_poll[@]}" | median)
fh=$(printf '%s\n' "${floor_handoff[@]}" | median)
labels=(); for w in "${workloads[@]}"; do labels+=("${w%%|*}"); done
for t in $bench_targets; do
  echo
  echo "Target: $t over iSER (median of $rounds rounds, ${seconds} s each)"
  echo
  python3 "$repo/bench/lib/client-table.py" "$logdir" "$t" --workloads "${labels[@]}" --clients "${clients[@]}"
done
echo
echo "Verbs-only floor at depth 1 (request SEND -> 4 KiB RDMA WRITE + response SEND; median µs per exchange): client sleeping ${fs}, client polling ${fp}."
echo "One thread hand-off through a futex (what a default-mode completion pays to leave the reaping thread; median µs): ${fh}."
