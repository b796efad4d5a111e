// Cluster: a scheduler, a seed peer and N peers started as real processes
// on loopback, each daemon with its own data directory, for integration
// tests. Everything is stopped and removed by the destructor.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "integration/process.h"
#include "support/temp_dir.h"

namespace feilong::testing {

struct ClusterOptions {
  int peers = 3;
  bool seed = true;
  bool scheduler = true;
  // How many schedulers when `scheduler`; every daemon is given them all.
  int schedulers = 1;
  // The seed may fetch from origins on 127.0.0.1 (where test origins are);
  // false leaves the seed's default policy, which refuses loopback.
  bool seed_allows_loopback = true;
  // Extra flags for every flsched.
  std::vector<std::string> scheduler_args;
  // Extra flags for every fld.
  std::vector<std::string> fld_args;
  // Every process gets --plaintext (TLS is on by default and needs
  // certificates); false for tests that give a tls: block.
  bool plaintext = true;
};

// Numbers flget -v reports.
struct FlgetSummary {
  int exit_code = -1;
  uint64_t from_cache = 0;
  uint64_t from_peers = 0;
  uint64_t from_origin = 0;
  std::string output;  // flget's stderr and stdout
};

class Cluster {
 public:
  struct Node {
    std::string name;
    std::string dir;
    std::string socket;
    std::vector<std::string> args;
    std::unique_ptr<ChildProcess> process;
  };

  explicit Cluster(ClusterOptions options = {});
  ~Cluster();

  // Starts every process and waits until each is ready.
  ::testing::AssertionResult Start();

  Node& seed() { return *seed_; }
  Node& peer(int i) { return *peers_.at(i); }
  int peer_count() const { return static_cast<int>(peers_.size()); }
  const std::string& scheduler_address() const { return scheduler_addresses_.at(0); }
  // A port `node` printed in its "fld ready" line ("piece_port",
  // "peer_port"); 0 if it printed none.
  static uint16_t ReadyPort(const Node& node, const std::string& name);
  const std::vector<std::string>& scheduler_addresses() const { return scheduler_addresses_; }
  // Scheduler `i`'s process (to signal it or read its log).
  ChildProcess& scheduler_process(int i = 0) { return *schedulers_.at(i); }
  const std::string& dir() const { return dir_.path(); }

  // Runs flget against `node`'s daemon.
  FlgetSummary Flget(const Node& node, const std::string& url, const std::string& output,
                     const std::vector<std::string>& extra_args = {});

  // Stops a daemon (SIGTERM) / starts it again with the same data directory.
  void StopNode(Node& node, int signal = 15);
  ::testing::AssertionResult RestartNode(Node& node);
  // Stops every scheduler (SIGTERM).
  void StopScheduler();
  // Stops scheduler `i` with `signal` / starts it again on the same address.
  void StopScheduler(int i, int signal);
  ::testing::AssertionResult RestartScheduler(int i);

 private:
  ::testing::AssertionResult StartNode(Node& node);
  ::testing::AssertionResult StartScheduler(int i, const std::string& listen);

  ClusterOptions options_;
  test::TempDir dir_;
  std::vector<std::unique_ptr<ChildProcess>> schedulers_;
  std::vector<std::string> scheduler_addresses_;
  std::unique_ptr<Node> seed_;
  std::vector<std::unique_ptr<Node>> peers_;
  int flget_runs_ = 0;
};

}  // namespace feilong::testing
