#!/usr/bin/env bash
# Linux's own iSCSI initiator (open-iscsi: iscsid + the kernel's iscsi_tcp or ib_iser) in the soft-RoCE guest, driven
# for tests. The guest's /etc is this machine's, read-only: the node database goes to a tmpfs laid over /etc/iscsi.
#
#   open-iscsi.sh login  --portal ADDR:PORT --iqn IQN --transport tcp|iser [--initiator-name IQN]
#                        [--chap USER:SECRET [--chap-algs SHA256,MD5]]     prints the attached disk (/dev/sdX) last
#   open-iscsi.sh logout --portal ADDR:PORT --iqn IQN --transport tcp|iser [--initiator-name IQN]
# --initiator-name logs in through an interface record of its own carrying that name, so one guest can be two
# initiators (two I_T nexuses to one LUN). --chap-algs is open-iscsi's node.session.auth.chap_algs.
#   open-iscsi.sh stop                                                         stops iscsid, unmounts the tmpfs
# Every failure says what failed and exits 1.
set -uo pipefail
PATH="$PATH:/usr/sbin:/sbin"
fail() { echo "open-iscsi.sh: $*" >&2; exit 1; }
command=${1:-}; shift || true
portal="" iqn="" transport=tcp initiator="" chap="" chap_algs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --portal) portal=$2; shift 2 ;;
    --iqn) iqn=$2; shift 2 ;;
    --transport) transport=$2; shift 2 ;;
    --initiator-name) initiator=$2; shift 2 ;;
    --chap) chap=$2; shift 2 ;;
    --chap-algs) chap_algs=$2; shift 2 ;;
    *) fail "unknown argument '$1'" ;;
  esac
done
iface=$([ "$transport" = iser ] && echo iser || echo default)
# An initiator name of its own: an interface record named after it (and the transport).
[ -z "$initiator" ] || iface="t$(printf '%s' "$transport $initiator" | md5sum | cut -c1-12)"

make_iface() {
  [ -n "$initiator" ] || return 0
  iscsiadm -m iface -I "$iface" >/dev/null 2>&1 && return 0
  iscsiadm -m iface -I "$iface" -o new >/dev/null || fail "iscsiadm could not create the interface record $iface"
  iscsiadm -m iface -I "$iface" -o update -n iface.transport_name -v "$transport" >/dev/null &&
    iscsiadm -m iface -I "$iface" -o update -n iface.initiatorname -v "$initiator" >/dev/null ||
    fail "iscsiadm could not set $transport and $initiator on the interface record $iface"
}

node_set() { # name value
  iscsiadm -m node -T "$iqn" -p "$portal" -I "$iface" -o update -n "$1" -v "$2" >/dev/null || fail "iscsiadm could not set $1 on the node record"
}

prepare() {
  command -v iscsiadm >/dev/null && command -v iscsid >/dev/null || fail "iscsiadm/iscsid not found: install Debian's open-iscsi on the host"
  if ! grep -q " /etc/iscsi tmpfs " /proc/mounts; then
    local saved; saved=$(mktemp -d)
    cp -a /etc/iscsi/. "$saved"/ 2>/dev/null || true
    mount -t tmpfs open-iscsi /etc/iscsi || fail "cannot mount a tmpfs over /etc/iscsi"
    cp -a "$saved"/. /etc/iscsi/ 2>/dev/null || true
    [ -f /etc/iscsi/iscsid.conf ] || : > /etc/iscsi/iscsid.conf
  fi
  echo "InitiatorName=iqn.2026-12.org.example:open-iscsi" > /etc/iscsi/initiatorname.iscsi
  for m in scsi_transport_iscsi libiscsi iscsi_tcp ib_iser sd_mod; do modprobe "$m" 2>/dev/null || true; done
  [ -d /sys/module/iscsi_tcp ] || fail "the kernel module iscsi_tcp is not loaded"
  [ "$transport" != iser ] || [ -d /sys/module/ib_iser ] || fail "the kernel module ib_iser is not loaded"
  if ! pgrep -x iscsid >/dev/null; then
    mkdir -p /run/lock/iscsi /var/lock/iscsi 2>/dev/null || true
    iscsid || fail "iscsid did not start"
    for _ in $(seq 50); do iscsiadm -m session >/dev/null 2>&1; [ $? -ne 20 ] && break; sleep 0.1; done
  fi
}

case "$command" in
  login)
    [ -n "$portal" ] && [ -n "$iqn" ] || fail "login needs --portal and --iqn"
    prepare
    make_iface
    iscsiadm -m node -o new -T "$iqn" -p "$portal" -I "$iface" >/dev/null || fail "iscsiadm could not create the node record for $iqn at $portal ($iface)"
    if [ -n "$chap" ]; then
      node_set node.session.auth.authmethod CHAP
      node_set node.session.auth.username "${chap%%:*}"
      node_set node.session.auth.password "${chap#*:}"
      [ -z "$chap_algs" ] || node_set node.session.auth.chap_algs "$chap_algs"
    fi
    iscsiadm -m node -T "$iqn" -p "$portal" -I "$iface" --login || fail "open-iscsi's login to $iqn at $portal over $transport failed"
    disk=""
    sid=$(iscsiadm -m session 2>/dev/null | awk -v t="$iqn" -v p="$portal" '$4 == t && index($3, p) == 1 { gsub(/[\[\]]/, "", $2); print $2 }' | tail -1)
    for _ in $(seq 300); do
      disk=$(iscsiadm -m session -r "${sid:-0}" -P 3 2>/dev/null | awk '/Attached scsi disk/ { print $4; exit }')
      [ -n "$disk" ] && [ -b "/dev/$disk" ] && break
      sleep 0.1
    done
    [ -n "$disk" ] && [ -b "/dev/$disk" ] || { iscsiadm -m session -P 3 >&2; fail "no disk appeared for the session with $iqn"; }
    echo "/dev/$disk"
    ;;
  logout)
    iscsiadm -m node -T "$iqn" -p "$portal" -I "$iface" --logout || fail "open-iscsi's logout from $iqn at $portal failed"
    iscsiadm -m node -o delete -T "$iqn" -p "$portal" -I "$iface" >/dev/null 2>&1 || true
    ;;
  stop)
    iscsiadm -m session >/dev/null 2>&1 && iscsiadm -m node --logoutall=all >/dev/null 2>&1
    pkill -x iscsid 2>/dev/null; sleep 0.5
    grep -q " /etc/iscsi tmpfs " /proc/mounts && umount /etc/iscsi
    exit 0
    ;;
  *) fail "usage: open-iscsi.sh login|logout|stop [--portal ADDR:PORT --iqn IQN --transport tcp|iser]" ;;
esac
