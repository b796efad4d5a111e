// The scheduler's gRPC front: SchedulerService implements
// feilong.scheduler.v1.Scheduler with the callback API, and Server wires the
// state, the service, the seed trigger client, the tick thread and the
// metrics endpoint into one process-level object.
//
// AnnouncePeer: one reactor per stream. The first message must be Register;
// every message is handed to SchedulerState and the Actions it returns are
// executed at once: responses go to an outbound queue per stream (one write
// in flight at a time; reads continue meanwhile). The stream ends with
//   OK                  when the peer ends it (the peer is then removed,
//                       whether or not it sent DownloadFinished),
//   INVALID_ARGUMENT    on a malformed message,
//   NOT_FOUND           when the peer was removed meanwhile (its host left,
//                       or the same peer id registered on a new stream),
//   UNAVAILABLE         when the scheduler shuts down.
// AnnounceHost, LeaveHost, StatTask are unary (StatTask: NOT_FOUND for an
// unknown task).
//
// Thread rule: SchedulerService and Server are thread-safe. gRPC handlers
// never block: state calls are short and sends are queued.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/metrics_server.h"
#include "common/status.h"
#include "feilong/scheduler/v1/scheduler.grpc.pb.h"
#include "rpc/tls_stage.h"
#include "scheduler/caller.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_metrics.h"
#include "scheduler/scheduler_state.h"
#include "scheduler/seed_trigger_client.h"

namespace feilong::scheduler {

class PeerStream;

class SchedulerService final : public v1::Scheduler::CallbackService {
 public:
  // All references must outlive the service. Roles: with `require_roles`
  // (mutual TLS on), a host may announce itself as a seed (AnnounceHost,
  // Register) only with a certificate carrying the seed role
  // (rpc/tls_config.h); otherwise PERMISSION_DENIED. A host id is held by
  // the certificate subject that first announced it (SchedulerState, "Host
  // ownership").
  SchedulerService(SchedulerState& state, SeedTriggerClient& seeds, SchedulerMetrics& metrics,
                   bool require_roles);
  SchedulerService(const SchedulerService&) = delete;
  SchedulerService& operator=(const SchedulerService&) = delete;
  ~SchedulerService() override;

  grpc::ServerBidiReactor<v1::AnnouncePeerRequest, v1::AnnouncePeerResponse>* AnnouncePeer(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* AnnounceHost(grpc::CallbackServerContext* context,
                                         const v1::AnnounceHostRequest* request,
                                         v1::AnnounceHostResponse* response) override;
  grpc::ServerUnaryReactor* LeaveHost(grpc::CallbackServerContext* context,
                                      const v1::LeaveHostRequest* request,
                                      v1::LeaveHostResponse* response) override;
  grpc::ServerUnaryReactor* StatTask(grpc::CallbackServerContext* context,
                                     const v1::StatTaskRequest* request,
                                     v1::StatTaskResponse* response) override;

  // Runs SchedulerState::Tick, executes its actions and refreshes gauges.
  void Tick();

  // Ends every open AnnouncePeer stream with UNAVAILABLE and refuses new
  // ones. Idempotent.
  void CloseAllStreams();

 private:
  friend class PeerStream;

  // Sends messages, starts seed triggers, logs and counts.
  void Execute(Actions actions);
  // A message from stream `session`; `registered` tells whether Register was
  // already accepted. OK, or the status to end the stream with.
  grpc::Status OnRequest(SessionId session, bool registered, const Caller& caller,
                         const v1::AnnouncePeerRequest& request);
  Caller CallerOf(const grpc::CallbackServerContext& context) const;
  // The stream's peer (if any) is removed. Idempotent.
  void OnStreamEnded(SessionId session);
  // The reactor is being destroyed.
  void Detach(SessionId session);
  void RefreshGauges();

  SchedulerState& state_;
  SeedTriggerClient& seeds_;
  SchedulerMetrics& metrics_;
  const bool require_roles_;
  std::atomic<SessionId> next_session_{1};

  std::mutex streams_mutex_;  // before any PeerStream's mutex
  std::unordered_map<SessionId, PeerStream*> streams_;
  bool closing_ = false;
};

// The whole scheduler server.
class Server {
 public:
  // Listens on config.listen (port 0 picks one; see address()), starts the
  // tick thread and, when config.metrics_listen is set, the metrics endpoint.
  // Unavailable when the gRPC address cannot be bound; the MetricsServer's
  // error when the metrics address cannot. `clock` must outlive the server.
  static Result<std::unique_ptr<Server>> Start(const SchedulerConfig& config,
                                               Clock& clock = SteadyClock::Default());

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Calls Shutdown().
  ~Server();

  // "host:port" actually bound, e.g. "127.0.0.1:40123".
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // The metrics port, 0 when off.
  uint16_t metrics_port() const;
  const metrics::Registry& registry() const { return registry_; }
  SchedulerState& state() { return state_; }

  // Graceful stop: stops the tick thread, cancels seed triggers, ends every
  // stream, shuts the gRPC server down (in-flight calls get 1 s), stops the
  // metrics endpoint. Idempotent.
  void Shutdown();

  // Takes the `tls:` files again now (flsched does on SIGHUP; they are also
  // checked every tls.reload_interval): true when a new, whole set was
  // taken, false when unchanged or TLS is off, the error when the files do
  // not form a whole set (the one in use stays). rpc/tls_stage.h.
  Result<bool> ReloadTls();

 private:
  Server(const SchedulerConfig& config, Clock& clock,
         std::shared_ptr<grpc::ChannelCredentials> seed_credentials,
         std::shared_ptr<const access::GrantSigner> signer);

  const SchedulerConfig config_;
  // The staged tls: files every credential reads; first, so it goes last.
  std::unique_ptr<rpc::TlsStage> tls_stage_;
  metrics::Registry registry_;
  SchedulerMetrics metrics_;
  SchedulerState state_;
  SeedTriggerClient seeds_;
  SchedulerService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  std::jthread ticker_;
  std::string address_;
  int port_ = 0;
  std::once_flag shutdown_once_;
};

}  // namespace feilong::scheduler
