#!/usr/bin/env bash
# What mutual TLS costs: the same benchmarks with the `tls:` block off and
# on, in one run (targets of issue 16, reported, not enforced: at most 25 %
# less loopback throughput, at most 10 % more time at 100 Mbit/s links).
#
#   1. bench/p2p_throughput.sh --size S --runs R, plaintext, then --tls
#      (gRPC and pieces over mutual TLS on 127.0.0.1): median flget MiB/s.
#   2. bench/swarm/run --systems feilong --hosts N --size-mib F
#      --rate-mbit 100 --origin-rate-mbit 100, plaintext, then with tls: in
#      fld's and flsched's config (one certificate from scripts/make-certs
#      naming every host's address): time until every host had the file and
#      the mean per host.
#
# Prints a table, writes bench/results/tls_cost-<UTC time>.md and replaces
# the section "## Cost of mutual TLS" of docs/benchmarks.md (not with
# --no-docs). Needs root (network namespaces), what the two benchmarks need,
# and built fld, flget, flsched.
#
#   sudo bench/tls_cost.sh [--size MiB (1024)] [--runs N (3)] [--hosts N (4)]
#                          [--swarm-size MiB (256)] [--no-docs] [--work-dir DIR (/tmp)]
# --work-dir is handed to p2p_throughput.sh (see there): on a tmpfs the
# loopback figures are CPU, not the disk's writeback.
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline="bench/tls_cost.sh${*:+ $*}"
size=1024 runs=3 hosts=4 swarm_size=256 docs_update=1 work_parent=/tmp
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    --swarm-size) swarm_size=$2; shift 2 ;;
    --no-docs) docs_update=0; shift ;;
    --work-dir) work_parent=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tls_cost: unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in "$size" "$runs" "$hosts" "$swarm_size"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "tls_cost: options take positive integers" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "tls_cost: needs root (network namespaces)" >&2; exit 2; }

work=$(mktemp -d /tmp/feilong-tls-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT
log() { echo "tls_cost: $*" >&2; }
calc() { python3 -c "print($1)"; }

# 1. Loopback.
loopback() {  # loopback <extra args...>: prints the median flget MiB/s
  bash bench/p2p_throughput.sh --size "$size" --runs "$runs" --work-dir "$work_parent" --no-docs "$@" > "$work/p2p.out" 2>&1 ||
    { tail -n 20 "$work/p2p.out" >&2; log "p2p_throughput $* failed"; exit 1; }
  sed -n 's/^median_flget_mibs=//p' "$work/p2p.out"
}
log "loopback, plaintext"
plain_mibs=$(loopback)
log "loopback, mutual TLS"
tls_mibs=$(loopback --tls)

# 2. Swarm at 100 Mbit/s.
addresses="10.77.0.2"
for i in $(seq 1 "$hosts"); do addresses+=",10.77.1.$i"; done
bash scripts/make-certs "$work/certs" "node@seed+scheduler:$addresses" > "$work/make-certs.log" 2>&1 ||
  { cat "$work/make-certs.log" >&2; exit 1; }
tls_block=$(printf 'tls:\n  enabled: true\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n' \
  "$work/certs/ca.pem" "$work/certs/node.pem" "$work/certs/node.key")
printf 'upload:\n  capacity: 100Mbit\n%s\n' "$tls_block" > "$work/fld-tls.yaml"
printf 'log_level: warn\n%s\n' "$tls_block" > "$work/sched-tls.yaml"
swarm() {  # swarm <extra args...>: prints "t_all_s t_mean_s origin_over_F" of Feilong
  bash bench/swarm/run --systems feilong --hosts "$hosts" --size-mib "$swarm_size" \
    --rate-mbit 100 --origin-rate-mbit 100 --no-docs "$@" > "$work/swarm.out" 2>&1 ||
    { tail -n 20 "$work/swarm.out" >&2; log "swarm $* failed"; exit 1; }
  local json
  json=$(sed -n 's/.*wrote .*\.png, \(.*\.json\).*/\1/p' "$work/swarm.out" | tail -n 1)
  python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['systems']['feilong']; \
print(round(f['t_all_s'],2), round(f['t_mean_s'],2), round(f['origin_http_over_F'],3))" "$json"
}
log "swarm, plaintext"
read -r plain_all plain_mean plain_origin < <(swarm)
log "swarm, mutual TLS"
read -r tls_all tls_mean tls_origin < <(swarm --fld-config "$work/fld-tls.yaml" --sched-config "$work/sched-tls.yaml")

loss=$(calc "round(100 * (1 - $tls_mibs / $plain_mibs), 1)")
more_all=$(calc "round(100 * ($tls_all / $plain_all - 1), 1)")
more_mean=$(calc "round(100 * ($tls_mean / $plain_mean - 1), 1)")
verdict() { calc "'met' if $1 <= $2 else 'NOT met'"; }
table=$(
  echo "| benchmark | plaintext | mutual TLS | cost | target |"
  echo "| --- | ---: | ---: | ---: | --- |"
  echo "| loopback: flget MiB/s (median of $runs, $size MiB) | $plain_mibs | $tls_mibs | $loss % less | <= 25 % ($(verdict "$loss" 25)) |"
  echo "| swarm, $hosts hosts at 100 Mbit/s, $swarm_size MiB: all done, s | $plain_all | $tls_all | $more_all % more | <= 10 % ($(verdict "$more_all" 10)) |"
  echo "| same: mean per host, s | $plain_mean | $tls_mean | $more_mean % more | |"
  echo "| same: origin bytes / F | $plain_origin | $tls_origin | | |"
)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
result=bench/results/tls_cost-$stamp.md
ktls="no: this kernel has no TLS upper layer protocol (setsockopt TCP_ULP \"tls\" fails)"
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); c=socket.create_connection(s.getsockname()); c.setsockopt(socket.IPPROTO_TCP, 31, b"tls")' 2>/dev/null &&
  ktls="yes (the kernel offers TCP_ULP \"tls\"; OpenSSL uses it where it can)"
{
  echo "# tls_cost $stamp"
  echo
  echo "Command: \`$cmdline\`"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -r)"
  echo "- kernel TLS: $ktls"
  echo "- git HEAD: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "$table"
} > "$result"
cat "$result"
log "wrote $result"

if [ "$docs_update" -eq 1 ]; then
  section="## Cost of mutual TLS"
  newsec=$(
    echo "$section"
    echo
    echo "\`bench/tls_cost.sh\`: the loopback benchmark and the swarm (Feilong only) with"
    echo "the \`tls:\` block off and on, in one run: with it, gRPC and piece transfers"
    echo "between daemons go over mutual TLS. Latest run, $(date -u '+%Y-%m-%d') on $(nproc) cores"
    echo "($(uname -r); kernel TLS: $ktls), raw result in \`$result\`:"
    echo
    echo '```sh'
    echo "sudo $cmdline"
    echo '```'
    echo
    echo "$table"
  )
  echo "$newsec" | python3 bench/replace_docs_section.py docs/benchmarks.md "$section"
  log "updated docs/benchmarks.md"
fi
