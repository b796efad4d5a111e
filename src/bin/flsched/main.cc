// flsched: the Feilong scheduler.
//
//   flsched [--config FILE] [--listen ADDR] [--metrics-listen ADDR]
//           [--log-level LEVEL]
//
// Prints "flsched listening on <host:port>" on stdout once serving, and
// shuts down gracefully on SIGINT or SIGTERM (SIGHUP takes the tls: files
// again, rpc/tls_stage.h). Exit codes: 0 after a clean
// shutdown, 1 when the server cannot start, 2 for bad flags or config.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>

#include "common/log.h"
#include "rpc/tls_config.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_service.h"

namespace {

using feilong::scheduler::SchedulerConfig;

int Run(int argc, char** argv) {
  CLI::App app{"flsched: the Feilong scheduler"};
  app.footer(
      "Signals: SIGINT or SIGTERM stops the scheduler; SIGHUP takes the tls: certificate files "
      "again (a set that is not whole is refused and logged; the one in use stays).");
  std::string config_path;
  std::optional<std::string> listen;
  std::optional<std::string> metrics_listen;
  std::optional<std::string> log_level;
  bool plaintext = false;
  app.add_option("--config", config_path, "YAML config file (defaults apply when absent)");
  app.add_option("--listen", listen, "gRPC listen address host:port (overrides the config)");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus endpoint host:port, empty to disable (overrides the config)");
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error or off (overrides the config)");
  app.add_flag("--plaintext", plaintext,
               "No TLS between hosts: plaintext, unauthenticated gRPC (tls.enabled: false; TLS is "
               "on by default and needs the tls: files)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  SchedulerConfig config;
  if (!config_path.empty()) {
    feilong::Result<SchedulerConfig> loaded = feilong::scheduler::LoadSchedulerConfig(config_path);
    if (!loaded.ok()) {
      std::cerr << "flsched: " << loaded.status().ToString() << "\n";
      return 2;
    }
    config = std::move(loaded).value();
  }
  if (listen) {
    config.listen = *listen;
  }
  if (metrics_listen) {
    config.metrics_listen = *metrics_listen;
  }
  if (log_level) {
    config.log_level = *log_level;
  }
  if (plaintext) {
    config.tls.enabled = false;
  }
  if (feilong::Status valid = config.Validate(); !valid.ok()) {
    std::cerr << "flsched: " << valid.ToString() << "\n";
    return 2;
  }
  if (feilong::Status tls = feilong::rpc::CheckTlsFiles(config.tls); !tls.ok()) {
    std::cerr << "flsched: " << tls.ToString() << "\n";
    return 2;
  }
  if (feilong::Status logging = feilong::InitLogging(config.log_level); !logging.ok()) {
    std::cerr << "flsched: " << logging.ToString() << "\n";
    return 2;
  }

  // Block the signals before any thread starts so every thread inherits the
  // mask and only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = feilong::scheduler::Server::Start(config);
  if (!server.ok()) {
    std::cerr << "flsched: " << server.status().ToString() << "\n";
    return 1;
  }
  std::cout << "flsched listening on " << (*server)->address() << std::endl;

  int signal_number = 0;
  while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGHUP) {
    feilong::Result<bool> reloaded = (*server)->ReloadTls();
    spdlog::info("sighup tls_reload={}", !reloaded.ok() ? "refused"
                                         : *reloaded    ? "taken"
                                                        : "unchanged");
  }
  spdlog::info("scheduler_stopping signal={}", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->Shutdown();
  spdlog::info("scheduler_stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
