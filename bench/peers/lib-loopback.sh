# Shared by the peer bench scripts (sourced): loopback ports and tgtd shutdown.

# A loopback port nothing answers on (bash's /dev/tcp connect fails on a free port).
free_port() {
    local port
    for _ in $(seq 50); do
        port=$(( 20000 + RANDOM % 20000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
    echo "No free loopback port found." >&2; return 1
}

wait_listening() { # port pid seconds
    local deadline=$(( $(date +%s) + $3 ))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

stop_tgtd() { # pid control-port
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
    # tgtd ignores SIGTERM: delete the target, then the system (shared/LAB.md).
    tgtadm -C "$2" --lld iscsi --op delete --force --mode target --tid 1 >/dev/null 2>&1 || true
    tgtadm -C "$2" --op delete --mode system >/dev/null 2>&1 || true
    for _ in $(seq 20); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}
