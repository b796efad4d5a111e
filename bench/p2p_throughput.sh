#!/usr/bin/env bash
# Loopback throughput: one peer downloading a file from its parents with
# flget, against curl downloading the same file from nginx.
#
# What it measures, all on 127.0.0.1:
#   - an nginx origin (sendfile on) serves a random file of --size MiB;
#     flsched, one seed fld and two peer fld run with --log-level warn;
#   - warm-up: peer1 downloads the file, so the seed and peer1 both hold the
#     whole task (if the warm-up used the origin, that is only reported);
#   - then, --runs times:
#       curl  : `curl -s -o FILE URL` straight from nginx (the baseline);
#       flget : peer2, restarted with an empty data dir (so nothing is in its
#               cache), downloads the same URL; every byte must come from its
#               parents (seed, peer1): `flget -v` must say "from origin 0",
#               and the output's SHA-256 must match the source file;
#     and peer2's peak RSS over that download (VmHWM of the freshly started
#     fld), the CPU seconds each process used while it ran, and, as context
#     outside the ratio, `curl -o /dev/null` (loopback and nginx alone).
# The flget output is a hard link to peer2's cached file (same file system),
# so the flget figure includes receiving, verifying (SHA-256 per piece) and
# storing the bytes, but no extra copy to the output.
#
# Prints a Markdown table (run, curl s and MiB/s, flget s and MiB/s, ratio of
# flget to curl throughput, peer2 peak RSS) and the median ratio; writes it,
# with machine facts, to bench/results/p2p_throughput-<UTC time>.md and
# replaces the section "## Loopback throughput: ..." of docs/benchmarks.md.
# Targets (reported, not enforced): ratio >= 0.8, peer2 peak RSS < 150 MiB.
# Exits non-zero only when something broke: a download failed, a digest did
# not match, or bytes came from the origin.
#
#   bench/p2p_throughput.sh [--size MiB (1024)] [--runs N (3)] [--build-dir DIR (build)]
#                           [--tls] [--no-docs] [--work-dir DIR (/tmp)]
# --tls: flsched and every fld run with the `tls:` block (certificates from
# scripts/make-certs), so pieces travel over HTTPS with client certificates
# (the result file and docs section say so). --no-docs: docs/benchmarks.md
# is left alone. --work-dir: where the origin's file and every daemon's data
# go (a fresh directory under DIR, removed at the end); on a tmpfs such as
# /dev/shm the figures are the processes' CPU, not the disk's writeback.
# The last line on stdout is "median_flget_mibs=<MiB/s>".
# Needs nginx, curl, python3, openssl and built fld, flget, flsched (it builds nothing).
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline="bench/p2p_throughput.sh${*:+ $*}"
size_mib=1024
runs=3
build_dir=build
tls=0
docs_update=1
work_parent=/tmp
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size_mib=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --tls) tls=1; shift ;;
    --no-docs) docs_update=0; shift ;;
    --work-dir) work_parent=$2; shift 2 ;;
    -h|--help) sed -n '2,41p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "p2p_throughput: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$size_mib" =~ ^[1-9][0-9]*$ && "$runs" =~ ^[1-9][0-9]*$ ]] ||
  { echo "p2p_throughput: --size and --runs take positive integers" >&2; exit 2; }
for b in fld flget flsched; do
  [ -x "$build_dir/src/bin/$b/$b" ] || { echo "p2p_throughput: no $build_dir/src/bin/$b/$b; build it first" >&2; exit 2; }
done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
target_ratio=0.8
target_rss_mib=150
section="## Loopback throughput: flget from a parent vs curl from nginx"
[ "$tls" -eq 1 ] && section="## Loopback throughput over mutual TLS: flget from a parent vs curl from nginx"

[ -d "$work_parent" ] || { echo "p2p_throughput: --work-dir $work_parent is not a directory" >&2; exit 2; }
# shellcheck source-path=SCRIPTDIR source=lib/harness.sh
source "$(dirname "$0")/lib/harness.sh"
harness_start p2p_throughput "$work_parent"
# Busy and total jiffies of the whole machine (all CPUs), from /proc/stat.
machine_cpu() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }

# The binaries are copied so that a rebuild in the meantime cannot swap them
# between runs.
mkdir -p "$work/bin"
for b in fld flget flsched; do cp "$build_dir/src/bin/$b/$b" "$work/bin/"; done
fld_built=$(date -u -r "$build_dir/src/bin/fld/fld" '+%Y-%m-%d %H:%M UTC')
fld=$work/bin/fld
flget=$work/bin/flget

log "generating a ${size_mib} MiB file"
mkdir -p "$work/www"
head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/www/file.bin"
want=$(sha256sum "$work/www/file.bin" | cut -d' ' -f1)
size_bytes=$((size_mib * 1024 * 1024))

start_nginx_origin "$work/www"
url="http://127.0.0.1:$origin_port/file.bin"

tls_args=(--plaintext)
if [ "$tls" -eq 1 ]; then
  bash scripts/make-certs "$work/certs" node@seed+scheduler:127.0.0.1,localhost > "$work/make-certs.log" 2>&1 ||
    die "scripts/make-certs failed"
  printf 'tls:\n  enabled: true\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n' \
    "$work/certs/ca.pem" "$work/certs/node.pem" "$work/certs/node.key" > "$work/tls.yaml"
  tls_args=(--config "$work/tls.yaml")
fi
"$work/bin/flsched" "${tls_args[@]}" --listen 127.0.0.1:0 --metrics-listen "" --log-level warn > "$work/sched.log" 2>&1 &
pid_of[flsched]=$!
sched=$(wait_for_line "$work/sched.log" "listening on" | sed 's/.*listening on //')

# Starts fld named $1 (data dir $work/$1, log $work/$1.log, appended to),
# extra args after it; wait_ready $1 then waits for its "fld ready".
start_daemon() {
  local name=$1; shift
  mkdir -p "$work/$name"
  echo "--- start $(date -u +%T)" >> "$work/$name.log"
  "$fld" --data-dir "$work/$name" --host-id "$name" --scheduler "$sched" \
    --peer-listen 127.0.0.1:0 --piece-listen 127.0.0.1:0 --metrics-listen off \
    --log-level warn "${tls_args[@]}" "$@" >> "$work/$name.log" 2>&1 &
  pid_of[$name]=$!
}
wait_ready() {  # waits for the latest "fld ready" of daemon $1
  for _ in $(seq 1 300); do
    # shellcheck disable=SC2016  # a sed script: print the log since the last "--- start"
    if sed -n '/^--- start/h; /^--- start/!H; ${x;p}' "$work/$1.log" | grep -q "fld ready"; then return 0; fi
    kill -0 "${pid_of[$1]}" 2>/dev/null || { cat "$work/$1.log" >&2; die "fld $1 exited"; }
    sleep 0.1
  done
  cat "$work/$1.log" >&2; die "fld $1 not ready"
}
start_daemon seed --seed --allow-origin 127.0.0.1  # the demo origin is on loopback
start_daemon peer1
start_daemon peer2
for d in seed peer1 peer2; do wait_ready "$d"; done
sleep 1   # let the daemons announce themselves (the seed must be known)

# Runs flget on daemon $1 to $2, stderr to $3, and fails unless it exits 0.
run_flget() {
  local name=$1 out=$2 err=$3 rc=0
  "$flget" --socket "$work/$name/fld.sock" -v --no-progress "$url" -O "$out" 2> "$err" &
  pid_of[flget]=$!
  wait "${pid_of[flget]}" || rc=$?
  unset "pid_of[flget]"
  [ "$rc" -eq 0 ] || { cat "$err" >&2; die "flget on $name exited $rc"; }
}
# Downloads $url with curl to $1; fails unless curl exits 0.
run_curl() {
  local rc=0
  curl -s -o "$1" "$url" &
  pid_of[curl]=$!
  wait "${pid_of[curl]}" || rc=$?
  unset "pid_of[curl]"
  [ "$rc" -eq 0 ] || die "curl exited $rc"
}
# Checks what run_flget $1 $2 $3 got: the output's digest, and that no byte
# came from the origin ("from origin 0" in flget -v); with $4 = warn-origin,
# origin bytes are only reported (the warm-up needs the content, not P2P).
check_flget() {
  local name=$1 out=$2 err=$3 mode=${4:-} line got origin
  line=$(grep -m1 '^task ' "$err" || true)
  origin=$(echo "$line" | sed -n 's/.*from origin \([0-9]*\).*/\1/p')
  [ -n "$origin" ] || { cat "$err" >&2; die "no byte counts in flget -v output on $name"; }
  got=$(sha256sum "$out" | cut -d' ' -f1)
  [ "$got" = "$want" ] || die "digest mismatch on $name: $got, want $want"
  if [ "$origin" != 0 ] && [ "$mode" = warn-origin ]; then
    log "note: $origin bytes came from the origin on $name: $line"
    notes+=("$name: $line")
    return 0
  fi
  [ "$origin" = 0 ] || { cat "$err" >&2; die "$origin bytes came from the origin on $name"; }
}
notes=()

log "warm-up: peer1 downloads $url (the seed fetches it from the origin)"
run_flget peer1 "$work/warm.out" "$work/warm.flget"
check_flget peer1 "$work/warm.out" "$work/warm.flget" warn-origin
rm -f "$work/warm.out"
log "warm-up done: $(grep -m1 '^task ' "$work/warm.flget")"

rows=()
cpu_rows=()
ratios=()
peaks=()
flget_rates=()
for run in $(seq 1 "$runs"); do
  # (a) curl from nginx.
  nginx_worker=$(pgrep -P "${pid_of[nginx]}" | head -1)
  n0=$(cpu_of "$nginx_worker"); read -r b0 t0 < <(machine_cpu)
  s=$(now)
  run_curl "$work/curl.out"
  e=$(now)
  n1=$(cpu_of "$nginx_worker"); read -r b1 t1 < <(machine_cpu)
  got_size=$(stat -c %s "$work/curl.out")
  [ "$got_size" -eq "$size_bytes" ] || die "curl got $got_size bytes, want $size_bytes"
  rm -f "$work/curl.out"
  curl_s=$(calc "$e - $s")
  curl_busy=$(calc "$(nproc) * ($b1 - $b0) / max($t1 - $t0, 1)")
  curl_nginx=$(calc "round(($n1 - $n0) / $curl_s, 2)")
  # Context only (not in the ratio): the same download written nowhere,
  # i.e. what loopback TCP and nginx alone allow.
  s=$(now); run_curl /dev/null; e=$(now)
  null_mibs=$(calc "$size_mib / ($e - $s)")

  # (b) flget on a fresh peer2: stop it, drop its data dir, start it again.
  stop peer2
  rm -rf "$work/peer2" "$work/flget.out"
  start_daemon peer2
  wait_ready peer2
  sleep 1
  p2=${pid_of[peer2]}
  c_seed0=$(cpu_of "${pid_of[seed]}"); c_p10=$(cpu_of "${pid_of[peer1]}"); c_p20=$(cpu_of "$p2")
  read -r b0 t0 < <(machine_cpu)
  s=$(now)
  run_flget peer2 "$work/flget.out" "$work/flget.$run.err"
  e=$(now)
  read -r b1 t1 < <(machine_cpu)
  c_seed1=$(cpu_of "${pid_of[seed]}"); c_p11=$(cpu_of "${pid_of[peer1]}"); c_p21=$(cpu_of "$p2")
  peak=$(hwm_mib "$p2")
  check_flget peer2 "$work/flget.out" "$work/flget.$run.err"
  rm -f "$work/flget.out"
  flget_s=$(calc "$e - $s")

  curl_mibs=$(calc "$size_mib / $curl_s")
  flget_mibs=$(calc "$size_mib / $flget_s")
  ratio=$(calc "round($flget_mibs / $curl_mibs, 2)")
  ratios+=("$ratio"); peaks+=("$peak"); flget_rates+=("$flget_mibs")
  rows+=("$(printf '| %s | %.2f | %.0f | %.2f | %.0f | %.2f | %.1f |' \
    "$run" "$curl_s" "$curl_mibs" "$flget_s" "$flget_mibs" "$ratio" "$peak")")
  cpu_rows+=("$(printf '| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |' "$run" \
    "$null_mibs" "$curl_nginx" "$curl_busy" \
    "$(calc "($c_p21 - $c_p20) / $flget_s")" "$(calc "($c_seed1 - $c_seed0) / $flget_s")" \
    "$(calc "($c_p11 - $c_p10) / $flget_s")" "$(calc "$(nproc) * ($b1 - $b0) / max($t1 - $t0, 1)")")")
  log "$(printf 'run %s: curl %.2f s, flget %.2f s (flget -v: %s s), ratio %s, peer2 peak RSS %s MiB' \
    "$run" "$curl_s" "$flget_s" "$(sed -n 's/.* in \([0-9.]*\) s .*/\1/p' "$work/flget.$run.err")" "$ratio" "$peak")"
done

seed_hwm=$(hwm_mib "${pid_of[seed]}")
peer1_hwm=$(hwm_mib "${pid_of[peer1]}")
median_ratio=$(calc "round(__import__('statistics').median([$(IFS=,; echo "${ratios[*]}")]), 2)")
max_peak=$(calc "max([$(IFS=,; echo "${peaks[*]}")])")
ratio_ok=$(calc "'met' if $median_ratio >= $target_ratio else 'NOT met'")
rss_ok=$(calc "'met' if $max_peak < $target_rss_mib else 'NOT met'")
origin_bytes=$(awk '{s+=$2} END {printf "%.0f", s}' "$work/nginx/logs/access.log")
warn_lines=$({ grep -h -v -e '^--- start' -e 'fld ready' -e 'listening on' -e 'tls_disabled' \
  "$work"/seed.log "$work"/peer1.log "$work"/peer2.log "$work"/sched.log || true; } | wc -l)

table=$(
  echo "| run | curl s | curl MiB/s | flget s | flget MiB/s | flget/curl | peer2 peak RSS MiB |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Median ratio flget/curl: **$median_ratio** (target >= $target_ratio: $ratio_ok)."
  echo "Peer2 peak RSS, max over runs: **$max_peak MiB** (target < $target_rss_mib MiB: $rss_ok)."
  echo "Seed peak RSS at the end: $seed_hwm MiB; peer1: $peer1_hwm MiB."
)
cpu_table=$(
  echo "Context: \`curl -o /dev/null\` throughput (loopback and nginx alone, no file written),"
  echo "and CPU use during each timed download in cores (CPU seconds / wall seconds;"
  echo "the machine has $(nproc)); \"machine\" counts every process, the build or anything else included:"
  echo
  echo "| run | curl to /dev/null MiB/s | nginx (curl) | machine (curl) | peer2 fld (flget) | seed fld (flget) | peer1 fld (flget) | machine (flget) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${cpu_rows[@]}"
)
echo
echo "$table"
echo
echo "$cpu_table"
echo
echo "origin served $origin_bytes bytes in all (the warm-up's seed fetch and the curl runs)"
echo "daemon and scheduler log lines at warn or above: $warn_lines"
for n in "${notes[@]}"; do echo "note: warm-up on $n"; done
if [ "$warn_lines" -gt 0 ]; then
  grep -h -v -e '^--- start' -e 'fld ready' -e 'listening on' \
    "$work"/seed.log "$work"/peer1.log "$work"/peer2.log "$work"/sched.log | head -20 || true
fi

# Result file and docs/benchmarks.md.
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
result=bench/results/p2p_throughput-$stamp.md
[ "$tls" -eq 1 ] && result=bench/results/p2p_throughput-tls-$stamp.md
{
  echo "# p2p_throughput $stamp"
  echo
  echo "Command: \`$cmdline\`"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- file size: $size_mib MiB ($size_bytes bytes), runs: $runs"
  echo "- nproc: $(nproc)"
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "- kernel: $(uname -srm)"
  echo "- work directory: $work_parent ($(stat -f -c %T "$work_parent") file system)"
  echo "- load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- binaries: $build_dir/src/bin (build type $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || echo unknown)), fld built $fld_built"
  echo "- git HEAD when run: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src api 2>/dev/null || echo ' (src or api modified)')"
  echo
  echo "$table"
  echo
  echo "$cpu_table"
  echo
  echo "Daemon and scheduler log lines at warn or above: $warn_lines."
  for n in "${notes[@]}"; do echo; echo "Note: the warm-up used the origin on $n"; done
} > "$result"
log "wrote $result"

if [ "$docs_update" -eq 1 ]; then
docs=docs/benchmarks.md
if [ ! -f "$docs" ]; then
  cat > "$docs" <<'INTRO'
# Benchmarks

Measured figures for Feilong, each with the script that produced it and the
exact command, so that anyone can run it again. Every script lives in
`bench/` and writes its raw result, with the machine it ran on, to
`bench/results/`. Figures from loopback runs on small machines are
indications of where the time goes, not of a production network.
INTRO
fi
newsec=$(
  echo "$section"
  echo
  echo "\`bench/p2p_throughput.sh\`: a fresh peer downloads a ${size_mib} MiB file with"
  echo "\`flget\` from its two parents (a seed and a peer that hold the whole task),"
  echo "against \`curl\` downloading it from the nginx origin (\`sendfile on\`), all on"
  echo "127.0.0.1. Latest run, $(date -u '+%Y-%m-%d') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -r)),"
  echo "raw result in \`$result\`:"
  echo
  echo '```sh'
  echo "$cmdline"
  echo '```'
  echo
  echo "$table"
  echo
  echo "$cpu_table"
  for n in "${notes[@]}"; do echo; echo "Note: the warm-up used the origin on $n"; done
)
echo "$newsec" | python3 bench/replace_docs_section.py "$docs" "$section"
log "updated $docs"
fi
echo "targets: ratio $median_ratio (>= $target_ratio: $ratio_ok), peer2 peak RSS $max_peak MiB (< $target_rss_mib: $rss_ok)"
echo "median_flget_mibs=$(calc "round(__import__('statistics').median([$(IFS=,; echo "${flget_rates[*]}")]), 1)")"
