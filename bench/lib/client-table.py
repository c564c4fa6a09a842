#!/usr/bin/env python3
"""Prints one target's markdown table from the runs client-run.py recorded, medians over rounds.

    client-table.py DIR TARGET --workloads LABEL... --clients CLIENT... [--reference CLIENT]

DIR/TARGET.I.KEY holds the lines client-run.py printed for workload I (0-based, in --workloads order) and one
client (KEY: the client name with every character other than a letter or digit as "_"), one line per round:
"IOPS P50_US P99_US CPU_US_PER_COMMAND [TARGET_BUSIEST_THREAD_PERCENT TARGET_PERCENT]" ("-" where a client reports
no percentile; the last two, where the bench script sampled them, are how busy the target's busiest thread and the
whole target process were during the run, in percent of one CPU). The libiscsi client is the
reference of the two ratio columns unless --reference names another. Clients with no run for a workload get no row.
"""
import argparse, os, re, statistics

parser = argparse.ArgumentParser()
parser.add_argument("dir")
parser.add_argument("target")
parser.add_argument("--workloads", nargs="+", required=True)
parser.add_argument("--clients", nargs="+", required=True)
parser.add_argument("--reference", default="libiscsi")
args = parser.parse_args()


def runs(i, client):
    path = os.path.join(args.dir, f"{args.target}.{i}.{re.sub(r'[^A-Za-z0-9]', '_', client)}")
    if not os.path.exists(path):
        return []
    return [line.split() + ['-'] * (6 - len(line.split())) for line in open(path) if len(line.split()) in (4, 6)]


def median(rows, column):
    values = [float(r[column]) for r in rows if r[column] != "-"]
    return statistics.median(values) if values else None


def text(value, digits=1):
    return "-" if value is None else (f"{value:.0f}" if digits == 0 else f"{value:.{digits}f}")


ref_name = args.reference.replace("ours:", "")
with_target = any(r[4] != "-" for i in range(len(args.workloads)) for c in args.clients for r in runs(i, c))
extra_head, extra_rule = (" target's busiest thread % | target % |", "---:|---:|") if with_target else ("", "")
print(f"| workload | client | IOPS | p50 µs | p99 µs | CPU µs/cmd | IOPS / {ref_name} | CPU / {ref_name} |{extra_head}")
print(f"|---|---|---:|---:|---:|---:|---:|---:|{extra_rule}")
for i, workload in enumerate(args.workloads):
    reference = runs(i, args.reference)
    ref_iops, ref_cpu = median(reference, 0), median(reference, 3)
    for client in args.clients:
        rows = runs(i, client)
        if not rows:
            continue
        iops, cpu = median(rows, 0), median(rows, 3)
        ratio_iops = ratio_cpu = "-"
        if client != args.reference and ref_iops and ref_cpu:
            ratio_iops, ratio_cpu = f"{iops / ref_iops:.2f}", f"{cpu / ref_cpu:.2f}"
        print(f"| {workload} | {client.replace('ours:', 'ours, ')} | {text(iops, 0)} | {text(median(rows, 1))} | "
              f"{text(median(rows, 2))} | {text(cpu)} | {ratio_iops} | {ratio_cpu} |"
              + (f" {text(median(rows, 4), 0)} | {text(median(rows, 5), 0)} |" if with_target else ""))
