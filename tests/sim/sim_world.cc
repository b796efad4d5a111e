#include "sim/sim_world.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <random>

#include "access/grant.h"
#include "common/metrics.h"
#include "daemon/daemon_config.h"
#include "daemon/daemon_metrics.h"
#include "daemon/download/download.h"
#include "daemon/download/download_events.h"
#include "daemon/download/host_gate.h"
#include "daemon/download/parent_feed.h"
#include "daemon/download/scheduler_link.h"
#include "daemon/download/transfer_budget.h"
#include "daemon/download/transfers.h"
#include "daemon/upload/piece_hub.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_state.h"
#include "sim/sim_store.h"
#include "source/url.h"
#include "support/manual_loop.h"

namespace feilong::sim {

namespace sv1 = feilong::scheduler::v1;
using daemon::PieceFetchResult;
using daemon::conductor::Mailbox;
using daemon::conductor::PieceResult;
using daemon::conductor::ProbeResult;
using TimePoint = Clock::TimePoint;

namespace {

constexpr auto kTickInterval = std::chrono::milliseconds(100);
const char* kUrl = "http://origin.sim/file";

Sha256Digest PieceDigest(uint32_t number) { return Sha256("piece " + std::to_string(number)); }

// One direction of a host's link: its rate and the intervals it is
// reserved for (sorted by start, never overlapping).
struct Link {
  double bits_per_second = 0;
  std::map<TimePoint, TimePoint> busy;  // start -> end

  bool FreeDuring(TimePoint from, TimePoint to) const {
    auto it = busy.upper_bound(from);
    if (it != busy.begin() && std::prev(it)->second > from) {
      return false;  // an interval starting before `from` runs into it
    }
    return it == busy.end() || it->first >= to;
  }
  void Forget(TimePoint before) {
    while (!busy.empty() && busy.begin()->second <= before) {
      busy.erase(busy.begin());
    }
  }
};

}  // namespace

class SimWorld::Impl {
 public:
  struct Host;

  explicit Impl(SimOptions options);
  void StartHost(Host& host, bool access_proven);
  void Execute(scheduler::Actions actions);
  // The end of a transfer of `bytes` from `up` to `down` started now.
  TimePoint Reserve(Link& up, Link& down, uint64_t bytes);
  Host* HostByIp(const std::string& ip);
  // The host as it announces itself to the scheduler.
  scheduler::v1::Host HostInfo(const Host& host) const;
  // An upload of `host` ended: the oldest waiting request takes the slot.
  void NextUpload(Host& host);
  TimePoint Now() const { return loop.Now(); }
  void After(Clock::Duration delay, std::function<void()> fn) {
    loop.PostAt(Now() + delay, std::move(fn));
  }

  SimOptions options;
  test::ManualLoop loop;
  std::string task_id;
  uint32_t piece_length = 0;
  scheduler::SchedulerConfig scheduler_config;
  std::unique_ptr<scheduler::SchedulerState> state;
  bool scheduler_alive = true;
  struct Session {
    Host* host = nullptr;
    daemon::SchedulerLink::OnMessage on_message;
    daemon::SchedulerLink::OnClosed on_closed;
    bool open = true;
  };
  std::map<scheduler::SessionId, Session> sessions;
  scheduler::SessionId next_session = 1;
  Link origin_up;
  uint64_t origin_bytes = 0;
  bool ticking = false;
  // The scheduler's tick, every kTickInterval while `ticking`.
  void Tick() {
    if (!ticking) {
      return;
    }
    if (scheduler_alive) {
      Execute(state->Tick());
    }
    After(kTickInterval, [this] { Tick(); });
  }
  std::vector<std::unique_ptr<Host>> hosts;
  TimePoint start{};
};

// ---------------------------------------------------------------------------
// The three seams of one host's downloads.

namespace {

class SimStream final : public daemon::SchedulerStream {
 public:
  SimStream(SimWorld::Impl& world, scheduler::SessionId session)
      : world_(world), session_(session) {}
  ~SimStream() override {
    auto& world = world_;
    auto session = session_;
    world.sessions[session].open = false;
    world.After(world.options.latency, [&world, session] {
      if (world.scheduler_alive) {
        world.Execute(world.state->StreamClosed(session));
      }
    });
  }
  bool Send(const sv1::AnnouncePeerRequest& request) override {
    auto& world = world_;
    if (!world.scheduler_alive || !world.sessions[session_].open) {
      return false;
    }
    auto session = session_;
    world.After(world.options.latency, [&world, session, request] {
      if (!world.scheduler_alive) {
        return;
      }
      auto actions = world.state->Handle(session, request);
      if (actions.ok()) {
        world.Execute(std::move(actions).value());
      }
    });
    return true;
  }
  const std::string& address() const override { return address_; }

 private:
  SimWorld::Impl& world_;
  scheduler::SessionId session_;
  std::string address_ = "scheduler.sim:8002";
};

class SimSchedulerLink final : public daemon::SchedulerLink {
 public:
  SimSchedulerLink(SimWorld::Impl& world, SimWorld::Impl::Host& host)
      : world_(world), host_(host) {}
  void Open(const sv1::Register& registration, OnMessage on_message, OnClosed on_closed,
            OnOpened on_opened) override;

 private:
  SimWorld::Impl& world_;
  SimWorld::Impl::Host& host_;
};

class SimTransfers final : public daemon::conductor::Transfers {
 public:
  SimTransfers(SimWorld::Impl& world, SimWorld::Impl::Host& host) : world_(world), host_(host) {}
  void FetchFromParent(std::shared_ptr<Mailbox> mailbox,
                       daemon::conductor::ParentPieceRequest request,
                       std::shared_ptr<daemon::HostGate::Pass> pass) override;
  void FetchFromOrigin(std::shared_ptr<Mailbox> mailbox, storage::TaskMeta meta,
                       daemon::conductor::OriginSpan span, source::SourceRequest request,
                       std::shared_ptr<daemon::HostGate::Pass> pass) override;
  void Probe(std::shared_ptr<Mailbox> mailbox, source::SourceRequest request,
             std::shared_ptr<daemon::HostGate::Pass> pass) override;
  bool RunBlocking(std::function<void()> job) override {
    job();
    return true;
  }

 private:
  SimWorld::Impl& world_;
  SimWorld::Impl::Host& host_;
};

// Stops its callbacks when destroyed.
class SimSubscription final : public daemon::ParentSubscription {
 public:
  explicit SimSubscription(std::shared_ptr<bool> live) : live_(std::move(live)) {}
  ~SimSubscription() override { *live_ = false; }
  std::unique_ptr<daemon::PieceHub::Subscription> hub;

 private:
  std::shared_ptr<bool> live_;
};

class SimParentFeed final : public daemon::ParentFeed {
 public:
  explicit SimParentFeed(SimWorld::Impl& world) : world_(world) {}
  std::unique_ptr<daemon::ParentSubscription> Watch(const sv1::CandidateParent& parent,
                                                    const std::string& task_id,
                                                    const std::string& my_peer_id,
                                                    const std::string& grant, OnPieces on_pieces,
                                                    OnEnd on_end) override;

 private:
  SimWorld::Impl& world_;
};

}  // namespace

struct SimWorld::Impl::Host {
  size_t index = 0;
  std::string id;
  std::string ip;
  bool seed = false;
  bool alive = true;
  bool corrupt = false;
  Link up;
  Link down;
  daemon::DaemonConfig config;
  metrics::Registry registry;
  std::unique_ptr<daemon::DaemonMetrics> metrics;
  std::unique_ptr<daemon::HostGate> origin_gate;
  std::unique_ptr<daemon::HostGate> parent_gate;
  std::unique_ptr<daemon::TransferBudget> transfer_budget;
  daemon::PieceHub hub;
  SimStore store;
  std::unique_ptr<SimTransfers> transfers;
  std::unique_ptr<SimSchedulerLink> link;
  std::unique_ptr<SimParentFeed> feed;
  std::shared_ptr<daemon::Download> download;
  std::optional<daemon::DownloadProgress> result;
  TimePoint done_at{};
  // Its piece server: uploads running, requests waiting for a slot.
  uint32_t uploads = 0;
  struct Waiting {
    uint64_t ticket = 0;
    std::function<void()> start;
  };
  std::deque<Waiting> waiting;
  uint64_t next_ticket = 0;
};

namespace {

void SimSchedulerLink::Open(const sv1::Register& registration, OnMessage on_message,
                            OnClosed on_closed, OnOpened on_opened) {
  auto& world = world_;
  if (!world.scheduler_alive) {
    world.After(host_.config.scheduler_connect_timeout, [on_opened] {
      on_opened(Status::Unavailable("no scheduler reachable (simulated)"));
    });
    return;
  }
  auto* host = &host_;
  world.After(
      world.options.latency, [&world, host, registration, on_message, on_closed, on_opened] {
        if (!world.scheduler_alive) {
          on_opened(Status::Unavailable("scheduler gone (simulated)"));
          return;
        }
        scheduler::SessionId session = world.next_session++;
        world.sessions[session] = SimWorld::Impl::Session{host, on_message, on_closed, true};
        auto actions = world.state->Register(session, registration);
        if (!actions.ok()) {
          world.sessions.erase(session);
          on_opened(actions.status());
          return;
        }
        on_opened(
            std::shared_ptr<daemon::SchedulerStream>(std::make_shared<SimStream>(world, session)));
        world.Execute(std::move(actions).value());
      });
}

void SimTransfers::FetchFromParent(std::shared_ptr<Mailbox> mailbox,
                                   daemon::conductor::ParentPieceRequest request,
                                   std::shared_ptr<daemon::HostGate::Pass> pass) {
  auto& world = world_;
  SimWorld::Impl::Host* parent = world.HostByIp(request.ip);
  PieceResult result{request.number, request.parent_id, Status::Ok(), {}, 0, {}};
  if (parent == nullptr || !parent->alive) {
    result.status = Status::Unavailable("parent " + request.ip + " unreachable (simulated)");
    world.After(host_.config.parent_connect_timeout, [mailbox, result, pass]() mutable {
      if (pass) {
        pass->Finish(result.status);
      }
      mailbox->Post(result);
    });
    return;
  }
  if (!parent->store.Holds(request.task_id, request.number)) {
    result.status = Status::NotFound("parent does not hold the piece (simulated)");
    world.After(2 * world.options.latency, [mailbox, result]() { mailbox->Post(result); });
    return;
  }
  // The parent's piece server: `upload_slots` uploads at once, then a
  // queue of `upload_queue_length` waiting up to `upload_queue_wait`, then
  // "busy" (upload_slots.h, upload_queue.h).
  auto* host = &host_;
  const TimePoint asked = world.Now();
  auto upload = [&world, host, parent, mailbox, request, pass, asked]() mutable {
    ++parent->uploads;
    TimePoint end = world.Reserve(parent->up, host->down, request.size);
    const bool corrupt = parent->corrupt;
    world.loop.PostAt(
        end, [&world, host, parent, mailbox, request, pass, asked, corrupt]() mutable {
          --parent->uploads;
          PieceResult done{request.number, request.parent_id, Status::Ok(), {}, 0, {}};
          done.cost = std::chrono::duration_cast<std::chrono::microseconds>(world.Now() - asked);
          if (corrupt) {
            done.status = Status::Corruption("piece digest mismatch (simulated)");
          } else if (!mailbox->cancelled) {
            host->store.Record(request.task_id, request.number, request.expected);
            done.digest = request.expected;
            done.bytes = request.size;
          } else {
            done.status = Status::Cancelled("download cancelled");
          }
          if (pass) {
            pass->Finish(done.status);
            pass.reset();
          }
          mailbox->Post(std::move(done));
          world.NextUpload(*parent);
        });
  };
  if (parent->uploads < parent->config.upload_slots) {
    upload();
    return;
  }
  PieceResult busy{
      request.number, request.parent_id, Status::Unavailable("parent busy"), {}, 0, {}};
  busy.busy = PieceFetchResult::Busy::kParent;
  if (parent->waiting.size() >= parent->config.upload_queue_length) {
    world.After(2 * world.options.latency, [mailbox, busy]() { mailbox->Post(busy); });
    return;
  }
  const uint64_t ticket = ++parent->next_ticket;
  parent->waiting.push_back({ticket, std::move(upload)});
  world.After(parent->config.upload_queue_wait, [parent, ticket, mailbox, busy] {
    auto it = std::find_if(parent->waiting.begin(), parent->waiting.end(),
                           [&](const auto& w) { return w.ticket == ticket; });
    if (it != parent->waiting.end()) {
      parent->waiting.erase(it);
      mailbox->Post(busy);
    }
  });
}

void SimTransfers::FetchFromOrigin(std::shared_ptr<Mailbox> mailbox, storage::TaskMeta meta,
                                   daemon::conductor::OriginSpan span,
                                   source::SourceRequest /*request*/,
                                   std::shared_ptr<daemon::HostGate::Pass> pass) {
  auto& world = world_;
  auto* host = &host_;
  const uint32_t last = span.first + span.count - 1;
  for (uint32_t n = span.first; n <= last; ++n) {
    if (n < span.skip.size() && span.skip[n]) {
      continue;
    }
    const uint32_t size = meta.PieceSize(n);
    TimePoint end = world.Reserve(world.origin_up, host->down, size);
    world.origin_bytes += size;
    world.loop.PostAt(end, [host, mailbox, meta, n, size, pass, last]() mutable {
      PieceResult done{n, "", Status::Ok(), {}, 0, {}};
      if (mailbox->cancelled) {
        done.status = Status::Cancelled("download cancelled");
      } else {
        host->store.Record(meta.task_id, n, PieceDigest(n));
        done.digest = PieceDigest(n);
        done.bytes = size;
      }
      if (n == last && pass) {
        pass->Finish(Status::Ok());
        pass.reset();
      }
      mailbox->Post(std::move(done));
    });
  }
}

void SimTransfers::Probe(std::shared_ptr<Mailbox> mailbox, source::SourceRequest /*request*/,
                         std::shared_ptr<daemon::HostGate::Pass> pass) {
  auto& world = world_;
  uint64_t length = world.options.file_bytes;
  world.After(2 * world.options.latency, [mailbox, pass, length]() mutable {
    ProbeResult result;
    result.content_length = length;
    result.range_supported = true;
    if (pass) {
      pass->Finish(Status::Ok());
      pass.reset();
    }
    mailbox->Post(std::move(result));
  });
}

std::unique_ptr<daemon::ParentSubscription> SimParentFeed::Watch(const sv1::CandidateParent& parent,
                                                                 const std::string& task_id,
                                                                 const std::string& /*my_peer_id*/,
                                                                 const std::string& /*grant*/,
                                                                 OnPieces on_pieces, OnEnd on_end) {
  auto& world = world_;
  auto live = std::make_shared<bool>(true);
  auto subscription = std::make_unique<SimSubscription>(live);
  SimWorld::Impl::Host* host = world.HostByIp(parent.host().ip());
  const auto latency = world.options.latency;
  if (host == nullptr || !host->alive) {
    world.After(latency, [live, on_end] {
      if (*live) {
        on_end(Status::Unavailable("parent unreachable (simulated)"));
      }
    });
    return subscription;
  }
  std::vector<uint32_t> held;
  auto pieces = host->store.ListPieces(task_id);
  if (pieces.ok()) {
    for (const auto& piece : *pieces) {
      held.push_back(piece.number);
    }
  }
  const bool active = host->hub.IsActive(task_id);
  world.After(latency, [live, on_pieces, on_end, held, active] {
    if (!*live) {
      return;
    }
    if (!held.empty()) {
      on_pieces(held);
    }
    if (!active) {
      on_end(Status::Ok());  // it holds all it will
    }
  });
  if (active) {
    daemon::PieceHub::Listener listener;
    listener.on_pieces = [&world, live, on_pieces, latency](std::span<const uint32_t> numbers) {
      std::vector<uint32_t> copy(numbers.begin(), numbers.end());
      world.After(latency, [live, on_pieces, copy] {
        if (*live) {
          on_pieces(copy);
        }
      });
    };
    listener.on_end = [&world, live, on_end, latency] {
      world.After(latency, [live, on_end] {
        if (*live) {
          on_end(Status::Ok());
        }
      });
    };
    subscription->hub = host->hub.Subscribe(task_id, std::move(listener));
  }
  return subscription;
}

}  // namespace

// ---------------------------------------------------------------------------

SimWorld::Impl::Impl(SimOptions opts) : options(std::move(opts)) {
  task_id = std::string(64, 'f');
  piece_length = source::DefaultPieceLength(options.file_bytes);
  scheduler_config.tls.enabled = false;
  if (options.tune_scheduler) {
    options.tune_scheduler(scheduler_config);
  }
  auto signer = access::GrantSigner::Generate();
  state = std::make_unique<scheduler::SchedulerState>(
      scheduler_config, loop.clock(),
      std::shared_ptr<const access::GrantSigner>(std::move(signer).value()));
  origin_up.bits_per_second = options.origin_mbit * 1e6;
  const size_t count = options.peers + (options.seed_peer ? 1 : 0);
  for (size_t i = 0; i < count; ++i) {
    auto host = std::make_unique<Host>();
    host->index = i;
    host->seed = options.seed_peer && i == 0;
    host->id = host->seed ? "seed" : "peer" + std::to_string(i);
    host->ip = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    host->up.bits_per_second = host->down.bits_per_second = options.host_mbit * 1e6;
    host->config.host_id = host->id;
    host->config.advertise_ip = host->ip;
    host->config.seed = host->seed;
    host->config.schedulers = {"scheduler.sim:8002"};
    // The defaults DaemonConfig's loader fills in.
    host->config.upload_slots = host->seed ? 32 : 4;
    host->config.upload_queue_length = host->config.upload_slots;
    if (options.tune_daemon) {
      options.tune_daemon(host->config);
    }
    host->metrics = std::make_unique<daemon::DaemonMetrics>(host->registry);
    host->origin_gate = std::make_unique<daemon::HostGate>(
        daemon::HostGateConfig{host->config.origin_breaker,
                               host->config.origin_max_requests_per_host, "origin"},
        loop.clock());
    host->parent_gate = std::make_unique<daemon::HostGate>(
        daemon::HostGateConfig{host->config.parent_breaker, 0, "parent"}, loop.clock());
    host->transfer_budget = std::make_unique<daemon::TransferBudget>(host->config.max_transfers);
    host->transfers = std::make_unique<SimTransfers>(*this, *host);
    host->link = std::make_unique<SimSchedulerLink>(*this, *host);
    host->feed = std::make_unique<SimParentFeed>(*this);
    (void)state->AnnounceHost(HostInfo(*host));
    hosts.push_back(std::move(host));
  }
}

sv1::Host SimWorld::Impl::HostInfo(const Host& host) const {
  sv1::Host info;
  info.set_id(host.id);
  info.set_ip(host.ip);
  info.set_piece_port(4001);
  info.set_peer_port(4000);
  info.set_type(host.seed ? sv1::HOST_TYPE_SEED : sv1::HOST_TYPE_NORMAL);
  info.set_upload_capacity_bps(static_cast<uint64_t>(options.host_mbit * 1e6 / 8));
  info.set_upload_slots(host.config.upload_slots);
  return info;
}

SimWorld::Impl::Host* SimWorld::Impl::HostByIp(const std::string& ip) {
  for (auto& host : hosts) {
    if (host->ip == ip) {
      return host.get();
    }
  }
  return nullptr;
}

void SimWorld::Impl::NextUpload(Host& host) {
  if (host.waiting.empty() || host.uploads >= host.config.upload_slots) {
    return;
  }
  auto start = std::move(host.waiting.front().start);
  host.waiting.pop_front();
  start();
}

TimePoint SimWorld::Impl::Reserve(Link& up, Link& down, uint64_t bytes) {
  // The earliest gap both links have for the whole transfer: a transfer
  // queued behind a busy parent does not hold the child's downlink
  // meanwhile.
  const TimePoint earliest = Now() + options.latency;
  up.Forget(Now());
  down.Forget(Now());
  const double rate = std::min(up.bits_per_second, down.bits_per_second);
  const auto takes = std::chrono::duration_cast<Clock::Duration>(
      std::chrono::duration<double>(static_cast<double>(bytes) * 8 / rate));
  std::vector<TimePoint> candidates{earliest};
  for (const Link* link : {&up, &down}) {
    for (const auto& [from, to] : link->busy) {
      if (to > earliest) {
        candidates.push_back(to);
      }
    }
  }
  std::sort(candidates.begin(), candidates.end());
  for (TimePoint begin : candidates) {
    if (up.FreeDuring(begin, begin + takes) && down.FreeDuring(begin, begin + takes)) {
      up.busy.emplace(begin, begin + takes);
      down.busy.emplace(begin, begin + takes);
      return begin + takes;
    }
  }
  return earliest;  // unreachable: after the last interval both are free
}

void SimWorld::Impl::StartHost(Host& host, bool access_proven) {
  if (host.download || !host.alive) {
    return;
  }
  uint64_t seed = options.seed * 1000003 + host.index;
  daemon::DownloadDeps deps{host.store,
                            *host.transfers,
                            *host.link,
                            *host.feed,
                            host.hub,
                            host.config,
                            *host.metrics,
                            *host.origin_gate,
                            *host.parent_gate,
                            *host.transfer_budget,
                            [&host, this] { return HostInfo(host); },
                            loop,
                            [rng = std::mt19937_64(seed)]() mutable { return rng(); }};
  daemon::DownloadRequestOptions request;
  request.task_id = task_id;
  request.spec.set_url(kUrl);
  request.access_proven = access_proven;
  host.download = std::make_shared<daemon::Download>(deps, request);
  daemon::DownloadWaiter waiter;
  waiter.on_progress = [this, &host](const daemon::DownloadProgress& progress) {
    if (progress.done) {
      host.result = progress;
      host.done_at = Now();
    }
  };
  host.download->Attach(std::move(waiter));
  host.download->Start([] {});
}

void SimWorld::Impl::Execute(scheduler::Actions actions) {
  for (auto& message : actions.messages) {
    auto it = sessions.find(message.session);
    if (it == sessions.end()) {
      continue;
    }
    auto session = message.session;
    After(options.latency, [this, session, response = std::move(message.response)] {
      auto s = sessions.find(session);
      if (s != sessions.end() && s->second.open && scheduler_alive) {
        s->second.on_message(response);
      }
    });
  }
  for (auto& trigger : actions.seed_triggers) {
    for (auto& host : hosts) {
      if (host->id == trigger.host_id) {
        Host* seed = host.get();
        std::string task = trigger.task_id;
        std::string id = trigger.host_id;
        After(options.latency, [this, seed, task, id] {
          StartHost(*seed, /*access_proven=*/true);
          if (scheduler_alive) {
            Execute(state->SeedTriggerDone(task, id, Status::Ok()));
          }
        });
      }
    }
  }
}

// ---------------------------------------------------------------------------

SimWorld::SimWorld(SimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

SimWorld::~SimWorld() {
  for (auto& host : impl_->hosts) {
    host->download.reset();
  }
  impl_->loop.RunUntilIdle();
}

void SimWorld::At(Clock::Duration at, std::function<void(SimWorld&)> fault) {
  impl_->loop.PostAt(impl_->start + at, [this, fault] { fault(*this); });
}

void SimWorld::KillHost(size_t index) {
  auto& host = *impl_->hosts.at(index);
  host.alive = false;
  if (host.download) {
    host.download->Cancel();
  }
  for (auto& [id, session] : impl_->sessions) {
    if (session.host == &host && session.open) {
      session.open = false;
      if (impl_->scheduler_alive) {
        impl_->Execute(impl_->state->StreamClosed(id));
      }
    }
  }
}

void SimWorld::CorruptHost(size_t index) { impl_->hosts.at(index)->corrupt = true; }

void SimWorld::KillScheduler() {
  impl_->scheduler_alive = false;
  for (auto& [id, session] : impl_->sessions) {
    if (session.open) {
      session.open = false;
      auto on_closed = session.on_closed;
      impl_->After(impl_->options.latency,
                   [on_closed] { on_closed(Status::Unavailable("scheduler killed (simulated)")); });
    }
  }
}

double SimWorld::TMin() const {
  const auto& o = impl_->options;
  const double f = static_cast<double>(o.file_bytes) * 8;
  const double n = o.peers + (o.seed_peer ? 1 : 0);
  const double u_origin = o.origin_mbit * 1e6;
  const double u = o.host_mbit * 1e6;
  return std::max({f / u_origin, f / u, n * f / (u_origin + n * u)});
}

SimReport SimWorld::Run(Clock::Duration limit) {
  auto wall_start = std::chrono::steady_clock::now();
  Impl& w = *impl_;
  w.start = w.Now();
  w.ticking = true;
  w.After(kTickInterval, [&w] { w.Tick(); });
  for (auto& host : w.hosts) {
    if (!host->seed) {
      w.StartHost(*host, /*access_proven=*/false);
    }
  }
  auto all_ended = [&w] {
    for (auto& host : w.hosts) {
      if (!host->seed && host->alive && !host->result) {
        return false;
      }
    }
    return true;
  };
  SimReport report;
  report.all_done = w.loop.RunUntil(all_ended, w.start + limit);
  double sum = 0;
  size_t peers = 0;
  for (auto& host : w.hosts) {
    SimHostResult r;
    r.host_id = host->id;
    r.seed = host->seed;
    if (host->result) {
      r.status = host->result->status;
      r.done_seconds = std::chrono::duration<double>(host->done_at - w.start).count();
      r.from_peers = host->result->bytes_from_peers;
      r.from_origin = host->result->bytes_from_origin;
    } else {
      r.status = Status::DeadlineExceeded("not done in the simulated time");
    }
    if (!host->seed && host->alive) {
      report.all_done_seconds = std::max(report.all_done_seconds, r.done_seconds);
      sum += r.done_seconds;
      ++peers;
    }
    report.hosts.push_back(r);
  }
  report.mean_seconds = peers ? sum / static_cast<double>(peers) : 0;
  report.t_min_seconds = TMin();
  report.origin_bytes = w.origin_bytes;
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  // Stop the scheduler's tick and let every download go before the world.
  w.ticking = false;
  w.scheduler_alive = false;
  for (auto& host : w.hosts) {
    if (host->download) {
      host->download->Cancel();
    }
  }
  w.loop.RunUntilIdle();
  return report;
}

}  // namespace feilong::sim
