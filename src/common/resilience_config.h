// Reading the resilience knobs (retry policies, circuit breakers) from a
// config map, so every component spells them the same way in YAML:
//
//   retry:
//     max_attempts: 5
//     initial_backoff: 500ms
//     max_backoff: 8s
//     multiplier: 2.0
//     jitter: 0.2
//   circuit_breaker:
//     consecutive_failures: 10
//     open_duration: 5s
//     half_open_probes: 1
//
// Absent keys keep the values already in `out`; a value out of range is an
// InvalidArgument naming the dotted key.
#pragma once

#include "common/circuit_breaker.h"
#include "common/config.h"
#include "common/retry.h"

namespace feilong {

Status ReadRetryPolicy(const ConfigReader& map, RetryPolicy& out);
Status ReadCircuitBreakerConfig(const ConfigReader& map, CircuitBreakerConfig& out);

}  // namespace feilong
