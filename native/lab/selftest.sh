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

# A silent link: drop RoCE v2 (UDP 4791) mid-stream. No port event; the QP has to time out
# (transport retries exceeded) and rping reports the failed completion. Drop on input (packets
# lost on the way): a drop on output makes rxe's send fail locally and it resends at once,
# forever, without ever counting a retry.
timeout 600 rping -s -a "$w1" -p 7473 -C 0 > "$logdir/silent.server" 2>&1 &
spid=$!
if lab_retry 20 lab_rping_started "$logdir/silent.client" "$w1" 7473 "$w0"; then
  cpid=$(cat "$logdir/silent.client.pid")
  sleep 2
  before=$(grep -c 'ping data' "$logdir/silent.client")
  start=$(date +%s.%N)
  nft -f - <<'NFT'
table inet lab_silence {
  chain in { type filter hook input priority 0; udp dport 4791 counter drop; }
}
NFT
  nft_rc=$?
  waited=0
  while kill -0 "$cpid" 2>/dev/null && [ $waited -lt 300 ]; do sleep 1; waited=$((waited + 1)); done
  end=$(date +%s.%N)
  dropped=$(nft list table inet lab_silence | grep -o 'packets [0-9]*' | head -n1)
  if [ $nft_rc -ne 0 ]; then fail "silent link" "the nft rule was refused"
  elif kill -0 "$cpid" 2>/dev/null; then
    lab_stop "$cpid"; fail "silent link (nft drop udp 4791)" "rping still running 300 s after the drop rule ($dropped dropped)"
  else
    after=$(grep -c 'ping data' "$logdir/silent.client")
    why=$(grep -v 'ping data' "$logdir/silent.client" | head -n2 | xargs)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    pass "silent link (nft input drop udp 4791 on the wire, $dropped dropped): pings $before before the rule, $after in all; rping failed ${secs} s later: $why"
  fi
else
  fail "silent link" "rping over the wire did not start: $(tail -n2 "$logdir/silent.client" | xargs)"
fi
lab_stop "$spid"
nft delete table inet lab_silence 2>/dev/null

# iptables (nf_tables backend) drops it as well: perftest's TCP handshake passes, its verbs fail.
if iptables -A INPUT -p udp --dport 4791 -j DROP; then
  timeout 120 ib_send_lat $wire_server -s 2 -n 20 -p 18622 > "$logdir/wire_ipt.server" 2>&1 &
  spid=$!
  sleep 3
  timeout 120 ib_send_lat $wire_client -s 2 -n 20 -p 18622 "$w1" > "$logdir/wire_ipt.client" 2>&1
  ipt_rc=$?
  lab_stop "$spid"
  if [ $ipt_rc -ne 0 ] && [ $ipt_rc -ne 124 ] && grep -qi 'completion' "$logdir/wire_ipt.client"; then
    pass "iptables INPUT -j DROP on udp 4791 stops verbs on the wire: $(grep -m1 -i 'completion' "$logdir/wire_ipt.client" | xargs)"
  else fail "iptables" "exit $ipt_rc: $(tail -n3 "$logdir/wire_ipt.client" | xargs)"; fi
else fail "iptables" "rule not accepted"; fi
iptables -D INPUT -p udp --dport 4791 -j DROP 2>/dev/null

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
