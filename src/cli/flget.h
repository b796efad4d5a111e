// flget: downloads a URL through the local daemon.
//
// Exit codes (also in `flget --help`):
//   0 success; 1 download failed (origin error, timeout, ...); 2 bad input
//   (URL, digest, output path); 3 daemon unreachable; 4 not found at the
//   origin; 5 no space left; 6 content digest mismatch; 7 permission denied
//   at the origin.
#pragma once

#include <map>
#include <string>

namespace feilong::cli {

struct FlgetOptions {
  std::string url;
  std::string output;  // made absolute against the working directory
  std::string socket_path = "/var/lib/feilong/fld.sock";
  std::string digest;  // "sha256:<hex>" or empty
  std::string tag;
  std::string application;
  std::map<std::string, std::string> headers;
  uint32_t piece_length = 0;  // 0: the daemon's rule
  uint32_t timeout_seconds = 0;
  bool disable_back_to_source = false;
  // 0: errors only; 1: summary of where bytes came from.
  int verbosity = 0;
  // Progress bar on stderr; default: when stderr is a terminal.
  bool progress = false;
};

// Runs the download; returns the process exit code.
int RunFlget(const FlgetOptions& options);

}  // namespace feilong::cli
