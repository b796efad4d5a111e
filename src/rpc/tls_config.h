// Mutual TLS for Feilong's gRPC traffic: one `tls:` block, the same in
// flsched and fld, gives the CA that every peer's certificate must chain to
// and this process's own certificate and key. With it, every gRPC server
// asks for and verifies a client certificate, and every client verifies the
// server's certificate and its host (the address dialled must be in the
// certificate's subjectAltName) and presents its own.
//
// The files are taken again on SIGHUP and every `reload_interval`, only as
// a whole set, for new connections, without a restart and without touching
// connections already open (rpc/tls_stage.h).
//
//   tls:
//     enabled: true        # the default; false: plaintext, a warning at start
//     ca_file: /etc/feilong/tls/ca.pem
//     cert_file: /etc/feilong/tls/host.pem
//     key_file: /etc/feilong/tls/host.key
//     reload_interval: 60s
//
// Thread rule: a value. The gRPC credentials made from it are in
// rpc/tls_credentials.h (kept apart so config parsing needs no gRPC).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace feilong::rpc {

struct TlsConfig {
  // Default: true. Plaintext between hosts only when configured so
  // (`enabled: false`, or --plaintext): a process whose tls: block names no
  // files does not start (CheckTlsFiles says how to set it up).
  bool enabled = true;
  // PEM files. Required when enabled.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // How often the files are checked for changes, 1 s .. 1 h. Default: 60 s.
  std::chrono::milliseconds reload_interval{60'000};
};

// OK when TLS is off, or the CA, certificate and key files are named and
// readable; InvalidArgument naming the key otherwise, and for a block that
// names none of them, how to make them or turn TLS off.
Status CheckTlsFiles(const TlsConfig& config);

// Roles: with TLS, what a host may do is named in its certificate, as URI
// subjectAltNames "urn:feilong:role:<role>" (scripts/make-certs
// NAME@seed+scheduler:...). "seed": may announce itself as a seed host (its
// reports are trusted at once); "scheduler": may ask seeds to fetch
// (TriggerDownload). A certificate without roles is a plain peer.
inline constexpr std::string_view kRoleSeed = "seed";
inline constexpr std::string_view kRoleScheduler = "scheduler";

// The roles named in a PEM certificate; none for text that is not one.
std::vector<std::string> CertificateRoles(std::string_view pem);

// Reads the `tls` map. InvalidArgument naming the key for an interval out
// of range, and, when the map turns TLS on or names a file, for a missing
// or unreadable file. A map left at its defaults is checked at start
// (CheckTlsFiles), so that config files without it still parse.
Status ReadTlsConfig(const ConfigReader& reader, TlsConfig& out);

}  // namespace feilong::rpc
