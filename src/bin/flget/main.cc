// flget: download a URL through the local Feilong daemon.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/flget.h"

int main(int argc, char** argv) {
  feilong::cli::FlgetOptions options;
  CLI::App app{
      "flget: download a URL through the local Feilong daemon (P2P, verified, cached)\n"
      "Exit codes: 0 ok, 1 download failed, 2 bad input, 3 daemon unreachable,\n"
      "4 not found at origin, 5 no space left, 6 digest mismatch, 7 permission denied"};
  std::vector<std::string> headers;
  bool verbose = false;
  bool no_progress = false;
  app.add_option("url", options.url, "URL to download (http or https)")->required();
  app.add_option("-O,--output", options.output, "Output file")->required();
  app.add_option("--socket", options.socket_path, "Daemon's unix socket")->capture_default_str();
  app.add_option("--digest", options.digest, "Expected content digest, sha256:<hex>");
  app.add_option("--tag", options.tag, "Separates otherwise identical URLs into different tasks");
  app.add_option("--application", options.application, "Caller's application name");
  app.add_option("-H,--header", headers, "Header sent to the origin, 'Name: value'; repeatable");
  app.add_option("--piece-length", options.piece_length,
                 "Piece length in bytes, 65536 to 67108864 (default: the daemon's rule, 512 KiB "
                 "for files up to 512 MiB, 1 MiB up to 1 GiB); part of the task's identity");
  app.add_option("--timeout", options.timeout_seconds,
                 "Download deadline in seconds (0: daemon default)");
  app.add_flag("--no-back-to-source", options.disable_back_to_source,
               "Fail rather than download from the origin");
  app.add_flag("-v,--verbose", verbose, "Print where the bytes came from");
  app.add_flag("--no-progress", no_progress, "Never draw a progress bar");
  CLI11_PARSE(app, argc, argv);

  for (const auto& h : headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      std::fprintf(stderr, "flget: header '%s' is not 'Name: value'\n", h.c_str());
      return 2;
    }
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    options.headers[h.substr(0, colon)] = value;
  }
  options.verbosity = verbose ? 1 : 0;
  options.progress = !no_progress && isatty(STDERR_FILENO);
  return feilong::cli::RunFlget(options);
}
