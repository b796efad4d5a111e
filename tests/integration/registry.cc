#include "integration/registry.h"

#include <iterator>
#include <regex>

namespace feilong::testing {

using std::chrono::seconds;

::testing::AssertionResult Registry::Start(const std::string& htpasswd) {
  return StartWithAuth(
      htpasswd.empty() ? "" : "auth: {htpasswd: {realm: feilong-test, path: " + htpasswd + "}}");
}

::testing::AssertionResult Registry::StartWithAuth(const std::string& auth_yaml) {
  port_ = test::FreeTcpPort();
  std::string config =
      "version: 0.1\n"
      "log: {level: info}\n"
      "storage: {filesystem: {rootdirectory: " +
      dir_.Path("data") +
      "}, delete: {enabled: true}}\n"
      "http: {addr: 127.0.0.1:" +
      std::to_string(port_) + "}\n";
  if (!auth_yaml.empty()) {
    config += auth_yaml + "\n";
  }
  if (!test::WriteFile(dir_.Path("config.yml"), config).ok()) {
    return ::testing::AssertionFailure() << "cannot write the registry config";
  }
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{Which("docker-registry"), "serve", dir_.Path("config.yml")},
      dir_.Path("registry.log"));
  if (!process_->WaitForLine("listening on", seconds(15))) {
    return ::testing::AssertionFailure() << "docker-registry did not start:\n" << process_->Log();
  }
  return ::testing::AssertionSuccess();
}

int Registry::BlobGets() const {
  static const std::regex kGet(
      "\"GET /v2/[^ ]*/blobs/sha256:[0-9a-f]{64}[^ ]* HTTP/[0-9.]+\" 20[06] ");
  std::string log = Log();
  return static_cast<int>(
      std::distance(std::sregex_iterator(log.begin(), log.end(), kGet), std::sregex_iterator()));
}

std::string Registry::BlobDataPath(const std::string& digest) const {
  std::string hex = digest.substr(digest.find(':') + 1);
  return data_dir() + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
}

}  // namespace feilong::testing
