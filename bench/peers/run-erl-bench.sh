#!/usr/bin/env bash
# What error recovery costs on the fast path: our `iser perf` at ERL 0, 1 and 2 against our own target (which offers
# 2) over TCP on 127.0.0.1, in one run, rounds alternating, medians; with and without digests. At ERL 1 and 2 the
# target keeps each task's status and read data until acknowledged, asks DataACKs at burst ends, and the initiator
# tracks StatSN gaps: none of it may tax a healthy connection (the bar: ERL 1 and 2 >= 0.95x ERL 0).
#
#   bench/peers/run-erl-bench.sh [--seconds N] [--size-mib N] [--rounds N] [--only TEXT] [--out FILE]
#   (--only: just the workloads whose name contains TEXT, e.g. "write")
#
# The memory ERL 1 holds at the target (kept tasks and read data at 32 in flight) is measured in process by
# `dotnet run -c Release --project bench/Iser.Bench -- retention`, run at the end and appended to the report.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-loopback.sh"

SECONDS_PER_RUN=5
SIZE_MIB=256
ROUNDS=3
OUT=""
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
        --size-mib) SIZE_MIB=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "Unknown argument $1 (see --help)." >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
CONFIGURATION=${CONFIGURATION:-Release}
ISER_DLL=${ISER_CLI_DLL:-src/Cli/bin/$CONFIGURATION/net10.0/iser.dll}
CLIENT_RUN=bench/lib/client-run.py
IQN=iqn.2026-12.org.example:erl-bench
WORK=$(mktemp -d)
TARGET_PID=""

# name | transfer bytes | in flight | iser perf mode
WORKLOADS=(
    "4 KiB random read, 1 in flight|4096|1|randread"
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
# client name: ERL offered and digests
CLIENTS=("erl0" "erl1" "erl2" "erl0+digests" "erl1+digests" "erl2+digests")

command -v python3 >/dev/null || { echo "python3 is missing (apt-get install python3)." >&2; exit 1; }
[ -f "$ISER_DLL" ] || { echo "$ISER_DLL not found: build it with 'dotnet build Iser.sln -c $CONFIGURATION'." >&2; exit 1; }

cleanup() {
    if [ -n "$TARGET_PID" ]; then kill -TERM "$TARGET_PID" 2>/dev/null || true; wait "$TARGET_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(free_port)
dotnet "$ISER_DLL" target --portal "127.0.0.1:$PORT" --iqn "$IQN" --lun "ram:${SIZE_MIB}M" --error-recovery-level 2 >"$WORK/target.log" 2>&1 &
TARGET_PID=$!
deadline=$(( $(date +%s) + 60 ))
until grep -qx 'ready' "$WORK/target.log"; do
    if ! kill -0 "$TARGET_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
        echo "Our target did not print 'ready'. Its output:" >&2; sed 's/^/    /' "$WORK/target.log" >&2; exit 1
    fi
    sleep 0.1
done
URL="iscsi://127.0.0.1:$PORT/$IQN/0"

run_client() { # client bytes depth mode
    local client=$1 bytes=$2 depth=$3 mode=$4 erl digest=none
    erl=${client%%+*}; erl=${erl#erl}
    [[ "$client" == *+digests ]] && digest=crc32c
    python3 "$CLIENT_RUN" ours "$SECONDS_PER_RUN" -- dotnet "$ISER_DLL" perf "$URL" --mode "$mode" --block-size "$bytes" \
        --queue-depth "$depth" --duration "${SECONDS_PER_RUN}s" --ramp 1s --error-recovery-level "$erl" \
        --header-digest "$digest" --data-digest "$digest" --json --quiet 2>"$WORK/client.err" || true
}
key() { echo "$1" | tr -c 'a-zA-Z0-9\n' '_'; }

echo "ERL bench: ${SECONDS_PER_RUN} s per run, ${ROUNDS} round(s), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
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
plain=$(python3 bench/lib/client-table.py "$WORK" ours --workloads "${labels[@]}" --clients erl0 erl1 erl2 --reference erl0)
digested=$(python3 bench/lib/client-table.py "$WORK" ours --workloads "${labels[@]}" --clients erl0+digests erl1+digests erl2+digests --reference erl0+digests)
echo "Measuring what ERL 1 keeps at the target (bench/Iser.Bench retention)..." >&2
retention=$(dotnet run -c "$CONFIGURATION" --project bench/Iser.Bench -- retention --seconds "$SECONDS_PER_RUN" 2>"$WORK/retention.err") \
    || { echo "The retention probe failed:" >&2; sed 's/^/    /' "$WORK/retention.err" >&2; retention="(retention probe failed)"; }
report=$(printf '\nNo digests:\n\n%s\n\nHeader and data digests (CRC32C):\n\n%s\n\nRetention at the target (in process, ERL 1):\n\n%s\n' "$plain" "$digested" "$retention")
echo "$report"
if [ -n "$OUT" ]; then
    {
        echo "# ErrorRecoveryLevel 1 and 2 against 0: \`iser perf\` against our target over TCP on 127.0.0.1"
        echo
        echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). ${SECONDS_PER_RUN} s per run after a 1 s ramp, ${ROUNDS} rounds per workload, clients in rotating order; medians."
        echo "Target: ours, ram:${SIZE_MIB}M, offering ErrorRecoveryLevel 2; each client offers 0, 1 or 2 (the session takes the lower)."
        echo "Machine: $(nproc) CPUs shared with other work, load average at start $(cut -d' ' -f1-3 /proc/loadavg). CPU µs/cmd = the client process's user + system time / its commands."
        echo "Command: \`bench/peers/run-erl-bench.sh --seconds $SECONDS_PER_RUN --size-mib $SIZE_MIB --rounds $ROUNDS${ONLY:+ --only \"$ONLY\"}\` ($CONFIGURATION build)"
        echo "$report"
    } > "$OUT"
    echo "Wrote $OUT" >&2
fi
