// Mutexes that clang's thread-safety analysis understands
// (common/thread_annotations.h): std::mutex and std::shared_mutex with the
// annotations the standard library lacks, and scoped locks for them.
//
//   Mutex mu_;
//   int count_ FL_GUARDED_BY(mu_);
//   void Add() FL_EXCLUDES(mu_) { MutexLock lock(mu_); ++count_; }
//
// A condition variable waits on a Mutex through std::condition_variable_any
// (Mutex is Lockable): `cv.wait(mu_, pred)` inside a MutexLock's scope.
//
// Thread rule: as the standard mutexes they wrap.
#pragma once

#include <mutex>
#include <shared_mutex>

#include "common/thread_annotations.h"

namespace feilong {

class FL_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() FL_ACQUIRE() { mu_.lock(); }
  void unlock() FL_RELEASE() { mu_.unlock(); }
  bool try_lock() FL_THREAD_ANNOTATION(try_acquire_capability(true)) { return mu_.try_lock(); }
  // Tells the analysis the caller holds it (where it cannot see that).
  void AssertHeld() const FL_ASSERT_CAPABILITY(this) {}

 private:
  std::mutex mu_;
};

class FL_CAPABILITY("shared mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() FL_ACQUIRE() { mu_.lock(); }
  void unlock() FL_RELEASE() { mu_.unlock(); }
  void lock_shared() FL_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() FL_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a Mutex, or a SharedMutex exclusively, for its scope.
class FL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) FL_ACQUIRE(mu) : mutex_(&mu) { mu.lock(); }
  explicit MutexLock(SharedMutex& mu) FL_ACQUIRE(mu) : shared_(&mu) { mu.lock(); }
  ~MutexLock() FL_RELEASE() {
    if (mutex_ != nullptr) {
      mutex_->unlock();
    } else {
      shared_->unlock();
    }
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mutex_ = nullptr;
  SharedMutex* shared_ = nullptr;
};

// Holds a SharedMutex shared for its scope.
class FL_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) FL_ACQUIRE_SHARED(mu) : mu_(mu) { mu.lock_shared(); }
  ~ReaderLock() FL_RELEASE() { mu_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace feilong
