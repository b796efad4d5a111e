#include "integration/cluster.h"

#include <sys/stat.h>

#include <regex>
#include <thread>

namespace feilong::testing {

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {}

Cluster::~Cluster() {
  for (auto& p : peers_) {
    p->process.reset();
  }
  if (seed_) {
    seed_->process.reset();
  }
  schedulers_.clear();
}

::testing::AssertionResult Cluster::Start() {
  if (options_.scheduler) {
    for (int i = 0; i < options_.schedulers; ++i) {
      schedulers_.emplace_back();
      scheduler_addresses_.emplace_back();
      if (auto r = StartScheduler(i, "127.0.0.1:0"); !r) {
        return r;
      }
    }
  }
  auto make_node = [&](const std::string& name, bool seed) {
    auto node = std::make_unique<Node>();
    node->name = name;
    node->dir = dir_.Path(name);
    ::mkdir(node->dir.c_str(), 0755);
    node->socket = node->dir + "/fld.sock";
    node->args = {BinaryPath("fld"),
                  "--data-dir",
                  node->dir,
                  "--host-id",
                  name,
                  "--peer-listen",
                  "127.0.0.1:0",
                  "--piece-listen",
                  "127.0.0.1:0",
                  "--metrics-listen",
                  "off",
                  "--log-level",
                  "debug"};
    for (const auto& address : scheduler_addresses_) {
      node->args.push_back("--scheduler");
      node->args.push_back(address);
    }
    if (seed) {
      node->args.push_back("--seed");
      if (options_.seed_allows_loopback) {
        // Test origins listen on loopback, which a seed refuses by default.
        node->args.push_back("--allow-origin");
        node->args.push_back("127.0.0.1");
      }
    }
    if (options_.plaintext) {
      node->args.push_back("--plaintext");
    }
    for (const auto& a : options_.fld_args) {
      node->args.push_back(a);
    }
    return node;
  };
  if (options_.seed) {
    seed_ = make_node("seed", true);
    if (auto r = StartNode(*seed_); !r) {
      return r;
    }
  }
  for (int i = 0; i < options_.peers; ++i) {
    peers_.push_back(make_node("peer" + std::to_string(i), false));
    if (auto r = StartNode(*peers_.back()); !r) {
      return r;
    }
  }
  // Give the daemons' first host announcements time to reach the scheduler.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Cluster::StartNode(Node& node) {
  node.process = std::make_unique<ChildProcess>(
      node.args, node.dir + "/../" + node.name + "-" + std::to_string(++flget_runs_) + ".log");
  if (!node.process->WaitForLine("fld ready", std::chrono::seconds(15))) {
    return ::testing::AssertionFailure() << node.name << " did not start:\n" << node.process->Log();
  }
  return ::testing::AssertionSuccess();
}

FlgetSummary Cluster::Flget(const Node& node, const std::string& url, const std::string& output,
                            const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {BinaryPath("flget"), "--socket", node.socket, "-v",
                                   "--no-progress",     url,        "-O",        output};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  auto result = RunCommand(argv, dir_.Path("flget-" + std::to_string(++flget_runs_) + ".log"));
  FlgetSummary summary;
  summary.exit_code = result.exit_code;
  summary.output = result.output;
  std::smatch m;
  static const std::regex kLine(R"(bytes from cache (\d+), from peers (\d+), from origin (\d+))");
  if (std::regex_search(result.output, m, kLine)) {
    summary.from_cache = std::stoull(m[1]);
    summary.from_peers = std::stoull(m[2]);
    summary.from_origin = std::stoull(m[3]);
  }
  return summary;
}

uint16_t Cluster::ReadyPort(const Node& node, const std::string& name) {
  std::smatch m;
  std::string log = node.process->Log();
  const std::regex ready("fld ready .* " + name + "=(\\d+)");
  return std::regex_search(log, m, ready) ? static_cast<uint16_t>(std::stoul(m[1])) : 0;
}

void Cluster::StopNode(Node& node, int signal) {
  if (node.process) {
    node.process->Stop(signal);
  }
}

::testing::AssertionResult Cluster::RestartNode(Node& node) {
  StopNode(node);
  return StartNode(node);
}

::testing::AssertionResult Cluster::StartScheduler(int i, const std::string& listen) {
  std::vector<std::string> argv{BinaryPath("flsched"), "--listen", listen, "--metrics-listen", ""};
  if (options_.plaintext) {
    argv.push_back("--plaintext");
  }
  argv.insert(argv.end(), options_.scheduler_args.begin(), options_.scheduler_args.end());
  schedulers_.at(i) = std::make_unique<ChildProcess>(
      argv,
      dir_.Path("flsched" + std::to_string(i) + "-" + std::to_string(++flget_runs_) + ".log"));
  auto line = schedulers_[i]->WaitForLine("listening on", std::chrono::seconds(15));
  if (!line) {
    return ::testing::AssertionFailure() << "flsched did not start:\n" << schedulers_[i]->Log();
  }
  scheduler_addresses_.at(i) = line->substr(line->rfind(' ') + 1);
  return ::testing::AssertionSuccess();
}

void Cluster::StopScheduler() {
  for (auto& scheduler : schedulers_) {
    if (scheduler) {
      scheduler->Stop();
    }
  }
}

void Cluster::StopScheduler(int i, int signal) {
  if (schedulers_.at(i)) {
    schedulers_[i]->Stop(signal);
  }
}

::testing::AssertionResult Cluster::RestartScheduler(int i) {
  StopScheduler(i, 15);
  return StartScheduler(i, scheduler_addresses_.at(i));
}

}  // namespace feilong::testing
