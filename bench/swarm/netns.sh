# shellcheck shell=bash
# Network-namespace plumbing for bench/swarm/run (sourced, not run).
#
# Layout (every name starts with $FLSW_PREFIX, default "flsw-"):
#   namespace ${P}br     holds the bridge "br0" and the bridge-side end of
#                        every host's veth pair (named after the host);
#   namespace ${P}NAME   one per emulated host; its end of the pair is "eth0"
#                        with one address in 10.77.0.0/16, plus "lo".
# Nothing is created in the root namespace: `ip link add ... netns A type
# veth peer ... netns B` creates both ends directly where they belong, so all
# traffic stays between these namespaces and deleting them removes every
# link and qdisc.
#
# Rate limits use tbf on both ends of a host's veth pair:
#   eth0 in the host namespace, egress  = what the host uploads;
#   NAME in the bridge namespace, egress = what the host downloads.
# tbf rather than htb: each end carries one direction of one host with one
# rate and no classes, which is exactly what tbf is; htb would only add a
# class tree with a single class. (This kernel has no netem, fq, fq_codel or
# sfq, so links have a rate and no added delay; flows sharing one end share
# its single FIFO.) tc counts Ethernet and IP/TCP headers against the rate,
# so a TCP transfer's payload reaches about 95 % of it.

FLSW_PREFIX=${FLSW_PREFIX:-flsw-}
FLSW_BRNS=${FLSW_PREFIX}br

# Prints the tbf arguments for a rate of $1 Mbit/s: burst is 10 ms at the
# rate, at least 128 KiB so that a 64 KiB GSO packet passes whole (tbf would
# otherwise split it in software); queue at most 50 ms.
flsw_tbf_args() {
  local mbit=$1 burst
  burst=$((mbit * 1000000 / 8 / 100))
  [ "$burst" -ge 131072 ] || burst=131072
  echo "rate ${mbit}mbit burst ${burst} latency 50ms"
}

# Creates the bridge namespace with br0 up.
flsw_bridge_up() {
  ip netns add "$FLSW_BRNS"
  ip -n "$FLSW_BRNS" link set lo up
  ip -n "$FLSW_BRNS" link add br0 type bridge
  # No STP and no forwarding delay: the ports forward at once.
  ip -n "$FLSW_BRNS" link set br0 type bridge stp_state 0 forward_delay 0
  ip -n "$FLSW_BRNS" link set br0 up
}

# flsw_host_add NAME IP UP_MBIT DOWN_MBIT: a namespace ${P}NAME with eth0 at
# IP/16 on the bridge; a rate of 0 leaves that direction unlimited.
flsw_host_add() {
  local name=$1 ip=$2 up=$3 down=$4 ns=${FLSW_PREFIX}$1
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add eth0 netns "$ns" type veth peer name "$name" netns "$FLSW_BRNS"
  ip -n "$FLSW_BRNS" link set "$name" master br0
  ip -n "$FLSW_BRNS" link set "$name" up
  ip -n "$ns" addr add "$ip/16" dev eth0
  ip -n "$ns" link set eth0 up
  # shellcheck disable=SC2046  # the tbf arguments are meant to split
  [ "$up" = 0 ] || tc -n "$ns" qdisc add dev eth0 root tbf $(flsw_tbf_args "$up")
  # shellcheck disable=SC2046
  [ "$down" = 0 ] || tc -n "$FLSW_BRNS" qdisc add dev "$name" root tbf $(flsw_tbf_args "$down")
}

# flsw_exec NAME CMD...: runs CMD inside host NAME's network namespace, in
# the foreground.
flsw_exec() {
  local ns=${FLSW_PREFIX}$1; shift
  nsenter --net="/run/netns/$ns" -- "$@"
}

# flsw_spawn NAME CMD... &: the same for a background process, so that $! is
# CMD's own pid: the background subshell execs nsenter, which execs CMD
# (`ip netns exec` would fork and wait, and a function run with & would keep
# its subshell as the parent: killing either would orphan CMD).
flsw_spawn() {
  local ns=${FLSW_PREFIX}$1; shift
  exec nsenter --net="/run/netns/$ns" -- "$@"
}

# Every namespace of ours that exists now, one a line.
flsw_namespaces() {
  ip netns list | awk '{print $1}' | grep "^${FLSW_PREFIX}" || true
}

# Bytes sent by host NAME's eth0 (all it uploaded, headers included).
flsw_tx_bytes() {
  ip -n "${FLSW_PREFIX}$1" -s -j link show eth0 | grep -o '"tx":{"bytes":[0-9]*' | grep -o '[0-9]*$'
}

# Removes every namespace of ours: first the processes still inside them
# (they were all started by this harness; `ip netns pids` lists them by id),
# then the namespaces, which takes their veths and qdiscs with them.
flsw_teardown() {
  local ns pids p
  for ns in $(flsw_namespaces); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  done
  sleep 0.5
  for ns in $(flsw_namespaces); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  done
  for ns in $(flsw_namespaces); do ip netns del "$ns" 2>/dev/null || true; done
}
