#include "scheduler/scheduler_service.h"

#include <algorithm>
#include <condition_variable>
#include <utility>

#include "common/host_port.h"
#include "common/log.h"
#include "rpc/grpc_status.h"
#include "rpc/tls_credentials.h"
#include "scheduler/peer_stream.h"

namespace feilong::scheduler {
namespace {

std::string_view KindName(v1::ScheduleDecision::Kind kind) {
  switch (kind) {
    case v1::ScheduleDecision::KIND_NORMAL:
      return "normal";
    case v1::ScheduleDecision::KIND_BACK_TO_SOURCE:
      return "back_to_source";
    case v1::ScheduleDecision::KIND_EMPTY:
      return "empty";
    default:
      return "unknown";
  }
}

}  // namespace

// ---------------------------------------------------------------- service

SchedulerService::SchedulerService(SchedulerState& state, SeedTriggerClient& seeds,
                                   SchedulerMetrics& metrics, bool require_roles)
    : state_(state), seeds_(seeds), metrics_(metrics), require_roles_(require_roles) {}

Caller SchedulerService::CallerOf(const grpc::CallbackServerContext& context) const {
  if (!require_roles_) {
    return Caller{};
  }
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  std::vector<std::string> roles = rpc::CallerRoles(auth.get());
  return Caller{
      .may_claim_seed = std::find(roles.begin(), roles.end(), rpc::kRoleSeed) != roles.end(),
      .subject = rpc::CallerSubject(auth.get())};
}

namespace {

grpc::Status SeedRoleMissing(const v1::Host& host) {
  spdlog::warn("seed_claim_refused host={} ip={} reason=\"no seed role in its certificate\"",
               host.id(), host.ip());
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "host " + host.id() +
                          " announces a seed, but its certificate has no seed role "
                          "(urn:feilong:role:seed)");
}

}  // namespace

SchedulerService::~SchedulerService() = default;

grpc::ServerBidiReactor<v1::AnnouncePeerRequest, v1::AnnouncePeerResponse>*
SchedulerService::AnnouncePeer(grpc::CallbackServerContext* context) {
  Caller caller = CallerOf(*context);
  std::lock_guard lock(streams_mutex_);
  if (closing_) {
    return new PeerStream(this, 0, /*refuse=*/true, std::move(caller));
  }
  SessionId session = next_session_++;
  auto* stream = new PeerStream(this, session, /*refuse=*/false, std::move(caller));
  streams_[session] = stream;
  return stream;
}

grpc::ServerUnaryReactor* SchedulerService::AnnounceHost(grpc::CallbackServerContext* context,
                                                         const v1::AnnounceHostRequest* request,
                                                         v1::AnnounceHostResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const Caller caller = CallerOf(*context);
  if (request->host().type() == v1::HOST_TYPE_SEED && !caller.may_claim_seed) {
    reactor->Finish(SeedRoleMissing(request->host()));
    return reactor;
  }
  Status status = state_.AnnounceHost(request->host(), caller.subject);
  if (status.code() == StatusCode::kPermissionDenied) {
    spdlog::warn("host_claim_refused host={} subject=\"{}\" error=\"{}\"", request->host().id(),
                 caller.subject, status.message());
  }
  if (status.ok()) {
    spdlog::debug("host_announced host={} type={} ip={}", request->host().id(),
                  v1::HostType_Name(request->host().type()), request->host().ip());
  }
  RefreshGauges();
  reactor->Finish(rpc::ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::LeaveHost(grpc::CallbackServerContext* context,
                                                      const v1::LeaveHostRequest* request,
                                                      v1::LeaveHostResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const Caller caller = CallerOf(*context);
  Result<Actions> actions = state_.LeaveHost(request->host_id(), caller.subject);
  if (!actions.ok()) {
    spdlog::warn("host_claim_refused host={} subject=\"{}\" error=\"{}\"", request->host_id(),
                 caller.subject, actions.status().message());
    reactor->Finish(rpc::ToGrpcStatus(actions.status()));
    return reactor;
  }
  spdlog::info("host_left host={}", request->host_id());
  Execute(std::move(actions).value());
  RefreshGauges();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::StatTask(grpc::CallbackServerContext* context,
                                                     const v1::StatTaskRequest* request,
                                                     v1::StatTaskResponse* response) {
  Result<v1::StatTaskResponse> stat = state_.StatTask(request->task_id());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (stat.ok()) {
    *response = std::move(stat).value();
    reactor->Finish(grpc::Status::OK);
  } else {
    reactor->Finish(rpc::ToGrpcStatus(stat.status()));
  }
  return reactor;
}

grpc::Status SchedulerService::OnRequest(SessionId session, bool registered, const Caller& caller,
                                         const v1::AnnouncePeerRequest& request) {
  if (!registered) {
    if (!request.has_register_()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first AnnouncePeer message must be Register");
    }
    const v1::Register& registration = request.register_();
    if (registration.host().type() == v1::HOST_TYPE_SEED && !caller.may_claim_seed) {
      return SeedRoleMissing(registration.host());
    }
    Result<Actions> actions = state_.Register(session, registration, caller.subject);
    if (!actions.ok()) {
      spdlog::warn("register_rejected peer={} error=\"{}\"", registration.peer_id(),
                   actions.status().message());
      return rpc::ToGrpcStatus(actions.status());
    }
    metrics_.registrations.Increment();
    spdlog::debug("peer_registered task={} peer={} host={} held_pieces={}", registration.task_id(),
                  registration.peer_id(), registration.host().id(),
                  registration.held_pieces_size());
    Execute(std::move(actions).value());
    RefreshGauges();
    return grpc::Status::OK;
  }
  if (request.has_piece_finished()) {
    metrics_.pieces_finished.Increment();
  } else if (request.has_piece_failed()) {
    metrics_.pieces_failed.Increment();
  }
  Result<Actions> actions = state_.Handle(session, request);
  if (!actions.ok()) {
    if (actions.status().code() == StatusCode::kFailedPrecondition) {
      spdlog::warn("peer_message_ignored session={} error=\"{}\"", session,
                   actions.status().message());
      return grpc::Status::OK;
    }
    spdlog::warn("peer_stream_error session={} error=\"{}\"", session, actions.status().ToString());
    return rpc::ToGrpcStatus(actions.status());
  }
  Execute(std::move(actions).value());
  return grpc::Status::OK;
}

void SchedulerService::OnStreamEnded(SessionId session) {
  if (session == 0) {
    return;
  }
  Execute(state_.StreamClosed(session));
  RefreshGauges();
}

void SchedulerService::Detach(SessionId session) {
  std::lock_guard lock(streams_mutex_);
  streams_.erase(session);
}

void SchedulerService::Execute(Actions actions) {
  if (!actions.messages.empty()) {
    for (const OutboundMessage& message : actions.messages) {
      if (!message.response.has_decision()) {
        continue;
      }
      const v1::ScheduleDecision& decision = message.response.decision();
      metrics_.CountDecision(decision);
      if (decision.kind() == v1::ScheduleDecision::KIND_BACK_TO_SOURCE) {
        spdlog::debug("peer_scheduled task={} peer={} kind={} reason={}", message.task_id,
                      message.peer_id, KindName(decision.kind()),
                      common::v1::BackToSourceReason_Name(decision.reason()));
      } else {
        spdlog::debug("peer_scheduled task={} peer={} kind={} parents={}", message.task_id,
                      message.peer_id, KindName(decision.kind()), decision.parents_size());
      }
    }
    std::lock_guard lock(streams_mutex_);
    for (OutboundMessage& message : actions.messages) {
      auto it = streams_.find(message.session);
      if (it != streams_.end()) {
        it->second->Enqueue(std::move(message.response));
      }
    }
  }
  for (const DigestConflict& conflict : actions.digest_conflicts) {
    metrics_.digest_conflicts.Increment();
    spdlog::warn("digest_conflict task={} piece={} peer={}", conflict.task_id, conflict.piece,
                 conflict.peer_id);
  }
  metrics_.untrusted_reports.Increment(actions.untrusted_reports);
  metrics_.quarantined_tasks.Increment(actions.quarantined.size());
  for (const std::string& warning : actions.warnings) {
    spdlog::warn("{}", warning);
  }
  for (SeedTrigger& trigger : actions.seed_triggers) {
    spdlog::info("seed_trigger task={} seed={} address={}", trigger.task_id, trigger.host_id,
                 trigger.address);
    std::string task_id = trigger.task_id;
    std::string host_id = trigger.host_id;
    seeds_.Trigger(trigger, [this, task_id, host_id](Status status) {
      if (status.ok()) {
        metrics_.seed_triggers_ok.Increment();
      } else {
        metrics_.seed_triggers_failed.Increment();
        spdlog::warn("seed_trigger_failed task={} seed={} error=\"{}\"", task_id, host_id,
                     status.ToString());
      }
      Execute(state_.SeedTriggerDone(task_id, host_id, status));
    });
  }
}

void SchedulerService::RefreshGauges() {
  StateCounts counts = state_.Counts();
  metrics_.peers.Set(static_cast<int64_t>(counts.peers));
  metrics_.tasks.Set(static_cast<int64_t>(counts.tasks));
  metrics_.hosts.Set(static_cast<int64_t>(counts.hosts));
}

void SchedulerService::Tick() {
  Execute(state_.Tick());
  RefreshGauges();
}

void SchedulerService::CloseAllStreams() {
  std::lock_guard lock(streams_mutex_);
  closing_ = true;
  for (auto& [session, stream] : streams_) {
    stream->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler is shutting down"));
  }
}

// ---------------------------------------------------------------- server

Server::Server(const SchedulerConfig& config, Clock& clock,
               std::shared_ptr<grpc::ChannelCredentials> seed_credentials,
               std::shared_ptr<const access::GrantSigner> signer)
    : config_(config),
      metrics_(registry_),
      state_(config, clock, std::move(signer)),
      seeds_(config.seed_trigger_timeout, std::move(seed_credentials)),
      service_(state_, seeds_, metrics_, config.tls.enabled) {}

Result<bool> Server::ReloadTls() {
  return tls_stage_ ? tls_stage_->Refresh() : Result<bool>(false);
}

Result<std::unique_ptr<Server>> Server::Start(const SchedulerConfig& config, Clock& clock) {
  FL_RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<rpc::TlsStage> tls_stage;
  rpc::TlsConfig tls = config.tls;
  if (tls.enabled) {
    FL_ASSIGN_OR_RETURN(tls_stage, rpc::TlsStage::Create(config.tls));
    tls = tls_stage->staged();
  }
  FL_ASSIGN_OR_RETURN(auto server_credentials, rpc::ServerCredentials(tls));
  FL_ASSIGN_OR_RETURN(auto seed_credentials, rpc::ChannelCredentials(tls));
  if (!config.tls.enabled) {
    spdlog::warn(
        "tls_disabled: gRPC between hosts is plaintext and unauthenticated (tls.enabled: "
        "false or --plaintext; docs/security.md)");
  }
  Result<std::unique_ptr<access::GrantSigner>> signer =
      config.grants.key_file.empty() ? access::GrantSigner::Generate()
                                     : access::GrantSigner::LoadOrCreate(config.grants.key_file);
  if (!signer.ok()) {
    return signer.status().WithContext("grants.key_file");
  }
  std::unique_ptr<Server> server(
      new Server(config, clock, std::move(seed_credentials), std::move(*signer)));
  server->tls_stage_ = std::move(tls_stage);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen, server_credentials, &port);
  builder.RegisterService(&server->service_);
  // Detect peers that vanished without closing their streams.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  // A stream may carry no data for long (a waiting peer): keep pinging anyway.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return Status::Unavailable("cannot listen on " + config.listen);
  }
  server->port_ = port;
  server->address_ = config.listen.substr(0, config.listen.rfind(':')) + ":" + std::to_string(port);
  if (!config.metrics_listen.empty()) {
    Result<HostPort> metrics_addr = ParseHostPort(config.metrics_listen);
    if (!metrics_addr.ok()) {
      server->Shutdown();
      return metrics_addr.status().WithContext("metrics_listen");
    }
    Result<std::unique_ptr<metrics::MetricsServer>> metrics_server =
        metrics::MetricsServer::Start(metrics_addr->host, metrics_addr->port, server->registry_);
    if (!metrics_server.ok()) {
      server->Shutdown();
      return metrics_server.status().WithContext("metrics_listen " + config.metrics_listen);
    }
    server->metrics_server_ = std::move(metrics_server).value();
  }
  Server* self = server.get();
  server->ticker_ = std::jthread([self](std::stop_token stop) {
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    while (!stop.stop_requested()) {
      wake.wait_for(lock, stop, self->config_.tick_interval, [] { return false; });
      if (stop.stop_requested()) {
        break;
      }
      self->service_.Tick();
    }
  });
  spdlog::info("scheduler_started address={} metrics_port={}", server->address_,
               server->metrics_port());
  return server;
}

Server::~Server() { Shutdown(); }

uint16_t Server::metrics_port() const {
  return metrics_server_ == nullptr ? 0 : metrics_server_->port();
}

void Server::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    if (ticker_.joinable()) {
      ticker_.request_stop();
      ticker_.join();
    }
    seeds_.Shutdown();
    service_.CloseAllStreams();
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
      server_->Wait();
    }
    if (metrics_server_ != nullptr) {
      metrics_server_->Stop();
    }
  });
}

}  // namespace feilong::scheduler
