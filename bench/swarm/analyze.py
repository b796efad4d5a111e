#!/usr/bin/env python3
"""Turns a bench/swarm/run results directory into a Markdown table, a PNG
plot and a JSON file, and optionally replaces the swarm section of
docs/benchmarks.md.

    analyze.py --results DIR --out BASE [--docs docs/benchmarks.md]

DIR holds what bench/swarm/run recorded:
  meta.env    key=value: N, F, rates, T_min, machine, load averages
  phases.tsv  per system: start/end (ms), origin bytes (HTTP body bytes from
              the nginx log, and bytes the origin's eth0 sent), load averages,
              CPU seconds of the system's own processes, timed out or not
  times.tsv   per system and host: completion (ms after the common start),
              exit status, flget's "task ..." line for Feilong
  cpu.log     the machine's CPU use, once a second (cpusample.py)
  links.log   every host's link counters, once a second (linksample.py)
  feilong-metrics/<host>.prom  each fld's Prometheus metrics when every
              flget had ended (before the daemons stop)
Writes BASE.md, BASE.png, BASE.json.
"""
import argparse
import csv
import glob
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from replace_docs_section import replace_section  # noqa: E402 (bench/ on the path first)

SECTION = "## Swarm: N hosts in network namespaces, Feilong vs BitTorrent vs curl"
LABEL = {"feilong": "Feilong (fld + flget)", "bt": "BitTorrent (opentracker + aria2c)",
         "curl": "curl from the origin",
         "ring": "curl from a neighbour (transport ceiling)"}
ORDER = ("feilong", "bt", "curl", "ring")
TARGET_T, TARGET_ORIGIN = 1.25, 1.05


def read_meta(d):
    meta = {}
    with open(os.path.join(d, "meta.env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            meta[k] = v
    return meta


def read_tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read_cpu(d):
    rows = []
    path = os.path.join(d, "cpu.log")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 5:
                    rows.append([float(x) for x in p])
    return rows


def read_links(d):
    """{host: [(time, bytes sent, bytes received)]} from links.log."""
    links = {}
    path = os.path.join(d, "links.log")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 4:
                    links.setdefault(p[1], []).append((float(p[0]), int(p[2]), int(p[3])))
    return links


def link_timeline(links, hosts, seed, t0, t1, buckets=10):
    """Mbit/s on the wire over `buckets` equal slices of [t0, t1]: the seed
    host's upload, and the other hosts' mean download and upload. None when
    nothing was sampled."""
    span = (t1 - t0) / buckets
    if span <= 0 or not any(h in links for h in hosts):
        return None

    def rate(samples, a, b, column):
        inside = [x for x in samples if a - 0.6 <= x[0] <= b + 0.6]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][column] - inside[0][column]) * 8 / 1e6 / (inside[-1][0] - inside[0][0])

    rows = []
    others = [h for h in hosts if h != seed and h in links]
    for i in range(buckets):
        a, b = t0 + i * span, t0 + (i + 1) * span
        down = [r for r in (rate(links[h], a, b, 2) for h in others) if r is not None]
        up = [r for r in (rate(links[h], a, b, 1) for h in others) if r is not None]
        rows.append({"from_s": a - t0, "to_s": b - t0,
                     "seed_up": rate(links.get(seed, []), a, b, 1),
                     "others_down": statistics.mean(down) if down else None,
                     "others_up": statistics.mean(up) if up else None})
    return rows


def link_loss_share(links, t0, t1):
    """Share of the frames the hosts sent during [t0, t1] that no host
    received: all traffic is between the emulated hosts, so the difference
    was dropped on the way, by a full download queue (tbf) at the receiver."""
    sent = received = 0
    for samples in links.values():
        inside = [x for x in samples if t0 - 0.6 <= x[0] <= t1 + 0.6]
        if len(inside) >= 2:
            sent += inside[-1][1] - inside[0][1]
            received += inside[-1][2] - inside[0][2]
    return (sent - received) / sent if sent > 0 else None


def metric_sums(directory, names):
    """Sums each named counter over every *.prom file: under its name over
    every label set, and under "name{labels}" per label set."""
    sums = dict.fromkeys(names, 0.0)
    for path in glob.glob(os.path.join(directory, "*.prom")):
        with open(path) as f:
            for line in f:
                name = re.split(r"[{ ]", line, maxsplit=1)[0]
                if name in names:
                    series, value = line.rsplit(" ", 1)
                    sums[name] += float(value)
                    if series != name:
                        sums[series] = sums.get(series, 0.0) + float(value)
    return sums


def summarize(meta, phases, times, cpu, results_dir):
    F = int(meta["size_bytes"])
    tmin = float(meta["tmin_s"])
    links = read_links(results_dir)
    out = {}
    for ph in phases:
        sysname = ph["system"]
        t0, t1 = int(ph["t0_ms"]), int(ph["t1_ms"])
        hosts = [r for r in times if r["system"] == sysname]
        done = [int(r["ms"]) / 1000 for r in hosts if r["rc"] == "0"]
        failed = [r["host"] for r in hosts if r["rc"] != "0"]
        per_host = {r["host"]: (int(r["ms"]) / 1000 if r["rc"] == "0" else None) for r in hosts}
        per_host_up = {r["host"]: int(r.get("up_bytes") or 0) for r in hosts}
        s = {
            "hosts": len(hosts), "done": len(done), "failed": failed, "per_host_s": per_host,
            "per_host_up_bytes": per_host_up,
            "t_all_s": max(done) if done and not failed else None,
            # The mean over all hosts exists only when all finished.
            "t_mean_s": statistics.mean(done) if done and not failed else None,
            "t_min_host_s": min(done) if done else None,
            "origin_http_bytes": int(ph["origin_http_bytes"]),
            "origin_tx_bytes": int(ph["origin_tx_bytes"]),
            "load_start": ph["load_start"], "load_end": ph["load_end"],
            "proc_cpu_s": float(ph["cpu_s"]), "timed_out": ph["timed_out"] == "1",
            "wall_s": (t1 - t0) / 1000,
        }
        s["ratio_all"] = s["t_all_s"] / tmin if s["t_all_s"] else None
        s["ratio_mean"] = s["t_mean_s"] / tmin if s["t_mean_s"] else None
        s["origin_http_over_F"] = s["origin_http_bytes"] / F
        s["origin_tx_over_F"] = s["origin_tx_bytes"] / F
        s["proc_cores"] = s["proc_cpu_s"] / s["wall_s"] if s["wall_s"] else None
        win = [c for c in cpu if t0 / 1000 <= c[0] <= t1 / 1000 + 0.5]
        if win:
            s["cpu_busy_mean"] = statistics.mean(c[1] for c in win)
            s["cpu_softirq_mean"] = statistics.mean(c[2] for c in win)
            s["cpu_saturated_share"] = sum(1 for c in win if c[1] >= 95) / len(win)
        s["links"] = link_timeline(links, list(per_host), "h00", t0 / 1000, t1 / 1000)
        s["link_loss_share"] = link_loss_share(links, t0 / 1000, t1 / 1000)
        if sysname == "feilong":
            orig = peers = 0
            reasons = set()
            for r in hosts:
                m = re.search(r"from peers (\d+), from origin (\d+)", r.get("note") or "")
                if m:
                    peers += int(m.group(1))
                    orig += int(m.group(2))
                m = re.search(r"\(origin used: ([^)]*)\)", r.get("note") or "")
                if m:
                    reasons.add("%s: %s" % (r["host"], m.group(1)))
            s["flget_from_peers"], s["flget_from_origin"] = peers, orig
            s["origin_reasons"] = sorted(reasons)
            sums = metric_sums(os.path.join(results_dir, "feilong-metrics"),
                               ["feilong_daemon_parent_busy_total",
                                "feilong_daemon_piece_failures_total"])
            s["parent_busy"] = int(sums["feilong_daemon_parent_busy_total"])
            s["parent_busy_piece"] = int(
                sums.get('feilong_daemon_parent_busy_total{reason="piece"}', 0))
            s["piece_failures"] = int(sums["feilong_daemon_piece_failures_total"])
        out[sysname] = s
    return out


def fmt(x, spec=".2f", none="—"):
    return none if x is None else format(x, spec)


def tables(meta, summ):
    F = int(meta["size_bytes"])
    n = int(meta["hosts"])
    rate, orate = meta["rate_mbit"], meta["origin_rate_mbit"]
    tmin = float(meta["tmin_s"])
    lines = []
    lines.append("| system | hosts done | T(all done) s | mean s | T(all)/T_min | mean/T_min "
                 "| origin HTTP bytes / F | origin link bytes / F | CPU busy % (softirq %) "
                 "| system's processes, cores | load avg start → end |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for k in ORDER:
        if k not in summ:
            continue
        s = summ[k]
        cpu = ("%.0f (%.0f)" % (s["cpu_busy_mean"], s["cpu_softirq_mean"])
               if "cpu_busy_mean" in s else "—")
        lines.append("| %s | %d/%d | %s | %s | **%s** | %s | %s | %s | %s | %s | %s → %s |" % (
            LABEL[k], s["done"], s["hosts"], fmt(s["t_all_s"], ".1f", "timeout"),
            fmt(s["t_mean_s"], ".1f"), fmt(s["ratio_all"], ".2f", "—"), fmt(s["ratio_mean"]),
            {"bt": "— (seeds over BT)", "ring": "— (not used)"}.get(
                k, "%.3f" % s["origin_http_over_F"]),
            "%.3f" % s["origin_tx_over_F"], cpu, fmt(s["proc_cores"]),
            s["load_start"], s["load_end"]))
    setup = (
        "N = %d hosts (h00 runs the seed fld, h01..h%02d peer flds; all %d download), "
        "F = %d MiB, each host %s Mbit/s up and %s Mbit/s down, origin %s Mbit/s up and down. "
        "Kumar-Ross bound T_min = max(F/u_s, F/d_min, N·F/(u_s + Σu_i)) = max(%.1f, %.1f, %.1f) "
        "= **%.1f s**, with the origin as the server (u_s) and all N hosts, the seed host "
        "included, as downloaders and uploaders (u_i = %s Mbit/s); rates are the tbf rates, "
        "which count Ethernet/IP/TCP headers, so about 1.05 × T_min is the floor of one TCP "
        "transfer; with every link busy both ways (ACKs share the uplinks) the floor is what "
        "the ring system measures, about 1.10." % (
            n, n - 1, n, F // 2**20, rate, rate, orate,
            F * 8 / (float(orate) * 1e6), F * 8 / (float(rate) * 1e6),
            n * F * 8 / ((float(orate) + n * float(rate)) * 1e6), tmin, rate))
    targets = []
    fl, bt = summ.get("feilong"), summ.get("bt")
    if fl:
        targets.append("Feilong all done within %.2f × T_min: %s (%s)" % (
            TARGET_T, "met" if fl["ratio_all"] and fl["ratio_all"] <= TARGET_T else "NOT met",
            fmt(fl["ratio_all"])))
        targets.append("origin bytes ≤ %.2f × F: %s (%.3f)" % (
            TARGET_ORIGIN, "met" if fl["origin_http_over_F"] <= TARGET_ORIGIN else "NOT met",
            fl["origin_http_over_F"]))
        if bt:
            faster = (fl["t_all_s"] is not None and
                      (bt["t_all_s"] is None or fl["t_all_s"] < bt["t_all_s"]))
            targets.append("faster than BitTorrent: %s (%s s vs %s s)" % (
                "met" if faster else "NOT met", fmt(fl["t_all_s"], ".1f", "timeout"),
                fmt(bt["t_all_s"], ".1f", "timeout")))
    short = {k: LABEL[k].split(" (")[0] for k in summ}
    per_host = ["| host | " + " | ".join("%s s | %s up/F" % (short[k], short[k]) for k in summ)
                + " |", "| --- |" + " ---: | ---: |" * len(summ)]
    hostnames = sorted(next(iter(summ.values()))["per_host_s"]) if summ else []
    for h in hostnames:
        per_host.append("| %s | %s |" % (h, " | ".join(
            "%s | %.2f" % (fmt(summ[k]["per_host_s"].get(h), ".1f", "fail"),
                           summ[k]["per_host_up_bytes"].get(h, 0) / F) for k in summ)))
    notes = []
    if fl:
        notes.append("Feilong, from flget -v: %d bytes from peers, %d from the origin in all%s." % (
            fl["flget_from_peers"], fl["flget_from_origin"],
            "; origin used: " + "; ".join(fl["origin_reasons"]) if fl["origin_reasons"] else ""))
        notes.append("Feilong, from the daemons' metrics: %d piece requests answered busy "
                     "(%d of them because that piece was on its way to another child, the rest "
                     "for want of a free upload slot), %d piece transfers failed." % (
                         fl.get("parent_busy", 0), fl.get("parent_busy_piece", 0),
                         fl.get("piece_failures", 0)))
    ring = summ.get("ring")
    if ring and ring["t_all_s"]:
        notes.append("curl from a neighbour: every host downloads F from the next host's nginx "
                     "at the same time, so every link carries F up and F down with no P2P logic: "
                     "what this machine's kernel (veth, bridge, tbf, TCP, page cache) allows at "
                     "this N and rate, %.2f × T_min%s." % (
                         ring["ratio_all"], "; Feilong took %.2f × that" % (
                             fl["t_all_s"] / ring["t_all_s"]) if fl and fl["t_all_s"] else ""))
    for k, s in summ.items():
        if s.get("links"):
            notes.append("%s, links on the wire (Mbit/s, headers included) in tenths of its run: "
                         "h00 up %s; the other hosts' mean down %s, up %s; %s of the bytes "
                         "sent were dropped on the way (full download queues)." % (
                             LABEL[k], *(" ".join(fmt(r[c], ".0f") for r in s["links"])
                                         for c in ("seed_up", "others_down", "others_up")),
                             fmt(100 * s["link_loss_share"], ".1f") + " %"
                             if s["link_loss_share"] is not None else "—"))
    for k, s in summ.items():
        if s["failed"]:
            notes.append("%s: not done: %s." % (LABEL[k], ", ".join(s["failed"])))
    return setup, "\n".join(lines), targets, "\n".join(per_host), notes


def plot(meta, summ, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tmin = float(meta["tmin_s"])
    colors = {"feilong": "tab:red", "bt": "tab:blue", "curl": "tab:gray", "ring": "tab:green"}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.8))
    for k, s in summ.items():
        t = sorted(v for v in s["per_host_s"].values() if v is not None)
        if not t:
            continue
        n = s["hosts"]
        xs, ys = [0], [0]
        for i, v in enumerate(t, 1):
            xs += [v, v]
            ys += [(i - 1) / n, i / n]
        a1.plot(xs, ys, color=colors[k], label="%s (all done %s)" % (
            LABEL[k], fmt(s["ratio_all"], ".2f", "—") + "×T_min" if s["t_all_s"] else "timeout"))
        a2.plot(range(1, len(t) + 1), [v / tmin for v in t], "o-", color=colors[k], label=LABEL[k])
    for a in (a1,):
        a.axvline(tmin, color="k", ls="--", lw=1, label="T_min = %.1f s" % tmin)
        a.axvline(TARGET_T * tmin, color="k", ls=":", lw=1, label="%.2f × T_min" % TARGET_T)
    a1.set_xlabel("seconds after the common start")
    a1.set_ylabel("fraction of hosts done")
    a1.set_title("Completion CDF")
    a1.legend(fontsize=8, loc="upper left")
    a1.grid(alpha=0.3)
    a2.axhline(1, color="k", ls="--", lw=1)
    a2.axhline(TARGET_T, color="k", ls=":", lw=1)
    a2.set_ylim(bottom=0)
    a2.xaxis.get_major_locator().set_params(integer=True)
    a2.set_xlabel("hosts, sorted by completion")
    a2.set_ylabel("completion time / T_min")
    a2.set_title("Per-host completion")
    a2.grid(alpha=0.3)
    a2.legend(fontsize=8)
    fig.suptitle("Swarm: N=%s, F=%d MiB, hosts %s Mbit/s up/down, origin %s Mbit/s, %s cores" % (
        meta["hosts"], int(meta["size_bytes"]) // 2**20, meta["rate_mbit"],
        meta["origin_rate_mbit"], meta["nproc"]))
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--docs")
    a = ap.parse_args()
    meta = read_meta(a.results)
    summ = summarize(meta, read_tsv(os.path.join(a.results, "phases.tsv")),
                     read_tsv(os.path.join(a.results, "times.tsv")), read_cpu(a.results),
                     a.results)
    setup, table, targets, per_host, notes = tables(meta, summ)
    png = a.out + ".png"
    plot(meta, summ, png)
    machine = ("Machine: %s cores (%s), %s; fld built %s, git %s. Load average (1, 5, 15 min) "
               "at the start: %s; at the end: %s. fld config: %s; flsched config: %s; "
               "tbf: %s (origin at its own rate)." % (
                   meta["nproc"], meta["cpu"], meta["kernel"], meta["fld_built"], meta["git"],
                   meta["load_start"], meta.get("load_end", "?"), meta["fld_config"],
                   meta["sched_config"], meta["tbf"]))
    body = "\n".join([
        setup, "", table, "",
        "Targets (reported, not enforced): " + "; ".join(targets) + "." if targets else "",
        "", "\n".join("- " + n for n in notes), "",
        "CPU busy %: the whole machine (100 = all cores) averaged over the system's run, "
        "other builders' work included; \"system's processes, cores\": CPU seconds of the "
        "fld + flsched, aria2c, or nginx processes divided by the run's wall time.",
        "", machine])
    name = os.path.basename(a.out)
    with open(a.out + ".md", "w") as f:
        f.write("# %s\n\nCommand: `%s` (%s)\n\n%s\n\n![plot](%s)\n\nPer host: seconds after "
                "the common start, and bytes the host's eth0 sent during the system's run / F "
                "(headers included):\n\n%s\n" % (name, meta["cmdline"], meta["date"], body,
                                              name + ".png", per_host))
    with open(a.out + ".json", "w") as f:
        json.dump({"meta": meta, "systems": summ}, f, indent=1, sort_keys=True)
    print(table)
    print()
    for t in targets:
        print(t)
    for n in notes:
        print(n)
    if a.docs:
        rel = os.path.relpath(a.out, os.path.dirname(os.path.abspath(a.docs)) or ".")
        new = "\n".join([
            SECTION, "",
            "`bench/swarm/run` (see [bench/swarm/README.md](../bench/swarm/README.md)): every "
            "emulated host downloads the same file at once, in its own network namespace with "
            "`tbf` limits on its upload and download. Latest run, %s, raw result in `%s.md`:" % (
                meta["date"], a.out), "",
            "```sh", meta["cmdline"], "```", "", body, "", "![swarm plot](%s.png)" % rel, ""])
        replace_section(a.docs, SECTION, new)


if __name__ == "__main__":
    main()
