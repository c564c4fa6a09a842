#!/usr/bin/env bash
# A single-node Ceph cluster for the RBD tests: one monitor and one OSD on a memory store, on loopback,
# without cephx, every file under one state directory. Light on purpose (the test machines have 2 cores):
# no manager (pools, images and I/O do not need one), one OSD, pools of size 1.
#
#   tests/ceph/cluster.sh start   installs the Debian packages when missing, starts the cluster (or reuses the
#                                 one already running from this state directory), creates the pool, prints the
#                                 path of its ceph.conf as the last line of stdout
#   tests/ceph/cluster.sh stop    stops the daemons and removes the state directory; stopping a stopped
#                                 cluster is no error
#   tests/ceph/cluster.sh status  says whether the cluster answers
#
# Environment:
#   CEPH_TEST_DIR       state directory (default: ${TMPDIR:-/tmp}/iser-ceph-$UID)
#   CEPH_TEST_PORT      the monitor's port on 127.0.0.1 (default 46789; msgr v1 only)
#   CEPH_TEST_POOL      pool created at start (default rbd)
#   CEPH_SKIP_APT=1     never call apt-get (the packages must be there already)
set -Eeuo pipefail

state=${CEPH_TEST_DIR:-${TMPDIR:-/tmp}/iser-ceph-$(id -u)}
port=${CEPH_TEST_PORT:-46789}
pool=${CEPH_TEST_POOL:-rbd}
conf=$state/ceph.conf

log() { printf 'ceph-cluster: %s\n' "$*" >&2; }
# A failure names what failed and shows the end of the daemon logs, so no failure is silent.
die() {
  printf 'ceph-cluster: error: %s\n' "$*" >&2
  local f
  for f in "$state"/log/*.log; do
    [ -s "$f" ] || continue
    printf 'ceph-cluster: last lines of %s:\n' "$f" >&2
    tail -n 15 "$f" | sed 's/^/    /' >&2
  done
  exit 1
}
trap 'status=$?; printf "ceph-cluster: error: line %s: \"%s\" failed (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$status" >&2' ERR

packages=(ceph-mon ceph-osd ceph-common)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
  local missing=() installed p
  # dpkg-query exits 1 when a named package was never installed: that is the case handled here.
  installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null | awk '/install ok installed/ { print $1 }' || true)
  for p in "${packages[@]}"; do
    grep -qx "$p" <<< "$installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "${CEPH_SKIP_APT:-0}" = 1 ] && die "Ceph packages missing (CEPH_SKIP_APT=1): ${missing[*]}"
  log "installing: ${missing[*]}"
  # Other jobs may hold the dpkg lock; wait for it instead of failing.
  as_root apt-get -o DPkg::Lock::Timeout=900 update -qq >&2 || die "apt-get update failed (needed to install: ${missing[*]})"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    --no-install-recommends "${missing[@]}" >&2 || die "apt-get install failed for: ${missing[*]}"
}

# A fresh monitor sometimes refuses a new client's first command (EPERM "problem getting command descriptions", the
# client not yet holding the monitor map): every command used here is idempotent, so it is tried up to five times.
ceph_cmd() {
  local attempt
  for attempt in 1 2 3 4 5; do
    timeout 30 ceph -c "$conf" --connect-timeout 10 "$@" && return 0
    [ $attempt -lt 5 ] && sleep 1
  done
  return 1
}

answers() { [ -f "$conf" ] && timeout 15 ceph -c "$conf" --connect-timeout 5 -s >/dev/null 2>&1; }

write_conf() {
  mkdir -p "$state"/{mon.a,osd.0,run,log}
  cat > "$conf" <<EOF
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $state/run
admin socket = $state/run/\$name.asok
pid file = $state/run/\$name.pid
log file = $state/log/\$name.log
mon data = $state/\$name
osd data = $state/\$name
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# The script places osd.0 in the CRUSH map itself: an OSD doing it at start may send its first monitor command before
# it has the monitor map ("wrong fsid", seen once), and then never comes up.
osd crush update on start = false
osd class update on start = false
# A memory store: nothing on disk, no RocksDB, quick to create; 2 GiB is what it reports as capacity.
osd objectstore = memstore
memstore device bytes = 2147483648
osd memory target = 268435456
# Few threads: the machine is shared.
ms async op threads = 1
osd op num shards = 1
osd op num threads per shard = 2
mon osd full ratio = 0.95
rbd cache = false
EOF
}

wait_for() { # seconds, description, command...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && die "$what did not happen within ${seconds} s"
    sleep 1
  done
}

osd_up() { timeout 15 ceph -c "$conf" --connect-timeout 5 osd dump 2>/dev/null | grep -q '^osd\.0 up'; }

start() {
  install_packages
  if answers && osd_up; then
    log "already running ($conf)"
    echo "$conf"
    return 0
  fi
  # A half-started cluster from an earlier run is of no use: start clean.
  stop_daemons
  rm -rf "$state"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v1:127.0.0.1:$port]" "$state/monmap" >/dev/null 2>&1 \
    || die "monmaptool could not create the monitor map"
  ceph-mon -c "$conf" -i a --mkfs --monmap "$state/monmap" >>"$state/log/mkfs.log" 2>&1 \
    || die "ceph-mon --mkfs failed"
  ceph-mon -c "$conf" -i a >>"$state/log/start.log" 2>&1 || die "ceph-mon did not start"
  wait_for 30 "the monitor answering on 127.0.0.1:$port" answers

  local uuid
  uuid=$(cat /proc/sys/kernel/random/uuid)
  [ "$(ceph_cmd osd new "$uuid" 2>>"$state/log/start.log")" = 0 ] || die "the monitor did not allocate osd.0"
  ceph_cmd osd crush add osd.0 1 root=default host=localhost >/dev/null 2>>"$state/log/start.log" \
    || die "placing osd.0 in the CRUSH map failed"
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >>"$state/log/mkfs.log" 2>&1 || die "ceph-osd --mkfs failed"
  ceph-osd -c "$conf" -i 0 >>"$state/log/start.log" 2>&1 || die "ceph-osd did not start"
  wait_for 60 "osd.0 coming up" osd_up

  ceph_cmd osd pool create "$pool" 8 8 >/dev/null 2>>"$state/log/start.log" || die "creating pool $pool failed"
  ceph_cmd osd pool set "$pool" size 1 --yes-i-really-mean-it >/dev/null 2>>"$state/log/start.log" \
    || die "setting pool $pool to size 1 failed"
  # rbd pool init writes to the pool, so it returns only once its placement groups are active.
  timeout 60 rbd -c "$conf" pool init "$pool" 2>>"$state/log/start.log" \
    || die "rbd pool init $pool failed (placement groups not active within 60 s?)"
  log "running: monitor 127.0.0.1:$port, osd.0 (memstore), pool $pool, state in $state"
  echo "$conf"
}

stop_daemons() {
  local f pid pids=()
  for f in "$state"/run/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    # Only a daemon of ours (its command line names our ceph.conf): the pid file may be stale and the number reused.
    if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$conf"; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + 20))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
      sleep 0.2
    done
  done
}

stop() {
  [ -d "$state" ] || { log "not running"; return 0; }
  stop_daemons
  rm -rf "$state"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if answers && osd_up; then log "running ($conf)"; echo "$conf"; else log "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
