#!/usr/bin/env python3
"""CPU time of the processes in a benchmark, from /proc, for bench/run.

    cpu.py NAME=PGID ... > FILE.json

Sums user + system time over every process whose process group is PGID
(bench/run starts each server with setsid, so a group is a server with its
workers: nginx's, and all of tollgated's threads in one process), and adds
two system services by process name: `pg-server` (every PostgreSQL
backend) and `redis-server`. bench/lib/report.py turns the snapshots taken
before and after a cell into CPU microseconds per request for each name,
which tells what bounds a throughput figure on a machine where everything
shares the same cores.
"""

import json
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")
BY_NAME = {"pg-server": ("postgres",), "redis-server": ("redis-server",)}


def processes():
    """(pid, command name, process group, cpu ticks) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # the command name is in parentheses and may hold spaces
        lpar, rpar = stat.find("("), stat.rfind(")")
        comm = stat[lpar + 1:rpar]
        fields = stat[rpar + 2:].split()
        # fields[0] is the state (stat's 3rd field): pgrp is the 5th, utime
        # and stime the 14th and 15th
        pgrp, utime, stime = int(fields[2]), int(fields[11]), int(fields[12])
        yield int(entry), comm, pgrp, utime + stime


def snapshot(pairs):
    groups = {}
    for pair in pairs:
        name, _, pgid = pair.partition("=")
        groups[int(pgid)] = name
    ticks = {name: 0 for name in list(groups.values()) + list(BY_NAME)}
    for _pid, comm, pgrp, cpu in processes():
        if pgrp in groups:
            ticks[groups[pgrp]] += cpu
        for name, comms in BY_NAME.items():
            if comm in comms:
                ticks[name] += cpu
    return {"tick_hz": TICK, "ticks": ticks}


def main():
    if len(sys.argv) < 2 or any("=" not in a for a in sys.argv[1:]):
        sys.exit(__doc__)
    json.dump(snapshot(sys.argv[1:]), sys.stdout)


if __name__ == "__main__":
    main()
