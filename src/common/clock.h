// Clock: the one source of time for code whose behaviour depends on time
// (backoff, circuit breakers, rate limiters, GC, keep-alive). Production code
// takes a Clock& and uses SteadyClock; tests use FakeClock and never sleep.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace feilong {

class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

  virtual ~Clock() = default;
  // Monotonic time. Thread-safe.
  virtual TimePoint Now() const = 0;
  // Wall-clock time in seconds since the Unix epoch (for timestamps stored
  // on disk or shown to users; never for measuring intervals). Thread-safe.
  virtual int64_t NowUnixSeconds() const = 0;
  // Blocks the calling thread for `d` (FakeClock: advances its time instead).
  virtual void SleepFor(Duration d) = 0;
};

// The real monotonic clock. Thread-safe; a process-wide instance is Default().
class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override;
  int64_t NowUnixSeconds() const override;
  void SleepFor(Duration d) override;
  static SteadyClock& Default();
};

// A clock that only moves when told. Thread-safe.
class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(Duration(now_ns_.load())); }
  // Starts at 1,700,000,000 (2023-11-14) and moves with Advance().
  int64_t NowUnixSeconds() const override { return kUnixStart + now_ns_.load() / 1'000'000'000; }
  void SleepFor(Duration d) override { Advance(d); }
  void Advance(Duration d) { now_ns_ += d.count(); }

 private:
  static constexpr int64_t kUnixStart = 1'700'000'000;
  std::atomic<int64_t> now_ns_{0};
};

}  // namespace feilong
