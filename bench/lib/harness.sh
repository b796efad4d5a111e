# shellcheck shell=bash
# The process harness the loopback benchmarks share (sourced, not run):
# a work directory removed at the end, every background process killed on
# exit (also on failure and Ctrl-C), and small helpers to wait for a
# daemon, stop it, and read its CPU time and peak RSS.
#
#   source "$(dirname "$0")/lib/harness.sh"
#   harness_start NAME WORK_PARENT    # sets $work; log/die prefix with NAME
#   pid_of[seed]=$!                   # register a background process
#
# Needs python3 (free_port, calc).

declare -A pid_of=()   # name -> pid of every background process still running
harness_name=bench
work=

harness_start() {
  harness_name=$1
  work=$(mktemp -d "$2/feilong-$1.XXXXXX")
  trap harness_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

harness_cleanup() {
  local p
  for p in "${pid_of[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pid_of[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$work" ] && rm -rf "$work"
}

log() { echo "$harness_name: $*" >&2; }
die() {  # prints the end of every log, then exits 1 (the cleanup runs on EXIT)
  local f
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- tail of $f" >&2; tail -n 5 "$f" >&2; }; done
  log "FAILED: $*"; exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

# Waits until file $1 contains a line matching $2; prints that line.
wait_for_line() {
  local line
  for _ in $(seq 1 300); do
    if line=$(grep -m1 "$2" "$1" 2>/dev/null); then echo "$line"; return 0; fi
    sleep 0.1
  done
  log "timed out waiting for '$2' in $1:"; cat "$1" >&2; return 1
}

# Stops the background process named $1 (SIGTERM) and waits for it.
stop() {
  local p=${pid_of[$1]}
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "pid_of[$1]"
}

# CPU seconds (user + system, all threads) used so far by process $1; 0 if
# it is gone.
harness_tck=$(getconf CLK_TCK)
cpu_of() {
  awk -v t="$harness_tck" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# VmHWM (peak RSS) of process $1 in MiB.
hwm_mib() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# Starts nginx (sendfile on) serving directory $1 on a free loopback port,
# registered as pid_of[nginx]; sets $origin_port. Its access log
# ($work/nginx/logs/access.log) has "status bytes request" per line.
start_nginx_origin() {
  local root=$1 nginx_bin user_line=""
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  origin_port=$(free_port)
  mkdir -p "$work/nginx/logs"
  [ "$(id -u)" -eq 0 ] && user_line="user root;"
  cat > "$work/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
error_log $work/nginx/logs/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  log_format bytes '\$status \$body_bytes_sent "\$request"';
  access_log $work/nginx/logs/access.log bytes;
  sendfile on;
  server { listen 127.0.0.1:$origin_port; root $root; }
}
CONF
  "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
  pid_of[nginx]=$!
}

# Writes $1 GiB into a file in /dev/shm and removes it (capped to leave
# 4 GiB available), so the next allocations reuse pages just written. On the
# VMs these benchmarks run on, a write to a page the guest has not used
# lately costs ~2.8 s per GiB, to one it has ~0.2 s (docs/benchmarks.md,
# "fld core"): without this, whichever daemon gets cold pages pays that in
# its "CPU per GiB".
# Prints "<GiB touched> <seconds> <slowest GiB's seconds>".
warm_guest_memory() {
  python3 - "$1" <<'PY'
import os, sys, time
want = int(sys.argv[1])
avail_kib = next(int(l.split()[1]) for l in open('/proc/meminfo') if l.startswith('MemAvailable:'))
st = os.statvfs('/dev/shm')
gib = max(0, min(want, avail_kib // (1 << 20) - 4, st.f_bavail * st.f_frsize // (1 << 30) - 1))
chunk = os.urandom(1 << 20)
path = '/dev/shm/feilong-warm-%d' % os.getpid()
start, slowest = time.time(), 0.0
try:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    for _ in range(gib):
        t = time.time()
        for _ in range(1024):
            os.write(fd, chunk)
        slowest = max(slowest, time.time() - t)
    os.close(fd)
finally:
    if os.path.exists(path):
        os.unlink(path)
print(gib, round(time.time() - start, 1), round(slowest, 2))
PY
}
