// fl_swarm_sim: runs the in-process swarm (sim_world.h) and prints, as a
// Markdown table row, how long every peer took against the lower bound, and
// how much came from the origin. The place to try a picker or a parent
// choice in seconds before confirming it on real kernels
// (bench/swarm/run).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "daemon/daemon_config.h"
#include "sim/sim_world.h"

int main(int argc, char** argv) {
  feilong::sim::SimOptions options;
  uint64_t size_mib = 512;
  uint32_t limit_s = 3600;
  CLI::App app{"fl_swarm_sim: a swarm of fld downloads on a virtual clock (tests/sim)"};
  app.add_option("--peers", options.peers, "Hosts downloading, besides the seed peer")
      ->capture_default_str();
  app.add_option("--size-mib", size_mib, "File size in MiB")->capture_default_str();
  app.add_option("--rate-mbit", options.host_mbit, "Every host's up and down link, Mbit/s")
      ->capture_default_str();
  app.add_option("--origin-rate-mbit", options.origin_mbit, "The origin's uplink, Mbit/s")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Random seed (same seed, same run)")
      ->capture_default_str();
  app.add_option("--limit-s", limit_s, "Virtual seconds before giving up")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (options.peers == 0 || size_mib == 0 || options.host_mbit <= 0 || options.origin_mbit <= 0) {
    std::fprintf(stderr, "fl_swarm_sim: --peers, --size-mib and the rates must be positive\n");
    return 2;
  }
  options.file_bytes = size_mib << 20;
  feilong::sim::SimWorld world(options);
  auto report = world.Run(std::chrono::seconds(limit_s));
  uint32_t failed = 0;
  for (const auto& host : report.hosts) {
    failed += host.status.ok() ? 0 : 1;
  }
  std::printf(
      "| N | F MiB | Mbit/s | T_min s | T all s | T all / T_min | mean / T_min | origin / F | "
      "failed | wall s |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  std::printf("| %u | %lu | %.0f | %.2f | %.2f | %.3f | %.3f | %.3f | %u | %.2f |\n", options.peers,
              static_cast<unsigned long>(size_mib), options.host_mbit, report.t_min_seconds,
              report.all_done_seconds, report.all_done_seconds / report.t_min_seconds,
              report.mean_seconds / report.t_min_seconds,
              static_cast<double>(report.origin_bytes) / static_cast<double>(options.file_bytes),
              failed, report.wall_seconds);
  return report.all_done && failed == 0 ? 0 : 1;
}
