#include "support/manual_loop.h"

namespace feilong::test {

class ManualTimer final : public StrandTimer {
 public:
  ManualTimer(ManualLoop& loop, std::function<void()> on_fire)
      : loop_(loop), on_fire_(std::make_shared<std::function<void()>>(std::move(on_fire))) {}
  ~ManualTimer() override { Cancel(); }

  void ArmAt(Clock::TimePoint when) override {
    Cancel();
    armed_ = true;
    // The loop keeps a copy of the handler, so a timer destroyed by its own
    // handler is safe.
    key_ = loop_.AddTimer(when, [this, fire = on_fire_] {
      armed_ = false;
      (*fire)();
    });
  }
  void Cancel() override {
    if (armed_) {
      loop_.RemoveTimer(key_);
      armed_ = false;
    }
  }

 private:
  ManualLoop& loop_;
  std::shared_ptr<std::function<void()>> on_fire_;
  bool armed_ = false;
  ManualLoop::TimerKey key_{};
};

class ManualStrand final : public Strand {
 public:
  explicit ManualStrand(ManualLoop& loop) : loop_(loop) {}
  void Post(std::function<void()> handler) override { loop_.Enqueue(std::move(handler)); }
  const Clock& clock() const override { return loop_.clock(); }
  std::unique_ptr<StrandTimer> NewTimer(std::function<void()> on_fire) override {
    return std::make_unique<ManualTimer>(loop_, std::move(on_fire));
  }

 private:
  ManualLoop& loop_;
};

std::unique_ptr<Strand> ManualLoop::NewStrand() { return std::make_unique<ManualStrand>(*this); }

void ManualLoop::Enqueue(std::function<void()> handler) {
  std::lock_guard lock(mutex_);
  posted_.push_back(std::move(handler));
}

ManualLoop::TimerKey ManualLoop::AddTimer(Clock::TimePoint when, std::function<void()> fire) {
  TimerKey key{when, ++timer_sequence_};
  timers_.emplace(key, std::move(fire));
  return key;
}

void ManualLoop::RemoveTimer(const TimerKey& key) { timers_.erase(key); }

size_t ManualLoop::RunUntilIdle() {
  size_t ran = 0;
  for (;;) {
    std::function<void()> handler;
    {
      std::lock_guard lock(mutex_);
      if (posted_.empty()) {
        return ran;
      }
      handler = std::move(posted_.front());
      posted_.pop_front();
    }
    handler();
    ++ran;
  }
}

bool ManualLoop::NextTimer(Clock::TimePoint* when) const {
  if (timers_.empty()) {
    return false;
  }
  *when = timers_.begin()->first.when;
  return true;
}

bool ManualLoop::FireNextTimer(Clock::TimePoint limit) {
  if (timers_.empty() || timers_.begin()->first.when > limit) {
    return false;
  }
  auto node = timers_.extract(timers_.begin());
  if (node.key().when > Now()) {
    clock_.Advance(node.key().when - Now());
  }
  node.mapped()();
  return true;
}

void ManualLoop::AdvanceTo(Clock::TimePoint when) {
  RunUntilIdle();
  while (FireNextTimer(when)) {
    RunUntilIdle();
  }
  if (when > Now()) {
    clock_.Advance(when - Now());
  }
}

bool ManualLoop::RunUntil(const std::function<bool()>& done, Clock::TimePoint limit) {
  RunUntilIdle();
  while (!done()) {
    if (!FireNextTimer(limit)) {
      return false;
    }
    RunUntilIdle();
  }
  return true;
}

}  // namespace feilong::test
