#!/usr/bin/env bash
# Linux dm-multipath in the soft-RoCE guest, driven for tests: udevd (multipath reads the disks' WWIDs from udev's
# database), multipathd, and one map over the disks open-iscsi attached through several portals.
#
#   multipath.sh start              writable /etc (an overlay on tmpfs; the guest's /etc is this machine's,
#                                   read-only), /etc/multipath.conf (below), udevd, multipathd. Run it before
#                                   open-iscsi.sh logs in, so that udevd sees the disks arrive.
#   multipath.sh map DISK...        builds the map over these disks (/dev/sdX, one WWID); prints its /dev/dm-N last
#   multipath.sh show               multipath -ll
#   multipath.sh flush              removes the maps (before open-iscsi logs out)
#   multipath.sh stop               flushes the maps, stops multipathd and udevd, removes the overlay. Run it after
#                                   open-iscsi.sh stop.
# The configuration: every disk may be a path (find_multipaths no), paths grouped by priority (group_by_prio; the
# priority comes from ALUA, which multipath detects from INQUIRY's TPGS bits), failback immediate, I/O queued
# rather than failed while no path is usable, paths checked every 2 s. Every failure says what failed and exits 1.
set -uo pipefail
PATH="$PATH:/usr/sbin:/sbin"
fail() { echo "multipath.sh: $*" >&2; exit 1; }
[ "${LAB_GUEST:-0}" = 1 ] || fail "run it in the lab guest (native/lab/run.sh): it changes /etc and loads device-mapper"
udevd=/lib/systemd/systemd-udevd
state=/run/lab-multipath

start() {
  command -v multipath >/dev/null && command -v multipathd >/dev/null || fail "multipath/multipathd not found: install Debian's multipath-tools on the host"
  [ -x "$udevd" ] || fail "$udevd not found: install Debian's udev on the host"
  for m in dm_mod dm_multipath dm_service_time scsi_dh_alua; do
    modprobe "$m" 2>/dev/null || [ -d "/sys/module/$m" ] || fail "the kernel module $m could not be loaded (is it in the lab's boot_modules?)"
  done
  if grep -q " /etc/iscsi tmpfs " /proc/mounts; then
    fail "open-iscsi's /etc/iscsi is mounted: start multipath before open-iscsi logs in (or run open-iscsi.sh stop first)"
  fi
  if ! grep -q "^lab-etc /etc overlay " /proc/mounts; then
    mkdir -p "$state/upper" "$state/work"
    mount -t overlay lab-etc -o "lowerdir=/etc,upperdir=$state/upper,workdir=$state/work" /etc ||
      fail "cannot lay a writable overlay over /etc"
  fi
  mkdir -p /etc/multipath
  cat > /etc/multipath.conf <<'CONF'
defaults {
    find_multipaths no
    user_friendly_names no
    path_grouping_policy group_by_prio
    failback immediate
    no_path_retry queue
    polling_interval 2
}
CONF
  if ! pgrep -x systemd-udevd >/dev/null; then
    "$udevd" --daemon --resolve-names=never >/dev/null 2>&1 || fail "udevd did not start"
  fi
  if ! pgrep -x multipathd >/dev/null; then
    multipathd -d -s > "$state/multipathd.log" 2>&1 &
    for ((i = 0; i < 100; i++)); do multipathd show daemon >/dev/null 2>&1 && break; sleep 0.2; done
    multipathd show daemon >/dev/null 2>&1 || { cat "$state/multipathd.log" >&2; fail "multipathd did not start (its log above)"; }
  fi
}

map() {
  [ $# -ge 1 ] || fail "map needs the disks (/dev/sdX ...)"
  local wwid="" d id
  for d in "$@"; do
    id=""
    # udevd names the disk's WWID (ID_SERIAL) once it has processed the disk's add event.
    for ((i = 0; i < 100; i++)); do
      id=$(udevadm info --query=property --name="$d" 2>/dev/null | sed -n 's/^ID_SERIAL=//p')
      [ -n "$id" ] && break; sleep 0.2
    done
    [ -n "$id" ] || fail "udev has no ID_SERIAL for $d (did udevd start before the login?)"
    [ -z "$wwid" ] || [ "$wwid" = "$id" ] || fail "$d has WWID $id, not $wwid: these disks are not paths to one LUN"
    wwid=$id
  done
  multipath -v1 "$@" >/dev/null 2>"$state/multipath.err" || true
  local dm=""
  for ((i = 0; i < 100; i++)); do
    dm=$(readlink -f "/dev/mapper/$wwid" 2>/dev/null || true)
    if [ -b "$dm" ] && [ "$(ls "/sys/block/${dm#/dev/}/slaves" 2>/dev/null | wc -l)" -eq $# ]; then break; fi
    dm=""; multipathd reconfigure >/dev/null 2>&1 || true; sleep 0.3
  done
  [ -n "$dm" ] || { cat "$state/multipath.err" >&2; multipath -ll >&2; fail "no map over $* (WWID $wwid) with all $# paths"; }
  multipath -ll "$wwid" 2>/dev/null
  echo "$dm"
}

# Removes every map, trying again for up to 10 s: right after the last user closes a map, udevd's change-event
# handling (blkid) may still hold it open for a moment ("map in use").
flush_maps() {
  for ((i = 0; i < 20; i++)); do
    multipath -F >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  multipath -F >/dev/null
}

stop() {
  local rc=0
  flush_maps 2>/dev/null || { multipath -ll >&2; echo "multipath.sh: a map could not be flushed (still open?)" >&2; rc=1; }
  pkill -x multipathd 2>/dev/null && for ((i = 0; i < 50; i++)); do pgrep -x multipathd >/dev/null || break; sleep 0.1; done
  pgrep -x systemd-udevd >/dev/null && { udevadm control --exit 2>/dev/null || pkill -x systemd-udevd; }
  if grep -q "^lab-etc /etc overlay " /proc/mounts; then
    umount /etc 2>/dev/null || umount -l /etc || { echo "multipath.sh: cannot remove the overlay over /etc" >&2; rc=1; }
  fi
  rm -rf "$state"
  return $rc
}

command=${1:-}; shift || true
case "$command" in
  start) start ;;
  map) map "$@" ;;
  show) multipath -ll ;;
  flush) flush_maps || { multipath -ll >&2; fail "a map could not be flushed (still open 10 s after the last try)"; } ;;
  stop) stop ;;
  *) fail "usage: multipath.sh start | map DISK... | show | stop" ;;
esac
