#!/usr/bin/env bash
# Proves the lab inside the guest: the rxe device, raw verbs (perftest), rdma_cm (rping,
# rdma_server/rdma_client), a link made silent by a packet filter, and a port event on link down.
# Run it through the lab:  native/lab/run.sh native/lab/selftest.sh
# Prints one "PASS name" or "FAIL name: why" line per check and exits 1 if any check failed.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/guest-lib.sh"

addr=${LAB_RDMA_ADDR:-169.254.10.1}
dev=${LAB_RDMA_DEVICE:-rxe0}
failures=0
logdir=$(mktemp -d /tmp/selftest.XXXXXX)

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
show() { sed 's/^/    /' "$1"; }

# --- device ------------------------------------------------------------------------------
if rdma link show > "$logdir/link" 2>&1 && grep -q "rxe0/1 state ACTIVE" "$logdir/link"; then
  pass "rdma link: $(head -n1 "$logdir/link")"
else fail "rdma link" "$(cat "$logdir/link")"; fi

if ibv_devices > "$logdir/devices" 2>&1 && grep -q "$dev" "$logdir/devices"; then pass "ibv_devices lists $dev"
else fail "ibv_devices" "$(cat "$logdir/devices")"; fi

if ibv_devinfo -v -d "$dev" > "$logdir/devinfo" 2>&1 && grep -q "PORT_ACTIVE" "$logdir/devinfo"; then
  pass "ibv_devinfo: port active, $(grep -m1 active_mtu "$logdir/devinfo" | xargs), $(grep "$addr" "$logdir/devinfo" | xargs)"
else fail "ibv_devinfo" "$(cat "$logdir/devinfo")"; fi

gid=$(lab_gid_index "$dev" "$addr")
[ -n "$gid" ] && pass "RoCE v2 GID index for $addr is $gid" || fail "gid index" "no RoCE v2 GID for $addr"

# --- raw verbs: perftest server and client on the same rxe device ---------------------------
port=18515
for t in "ib_send_lat -s 2 -n 1000" "ib_write_bw -s 65536 -n 1000" "ib_read_bw -s 65536 -n 1000"; do
  port=$((port + 1))
  name=${t%% *}
  # shellcheck disable=SC2086
  if lab_perftest_pair "$logdir/$name" "$port" $t -d "$dev" -x "$gid"; then
    pass "$name: $(lab_perftest_figure "$logdir/$name.client")"
  else
    fail "$name" "server: $(tail -n3 "$logdir/$name.server" | xargs) client: $(tail -n3 "$logdir/$name.client" | xargs)"
  fi
done

# --- rdma_cm -------------------------------------------------------------------------------
rping -s -a "$addr" -p 7471 -C 10 > "$logdir/rping.server" 2>&1 &
spid=$!
if lab_retry 20 rping -c -a "$addr" -p 7471 -C 10 -S 64 -V -v > "$logdir/rping.client" 2>&1 \
   && [ "$(grep -c 'ping data' "$logdir/rping.client")" -eq 10 ]; then
  wait "$spid"; pass "rping over rdma_cm: 10 validated pings"
else
  kill "$spid" 2>/dev/null; fail "rping" "$(tail -n3 "$logdir/rping.client" | xargs)"
fi

rdma_server -s "$addr" -p 7472 > "$logdir/rdma_server" 2>&1 &
spid=$!
if lab_retry 20 rdma_client -s "$addr" -p 7472 > "$logdir/rdma_client" 2>&1 && wait "$spid"; then
  pass "rdma_server/rdma_client: client \"$(xargs < "$logdir/rdma_client")\", server \"$(xargs < "$logdir/rdma_server")\""
else
  kill "$spid" 2>/dev/null
  fail "rdma_server/rdma_client" "client: $(xargs < "$logdir/rdma_client") server: $(xargs < "$logdir/rdma_server")"
fi

# --- the wire: rxe_wire0 (169.254.11.1) -> veth -> rxe_wire1 (169.254.11.2) -----------------
w0=${LAB_WIRE_ADDR0:-169.254.11.1}; w1=${LAB_WIRE_ADDR1:-169.254.11.2}
wd0=${LAB_WIRE_DEVICE0:-rxe_wire0}; wd1=${LAB_WIRE_DEVICE1:-rxe_wire1}
wg0=$(lab_gid_index "$wd0" "$w0"); wg1=$(lab_gid_index "$wd1" "$w1")
wire_server="-d $wd1 -x $wg1"; wire_client="-d $wd0 -x $wg0"
if lab_perftest_pair_on "$logdir/wire_lat" 18620 "$w1" "$wire_server" "$wire_client" ib_send_lat -s 2 -n 1000; then
  pass "ib_send_lat over the wire: $(lab_perftest_figure "$logdir/wire_lat.client")"
else fail "ib_send_lat over the wire" "$(tail -n3 "$logdir/wire_lat.client" | xargs)"; fi

# netem on the wire adds latency that verbs see (rxe0's traffic never reaches a qdisc).
if tc qdisc add dev wire0 root netem delay 5ms \
   && lab_perftest_pair_on "$logdir/wire_netem" 18621 "$w1" "$wire_server" "$wire_client" ib_send_lat -s 2 -n 100; then
  pass "netem delay 5ms on wire0: $(lab_perftest_figure "$logdir/wire_netem.client")"
else fail "netem on the wire" "$(tail -n3 "$logdir/wire_netem.client" | xargs)"; fi
tc qdisc del dev wire0 root 2>/dev/null

# A silent link: drop RoCE v2 (UDP 4791) mid-stream. Expected: traffic stops, no port event and
# no error reach the application (rxe 6.1 keeps retransmitting and, as measured here, never
# reports retry-exceeded), and traffic resumes once the link heals. Drop on input (packets lost
# on the way): a drop on output makes rxe's send fail locally and it resends at once, in a
# busy loop (31 million drops in 300 s measured), starving the guest.
timeout 600 rping -s -a "$w1" -p 7473 -C 0 > "$logdir/silent.server" 2>&1 &
spid=$!
pings() { grep -c 'ping data' "$logdir/silent.client"; }
if lab_retry 20 lab_rping_started "$logdir/silent.client" "$w1" 7473 "$w0"; then
  cpid=$(cat "$logdir/silent.client.pid")
  sleep 2
  nft -f - <<'NFT'
table inet lab_silence {
  chain in { type filter hook input priority 0; udp dport 4791 counter drop; }
}
NFT
  nft_rc=$?
  sleep 3; stalled_at=$(pings)
  sleep 15; still=$(pings)
  dropped=$(nft list table inet lab_silence | grep -o 'packets [0-9]*' | head -n1)
  alive=no; kill -0 "$cpid" 2>/dev/null && alive=yes
  nft delete table inet lab_silence
  resumed=$still
  for ((i = 0; i < 60 && resumed == still; i++)); do sleep 1; resumed=$(pings); done
  if [ $nft_rc -ne 0 ]; then fail "silent link" "the nft rule was refused"
  elif [ "$still" -ne "$stalled_at" ] || [ "$alive" != yes ]; then
    fail "silent link" "pings $stalled_at -> $still during the drop, rping alive: $alive: $(grep -v 'ping data' "$logdir/silent.client" | head -n2 | xargs)"
  else
    pass "silent link (nft input drop udp 4791 on the wire, $dropped dropped): pings stalled at $stalled_at for 15 s, rping saw no error"
    if [ "$resumed" -gt "$still" ]; then pass "healed link: pings resumed ($still -> $resumed) within $i s of removing the rule"
    else fail "healed link" "pings did not resume within 60 s of removing the rule"; fi
  fi
  lab_stop "$cpid"
else
  fail "silent link" "rping over the wire did not start: $(tail -n2 "$logdir/silent.client" | xargs)"
fi
lab_stop "$spid"
nft delete table inet lab_silence 2>/dev/null

# iptables (nf_tables backend) takes the same rule.
if iptables -A INPUT -p udp --dport 4791 -j DROP && iptables -S INPUT | grep -q 'dport 4791 -j DROP' \
   && iptables -D INPUT -p udp --dport 4791 -j DROP; then
  pass "iptables accepts and removes INPUT -p udp --dport 4791 -j DROP"
else fail "iptables" "rule not accepted"; fi

# --- port event on link down ---------------------------------------------------------------
ibv_asyncwatch -d "$dev" > "$logdir/async" 2>&1 &
apid=$!
sleep 2
ip link set dummy0 down
sleep 2
state_down=$(rdma link show rxe0/1 | grep -o 'state [A-Z]*' | head -n1)
ip link set dummy0 up
sleep 2
kill "$apid" 2>/dev/null; wait "$apid" 2>/dev/null
if grep -q 'PORT_ERR' "$logdir/async" && grep -q 'PORT_ACTIVE' "$logdir/async"; then
  pass "port events on dummy0 down/up: $(grep -o 'IBV_EVENT_[A-Z_]*' "$logdir/async" | xargs) ($state_down while down)"
else fail "port events" "$(xargs < "$logdir/async")"; fi

# After the link came back, verbs work again.
if lab_perftest_pair "$logdir/again" 18600 ib_send_lat -s 2 -n 200 -d "$dev" -x "$gid"; then
  pass "verbs work again after link up: $(lab_perftest_figure "$logdir/again.client")"
else fail "verbs after link up" "$(tail -n3 "$logdir/again.client" | xargs)"; fi

echo "selftest: $failures failure(s)"
[ $failures -eq 0 ]
