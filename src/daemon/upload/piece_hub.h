// PieceHub: tells subscribers (children following this peer's pieces over
// SyncPieces) about the pieces a download stores, and when a task's download
// ends. Downloads publish; the peer service subscribes.
//
// Batching: every message to a child costs both daemons a gRPC write, a
// read and thread wake-ups, which adds up to a large share of a busy
// daemon's CPU. So a task's listeners hear at most once per
// `batch_interval`: the first piece after a quiet interval goes out at once,
// later ones are collected and delivered together when the interval is over
// (on the hub's own thread). EndTask delivers what is collected before it
// announces the end. An interval of zero delivers every piece at once.
//
// Thread rule: thread-safe. Callbacks run outside the hub's state lock on
// the publishing thread, the EndTask caller, or the hub's thread; calls for
// one hub never overlap. They must not block, publish or end a task
// (dropping a Subscription is fine).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"

namespace feilong::daemon {

class PieceHub {
 public:
  struct Listener {
    // Pieces newly stored (at least one per call).
    std::function<void(std::span<const uint32_t> numbers)> on_pieces;
    // The download ended (complete or not); no more pieces will come.
    std::function<void()> on_end;
  };

  // Removes its listener when destroyed.
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    friend class PieceHub;
    Subscription(PieceHub* hub, std::string task_id, uint64_t id)
        : hub_(hub), task_id_(std::move(task_id)), id_(id) {}
    PieceHub* hub_;
    std::string task_id_;
    uint64_t id_;
  };

  explicit PieceHub(std::chrono::milliseconds batch_interval = std::chrono::milliseconds(0));
  // Stops the hub's thread; pieces still collected are not delivered.
  ~PieceHub();
  PieceHub(const PieceHub&) = delete;
  PieceHub& operator=(const PieceHub&) = delete;

  // Marks a task as being downloaded (subscribers then wait for pieces).
  void BeginTask(const std::string& task_id);
  // True between BeginTask and EndTask.
  bool IsActive(const std::string& task_id) const;
  void PublishPiece(const std::string& task_id, uint32_t number);
  // Pieces published for the task since BeginTask; 0 when it is not active.
  uint32_t PublishedPieces(const std::string& task_id) const;
  // Delivers the pieces collected for the task, then calls on_end of every
  // listener of the task and forgets them.
  void EndTask(const std::string& task_id);

  // REQUIRES: the hub outlives the subscription.
  std::unique_ptr<Subscription> Subscribe(const std::string& task_id, Listener listener);

 private:
  using Time = std::chrono::steady_clock::time_point;
  using Targets = std::vector<std::shared_ptr<Listener>>;

  struct TaskListeners {
    bool active = false;
    uint32_t published = 0;
    std::map<uint64_t, std::shared_ptr<Listener>> listeners;
    std::vector<uint32_t> collected;  // published, not yet delivered
    Time last_delivery{};
  };

  void Unsubscribe(const std::string& task_id, uint64_t id) FL_EXCLUDES(mutex_);
  // REQUIRES: mutex_ held (it reads a task's listeners).
  static Targets TargetsOf(const TaskListeners& task);
  static void Deliver(const Targets& targets, std::span<const uint32_t> numbers);
  void DeliverLoop(std::stop_token stop) FL_EXCLUDES(mutex_, deliver_mutex_);

  const std::chrono::milliseconds batch_interval_;
  // Held while callbacks run, so that one task's deliveries and its end
  // reach listeners in order. Taken before mutex_.
  Mutex deliver_mutex_;
  mutable Mutex mutex_;
  // Waits on mutex_ itself (a Lockable), inside a MutexLock's scope.
  std::condition_variable_any collected_cv_;
  uint64_t wakeups_ FL_GUARDED_BY(mutex_) = 0;  // bumped when a task starts collecting
  uint64_t next_id_ FL_GUARDED_BY(mutex_) = 1;
  std::map<std::string, TaskListeners> tasks_ FL_GUARDED_BY(mutex_);
  std::jthread deliverer_;  // last: started after the state above exists
};

}  // namespace feilong::daemon
