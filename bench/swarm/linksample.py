#!/usr/bin/env python3
"""Samples every emulated host's link once a second until killed.

    linksample.py OUT BRIDGE_NAMESPACE

Reads the counters of the bridge-side end of each host's veth pair (one
`ip -s -j link show` in the bridge namespace per sample) and writes one
line per host and sample to OUT:
    <unix time> <host> <bytes the host sent> <bytes the host received>
(Ethernet frames, headers included: what tbf counts against the rate).
The bridge-side end receives what the host uploads and transmits what it
downloads.
"""
import json
import signal
import subprocess
import sys
import time


def sample(namespace):
    out = subprocess.run(["ip", "-n", namespace, "-s", "-j", "link", "show"],
                         capture_output=True, text=True, check=False).stdout
    try:
        links = json.loads(out or "[]")
    except json.JSONDecodeError:
        return []
    rows = []
    for link in links:
        name = link.get("ifname", "")
        stats = link.get("stats64") or link.get("stats") or {}
        if name in ("lo", "br0") or "rx" not in stats:
            continue
        rows.append((name, stats["rx"]["bytes"], stats["tx"]["bytes"]))
    return rows


def main():
    out = open(sys.argv[1], "a", buffering=1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        now = time.time()
        for name, host_sent, host_received in sample(sys.argv[2]):
            out.write("%.3f %s %d %d\n" % (now, name, host_sent, host_received))
        time.sleep(max(0.0, 1.0 - (time.time() - now)))


if __name__ == "__main__":
    main()
