#!/usr/bin/env bash
# Scheduler load: simulated peers against a real flsched on 127.0.0.1.
#
# Builds flsched and fl_scheduler_load in --build-dir (unless --no-build).
# Then, once per value C of --concurrency, starts a fresh flsched (log level
# warn, metrics on a loopback port, TLS off, every other setting at its default) and
# runs fl_scheduler_load against it: --hosts hosts announce themselves
# (AnnounceHost), then --peers downloads (spread over --tasks tasks; by
# default 10,000 peers, 100 tasks of 100 peers, one peer per host, 16 pieces
# per task) each open an AnnouncePeer stream, register, get their decision,
# report every piece, report DownloadFinished and close the stream, at most
# C streams open at once; then StatTask checks every task's counts and every
# host leaves (LeaveHost). See bench/scheduler_load.cc for what a simulated
# peer sends and how the scheduling latency is split.
#
# flsched's VmRSS is sampled every 0.2 s from /proc/<pid>/status; its VmHWM
# (peak RSS) and Prometheus counters are read at the end, its CPU time per
# phase from /proc/<pid>/task/*/schedstat; then it is stopped with SIGTERM.
# Prints a Markdown table (one row per C) and writes it, with the machine's
# facts and the generator's output, to bench/results/scheduler_load-<UTC
# time>.md; unless --smoke or --no-docs, also replaces the section
# "## Scheduler load: ..." of docs/benchmarks.md.
#
#   bench/scheduler_load.sh [--smoke] [--peers N (10000)] [--tasks N (100)]
#       [--hosts N (10000)] [--pieces N (16)] [--concurrency C[,C...] (10,100,1000,3000)]
#       [--channels N (8)] [--build-dir DIR (build)] [--no-build] [--no-docs]
#
# --smoke: 200 peers, 10 tasks, 200 hosts, concurrency 50 (a few seconds).
# Exits non-zero when the generator reported an error (an RPC failed, a
# count did not match), when flsched's counters disagree with what was sent,
# when flsched logged a warning, or when it did not stop cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline="bench/scheduler_load.sh${*:+ $*}"
peers=10000 tasks=100 hosts=10000 pieces=16 concurrency=10,100,1000,3000 channels=8
build_dir=build
build=1
docs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) docs=0; peers=200; tasks=10; hosts=200; concurrency=50; shift ;;
    --peers) peers=$2; shift 2 ;;
    --tasks) tasks=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    --pieces) pieces=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --channels) channels=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-docs) docs=0; shift ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scheduler_load: unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in "$peers" "$tasks" "$hosts" "$pieces" ${concurrency//,/ } "$channels"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "scheduler_load: counts must be positive integers" >&2; exit 2; }
done

if [ "$build" = 1 ]; then
  [ -f "$build_dir/CMakeCache.txt" ] ||
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
  cmake --build "$build_dir" --target flsched fl_scheduler_load -- -j2 >&2
fi
for b in "$build_dir/src/bin/flsched/flsched" "$build_dir/bench/fl_scheduler_load"; do
  [ -x "$b" ] || { echo "scheduler_load: no $b; build it first" >&2; exit 2; }
done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
section="## Scheduler load: simulated peers against flsched"
work=$(mktemp -d /tmp/feilong-schedload.XXXXXX)
sched_pid="" sampler_pid=""
cleanup() {
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ -n "$sched_pid" ]; then
    kill "$sched_pid" 2>/dev/null || true
    wait "$sched_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log() { echo "scheduler_load: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
calc() { python3 -c "print($1)"; }
tck=$(getconf CLK_TCK)
cpu_of() { awk -v t="$tck" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
kib_of() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
mib() { calc "round($1 / 1024, 1)"; }

# Copies, so that a rebuild meanwhile cannot swap the binaries.
mkdir -p "$work/bin"
cp "$build_dir/src/bin/flsched/flsched" "$build_dir/bench/fl_scheduler_load" "$work/bin/"
built=$(date -u -r "$build_dir/src/bin/flsched/flsched" '+%Y-%m-%d %H:%M UTC')
f1() { printf '%.1f' "$1"; }
f0() { printf '%.0f' "$1"; }

rows=() details=() problems=()
# One flsched, one generator run with concurrency $1: appends a row to rows,
# lines to details, failures to problems; leaves $work/gen.$1.out and rss.$1.txt.
run_one() {
  local c=$1 load0 load1 addr="" metrics_port metrics m_regs m_pieces m_conflicts
  local rss_idle_kib hwm_kib rss_end_kib rss_max_kib gen_rc=0 sched_rc=0 stop0 stop_s warn_lines
  local out=$work/gen.$c.out
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  metrics_port=$(free_port)
  cat > "$work/flsched.yaml" <<CONF
listen: "127.0.0.1:0"
metrics_listen: "127.0.0.1:$metrics_port"
log_level: warn
tls:
  enabled: false
CONF
  "$work/bin/flsched" --config "$work/flsched.yaml" > "$work/sched.$c.log" 2>&1 &
  sched_pid=$!
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*listening on //p' "$work/sched.$c.log" | head -1)
    [ -n "$addr" ] && break
    kill -0 "$sched_pid" 2>/dev/null || die "flsched exited"
    sleep 0.1
  done
  [ -n "$addr" ] || die "flsched did not start"
  rss_idle_kib=$(kib_of "$sched_pid" VmRSS)
  log "concurrency $c: flsched pid $sched_pid on $addr (idle RSS $(mib "$rss_idle_kib") MiB), load $load0"

  # VmRSS every 0.2 s, one "<seconds since start> <KiB>" line each.
  (
    start=$(date +%s%N)
    while kib=$(kib_of "$sched_pid" VmRSS 2>/dev/null) && [ -n "$kib" ]; do
      now=$(date +%s%N)
      echo "$(( (now - start) / 1000000000 )).$(( (now - start) / 100000000 % 10 )) $kib"
      sleep 0.2
    done
  ) > "$work/rss.$c.txt" 2>/dev/null &
  sampler_pid=$!

  "$work/bin/fl_scheduler_load" --scheduler "$addr" --peers "$peers" --tasks "$tasks" \
    --hosts "$hosts" --pieces "$pieces" --concurrency "$c" --channels "$channels" \
    --scheduler-pid "$sched_pid" > "$out" 2> "$work/gen.$c.err" || gen_rc=$?
  load1=$(cut -d' ' -f1-3 /proc/loadavg)
  grep -v '^result\.' "$out" >&2 || true
  [ -s "$work/gen.$c.err" ] && head -20 "$work/gen.$c.err" >&2
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  sampler_pid=""

  hwm_kib=$(kib_of "$sched_pid" VmHWM)
  rss_end_kib=$(kib_of "$sched_pid" VmRSS)
  rss_max_kib=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$work/rss.$c.txt")
  metrics=$(curl -s "http://127.0.0.1:$metrics_port/metrics" || true)
  m_regs=$(echo "$metrics" | awk '$1 == "feilong_scheduler_registrations_total" { print $2 }')
  m_pieces=$(echo "$metrics" | awk '$1 == "feilong_scheduler_piece_reports_total{result=\"finished\"}" { print $2 }')
  m_conflicts=$(echo "$metrics" | awk '$1 == "feilong_scheduler_digest_conflicts_total" { print $2 }')
  stop0=$(date +%s.%N)
  kill -TERM "$sched_pid"
  wait "$sched_pid" || sched_rc=$?
  stop_s=$(calc "round($(date +%s.%N) - $stop0, 2)")
  sched_pid=""
  warn_lines=$(grep -c -v -e 'listening on' -e 'tls_disabled' "$work/sched.$c.log" || true)

  r() { awk -v k="result.$1" '$1 == k { print $2 }' "$out"; }
  [ -n "$(r errors)" ] || { cat "$out" "$work/gen.$c.err" >&2; die "the generator printed no results (exit $gen_rc)"; }
  [ "$gen_rc" -eq 0 ] || problems+=("concurrency $c: generator exit $gen_rc, $(r errors) errors")
  [ "${m_regs%.*}" = "$peers" ] || problems+=("concurrency $c: flsched counted ${m_regs:-?} registrations, want $peers")
  [ "${m_pieces%.*}" = "$(r piece_reports)" ] ||
    problems+=("concurrency $c: flsched counted ${m_pieces:-?} piece reports, the generator wrote $(r piece_reports)")
  [ "${m_conflicts%.*}" = 0 ] || problems+=("concurrency $c: flsched counted ${m_conflicts:-?} digest conflicts")
  [ "$sched_rc" -eq 0 ] || problems+=("concurrency $c: flsched exited $sched_rc on SIGTERM")
  [ "$warn_lines" -eq 0 ] || problems+=("concurrency $c: flsched logged $warn_lines lines at warn or above")

  local cpu_s wait_s
  cpu_s=$(r sched_peers_cpu_s)
  wait_s=$(r sched_peers_wait_s)
  # "p50 / p99 / max (n)" of latency set $1; "none" when it has no sample.
  lat() {
    if [ "$(r "$1.n")" = 0 ]; then echo "none"; return; fi
    echo "$(f1 "$(r "$1.p50_ms")") / $(f1 "$(r "$1.p99_ms")") / $(f1 "$(r "$1.max_ms")") ($(r "$1.n"))"
  }
  local release="none"
  [ "$(r release.n)" = 0 ] || release="$(f1 "$(r release.p50_ms)") / $(f1 "$(r release.p99_ms)")"
  rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |' \
    "$c" "$(f0 "$(r registrations_per_s)")" "$(f0 "$(r piece_reports_per_s)")" \
    "$(lat latency_immediate)" "$(lat latency_held)" "$release" \
    "$(mib "$hwm_kib")" "$(calc "round($cpu_s / $(r peers_s), 2)")" "$(calc "round(1000 * $cpu_s / $peers, 2)")" \
    "$(f1 "$wait_s")" "$(r errors)" "$load0" "$load1")")
  details+=("Concurrency $c: all peers p50 $(f1 "$(r latency_all.p50_ms)") / p99 $(f1 "$(r latency_all.p99_ms)") / max $(f1 "$(r latency_all.max_ms)") ms; \
peer phase $(printf '%.2f' "$(r peers_s)") s ($(r peers_ok) ok, $(r peers_failed) failed); \
AnnounceHost $(f0 "$(r announce_per_s)")/s; $hosts LeaveHost in $(printf '%.2f' "$(r leave_s)") s (flsched $(printf '%.2f' "$(r sched_leave_cpu_s)") CPU s); \
flsched RSS idle $(mib "$rss_idle_kib"), peak $(mib "$hwm_kib") (sampled max $(mib "$rss_max_kib")), after every host left $(mib "$rss_end_kib") MiB; \
flsched counted $m_regs registrations, $m_pieces piece reports, $m_conflicts digest conflicts, stopped $stop_s s after SIGTERM; \
generator $(r generator_cores) cores, its threads waited $(printf '%.1f' "$(r generator_runqueue_wait_s)") s for a CPU.")
}

for c in ${concurrency//,/ }; do
  run_one "$c"
done

table=$(
  echo "| concurrency | registrations/s | piece reports/s | decided at once: p50 / p99 / max ms (n) | held: p50 / p99 / max ms (n) | release p50 / p99 ms | flsched peak RSS MiB | flsched cores (peer phase) | flsched CPU ms per peer | flsched run-queue wait s | errors | load avg start / end |"
  echo "| ---: | ---: | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  for d in "${details[@]}"; do echo "- $d"; done
)
echo
echo "$table"
for p in "${problems[@]}"; do echo "PROBLEM: $p"; done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
result=bench/results/scheduler_load-$stamp.md
{
  echo "# scheduler_load $stamp"
  echo
  echo "Command: \`$cmdline\`"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- peers $peers, tasks $tasks ($((peers / tasks)) peers each), hosts $hosts, pieces per task $pieces, concurrency $concurrency, channels $channels"
  echo "- nproc: $(nproc)"
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "- kernel: $(uname -srm)"
  echo "- load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- binaries: $build_dir (build type $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || echo unknown)), flsched built $built"
  echo "- git HEAD when run: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src api bench 2>/dev/null || echo ' (src, api or bench modified)')"
  echo "- flsched config: every default except listen, metrics_listen, log_level warn, tls off"
  echo
  echo "$table"
  for p in "${problems[@]}"; do echo; echo "PROBLEM: $p"; done
  for c in ${concurrency//,/ }; do
    echo
    echo "Generator output, concurrency $c:"
    echo
    echo '```'
    cat "$work/gen.$c.out"
    [ -s "$work/gen.$c.err" ] && head -50 "$work/gen.$c.err"
    echo '```'
    echo
    echo "flsched VmRSS samples (seconds, KiB), every 10th:"
    echo
    echo '```'
    awk 'NR % 10 == 1' "$work/rss.$c.txt"
    echo '```'
    if grep -q -v 'listening on' "$work/sched.$c.log"; then
      echo
      echo "flsched log (first 20 lines):"
      echo
      echo '```'
      head -20 "$work/sched.$c.log"
      echo '```'
    fi
  done
} > "$result"
log "wrote $result"

if [ "$docs" = 1 ] && [ "${#problems[@]}" -eq 0 ]; then
  newsec=$(
    echo "$section"
    echo
    echo "\`bench/scheduler_load.sh\`: \`fl_scheduler_load\` plays $peers downloads ($tasks tasks,"
    echo "$hosts hosts, $pieces pieces per task, at most C streams open: one run per C) against a real"
    echo "\`flsched\` with its default settings, all on 127.0.0.1 (see \`bench/README.md\`)."
    echo "Latest run, $(date -u '+%Y-%m-%d') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -r)),"
    echo "raw result in \`$result\`:"
    echo
    echo '```sh'
    echo "$cmdline"
    echo '```'
    echo
    echo "$table"
  )
  echo "$newsec" | python3 bench/replace_docs_section.py docs/benchmarks.md "$section"
  log "updated docs/benchmarks.md"
fi
[ "${#problems[@]}" -eq 0 ] || { log "FAILED: ${problems[*]}"; exit 1; }
