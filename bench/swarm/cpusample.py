#!/usr/bin/env python3
"""Samples the machine's CPU use once a second until killed.

Writes one line per second to the file given as argv[1]:
    <unix time> <busy %> <softirq %> <iowait %> <steal %>
where busy counts everything but idle and iowait, over all CPUs, and the
percentages are of the whole machine (100 = every core busy).
"""
import signal
import sys
import time


def read_cpu():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    fields += [0] * (8 - len(fields))
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    total = user + nice + system + idle + iowait + irq + softirq + steal
    busy = user + nice + system + irq + softirq + steal
    return total, busy, softirq, iowait, steal


def main():
    out = open(sys.argv[1], "a", buffering=1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    prev = read_cpu()
    while True:
        time.sleep(1)
        cur = read_cpu()
        d = [c - p for c, p in zip(cur, prev)]
        prev = cur
        total = max(d[0], 1)
        out.write("%.3f %.1f %.1f %.1f %.1f\n" % (
            time.time(), 100 * d[1] / total, 100 * d[2] / total,
            100 * d[3] / total, 100 * d[4] / total))


if __name__ == "__main__":
    main()
