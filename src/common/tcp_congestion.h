// TCP congestion control per socket.
//
// A peer's uploads are many-to-one by design: a child pulls pieces from up
// to eight parents at once, so several flows share its download link's
// queue. Which algorithm the senders run decides how much of that link is
// lost to drops: in the 16-host swarm benchmark at 25 Mbit/s, BBR (this
// VM's default) dropped ~8 % of the bytes sent at the children's queues and
// Cubic ~1.3 %, and the swarm took 1.20 vs 1.13 x T_min (docs/benchmarks.md).
// So the piece server chooses its senders' algorithm instead of inheriting
// the host's.
//
// Thread rule: free functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong {

// OK for "" (keep the host's default) or a name of 1..15 characters of
// [a-z0-9_-]; InvalidArgument otherwise. Says nothing about availability.
Status ValidateTcpCongestionName(std::string_view name);

// Sets the congestion control of TCP socket `fd`. NotFound if the kernel
// has no such algorithm, PermissionDenied if this process may not choose
// it (not in net.ipv4.tcp_allowed_congestion_control and no CAP_NET_ADMIN),
// IOError otherwise; each names the algorithm.
Status SetTcpCongestion(int fd, std::string_view name);

// The congestion control socket `fd` runs, or the error.
Result<std::string> TcpCongestionOf(int fd);

// Checks on a throwaway socket that SetTcpCongestion(name) would succeed.
Status ProbeTcpCongestion(std::string_view name);

}  // namespace feilong
