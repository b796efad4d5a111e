#include "common/resilience_config.h"

#include <fmt/format.h>

namespace feilong {

namespace {

Status ReadDuration(const ConfigReader& map, std::string_view key, Clock::Duration& out) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(out);
  FL_RETURN_IF_ERROR(map.Read(key, ms));
  // Clock::Duration counts nanoseconds: about 292 years fit, not any
  // number of milliseconds.
  constexpr auto kLongest =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::Duration::max());
  if (ms > kLongest || ms < -kLongest) {
    return Status::InvalidArgument(
        fmt::format("config key '{}.{}': {} ms is too long", map.path(), key, ms.count()));
  }
  out = ms;
  return Status::Ok();
}

}  // namespace

Status ReadRetryPolicy(const ConfigReader& map, RetryPolicy& out) {
  RetryPolicy p = out;
  FL_RETURN_IF_ERROR(map.Read("max_attempts", p.max_attempts));
  FL_RETURN_IF_ERROR(ReadDuration(map, "initial_backoff", p.initial_backoff));
  FL_RETURN_IF_ERROR(ReadDuration(map, "max_backoff", p.max_backoff));
  FL_RETURN_IF_ERROR(map.Read("multiplier", p.multiplier));
  FL_RETURN_IF_ERROR(map.Read("jitter", p.jitter));
  Status valid = Validate(p);
  if (!valid.ok()) {
    return Status::InvalidArgument(fmt::format("config key '{}': {}", map.path(), valid.message()));
  }
  out = p;
  return Status::Ok();
}

Status ReadCircuitBreakerConfig(const ConfigReader& map, CircuitBreakerConfig& out) {
  CircuitBreakerConfig c = out;
  FL_RETURN_IF_ERROR(map.Read("consecutive_failures", c.consecutive_failures));
  FL_RETURN_IF_ERROR(ReadDuration(map, "open_duration", c.open_duration));
  FL_RETURN_IF_ERROR(map.Read("half_open_probes", c.half_open_probes));
  if (c.consecutive_failures == 0) {
    return Status::InvalidArgument(
        fmt::format("config key '{}.consecutive_failures': must be at least 1", map.path()));
  }
  if (c.open_duration <= Clock::Duration::zero()) {
    return Status::InvalidArgument(
        fmt::format("config key '{}.open_duration': must be positive", map.path()));
  }
  out = c;
  return Status::Ok();
}

}  // namespace feilong
