// PieceHub: tells subscribers (children following this peer's pieces over
// SyncPieces) about each piece as it is stored, and when a task's download
// ends. Downloads publish; the peer service subscribes.
//
// Thread rule: thread-safe. Callbacks run on the publishing thread, outside
// the hub's lock, and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace feilong::daemon {

class PieceHub {
 public:
  struct Listener {
    // A new piece is stored.
    std::function<void(uint32_t number)> on_piece;
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

  // Marks a task as being downloaded (subscribers then wait for pieces).
  void BeginTask(const std::string& task_id);
  // True between BeginTask and EndTask.
  bool IsActive(const std::string& task_id) const;
  void PublishPiece(const std::string& task_id, uint32_t number);
  // Pieces published for the task since BeginTask; 0 when it is not active.
  uint32_t PublishedPieces(const std::string& task_id) const;
  // Calls on_end of every listener of the task and forgets them.
  void EndTask(const std::string& task_id);

  // REQUIRES: the hub outlives the subscription.
  std::unique_ptr<Subscription> Subscribe(const std::string& task_id, Listener listener);

 private:
  void Unsubscribe(const std::string& task_id, uint64_t id);

  struct TaskListeners {
    bool active = false;
    uint32_t published = 0;
    std::map<uint64_t, std::shared_ptr<Listener>> listeners;
  };
  mutable std::mutex mutex_;
  uint64_t next_id_ = 1;
  std::map<std::string, TaskListeners> tasks_;
};

}  // namespace feilong::daemon
