// Strand: where one owner's state lives. Handlers posted to one strand run
// one at a time, in the order posted, never two at once, so the state they
// touch needs no lock; handlers of different strands run in parallel. A
// strand also tells the time and runs timers on itself, which is what lets
// the same owner run on a real event loop (IoLoop) or on a virtual clock in
// a test (tests/support/manual_loop.h) without changing a line.
#pragma once

#include <functional>
#include <memory>

#include "common/clock.h"

namespace feilong {

// A one-shot timer whose handler runs on the strand that made it.
// Arm and Cancel only from that strand. Destroying the timer cancels it.
class StrandTimer {
 public:
  virtual ~StrandTimer() = default;
  // (Re)arms the timer for `when`, replacing an earlier arming; a time in
  // the past fires as soon as the strand is free.
  virtual void ArmAt(Clock::TimePoint when) = 0;
  virtual void Cancel() = 0;
};

class Strand {
 public:
  virtual ~Strand() = default;
  // Runs `handler` on the strand, after every handler posted before it.
  // Thread-safe. Handlers still queued when the loop stops may be
  // destroyed without running.
  virtual void Post(std::function<void()> handler) = 0;
  virtual const Clock& clock() const = 0;
  virtual std::unique_ptr<StrandTimer> NewTimer(std::function<void()> on_fire) = 0;
};

// Makes strands on one loop. Thread-safe.
class StrandFactory {
 public:
  virtual ~StrandFactory() = default;
  virtual std::unique_ptr<Strand> NewStrand() = 0;
};

}  // namespace feilong
