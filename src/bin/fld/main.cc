// fld: the Feilong peer daemon. Parses flags, loads the config, runs the
// daemon until SIGINT or SIGTERM; SIGHUP takes the tls: files again.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "common/allocator.h"
#include "common/log.h"
#include "common/open_file_limit.h"
#include "daemon/daemon.h"
#include "rpc/tls_config.h"

namespace {

// Piece connections (upload.max_connections, 512) + transfers
// (download.max_transfers, 128) + the store's open tasks (256) + gRPC,
// SQLite and the local API, with room to spare.
constexpr uint64_t kOpenFilesWanted = 4096;

}  // namespace

int main(int argc, char** argv) {
  using feilong::daemon::DaemonConfig;
  CLI::App app{"fld: the Feilong peer daemon (downloads, stores and serves pieces)"};
  app.footer(
      "Signals: SIGINT or SIGTERM stops the daemon; SIGHUP takes the tls: certificate files "
      "again (a set that is not whole is refused and logged; the one in use stays).");
  std::string config_path;
  std::string data_dir;
  std::string socket_path;
  std::string peer_listen;
  std::string piece_listen;
  std::string metrics_listen;
  std::string host_id;
  std::string advertise_ip;
  std::vector<std::string> schedulers;
  std::string log_level;
  std::vector<std::string> allowed_origins;
  bool seed = false;
  bool plaintext = false;
  app.add_option("-c,--config", config_path, "YAML config file (see docs/configuration.md)");
  app.add_option("--data-dir", data_dir, "Piece store directory (storage.data_dir)");
  app.add_option("--socket", socket_path, "Local API unix socket (server.socket_path)");
  app.add_option("--peer-listen", peer_listen, "Peer gRPC address, host:port (server.peer_listen)");
  app.add_option("--piece-listen", piece_listen,
                 "HTTP piece server address, host:port (server.piece_listen)");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus metrics address; 'off' disables (server.metrics_listen)");
  app.add_option("--host-id", host_id, "Host id announced to schedulers (host.id)");
  app.add_option("--advertise-ip", advertise_ip,
                 "IP other peers reach this host at (host.advertise_ip)");
  app.add_option("--scheduler", schedulers,
                 "Scheduler address host:port; repeatable (scheduler.addresses)");
  app.add_flag("--seed", seed, "Run as a seed peer (host.seed)");
  app.add_option("--allow-origin", allowed_origins,
                 "Origin address, CIDR or host name this daemon may fetch from even where the "
                 "policy denies it (a seed denies loopback); repeatable "
                 "(download.origin.policy.allow)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off (log_level)");
  app.add_flag("--plaintext", plaintext,
               "No TLS between hosts: plaintext, unauthenticated gRPC and pieces (tls.enabled: "
               "false; TLS is on by default and needs the tls: files)");
  CLI11_PARSE(app, argc, argv);
  feilong::ConfigureAllocatorForTransfers();

  DaemonConfig config;
  if (!config_path.empty()) {
    auto loaded = feilong::daemon::LoadDaemonConfig(config_path);
    if (!loaded.ok()) {
      std::cerr << "fld: " << loaded.status().ToString() << "\n";
      return 2;
    }
    config = *loaded;
  }
  if (!data_dir.empty()) config.data_dir = data_dir;
  if (!socket_path.empty()) config.socket_path = socket_path;
  if (!peer_listen.empty()) config.peer_listen = peer_listen;
  if (!piece_listen.empty()) config.piece_listen = piece_listen;
  if (!metrics_listen.empty())
    config.metrics_listen = metrics_listen == "off" ? "" : metrics_listen;
  if (!host_id.empty()) config.host_id = host_id;
  if (!advertise_ip.empty()) config.advertise_ip = advertise_ip;
  if (!schedulers.empty()) config.schedulers = schedulers;
  if (seed) config.seed = true;
  config.origin_policy.allow.insert(config.origin_policy.allow.end(), allowed_origins.begin(),
                                    allowed_origins.end());
  if (!log_level.empty()) config.log_level = log_level;
  if (plaintext) config.tls.enabled = false;

  feilong::Status s = feilong::InitLogging(config.log_level);
  if (s.ok()) {
    s = feilong::daemon::FinalizeDaemonConfig(config);
  }
  if (s.ok()) {
    s = feilong::rpc::CheckTlsFiles(config.tls);
  }
  if (!s.ok()) {
    std::cerr << "fld: " << s.ToString() << "\n";
    return 2;
  }

  // Signals are taken synchronously by this thread; every other thread
  // inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Connections, transfers and the store's open tasks each hold a
  // descriptor; a service's default soft limit (1024) is too few for a busy
  // seed (common/open_file_limit.h).
  if (auto limit = feilong::RaiseOpenFileLimit(); !limit.ok()) {
    spdlog::warn("open_file_limit: {}", limit.status().message());
  } else if (*limit < kOpenFilesWanted) {
    spdlog::warn(
        "open_file_limit: {} descriptors at most (hard limit); a busy daemon may need {} "
        "(raise LimitNOFILE or ulimit -Hn)",
        *limit, kOpenFilesWanted);
  }

  auto daemon = feilong::daemon::Daemon::Start(config);
  if (!daemon.ok()) {
    std::cerr << "fld: " << daemon.status().ToString() << "\n";
    return 1;
  }
  std::printf("fld ready socket=%s peer_port=%u piece_port=%u metrics_port=%u seed=%s\n",
              config.socket_path.c_str(), (*daemon)->peer_port(), (*daemon)->piece_port(),
              (*daemon)->metrics_port(), config.seed ? "true" : "false");
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    feilong::Result<bool> reloaded = (*daemon)->ReloadTls();
    spdlog::info("sighup tls_reload={}", !reloaded.ok() ? "refused"
                                         : *reloaded    ? "taken"
                                                        : "unchanged");
  }
  (*daemon)->Stop();
  return 0;
}
