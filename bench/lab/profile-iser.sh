#!/usr/bin/env bash
# Where the CPU goes over iSER, system-wide, in the soft-RoCE guest: libiscsi's iscsi-perf and `iser perf` (each
# completion mode) in turn against our target, 4 KiB random read, perf sampling the whole guest for 8 s in the middle
# of each run (cpu-clock; the .NET perf map names JIT-compiled methods).
#
#   native/lab/run.sh bench/lab/profile-iser.sh [DEPTH] ["MODES"]     (defaults: 1, "threadpool inline inline+poll")
#
# Prints per client the share of samples in the target, the client (its kernel and user parts) and idle, and each
# client's CPU per command in units of the target's (bench/lib/perf-split.py): the target does the same work per
# command whoever the client is. Raw reports go to bench/.out/profile-iser-x$DEPTH/. Uses the ReadyToRun CLI that
# bench/lab/run-initiator-iser-bench.sh publishes (bench/.out/iser-cli-r2r).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/native/lab/guest-lib.sh"
PATH="$PATH:/usr/sbin:/sbin"
depth=${1:-1} modes=${2:-threadpool inline inline+poll}
cli=$repo/bench/.out/iser-cli-r2r/iser.dll
[ -f "$cli" ] || { echo "profile-iser: $cli is missing; run bench/lab/run-initiator-iser-bench.sh once (it publishes it)" >&2; exit 1; }
command -v perf >/dev/null || { echo "profile-iser: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
[ "${LAB_GUEST:-0}" = 1 ] || { echo "profile-iser: run it in the lab guest: native/lab/run.sh $0" >&2; exit 1; }
out=$repo/bench/.out/profile-iser-x$depth; mkdir -p "$out"; rm -f "$out"/*
addr=$LAB_RDMA_ADDR
log=$(mktemp -d)
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0   # W^X maps JIT code from a memfd perf cannot name
dotnet "$cli" target --portal "$addr:3262" --iqn iqn.2026-11.org.example:profile --lun ram:64M --iser > "$log/t.log" 2>&1 &
tp=$!
trap 'lab_stop $tp' EXIT
for ((i = 0; i < 900; i++)); do grep -qx ready "$log/t.log" && break; sleep 0.1; done
grep -qx ready "$log/t.log" || { echo "profile-iser: our target did not start:" >&2; cat "$log/t.log" >&2; exit 1; }
url=iser://$addr:3262/iqn.2026-11.org.example:profile/0
iscsi-perf -i iqn.2026-11.org.example:warm -t 15 -m 32 -b 8 -r "$url" > /dev/null 2>&1   # the target's JIT settles
echo "$tp" > "$out/target.pid"
profile() { # name
  sleep 14
  perf record -a -g -F 499 -e cpu-clock -o "$log/$1.data" -- sleep 8 > /dev/null 2>&1 ||
    { echo "profile-iser: perf record failed for $1" >&2; return 1; }
  perf report -i "$log/$1.data" --no-children --sort pid,dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60 > "$out/$1.dso.txt"
  perf report -i "$log/$1.data" --no-children --sort pid,comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 > "$out/$1.threads.txt"
  perf report -i "$log/$1.data" --no-children --sort pid,sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -300 > "$out/$1.symbols.txt"
}
iscsi-perf -i iqn.2026-11.org.example:libiscsi -t 24 -m "$depth" -b 8 -r "$url" > "$out/libiscsi.out" 2>&1 &
pp=$!; profile libiscsi; wait $pp
for mode in $modes; do
  name=ours-$(echo "$mode" | tr + _)
  dotnet "$cli" perf "$url" --transport iser --mode randread --block-size 4096 --queue-depth "$depth" --duration 24s \
    --ramp 10s --json --quiet --completions "$mode" > "$out/$name.json" 2> "$out/$name.err" &
  pp=$!; profile "$name"; wait $pp
done
echo "4 KiB random read x$depth over iSER against our target; % of all samples of the guest's 2 vCPUs:"
for f in "$out"/*.dso.txt; do python3 "$repo/bench/lib/perf-split.py" "$f" "$(cat "$out/target.pid")"; done
