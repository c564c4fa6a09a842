#!/usr/bin/env python3
"""Splits a `perf report --sort pid,dso -g none` of a client-and-target run into idle, target and client shares.

    perf-split.py NAME.dso.txt TARGET_PID

Threads are attributed through the .NET perf map ("[JIT] tid PID" names the process a managed thread belongs to);
a thread with no managed code belongs to the client if it is iscsi-perf or newer than the client's process, else to
the target. Prints one line: idle, target (its kernel part), client (kernel, user), and the client's CPU per command
in units of the target's (the target does the same work per command whatever the client).
"""
import os, re, sys

path, target = sys.argv[1], int(sys.argv[2])
rows = []
for line in open(path):
    m = re.match(r"\s+([\d.]+)%\s+(\d+):(.*?)\s{2,}(\S.*?)\s*$", line)
    if m:
        rows.append((float(m[1]), int(m[2]), m[3].strip(), m[4]))
owner = {t: int(m[1]) for _, t, _, d in rows if (m := re.search(r"\[JIT\] tid (\d+)", d))}
clients = [p for p in owner.values() if p != target]
client_pid = min(clients) if clients else None
share = {}
for pct, tid, comm, dso in rows:
    if tid == 0:
        who = "idle"
    elif tid < 100 or comm.startswith("ksoftirq"):
        who = "kthreads"
    elif comm in ("sleep", "perf"):
        who = "perf"
    elif comm == "iscsi-perf":
        who = "client"
    elif tid in owner:
        who = "target" if owner[tid] == target else "client"
    else:
        who = "client" if client_pid and tid >= client_pid else "target"
    kind = "kernel" if "kernel" in dso else "user"
    share[who, kind] = share.get((who, kind), 0) + pct
g = lambda who, kind: share.get((who, kind), 0.0)
t, c = g("target", "kernel") + g("target", "user"), g("client", "kernel") + g("client", "user")
name = os.path.basename(path).removesuffix(".dso.txt")
if t == 0:
    sys.exit(f"{name}: no target samples in {path}")
print(f"{name:18s} idle {g('idle', 'kernel'):5.1f}  target {t:5.1f} (kernel {g('target', 'kernel'):4.1f})  "
      f"client {c:5.1f} (kernel {g('client', 'kernel'):4.1f}, user {g('client', 'user'):4.1f})  "
      f"client per command / target's: {c / t:.2f} (kernel {g('client', 'kernel') / t:.2f}, user {g('client', 'user') / t:.2f})")
