#!/usr/bin/env bash
# LUNs on Ceph RBD (issue 18): libiscsi's `iscsi-perf` against OUR target serving an rbd LUN and against tgtd with
# its rbd backing store (bs_rbd, Debian package tgt-rbd), both on 127.0.0.1 and both on the SAME image of the test
# cluster (tests/ceph/cluster.sh), with `rbd bench` on that image as the ceiling (librbd alone, no iSCSI).
#
#   bench/run-rbd-bench.sh [--rounds N] [--seconds N] [--size-mib N] [--out FILE]
#
# Workloads: 4 KiB random read, 32 in flight (rbd bench: --io-size 4K --io-threads 32 --io-pattern rand) and 1 MiB
# sequential read, 8 in flight (rbd bench: --io-size 1M --io-threads 8 --io-pattern seq). Each round runs every
# workload on the three systems in an order that rotates by one each round; the table gives medians over rounds.
# rbd bench has no duration, only a byte total: a short probe of each workload sets the total to about --seconds.
# The image (--size-mib, default 512) is written whole first, so every read reaches data an OSD holds.
#
# Defaults: 3 rounds of 10 s runs. The cluster: the one tests/ceph/cluster.sh already runs (left running), else
# started here and stopped at the end. Everything started here (cluster, tgtd, our target, the image) is stopped or
# removed on exit, also on a failure or Ctrl-C. Our CLI: $ISER_CLI_DLL or src/Cli/bin/$CONFIGURATION/net10.0/iser.dll
# (CONFIGURATION=Release by default). Writes a markdown report to --out (default bench/results/rbd-bench-DATE.md).
set -Eeuo pipefail
shopt -s inherit_errexit
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/peers/lib-loopback.sh"

ROUNDS=3
SECONDS_PER_RUN=10
SIZE_MIB=512
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift 2 ;;
        --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
        --size-mib) SIZE_MIB=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "run-rbd-bench: unknown argument '$1' (see --help)." >&2; exit 2 ;;
    esac
done
for n in "$ROUNDS" "$SECONDS_PER_RUN" "$SIZE_MIB"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "run-rbd-bench: '$n' is not a positive whole number (--rounds, --seconds, --size-mib)." >&2; exit 2; }
done
[ $(( SIZE_MIB % 4 )) -eq 0 ] || { echo "run-rbd-bench: --size-mib must be a multiple of 4 (whole 4 MiB objects)." >&2; exit 2; }

cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"
CONFIGURATION=${CONFIGURATION:-Release}
ISER_DLL=${ISER_CLI_DLL:-src/Cli/bin/$CONFIGURATION/net10.0/iser.dll}
CLUSTER=tests/ceph/cluster.sh
BS_RBD=/usr/lib/tgt/backing-store/bs_rbd.so
INITIATOR=iqn.2026-12.org.example:rbd-bench
TGTD_IQN=iqn.2026-12.org.example:rbd-bench-tgtd
OURS_IQN=iqn.2026-12.org.example:rbd-bench-ours
STAMP=$(date -u +%Y-%m-%d-%H%M)
OUT=${OUT:-bench/results/rbd-bench-$STAMP.md}
WORK=$(mktemp -d)
IMAGE="rbd-bench-$$-$RANDOM"
CONF="" CLUSTER_STARTED=no IMAGE_CREATED=no TGTD_PID="" TGTD_CONTROL="" OURS_PID=""

say() { printf 'run-rbd-bench: %s\n' "$*" >&2; }
fail() { printf 'run-rbd-bench: error: %s\n' "$*" >&2; exit 1; }
# Any command that fails without its own message still says which one and where.
trap 'status=$?; printf "run-rbd-bench: error: line %s: \"%s\" failed (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$status" >&2' ERR

# name | transfer bytes | in flight | random or sequential | rbd bench --io-size | rbd bench --io-pattern
WORKLOADS=(
    "4 KiB random read, 32 in flight|4096|32|random|4K|rand"
    "1 MiB sequential read, 8 in flight|1048576|8|sequential|1M|seq"
)
SYSTEMS=(ours tgtd rbd-bench)

stop_ours() {
    [ -n "$OURS_PID" ] || return 0
    local pid=$OURS_PID code=0
    OURS_PID=""
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        say "our target (pid $pid) did not exit within 15 s of SIGTERM: killing it."
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || code=$?
    [ "$code" -eq 0 ] || say "warning: our target exited with code $code after SIGTERM."
}

cleanup() {
    local status=$?
    trap - ERR
    set +e
    stop_ours
    stop_tgtd "$TGTD_PID" "$TGTD_CONTROL"
    if [ "$IMAGE_CREATED" = yes ]; then
        # A target that crashed leaves its watch on the image until the OSD times it out (30 s): try for 60 s.
        local removed=no deadline=$(( SECONDS + 60 ))
        while :; do
            if rbd -c "$CONF" rm --no-progress "rbd/$IMAGE" >/dev/null 2>"$WORK/rm.err"; then removed=yes; break; fi
            grep -q 'still has watchers' "$WORK/rm.err" && [ $SECONDS -lt $deadline ] || break
            say "the image rbd/$IMAGE still has a watcher (a client that did not close it): trying again"
            sleep 5
        done
        [ "$removed" = yes ] || { say "could not remove the image rbd/$IMAGE:"; sed 's/^/    /' "$WORK/rm.err" >&2; }
    fi
    if [ "$CLUSTER_STARTED" = yes ]; then
        "$CLUSTER" stop >/dev/null 2>"$WORK/stop.err" || { say "stopping the Ceph test cluster failed:"; sed 's/^/    /' "$WORK/stop.err" >&2; }
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'say "interrupted: stopping what was started"; exit 130' INT TERM

# ---------------------------------------------------------------------------------------------------------------
# What is needed, each missing piece named.
for tool in iscsi-perf iscsi-readcapacity16 tgtd tgtadm rbd rados dotnet; do
    command -v "$tool" >/dev/null || fail "$tool is missing (packages: libiscsi-bin for iscsi-*, tgt for tgtd/tgtadm, ceph-common for rbd/rados)."
done
[ -f "$BS_RBD" ] || fail "tgtd's rbd backing store $BS_RBD is missing: apt-get install tgt-rbd"
[ -f "$ISER_DLL" ] || fail "our CLI $ISER_DLL is missing: build with dotnet build Iser.sln -c $CONFIGURATION"

# ---------------------------------------------------------------------------------------------------------------
# The cluster and the image.
if "$CLUSTER" status >"$WORK/status.out" 2>/dev/null; then
    CONF=$(tail -n 1 "$WORK/status.out")
    say "using the Ceph test cluster already running ($CONF); it is left running"
else
    say "starting the Ceph test cluster ($CLUSTER start)"
    CLUSTER_STARTED=yes
    "$CLUSTER" start >"$WORK/start.out" 2>"$WORK/start.err" \
        || { sed 's/^/    /' "$WORK/start.err" >&2; fail "the Ceph test cluster did not start ($CLUSTER start, its words above)."; }
    CONF=$(tail -n 1 "$WORK/start.out")
fi
[ -f "$CONF" ] || fail "the cluster script gave no ceph.conf (got '$CONF')."

rbd -c "$CONF" create "rbd/$IMAGE" --size "${SIZE_MIB}M" 2>"$WORK/rbd.err" \
    || { sed 's/^/    /' "$WORK/rbd.err" >&2; fail "creating the image rbd/$IMAGE (${SIZE_MIB} MiB) failed."; }
IMAGE_CREATED=yes
# Written whole, one writer front to back, so every 4 MiB object exists: reads then reach an OSD's data, not librbd's
# shortcut for objects never written.
say "writing the whole image rbd/$IMAGE (${SIZE_MIB} MiB)"
rbd -c "$CONF" bench --io-type write --io-size 4M --io-threads 1 --io-pattern seq --io-total "${SIZE_MIB}M" \
    "rbd/$IMAGE" >"$WORK/fill.out" 2>&1 || { sed 's/^/    /' "$WORK/fill.out" >&2; fail "writing the image with rbd bench failed."; }
prefix=$(rbd -c "$CONF" info "rbd/$IMAGE" | sed -n 's/^\s*block_name_prefix: //p')
objects=$(rados -c "$CONF" -p rbd ls | grep -c "^$prefix\." || true)
[ "$objects" -eq $(( SIZE_MIB / 4 )) ] \
    || fail "after writing the image, $objects of its $(( SIZE_MIB / 4 )) data objects exist ($prefix.*): the fill did not cover it."

# ---------------------------------------------------------------------------------------------------------------
# The two targets, both serving rbd/$IMAGE.
start_tgtd() {
    local port
    port=$(free_port) || fail "no free loopback port for tgtd."
    TGTD_CONTROL=$(( 1000 + RANDOM % 29000 ))
    tgtd -f -C "$TGTD_CONTROL" --iscsi "portal=127.0.0.1:$port" >"$WORK/tgtd.log" 2>&1 &
    TGTD_PID=$!
    wait_listening "$port" "$TGTD_PID" 20 \
        || { sed 's/^/    /' "$WORK/tgtd.log" >&2; fail "tgtd did not listen on 127.0.0.1:$port within 20 s (its log above)."; }
    local adm=(tgtadm -C "$TGTD_CONTROL" --lld iscsi)
    "${adm[@]}" --op new --mode target --tid 1 -T "$TGTD_IQN" 2>"$WORK/adm.err" \
        || { sed 's/^/    /' "$WORK/adm.err" >&2; fail "tgtadm could not create tgtd's target."; }
    "${adm[@]}" --op new --mode logicalunit --tid 1 --lun 1 --bstype rbd --backing-store "rbd/$IMAGE" \
        --bsopts "conf=$CONF;id=admin" 2>"$WORK/adm.err" \
        || { sed 's/^/    /' "$WORK/adm.err" "$WORK/tgtd.log" >&2; fail "tgtadm could not add rbd/$IMAGE to tgtd as an rbd LUN (bs_rbd; its words and tgtd's log above)."; }
    "${adm[@]}" --op bind --mode target --tid 1 -I ALL 2>"$WORK/adm.err" \
        || { sed 's/^/    /' "$WORK/adm.err" >&2; fail "tgtadm could not open tgtd's target to initiators."; }
    TGTD_URL="iscsi://127.0.0.1:$port/$TGTD_IQN/1"
}

start_ours() {
    local port
    port=$(free_port) || fail "no free loopback port for our target."
    dotnet "$ISER_DLL" target --portal "127.0.0.1:$port" --iqn "$OURS_IQN" --lun "rbd:rbd/$IMAGE:conf=$CONF" \
        >"$WORK/ours.log" 2>&1 &
    OURS_PID=$!
    local deadline=$(( $(date +%s) + 60 ))
    until grep -qx 'ready' "$WORK/ours.log"; do
        if ! kill -0 "$OURS_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
            sed 's/^/    /' "$WORK/ours.log" >&2
            fail "our target did not print 'ready' within 60 s on rbd/$IMAGE (its output above)."
        fi
        sleep 0.1
    done
    OURS_URL="iscsi://127.0.0.1:$port/$OURS_IQN/0"
}

block_size() { # url label
    local bs
    bs=$(iscsi-readcapacity16 -i "$INITIATOR" "$1" 2>"$WORK/cap.err" | sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES://p') || true
    [ -n "$bs" ] || { sed 's/^/    /' "$WORK/cap.err" >&2; fail "READ CAPACITY (16) of $2 ($1) gave no block size."; }
    echo "$bs"
}

say "starting tgtd (bs_rbd) and our target on rbd/$IMAGE"
start_tgtd
start_ours
TGTD_BS=$(block_size "$TGTD_URL" tgtd)
OURS_BS=$(block_size "$OURS_URL" "our target")

# ---------------------------------------------------------------------------------------------------------------
# CPU time (user + system, in clock ticks) a process has used so far.
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || fail "process $1 ($2) is gone: it exited during the run."; }
OSD_PID=$(cat "$(dirname "$CONF")/run/osd.0.pid" 2>/dev/null) || fail "no pid file of the cluster's osd.0 beside $CONF."
cpu_ticks "$OSD_PID" ceph-osd >/dev/null

# One measurement: prints "IOPS SERVER_US OSD_US": the IOPS (a whole number) and the CPU time per command of the
# server (our target's or tgtd's process; for rbd bench its own process, librbd included) and of ceph-osd.
iscsi_perf() { # url block-size label bytes depth mode server-pid
    local url=$1 bs=$2 label=$3 bytes=$4 depth=$5 mode=$6 pid=$7 iops server0 osd0 server1 osd1
    server0=$(cpu_ticks "$pid" "$label") osd0=$(cpu_ticks "$OSD_PID" ceph-osd)
    local args=(-i "$INITIATOR" -t "$SECONDS_PER_RUN" -m "$depth" -b $(( bytes / bs )))
    [ "$mode" = random ] && args+=(-r)
    iops=$(timeout $(( SECONDS_PER_RUN + 60 )) iscsi-perf "${args[@]}" "$url" 2>"$WORK/perf.err" \
        | tr '\r' '\n' | sed -n 's/^ *iops average \([0-9]*\) .*/\1/p' | tail -1) || true
    [ -n "$iops" ] || { sed 's/^/    /' "$WORK/perf.err" >&2; fail "iscsi-perf against $label gave no result (its errors above)."; }
    server1=$(cpu_ticks "$pid" "$label") osd1=$(cpu_ticks "$OSD_PID" ceph-osd)
    per_command "$iops" $(( iops * SECONDS_PER_RUN )) $(( server1 - server0 )) $(( osd1 - osd0 ))
}

per_command() { # iops commands server-ticks osd-ticks
    awk -v i="$1" -v n="$2" -v s="$3" -v o="$4" -v t="$TICK_US" 'BEGIN { n = n > 0 ? n : 1; printf "%d %.1f %.1f\n", i, s * t / n, o * t / n }'
}

rbd_bench() { # io-size io-threads pattern total-bytes bytes-per-op
    local osd0 osd1 TIMEFORMAT='%U %S'
    osd0=$(cpu_ticks "$OSD_PID" ceph-osd)
    { time timeout $(( SECONDS_PER_RUN * 4 + 120 )) rbd -c "$CONF" bench --io-type read --io-size "$1" --io-threads "$2" \
        --io-pattern "$3" --io-total "$4" "rbd/$IMAGE" >"$WORK/bench.out" 2>&1; } 2>"$WORK/bench.time" \
        || { sed 's/^/    /' "$WORK/bench.out" >&2; fail "rbd bench ($1 $3 read x$2) failed (its output above)."; }
    osd1=$(cpu_ticks "$OSD_PID" ceph-osd)
    local rate
    rate=$(sed -n 's/^elapsed: .* ops\/sec: \([0-9.]*\) .*/\1/p' "$WORK/bench.out" | tail -1)
    [ -n "$rate" ] || { sed 's/^/    /' "$WORK/bench.out" >&2; fail "rbd bench ($1 $3 read x$2) printed no ops/sec (its output above)."; }
    local ops=$(( $4 / $5 )) cpu_ticks_rbd
    cpu_ticks_rbd=$(awk -v t="$TICK_US" '{ printf "%.0f", ($1 + $2) * 1e6 / t }' "$WORK/bench.time")
    per_command "$(printf '%.0f' "$rate")" "$ops" "$cpu_ticks_rbd" $(( osd1 - osd0 ))
}

# rbd bench runs for a byte total: a probe of each workload (also its warm-up) sets the total to ~SECONDS_PER_RUN.
declare -A RBD_TOTAL
w=0
for workload in "${WORKLOADS[@]}"; do
    IFS='|' read -r name bytes depth mode size pattern <<<"$workload"
    probe_ops=$(( bytes == 4096 ? 40000 : 800 ))
    read -r rate _ < <(rbd_bench "$size" "$depth" "$pattern" $(( probe_ops * bytes )) "$bytes")
    [ -n "$rate" ] || fail "the rbd bench probe of '$name' gave no result."
    [ "$rate" -gt 0 ] || fail "the rbd bench probe of '$name' measured 0 ops/s."
    RBD_TOTAL[$w]=$(( rate * SECONDS_PER_RUN * bytes ))
    say "rbd bench probe, $name: $rate ops/s, so --io-total $(( RBD_TOTAL[$w] / 1048576 )) MiB per run"
    w=$(( w + 1 ))
done

measure() { # system workload-index
    local system=$1 w=$2 name bytes depth mode size pattern
    IFS='|' read -r name bytes depth mode size pattern <<<"${WORKLOADS[$w]}"
    case "$system" in
        ours) iscsi_perf "$OURS_URL" "$OURS_BS" "our target" "$bytes" "$depth" "$mode" "$OURS_PID" ;;
        tgtd) iscsi_perf "$TGTD_URL" "$TGTD_BS" tgtd "$bytes" "$depth" "$mode" "$TGTD_PID" ;;
        rbd-bench) rbd_bench "$size" "$depth" "$pattern" "${RBD_TOTAL[$w]}" "$bytes" ;;
    esac
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "$ROUNDS rounds of ${SECONDS_PER_RUN} s runs, $(nproc) CPUs, load $LOAD_START"
for round in $(seq "$ROUNDS"); do
    order=()
    for i in "${!SYSTEMS[@]}"; do order+=("${SYSTEMS[$(( (i + round - 1) % ${#SYSTEMS[@]} ))]}"); done
    for w in "${!WORKLOADS[@]}"; do
        for system in "${order[@]}"; do
            read -r iops server osd < <(measure "$system" "$w")
            [ -n "$iops" ] || fail "no result from $system for '${WORKLOADS[$w]%%|*}' in round $round (its words above)."
            echo "$iops" >> "$WORK/$system.$w"
            echo "$server" >> "$WORK/$system.$w.cpu"
            echo "$osd" >> "$WORK/$system.$w.osd"
            say "round $round, ${WORKLOADS[$w]%%|*}, $system: $iops IOPS, CPU per command: server $server us, ceph-osd $osd us"
        done
    done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# The target must still be alive and stop cleanly: a crash mid-run would make its figures meaningless.
kill -0 "$OURS_PID" 2>/dev/null || { sed 's/^/    /' "$WORK/ours.log" >&2; fail "our target exited during the run (its output above)."; }
kill -0 "$TGTD_PID" 2>/dev/null || { sed 's/^/    /' "$WORK/tgtd.log" >&2; fail "tgtd exited during the run (its log above)."; }

# ---------------------------------------------------------------------------------------------------------------
median() { # file [printf format]
    sort -g "$1" | awk -v f="${2:-%.0f}" '{ v[NR] = $1 } END { printf f "\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mbps() { awk -v i="$1" -v b="$2" 'BEGIN { printf "%.1f", i * b / 1e6 }'; }

table() {
    echo "| workload | ours IOPS (MB/s) | tgtd IOPS (MB/s) | rbd bench IOPS (MB/s) | ours/tgtd | ours/rbd bench | tgtd/rbd bench |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for w in "${!WORKLOADS[@]}"; do
        IFS='|' read -r name bytes _ <<<"${WORKLOADS[$w]}"
        local o t r
        o=$(median "$WORK/ours.$w") t=$(median "$WORK/tgtd.$w") r=$(median "$WORK/rbd-bench.$w")
        echo "| $name | $o ($(mbps "$o" "$bytes")) | $t ($(mbps "$t" "$bytes")) | $r ($(mbps "$r" "$bytes")) | $(ratio "$o" "$t") | $(ratio "$o" "$r") | $(ratio "$t" "$r") |"
    done
}
cpu_table() {
    echo "| workload | ours: target, ceph-osd | tgtd: target, ceph-osd | rbd bench: its process, ceph-osd |"
    echo "|---|---:|---:|---:|"
    for w in "${!WORKLOADS[@]}"; do
        local row="| ${WORKLOADS[$w]%%|*} |"
        for system in "${SYSTEMS[@]}"; do row+=" $(median "$WORK/$system.$w.cpu" %.1f), $(median "$WORK/$system.$w.osd" %.1f) |"; done
        echo "$row"
    done
}
rounds_table() {
    echo "| workload | system | IOPS per round | server CPU us per command, per round |"
    echo "|---|---|---|---|"
    for w in "${!WORKLOADS[@]}"; do
        for system in "${SYSTEMS[@]}"; do
            echo "| ${WORKLOADS[$w]%%|*} | $system | $(paste -sd' ' "$WORK/$system.$w" | sed 's/ /, /g') | $(paste -sd' ' "$WORK/$system.$w.cpu" | sed 's/ /, /g') |"
        done
    done
}

result=$(table)
cpu=$(cpu_table)
echo "$result"
echo
echo "$cpu"
mkdir -p "$(dirname "$OUT")"
{
    echo "# rbd bench: iscsi-perf against our target and tgtd (bs_rbd) on one RBD image, rbd bench as the ceiling"
    echo
    echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). $ROUNDS rounds of ${SECONDS_PER_RUN} s runs, the three systems in an order rotating"
    echo "by one each round; medians. One ${SIZE_MIB} MiB image written whole, on the test cluster of tests/ceph/cluster.sh"
    echo "(one monitor, one OSD on a memory store, pool size 1, rbd cache off, all on 127.0.0.1)."
    echo "Machine: $(nproc) CPUs shared with other work (the cluster's daemons, the target and the client all on them);"
    echo "load average $LOAD_START at the start, $LOAD_END at the end."
    echo "Versions: ceph $(dpkg-query -W -f='${Version}' librbd1 2>/dev/null || echo '?'), tgt $(dpkg-query -W -f='${Version}' tgt 2>/dev/null || echo '?'),"
    echo "tgt-rbd $(dpkg-query -W -f='${Version}' tgt-rbd 2>/dev/null || echo '?'), libiscsi-bin $(dpkg-query -W -f='${Version}' libiscsi-bin 2>/dev/null || echo '?'), dotnet $(dotnet --version 2>/dev/null || echo '?')."
    echo "Ours: \`iser target --lun rbd:rbd/IMAGE:conf=CEPH.CONF\` (block size $OURS_BS); tgtd: \`tgtadm ... --bstype rbd"
    echo "--backing-store rbd/IMAGE --bsopts 'conf=CEPH.CONF;id=admin'\` (block size $TGTD_BS). Client: iscsi-perf over TCP."
    echo "rbd bench: \`rbd bench --io-type read --io-size 4K --io-threads 32 --io-pattern rand\` and \`--io-size 1M"
    echo "--io-threads 8 --io-pattern seq\`, --io-total set from a probe to last about ${SECONDS_PER_RUN} s."
    echo "MB/s = IOPS x transfer size / 10^6."
    echo "Command: \`bench/run-rbd-bench.sh --rounds $ROUNDS --seconds $SECONDS_PER_RUN --size-mib $SIZE_MIB\`"
    echo
    echo "$result"
    echo
    echo "CPU time per command in microseconds (user + system of the process over the run / commands it served; medians):"
    echo "the target's process for ours and tgtd; for rbd bench its own process, librbd included, which stands in for a"
    echo "target's librbd part; and ceph-osd's. The client's (iscsi-perf's) CPU is not counted."
    echo
    echo "$cpu"
    echo
    echo "Every round:"
    echo
    rounds_table
} > "$OUT"
say "wrote $OUT"
