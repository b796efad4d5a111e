// A docker-registry (CNCF distribution) process on loopback with filesystem
// storage in its own temporary directory, for tests that push and pull.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "integration/process.h"
#include "support/temp_dir.h"

namespace feilong::testing {

class Registry {
 public:
  // `htpasswd`: path of an htpasswd file for basic auth, or "".
  ::testing::AssertionResult Start(const std::string& htpasswd = "");
  // With an `auth:` section of the registry's config (YAML, one line).
  ::testing::AssertionResult StartWithAuth(const std::string& auth_yaml);

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host(); }
  std::string data_dir() const { return dir_.Path("data"); }
  std::string Log() const { return process_ ? process_->Log() : ""; }

  // Blob GETs the registry answered with bytes (200 or 206), from its access log.
  int BlobGets() const;

  // Path of a blob's data file in the registry's storage.
  std::string BlobDataPath(const std::string& digest) const;

 private:
  test::TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace feilong::testing
