// Caller: who is on the other end of a local API call, as the kernel says
// (SO_PEERCRED and SO_PEERGROUPS on the unix socket), never as the caller
// says.
//
// Thread rule: a plain value.
#pragma once

#include <sys/types.h>

#include <vector>

namespace feilong::daemon {

struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

}  // namespace feilong::daemon
