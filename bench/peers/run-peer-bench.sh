#!/usr/bin/env bash
# Side-by-side libiscsi iscsi-perf runs against OUR target (`iser target`) and against tgtd, both serving a
# RAM-backed LUN on 127.0.0.1, printing a markdown table with IOPS, MB/s and the ratio ours/tgtd.
#
#   bench/peers/run-peer-bench.sh [--seconds N] [--size-mib N] [--only tgtd|ours|both] [--out FILE]
#
# Workloads (each for a fixed duration): 4 KiB random read at 32 and at 1 in flight, 128 KiB and 1 MiB
# sequential read at 8 in flight. MB/s is decimal (10^6 bytes/s) computed from IOPS x transfer size.
# Our target comes from $ISER_CLI_DLL or src/Cli/bin/$CONFIGURATION/net10.0/iser.dll (CONFIGURATION=Release by
# default); when it is missing or does not print "ready", our half is skipped with a message.
# tgtd's LUN is a fully allocated file in /dev/shm (tmpfs: RAM); ours is `--lun ram:SIZE`.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-loopback.sh"

SECONDS_PER_RUN=10
SIZE_MIB=256
ONLY=both
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
        --size-mib) SIZE_MIB=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "Unknown argument $1 (see --help)." >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
PATH="$PATH:/usr/sbin:/sbin"
CONFIGURATION=${CONFIGURATION:-Release}
ISER_DLL=${ISER_CLI_DLL:-src/Cli/bin/$CONFIGURATION/net10.0/iser.dll}
INITIATOR=iqn.2026-11.org.example:peer-bench
WORK=$(mktemp -d)
TGTD_PID="" TGTD_CONTROL="" OURS_PID=""

# name | transfer bytes | in flight | random?
WORKLOADS=(
    "4 KiB random read, 32 in flight|4096|32|random"
    "4 KiB random read, 1 in flight|4096|1|random"
    "128 KiB sequential read, 8 in flight|131072|8|sequential"
    "1 MiB sequential read, 8 in flight|1048576|8|sequential"
)

for tool in iscsi-perf iscsi-readcapacity16; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install libiscsi-bin" >&2; exit 1; }
done

cleanup() {
    if [ -n "$OURS_PID" ] && kill -0 "$OURS_PID" 2>/dev/null; then kill -TERM "$OURS_PID" 2>/dev/null || true; fi
    stop_tgtd "$TGTD_PID" "$TGTD_CONTROL"
    rm -rf "$WORK" "/dev/shm/peer-bench-$$.img"
}
trap cleanup EXIT

block_size() { # url
    iscsi-readcapacity16 -i "$INITIATOR" "$1" | sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES://p'
}

# Runs every workload against one URL; writes "iops" lines (one per workload) to $2.
run_workloads() { # url result-file label
    local url=$1 out=$2 label=$3 bs
    bs=$(block_size "$url")
    [ -n "$bs" ] || { echo "Could not read the block size of $url." >&2; return 1; }
    : > "$out"
    for workload in "${WORKLOADS[@]}"; do
        IFS='|' read -r name bytes depth mode <<<"$workload"
        local args=(-i "$INITIATOR" -t "$SECONDS_PER_RUN" -m "$depth" -b $(( bytes / bs )))
        [ "$mode" = random ] && args+=(-r)
        local iops
        iops=$(timeout $(( SECONDS_PER_RUN + 60 )) iscsi-perf "${args[@]}" "$url" 2>"$WORK/perf.err" \
            | tr '\r' '\n' | sed -n 's/^ *iops average \([0-9]*\) .*/\1/p' | tail -1)
        [ -n "$iops" ] || { echo "iscsi-perf against $label gave no result for '$name':" >&2; cat "$WORK/perf.err" >&2; iops=""; }
        echo "  $label: $name: ${iops:-failed} IOPS" >&2
        echo "$iops" >> "$out"
    done
}

start_tgtd() {
    command -v tgtd >/dev/null || { echo "tgtd is missing: apt-get install tgt" >&2; return 1; }
    local port=$1 file="/dev/shm/peer-bench-$$.img"
    dd if=/dev/zero of="$file" bs=1M count="$SIZE_MIB" status=none  # allocated, not sparse: reads touch RAM
    TGTD_CONTROL=$(( 1000 + RANDOM % 29000 ))
    tgtd -f -C "$TGTD_CONTROL" --iscsi "portal=127.0.0.1:$port" >"$WORK/tgtd.log" 2>&1 &
    TGTD_PID=$!
    wait_listening "$port" "$TGTD_PID" 20 || { echo "tgtd did not start:" >&2; cat "$WORK/tgtd.log" >&2; return 1; }
    local adm=(tgtadm -C "$TGTD_CONTROL" --lld iscsi)
    "${adm[@]}" --op new --mode target --tid 1 -T iqn.2026-11.org.example:bench-tgtd
    "${adm[@]}" --op new --mode logicalunit --tid 1 --lun 1 -b "$file"
    "${adm[@]}" --op bind --mode target --tid 1 -I ALL
}

start_ours() {
    local port=$1
    if [ ! -f "$ISER_DLL" ]; then
        echo "Skipping our target: $ISER_DLL not found (build with: dotnet build Iser.sln -c $CONFIGURATION)." >&2
        return 1
    fi
    dotnet "$ISER_DLL" target --portal "127.0.0.1:$port" --iqn iqn.2026-11.org.example:bench-ours \
        --lun "ram:${SIZE_MIB}M" >"$WORK/ours.log" 2>&1 &
    OURS_PID=$!
    local deadline=$(( $(date +%s) + 60 ))
    until grep -qx 'ready' "$WORK/ours.log"; do
        if ! kill -0 "$OURS_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
            echo "Skipping our target: it did not print 'ready'. Its output:" >&2
            if [ -s "$WORK/ours.log" ]; then sed 's/^/    /' "$WORK/ours.log" >&2; else echo "    (it printed nothing)" >&2; fi
            return 1
        fi
        sleep 0.1
    done
}

stop_ours() {
    kill -TERM "$OURS_PID"
    local code=0
    wait "$OURS_PID" || code=$?
    OURS_PID=""
    [ "$code" -eq 0 ] || echo "Warning: our target exited with code $code after SIGTERM." >&2
}

echo "Peer bench: ${SECONDS_PER_RUN} s per run, ${SIZE_MIB} MiB LUNs, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
have_tgtd=no have_ours=no
if [ "$ONLY" != ours ]; then
    port=$(free_port)
    if start_tgtd "$port"; then
        run_workloads "iscsi://127.0.0.1:$port/iqn.2026-11.org.example:bench-tgtd/1" "$WORK/tgtd.iops" tgtd && have_tgtd=yes
    fi
fi
if [ "$ONLY" != tgtd ]; then
    port=$(free_port)
    if start_ours "$port"; then
        run_workloads "iscsi://127.0.0.1:$port/iqn.2026-11.org.example:bench-ours/0" "$WORK/ours.iops" ours && have_ours=yes
        stop_ours
    fi
fi

mbps() { [ -n "$1" ] && awk -v i="$1" -v b="$2" 'BEGIN { printf "%.1f", i * b / 1e6 }' || echo "-"; }
table() {
    echo "| workload | tgtd IOPS | tgtd MB/s | ours IOPS | ours MB/s | ours/tgtd |"
    echo "|---|---:|---:|---:|---:|---:|"
    local i=1
    for workload in "${WORKLOADS[@]}"; do
        IFS='|' read -r name bytes _ _ <<<"$workload"
        local t="" o=""
        [ "$have_tgtd" = yes ] && t=$(sed -n "${i}p" "$WORK/tgtd.iops")
        [ "$have_ours" = yes ] && o=$(sed -n "${i}p" "$WORK/ours.iops")
        local ratio="-"
        if [ -n "$t" ] && [ -n "$o" ] && [ "$t" -gt 0 ]; then ratio=$(awk -v o="$o" -v t="$t" 'BEGIN { printf "%.2f", o / t }'); fi
        echo "| $name | ${t:--} | $(mbps "$t" "$bytes") | ${o:--} | $(mbps "$o" "$bytes") | $ratio |"
        i=$(( i + 1 ))
    done
}
result=$(table)
echo "$result"
if [ -n "$OUT" ]; then
    {
        echo "# Peer bench: iscsi-perf (libiscsi) against our target and tgtd on 127.0.0.1"
        echo
        echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). ${SECONDS_PER_RUN} s per run; ${SIZE_MIB} MiB LUN (tgtd: allocated file in /dev/shm; ours: ram:). "
        echo "Machine: $(nproc) CPUs shared with other work, load average at start $(cut -d' ' -f1-3 /proc/loadavg). "
        echo "Peers: tgt $(dpkg-query -W -f='${Version}' tgt 2>/dev/null || echo '?'), libiscsi-bin $(dpkg-query -W -f='${Version}' libiscsi-bin 2>/dev/null || echo '?'). MB/s = IOPS x transfer size / 10^6."
        echo "Command: \`bench/peers/run-peer-bench.sh --seconds $SECONDS_PER_RUN --size-mib $SIZE_MIB --only $ONLY\`"
        echo
        echo "$result"
    } > "$OUT"
    echo "Wrote $OUT" >&2
fi
