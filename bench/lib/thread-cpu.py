#!/usr/bin/env python3
"""How busy a process and its busiest thread were between two snapshots: the sign that a single-threaded event loop (tgtd's
main thread) is the limit of a run, so no client can go faster against that target.

    thread-cpu.py snapshot PID FILE      records each thread's CPU ticks (user + system) and the time
    thread-cpu.py busiest PID FILE       prints the busiest thread's share of one CPU since the snapshot, and the
                                         whole process's, in percent of one CPU
"""
import os, sys, time

TICKS = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            out[tid] = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError):
            pass
    return out


command, pid, path = sys.argv[1], sys.argv[2], sys.argv[3]
if command == "snapshot":
    with open(path, "w") as f:
        f.write(f"{time.monotonic()}\n")
        for tid, t in ticks(pid).items():
            f.write(f"{tid} {t}\n")
else:
    lines = open(path).read().split("\n")
    start, before = float(lines[0]), dict(l.split() for l in lines[1:] if l)
    elapsed = time.monotonic() - start
    now = ticks(pid)
    deltas = [t - int(before.get(tid, 0)) for tid, t in now.items()]
    busiest, total = max(deltas, default=0), sum(deltas)
    print(f"{100.0 * busiest / TICKS / elapsed:.0f} {100.0 * total / TICKS / elapsed:.0f}")
