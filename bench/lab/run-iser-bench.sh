#!/usr/bin/env bash
# iSER against TCP, ours against tgtd, in ONE soft-RoCE guest run (native/lab/run.sh), with libiscsi's
# iscsi-perf as the initiator for every target, plus ib_write_bw at 128 KiB as the link's ceiling:
#   targets:   ours iSER, ours TCP (`iser target --iser`, one portal, RAM LUN),
#              tgtd iSER, tgtd TCP (`tgtd --iser`, LUN a file in /dev/shm)
#   workloads: 4 KiB random read at 32 and at 1 in flight, 128 KiB sequential read at 8 in flight
#   ceiling:   ib_write_bw -s 131072 -D <run length> (RC, RoCE v2, same device and address), run just before and just
#              after our iSER target's 128 KiB run in every round (the link's rate moves between runs)
#   floor:     after the second ceiling run, `Iser.VerbsBench serve-bw --client-waits 1 --buffers 8` for about a run's
#              length: the verbs of an iSER read and nothing else (request SEND -> 128 KiB WRITE + response SEND,
#              8 in flight), its client sleeping on its completion channel as libiscsi's does (it arms the CQ once
#              the CQ is empty; libiscsi's order, re-arming as soon as an event comes, is `--client-waits 2` and
#              measured the same). What any target gets on this link with this initiator before any iSCSI work.
# Targets take turns inside each round; the table gives medians over the rounds.
# Bars (issue 5): ours iSER >= tgtd iSER IOPS at 4 KiB / 32; ours iSER 128 KiB reads >= 90 % of ib_write_bw.
#
#   bench/lab/run-iser-bench.sh          builds the CLI (Release) on the host, boots the guest, prints the table
#                                        and records it in bench/results/iser-bench-<date>.md
#   LAB_RECORD=0 bench/lab/run-iser-bench.sh    prints only
# Environment: ISER_BENCH_SECONDS (10 per run), ISER_BENCH_ROUNDS (3), ISER_BENCH_SIZE_MIB (128),
#   ISER_BENCH_WARMUP (10 s per workload and target, discarded);
#   ISER_BENCH_ONLY, an extended regex on the target labels (e.g. 'ours iSER|tgtd iSER'), to run a subset.
set -uo pipefail
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
# The CLI is published ReadyToRun: under TCG a cold JIT makes the first login take over a second, and libiscsi
# 1.19's synchronous calls over iSER give up when one poll of its completion channel waits a second (LAB.md).
cli_dir=$repo/bench/.out/iser-cli-r2r
cli_dll=$cli_dir/iser.dll
verbs_dll=$repo/bench/Iser.VerbsBench/bin/Release/net10.0/Iser.VerbsBench.dll

if [ "${LAB_GUEST:-0}" != 1 ]; then
  cd "$repo"
  dotnet publish src/Cli -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -o "$cli_dir" -v q -nologo </dev/null >/dev/null \
    || { echo "run-iser-bench: publishing the CLI failed" >&2; exit 1; }
  dotnet build bench/Iser.VerbsBench -c Release -v q -nologo </dev/null >/dev/null \
    || { echo "run-iser-bench: building bench/Iser.VerbsBench failed" >&2; exit 1; }
  . "$script_dir/lib-host.sh"
  lab_bench_host_run iser-bench "iSER and TCP, ours and tgtd, with iscsi-perf" "$script_dir/run-iser-bench.sh" \
    "Peers: tgt $(dpkg-query -W -f='${Version}' tgt 2>/dev/null), libiscsi-bin $(dpkg-query -W -f='${Version}' libiscsi-bin 2>/dev/null), perftest $(dpkg-query -W -f='${Version}' perftest 2>/dev/null)."
  exit $?
fi

# --- inside the guest ---------------------------------------------------------------------
. "$repo/native/lab/guest-lib.sh"
PATH="$PATH:/usr/sbin:/sbin"
dev=${LAB_RDMA_DEVICE:-rxe0}
addr=${LAB_RDMA_ADDR:-169.254.10.1}
seconds=${ISER_BENCH_SECONDS:-10}
rounds=${ISER_BENCH_ROUNDS:-3}
size_mib=${ISER_BENCH_SIZE_MIB:-128}
initiator=iqn.2026-11.org.example:iser-bench
ours_iqn=iqn.2026-11.org.example:bench-ours
tgtd_iqn=iqn.2026-11.org.example:bench-tgtd
ours_port=3262 tgtd_tcp_port=3261   # tgtd's iSER portal is fixed at 3260 (LAB.md)
gid=$(lab_gid_index "$dev" "$addr") || { echo "no RoCE v2 GID for $addr on $dev" >&2; exit 1; }
logdir=$(mktemp -d)
status=0
ours_pid="" tgtd_pid="" control=$(( 2000 + RANDOM % 20000 ))

cleanup() {
  [ -n "$ours_pid" ] && lab_stop "$ours_pid"
  if [ -n "$tgtd_pid" ]; then
    tgtadm -C "$control" --lld iser --op delete --force --mode target --tid 1 >/dev/null 2>&1
    tgtadm -C "$control" --lld iscsi --op delete --force --mode target --tid 2 >/dev/null 2>&1
    tgtadm -C "$control" --op delete --mode system >/dev/null 2>&1
    sleep 1; lab_stop "$tgtd_pid"
  fi
  rm -f /dev/shm/iser-bench.img
}
trap cleanup EXIT

# Our target: one portal, TCP and iSER on the same port number (separate port spaces).
dotnet "$cli_dll" target --portal "$addr:$ours_port" --iqn "$ours_iqn" --lun "ram:${size_mib}M" --iser > "$logdir/ours.log" 2>&1 &
ours_pid=$!
for ((i = 0; i < 600; i++)); do grep -qx ready "$logdir/ours.log" && break; kill -0 "$ours_pid" 2>/dev/null || break; sleep 0.1; done
grep -qx ready "$logdir/ours.log" || { echo "our target did not start:" >&2; cat "$logdir/ours.log" >&2; exit 1; }
grep -Eq " iser(,|$)" "$logdir/ours.log" || { echo "our target has no iSER portal:" >&2; cat "$logdir/ours.log" >&2; exit 1; }

# tgtd: an iSER target (tid 1) and a TCP target (tid 2) over one allocated file in RAM.
dd if=/dev/zero of=/dev/shm/iser-bench.img bs=1M count="$size_mib" status=none
tgtd -f -C "$control" --iser pool_sz_mb=128 --iscsi "portal=$addr:$tgtd_tcp_port" > "$logdir/tgtd.log" 2>&1 &
tgtd_pid=$!
adm() { lab_retry 20 tgtadm -C "$control" "$@" >> "$logdir/tgtd.log" 2>&1; }
adm --lld iser --op new --mode target --tid 1 -T "$tgtd_iqn-iser" &&
adm --lld iser --op new --mode logicalunit --tid 1 --lun 1 -b /dev/shm/iser-bench.img &&
adm --lld iser --op bind --mode target --tid 1 -I ALL &&
adm --lld iser --op bind --mode target --tid 1 --initiator-name "$initiator" &&
adm --lld iscsi --op new --mode target --tid 2 -T "$tgtd_iqn-tcp" &&
adm --lld iscsi --op new --mode logicalunit --tid 2 --lun 1 -b /dev/shm/iser-bench.img &&
adm --lld iscsi --op bind --mode target --tid 2 -I ALL ||
  { echo "tgtd set-up failed:" >&2; cat "$logdir/tgtd.log" >&2; exit 1; }

# label|url
targets=(
  "ours iSER|iser://$addr:$ours_port/$ours_iqn/0"
  "ours iSER, our initiator|iser://$addr:$ours_port/$ours_iqn/0"
  "ours TCP|iscsi://$addr:$ours_port/$ours_iqn/0"
  "tgtd iSER|iser://$addr:3260/$tgtd_iqn-iser/1"
  "tgtd TCP|iscsi://$addr:$tgtd_tcp_port/$tgtd_iqn-tcp/1"
)
if [ -n "${ISER_BENCH_ONLY:-}" ]; then
  kept=(); for t in "${targets[@]}"; do [[ "${t%%|*}" =~ ^(${ISER_BENCH_ONLY})$ ]] && kept+=("$t"); done; targets=("${kept[@]}")
fi
# label|blocks of 512 B|in flight|random?
workloads=(
  "4 KiB random read, 32 in flight|8|32|-r"
  "4 KiB random read, 1 in flight|8|1|-r"
  "128 KiB sequential read, 8 in flight|256|8|"
)

# iscsi-perf prints "iops average N ..."; `iser perf --json` prints "iops": N.
iops_of() { tr '\r' '\n' < "$1" | sed -n -e 's/^ *iops average \([0-9]*\) .*/\1/p' -e 's/^ *"iops": *\([0-9]*\).*/\1/p' | tail -1; }
# run_workload LABEL URL BLOCKS DEPTH [-r]: iscsi-perf, or our own initiator (`iser perf`) for "ours↔ours" rows.
run_workload() {
  local label=$1 url=$2 blocks=$3 depth=$4 random=$5
  if [[ "$label" == *"our initiator"* ]]; then
    timeout $((seconds + ${ramp:-0} + 90)) dotnet "$cli_dll" perf "$url" --transport iser --initiator-name "$initiator" \
      --mode "$([ -n "$random" ] && echo randread || echo read)" -b $((blocks * 512)) -q "$depth" -t "${seconds}s" --json \
      $([ "${ramp:-0}" -gt 0 ] && echo "--ramp ${ramp}s")  # iser perf takes no zero duration: no ramp, no option
  else
    # shellcheck disable=SC2086
    timeout $((seconds + 90)) iscsi-perf -i "$initiator" -t "$seconds" -m "$depth" -b "$blocks" $random "$url"
  fi
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
key() { echo "$1" | tr -c 'a-zA-Z0-9\n' '_'; }

# Warm-up, discarded: one login, then ISER_BENCH_WARMUP seconds of each workload per target. Under TCG the .NET
# runtime needs tens of seconds to re-compile hot methods (tiered compilation); the rounds measure the steady state
# a long-running target is in, and tgtd gets the same warm-up.
warmup=${ISER_BENCH_WARMUP:-10}
for t in "${targets[@]}"; do
  IFS='|' read -r tlabel url <<<"$t"
  w="$logdir/warmup.$(key "$tlabel")"
  lab_retry 3 timeout 60 iscsi-inq -i "$initiator" "$url" > "$w" 2>&1 || echo "warm-up login to $tlabel failed: $(tail -2 "$w")" >&2
  if [ "$warmup" -gt 0 ]; then
    # (our initiator is a new process per run: it ramps up inside each run instead, see run_workload)
    [[ "$tlabel" == *"our initiator"* ]] || seconds=$warmup run_workload "$tlabel" "$url" 8 32 -r >> "$w" 2>&1
    [[ "$tlabel" == *"our initiator"* ]] || seconds=$warmup run_workload "$tlabel" "$url" 256 8 "" >> "$w" 2>&1
  fi
done

declare -A figures
bw_figures=() pair_ratios=() floor_figures=() floor_ratios=()
port=18900
# ceiling: one ib_write_bw run of the same length as a workload run (-D: its steady state, as iscsi-perf's after the
# warm-up), 128 KiB messages, 128 outstanding. Prints MB/s (perftest's MB is 2^20 bytes) or nothing. Runs in a
# command substitution: the caller moves `port` on (three per call) before it.
ceiling() {
  local try bw p
  for try in 1 2 3; do
    p=$((port + try))
    if lab_perftest_pair "$logdir/write_bw.$p" "$p" ib_write_bw -d "$dev" -x "$gid" -s 131072 -D "$seconds" -t 128; then
      bw=$(awk '/BW average/ { getline; if ($4 != "inf") print $4; exit }' "$logdir/write_bw.$p.client")
      [ -n "$bw" ] && { echo "$bw"; return 0; }
    fi
  done
  return 1
}
# floor: the verbs-only request/response exchange (see the header) for about `seconds`; prints MB/s (2^20) or nothing.
floor() {
  local per_second=${1%.*}
  timeout $((seconds * 4 + 60)) dotnet "$verbs_dll" serve-bw --size 131072 --depth 8 --buffers 8 --client-waits 1 \
    --iterations $(( (per_second > 0 ? per_second : 40) * 8 * seconds )) 2>&1 | sed -n 's/.*average \([0-9.]*\) MB\/s.*/\1/p'
}
w128="128 KiB sequential read, 8 in flight"
mbs() { [ -n "$1" ] && awk -v i="$1" -v b="$2" 'BEGIN { printf "%.1f", i * b * 512 / 1048576 }' || echo "-"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
paired=0; for t in "${targets[@]}"; do [ "${t%%|*}" = "ours iSER" ] && paired=1; done
for ((r = 1; r <= rounds; r++)); do
  for t in "${targets[@]}"; do
    IFS='|' read -r tlabel url <<<"$t"
    for w in "${workloads[@]}"; do
      IFS='|' read -r wlabel blocks depth random <<<"$w"
      # The link's rate moves between runs (TCG on a shared host): our 128 KiB run is bracketed by a ceiling run
      # before and after it, and its ratio is taken against their mean.
      pre="" post="" bracketed=0
      [ "$tlabel|$wlabel" = "ours iSER|$w128" ] && bracketed=1
      if [ "$bracketed" = 1 ]; then
        port=$((port + 3)); pre=$(ceiling) && bw_figures+=("$pre") || echo "round $r: ib_write_bw before ours gave no figure" >&2
      fi
      log="$logdir/$(key "$tlabel.$wlabel").$r"
      ramp=$warmup run_workload "$tlabel" "$url" "$blocks" "$depth" "$random" > "$log" 2>&1
      iops=$(iops_of "$log")
      if [ "$bracketed" = 1 ]; then
        port=$((port + 3)); post=$(ceiling) && bw_figures+=("$post") || echo "round $r: ib_write_bw after ours gave no figure" >&2
      fi
      if [ -z "$iops" ]; then echo "round $r: $tlabel, $wlabel: no figure: $(tr '\r' '\n' < "$log" | grep -v '^ *$' | tail -3)" >&2; status=1; continue; fi
      figures["$tlabel|$wlabel"]+="$iops "
      echo "round $r: $tlabel, $wlabel: $iops IOPS" >&2
      if [ -n "$pre" ] && [ -n "$post" ]; then
        mean=$(awk -v a="$pre" -v b="$post" 'BEGIN { print (a + b) / 2 }')
        pr=$(ratio "$(mbs "$iops" "$blocks")" "$mean")
        pair_ratios+=("$pr")
        echo "round $r: ib_write_bw 128 KiB before/after: $pre / $post MB/s; ours iSER 128 KiB / their mean = $pr" >&2
        # Sized from the ceiling so the floor runs about as long as the others (8 messages of 128 KiB per MB).
        fl=$(floor "$mean")
        if [ -n "$fl" ]; then
          floor_figures+=("$fl"); floor_ratios+=("$(ratio "$fl" "$mean")")
          echo "round $r: verbs-only floor (sleeping client) $fl MB/s = $(ratio "$fl" "$mean") of the ceiling" >&2
        else
          echo "round $r: the verbs-only floor gave no figure" >&2
        fi
      fi
    done
  done
  if [ "$paired" = 0 ]; then
    port=$((port + 3)); bw=$(ceiling) && { bw_figures+=("$bw"); echo "round $r: ib_write_bw 128 KiB: $bw MB/s" >&2; }
  fi
done

cell() { echo "${figures["$1|$2"]:-}" | median; }

echo "| workload (median of $rounds rounds, ${seconds} s each; initiator libiscsi iscsi-perf unless named) | ours iSER | ours iSER, our initiator | ours TCP | tgtd iSER | tgtd TCP | ours/tgtd iSER | ours iSER/TCP |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for w in "${workloads[@]}"; do
  IFS='|' read -r wlabel blocks _ _ <<<"$w"
  oi=$(cell "ours iSER" "$wlabel"); oo=$(cell "ours iSER, our initiator" "$wlabel"); ot=$(cell "ours TCP" "$wlabel")
  ti=$(cell "tgtd iSER" "$wlabel"); tt=$(cell "tgtd TCP" "$wlabel")
  fmt() { [ -n "$1" ] && echo "$1 IOPS ($(mbs "$1" "$blocks") MiB/s)" || echo "-"; }
  echo "| $wlabel | $(fmt "$oi") | $(fmt "$oo") | $(fmt "$ot") | $(fmt "$ti") | $(fmt "$tt") | $(ratio "$oi" "$ti") | $(ratio "$oi" "$ot") |"
done
bw=$(echo "${bw_figures[*]}" | median)
pair=$(echo "${pair_ratios[*]}" | median)
oi128=$(cell "ours iSER" "$w128"); oo128=$(cell "ours iSER, our initiator" "$w128"); ti128=$(cell "tgtd iSER" "$w128")
echo
echo "| link ceiling | MiB/s | ours iSER 128 KiB reads (iscsi-perf) / ceiling | ours iSER 128 KiB reads (our initiator) / ceiling | tgtd iSER 128 KiB reads (iscsi-perf) / ceiling |"
echo "|---|---:|---:|---:|---:|"
echo "| ib_write_bw -s 131072 -t 128 -D ${seconds} (median of ${#bw_figures[@]}) | ${bw:-?} | $(ratio "$(mbs "$oi128" 256)" "$bw") | $(ratio "$(mbs "$oo128" 256)" "$bw") | $(ratio "$(mbs "$ti128" 256)" "$bw") |"
echo "| paired: each round's ours iSER 128 KiB run / the mean of the ib_write_bw runs just before and after it (median of ${#pair_ratios[@]} rounds) | | ${pair:-n/a} | | |"
floor_pair=$(echo "${floor_ratios[*]}" | median)
echo "| floor: verbs-only request/response, client sleeping on its completion channel (serve-bw; median of ${#floor_figures[@]}), / the same mean per round | $(echo "${floor_figures[*]}" | median) | ${floor_pair:-n/a} | | |"
echo
oi4=$(cell "ours iSER" "4 KiB random read, 32 in flight"); ti4=$(cell "tgtd iSER" "4 KiB random read, 32 in flight")
echo "Bars: ours iSER / tgtd iSER at 4 KiB, 32 in flight (both with iscsi-perf) = $(ratio "$oi4" "$ti4") (bar >= 1.00);" \
     "ours iSER 128 KiB reads / ib_write_bw = $(ratio "$(mbs "$oi128" 256)" "$bw") with iscsi-perf (paired per round: ${pair:-n/a}), $(ratio "$(mbs "$oo128" 256)" "$bw") with our initiator (bar >= 0.90);" \
     "the verbs-only floor with a sleeping client reaches ${floor_pair:-n/a} of it."
echo
echo "Per round (IOPS):"
for t in "${targets[@]}"; do
  IFS='|' read -r tlabel _ <<<"$t"
  for w in "${workloads[@]}"; do
    IFS='|' read -r wlabel _ _ _ <<<"$w"
    echo "- $tlabel, $wlabel: ${figures["$tlabel|$wlabel"]:-none}"
  done
done
echo "- ib_write_bw 128 KiB MB/s (in order; with ours iSER: before, after per round): ${bw_figures[*]:-none}"
echo "- paired ratios (ours iSER 128 KiB / mean of the ib_write_bw runs around it): ${pair_ratios[*]:-none}"
echo "- verbs-only floor MB/s per round: ${floor_figures[*]:-none}; / the same round's ceiling mean: ${floor_ratios[*]:-none}"
exit $status
