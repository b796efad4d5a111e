#include "common/clock.h"

#include <thread>

namespace feilong {

Clock::TimePoint SteadyClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

int64_t SteadyClock::NowUnixSeconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SteadyClock::SleepFor(Duration d) { std::this_thread::sleep_for(d); }

SteadyClock& SteadyClock::Default() {
  static SteadyClock clock;
  return clock;
}

}  // namespace feilong
