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
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "load_peers.h"

namespace feilong::loadgen {
namespace {

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
}  // namespace feilong::loadgen

int main(int argc, char** argv) {
  CLI::App app{"fl_scheduler_load: simulated peers against a running flsched"};
  feilong::loadgen::Options o;
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
  return feilong::loadgen::Run(o);
}
