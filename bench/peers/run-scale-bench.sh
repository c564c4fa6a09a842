#!/usr/bin/env bash
# Many sessions against one target: ours (`iser target`, RAM LUN) and tgtd (a file in /dev/shm), on 127.0.0.1, each
# driven by the same client (`Iser.Bench sessions`, our initiator, one TCP connection per session): for each count N
# the N sessions log in and read back a known block, then, while all are held, the target's RSS and threads, one more
# login + READ, and 4 KiB random reads on every session (4 in flight each) for a few seconds.
#
#   bench/peers/run-scale-bench.sh [--counts 10,100,1000] [--seconds 5] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/peers/lib-loopback.sh
COUNTS=10,100,1000
SECONDS_PER_RUN=5
OUT="bench/results/scale-bench-$(date -u +%Y-%m-%d-%H%M).md"
while [ $# -gt 0 ]; do
    case $1 in
        --counts) COUNTS=$2; shift 2 ;;
        --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "Unknown argument $1 (see --help)." >&2; exit 2 ;;
    esac
done
command -v tgtd >/dev/null || { echo "tgtd is not installed (apt-get install tgt)." >&2; exit 1; }
ISER_DLL=src/Cli/bin/Release/net10.0/iser.dll
dotnet build Iser.sln -c Release -v q -nologo >/dev/null || { echo "The Release build failed." >&2; exit 1; }
dotnet build bench/Iser.Bench -c Release -v q -nologo >/dev/null || { echo "Building bench/Iser.Bench failed." >&2; exit 1; }
PROBE=(dotnet bench/Iser.Bench/bin/Release/net10.0/Iser.Bench.dll sessions)
WORK=$(mktemp -d)
LUN_FILE=/dev/shm/iser-scale-$$.img
OURS_PID="" TGTD_PID="" TGTD_CONTROL=""
cleanup() {
    stop_tgtd "$TGTD_PID" "$TGTD_CONTROL"
    [ -z "$OURS_PID" ] || { kill -TERM "$OURS_PID" 2>/dev/null || true; wait "$OURS_PID" 2>/dev/null || true; }
    rm -rf "$WORK" "$LUN_FILE"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # tgtd and the client hold one descriptor per session too

# Everything below goes to the screen and to the report; it runs in this shell, so the cleanup sees the targets' PIDs.
exec > >(tee "$OUT")
echo "# Many sessions against one target, $(date -u '+%Y-%m-%d %H:%M') UTC"
echo
echo "Counts ${COUNTS}; 4 KiB random reads, 4 in flight per session, ${SECONDS_PER_RUN} s; 127.0.0.1; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg);"
echo "open-file limit $(ulimit -n). Client: \`Iser.Bench sessions\` (our initiator). RSS per session: growth over the idle target."
echo "Command: \`bench/peers/run-scale-bench.sh --counts ${COUNTS} --seconds ${SECONDS_PER_RUN}\`"
echo
port=$(free_port)
dotnet "$ISER_DLL" target --portal "127.0.0.1:$port" --iqn iqn.2026-12.org.iser.bench:scale --lun ram:256M --nop-interval 0 >"$WORK/ours.log" 2>&1 &
OURS_PID=$!
until grep -qx ready "$WORK/ours.log"; do kill -0 "$OURS_PID" 2>/dev/null || { echo "Our target did not start:" >&2; cat "$WORK/ours.log" >&2; exit 1; }; sleep 0.2; done
echo "## Our target"
echo
"${PROBE[@]}" --portal "127.0.0.1:$port" --iqn iqn.2026-12.org.iser.bench:scale --pid "$OURS_PID" --counts "$COUNTS" --seconds "$SECONDS_PER_RUN"
kill -TERM "$OURS_PID"; wait "$OURS_PID" 2>/dev/null || true; OURS_PID=""
echo
port=$(free_port)
dd if=/dev/zero of="$LUN_FILE" bs=1M count=256 status=none
TGTD_CONTROL=$(( 1000 + RANDOM % 29000 ))
tgtd -f -C "$TGTD_CONTROL" --iscsi "portal=127.0.0.1:$port" >"$WORK/tgtd.log" 2>&1 &
TGTD_PID=$!
wait_listening "$port" "$TGTD_PID" 20 || { echo "tgtd did not start:" >&2; cat "$WORK/tgtd.log" >&2; exit 1; }
adm=(tgtadm -C "$TGTD_CONTROL" --lld iscsi)
"${adm[@]}" --op new --mode target --tid 1 -T iqn.2026-12.org.iser.bench:tgtd
"${adm[@]}" --op new --mode logicalunit --tid 1 --lun 1 -b "$LUN_FILE"
"${adm[@]}" --op bind --mode target --tid 1 -I ALL
echo "## tgtd"
echo
SCALE_LUN=1 "${PROBE[@]}" --portal "127.0.0.1:$port" --iqn iqn.2026-12.org.iser.bench:tgtd --pid "$TGTD_PID" --counts "$COUNTS" --seconds "$SECONDS_PER_RUN"
echo
echo "wrote $OUT" >&2
