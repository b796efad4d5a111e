#include "rpc/tls_config.h"

#include <unistd.h>

namespace feilong::rpc {

namespace {

Status Readable(std::string_view key, const std::string& path) {
  if (path.empty()) {
    return Status::InvalidArgument("config key 'tls." + std::string(key) +
                                   "' is required when tls.enabled is true");
  }
  if (::access(path.c_str(), R_OK) != 0) {
    return Status::InvalidArgument("config key 'tls." + std::string(key) + "': cannot read " +
                                   path);
  }
  return Status::Ok();
}

}  // namespace

Status CheckTlsFiles(const TlsConfig& config) {
  FL_RETURN_IF_ERROR(Readable("ca_file", config.ca_file));
  FL_RETURN_IF_ERROR(Readable("cert_file", config.cert_file));
  return Readable("key_file", config.key_file);
}

Status ReadTlsConfig(const ConfigReader& reader, TlsConfig& out) {
  FL_RETURN_IF_ERROR(reader.Read("enabled", out.enabled));
  FL_RETURN_IF_ERROR(reader.Read("ca_file", out.ca_file));
  FL_RETURN_IF_ERROR(reader.Read("cert_file", out.cert_file));
  FL_RETURN_IF_ERROR(reader.Read("key_file", out.key_file));
  FL_RETURN_IF_ERROR(reader.Read("reload_interval", out.reload_interval));
  if (out.reload_interval < std::chrono::seconds(1) ||
      out.reload_interval > std::chrono::hours(1)) {
    return Status::InvalidArgument("config key 'tls.reload_interval': must be within 1s..1h");
  }
  return out.enabled ? CheckTlsFiles(out) : Status::Ok();
}

}  // namespace feilong::rpc
