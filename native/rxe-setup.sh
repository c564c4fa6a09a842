#!/bin/bash
# Soft-RoCE on one Linux host, for `iser demo --transport iser` and `iser target --iser` without an RDMA NIC:
#   sudo native/rxe-setup.sh up       load rdma_rxe, make a dummy interface with an address and an rxe device on it
#   sudo native/rxe-setup.sh down     remove the rxe device and the dummy interface (the modules stay loaded)
#   native/rxe-setup.sh status        what is there now
# Names and the address can be changed: RXE_NETDEV (default iserdummy0), RXE_DEVICE (rxe_iser0),
# RXE_ADDRESS (192.168.177.1/24). See docs/rdma-rxe.md.
set -euo pipefail

netdev=${RXE_NETDEV:-iserdummy0}
device=${RXE_DEVICE:-rxe_iser0}
address=${RXE_ADDRESS:-192.168.177.1/24}

fail() { echo "rxe-setup: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || fail "run as root (sudo $0 $1): loading modules and adding links needs it"
}

need_tools() {
    command -v ip >/dev/null || fail "'ip' not found: install iproute2"
    command -v rdma >/dev/null || fail "'rdma' not found: install iproute2 (5.1 or later has the rdma tool)"
    command -v modprobe >/dev/null || fail "'modprobe' not found: install kmod"
}

up() {
    need_root up
    need_tools
    if [ ! -d /sys/module/rdma_rxe ]; then
        modprobe rdma_rxe || fail "cannot load rdma_rxe: this kernel ($(uname -r)) needs CONFIG_RDMA_RXE (on Ubuntu: linux-modules-extra-$(uname -r)); a container cannot load modules, the host must"
    fi
    # rdma_ucm makes /dev/infiniband/rdma_cm, which librdmacm opens; often loaded already with rdma_cm.
    [ -e /dev/infiniband/rdma_cm ] || modprobe rdma_ucm || fail "cannot load rdma_ucm (no /dev/infiniband/rdma_cm for librdmacm)"
    if [ ! -e "/sys/class/net/$netdev" ]; then
        modprobe dummy numdummies=0 2>/dev/null || true
        ip link add "$netdev" type dummy || fail "cannot create the dummy interface $netdev (kernel without CONFIG_DUMMY?)"
    fi
    ip link set "$netdev" up
    ip -4 addr show dev "$netdev" | grep -q "inet ${address%/*}/" || ip addr add "$address" dev "$netdev"
    if [ ! -e "/sys/class/infiniband/$device" ]; then
        rdma link add "$device" type rxe netdev "$netdev" || fail "rdma link add $device type rxe netdev $netdev failed"
    fi
    status
    echo "Now: iser demo --transport iser   (as a user other than root, also: ulimit -l unlimited, and access to /dev/infiniband)"
}

down() {
    need_root down
    need_tools
    if [ -e "/sys/class/infiniband/$device" ]; then rdma link delete "$device"; fi
    if [ -e "/sys/class/net/$netdev" ]; then ip link delete "$netdev"; fi
    echo "removed $device and $netdev (rdma_rxe and rdma_ucm stay loaded: modprobe -r rdma_rxe to unload)"
}

status() {
    echo "rdma_rxe: $([ -d /sys/module/rdma_rxe ] && echo loaded || echo 'not loaded')"
    local devices
    devices=$(ls /sys/class/infiniband 2>/dev/null | tr '\n' ' ' || true)
    echo "RDMA devices: ${devices:-none}"
    if [ -e "/sys/class/net/$netdev" ]; then
        echo "$netdev: $(ip -4 -o addr show dev "$netdev" | awk '{print $4}' | tr '\n' ' ')($(cat "/sys/class/net/$netdev/operstate"))"
    else
        echo "$netdev: absent"
    fi
    if command -v rdma >/dev/null; then rdma link show 2>/dev/null || true; fi
    echo "/dev/infiniband/rdma_cm: $([ -e /dev/infiniband/rdma_cm ] && ls -l /dev/infiniband/rdma_cm | awk '{print $1, $3, $4}' || echo absent)"
    echo "ulimit -l: $(ulimit -l)"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
