# Helpers for scripts that run inside the lab guest (sourced, bash).

# Index of the RoCE v2 GID that carries IPv4 address $2 on device $1 (port 1).
lab_gid_index() {
  local dev=$1 addr=$2 hex f i
  hex=$(printf '%02x%02x:%02x%02x' $(echo "$addr" | tr . ' '))
  for f in /sys/class/infiniband/"$dev"/ports/1/gids/*; do
    i=${f##*/}
    [ "$(cat "$f" 2>/dev/null)" = "0000:0000:0000:0000:0000:ffff:$hex" ] || continue
    [ "$(cat /sys/class/infiniband/"$dev"/ports/1/gid_attrs/types/"$i" 2>/dev/null)" = "RoCE v2" ] || continue
    echo "$i"; return 0
  done
  return 1
}

# lab_retry N CMD...: run CMD until it succeeds, at most N times, a second apart.
lab_retry() {
  local n=$1 i; shift
  for ((i = 1; i <= n; i++)); do "$@" && return 0; sleep 1; done
  return 1
}

# lab_perftest_pair PREFIX PORT TOOL ARGS...: a perftest server in the background and its
# client (retried until the server listens) on rxe0's address. Output in PREFIX.server/.client.
lab_perftest_pair() {
  local prefix=$1 port=$2; shift 2
  lab_perftest_pair_on "$prefix" "$port" "${LAB_RDMA_ADDR:-169.254.10.1}" "" "" "$@"
}

# lab_perftest_pair_on PREFIX PORT SERVER_ADDR "SERVER_OPTS" "CLIENT_OPTS" TOOL ARGS...: the same
# with per-side options (e.g. "-d rxe_wire1 -x 1" and "-d rxe_wire0 -x 1" for the wire).
lab_perftest_pair_on() {
  local prefix=$1 port=$2 addr=$3 sopts=$4 copts=$5 spid; shift 5
  # shellcheck disable=SC2086
  timeout 300 "$@" $sopts -p "$port" > "$prefix.server" 2>&1 &
  spid=$!
  # shellcheck disable=SC2086
  if ! lab_retry 30 timeout 300 "$@" $copts -p "$port" "$addr" > "$prefix.client" 2>&1; then
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; return 1
  fi
  wait "$spid"
}

# The result line of a perftest report, labelled.
lab_perftest_figure() {
  awk '
    /t_typical/ { lat = 1; getline; if (NF >= 9) printf "%s B x %s: typical %s us, avg %s us, min %s us, max %s us, 99%% %s us, 99.9%% %s us\n", $1, $2, $5, $6, $3, $4, $8, $9; exit }
    /BW average/ { getline; if (NF >= 5) printf "%s B x %s: average %s MB/s, peak %s MB/s, %s Mpps\n", $1, $2, $4, $3, $5; exit }
  ' "$1"
}

# lab_rping_started LOG ADDR PORT [SRC]: starts an endless rping client (64 B, verbose) in the
# background; succeeds once pings flow.
# Writes the client pid to LOG.pid. Fails (for lab_retry) if the client died before pinging.
lab_rping_started() {
  local log=$1 addr=$2 port=$3 src=${4:-} pid i
  rping -c -a "$addr" ${src:+-I "$src"} -p "$port" -C 0 -S 64 -v > "$log" 2>&1 &
  pid=$!
  echo "$pid" > "$log.pid"
  for ((i = 0; i < 50; i++)); do
    grep -q 'ping data' "$log" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  kill "$pid" 2>/dev/null; return 1
}

# lab_stop PID...: TERM, then KILL after 5 s, then reap.
lab_stop() {
  local p i
  for p in "$@"; do
    kill "$p" 2>/dev/null || continue
    for ((i = 0; i < 25; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  return 0
}
