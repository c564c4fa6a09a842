#!/usr/bin/env bash
# Multiple connections per session (MC/S) on the fast path: our `iser perf` against our own target over TCP on
# 127.0.0.1 with 1, 2 and 4 connections in the session, in one run, rounds alternating, medians. With --baseline DLL
# an older build's client against that build's own target runs in the same rotation ("base"), which shows what the
# session-wide CmdSN ordering and the shared window cost a one-connection session (the bar: conn1 >= 0.95x base).
#
#   bench/peers/run-mcs-bench.sh [--seconds N] [--size-mib N] [--rounds N] [--only TEXT] [--baseline DLL] [--out FILE]
#   (--baseline: iser.dll of another build, e.g. from `git worktree add /tmp/base REV && dotnet build -c Release`)
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-loopback.sh"

SECONDS_PER_RUN=5
SIZE_MIB=256
ROUNDS=3
OUT=""
ONLY=""
BASELINE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
        --size-mib) SIZE_MIB=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --baseline) BASELINE=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "Unknown argument $1 (see --help)." >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
CONFIGURATION=${CONFIGURATION:-Release}
ISER_DLL=${ISER_CLI_DLL:-src/Cli/bin/$CONFIGURATION/net10.0/iser.dll}
CLIENT_RUN=bench/lib/client-run.py
IQN=iqn.2026-12.org.example:mcs-bench
WORK=$(mktemp -d)
PIDS=()

# name | transfer bytes | in flight | iser perf mode
WORKLOADS=(
    "4 KiB random read, 32 in flight|4096|32|randread"
    "4 KiB random write, 32 in flight|4096|32|randwrite"
    "128 KiB sequential read, 8 in flight|131072|8|read"
)
if [ -n "$ONLY" ]; then
    kept=()
    for w in "${WORKLOADS[@]}"; do [[ "${w%%|*}" == *"$ONLY"* ]] && kept+=("$w"); done
    [ ${#kept[@]} -gt 0 ] || { echo "No workload's name contains '$ONLY'." >&2; exit 2; }
    WORKLOADS=("${kept[@]}")
fi
CLIENTS=("conn1" "conn2" "conn4")
[ -n "$BASELINE" ] && CLIENTS=("base" "${CLIENTS[@]}")

command -v python3 >/dev/null || { echo "python3 is missing (apt-get install python3)." >&2; exit 1; }
[ -f "$ISER_DLL" ] || { echo "$ISER_DLL not found: build it with 'dotnet build Iser.sln -c $CONFIGURATION'." >&2; exit 1; }
[ -z "$BASELINE" ] || [ -f "$BASELINE" ] || { echo "The baseline build $BASELINE does not exist." >&2; exit 1; }

cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

start_target() { # dll port log [extra args]
    local dll=$1 port=$2 log=$3; shift 3
    dotnet "$dll" target --portal "127.0.0.1:$port" --iqn "$IQN" --lun "ram:${SIZE_MIB}M" "$@" >"$log" 2>&1 &
    PIDS+=($!)
    local pid=$! deadline=$(( $(date +%s) + 60 ))
    until grep -qx 'ready' "$log"; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
            echo "The target ($dll) did not print 'ready'. Its output:" >&2; sed 's/^/    /' "$log" >&2; exit 1
        fi
        sleep 0.1
    done
}

PORT=$(free_port)
start_target "$ISER_DLL" "$PORT" "$WORK/target.log" --max-connections 4
if [ -n "$BASELINE" ]; then
    BASE_PORT=$(free_port)
    start_target "$BASELINE" "$BASE_PORT" "$WORK/base-target.log"
fi

run_client() { # client bytes depth mode
    local client=$1 bytes=$2 depth=$3 mode=$4
    local dll=$ISER_DLL port=$PORT extra=()
    if [ "$client" = base ]; then dll=$BASELINE; port=$BASE_PORT; else extra=(--max-connections "${client#conn}"); fi
    python3 "$CLIENT_RUN" ours "$SECONDS_PER_RUN" -- dotnet "$dll" perf "iscsi://127.0.0.1:$port/$IQN/0" --mode "$mode" \
        --block-size "$bytes" --queue-depth "$depth" --duration "${SECONDS_PER_RUN}s" --ramp 1s "${extra[@]}" \
        --json --quiet 2>"$WORK/client.err" || true
}
key() { echo "$1" | tr -c 'a-zA-Z0-9\n' '_'; }

echo "MC/S bench: ${SECONDS_PER_RUN} s per run, ${ROUNDS} round(s), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
i=0 n=${#CLIENTS[@]}
for workload in "${WORKLOADS[@]}"; do
    IFS='|' read -r name bytes depth mode <<<"$workload"
    for round in $(seq "$ROUNDS"); do
        for k in $(seq 0 $(( n - 1 ))); do
            client=${CLIENTS[$(( (k + round + i) % n ))]}
            result=$(run_client "$client" "$bytes" "$depth" "$mode")
            if [ -n "$result" ]; then
                echo "$result" >> "$WORK/ours.$i.$(key "$client")"
                echo "  $name, round $round: $client $result (IOPS p50 p99 CPU-µs/cmd)" >&2
            else
                echo "  $name, round $round: $client failed:" >&2; sed 's/^/    /' "$WORK/client.err" >&2
            fi
        done
    done
    i=$(( i + 1 ))
done

labels=()
for workload in "${WORKLOADS[@]}"; do labels+=("${workload%%|*}"); done
reference=conn1
[ -n "$BASELINE" ] && reference=base
table=$(python3 bench/lib/client-table.py "$WORK" ours --workloads "${labels[@]}" --clients "${CLIENTS[@]}" --reference "$reference")
echo "$table"
if [ -n "$OUT" ]; then
    {
        echo "# MC/S: \`iser perf\` with 1, 2 and 4 connections per session against our target over TCP on 127.0.0.1"
        echo
        echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). ${SECONDS_PER_RUN} s per run after a 1 s ramp, ${ROUNDS} rounds per workload, clients in rotating order; medians."
        echo "Target: ours, ram:${SIZE_MIB}M, --max-connections 4; connN = our client with --max-connections N (the session opens N connections)."
        [ -n "$BASELINE" ] && echo "base = the build at $BASELINE, client and its own target (same options otherwise), in the same rotation."
        echo "Machine: $(nproc) CPUs shared with other work, load average at start $(cut -d' ' -f1-3 /proc/loadavg). CPU µs/cmd = the client process's user + system time / its commands."
        echo "Command: \`bench/peers/run-mcs-bench.sh --seconds $SECONDS_PER_RUN --size-mib $SIZE_MIB --rounds $ROUNDS${ONLY:+ --only \"$ONLY\"}${BASELINE:+ --baseline BASE}\` ($CONFIGURATION build)"
        echo
        echo "$table"
    } > "$OUT"
    echo "Wrote $OUT" >&2
fi
