#!/usr/bin/env python3
"""Summarizes a bench/mirror/run: a Markdown table and a JSON file, and
optionally replaces the registry mirror section of docs/benchmarks.md.

    analyze.py --results DIR --out BASE [--docs docs/benchmarks.md]

DIR holds meta.env, samples.tsv and blobs.txt as written by bench/mirror/run.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from replace_docs_section import replace_section  # noqa: E402 (bench/ on the path first)

SECTION = "## Registry mirror: containerd pulls, direct vs through the mirror, cold and warm"
PHASES = ["cold-direct", "cold-mirror", "warm-direct", "warm-mirror", "hot-mirror"]
WHAT = {
    "cold-direct": "node A, fresh containerd, straight from the registry",
    "cold-mirror": "node B through its fld mirror; fresh flsched, seed and fld (empty stores)",
    "warm-direct": "node C, fresh containerd, straight from the registry again",
    "warm-mirror": "node D (fresh containerd and fld) through its mirror; node B and the seed hold the blobs",
    "hot-mirror": "node D again, fresh containerd; the blobs are in D's own fld store",
}
MIB = 1024 * 1024


def read_meta(d):
    meta = {}
    for line in open(os.path.join(d, "meta.env")):
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v
    return meta


def read_samples(d):
    lines = open(os.path.join(d, "samples.tsv")).read().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, l.split("\t"))) for l in lines[1:] if l.strip()]


def parse_gets(s):
    """'ip:count:bytes,...' -> {ip: (count, bytes)}"""
    out = {}
    if s and s != "-":
        for part in s.split(","):
            ip, n, b = part.rsplit(":", 2)
            out[ip] = (int(n), int(b))
    return out


def summarize(meta, samples):
    summ = {}
    for ph in PHASES:
        rows = [r for r in samples if r["phase"] == ph]
        if not rows:
            continue
        ms = [int(r["ms"]) for r in rows]
        fetch = [int(r["fetch_ms"]) for r in rows if r["fetch_ms"] not in ("", "-")]
        gets = [parse_gets(r["registry_gets"]) for r in rows]
        mirror = []
        for r in rows:
            if r["mirror"] not in ("", "-"):
                n, b, c, p, o = (int(x) for x in r["mirror"].split(":"))
                mirror.append({"blobs": n, "bytes": b, "from_cache": c, "from_peers": p,
                               "from_origin": o})
        by_ip = {}
        for g in gets:
            for ip, (n, b) in g.items():
                x = by_ip.setdefault(ip, [0, 0])
                x[0] += n
                x[1] += b
        summ[ph] = {
            "samples_ms": ms,
            "median_ms": statistics.median(ms),
            "fetch_samples_ms": fetch,
            "median_fetch_ms": statistics.median(fetch) if fetch else None,
            "registry_blob_gets_per_pull": sum(n for n, _ in by_ip.values()) / len(rows),
            "registry_blob_bytes_per_pull": sum(b for _, b in by_ip.values()) / len(rows),
            "registry_blob_gets_by_client": {ip: {"gets": v[0], "bytes": v[1]}
                                             for ip, v in sorted(by_ip.items())},
            "mirror": mirror,
            "load": [r["load"] for r in rows],
            "cpu_busy_pct": [int(r["cpu_busy_pct"]) for r in rows
                             if r.get("cpu_busy_pct", "-") not in ("", "-")],
            "cpu_s_median": cpu_median(rows),
        }
    return summ


def cpu_median(rows):
    """Median CPU seconds per process group over the pulls of a phase
    (column cpu_s: 'name:seconds,...')."""
    per = {}
    for r in rows:
        for part in (r.get("cpu_s") or "").split(","):
            if ":" in part:
                k, v = part.split(":", 1)
                per.setdefault(k, []).append(float(v))
    return {k: round(statistics.median(v), 2) for k, v in per.items()}


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(x, spec=".2f", none="—"):
    return none if x is None else format(x, spec)


def tables(meta, summ):
    image_mib = int(meta["size_bytes"]) / MIB
    rows = ["| phase | what | pull s (median) | samples s | fetch s (median) | registry blob GETs / pull | "
            "registry blob MiB / pull | mirror: MiB from peers / origin / cache (per pull) | machine CPU busy % |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for ph in PHASES:
        s = summ.get(ph)
        if not s:
            continue
        m = s["mirror"]
        if m:
            k = len(m)
            mir = "%.1f / %.1f / %.1f" % (sum(x["from_peers"] for x in m) / k / MIB,
                                          sum(x["from_origin"] for x in m) / k / MIB,
                                          sum(x["from_cache"] for x in m) / k / MIB)
        else:
            mir = "—"
        cpu = " ".join(str(x) for x in s["cpu_busy_pct"]) or "—"
        rows.append("| %s | %s | **%.2f** | %s | %s | %.1f | %.1f | %s | %s |" % (
            ph, WHAT[ph], s["median_ms"] / 1000, " ".join("%.2f" % (x / 1000) for x in s["samples_ms"]),
            fmt(s["median_fetch_ms"] / 1000 if s["median_fetch_ms"] is not None else None),
            s["registry_blob_gets_per_pull"], s["registry_blob_bytes_per_pull"] / MIB, mir, cpu))
    med = {ph: summ[ph]["median_ms"] for ph in summ}
    fmed = {ph: summ[ph]["median_fetch_ms"] for ph in summ}
    r_cold = ratio(med.get("cold-mirror"), med.get("cold-direct"))
    r_warm = ratio(med.get("warm-mirror"), med.get("warm-direct"))
    direct_all = [x for ph in ("cold-direct", "warm-direct") if ph in summ for x in summ[ph]["samples_ms"]]
    r_warm_all = ratio(med.get("warm-mirror"), statistics.median(direct_all) if direct_all else None)
    rf_cold = ratio(fmed.get("cold-mirror"), fmed.get("cold-direct"))
    rf_warm = ratio(fmed.get("warm-mirror"), fmed.get("warm-direct"))
    ratios = {"hot_mirror_over_warm_direct": ratio(med.get("hot-mirror"), med.get("warm-direct")),
              "cold_mirror_over_cold_direct": r_cold, "warm_mirror_over_warm_direct": r_warm,
              "warm_mirror_over_all_direct": r_warm_all,
              "fetch_cold_mirror_over_cold_direct": rf_cold, "fetch_warm_mirror_over_warm_direct": rf_warm}
    rt = ["| ratio (medians) | whole pull | fetch part | target |", "| --- | --- | --- | --- |",
          "| cold through the mirror / cold direct | **%s** | %s | ≤ 1.15 → %s |" % (
              fmt(r_cold), fmt(rf_cold), "met" if r_cold is not None and r_cold <= 1.15 else "MISSED"),
          "| warm through the mirror (from peers) / warm direct | **%s** | %s | < 1 → %s |" % (
              fmt(r_warm), fmt(rf_warm), "met" if r_warm is not None and r_warm < 1 else "MISSED"),
          "| warm through the mirror / every direct sample | %s | | |" % fmt(r_warm_all),
          "| hot (node's own cache) through the mirror / warm direct | %s | %s | |" % (
              fmt(ratio(med.get("hot-mirror"), med.get("warm-direct"))),
              fmt(ratio(fmed.get("hot-mirror"), fmed.get("warm-direct"))))]
    groups = ["ctr", "containerd", "fld_node", "fld_seed", "fld_peer", "registry"]
    ct = ["| CPU seconds per pull (median) | " + " | ".join(groups) + " | sum |",
          "| --- |" + " --- |" * (len(groups) + 1)]
    for ph in PHASES:
        c = summ.get(ph, {}).get("cpu_s_median")
        if not c:
            continue
        ct.append("| %s | %s | %.1f |" % (ph, " | ".join(fmt(c.get(g), ".1f") for g in groups),
                                         sum(c.values())))
    cpu_table = "\n".join(ct) if len(ct) > 2 else ""
    setup = ("Image: %d layers of random data, %.0f MiB (%s blobs with the config); each pull "
             "with a fresh containerd %s root; %s repeats, phases interleaved per repeat. Links: "
             "registry %s Mbit/s each way, every node and the seed %s Mbit/s each way (`tbf`), "
             "flsched unlimited; the mirror listens on the node's own loopback." % (
                 int(meta["layers"]), image_mib, meta.get("blobs", "?"), meta.get("containerd", ""),
                 meta["repeat"], meta["registry_mbit"], meta["node_mbit"]))
    return setup, "\n".join(rows), "\n".join(rt), ratios, cpu_table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--docs")
    a = ap.parse_args()
    meta = read_meta(a.results)
    try:
        meta["blobs"] = str(sum(1 for _ in open(os.path.join(a.results, "blobs.txt"))))
    except OSError:
        pass
    samples = read_samples(a.results)
    summ = summarize(meta, samples)
    setup, table, rt, ratios, cpu_table = tables(meta, summ)
    machine = ("Machine: %s cores (%s), %s; fld built %s, git %s. Load average at the start: %s; "
               "at the end: %s. fld config: %s; flsched config: %s. tbf: registry `%s`, nodes `%s`." % (
                   meta["nproc"], meta["cpu"], meta["kernel"], meta["fld_built"], meta["git"],
                   meta["load_start"], meta.get("load_end", "?"), meta["fld_config"],
                   meta["sched_config"], meta["tbf_registry"], meta["tbf_node"]))
    notes = ("\"fetch\" is the time from starting `ctr images pull` to its `unpacking` line (every "
             "blob in containerd's content store); the rest of the pull is unpacking the layers, "
             "the same work on every path. Registry blob GETs count every client (node and seed); "
             "the mirror columns sum the pulling node's `mirror_blob_served` lines. \"Machine CPU busy\" is "
             "/proc/stat over the pull, all cores, every process (other users' included): near 100 "
             "means the CPU, not the links, set the pace.")
    body = "\n".join([setup, "", table, "", rt, "", notes, ""] +
                     ([cpu_table, "", "CPU seconds: user + system of each process over the pull "
                       "(ctr from the shell's `time`; the others from /proc/<pid>/stat); fld_node is "
                       "the pulling node's daemon, fld_peer node B's daemon while node D pulls.", ""]
                      if cpu_table else []) + [machine])
    with open(a.out + ".md", "w") as f:
        f.write("# %s\n\nCommand: `%s` (%s)\n\n%s\n" % (os.path.basename(a.out), meta["cmdline"],
                                                       meta["date"], body))
    with open(a.out + ".json", "w") as f:
        json.dump({"meta": meta, "phases": summ, "ratios": ratios, "samples": samples}, f, indent=1, sort_keys=True)
    print(table)
    print()
    print(rt)
    if a.docs:
        new = "\n".join([
            SECTION, "",
            "`bench/mirror/run` (see [bench/mirror/README.md](../bench/mirror/README.md)): "
            "containerd (`ctr images pull`) on nodes in network namespaces pulls one image "
            "straight from a docker-registry behind a rate-limited link, and through the node's "
            "fld registry mirror. Latest run, %s, raw result in `%s.md`:" % (meta["date"], a.out),
            "", "```sh", meta["cmdline"], "```", "", body, ""])
        replace_section(a.docs, SECTION, new)


if __name__ == "__main__":
    main()
