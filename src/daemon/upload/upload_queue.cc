#include "daemon/upload/upload_queue.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace feilong::daemon {

namespace asio = boost::asio;

struct UploadQueue::Waiter {
  explicit Waiter(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
};

asio::awaitable<bool> UploadQueue::Wait(std::chrono::milliseconds timeout) {
  auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
  waiter->timer.expires_after(timeout);
  {
    MutexLock lock(mutex_);
    if (closed_ || waiters_.size() >= max_waiting_) {
      co_return false;
    }
    waiters_.push_back(waiter);
  }
  co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  {
    // Still queued when the time ran out (Notify removes whom it wakes).
    MutexLock lock(mutex_);
    std::erase_if(waiters_, [&](const std::weak_ptr<Waiter>& queued) {
      return !queued.owner_before(waiter) && !waiter.owner_before(queued);
    });
  }
  co_return true;
}

void UploadQueue::Notify() {
  std::shared_ptr<Waiter> woken;
  {
    MutexLock lock(mutex_);
    while (!closed_ && !woken && !waiters_.empty()) {
      woken = waiters_.front().lock();
      waiters_.pop_front();
    }
  }
  if (woken) {
    // The timer belongs to the waiter's strand: cancel it there.
    asio::post(woken->timer.get_executor(), [woken] { woken->timer.cancel(); });
  }
}

size_t UploadQueue::waiting() const {
  MutexLock lock(mutex_);
  return waiters_.size();
}

void UploadQueue::Close() {
  MutexLock lock(mutex_);
  closed_ = true;
  waiters_.clear();
}

}  // namespace feilong::daemon
