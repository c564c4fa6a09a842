#!/usr/bin/env python3
"""Runs one benchmark client and prints one line: "IOPS P50_US P99_US CPU_US_PER_COMMAND".

    client-run.py ours|libiscsi SECONDS -- COMMAND [ARG...]

CPU time per command: for `ours` (`iser perf ... --json`) the process's own user + system time over the measured
window (cpuMicrosecondsPerCommand: the ramp, the runtime's start and JIT and the login are left out); for `libiscsi`
(`iscsi-perf ...`) the child's user + system time from getrusage over its whole run (a small C program: its start
and login are a few ms) divided by its commands = its average IOPS x SECONDS. iscsi-perf prints no percentiles:
"-" stands for them.
Prints nothing and exits 1 when the client failed; its output goes to stderr then.
"""
import json, re, resource, subprocess, sys

kind, seconds = sys.argv[1], float(sys.argv[2])
command = sys.argv[sys.argv.index("--") + 1:]
before = resource.getrusage(resource.RUSAGE_CHILDREN)
try:
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=seconds + 90)
except subprocess.TimeoutExpired:
    print(f"{command[0]} did not finish within {seconds + 90:.0f} s", file=sys.stderr)
    sys.exit(1)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
out = run.stdout.decode(errors="replace")
try:
    if kind == "ours":
        r = json.loads(out)
        iops, commands = r["iops"], r["commands"]
        p50, p99 = r["latencyMicroseconds"]["p50"], r["latencyMicroseconds"]["p99"]
        cpu = r["cpuMicrosecondsPerCommand"] * commands / 1e6
    else:
        found = re.findall(r"iops average (\d+)", out.replace("\r", "\n"))
        iops = float(found[-1])
        commands, p50, p99 = iops * seconds, "-", "-"
except (ValueError, KeyError, IndexError):
    sys.stderr.write(out + run.stderr.decode(errors="replace"))
    print(f"{command[0]} exited {run.returncode} without a result", file=sys.stderr)
    sys.exit(1)
print(round(iops), p50, p99, f"{cpu * 1e6 / max(commands, 1):.1f}")
