// The simulated peers of fl_scheduler_load (see scheduler_load.cc for what
// the generator does): the fleet's ids and messages, the shared statistics,
// and the Launcher that runs every peer's AnnouncePeer stream, at most
// `concurrency` at a time, over the gRPC callback API.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "feilong/scheduler/v1/scheduler.grpc.pb.h"

namespace feilong::loadgen {

namespace v1 = feilong::scheduler::v1;
namespace cv1 = feilong::common::v1;
using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
inline double Millis(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Options {
  std::string scheduler;
  uint32_t peers = 10000;
  uint32_t tasks = 100;
  uint32_t hosts = 10000;
  uint32_t pieces = 16;
  uint32_t piece_length = 4 * 1024 * 1024;
  uint32_t concurrency = 1000;
  uint32_t channels = 8;
  uint32_t timeout_s = 120;
  uint32_t scheduler_pid = 0;  // 0: not on this machine / unknown
  bool leave = true;
};

// The simulated fleet: ids and messages, derived from numbers.
class Fleet {
 public:
  explicit Fleet(const Options& options) : o_(options) {}

  std::string HostId(uint32_t h) const { return Ip(h) + "-loadgen-h" + std::to_string(h); }
  std::string TaskId(uint32_t t) const { return "loadgen-task-" + std::to_string(t); }
  uint32_t TaskOf(uint32_t peer) const { return peer % o_.tasks; }
  uint32_t HostOf(uint32_t peer) const {
    return static_cast<uint32_t>(uint64_t{peer} * o_.hosts / o_.peers);
  }
  std::string PeerId(uint32_t peer) const {
    char bits[17];
    std::snprintf(bits, sizeof(bits), "%016llx",
                  static_cast<unsigned long long>(SplitMix64(peer)));  // NOLINT(runtime/int)
    return HostId(HostOf(peer)) + "-" + bits;
  }
  uint64_t ContentLength() const { return uint64_t{o_.pieces} * o_.piece_length; }

  v1::Host Host(uint32_t h) const {
    v1::Host host;
    host.set_id(HostId(h));
    host.set_hostname("loadgen-h" + std::to_string(h));
    host.set_ip(Ip(h));
    host.set_piece_port(65001);
    host.set_peer_port(65002);
    host.set_type(v1::HOST_TYPE_NORMAL);
    host.set_idc("idc" + std::to_string(h % 4));
    host.set_location("cn|r" + std::to_string(h % 4) + "|z" + std::to_string(h % 16));
    return host;
  }

  cv1::TaskSpec Spec(uint32_t t) const {
    cv1::TaskSpec spec;
    spec.set_url("http://origin.invalid/loadgen/" + std::to_string(t) + ".bin");
    spec.set_piece_length(o_.piece_length);
    return spec;
  }

  // A stand-in SHA-256 of piece `n` of task `t`: 32 bytes, the same for every
  // reporter (so the scheduler sees no digest conflict).
  static std::string Digest(uint32_t t, uint32_t n) {
    std::string out(32, '\0');
    for (uint64_t i = 0; i < 4; ++i) {
      uint64_t word = SplitMix64((uint64_t{t} << 32) ^ (uint64_t{n} << 2) ^ i);
      for (int b = 0; b < 8; ++b) {
        out[i * 8 + b] = static_cast<char>(word >> (8 * b));
      }
    }
    return out;
  }

 private:
  static std::string Ip(uint32_t h) {
    return "10." + std::to_string((h >> 16) & 255) + "." + std::to_string((h >> 8) & 255) + "." +
           std::to_string(h & 255);
  }
  const Options& o_;
};

// Latency samples and counters shared by every stream.
struct Stats {
  std::mutex mutex;
  std::vector<double> latency_all_ms;
  std::vector<double> latency_immediate_ms;   // decided at once
  std::vector<double> latency_held_ms;        // registered before a parent was ready
  std::vector<double> release_ms;             // held: ContentLengthKnown written -> decision
  std::map<std::string, uint64_t> errors;     // what -> count
  std::map<std::string, uint64_t> decisions;  // kind/reason -> count

  std::atomic<uint64_t> piece_reports{0};
  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> digest_messages{0};
  std::atomic<uint64_t> peers_ok{0};
  std::atomic<uint64_t> peers_failed{0};

  void Error(const std::string& what) {
    std::lock_guard lock(mutex);
    ++errors[what];
  }
};

// Per task: when the first peer registered and when a peer's
// ContentLengthKnown write completed (the task then has a parent ready).
struct TaskClock {
  std::atomic<bool> registered{false};
  std::atomic<int64_t> ready_ns{0};  // 0 = not yet; steady clock ns since epoch
};

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

class Launcher {
 public:
  Launcher(const Options& options, const Fleet& fleet, Stats& stats)
      : options_(options), fleet_(fleet), stats_(stats), tasks_(options.tasks) {
    grpc::ChannelArguments args;
    for (uint32_t i = 0; i < options.channels; ++i) {
      // A distinct argument per channel keeps gRPC from sharing one
      // connection between them.
      args.SetInt("feilong.loadgen.channel", static_cast<int>(i));
      auto channel =
          grpc::CreateCustomChannel(options.scheduler, grpc::InsecureChannelCredentials(), args);
      stubs_.push_back(v1::Scheduler::NewStub(channel));
    }
  }

  const Options& options() const { return options_; }
  const Fleet& fleet() const { return fleet_; }
  Stats& stats() { return stats_; }
  TaskClock& task(uint32_t t) { return tasks_[t]; }
  v1::Scheduler::Stub& stub(uint32_t i) { return *stubs_[i % stubs_.size()]; }

  // Runs every peer, at most `concurrency` at a time.
  void RunPeers();

  void PeerDone() {
    {
      std::lock_guard lock(mutex_);
      --active_;
    }
    slots_.notify_all();
  }

 private:
  const Options& options_;
  const Fleet& fleet_;
  Stats& stats_;
  std::vector<TaskClock> tasks_;
  std::vector<std::unique_ptr<v1::Scheduler::Stub>> stubs_;
  std::mutex mutex_;
  std::condition_variable slots_;
  uint32_t active_ = 0;
};

}  // namespace feilong::loadgen
