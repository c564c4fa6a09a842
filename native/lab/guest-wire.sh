#!/bin/sh
# The lab's "wire": rdma devices rxe_wire0 and rxe_wire1 on the two ends of a veth pair,
# 169.254.11.1 and 169.254.11.2. rxe0 on dummy0 hands packets to its own address straight back
# inside the driver (destination MAC == own MAC), so no packet filter or qdisc ever sees them.
# Here both addresses are local too, so policy routing sends each end's traffic out of its own
# veth and delivers what arrives on a veth locally: RoCE v2 (UDP 4791) really crosses
# wire0 -> wire1, where nftables/iptables can drop it and netem can delay it.
# Runs in the chroot (host's iproute2 and rdma tools), from the guest's /init.
set -e
ip link add wire0 type veth peer name wire1
ip addr add 169.254.11.1/32 dev wire0
ip addr add 169.254.11.2/32 dev wire1
for d in all default wire0 wire1; do
  # Packets whose source is one of our own addresses must not be discarded as martians.
  sysctl -qw net.ipv4.conf.$d.accept_local=1 net.ipv4.conf.$d.rp_filter=0
done
ip link set wire0 up
ip link set wire1 up
# Rules: what arrives on a wire end is local; what is sent to the other end leaves by its own
# wire end (also for rdma_cm's route check, which looks up without an input interface).
ip rule add pref 1000 lookup local
ip rule del pref 0 lookup local
ip rule add pref 5 iif wire0 lookup local
ip rule add pref 6 iif wire1 lookup local
ip rule add pref 10 to 169.254.11.2 lookup 110
ip rule add pref 11 to 169.254.11.1 lookup 111
ip route add 169.254.11.2/32 dev wire0 src 169.254.11.1 table 110
ip route add 169.254.11.1/32 dev wire1 src 169.254.11.2 table 111
ip neigh replace 169.254.11.2 lladdr "$(cat /sys/class/net/wire1/address)" dev wire0 nud permanent
ip neigh replace 169.254.11.1 lladdr "$(cat /sys/class/net/wire0/address)" dev wire1 nud permanent
rdma link add rxe_wire0 type rxe netdev wire0
rdma link add rxe_wire1 type rxe netdev wire1
