#include "scheduler/scheduler_config.h"

#include "common/config.h"
#include "common/host_port.h"

namespace feilong::scheduler {
namespace {

bool IsLogLevel(const std::string& level) {
  for (const char* name : {"trace", "debug", "info", "warn", "error", "off"}) {
    if (level == name) {
      return true;
    }
  }
  return false;
}

Status KeyError(std::string_view key, const std::string& what) {
  return Status::InvalidArgument("config key '" + std::string(key) + "': " + what);
}

Result<SchedulerConfig> ReadConfig(const ConfigReader& root) {
  SchedulerConfig config;
  FL_RETURN_IF_ERROR(root.Read("listen", config.listen));
  FL_RETURN_IF_ERROR(root.Read("metrics_listen", config.metrics_listen));
  FL_RETURN_IF_ERROR(root.Read("log_level", config.log_level));
  FL_RETURN_IF_ERROR(root.Read("candidate_parent_limit", config.candidate_parent_limit));
  FL_RETURN_IF_ERROR(
      root.Read("max_back_to_source_peers_per_task", config.max_back_to_source_peers_per_task));
  FL_RETURN_IF_ERROR(root.Read("schedule_wait", config.schedule_wait));
  FL_RETURN_IF_ERROR(root.Read("max_schedule_wait", config.max_schedule_wait));
  FL_RETURN_IF_ERROR(root.Read("seed_trigger_timeout", config.seed_trigger_timeout));
  FL_RETURN_IF_ERROR(root.Read("host_ttl", config.host_ttl));
  FL_RETURN_IF_ERROR(root.Read("finished_peer_ttl", config.finished_peer_ttl));
  FL_RETURN_IF_ERROR(root.Read("tick_interval", config.tick_interval));
  FL_RETURN_IF_ERROR(rpc::ReadTlsConfig(root.Child("tls"), config.tls));
  ConfigReader grants = root.Child("grants");
  FL_RETURN_IF_ERROR(grants.Read("key_file", config.grants.key_file));
  FL_RETURN_IF_ERROR(grants.Read("ttl", config.grants.ttl));
  FL_RETURN_IF_ERROR(root.CheckNoUnknownKeys());
  FL_RETURN_IF_ERROR(config.Validate());
  return config;
}

}  // namespace

Status SchedulerConfig::Validate() const {
  using std::chrono::milliseconds;
  if (!ParseHostPort(listen).ok()) {
    return KeyError("listen", "expected host:port, got '" + listen + "'");
  }
  if (!metrics_listen.empty() && !ParseHostPort(metrics_listen).ok()) {
    return KeyError("metrics_listen", "expected host:port or empty, got '" + metrics_listen + "'");
  }
  if (!IsLogLevel(log_level)) {
    return KeyError("log_level",
                    "expected trace, debug, info, warn, error or off, got '" + log_level + "'");
  }
  if (candidate_parent_limit == 0) {
    return KeyError("candidate_parent_limit", "must be at least 1");
  }
  if (max_back_to_source_peers_per_task == 0) {
    return KeyError("max_back_to_source_peers_per_task", "must be at least 1");
  }
  if (schedule_wait <= milliseconds::zero()) {
    return KeyError("schedule_wait", "must be positive");
  }
  if (max_schedule_wait < schedule_wait) {
    return KeyError("max_schedule_wait", "must be at least schedule_wait");
  }
  if (seed_trigger_timeout <= milliseconds::zero()) {
    return KeyError("seed_trigger_timeout", "must be positive");
  }
  if (host_ttl <= milliseconds::zero()) {
    return KeyError("host_ttl", "must be positive");
  }
  if (finished_peer_ttl < milliseconds::zero()) {
    return KeyError("finished_peer_ttl", "must not be negative");
  }
  if (tick_interval <= milliseconds::zero()) {
    return KeyError("tick_interval", "must be positive");
  }
  if (grants.ttl < std::chrono::minutes(1)) {
    return KeyError("grants.ttl", "must be at least 1m");
  }
  return Status::Ok();
}

Result<SchedulerConfig> ParseSchedulerConfig(std::string_view yaml) {
  FL_ASSIGN_OR_RETURN(ConfigReader root, ConfigReader::FromString(yaml));
  return ReadConfig(root);
}

Result<SchedulerConfig> LoadSchedulerConfig(const std::string& path) {
  FL_ASSIGN_OR_RETURN(ConfigReader root, ConfigReader::FromFile(path));
  return ReadConfig(root);
}

}  // namespace feilong::scheduler
