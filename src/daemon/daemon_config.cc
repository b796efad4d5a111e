#include "daemon/daemon_config.h"

#include <fmt/format.h>
#include <unistd.h>

#include "common/config.h"
#include "common/resilience_config.h"
#include "common/tcp_congestion.h"

namespace feilong::daemon {

namespace {

// Octal permission bits, at most 0777, e.g. "0660" or "660".
Status ParseSocketMode(const std::string& text, uint32_t& mode) {
  uint32_t value = 0;
  bool valid = !text.empty() && text.size() <= 4;
  for (char ch : text) {
    valid = valid && ch >= '0' && ch <= '7';
    value = value * 8 + static_cast<uint32_t>(ch - '0');
  }
  if (!valid || value > 0777) {
    return Status::InvalidArgument(
        "config key 'server.socket_mode': expected octal permission "
        "bits such as \"0660\", got '" +
        text + "'");
  }
  mode = value;
  return Status::Ok();
}

Status ReadConfig(ConfigReader& root, DaemonConfig& c) {
  ConfigReader host = root.Child("host");
  FL_RETURN_IF_ERROR(host.Read("id", c.host_id));
  FL_RETURN_IF_ERROR(host.Read("hostname", c.hostname));
  FL_RETURN_IF_ERROR(host.Read("advertise_ip", c.advertise_ip));
  FL_RETURN_IF_ERROR(host.Read("idc", c.idc));
  FL_RETURN_IF_ERROR(host.Read("location", c.location));
  FL_RETURN_IF_ERROR(host.Read("seed", c.seed));

  ConfigReader server = root.Child("server");
  FL_RETURN_IF_ERROR(server.Read("socket_path", c.socket_path));
  std::string socket_mode;
  FL_RETURN_IF_ERROR(server.Read("socket_mode", socket_mode));
  if (!socket_mode.empty()) {
    FL_RETURN_IF_ERROR(ParseSocketMode(socket_mode, c.socket_mode));
  }
  FL_RETURN_IF_ERROR(server.Read("socket_group", c.socket_group));
  FL_RETURN_IF_ERROR(server.Read("peer_listen", c.peer_listen));
  FL_RETURN_IF_ERROR(server.Read("piece_listen", c.piece_listen));
  FL_RETURN_IF_ERROR(server.Read("metrics_listen", c.metrics_listen));

  FL_RETURN_IF_ERROR(rpc::ReadTlsConfig(root.Child("tls"), c.tls));

  ConfigReader scheduler = root.Child("scheduler");
  FL_RETURN_IF_ERROR(scheduler.Read("addresses", c.schedulers));
  FL_RETURN_IF_ERROR(scheduler.Read("connect_timeout", c.scheduler_connect_timeout));
  FL_RETURN_IF_ERROR(scheduler.Read("announce_host_interval", c.announce_host_interval));
  FL_RETURN_IF_ERROR(
      ReadCircuitBreakerConfig(scheduler.Child("circuit_breaker"), c.scheduler_breaker));

  ConfigReader download = root.Child("download");
  FL_RETURN_IF_ERROR(download.Read("concurrent_pieces", c.concurrent_pieces));
  FL_RETURN_IF_ERROR(download.Read("max_transfers", c.max_transfers));
  FL_RETURN_IF_ERROR(download.Read("back_to_source_concurrency", c.back_to_source_concurrency));
  if (download.Has("transfer_threads")) {
    return Status::InvalidArgument(
        "config key 'download.transfer_threads' was removed: transfers run on the event loop "
        "(download.loop_threads); work that blocks uses download.blocking_threads");
  }
  FL_RETURN_IF_ERROR(download.Read("blocking_threads", c.blocking_threads));
  FL_RETURN_IF_ERROR(download.Read("loop_threads", c.loop_threads));
  FL_RETURN_IF_ERROR(download.Read("p2p_stall_timeout", c.p2p_stall_timeout));
  FL_RETURN_IF_ERROR(download.Read("max_reschedules", c.max_reschedules));
  FL_RETURN_IF_ERROR(download.Read("timeout", c.download_timeout));
  FL_RETURN_IF_ERROR(download.Read("back_to_source", c.back_to_source));
  ConfigReader origin = download.Child("origin");
  FL_RETURN_IF_ERROR(origin.Read("max_requests_per_host", c.origin_max_requests_per_host));
  FL_RETURN_IF_ERROR(origin.Read("stall_timeout", c.origin_stall_timeout));
  FL_RETURN_IF_ERROR(origin.Read("ca_file", c.origin_ca_file));
  ConfigReader policy = origin.Child("policy");
  c.origin_deny_loopback_set = policy.Has("deny_loopback");
  FL_ASSIGN_OR_RETURN(c.origin_policy, source::ReadOriginPolicy(policy, c.origin_policy));
  FL_RETURN_IF_ERROR(ReadRetryPolicy(origin.Child("retry"), c.origin_retry));
  FL_RETURN_IF_ERROR(ReadCircuitBreakerConfig(origin.Child("circuit_breaker"), c.origin_breaker));
  ConfigReader parent = download.Child("parent");
  FL_RETURN_IF_ERROR(parent.Read("stall_timeout", c.parent_stall_timeout));
  FL_RETURN_IF_ERROR(parent.Read("connect_timeout", c.parent_connect_timeout));
  FL_RETURN_IF_ERROR(parent.Read("max_in_flight", c.parent_max_in_flight));
  FL_RETURN_IF_ERROR(parent.Read("wanted", c.parent_wanted));
  FL_RETURN_IF_ERROR(parent.Read("busy_backoff", c.parent_busy_backoff));
  FL_RETURN_IF_ERROR(ReadCircuitBreakerConfig(parent.Child("circuit_breaker"), c.parent_breaker));

  ConfigReader upload = root.Child("upload");
  FL_RETURN_IF_ERROR(upload.ReadBitRate("capacity", c.upload_capacity_bps));
  FL_RETURN_IF_ERROR(upload.Read("max_concurrent", c.max_concurrent_uploads));
  FL_RETURN_IF_ERROR(upload.Read("slots", c.upload_slots));
  FL_RETURN_IF_ERROR(upload.Read("availability_interval", c.availability_interval));
  FL_RETURN_IF_ERROR(upload.Read("queue_wait", c.upload_queue_wait));
  FL_RETURN_IF_ERROR(upload.Read("queue_length", c.upload_queue_length));
  FL_RETURN_IF_ERROR(upload.Read("tcp_congestion", c.upload_tcp_congestion));

  ConfigReader storage = root.Child("storage");
  FL_RETURN_IF_ERROR(storage.Read("data_dir", c.data_dir));
  FL_RETURN_IF_ERROR(storage.Read("fsync_pieces", c.fsync_pieces));
  FL_RETURN_IF_ERROR(storage.Read("task_ttl", c.task_ttl));
  FL_RETURN_IF_ERROR(storage.Read("disk_high_watermark", c.disk_high_watermark));
  FL_RETURN_IF_ERROR(storage.Read("disk_low_watermark", c.disk_low_watermark));
  FL_RETURN_IF_ERROR(storage.Read("gc_interval", c.gc_interval));

  FL_RETURN_IF_ERROR(root.Read("log_level", c.log_level));
  FL_RETURN_IF_ERROR(mirror::ParseMirrorConfig(root.Child("mirror"), c.mirror));
  FL_RETURN_IF_ERROR(proxy::ParseProxyConfig(root.Child("proxy"), c.proxy));
  return root.CheckNoUnknownKeys();
}

Status InRange(std::string_view key, double value, double lo, double hi) {
  if (value < lo || value > hi) {
    return Status::InvalidArgument(
        fmt::format("config key '{}': {} is outside [{}, {}]", key, value, lo, hi));
  }
  return Status::Ok();
}

}  // namespace

Result<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  FL_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::FromFile(path));
  DaemonConfig config;
  FL_RETURN_IF_ERROR(ReadConfig(reader, config).WithContext(path));
  return config;
}

Result<DaemonConfig> ParseDaemonConfig(std::string_view yaml) {
  FL_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::FromString(yaml));
  DaemonConfig config;
  FL_RETURN_IF_ERROR(ReadConfig(reader, config));
  return config;
}

Status FinalizeDaemonConfig(DaemonConfig& c) {
  if (c.hostname.empty()) {
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) != 0) {
      return Status::FromErrno(errno, "gethostname");
    }
    c.hostname = name;
  }
  if (c.host_id.empty()) {
    c.host_id = c.advertise_ip + "-" + c.hostname;
  }
  if (c.socket_path.empty()) {
    c.socket_path = c.data_dir + "/fld.sock";
  }
  if (c.max_concurrent_uploads == 0) {
    c.max_concurrent_uploads = c.seed ? 2000 : 200;
  }
  if (c.upload_slots == 0) {
    c.upload_slots = c.seed ? 32 : 4;
  }
  if (c.seed && !c.origin_deny_loopback_set) {
    c.origin_policy.deny_loopback = true;
  }
  if (c.upload_queue_length == 0) {
    c.upload_queue_length = c.upload_slots;
  }
  if (c.data_dir.empty()) {
    return Status::InvalidArgument("config key 'storage.data_dir' must not be empty");
  }
  FL_RETURN_IF_ERROR(InRange("download.concurrent_pieces", c.concurrent_pieces, 1, 256));
  FL_RETURN_IF_ERROR(InRange("download.max_transfers", c.max_transfers, 0, 65536));
  FL_RETURN_IF_ERROR(
      InRange("download.back_to_source_concurrency", c.back_to_source_concurrency, 1, 64));
  FL_RETURN_IF_ERROR(InRange("download.blocking_threads", c.blocking_threads, 1, 256));
  FL_RETURN_IF_ERROR(InRange("download.loop_threads", c.loop_threads, 0, 64));
  FL_RETURN_IF_ERROR(InRange("download.parent.max_in_flight", c.parent_max_in_flight, 1, 256));
  FL_RETURN_IF_ERROR(InRange("download.parent.wanted", c.parent_wanted, 1, 64));
  if (c.availability_interval > std::chrono::seconds(10)) {
    return Status::InvalidArgument(
        "config key 'upload.availability_interval': at most 10s (children would wait that long "
        "to hear of new pieces)");
  }
  if (c.upload_queue_wait > std::chrono::seconds(10)) {
    return Status::InvalidArgument(
        "config key 'upload.queue_wait': at most 10s (a child waiting longer takes the parent "
        "for stalled)");
  }
  FL_RETURN_IF_ERROR(InRange("upload.queue_length", c.upload_queue_length, 1, 4096));
  FL_RETURN_IF_ERROR(ValidateTcpCongestionName(c.upload_tcp_congestion)
                         .WithContext("config key 'upload.tcp_congestion'"));
  FL_RETURN_IF_ERROR(InRange("storage.disk_high_watermark", c.disk_high_watermark, 0.01, 1.0));
  FL_RETURN_IF_ERROR(
      InRange("storage.disk_low_watermark", c.disk_low_watermark, 0.0, c.disk_high_watermark));
  FL_RETURN_IF_ERROR(mirror::ValidateMirrorConfig(c.mirror));
  FL_RETURN_IF_ERROR(proxy::ValidateProxyConfig(c.proxy));
  if (c.proxy.enabled && c.mirror.enabled && c.proxy.listen == c.mirror.listen &&
      !c.proxy.listen.ends_with(":0")) {
    return Status::InvalidArgument("config key 'proxy.listen': same address as mirror.listen");
  }
  return Status::Ok();
}

}  // namespace feilong::daemon
