// fl_scheduler_load: a load generator for flsched. It plays many peer
// daemons against a running scheduler over the scheduler's real gRPC API.
//
//   fl_scheduler_load --scheduler 127.0.0.1:8002 [--peers 10000] [--tasks 100]
//                     [--hosts 10000] [--pieces 16] [--concurrency 1000] ...
//
// What it does, in phases:
//   1. announce: AnnounceHost for every simulated host, as each daemon does
//      when it starts (no seed hosts: every host is HOST_TYPE_NORMAL).
//   2. peers: --peers downloads, peer j of task j % tasks on host
//      j * hosts / peers (so a host's peers are in different tasks). At most
//      --concurrency AnnouncePeer streams are open at once; a new peer starts
//      when one ends. Each peer behaves as a daemon's download does:
//        - opens the stream and sends Register (task spec, host),
//        - on KIND_BACK_TO_SOURCE: BackToSourceStarted, ContentLengthKnown,
//          then PieceFinished for every piece with no parent and a SHA-256
//          (as a daemon that fetched the piece from the origin),
//        - on KIND_NORMAL: PieceFinished for every piece with a parent from
//          the decision (round robin), each once the scheduler has sent the
//          piece's digest (a daemon fetches from parents only what it can
//          verify),
//        - then DownloadFinished, half-closes the stream and waits for the
//          scheduler to end it.
//      Pieces are reported back to back (no transfer time is simulated).
//   3. stat: StatTask for every task; the counts must match what was sent.
//   4. leave (unless --no-leave): LeaveHost for every host, as daemons do
//      when they stop.
//
// Scheduling latency is the time from starting the stream (Register queued)
// to the first ScheduleDecision. By design the scheduler holds back a peer
// while a parent may still appear: a task's only peer is fetching from the
// origin but has not reported the content length yet (schedule_wait). The
// samples are therefore split:
//   - "decided at once": the peer registered when the scheduler had no
//     reason to wait (it was its task's first peer, or a peer of its task had
//     already reported ContentLengthKnown): pure decision latency;
//   - "held": the peer registered before that; its latency includes the
//     intentional wait. "release" is then the time from the task's
//     ContentLengthKnown write completing to the decision.
// "ContentLengthKnown reported" is the moment the generator's write of it
// completed, so the split is approximate (a write completes before the
// scheduler has read it).
//
// gRPC callback API: all streams share --channels HTTP/2 connections and
// gRPC's own small thread pool; there is no thread per peer.
//
// Prints a human summary and "result.<key> <value>" lines for scripts.
// Exits 0 when the run completed without errors, 1 when any RPC failed or a
// count did not match, 2 for bad flags.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "feilong/scheduler/v1/scheduler.grpc.pb.h"

namespace {

namespace v1 = feilong::scheduler::v1;
namespace cv1 = feilong::common::v1;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

uint64_t SplitMix64(uint64_t x) {
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

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

class Launcher;

// One simulated download: one AnnouncePeer stream.
class PeerCall final
    : public grpc::ClientBidiReactor<v1::AnnouncePeerRequest, v1::AnnouncePeerResponse> {
 public:
  PeerCall(Launcher& launcher, v1::Scheduler::Stub& stub, uint32_t index);
  void Start();

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  enum class Tag : uint8_t { kOther, kContentLength, kLast };
  struct Outgoing {
    v1::AnnouncePeerRequest request;
    Tag tag;
  };

  // Requires mutex_.
  void Queue(v1::AnnouncePeerRequest request, Tag tag);
  void StartNextWrite();
  void OnDecision(const v1::ScheduleDecision& decision);
  void ReportReadyPieces();
  void Finish();

  Launcher& launcher_;
  v1::Scheduler::Stub& stub_;
  const uint32_t index_;
  const uint32_t task_;
  grpc::ClientContext context_;
  v1::AnnouncePeerResponse response_;

  // Recursive: a reaction could run inline from a Start* made under it.
  std::recursive_mutex mutex_;
  std::deque<Outgoing> queue_;  // front() is in flight while writing_
  bool writing_ = false;
  bool write_failed_ = false;
  bool finish_queued_ = false;
  bool decided_ = false;
  bool normal_ = false;
  bool held_ = false;  // registered before its task had a ready parent
  Clock::time_point started_;
  std::vector<std::string> parents_;
  std::vector<bool> digest_known_;
  std::vector<bool> reported_;
  uint32_t reported_count_ = 0;
};

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
  void RunPeers() {
    for (uint32_t i = 0; i < options_.peers; ++i) {
      {
        std::unique_lock lock(mutex_);
        slots_.wait(lock, [&] { return active_ < options_.concurrency; });
        ++active_;
      }
      (new PeerCall(*this, stub(i), i))->Start();
    }
    std::unique_lock lock(mutex_);
    slots_.wait(lock, [&] { return active_ == 0; });
  }

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

PeerCall::PeerCall(Launcher& launcher, v1::Scheduler::Stub& stub, uint32_t index)
    : launcher_(launcher),
      stub_(stub),
      index_(index),
      task_(launcher.fleet().TaskOf(index)),
      digest_known_(launcher.options().pieces),
      reported_(launcher.options().pieces) {}

void PeerCall::Start() {
  const Fleet& fleet = launcher_.fleet();
  TaskClock& clock = launcher_.task(task_);
  bool first = !clock.registered.exchange(true);
  held_ = !first && clock.ready_ns.load() == 0;
  context_.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(launcher_.options().timeout_s));
  v1::AnnouncePeerRequest request;
  v1::Register* reg = request.mutable_register_();
  reg->set_task_id(fleet.TaskId(task_));
  reg->set_peer_id(fleet.PeerId(index_));
  *reg->mutable_host() = fleet.Host(fleet.HostOf(index_));
  *reg->mutable_spec() = fleet.Spec(task_);
  started_ = Clock::now();
  stub_.async()->AnnouncePeer(&context_, this);
  StartRead(&response_);
  {
    std::lock_guard lock(mutex_);
    Queue(std::move(request), Tag::kOther);
  }
  StartCall();
}

void PeerCall::Queue(v1::AnnouncePeerRequest request, Tag tag) {
  queue_.push_back(Outgoing{std::move(request), tag});
  if (!writing_ && !write_failed_) {
    StartNextWrite();
  }
}

void PeerCall::StartNextWrite() {
  writing_ = true;
  Outgoing& next = queue_.front();
  if (next.tag == Tag::kLast) {
    StartWriteLast(&next.request, grpc::WriteOptions());
  } else {
    StartWrite(&next.request);
  }
}

void PeerCall::OnWriteDone(bool ok) {
  std::lock_guard lock(mutex_);
  Outgoing& done = queue_.front();
  if (!ok) {
    // The stream broke; the read fails too and OnDone reports the status.
    write_failed_ = true;
    writing_ = false;
    queue_.clear();
    return;
  }
  launcher_.stats().messages_sent.fetch_add(1, std::memory_order_relaxed);
  if (done.request.has_piece_finished()) {
    launcher_.stats().piece_reports.fetch_add(1, std::memory_order_relaxed);
  }
  if (done.tag == Tag::kContentLength) {
    int64_t expected = 0;
    launcher_.task(task_).ready_ns.compare_exchange_strong(expected, NowNs());
  }
  queue_.pop_front();
  writing_ = false;
  if (!queue_.empty()) {
    StartNextWrite();
  }
}

void PeerCall::OnReadDone(bool ok) {
  if (!ok) {
    return;  // the scheduler ended the stream; OnDone follows
  }
  {
    std::lock_guard lock(mutex_);
    if (response_.has_decision()) {
      OnDecision(response_.decision());
    } else if (response_.has_piece_digests()) {
      launcher_.stats().digest_messages.fetch_add(1, std::memory_order_relaxed);
      for (const cv1::PieceDigest& digest : response_.piece_digests().pieces()) {
        if (digest.number() < digest_known_.size()) {
          if (digest.sha256() != Fleet::Digest(task_, digest.number())) {
            launcher_.stats().Error("wrong digest pushed");
          }
          digest_known_[digest.number()] = true;
        }
      }
      if (normal_) {
        ReportReadyPieces();
      }
    }
  }
  response_.Clear();
  StartRead(&response_);
}

void PeerCall::OnDecision(const v1::ScheduleDecision& decision) {
  Stats& stats = launcher_.stats();
  std::string kind = v1::ScheduleDecision::Kind_Name(decision.kind());
  if (decision.kind() == v1::ScheduleDecision::KIND_BACK_TO_SOURCE) {
    kind += "/" + cv1::BackToSourceReason_Name(decision.reason());
  }
  if (decided_) {
    stats.Error("unexpected second decision " + kind);
    return;
  }
  decided_ = true;
  Clock::time_point now = Clock::now();
  double latency = Millis(now - started_);
  int64_t ready_ns = launcher_.task(task_).ready_ns.load();
  {
    std::lock_guard lock(stats.mutex);
    ++stats.decisions[kind];
    stats.latency_all_ms.push_back(latency);
    if (held_) {
      stats.latency_held_ms.push_back(latency);
      if (ready_ns != 0) {
        stats.release_ms.push_back(static_cast<double>(NowNs() - ready_ns) / 1e6);
      }
    } else {
      stats.latency_immediate_ms.push_back(latency);
    }
  }
  const uint32_t pieces = launcher_.options().pieces;
  if (decision.kind() == v1::ScheduleDecision::KIND_BACK_TO_SOURCE) {
    // A daemon fetching from the origin: announce it, the geometry, then each
    // piece with its digest and no parent.
    v1::AnnouncePeerRequest started;
    started.mutable_back_to_source_started()->set_reason(decision.reason());
    Queue(std::move(started), Tag::kOther);
    v1::AnnouncePeerRequest known;
    known.mutable_content_length_known()->set_content_length(launcher_.fleet().ContentLength());
    known.mutable_content_length_known()->set_piece_length(launcher_.options().piece_length);
    Queue(std::move(known), Tag::kContentLength);
    for (uint32_t n = 0; n < pieces; ++n) {
      v1::AnnouncePeerRequest piece;
      v1::PieceFinished* finished = piece.mutable_piece_finished();
      finished->set_number(n);
      finished->set_sha256(Fleet::Digest(task_, n));
      finished->set_cost_us(1000);
      Queue(std::move(piece), Tag::kOther);
    }
    reported_count_ = pieces;
    Finish();
    return;
  }
  if (decision.kind() != v1::ScheduleDecision::KIND_NORMAL) {
    stats.Error("unexpected decision " + kind);
    context_.TryCancel();
    return;
  }
  if (decision.content_length() != launcher_.fleet().ContentLength() ||
      decision.piece_length() != launcher_.options().piece_length) {
    stats.Error("wrong content or piece length in a decision");
  }
  if (decision.parents().empty()) {
    stats.Error("KIND_NORMAL without parents");
    context_.TryCancel();
    return;
  }
  for (const v1::CandidateParent& parent : decision.parents()) {
    parents_.push_back(parent.peer_id());
  }
  normal_ = true;
  ReportReadyPieces();
}

void PeerCall::ReportReadyPieces() {
  for (uint32_t n = 0; n < reported_.size(); ++n) {
    if (reported_[n] || !digest_known_[n]) {
      continue;
    }
    reported_[n] = true;
    ++reported_count_;
    v1::AnnouncePeerRequest piece;
    v1::PieceFinished* finished = piece.mutable_piece_finished();
    finished->set_number(n);
    finished->set_parent_id(parents_[n % parents_.size()]);
    finished->set_sha256(Fleet::Digest(task_, n));
    finished->set_cost_us(1000);
    Queue(std::move(piece), Tag::kOther);
  }
  if (reported_count_ == reported_.size()) {
    Finish();
  }
}

void PeerCall::Finish() {
  if (finish_queued_) {
    return;
  }
  finish_queued_ = true;
  v1::AnnouncePeerRequest done;
  done.mutable_download_finished();
  Queue(std::move(done), Tag::kLast);
}

void PeerCall::OnDone(const grpc::Status& status) {
  Stats& stats = launcher_.stats();
  bool complete;
  bool decided;
  {
    std::lock_guard lock(mutex_);
    complete = finish_queued_ && !write_failed_ && queue_.empty();
    decided = decided_;
  }
  if (!status.ok()) {
    stats.Error("AnnouncePeer ended with " + std::to_string(status.error_code()) + " (" +
                status.error_message() + ")");
    stats.peers_failed.fetch_add(1);
  } else if (!decided) {
    stats.Error("AnnouncePeer ended OK without a decision");
    stats.peers_failed.fetch_add(1);
  } else if (!complete) {
    stats.Error("AnnouncePeer ended OK before every report was written");
    stats.peers_failed.fetch_add(1);
  } else {
    stats.peers_ok.fetch_add(1);
  }
  Launcher& launcher = launcher_;
  delete this;
  launcher.PeerDone();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void PrintLatency(const char* name, const std::vector<double>& v) {
  std::printf("%-32s n=%-6zu p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", name, v.size(),
              Percentile(v, 50), Percentile(v, 99), Percentile(v, 100));
  std::printf("result.%s.n %zu\nresult.%s.p50_ms %.3f\nresult.%s.p99_ms %.3f\n", name, v.size(),
              name, Percentile(v, 50), name, Percentile(v, 99));
  std::printf("result.%s.max_ms %.3f\n", name, Percentile(v, 100));
}

// Runs `count` unary calls with at most `window` in flight; returns failures.
template <typename Request, typename Response, typename Make, typename Call>
uint64_t RunUnary(uint32_t count, uint32_t window, Make make, Call call,
                  std::function<void(uint32_t, const grpc::Status&, const Response&)> check) {
  struct Slot {
    grpc::ClientContext context;
    Request request;
    Response response;
  };
  std::mutex mutex;
  std::condition_variable cv;
  uint32_t active = 0;
  uint64_t failures = 0;
  for (uint32_t i = 0; i < count; ++i) {
    {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return active < window; });
      ++active;
    }
    auto* slot = new Slot();
    slot->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    slot->request = make(i);
    call(i, &slot->context, &slot->request, &slot->response, [&, slot, i](grpc::Status status) {
      check(i, status, slot->response);
      delete slot;
      {
        std::lock_guard lock(mutex);
        failures += status.ok() ? 0 : 1;
        --active;
      }
      cv.notify_all();
    });
  }
  std::unique_lock lock(mutex);
  cv.wait(lock, [&] { return active == 0; });
  return failures;
}

// Seconds this process's live threads spent on a CPU and waiting in a run
// queue for one (/proc/self/task/*/schedstat): the wait shows how much the
// other work on the machine delayed us.
// `process` is "self" or a pid.
std::pair<double, double> SchedStat(const std::string& process = "self") {
  double run = 0;
  double wait = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + process + "/task", ec)) {
    std::ifstream in(entry.path() / "schedstat");
    double r = 0;
    double w = 0;
    if (in >> r >> w) {
      run += r / 1e9;
      wait += w / 1e9;
    }
  }
  return {run, wait};
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int Run(const Options& o) {
  Fleet fleet(o);
  Stats stats;
  Launcher launcher(o, fleet, stats);
  v1::Scheduler::Stub& control = launcher.stub(0);

  std::printf("scheduler %s: %u peers, %u tasks (%u peers each), %u hosts, %u pieces of %u bytes\n",
              o.scheduler.c_str(), o.peers, o.tasks, o.peers / o.tasks, o.hosts, o.pieces,
              o.piece_length);
  std::printf("concurrency %u streams over %u channels\n", o.concurrency, o.channels);
  std::fflush(stdout);

  // 1. Hosts announce themselves, as each daemon does when it starts.
  // flsched's CPU time and run-queue wait per phase, when its pid is known.
  const std::string sched_proc = std::to_string(o.scheduler_pid);
  auto sched_stat = [&] {
    return o.scheduler_pid == 0 ? std::pair<double, double>{0, 0} : SchedStat(sched_proc);
  };
  auto print_sched = [&](const char* phase, std::pair<double, double> before, double wall) {
    if (o.scheduler_pid == 0) {
      return;
    }
    auto after = sched_stat();
    double run = after.first - before.first;
    double wait = after.second - before.second;
    std::printf("flsched during %s: %.2f s on a CPU (%.2f cores), %.2f s runnable but waiting\n",
                phase, run, run / wall, wait);
    std::printf("result.sched_%s_cpu_s %.3f\nresult.sched_%s_wait_s %.3f\n", phase, run, phase,
                wait);
  };
  auto sa = sched_stat();
  Clock::time_point t0 = Clock::now();
  uint64_t announce_failures = RunUnary<v1::AnnounceHostRequest, v1::AnnounceHostResponse>(
      o.hosts, o.concurrency,
      [&](uint32_t h) {
        v1::AnnounceHostRequest request;
        *request.mutable_host() = fleet.Host(h);
        return request;
      },
      [&](uint32_t h, grpc::ClientContext* c, const v1::AnnounceHostRequest* req,
          v1::AnnounceHostResponse* resp, std::function<void(grpc::Status)> done) {
        launcher.stub(h).async()->AnnounceHost(c, req, resp, std::move(done));
      },
      [&](uint32_t, const grpc::Status& status, const v1::AnnounceHostResponse&) {
        if (!status.ok()) {
          stats.Error("AnnounceHost failed: " + status.error_message());
        }
      });
  double announce_s = Seconds(Clock::now() - t0);
  print_sched("announce", sa, announce_s);
  std::printf("announce: %u hosts in %.2f s (%.0f/s), %llu failed\n", o.hosts, announce_s,
              o.hosts / announce_s, static_cast<unsigned long long>(announce_failures));

  // 2. The downloads.
  double cpu0 = CpuSeconds();
  double wait0 = SchedStat().second;
  auto sp = sched_stat();
  Clock::time_point p0 = Clock::now();
  launcher.RunPeers();
  double peers_s = Seconds(Clock::now() - p0);
  double peers_cpu = CpuSeconds() - cpu0;
  double wait1 = SchedStat().second;
  print_sched("peers", sp, peers_s);
  uint64_t reports = stats.piece_reports.load();
  std::printf(
      "peers: %u in %.2f s: %.0f registrations/s, %llu piece reports (%.0f/s), "
      "%llu messages sent, %llu digest messages received\n",
      o.peers, peers_s, o.peers / peers_s, static_cast<unsigned long long>(reports),
      static_cast<double>(reports) / peers_s,
      static_cast<unsigned long long>(stats.messages_sent.load()),
      static_cast<unsigned long long>(stats.digest_messages.load()));
  std::printf(
      "peers ok %llu, failed %llu; generator CPU %.2f s (%.2f cores), "
      "its threads waited %.2f s for a CPU\n",
      static_cast<unsigned long long>(stats.peers_ok.load()),
      static_cast<unsigned long long>(stats.peers_failed.load()), peers_cpu, peers_cpu / peers_s,
      wait1 - wait0);

  // 3. Every task's counts, as the scheduler sees them.
  const uint32_t per_task = o.peers / o.tasks;
  uint64_t stat_failures = RunUnary<v1::StatTaskRequest, v1::StatTaskResponse>(
      o.tasks, 16,
      [&](uint32_t t) {
        v1::StatTaskRequest request;
        request.set_task_id(fleet.TaskId(t));
        return request;
      },
      [&](uint32_t, grpc::ClientContext* c, const v1::StatTaskRequest* req,
          v1::StatTaskResponse* resp, std::function<void(grpc::Status)> done) {
        control.async()->StatTask(c, req, resp, std::move(done));
      },
      [&](uint32_t t, const grpc::Status& status, const v1::StatTaskResponse& r) {
        if (!status.ok()) {
          stats.Error("StatTask failed: " + status.error_message());
          return;
        }
        uint32_t want = per_task + (t < o.peers % o.tasks ? 1 : 0);
        if (r.succeeded_peer_count() != want || r.peer_count() != want ||
            r.known_piece_digests() != o.pieces || r.content_length() != fleet.ContentLength()) {
          stats.Error("StatTask counts differ from what was sent");
          std::fprintf(stderr,
                       "task %s: peers %u succeeded %u (want %u), digests %u (want %u), "
                       "content length %llu\n",
                       r.task_id().c_str(), r.peer_count(), r.succeeded_peer_count(), want,
                       r.known_piece_digests(), o.pieces,
                       static_cast<unsigned long long>(r.content_length()));
        }
      });
  (void)stat_failures;

  // 4. Hosts leave.
  double leave_s = 0;
  if (o.leave) {
    auto sl = sched_stat();
    Clock::time_point l0 = Clock::now();
    RunUnary<v1::LeaveHostRequest, v1::LeaveHostResponse>(
        o.hosts, o.concurrency,
        [&](uint32_t h) {
          v1::LeaveHostRequest request;
          request.set_host_id(fleet.HostId(h));
          return request;
        },
        [&](uint32_t h, grpc::ClientContext* c, const v1::LeaveHostRequest* req,
            v1::LeaveHostResponse* resp, std::function<void(grpc::Status)> done) {
          launcher.stub(h).async()->LeaveHost(c, req, resp, std::move(done));
        },
        [&](uint32_t, const grpc::Status& status, const v1::LeaveHostResponse&) {
          if (!status.ok()) {
            stats.Error("LeaveHost failed: " + status.error_message());
          }
        });
    leave_s = Seconds(Clock::now() - l0);
    print_sched("leave", sl, leave_s);
    std::printf("leave: %u hosts in %.2f s (%.0f/s)\n", o.hosts, leave_s, o.hosts / leave_s);
  }

  std::lock_guard lock(stats.mutex);
  PrintLatency("latency_all", stats.latency_all_ms);
  PrintLatency("latency_immediate", stats.latency_immediate_ms);
  PrintLatency("latency_held", stats.latency_held_ms);
  PrintLatency("release", stats.release_ms);
  for (const auto& [kind, count] : stats.decisions) {
    std::printf("decisions %s: %llu\n", kind.c_str(), static_cast<unsigned long long>(count));
  }
  uint64_t errors = 0;
  for (const auto& [what, count] : stats.errors) {
    std::printf("ERROR x%llu: %s\n", static_cast<unsigned long long>(count), what.c_str());
    errors += count;
  }
  std::printf("result.peers %u\nresult.tasks %u\nresult.hosts %u\nresult.pieces %u\n", o.peers,
              o.tasks, o.hosts, o.pieces);
  std::printf("result.concurrency %u\nresult.channels %u\n", o.concurrency, o.channels);
  std::printf("result.announce_s %.3f\nresult.announce_per_s %.1f\n", announce_s,
              o.hosts / announce_s);
  std::printf("result.peers_s %.3f\nresult.registrations_per_s %.1f\n", peers_s, o.peers / peers_s);
  std::printf("result.piece_reports %llu\nresult.piece_reports_per_s %.1f\n",
              static_cast<unsigned long long>(reports), static_cast<double>(reports) / peers_s);
  std::printf("result.peers_ok %llu\nresult.peers_failed %llu\n",
              static_cast<unsigned long long>(stats.peers_ok.load()),
              static_cast<unsigned long long>(stats.peers_failed.load()));
  std::printf("result.generator_cores %.3f\nresult.generator_runqueue_wait_s %.3f\n",
              peers_cpu / peers_s, wait1 - wait0);
  std::printf("result.leave_s %.3f\n", leave_s);
  std::printf("result.errors %llu\n", static_cast<unsigned long long>(errors));
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fl_scheduler_load: simulated peers against a running flsched"};
  Options o;
  app.add_option("--scheduler", o.scheduler, "flsched gRPC address host:port")->required();
  app.add_option("--peers", o.peers, "downloads to simulate")->capture_default_str();
  app.add_option("--tasks", o.tasks, "tasks the downloads are spread over")->capture_default_str();
  app.add_option("--hosts", o.hosts, "simulated hosts (daemons); at most --peers")
      ->capture_default_str();
  app.add_option("--pieces", o.pieces, "pieces per task")->capture_default_str();
  app.add_option("--piece-length", o.piece_length, "bytes per piece")->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "AnnouncePeer streams open at once")
      ->capture_default_str();
  app.add_option("--channels", o.channels, "gRPC connections to the scheduler")
      ->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "deadline of each stream, seconds")
      ->capture_default_str();
  app.add_option("--scheduler-pid", o.scheduler_pid,
                 "flsched's pid on this machine: report its CPU time per phase");
  bool no_leave = false;
  app.add_flag("--no-leave", no_leave, "skip LeaveHost for every host at the end");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  o.leave = !no_leave;
  if (o.peers == 0 || o.tasks == 0 || o.hosts == 0 || o.pieces == 0 || o.piece_length == 0 ||
      o.concurrency == 0 || o.channels == 0 || o.timeout_s == 0) {
    std::fprintf(stderr, "fl_scheduler_load: every count must be at least 1\n");
    return 2;
  }
  if (o.hosts > o.peers || o.tasks > o.peers) {
    std::fprintf(stderr, "fl_scheduler_load: --hosts and --tasks must not exceed --peers\n");
    return 2;
  }
  if ((uint64_t{o.peers} + o.hosts - 1) / o.hosts > o.tasks) {
    // A host's peers must be in different tasks (peers on the same host are
    // never each other's parents, and one host downloads a task once).
    std::fprintf(stderr, "fl_scheduler_load: --peers / --hosts must not exceed --tasks\n");
    return 2;
  }
  return Run(o);
}
