#include "common/io_loop.h"

#include <pthread.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>
#include <thread>
#include <vector>

namespace feilong {

namespace asio = boost::asio;

namespace {

using AsioStrand = asio::strand<asio::io_context::executor_type>;

class AsioTimer final : public StrandTimer {
 public:
  AsioTimer(AsioStrand strand, std::function<void()> on_fire)
      : state_(std::make_shared<State>(strand, std::move(on_fire))) {}
  ~AsioTimer() override { Cancel(); }

  void ArmAt(Clock::TimePoint when) override {
    ++state_->generation;
    state_->timer.expires_at(when);
    std::weak_ptr<State> weak = state_;
    uint64_t generation = state_->generation;
    state_->timer.async_wait(
        asio::bind_executor(state_->strand, [weak, generation](boost::system::error_code ec) {
          auto state = weak.lock();
          // A wait replaced by a later ArmAt or Cancel must not fire, even
          // when it had already completed before being cancelled.
          if (!ec && state && state->generation == generation) {
            state->on_fire();
          }
        }));
  }
  void Cancel() override {
    ++state_->generation;
    state_->timer.cancel();
  }

 private:
  struct State {
    State(AsioStrand s, std::function<void()> fire)
        : strand(s), timer(s), on_fire(std::move(fire)) {}
    AsioStrand strand;
    asio::steady_timer timer;
    std::function<void()> on_fire;
    uint64_t generation = 0;
  };
  std::shared_ptr<State> state_;
};

class AsioStrandImpl final : public Strand {
 public:
  explicit AsioStrandImpl(asio::io_context& context) : strand_(asio::make_strand(context)) {}
  void Post(std::function<void()> handler) override { asio::post(strand_, std::move(handler)); }
  const Clock& clock() const override { return SteadyClock::Default(); }
  std::unique_ptr<StrandTimer> NewTimer(std::function<void()> on_fire) override {
    return std::make_unique<AsioTimer>(strand_, std::move(on_fire));
  }

 private:
  AsioStrand strand_;
};

}  // namespace

class IoLoop::Impl {
 public:
  asio::io_context context;
  asio::executor_work_guard<asio::io_context::executor_type> work{context.get_executor()};
  std::vector<std::thread> threads;
  std::mutex stop_mutex;
};

IoLoop::IoLoop(uint32_t threads, std::string name) : impl_(std::make_unique<Impl>()) {
  if (threads == 0) {
    threads = std::max(1U, std::thread::hardware_concurrency());
  }
  name.resize(std::min<size_t>(name.size(), 15));  // the kernel's limit
  for (uint32_t i = 0; i < threads; ++i) {
    impl_->threads.emplace_back([this, name] {
      pthread_setname_np(pthread_self(), name.c_str());
      impl_->context.run();
    });
  }
}

IoLoop::~IoLoop() { Stop(); }

std::unique_ptr<Strand> IoLoop::NewStrand() {
  return std::make_unique<AsioStrandImpl>(impl_->context);
}

boost::asio::io_context& IoLoop::context() { return impl_->context; }

uint32_t IoLoop::threads() const { return static_cast<uint32_t>(impl_->threads.size()); }

void IoLoop::Stop() {
  std::lock_guard lock(impl_->stop_mutex);
  impl_->work.reset();
  impl_->context.stop();
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) {
      thread.join();
    }
  }
  impl_->threads.clear();
}

}  // namespace feilong
