#include "common/clock.h"

#include <thread>

namespace feilong {

Clock::TimePoint SteadyClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

void SteadyClock::SleepFor(Duration d) { std::this_thread::sleep_for(d); }

SteadyClock& SteadyClock::Default() {
  static SteadyClock clock;
  return clock;
}

}  // namespace feilong
