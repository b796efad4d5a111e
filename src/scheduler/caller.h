// Caller: who calls the scheduler, from the certificate it presented
// (mutual TLS). Without TLS anyone may claim a seed and the subject is "".
#pragma once

#include <string>

namespace feilong::scheduler {

struct Caller {
  // May announce or register a seed host (the certificate's seed role).
  bool may_claim_seed = true;
  // The certificate's subject: it holds the host ids it announces
  // (SchedulerState, "Host ownership").
  std::string subject;
};

}  // namespace feilong::scheduler
