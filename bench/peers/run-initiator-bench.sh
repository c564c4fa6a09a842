#!/usr/bin/env bash
# Our initiator (`iser perf`, in each completion mode) against libiscsi's `iscsi-perf`, all clients of the SAME
# target in one run, over TCP on 127.0.0.1; the targets are tgtd (LUN: an allocated file in /dev/shm) and ours
# (`--lun ram:SIZE`), started here and stopped afterwards.
#
#   bench/peers/run-initiator-bench.sh [--seconds N] [--size-mib N] [--rounds N] [--targets "tgtd ours"]
#                                      [--modes "threadpool inline poll inline+poll"] [--out FILE]
#
# A mode may name the TCP receive path after a slash: "threadpool/pool" runs `--completions threadpool --tcp-receive
# pool` (the runtime's async sockets); without one, the default (a receive thread per connection on Linux).
#
# Workloads: 4 KiB random read at 1 and 32 in flight, 4 KiB random write at 1, 128 KiB sequential read at 8. Per
# round the clients take turns in an order that rotates by one each round; the tables show medians over rounds of
# IOPS, p50/p99 latency (ours only: iscsi-perf prints none) and CPU time per command of the client process (user +
# system time of that process over the commands it completed, bench/lib/client-run.py). iscsi-perf only reads, so
# the write workload has no libiscsi row. `poll` keeps a core busy for the whole run: its CPU per command is that
# core's time too. Our CLI: $ISER_CLI_DLL or src/Cli/bin/$CONFIGURATION/net10.0/iser.dll (Release by default).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-loopback.sh"

SECONDS_PER_RUN=5
SIZE_MIB=256
ROUNDS=3
TARGETS="tgtd ours"
MODES="threadpool inline poll inline+poll"
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
        --size-mib) SIZE_MIB=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --targets) TARGETS=$2; shift 2 ;;
        --modes) MODES=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "Unknown argument $1 (see --help)." >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
PATH="$PATH:/usr/sbin:/sbin"
CONFIGURATION=${CONFIGURATION:-Release}
ISER_DLL=${ISER_CLI_DLL:-src/Cli/bin/$CONFIGURATION/net10.0/iser.dll}
CLIENT_RUN=bench/lib/client-run.py
INITIATOR=iqn.2026-11.org.example:initiator-bench
TGTD_IQN=iqn.2026-11.org.example:initiator-bench-tgtd
OURS_IQN=iqn.2026-11.org.example:initiator-bench-ours
WORK=$(mktemp -d)
LUN_FILE="/dev/shm/initiator-bench-$$.img"
TGTD_PID="" TGTD_CONTROL="" OURS_PID=""

# name | transfer bytes | in flight | iser perf mode (iscsi-perf: random or not; it cannot write)
WORKLOADS=(
    "4 KiB random read, 1 in flight|4096|1|randread"
    "4 KiB random read, 32 in flight|4096|32|randread"
    "4 KiB random write, 1 in flight|4096|1|randwrite"
    "128 KiB sequential read, 8 in flight|131072|8|read"
)

for tool in iscsi-perf iscsi-readcapacity16 tgtd tgtadm python3; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install libiscsi-bin tgt python3)." >&2; exit 1; }
done
[ -f "$ISER_DLL" ] || { echo "$ISER_DLL not found: build it with 'dotnet build Iser.sln -c $CONFIGURATION'." >&2; exit 1; }

stop_ours() {
    [ -n "$OURS_PID" ] || return 0
    kill -TERM "$OURS_PID" 2>/dev/null || true
    wait "$OURS_PID" 2>/dev/null || true
    OURS_PID=""
}
cleanup() {
    stop_tgtd "$TGTD_PID" "$TGTD_CONTROL"
    stop_ours
    rm -rf "$WORK" "$LUN_FILE"
}
trap cleanup EXIT

start_tgtd() { # port
    local port=$1
    dd if=/dev/zero of="$LUN_FILE" bs=1M count="$SIZE_MIB" status=none  # allocated, not sparse: reads touch RAM
    TGTD_CONTROL=$(( 1000 + RANDOM % 29000 ))
    tgtd -f -C "$TGTD_CONTROL" --iscsi "portal=127.0.0.1:$port" >"$WORK/tgtd.log" 2>&1 &
    TGTD_PID=$!
    wait_listening "$port" "$TGTD_PID" 20 || { echo "tgtd did not start:" >&2; cat "$WORK/tgtd.log" >&2; return 1; }
    local adm=(tgtadm -C "$TGTD_CONTROL" --lld iscsi)
    "${adm[@]}" --op new --mode target --tid 1 -T "$TGTD_IQN"
    "${adm[@]}" --op new --mode logicalunit --tid 1 --lun 1 -b "$LUN_FILE"
    "${adm[@]}" --op bind --mode target --tid 1 -I ALL
}

start_ours() { # port
    dotnet "$ISER_DLL" target --portal "127.0.0.1:$1" --iqn "$OURS_IQN" --lun "ram:${SIZE_MIB}M" >"$WORK/ours-target.log" 2>&1 &
    OURS_PID=$!
    local deadline=$(( $(date +%s) + 60 ))
    until grep -qx 'ready' "$WORK/ours-target.log"; do
        if ! kill -0 "$OURS_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
            echo "Our target did not print 'ready'. Its output:" >&2; sed 's/^/    /' "$WORK/ours-target.log" >&2; return 1
        fi
        sleep 0.1
    done
}

# Prints "IOPS P50 P99 CPU_US_PER_COMMAND" of one client run, or nothing (the reason goes to $WORK/client.err).
run_client() { # client url bytes depth mode blocksize
    local client=$1 url=$2 bytes=$3 depth=$4 mode=$5 bs=$6
    if [[ $client == floor* ]]; then
        [ "$mode" = randwrite ] && return 0
        local hostport=${url#iscsi://}; hostport=${hostport%%/*}
        local rest=${url#iscsi://*/} seq=(random)
        [ "$mode" = read ] && seq=(sequential)
        [ "$client" = floor-relay ] && seq+=(relay)
        python3 "$CLIENT_RUN" ours "$SECONDS_PER_RUN" -- "$WORK/null-initiator" "${hostport%:*}" "${hostport##*:}" \
            "${rest%/*}" "${rest##*/}" "$SECONDS_PER_RUN" "$depth" $(( bytes / bs )) "$INITIATOR" "${seq[@]}" 2>"$WORK/client.err" || true
    elif [ "$client" = libiscsi ]; then
        [ "$mode" = randwrite ] && return 0
        local args=(-i "$INITIATOR" -t "$SECONDS_PER_RUN" -m "$depth" -b $(( bytes / bs )))
        [ "$mode" = randread ] && args+=(-r)
        python3 "$CLIENT_RUN" libiscsi "$SECONDS_PER_RUN" -- iscsi-perf "${args[@]}" "$url" 2>"$WORK/client.err" || true
    else
        local completions=${client#ours:} receive=()
        if [[ $completions == */* ]]; then receive=(--tcp-receive "${completions#*/}"); completions=${completions%%/*}; fi
        python3 "$CLIENT_RUN" ours "$SECONDS_PER_RUN" -- dotnet "$ISER_DLL" perf "$url" --initiator-name "$INITIATOR" \
            --mode "$mode" --block-size "$bytes" --queue-depth "$depth" --duration "${SECONDS_PER_RUN}s" --ramp 1s \
            --completions "$completions" "${receive[@]}" --json --quiet 2>"$WORK/client.err" || true
    fi
}

# The run files' names (bench/lib/client-table.py reads them): every character other than a letter or digit as "_".
key() { echo "$1" | tr -c 'a-zA-Z0-9\n' '_'; }

# The floor: the least any initiator can do per command against the same target (bench/peers/null-initiator.c: one
# thread, blocking sockets, no library). Where it is not above libiscsi by a ratio, no client can be.
CLIENTS=(libiscsi)
# floor-relay: the same with the reads relayed between two threads, so the code that sends the next command never runs
# on the thread that reads: the floor of our default completion mode's guarantee (one hand-off per response).
if gcc -O2 -pthread -o "$WORK/null-initiator" bench/peers/null-initiator.c 2>"$WORK/gcc-null.err"; then CLIENTS+=(floor floor-relay)
else echo "Compiling bench/peers/null-initiator.c failed; the floor client is left out:" >&2; cat "$WORK/gcc-null.err" >&2; fi
for m in $MODES; do CLIENTS+=("ours:$m"); done
echo "Initiator bench: ${SECONDS_PER_RUN} s per run, ${ROUNDS} round(s), ${SIZE_MIB} MiB LUN, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

bench_target() { # target
    local target=$1 port url bs
    port=$(free_port)
    if [ "$target" = tgtd ]; then start_tgtd "$port"; url="iscsi://127.0.0.1:$port/$TGTD_IQN/1"
    else start_ours "$port"; url="iscsi://127.0.0.1:$port/$OURS_IQN/0"; fi
    bs=$(iscsi-readcapacity16 -i "$INITIATOR" "$url" | sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES://p')
    [ -n "$bs" ] || { echo "Could not read the block size of $url." >&2; return 1; }
    local i=0 n=${#CLIENTS[@]}
    for workload in "${WORKLOADS[@]}"; do
        IFS='|' read -r name bytes depth mode <<<"$workload"
        for round in $(seq "$ROUNDS"); do
            for k in $(seq 0 $(( n - 1 ))); do
                local client=${CLIENTS[$(( (k + round + i) % n ))]} result target_pid
                [[ $client == libiscsi || $client == floor* ]] && [ "$mode" = randwrite ] && continue
                # The relay floor hands off once per response (ours, once per batch): a floor at depth 1 only.
                [ "$client" = floor-relay ] && [ "$depth" != 1 ] && continue
                target_pid=$([ "$target" = tgtd ] && echo "$TGTD_PID" || echo "$OURS_PID")
                python3 bench/lib/thread-cpu.py snapshot "$target_pid" "$WORK/target.cpu"
                result=$(run_client "$client" "$url" "$bytes" "$depth" "$mode" "$bs")
                # How busy the target's busiest thread was over the run (client start and ramp included): near 100 %
                # the target is the limit and no client can go faster.
                [ -n "$result" ] && result="$result $(python3 bench/lib/thread-cpu.py busiest "$target_pid" "$WORK/target.cpu")"
                if [ -n "$result" ]; then
                    echo "$result" >> "$WORK/$target.$i.$(key "$client")"
                    echo "  $target, $name, round $round: $client $result (IOPS p50 p99 CPU-µs/cmd)" >&2
                else
                    echo "  $target, $name, round $round: $client failed:" >&2; sed 's/^/    /' "$WORK/client.err" >&2
                fi
            done
        done
        i=$(( i + 1 ))
    done
    if [ "$target" = tgtd ]; then stop_tgtd "$TGTD_PID" "$TGTD_CONTROL"; TGTD_PID=""; else stop_ours; fi
}

table() { # target
    local labels=()
    for workload in "${WORKLOADS[@]}"; do labels+=("${workload%%|*}"); done
    python3 bench/lib/client-table.py "$WORK" "$1" --workloads "${labels[@]}" --clients "${CLIENTS[@]}"
}

# One thread hand-off through a futex, on this machine: what a default-mode completion pays once per batch to leave
# the thread that read it (bench/lab/wakeup-floor.c), measured between the targets' runs.
HANDOFF=""
if gcc -O2 -pthread -o "$WORK/wakeup-floor" bench/lab/wakeup-floor.c 2>"$WORK/gcc.err"; then
    handoff() { "$WORK/wakeup-floor" 20000 | sed -n 's/.*median_ns=\([0-9]*\).* cpu_ns_per_handoff=\([0-9]*\).*/\1 \2/p'; }
else
    echo "Compiling bench/lab/wakeup-floor.c failed; the hand-off floor is left out:" >&2; cat "$WORK/gcc.err" >&2
    handoff() { :; }
fi
HANDOFFS=()
for target in $TARGETS; do HANDOFFS+=("$(handoff)"); bench_target "$target"; done
HANDOFFS+=("$(handoff)")
HANDOFF=$(printf '%s\n' "${HANDOFFS[@]}" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if len(l.split()) == 2]
if rows:
    print(f"{statistics.median(int(r[0]) for r in rows) / 1000:.1f} µs wall, {statistics.median(int(r[1]) for r in rows) / 1000:.1f} µs CPU (median of {len(rows)})")')
report=$(for target in $TARGETS; do echo; echo "Target: $target"; echo; table "$target"; done
    [ -n "$HANDOFF" ] && { echo; echo "One thread hand-off through a futex on this machine (what a default-mode completion pays once per batch to leave the reading thread): $HANDOFF."; })
echo "$report"
if [ -n "$OUT" ]; then
    {
        echo "# Initiator bench over TCP: \`iser perf\` (ours, per completion mode) and libiscsi \`iscsi-perf\` against the same target on 127.0.0.1"
        echo
        echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). ${SECONDS_PER_RUN} s per run (ours after a 1 s ramp), ${ROUNDS} rounds per workload, clients in rotating order; medians."
        echo "Targets: tgtd $(dpkg-query -W -f='${Version}' tgt 2>/dev/null || echo '?') (LUN 1 = ${SIZE_MIB} MiB allocated file in /dev/shm) and ours (ram:${SIZE_MIB}M). libiscsi-bin $(dpkg-query -W -f='${Version}' libiscsi-bin 2>/dev/null || echo '?')."
        echo "Machine: $(nproc) CPUs shared with other work, load average at start $(cut -d' ' -f1-3 /proc/loadavg). CPU µs/cmd = the client process's user + system time / its commands."
        echo "floor = bench/peers/null-initiator.c, the least an initiator can do per command (one thread, blocking sockets, no library): no client can beat libiscsi by more than floor / libiscsi."
        echo "floor-relay = the same with two threads taking turns to read, the next command sent by the thread that just passed the reads on: the least a client can do that keeps callers' code off the reading thread (our default mode, threadpool)."
        echo "Command: \`bench/peers/run-initiator-bench.sh --seconds $SECONDS_PER_RUN --size-mib $SIZE_MIB --rounds $ROUNDS --targets \"$TARGETS\" --modes \"$MODES\"\` ($CONFIGURATION build)"
        echo "$report"
    } > "$OUT"
    echo "Wrote $OUT" >&2
fi
