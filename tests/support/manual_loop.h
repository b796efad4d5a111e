// ManualLoop: strands on a virtual clock, for tests and the in-process
// swarm. Nothing runs by itself: the test calls RunUntilIdle to run every
// posted handler, and AdvanceTo / AdvanceBy to move the clock, firing each
// due timer at its own time (in time order, handlers posted meanwhile run
// before the clock moves on). A run is deterministic: the same posts and
// timers give the same order.
//
// Thread rule: Post is thread-safe (transfer threads may post); everything
// else, and every handler, runs on the thread that calls Run*/Advance*.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "common/clock.h"
#include "common/strand.h"

namespace feilong::test {

class ManualLoop final : public StrandFactory {
 public:
  ManualLoop() = default;
  ManualLoop(const ManualLoop&) = delete;
  ManualLoop& operator=(const ManualLoop&) = delete;

  std::unique_ptr<Strand> NewStrand() override;
  FakeClock& clock() { return clock_; }
  Clock::TimePoint Now() const { return clock_.Now(); }

  // Runs posted handlers until none is left. Returns how many ran.
  size_t RunUntilIdle();
  // Moves the clock to `when` (never back), running handlers and firing
  // timers due on the way.
  void AdvanceTo(Clock::TimePoint when);
  void AdvanceBy(Clock::Duration d) { AdvanceTo(Now() + d); }
  // Runs until `done` holds or the clock would pass `limit`; fires timers
  // as they come due. True if `done` held.
  bool RunUntil(const std::function<bool()>& done, Clock::TimePoint limit);
  // The time of the earliest armed timer, if any.
  bool NextTimer(Clock::TimePoint* when) const;
  // Runs `handler` when the clock reaches `when` (a one-shot timer that
  // cannot be cancelled: for simulated events).
  void PostAt(Clock::TimePoint when, std::function<void()> handler) {
    AddTimer(when, std::move(handler));
  }

 private:
  friend class ManualTimer;
  friend class ManualStrand;
  struct TimerKey {
    Clock::TimePoint when;
    uint64_t sequence;
    bool operator<(const TimerKey& o) const {
      return when != o.when ? when < o.when : sequence < o.sequence;
    }
  };
  void Enqueue(std::function<void()> handler);
  TimerKey AddTimer(Clock::TimePoint when, std::function<void()> fire);
  void RemoveTimer(const TimerKey& key);
  // Fires the earliest timer due at or before `limit`; false if none.
  bool FireNextTimer(Clock::TimePoint limit);

  FakeClock clock_;
  std::mutex mutex_;  // guards posted_
  std::deque<std::function<void()>> posted_;
  std::map<TimerKey, std::function<void()>> timers_;
  uint64_t timer_sequence_ = 0;
};

}  // namespace feilong::test
