#!/usr/bin/env bash
# Our initiator (`iser perf`) against libiscsi's `iscsi-perf`, both as clients of the SAME tgtd in one run: tgtd is
# started here on 127.0.0.1 with a LUN backed by an allocated file in /dev/shm (RAM), and each workload runs ours
# and then libiscsi back to back (the order alternates per round), so both see the same target and the same load.
#
#   bench/peers/run-initiator-bench.sh [--seconds N] [--size-mib N] [--rounds N] [--out FILE]
#
# Workloads: 4 KiB random read at 32 and at 1 in flight, 128 KiB sequential read at 8 in flight. With --rounds N
# each pair runs N times and the table shows the median IOPS of each side. MB/s is decimal (10^6 bytes/s) from
# IOPS x transfer size, the same formula for both. Our CLI comes from $ISER_CLI_DLL or
# src/Cli/bin/$CONFIGURATION/net10.0/iser.dll (CONFIGURATION=Release by default): `dotnet build Iser.sln -c Release`.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-loopback.sh"

SECONDS_PER_RUN=10
SIZE_MIB=256
ROUNDS=1
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
        --size-mib) SIZE_MIB=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "Unknown argument $1 (see --help)." >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
PATH="$PATH:/usr/sbin:/sbin"
CONFIGURATION=${CONFIGURATION:-Release}
ISER_DLL=${ISER_CLI_DLL:-src/Cli/bin/$CONFIGURATION/net10.0/iser.dll}
INITIATOR=iqn.2026-11.org.example:initiator-bench
TARGET_IQN=iqn.2026-11.org.example:initiator-bench-tgtd
WORK=$(mktemp -d)
LUN_FILE="/dev/shm/initiator-bench-$$.img"
TGTD_PID="" TGTD_CONTROL=""

# name | transfer bytes | in flight | random?
WORKLOADS=(
    "4 KiB random read, 32 in flight|4096|32|random"
    "4 KiB random read, 1 in flight|4096|1|random"
    "128 KiB sequential read, 8 in flight|131072|8|sequential"
)

for tool in iscsi-perf iscsi-readcapacity16 tgtd tgtadm python3; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install libiscsi-bin tgt python3)." >&2; exit 1; }
done
[ -f "$ISER_DLL" ] || { echo "$ISER_DLL not found: build it with 'dotnet build Iser.sln -c $CONFIGURATION'." >&2; exit 1; }

cleanup() {
    stop_tgtd "$TGTD_PID" "$TGTD_CONTROL"
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
    "${adm[@]}" --op new --mode target --tid 1 -T "$TARGET_IQN"
    "${adm[@]}" --op new --mode logicalunit --tid 1 --lun 1 -b "$LUN_FILE"
    "${adm[@]}" --op bind --mode target --tid 1 -I ALL
}

# Prints the IOPS of one libiscsi run, or nothing.
run_theirs() { # url bytes depth mode blocksize
    local args=(-i "$INITIATOR" -t "$SECONDS_PER_RUN" -m "$3" -b $(( $2 / $5 )))
    [ "$4" = random ] && args+=(-r)
    timeout $(( SECONDS_PER_RUN + 60 )) iscsi-perf "${args[@]}" "$1" 2>"$WORK/theirs.err" \
        | tr '\r' '\n' | sed -n 's/^ *iops average \([0-9]*\) .*/\1/p' | tail -1 || true
}

# Prints "IOPS P99_MICROSECONDS" of one run of ours, or nothing.
run_ours() { # url bytes depth mode
    local mode=read
    [ "$4" = random ] && mode=randread
    timeout $(( SECONDS_PER_RUN + 60 )) dotnet "$ISER_DLL" perf "$1" --initiator-name "$INITIATOR" --mode "$mode" \
        --block-size "$2" --queue-depth "$3" --duration "${SECONDS_PER_RUN}s" --json --quiet 2>"$WORK/ours.err" \
        | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["iops"]), r["latencyMicroseconds"]["p99"], r["allocatedBytesPerCommand"])' \
        2>>"$WORK/ours.err" || true
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "Initiator bench: ${SECONDS_PER_RUN} s per run, ${ROUNDS} round(s), ${SIZE_MIB} MiB LUN, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
port=$(free_port)
start_tgtd "$port"
URL="iscsi://127.0.0.1:$port/$TARGET_IQN/1"
BS=$(iscsi-readcapacity16 -i "$INITIATOR" "$URL" | sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES://p')
[ -n "$BS" ] || { echo "Could not read the block size of $URL." >&2; exit 1; }

i=0
for workload in "${WORKLOADS[@]}"; do
    IFS='|' read -r name bytes depth mode <<<"$workload"
    : > "$WORK/ours.$i"; : > "$WORK/theirs.$i"; : > "$WORK/extra.$i"
    for round in $(seq "$ROUNDS"); do
        # Alternate who goes first, so neither side always runs on the warmer target.
        for side in $( [ $(( (round + i) % 2 )) -eq 1 ] && echo "ours theirs" || echo "theirs ours" ); do
            if [ "$side" = ours ]; then
                result=$(run_ours "$URL" "$bytes" "$depth" "$mode")
                if [ -n "$result" ]; then
                    echo "${result%% *}" >> "$WORK/ours.$i"; echo "${result#* }" >> "$WORK/extra.$i"
                    echo "  $name, round $round: ours ${result%% *} IOPS (p99 $(echo "$result" | cut -d' ' -f2) µs, $(echo "$result" | cut -d' ' -f3) B allocated/command)" >&2
                else
                    echo "  $name, round $round: ours failed:" >&2; sed 's/^/    /' "$WORK/ours.err" >&2
                fi
            else
                iops=$(run_theirs "$URL" "$bytes" "$depth" "$mode" "$BS")
                if [ -n "$iops" ]; then
                    echo "$iops" >> "$WORK/theirs.$i"; echo "  $name, round $round: libiscsi $iops IOPS" >&2
                else
                    echo "  $name, round $round: libiscsi failed:" >&2; sed 's/^/    /' "$WORK/theirs.err" >&2
                fi
            fi
        done
    done
    i=$(( i + 1 ))
done

mbps() { [ -n "$1" ] && awk -v i="$1" -v b="$2" 'BEGIN { printf "%.1f", i * b / 1e6 }' || echo "-"; }
table() {
    echo "| workload | ours IOPS | ours MB/s | ours p99 µs | libiscsi IOPS | libiscsi MB/s | ours/libiscsi |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    local i=0
    for workload in "${WORKLOADS[@]}"; do
        IFS='|' read -r name bytes _ _ <<<"$workload"
        local o t p ratio="-"
        o=$(median < "$WORK/ours.$i"); t=$(median < "$WORK/theirs.$i")
        p=$(cut -d' ' -f1 "$WORK/extra.$i" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
        if [ -n "$o" ] && [ -n "$t" ] && [ "$t" -gt 0 ]; then ratio=$(awk -v o="$o" -v t="$t" 'BEGIN { printf "%.2f", o / t }'); fi
        echo "| $name | ${o:--} | $(mbps "$o" "$bytes") | ${p:--} | ${t:--} | $(mbps "$t" "$bytes") | $ratio |"
        i=$(( i + 1 ))
    done
}
result=$(table)
echo "$result"
if [ -n "$OUT" ]; then
    {
        echo "# Initiator bench: \`iser perf\` (ours) and libiscsi \`iscsi-perf\` against the same tgtd on 127.0.0.1"
        echo
        echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). ${SECONDS_PER_RUN} s per run, ${ROUNDS} round(s) per workload (median shown), ours and libiscsi interleaved per workload."
        echo "Target: tgtd $(dpkg-query -W -f='${Version}' tgt 2>/dev/null || echo '?'), LUN 1 = ${SIZE_MIB} MiB allocated file in /dev/shm, ${BS}-byte blocks. libiscsi-bin $(dpkg-query -W -f='${Version}' libiscsi-bin 2>/dev/null || echo '?')."
        echo "Machine: $(nproc) CPUs shared with other work, load average at start $(cut -d' ' -f1-3 /proc/loadavg). MB/s = IOPS x transfer size / 10^6."
        echo "Command: \`bench/peers/run-initiator-bench.sh --seconds $SECONDS_PER_RUN --size-mib $SIZE_MIB --rounds $ROUNDS\` (our CLI: $CONFIGURATION build)"
        echo
        echo "$result"
    } > "$OUT"
    echo "Wrote $OUT" >&2
fi
