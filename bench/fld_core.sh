#!/usr/bin/env bash
# fld's core costs (issue 17, one event loop): threads, CPU per GiB and peak
# RSS of one fld under 100 concurrent downloads from 8 parents, and the
# loopback throughput of one download from one parent. One set of binaries
# per run; run it before and after a change with different --label values.
#
# What it does, all on 127.0.0.1 (fld, flsched with --plaintext):
#   - an nginx origin (sendfile on) serves --files random files of
#     --file-mib MiB and one random file of --big-mib MiB; flsched runs with
#     candidate_parent_limit: 8, so one decision can name 8 parents;
#   - 8 parents: p1 is a seed (--allow-origin 127.0.0.1), p2..p8 are normal
#     peers, every config key at its default. Warm-up: p1 downloads every
#     file from the origin (flget on its socket, 10 at once), then p2..p8
#     download every file (10 files at a time, on all 7 at once), so each
#     file is held by 8 parents;
#   - phase 1: a fresh "child" fld (download.parent.wanted: 8, the rest
#     default) downloads all the files at once (one flget per file, all
#     started together). A sampler (python3) reads the child's
#     /proc/PID/status Threads: every 20 ms, the thread names at the peak
#     (/proc/PID/task/*/comm), and every 100 ms which parents the child holds
#     TCP connections to (its socket inodes in /proc/PID/net/tcp against
#     the parents' piece and peer ports). Reported: threads when idle (1 s
#     after start, before the downloads), the most during them, max minus
#     idle; the child's CPU seconds (utime + stime from /proc/PID/stat, all
#     threads) over the phase per GiB received; the wall time from starting
#     the flgets to the last one's exit (it includes starting that many
#     flget processes, some 30 ms of CPU each: how many downloads were in
#     flight at once, from each flget's own time and exit, is reported
#     too); the child's peak RSS (VmHWM); the
#     parents it fetched pieces from; the bytes from the origin (flget -v);
#     every output's SHA-256 against the source;
#   - phase 2: p1 (the seed) downloads the big file from the origin; the
#     child stops, and a fresh "child2" fld (download.parent.wanted: 1)
#     downloads the big file: its only parent is p1. Reported: seconds (the
#     flget's wall time), MiB/s, child2's CPU seconds per GiB, its peak RSS
#     and threads (idle, max), origin bytes, SHA-256 against the source.
# flget outputs are hard links to the daemon's cached file (same file
# system), so no extra copy is timed.
#
# Prints two Markdown tables (one row each) and writes them with machine
# facts to bench/results/fld_core-<UTC time>.md; unless --no-docs or
# --smoke, keeps the section "## fld core: threads, CPU per GiB, one-parent
# throughput" of docs/benchmarks.md (appended if missing): its two tables
# hold one row per --label, a row with this run's label is replaced, any
# other label's row is kept, so "before" and "after" rows sit side by side.
# Exits non-zero only when something broke: a download failed, a digest did
# not match, a daemon died. Bytes from the origin in the measured phases are
# reported (and noted), not fatal.
#
#   bench/fld_core.sh [--build-dir DIR (build)] [--label TEXT] [--files N (100)]
#                     [--file-mib M (8)] [--big-mib M (1024)] [--work-dir DIR (/tmp)]
#                     [--warm-memory-gib G (4)] [--no-docs] [--smoke]
# --build-dir: fld, flget, flsched are taken from DIR/src/bin/NAME/NAME (it
# builds nothing). --label: the row's name in the tables (default
# "<build dir> (<git HEAD>)"), e.g. "before (ded8aa9)". --work-dir: where the
# files and every daemon's data go (a fresh directory under DIR, removed at
# the end; needs about 10 x files x file-mib + 3 x big-mib MiB); on a tmpfs
# such as /dev/shm the figures are CPU, not the disk's writeback. --smoke:
# 10 files of 1 MiB and a 64 MiB big file (unless given), result file under
# bench/results/tmp/, docs untouched. Needs nginx, curl, python3 and built
# fld, flget, flsched. --warm-memory-gib: at most this much memory is
# written and freed just before each measured phase (bench/lib/harness.sh
# warm_guest_memory; 0: none), so the phase's page cache reuses warm pages:
# on this VM a write to a page the guest has not used lately costs ~14 x a
# write to one it has, which would otherwise land in the CPU per GiB of
# whichever daemon gets cold pages (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline=bench/fld_core.sh   # as typed: an argument with spaces or shell characters is quoted
for a in "$@"; do
  if [[ $a =~ ^[A-Za-z0-9_./:=,+-]+$ ]]; then cmdline+=" $a"; else cmdline+=" '${a//\'/\'\\\'\'}'"; fi
done
build_dir=build
label=""
files=""
file_mib=""
big_mib=""
work_parent=/tmp
warm_gib=4
docs_update=1
smoke=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --label) label=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --file-mib) file_mib=$2; shift 2 ;;
    --big-mib) big_mib=$2; shift 2 ;;
    --work-dir) work_parent=$2; shift 2 ;;
    --warm-memory-gib) warm_gib=$2; shift 2 ;;
    --no-docs) docs_update=0; shift ;;
    --smoke) smoke=1; docs_update=0; shift ;;
    -h|--help) sed -n '2,66p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fld_core: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$smoke" -eq 1 ]; then
  files=${files:-10} file_mib=${file_mib:-1} big_mib=${big_mib:-64}
else
  files=${files:-100} file_mib=${file_mib:-8} big_mib=${big_mib:-1024}
fi
[[ "$warm_gib" =~ ^[0-9]+$ ]] || { echo "fld_core: --warm-memory-gib takes a whole number" >&2; exit 2; }
for v in "$files" "$file_mib" "$big_mib"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "fld_core: --files, --file-mib and --big-mib take positive integers" >&2; exit 2; }
done
for t in nginx curl python3; do
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] ||
    { echo "fld_core: needs $t (not found)" >&2; exit 2; }
done
for b in fld flget flsched; do
  [ -x "$build_dir/src/bin/$b/$b" ] || { echo "fld_core: no $build_dir/src/bin/$b/$b; build it first" >&2; exit 2; }
done
[ -d "$work_parent" ] || { echo "fld_core: --work-dir $work_parent is not a directory" >&2; exit 2; }
if [ -z "$label" ]; then
  label="$build_dir ($(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src api 2>/dev/null || echo '+modified'))"
fi
case "$label" in
  *'|'* | *$'\n'*) echo "fld_core: --label may not contain '|' or a newline" >&2; exit 2 ;;
esac

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
section="## fld core: threads, CPU per GiB, one-parent throughput"
n_parents=8
warm_batch=10
sample_ms=20
started_at=$(date +%s)

# shellcheck source-path=SCRIPTDIR source=lib/harness.sh
source "$(dirname "$0")/lib/harness.sh"
harness_start fld_core "$work_parent"
# Before a measured phase: as many GiB of warm pages, freed just before the
# phase writes about $1 MiB, so its page cache reuses them.
memory_warmups=()
warm_before_phase() {
  [ "$warm_gib" -gt 0 ] || return 0
  local want=$(( ($1 + 1023) / 1024 + 1 ))
  [ "$want" -le "$warm_gib" ] || want=$warm_gib
  local gib secs slowest
  read -r gib secs slowest <<< "$(warm_guest_memory "$want")"
  memory_warmups+=("$gib GiB in $secs s (slowest GiB $slowest s)")
}
# Threads of process $1 now.
threads_of() { awk '/^Threads:/ { print $2 }' "/proc/$1/status"; }

# The binaries are copied so that a rebuild in the meantime cannot swap them.
mkdir -p "$work/bin"
for b in fld flget flsched; do cp "$build_dir/src/bin/$b/$b" "$work/bin/"; done
fld_built=$(date -u -r "$build_dir/src/bin/fld/fld" '+%Y-%m-%d %H:%M UTC')
fld=$work/bin/fld
flget=$work/bin/flget

log "generating $files files of $file_mib MiB and one of $big_mib MiB in $work"
mkdir -p "$work/www"
for i in $(seq 1 "$files"); do
  head -c $((file_mib * 1024 * 1024)) /dev/urandom > "$work/www/f$i.bin"
done
head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$work/www/big.bin"
declare -A want=()   # file name -> SHA-256
while read -r sum name; do want[${name##*/}]=$sum; done < <(cd "$work/www" && sha256sum -- *.bin)
file_bytes=$((file_mib * 1024 * 1024))
big_bytes=$((big_mib * 1024 * 1024))

start_nginx_origin "$work/www"
origin="http://127.0.0.1:$origin_port"

printf 'candidate_parent_limit: %s\n' "$n_parents" > "$work/sched.yaml"
"$work/bin/flsched" --config "$work/sched.yaml" --plaintext --listen 127.0.0.1:0 --metrics-listen "" \
  --log-level warn > "$work/sched.log" 2>&1 &
pid_of[flsched]=$!
sched=$(wait_for_line "$work/sched.log" "listening on" | sed 's/.*listening on //')

# Starts fld named $1 (data dir $work/$1, log $work/$1.log), extra args
# after it (--metrics-listen among them: give it to every daemon); wait_ready
# $1 then waits for its "fld ready" line.
start_daemon() {
  local name=$1; shift
  mkdir -p "$work/$name"
  "$fld" --data-dir "$work/$name" --host-id "$name" --scheduler "$sched" \
    --peer-listen 127.0.0.1:0 --piece-listen 127.0.0.1:0 --log-level warn --plaintext \
    "$@" > "$work/$name.log" 2>&1 &
  pid_of[$name]=$!
}
wait_ready() {
  for _ in $(seq 1 300); do
    grep -q "fld ready" "$work/$1.log" && return 0
    kill -0 "${pid_of[$1]}" 2>/dev/null || { cat "$work/$1.log" >&2; die "fld $1 exited"; }
    sleep 0.1
  done
  cat "$work/$1.log" >&2; die "fld $1 not ready"
}
# Prints field $2 (peer_port, piece_port, metrics_port) of daemon $1's ready line.
ready_field() { grep -m1 "fld ready" "$work/$1.log" | sed -n "s/.* $2=\([0-9]*\).*/\1/p"; }

# Starts flget on daemon $1 for file $2 (under the origin) to $3, stderr to
# $4, in the background. wait_flgets waits for every one started: one that
# exits 3 (no daemon answered within flget's 2 s connect wait, which a
# burst of flget processes on a small machine can exceed; the daemon got no
# request) is started again, up to 3 times, and counted in flget_retries;
# any other failure ends the run.
declare -A flget_args=() flget_tries=()
flget_retries=0
start_flget() {
  "$flget" --socket "$work/$1/fld.sock" -v --no-progress --timeout 1800 "$origin/$2" -O "$3" 2> "$4" &
  pid_of["flget:$1:$2"]=$!
  flget_args["flget:$1:$2"]="$1"$'\t'"$2"$'\t'"$3"$'\t'"$4"
}
wait_flgets() {
  local k rc d f o e keys failed=() first=""
  while :; do
    keys=()
    for k in "${!pid_of[@]}"; do [[ $k == flget:* ]] && keys+=("$k"); done
    [ "${#keys[@]}" -gt 0 ] || break
    for k in "${keys[@]}"; do
      rc=0; wait "${pid_of[$k]}" || rc=$?
      unset "pid_of[$k]"
      IFS=$'\t' read -r d f o e <<< "${flget_args[$k]}"
      if [ "$rc" -eq 3 ] && [ "${flget_tries[$k]:-0}" -lt 3 ]; then
        flget_tries[$k]=$((${flget_tries[$k]:-0} + 1))
        flget_retries=$((flget_retries + 1))
        log "again: ${k#flget:} ($(tail -n 1 "$e"))"
        start_flget "$d" "$f" "$o" "$e"
      elif [ "$rc" -ne 0 ]; then
        failed+=("${k#flget:} exited $rc")
        [ -n "$first" ] || first=$e
      fi
    done
  done
  [ "${#failed[@]}" -eq 0 ] && return 0
  cat "$first" >&2
  die "${#failed[@]} downloads failed, e.g. ${failed[0]}: $(tail -n 1 "$first")"
}
# Sums field $2 ("peers", "origin" or "cache") of the "task ..." lines of
# flget -v in files $3...
bytes_from() {
  local what=$1; shift
  cat "$@" | sed -n "s/^task .*from $what \([0-9]*\).*/\1/p" | awk '{ s += $1 } END { printf "%.0f", s }'
}
# Checks the output $1 of file $2 against the source digest.
check_digest() {
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "${want[$2]}" ] || die "digest mismatch on $1: $got, want ${want[$2]}"
}
notes=()

parents=()
for i in $(seq 1 "$n_parents"); do parents+=("p$i"); done
start_daemon p1 --metrics-listen off --seed --allow-origin 127.0.0.1  # the origin is on loopback
for p in "${parents[@]:1}"; do start_daemon "$p" --metrics-listen off; done
for p in "${parents[@]}"; do wait_ready "$p"; done
sleep 1   # let the daemons announce themselves (the seed must be known)

# The sampler: thread count every $sample_ms ms, thread names at the peak,
# connections to the parents every 5th sample; until the stop file exists.
cat > "$work/sampler.py" <<'PY'
import json, os, sys, time
pid, interval, stop, out, started = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ports = json.loads(sys.argv[6])  # "port" -> [parent, "piece" | "peer"]

def threads():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0

def names():
    count = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                n = f.read().strip()
        except OSError:
            continue
        count[n] = count.get(n, 0) + 1
    return count

def connections():
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            c = row.split()
            if c[3] != "01" or c[9] not in inodes:  # ESTABLISHED, ours
                continue
            port = str(int(c[2].rsplit(":", 1)[1], 16))
            if port in ports:
                found.append(tuple(ports[port]))
    return found

r = {"samples": 0, "max_threads": 0, "max_at_s": 0.0, "names_at_peak": {}, "names_threads": 0,
     "parents_piece": [], "parents_peer": [], "max_piece_connections": 0, "max_peer_connections": 0}
piece, peer = set(), set()
t0 = time.monotonic()
open(started, "w").close()
i = 0
while True:
    began = time.monotonic()
    last = os.path.exists(stop)
    try:
        n = threads()
        if n > r["max_threads"]:
            r["max_threads"], r["max_at_s"] = n, round(time.monotonic() - t0, 3)
        if n > r["names_threads"]:
            r["names_at_peak"], r["names_threads"] = names(), n
        if i % 5 == 0 or last:
            conns = connections()
            piece |= {p for p, kind in conns if kind == "piece"}
            peer |= {p for p, kind in conns if kind == "peer"}
            r["max_piece_connections"] = max(r["max_piece_connections"], sum(1 for _, k in conns if k == "piece"))
            r["max_peer_connections"] = max(r["max_peer_connections"], sum(1 for _, k in conns if k == "peer"))
    except OSError:
        r["error"] = "the process went away"
        break
    r["samples"] += 1
    i += 1
    if last:
        break
    time.sleep(max(0.0, interval - (time.monotonic() - began)))
r["seconds"] = round(time.monotonic() - t0, 3)
r["parents_piece"], r["parents_peer"] = sorted(piece), sorted(peer)
with open(out, "w") as f:
    json.dump(r, f)
PY
ports_json=$(
  for p in "${parents[@]}"; do
    printf '"%s": ["%s", "piece"], "%s": ["%s", "peer"], ' "$(ready_field "$p" piece_port)" "$p" "$(ready_field "$p" peer_port)" "$p"
  done | sed 's/, $//; s/^/{/; s/$/}/'
)
# Starts the sampler on process $1, results to $work/$2.json; stop_sampler $2.
start_sampler() {
  rm -f "$work/$2.stop" "$work/$2.started"
  python3 "$work/sampler.py" "$1" "$(calc "$sample_ms / 1000")" "$work/$2.stop" "$work/$2.json" \
    "$work/$2.started" "$ports_json" 2> "$work/$2.sampler.err" &
  pid_of[sampler]=$!
  for _ in $(seq 1 100); do [ -f "$work/$2.started" ] && return 0; sleep 0.05; done
  die "the sampler did not start: $(cat "$work/$2.sampler.err")"
}
stop_sampler() {
  touch "$work/$1.stop"
  wait "${pid_of[sampler]}" || die "the sampler failed: $(cat "$work/$1.sampler.err")"
  unset "pid_of[sampler]"
}
# Prints key $2 of the sampler's JSON $work/$1.json (lists joined with ", ").
sampled() {
  python3 -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
print(", ".join(v) if isinstance(v, list) else v)' "$work/$1.json" "$2"
}

# Warm-up: p1 (the seed) fetches every file from the origin, then p2..p8
# download every file from their parents, $warm_batch files at a time.
mkdir -p "$work/err" "$work/warm"
warm_start=$(now)
log "warm-up: p1 (seed) downloads $files files from the origin"
for ((b = 1; b <= files; b += warm_batch)); do
  for ((i = b; i < b + warm_batch && i <= files; i++)); do
    start_flget p1 "f$i.bin" "$work/warm/p1-f$i.bin" "$work/err/p1:f$i.bin.err"
  done
  wait_flgets
done
log "warm-up: p2..p$n_parents download $files files each"
for ((b = 1; b <= files; b += warm_batch)); do
  for p in "${parents[@]:1}"; do
    for ((i = b; i < b + warm_batch && i <= files; i++)); do
      start_flget "$p" "f$i.bin" "$work/warm/$p-f$i.bin" "$work/err/$p:f$i.bin.err"
    done
  done
  wait_flgets
done
for f in "$work"/warm/*; do
  [ "$(stat -c %s "$f")" -eq "$file_bytes" ] || die "warm-up output $f has $(stat -c %s "$f") bytes, want $file_bytes"
done
rm -rf "$work/warm"
warm_s=$(calc "round($(now) - $warm_start, 1)")
warm_errs=(); for p in "${parents[@]:1}"; do warm_errs+=("$work/err/$p:"*.err); done
warm_origin_peers=$(bytes_from origin "${warm_errs[@]}")
[ "$warm_origin_peers" = 0 ] || notes+=("warm-up: p2..p$n_parents got $warm_origin_peers bytes from the origin (content only needed there)")
log "warm-up done in $warm_s s"

# Phase 1: the child downloads every file at once from its 8 parents.
printf 'download:\n  parent:\n    wanted: %s\n' "$n_parents" > "$work/child.yaml"
start_daemon child --config "$work/child.yaml" --metrics-listen 127.0.0.1:0
wait_ready child
sleep 1
cpid=${pid_of[child]}
idle_threads=$(threads_of "$cpid")
warm_before_phase $(( files * file_mib ))
log "phase 1: child ($idle_threads threads idle) downloads $files files at once"
mkdir -p "$work/out" "$work/err1"
start_sampler "$cpid" phase1
p_cpu0=(); for p in "${parents[@]}"; do p_cpu0+=("$(cpu_of "${pid_of[$p]}")"); done
c0=$(cpu_of "$cpid")
warm_retries=$flget_retries
s=$(now)
for i in $(seq 1 "$files"); do
  start_flget child "f$i.bin" "$work/out/f$i.bin" "$work/err1/child:f$i.bin.err"
done
launched=$(now)
wait_flgets
e=$(now)
c1=$(cpu_of "$cpid")
p_cpu1=(); for p in "${parents[@]}"; do p_cpu1+=("$(cpu_of "${pid_of[$p]}")"); done
launch_s=$(calc "round($launched - $s, 2)")
p1_retries=$((flget_retries - warm_retries))
[ "$p1_retries" -eq 0 ] || notes+=("phase 1: $p1_retries flget processes found no daemon within their 2 s connect wait and were started again")
stop_sampler phase1
kill -0 "$cpid" 2>/dev/null || die "the child exited during phase 1"
peak1=$(hwm_mib "$cpid")
sleep 1
threads_after=$(threads_of "$cpid")
metrics=$(curl -s "http://127.0.0.1:$(ready_field child metrics_port)/metrics" |
  grep -E '^feilong_daemon_(download_bytes_total|parent_busy_total|piece_failures_total|back_to_source_total|downloads_total)' || true)
for i in $(seq 1 "$files"); do check_digest "$work/out/f$i.bin" "f$i.bin"; done
# When each download ran, from its flget: it ends when flget writes its
# "task ... in S s" line (the err file's mtime) and began S seconds before.
read -r in_flight start_spread dl_p50 dl_max < <(python3 - "$work"/err1/*.err <<'PY'
import os, re, statistics, sys
spans = []
for f in sys.argv[1:]:
    m = re.search(r" in ([0-9.]+) s ", open(f).read())
    end = os.stat(f).st_mtime
    spans.append((end - float(m.group(1)), end, float(m.group(1))))
events = sorted([(b, 1) for b, _, _ in spans] + [(e, -1) for _, e, _ in spans])
now = most = 0
for _, d in events:
    now += d
    most = max(most, now)
starts = [b for b, _, _ in spans]
secs = [s for _, _, s in spans]
print(most, round(max(starts) - min(starts), 2), round(statistics.median(secs), 2), max(secs))
PY
)
p1_peers=$(bytes_from peers "$work"/err1/*.err)
p1_origin=$(bytes_from origin "$work"/err1/*.err)
p1_cache=$(bytes_from cache "$work"/err1/*.err)
p1_s=$(calc "$e - $s")
p1_gib=$(calc "($p1_peers + $p1_origin) / 2**30")
p1_cpu=$(calc "$c1 - $c0")
p1_cpu_gib=$(calc "round($p1_cpu / max($p1_gib, 1e-9), 2)")
max_threads=$(sampled phase1 max_threads)
parents_used=$(sampled phase1 parents_piece)
n_used=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["parents_piece"]))' "$work/phase1.json")
peak_names=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(", ".join(f"{n} {c}" for n, c in sorted(r["names_at_peak"].items(), key=lambda x: (-x[1], x[0]))))' "$work/phase1.json")
[ "$p1_origin" = 0 ] || notes+=("phase 1: $p1_origin bytes came from the origin")
[ "$p1_cache" = 0 ] || notes+=("phase 1: $p1_cache bytes came from the child's cache")
parent_cpu=""
for j in "${!parents[@]}"; do
  parent_cpu+="${parents[$j]} $(calc "round(${p_cpu1[$j]} - ${p_cpu0[$j]}, 2)"), "
done
parent_cpu=${parent_cpu%, }
log "$(printf 'phase 1: %.2f s, threads %s idle, %s max; child CPU %.2f s (%s s/GiB); peak RSS %s MiB; parents serving pieces: %s' \
  "$p1_s" "$idle_threads" "$max_threads" "$p1_cpu" "$p1_cpu_gib" "$peak1" "$n_used")"
stop child
rm -rf "$work/out" "$work/child"

# Phase 2: the seed fetches the big file; a fresh child2 (one parent
# wanted) downloads it from the seed, the only host that holds it.
log "phase 2: p1 (seed) downloads the $big_mib MiB file from the origin"
start_flget p1 big.bin "$work/p1-big.bin" "$work/err/p1:big.bin.err"
wait_flgets
rm -f "$work/p1-big.bin"
printf 'download:\n  parent:\n    wanted: 1\n' > "$work/child2.yaml"
start_daemon child2 --config "$work/child2.yaml" --metrics-listen off
wait_ready child2
sleep 1
c2pid=${pid_of[child2]}
idle2=$(threads_of "$c2pid")
warm_before_phase "$big_mib"
log "phase 2: child2 downloads the $big_mib MiB file from p1"
start_sampler "$c2pid" phase2
c0=$(cpu_of "$c2pid")
s=$(now)
retries0=$flget_retries
start_flget child2 big.bin "$work/big.out" "$work/child2-big.err"
wait_flgets
e=$(now)
[ "$flget_retries" -eq "$retries0" ] || notes+=("phase 2: flget found no daemon within its 2 s connect wait and was started again")
c1=$(cpu_of "$c2pid")
stop_sampler phase2
kill -0 "$c2pid" 2>/dev/null || die "child2 exited during phase 2"
peak2=$(hwm_mib "$c2pid")
[ "$(stat -c %s "$work/big.out")" -eq "$big_bytes" ] || die "child2's output has $(stat -c %s "$work/big.out") bytes, want $big_bytes"
check_digest "$work/big.out" big.bin
p2_origin=$(bytes_from origin "$work/child2-big.err")
p2_peers=$(bytes_from peers "$work/child2-big.err")
[ "$p2_origin" = 0 ] || notes+=("phase 2: $p2_origin bytes came from the origin")
p2_s=$(calc "$e - $s")
p2_mibs=$(calc "round($big_mib / $p2_s)")
p2_cpu=$(calc "$c1 - $c0")
p2_cpu_gib=$(calc "round($p2_cpu / max(($p2_peers + $p2_origin) / 2**30, 1e-9), 2)")
max2=$(sampled phase2 max_threads)
parents2=$(sampled phase2 parents_piece)
log "$(printf 'phase 2: %.2f s, %s MiB/s, child2 CPU %.2f s (%s s/GiB), peak RSS %s MiB' "$p2_s" "$p2_mibs" "$p2_cpu" "$p2_cpu_gib" "$peak2")"

warn_lines=$({ grep -h -v -e 'fld ready' -e 'listening on' -e 'tls_disabled' "$work"/*.log || true; } | wc -l)
total_s=$(( $(date +%s) - started_at ))
run_date=$(date -u '+%Y-%m-%d')
stamp=$(date -u +%Y%m%dT%H%M%SZ)
if [ "$smoke" -eq 1 ]; then result=bench/results/tmp/fld_core-$stamp.md; else result=bench/results/fld_core-$stamp.md; fi
fs_type=$(stat -f -c %T "$work_parent")
setup1="$files × $file_mib MiB, $fs_type"
setup2="$big_mib MiB, $fs_type"

header1="| label | date | downloads | in flight at once (max) | threads idle | threads max | max − idle | child CPU s per GiB | wall s | child peak RSS MiB | parents serving pieces | bytes from origin | raw result |"
sep1="| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
# shellcheck disable=SC2016  # backquotes for Markdown
row1=$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s of %s | %s | `%s` |' \
  "$label" "$run_date" "$setup1" "$in_flight" "$idle_threads" "$max_threads" "$((max_threads - idle_threads))" \
  "$p1_cpu_gib" "$p1_s" "$peak1" "$n_used" "$n_parents" "$p1_origin" "${result##*/}")
header2="| label | date | file | s | MiB/s | child CPU s per GiB | child peak RSS MiB | threads idle / max | bytes from origin | raw result |"
sep2="| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
# shellcheck disable=SC2016  # backquotes for Markdown
row2=$(printf '| %s | %s | %s | %.2f | %s | %s | %s | %s / %s | %s | `%s` |' \
  "$label" "$run_date" "$setup2" "$p2_s" "$p2_mibs" "$p2_cpu_gib" "$peak2" "$idle2" "$max2" "$p2_origin" "${result##*/}")
details=(
  "phase 1: $files flget processes started back to back; $(calc "round($p1_gib, 3)") GiB received (from peers $p1_peers bytes, origin $p1_origin, cache $p1_cache); child CPU $(printf '%.2f' "$p1_cpu") s, $(calc "round($p1_cpu / $p1_s, 2)") cores on average"
  "phase 1 downloads (flget -v): $dl_p50 s median, $dl_max s the longest; at most $in_flight in flight at once; the last began $start_spread s after the first (the shell started the $files flget processes in $launch_s s; each then needs its own start-up); flget started again: $p1_retries"
  "phase 1 threads: $idle_threads idle, $max_threads max ($(sampled phase1 max_at_s) s after the sampler started, just before the downloads; $(sampled phase1 samples) samples every $sample_ms ms), $threads_after 1 s after the last download ended"
  "phase 1 thread names at the peak ($(sampled phase1 names_threads) threads): $peak_names"
  "phase 1 parents the child held connections to (sampled every $((sample_ms * 5)) ms): piece port $n_used of $n_parents ($parents_used), at most $(sampled phase1 max_piece_connections) piece connections at once; peer (gRPC) port: $(sampled phase1 parents_peer)"
  "phase 1 parents' CPU seconds: $parent_cpu"
  "phase 2: child2 CPU $(printf '%.2f' "$p2_cpu") s ($(calc "round($p2_cpu / $p2_s, 2)") cores on average); parents it held piece connections to: ${parents2:-none seen}; from peers $p2_peers bytes, origin $p2_origin"
  "warm-up: $warm_s s (p1 from the origin, then p2..p$n_parents, $warm_batch files at a time; flget started again: $warm_retries)"
  "guest memory warmed before phase 1 and phase 2: ${memory_warmups[*]:-none}"
  "whole run: $total_s s; daemon and scheduler log lines at warn or above: $warn_lines"
)
table=$(
  echo "$files concurrent downloads, $n_parents parents each:"
  echo
  echo "$header1"
  echo "$sep1"
  echo "$row1"
  echo
  echo "One download from one parent:"
  echo
  echo "$header2"
  echo "$sep2"
  echo "$row2"
)
echo
echo "$table"
echo
for d in "${details[@]}"; do echo "- $d"; done
for n in "${notes[@]}"; do echo "note: $n"; done
if [ "$warn_lines" -gt 0 ]; then
  grep -h -v -e 'fld ready' -e 'listening on' -e 'tls_disabled' "$work"/*.log | head -20 || true
fi

mkdir -p "${result%/*}"
{
  echo "# fld_core $stamp"
  echo
  echo "Command: \`$cmdline\`"
  echo
  echo "- label: $label"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- phase 1: $files files of $file_mib MiB, $n_parents parents (p1 a seed), child download.parent.wanted: $n_parents; phase 2: one $big_mib MiB file, one parent (the seed), child2 download.parent.wanted: 1; every other fld key at its default; flsched candidate_parent_limit: $n_parents; plaintext"
  echo "- nproc: $(nproc)"
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "- kernel: $(uname -srm)"
  echo "- work directory: $work_parent ($fs_type file system)"
  echo "- load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- binaries: $build_dir/src/bin (build type $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || echo unknown)), fld built $fld_built"
  echo "- git HEAD when run: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src api 2>/dev/null || echo ' (src or api modified)')"
  echo
  echo "$table"
  echo
  for d in "${details[@]}"; do echo "- $d"; done
  for n in "${notes[@]}"; do echo; echo "Note: $n"; done
  if [ -n "$metrics" ]; then
    echo
    echo "The child's metrics after phase 1:"
    echo
    echo '```'
    echo "$metrics"
    echo '```'
  fi
  if [ "$warn_lines" -gt 0 ]; then
    echo
    echo "Log lines at warn or above (first 20):"
    echo
    echo '```'
    grep -h -v -e 'fld ready' -e 'listening on' -e 'tls_disabled' "$work"/*.log | head -20 || true
    echo '```'
  fi
} > "$result"
log "wrote $result"

if [ "$docs_update" -eq 1 ]; then
  intro=$(
    echo "$section"
    echo
    echo "\`bench/fld_core.sh\` (issue 17): what one fld costs in threads, CPU and"
    echo "memory. All on 127.0.0.1, plaintext. Eight parents (one seed, seven peers,"
    echo "every key at its default) hold every file; flsched offers up to 8 parents"
    echo "(\`candidate_parent_limit: 8\`). A fresh child fld (\`download.parent.wanted: 8\`)"
    echo "downloads all the files at once, one \`flget\` each; a sampler reads its"
    echo "\`Threads:\` every $sample_ms ms. Then a fresh fld (\`download.parent.wanted: 1\`)"
    echo "downloads one big file from the seed, the only host holding it. CPU is the"
    echo "child's utime + stime over the phase per GiB received; peak RSS is its"
    echo "VmHWM; \"parents serving pieces\" counts the parents the child held piece"
    echo "connections to; \"in flight at once\" is the most downloads running at one"
    echo "time (each flget's own duration before its exit): on a small machine"
    echo "starting 100 flget processes (some 30 ms of CPU each, competing with the"
    echo "downloads already running) spreads the starts over seconds, and they cannot"
    echo "be held back and released together (flget waits only 2 s for the daemon),"
    echo "so compare threads between rows with similar figures there. One row per"
    echo "\`--label\`, each with its raw result file in"
    echo "\`bench/results/\` (command, machine, thread names at the peak, metrics):"
    echo
    echo '```sh'
    echo "bench/fld_core.sh --build-dir DIR --label TEXT --work-dir /dev/shm"
    echo '```'
  )
  LABEL="$label" INTRO="$intro" SECTION="$section" H1="$header1" S1="$sep1" R1="$row1" \
    H2="$header2" S2="$sep2" R2="$row2" python3 - docs/benchmarks.md <<'PY'
import os, sys
sys.path.insert(0, "bench")
from replace_docs_section import replace_section

path, env = sys.argv[1], os.environ
lines = open(path).read().splitlines() if os.path.exists(path) else []
start = next((i for i, l in enumerate(lines) if l == env["SECTION"]), None)
old = []
if start is not None:
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    old = lines[start + 1:end]

def rows_under(header):
    """The rows of the table in the old section whose header is `header`."""
    if header not in old:
        return []
    out = []
    for l in old[old.index(header) + 2:]:
        if not l.startswith("| "):
            break
        out.append(l)
    return out

def merged(header, row):
    """The old rows with this label's row replaced in place, or appended."""
    label = row.split("|")[1].strip()
    rows = rows_under(header)
    same = [i for i, r in enumerate(rows) if r.split("|")[1].strip() == label]
    if not same:
        return rows + [row]
    rows[same[0]] = row
    return [r for i, r in enumerate(rows) if i not in same[1:]]

def table(title, h, s, r):
    return "\n".join([title, "", h, s] + merged(h, r))

new = "\n\n".join([
    env["INTRO"],
    table("100 concurrent downloads (or `--files`), 8 parents each:", env["H1"], env["S1"], env["R1"]),
    table("One download from one parent:", env["H2"], env["S2"], env["R2"]),
])
replace_section(path, env["SECTION"], new)
PY
  log "updated docs/benchmarks.md"
fi
echo "whole run: $total_s s"
