// ConfigReader: typed reads from a YAML document where every error names the
// full dotted key path.
//
//   FL_ASSIGN_OR_RETURN(ConfigReader root, ConfigReader::FromFile(path));
//   ConfigReader daemon = root.Child("daemon");
//   uint32_t port = 65001;                          // the documented default
//   FL_RETURN_IF_ERROR(daemon.Read("piece_port", port));
//   FL_RETURN_IF_ERROR(root.CheckNoUnknownKeys());  // after all reads
//
// A Read of an absent key leaves `out` unchanged, so the caller's default
// stays. A key is one map key (no dots); nested maps are reached with Child.
// An empty or missing document, and a key whose value is null (`daemon:`
// with nothing after it), behave as empty maps for Child. A null value given
// to a scalar Read is an error.
//
// Errors are InvalidArgument and read like
//   config key 'daemon.piece_port': expected an unsigned integer, got 'abc'
// except a missing file (NotFound) and an unreadable one (IOError). No
// yaml-cpp exception leaves this class.
//
// Thread rule: a root reader and every Child of it share the record of
// consumed keys and must be used from one thread at a time. Readers are
// cheap to copy; copies share that record too.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace feilong {

class ConfigReader {
 public:
  // Parses a YAML file. NotFound / IOError naming the file; InvalidArgument
  // naming the file, line and column for a syntax error, or when the top
  // level is not a map, or when a map repeats a key.
  static Result<ConfigReader> FromFile(const std::string& path);
  // As FromFile, for YAML text; errors name "config" instead of a file.
  static Result<ConfigReader> FromString(std::string_view yaml);

  // The map under `key`, marked consumed. An absent or null key gives an
  // empty map. A key whose value is not a map gives a reader whose every
  // Read, and the root's CheckNoUnknownKeys, fail naming the key.
  ConfigReader Child(std::string_view key) const;

  // True when `key` is present in this map (does not consume it).
  bool Has(std::string_view key) const;
  // The keys of this map in document order (does not consume them).
  std::vector<std::string> Keys() const;
  // Dotted path of this map ("" for the root).
  const std::string& path() const { return path_; }

  // Reads a scalar. Absent key: OK, `out` unchanged. Wrong type or out of
  // range: InvalidArgument naming the key and the value.
  //   bool: true/false (also True, TRUE, False, FALSE).
  //   integers: decimal digits, optional '-' for int64_t only.
  //   double: decimal or exponent notation; not inf or nan.
  //   vector<string>: a list of scalars (an empty list or null gives {}).
  //   milliseconds: an integer or decimal with a unit: "250ms", "1.5s", "2m",
  //     "1h". A bare number is an error: the unit is required.
  Status Read(std::string_view key, std::string& out) const;
  Status Read(std::string_view key, bool& out) const;
  Status Read(std::string_view key, int64_t& out) const;
  Status Read(std::string_view key, uint32_t& out) const;
  Status Read(std::string_view key, uint64_t& out) const;
  Status Read(std::string_view key, double& out) const;
  Status Read(std::string_view key, std::vector<std::string>& out) const;
  Status Read(std::string_view key, std::chrono::milliseconds& out) const;

  // A size in bytes: a bare integer (bytes) or a number with a unit:
  // B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of
  // 1000), e.g. "4KiB", "1.5GiB", "10MB" (a space before the unit is
  // allowed; units are case-sensitive). Rounded to whole bytes.
  Status ReadBytes(std::string_view key, uint64_t& out) const;
  // A bandwidth, stored in bytes per second: bits per second with
  // bit/kbit/Mbit/Gbit/Tbit (powers of 1000; "bps", "kbps", "Mbps", "Gbps"
  // also accepted), or bytes per second with B/s, KB/s, MB/s, GB/s, KiB/s,
  // MiB/s, GiB/s. E.g. "100Mbit" (12500000), "20MB/s". A bare number is an
  // error: the unit is required.
  Status ReadBitRate(std::string_view key, uint64_t& bytes_per_second) const;

  // InvalidArgument "unknown config key 'daemon.piece_prot'" naming the first
  // key (in document order, depth first) under this map that no Read or
  // Child consumed; or the first error recorded by Child. Keys consumed
  // through a Read (e.g. a list) are not descended into.
  Status CheckNoUnknownKeys() const;

 private:
  struct Shared;  // the document, consumed keys, first Child error
  struct Node;    // this reader's YAML node

  ConfigReader(std::shared_ptr<Shared> shared, std::shared_ptr<const Node> node, std::string path,
               Status error);

  // If `key` is present: marks it consumed and, when its value is a scalar,
  // returns parse(full dotted key, scalar text); otherwise an error saying
  // `what` was expected.
  Status ReadScalar(
      std::string_view key, std::string_view what,
      const std::function<Status(const std::string&, const std::string&)>& parse) const;

  std::shared_ptr<Shared> shared_;
  std::shared_ptr<const Node> node_;
  std::string path_;
  Status error_;  // set when this reader's key is not a map
};

}  // namespace feilong
