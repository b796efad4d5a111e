// UploadQueue: piece requests that found every upload slot taken, waiting
// for one to free up, oldest first.
//
// Answering such a request "busy" at once leaves the freed slot idle until
// some child happens to ask again (each busy answer costs the child a round
// trip and a backoff), so a parent's upload runs below its link while
// children wait. A short queue keeps the next requests lined up: when an
// upload ends, the oldest waiter is woken and takes the slot.
//
// A waiter is a coroutine on its connection's strand; Notify posts the
// wake-up to that strand, so the waiter's timer is only touched there.
//
// Thread rule: thread-safe. Close() before the io_context the waiters run
// on is destroyed; after it Notify does nothing.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>

#include "common/mutex.h"

namespace feilong::daemon {

class UploadQueue {
 public:
  // At most `max_waiting` requests wait at once.
  explicit UploadQueue(size_t max_waiting) : max_waiting_(max_waiting) {}
  UploadQueue(const UploadQueue&) = delete;
  UploadQueue& operator=(const UploadQueue&) = delete;

  // Waits until Notify picks this waiter or `timeout` passes. Returns false
  // at once, without waiting, when `max_waiting` requests already wait (or
  // the queue is closed). Either way the caller tries for a slot again; a
  // wake-up is a hint, not a reservation.
  // REQUIRES: runs on a strand (each waiter on its own connection's).
  boost::asio::awaitable<bool> Wait(std::chrono::milliseconds timeout);

  // Wakes the oldest waiter, if any.
  void Notify();

  // Waiters right now.
  size_t waiting() const;

  // Wakes nobody any more.
  void Close();

 private:
  struct Waiter;

  const size_t max_waiting_;
  mutable Mutex mutex_;
  std::deque<std::weak_ptr<Waiter>> waiters_ FL_GUARDED_BY(mutex_);  // oldest first
  bool closed_ FL_GUARDED_BY(mutex_) = false;
};

}  // namespace feilong::daemon
