#include "daemon/daemon.h"

#include <grp.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <map>
#include <random>
#include <vector>

#include "common/host_port.h"
#include "common/io_loop.h"
#include "common/metrics.h"
#include "common/metrics_server.h"
#include "daemon/daemon_metrics.h"
#include "daemon/download/blocking_pool.h"
#include "daemon/download/host_gate.h"
#include "daemon/download/loop_transfers.h"
#include "daemon/download/parent_watcher.h"
#include "daemon/download/scheduler_connection.h"
#include "daemon/download/task_manager.h"
#include "daemon/download/transfer_budget.h"
#include "daemon/local_socket.h"
#include "daemon/mirror_blob_fetcher.h"
#include "daemon/proxy_url_fetcher.h"
#include "daemon/services.h"
#include "daemon/upload/piece_hub.h"
#include "daemon/upload/piece_server.h"
#include "daemon/upload/piece_tls.h"
#include "feilong/scheduler/v1/scheduler.grpc.pb.h"
#include "mirror/registry_mirror.h"
#include "proxy/http_proxy.h"
#include "rpc/tls_credentials.h"
#include "rpc/tls_stage.h"
#include "storage/piece_store.h"

namespace feilong::daemon {

namespace sv1 = feilong::scheduler::v1;

namespace {

// True if something accepts connections on the unix socket.
bool SocketInUse(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  bool in_use = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return in_use;
}

// The gid of a group given by name or number.
Result<gid_t> LookUpGroup(const std::string& name) {
  if (name.find_first_not_of("0123456789") == std::string::npos && name.size() <= 9) {
    return static_cast<gid_t>(std::stoul(name));
  }
  struct group entry {};
  struct group* found = nullptr;
  std::vector<char> buffer(16384);
  int err = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (err != 0 || found == nullptr) {
    return Status::InvalidArgument("config key 'server.socket_group': no group '" + name + "'");
  }
  return found->gr_gid;
}

}  // namespace

class Daemon::Impl {
 public:
  explicit Impl(const DaemonConfig& config)
      : config_(config),
        metrics_(registry_),
        origin_gate_(
            HostGateConfig{config_.origin_breaker, config_.origin_max_requests_per_host, "origin"},
            SteadyClock::Default()),
        parent_gate_(HostGateConfig{config_.parent_breaker, 0, "parent"}, SteadyClock::Default()),
        transfer_budget_(config_.max_transfers),
        channels_(config_.scheduler_breaker) {}
  Status Start();
  void Stop();
  sv1::Host HostInfo() const;

  DaemonConfig config_;
  metrics::Registry registry_;
  DaemonMetrics metrics_;
  // With tls: on, every TLS reader uses tls_, the staged copies.
  std::unique_ptr<rpc::TlsStage> tls_stage_;
  rpc::TlsConfig tls_;
  // Before the pool: transfers hold passes of these gates until they end.
  HostGate origin_gate_;
  HostGate parent_gate_;
  TransferBudget transfer_budget_;
  std::unique_ptr<storage::PieceStore> store_;
  std::unique_ptr<BlockingPool> pool_;
  // Downloads live here; it outlives them (tasks_ is stopped first).
  std::unique_ptr<IoLoop> loop_;
  // The downloads' seams, as the daemon fills them (download/transfers.h,
  // scheduler_link.h, parent_feed.h).
  std::unique_ptr<conductor::LoopTransfers> transfers_;
  std::unique_ptr<GrpcSchedulerLink> scheduler_link_;
  std::unique_ptr<GrpcParentFeed> parent_feed_;
  std::unique_ptr<PieceServer> piece_server_;
  PieceHub hub_{config_.availability_interval};
  SchedulerChannels channels_;
  std::unique_ptr<TaskManager> tasks_;
  std::unique_ptr<LocalService> local_service_;
  std::unique_ptr<PeerService> peer_service_;
  std::unique_ptr<grpc::Server> peer_server_;
  std::unique_ptr<grpc::Server> local_server_;
  CallerRegistry callers_;
  std::unique_ptr<LocalSocket> local_socket_;  // after local_server_: stopped first
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  std::unique_ptr<MirrorBlobFetcher> mirror_fetcher_;
  std::unique_ptr<mirror::RegistryMirror> mirror_;
  std::unique_ptr<ProxyUrlFetcher> proxy_fetcher_;
  std::unique_ptr<proxy::HttpProxy> proxy_;
  int peer_port_ = 0;
  // The daemon's periodic chores (announcing the host, the store's GC) run
  // from timers on this strand of the loop: no thread of their own.
  std::unique_ptr<Strand> chores_;
  std::unique_ptr<StrandTimer> announce_timer_;  // on chores_
  std::unique_ptr<StrandTimer> gc_timer_;        // on chores_
  // Per scheduler address: an announcement is under way. On chores_.
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> announcing_;
  bool stopped_ = false;

 private:
  void StartChores();
  void StopChores();
  // Sends AnnounceHost to every scheduler without waiting for the answers.
  void AnnounceHost(std::chrono::milliseconds timeout);
  void CollectGarbage();
};

Status Daemon::Impl::Start() {
  // Piece store.
  storage::StoreOptions store_options;
  store_options.dir = config_.data_dir;
  store_options.fsync_pieces = config_.fsync_pieces;
  store_options.task_ttl = std::chrono::duration_cast<std::chrono::seconds>(config_.task_ttl);
  store_options.high_watermark = config_.disk_high_watermark;
  store_options.low_watermark = config_.disk_low_watermark;
  FL_ASSIGN_OR_RETURN(store_, storage::PieceStore::Open(store_options));

  tls_ = config_.tls;
  if (tls_.enabled) {
    FL_ASSIGN_OR_RETURN(tls_stage_, rpc::TlsStage::Create(config_.tls));
    tls_ = tls_stage_->staged();
  }
  PieceClientOptions piece_client_options;
  piece_client_options.connect_timeout = config_.parent_connect_timeout;
  piece_client_options.stall_timeout = config_.parent_stall_timeout;
  if (tls_.enabled) {
    piece_client_options.tls = {tls_.ca_file, tls_.cert_file, tls_.key_file};
  }
  source::SourceClientOptions source_options;
  source_options.ca_file = config_.origin_ca_file;
  auto policy = source::OriginPolicy::Create(config_.origin_policy);
  if (!policy.ok()) {
    return policy.status().WithContext("download.origin.policy");
  }
  source_options.origin_policy = std::move(policy).value();
  pool_ = std::make_unique<BlockingPool>(config_.blocking_threads);

  // Piece server (data plane).
  auto piece_addr = ParseHostPort(config_.piece_listen);
  if (!piece_addr.ok()) {
    return piece_addr.status().WithContext("server.piece_listen");
  }
  PieceServerOptions piece_options;
  piece_options.host = piece_addr->host;
  piece_options.port = piece_addr->port;
  piece_options.max_uploads = config_.upload_slots;
  piece_options.queue_wait = config_.upload_queue_wait;
  piece_options.queue_length = config_.upload_queue_length;
  piece_options.tcp_congestion = config_.upload_tcp_congestion;
  // A seed feeds a swarm from the origin: each piece enters it once.
  piece_options.first_copies_first = config_.seed;
  piece_options.held_while_downloading = [this](const std::string& task_id) {
    return hub_.PublishedPieces(task_id);
  };
  if (tls_.enabled) {
    FL_ASSIGN_OR_RETURN(piece_options.tls, PieceTls::Load(tls_));
  }
  piece_options.grants_refused_metric = &metrics_.grants_refused.WithLabels({"pieces"});
  piece_options.tls_handshake_failures_metric = &metrics_.piece_tls_handshake_failures;
  FL_ASSIGN_OR_RETURN(piece_server_, PieceServer::Start(piece_options, *store_));

  FL_ASSIGN_OR_RETURN(auto client_credentials, rpc::ChannelCredentials(tls_));
  channels_.SetCredentials(client_credentials);
  if (!config_.tls.enabled) {
    spdlog::warn(
        "tls_disabled: gRPC and piece transfers between hosts are plaintext and "
        "unauthenticated (tls.enabled: false or --plaintext; docs/security.md)");
  }
  loop_ = std::make_unique<IoLoop>(config_.loop_threads, "fl-loop");
  transfers_ = std::make_unique<conductor::LoopTransfers>(*loop_, *pool_, *store_,
                                                          piece_client_options, source_options);
  scheduler_link_ = std::make_unique<GrpcSchedulerLink>(channels_, config_.schedulers,
                                                        config_.scheduler_connect_timeout);
  parent_feed_ = std::make_unique<GrpcParentFeed>(client_credentials);
  tasks_ = std::make_unique<TaskManager>(DownloadDeps{
      *store_, *transfers_, *scheduler_link_, *parent_feed_, hub_, config_, metrics_, origin_gate_,
      parent_gate_, transfer_budget_, [this] { return HostInfo(); }, *loop_,
      [] {
        std::random_device device;
        return (uint64_t{device()} << 32) ^ device();
      }});

  // Peer API on TCP.
  FL_ASSIGN_OR_RETURN(auto server_credentials, rpc::ServerCredentials(tls_));
  TriggerPolicy trigger_policy;
  trigger_policy.seed = config_.seed;
  trigger_policy.by_certificate = config_.tls.enabled;
  if (config_.seed && !config_.tls.enabled) {
    FL_ASSIGN_OR_RETURN(trigger_policy.scheduler_ips, ResolveSchedulerIps(config_.schedulers));
  }
  peer_service_ = std::make_unique<PeerService>(*tasks_, *store_, hub_, std::move(trigger_policy),
                                                metrics_.grants_refused.WithLabels({"sync"}));
  {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_.peer_listen, server_credentials, &peer_port_);
    builder.RegisterService(peer_service_.get());
    peer_server_ = builder.BuildAndStart();
    if (!peer_server_ || peer_port_ == 0) {
      return Status::IOError("cannot listen on " + config_.peer_listen + " (server.peer_listen)");
    }
  }

  // Local API on a unix socket.
  if (SocketInUse(config_.socket_path)) {
    return Status::AlreadyExists("another daemon is serving " + config_.socket_path);
  }
  local_service_ = std::make_unique<LocalService>(*tasks_, *store_, config_, callers_);
  {
    // No listening port: LocalSocket accepts and hands connections over.
    grpc::ServerBuilder builder;
    builder.RegisterService(local_service_.get());
    local_server_ = builder.BuildAndStart();
    if (!local_server_) {
      return Status::IOError("cannot start the local API server");
    }
    LocalSocketOptions socket_options;
    socket_options.path = config_.socket_path;
    socket_options.mode = static_cast<mode_t>(config_.socket_mode);
    if (!config_.socket_group.empty()) {
      FL_ASSIGN_OR_RETURN(socket_options.group, LookUpGroup(config_.socket_group));
    }
    FL_ASSIGN_OR_RETURN(local_socket_,
                        LocalSocket::Start(socket_options, *local_server_, callers_));
  }

  if (!config_.metrics_listen.empty()) {
    auto metrics_addr = ParseHostPort(config_.metrics_listen);
    if (!metrics_addr.ok()) {
      return metrics_addr.status().WithContext("server.metrics_listen");
    }
    FL_ASSIGN_OR_RETURN(metrics_server_, metrics::MetricsServer::Start(
                                             metrics_addr->host, metrics_addr->port, registry_));
  }

  if (config_.mirror.enabled) {
    mirror_fetcher_ = std::make_unique<MirrorBlobFetcher>(*tasks_, config_);
    FL_ASSIGN_OR_RETURN(mirror_, mirror::RegistryMirror::Start(config_.mirror, *mirror_fetcher_,
                                                               *store_, &registry_));
  }
  if (config_.proxy.enabled) {
    proxy_fetcher_ = std::make_unique<ProxyUrlFetcher>(*tasks_, config_);
    FL_ASSIGN_OR_RETURN(
        proxy_, proxy::HttpProxy::Start(config_.proxy, *proxy_fetcher_, *store_, &registry_));
  }

  StartChores();
  return Status::Ok();
}

sv1::Host Daemon::Impl::HostInfo() const {
  sv1::Host host;
  host.set_id(config_.host_id);
  host.set_hostname(config_.hostname);
  host.set_ip(config_.advertise_ip);
  host.set_piece_port(piece_server_ ? piece_server_->port() : 0);
  host.set_peer_port(static_cast<uint32_t>(peer_port_));
  host.set_type(config_.seed ? sv1::HOST_TYPE_SEED : sv1::HOST_TYPE_NORMAL);
  host.set_idc(config_.idc);
  host.set_location(config_.location);
  host.set_upload_capacity_bps(config_.upload_capacity_bps);
  host.set_concurrent_uploads(piece_server_ ? piece_server_->active_uploads() : 0);
  host.set_max_concurrent_uploads(config_.max_concurrent_uploads);
  host.set_upload_slots(config_.upload_slots);
  return host;
}

void Daemon::Impl::StartChores() {
  chores_ = loop_->NewStrand();
  std::promise<void> armed;
  chores_->Post([this, &armed] {
    if (!config_.schedulers.empty()) {
      announce_timer_ = chores_->NewTimer([this] {
        AnnounceHost(config_.scheduler_connect_timeout);
        announce_timer_->ArmAt(chores_->clock().Now() + config_.announce_host_interval);
      });
      announce_timer_->ArmAt(chores_->clock().Now());
    }
    // The GC runs on the blocking pool; the next one is armed when it ends.
    gc_timer_ = chores_->NewTimer([this] {
      if (!pool_->Submit([this] {
            CollectGarbage();
            chores_->Post([this] {
              if (gc_timer_) {
                gc_timer_->ArmAt(chores_->clock().Now() + config_.gc_interval);
              }
            });
          })) {
        gc_timer_.reset();  // stopping
      }
    });
    gc_timer_->ArmAt(chores_->clock().Now() + config_.gc_interval);
    armed.set_value();
  });
  armed.get_future().wait();
}

void Daemon::Impl::StopChores() {
  if (!chores_) {
    return;
  }
  std::promise<void> stopped;
  chores_->Post([this, &stopped] {
    announce_timer_.reset();
    gc_timer_.reset();
    stopped.set_value();
  });
  stopped.get_future().wait();
}

void Daemon::Impl::AnnounceHost(std::chrono::milliseconds timeout) {
  // What a call needs until gRPC reports its end.
  struct Call {
    std::unique_ptr<sv1::Scheduler::Stub> stub;
    grpc::ClientContext context;
    sv1::AnnounceHostRequest request;
    sv1::AnnounceHostResponse response;
    std::string address;
    std::shared_ptr<std::atomic<bool>> in_flight;
  };
  sv1::AnnounceHostRequest request;
  *request.mutable_host() = HostInfo();
  for (const auto& address : config_.schedulers) {
    // At most one call per scheduler: a slow one is not piled on.
    auto& in_flight = announcing_[address];
    if (!in_flight) {
      in_flight = std::make_shared<std::atomic<bool>>(false);
    }
    if (in_flight->exchange(true)) {
      continue;
    }
    auto call = std::make_shared<Call>();
    call->stub = sv1::Scheduler::NewStub(channels_.Get(address));
    call->context.set_deadline(std::chrono::system_clock::now() + timeout);
    call->request = request;
    call->address = address;
    call->in_flight = in_flight;
    call->stub->async()->AnnounceHost(
        &call->context, &call->request, &call->response, [call](grpc::Status status) {
          if (!status.ok()) {
            spdlog::debug("announce_host_failed scheduler={} error=\"{}\"", call->address,
                          status.error_message());
          }
          call->in_flight->store(false);
        });
  }
}

void Daemon::Impl::CollectGarbage() {
  auto report = store_->Gc();
  if (!report.ok()) {
    spdlog::warn("gc_failed error=\"{}\"", report.status().ToString());
  } else if (report->tasks_removed > 0) {
    spdlog::info("gc tasks_removed={} bytes_freed={}", report->tasks_removed, report->bytes_freed);
  }
}

void Daemon::Impl::Stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  StopChores();
  // Tell the schedulers first, so no child is sent to a peer that is leaving.
  if (store_ && piece_server_) {
    for (const auto& address : config_.schedulers) {
      auto stub = sv1::Scheduler::NewStub(channels_.Get(address));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      sv1::LeaveHostRequest request;
      request.set_host_id(config_.host_id);
      sv1::LeaveHostResponse response;
      stub->LeaveHost(&context, request, &response).ok();
    }
  }
  if (tasks_) {
    tasks_->Stop();
  }
  // The ended downloads' streams end (their last reports go out first).
  if (scheduler_link_) {
    scheduler_link_->Stop();
  }
  // After the downloads: mirror connections waiting on them see them end.
  if (mirror_) {
    mirror_->Stop();
  }
  if (proxy_) {
    proxy_->Stop();
  }
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(2);
  if (local_socket_) {
    local_socket_->Stop();  // no new callers; removes the socket file
  }
  if (local_server_) {
    local_server_->Shutdown(deadline);
  }
  if (peer_server_) {
    peer_server_->Shutdown(deadline);
  }
  if (piece_server_) {
    piece_server_->Stop();
  }
  if (transfers_) {
    transfers_->Stop();
  }
  if (pool_) {
    pool_->Stop();
  }
  if (loop_) {
    loop_->Stop();
  }
  if (metrics_server_) {
    metrics_server_->Stop();
  }
}

Result<std::unique_ptr<Daemon>> Daemon::Start(const DaemonConfig& config) {
  auto impl = std::make_unique<Impl>(config);
  Status s = impl->Start();
  if (!s.ok()) {
    impl->Stop();
    return s;
  }
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Daemon::~Daemon() { Stop(); }
void Daemon::Stop() { impl_->Stop(); }
uint16_t Daemon::peer_port() const { return static_cast<uint16_t>(impl_->peer_port_); }
uint16_t Daemon::piece_port() const { return impl_->piece_server_->port(); }
uint16_t Daemon::mirror_port() const { return impl_->mirror_ ? impl_->mirror_->port() : 0; }
uint16_t Daemon::proxy_port() const { return impl_->proxy_ ? impl_->proxy_->port() : 0; }
uint16_t Daemon::metrics_port() const {
  return impl_->metrics_server_ ? impl_->metrics_server_->port() : 0;
}
const DaemonConfig& Daemon::config() const { return impl_->config_; }
Result<bool> Daemon::ReloadTls() {
  return impl_->tls_stage_ ? impl_->tls_stage_->Refresh() : Result<bool>(false);
}

}  // namespace feilong::daemon
