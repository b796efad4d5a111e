// Fuzzes ConfigReader (common/config.h), the YAML layer under every config
// file: the input is the YAML text; every key of the top-level map is read
// as each scalar type, and every key of each nested map likewise.
//
// Invariants checked besides "no crash, no sanitizer report" (an exception
// escaping ConfigReader is a crash too):
//   - errors are InvalidArgument (FromString, every Read);
//   - a duration read is >= 0 and "<n>ms" reads back as the same duration;
//     a size read as "<n>" reads back as the same size;
//   - after every top-level key was read, CheckNoUnknownKeys is OK (when
//     every key is a scalar that Has() finds).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "fuzz/fuzz_check.h"

using feilong::ConfigReader;
using feilong::Result;
using feilong::Status;

namespace {

void CheckError(const Status& status) {
  FUZZ_CHECK(status.ok() || status.IsInvalidArgument(), status.ToString());
}

// One YAML document "k: <value>" read back with `read`.
template <typename T, typename ReadFn>
void CheckRoundTrip(const std::string& value, const T& expected, ReadFn read) {
  Result<ConfigReader> doc = ConfigReader::FromString("k: " + value + "\n");
  FUZZ_CHECK(doc.ok(), doc.status().ToString());
  T out{};
  Status status = read(*doc, out);
  FUZZ_CHECK(status.ok() && out == expected,
             "round trip of '" << value << "': " << status.ToString());
}

void ReadAll(const ConfigReader& reader, const std::string& key) {
  std::string s;
  CheckError(reader.Read(key, s));
  bool b = false;
  CheckError(reader.Read(key, b));
  int64_t i64 = 0;
  CheckError(reader.Read(key, i64));
  uint32_t u32 = 0;
  CheckError(reader.Read(key, u32));
  uint64_t u64 = 0;
  CheckError(reader.Read(key, u64));
  double d = 0;
  CheckError(reader.Read(key, d));
  std::vector<std::string> list;
  CheckError(reader.Read(key, list));

  std::chrono::milliseconds ms{-1};
  Status st = reader.Read(key, ms);
  CheckError(st);
  if (st.ok() && ms.count() != -1) {
    FUZZ_CHECK(ms.count() >= 0, "negative duration " << ms.count() << " for key " << key);
    CheckRoundTrip(
        std::to_string(ms.count()) + "ms", ms,
        [](const ConfigReader& r, std::chrono::milliseconds& out) { return r.Read("k", out); });
  }
  uint64_t bytes = 0;
  st = reader.ReadBytes(key, bytes);
  CheckError(st);
  if (st.ok()) {
    CheckRoundTrip(std::to_string(bytes), bytes,
                   [](const ConfigReader& r, uint64_t& out) { return r.ReadBytes("k", out); });
  }
  uint64_t rate = 0;
  CheckError(reader.ReadBitRate(key, rate));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  Result<ConfigReader> root = ConfigReader::FromString(yaml);
  if (!root.ok()) {
    CheckError(root.status());
    return 0;
  }
  std::vector<std::string> keys = root->Keys();
  bool all_readable = true;  // a non-scalar key ("? [a]: v") cannot be read by name
  for (const std::string& key : keys) {
    all_readable = all_readable && root->Has(key);
    ReadAll(*root, key);
  }
  Status unknown = root->CheckNoUnknownKeys();
  CheckError(unknown);
  FUZZ_CHECK(unknown.ok() || !all_readable, "after reading every key: " << unknown.ToString());

  // Nested maps, through Child, in a fresh reader.
  Result<ConfigReader> again = ConfigReader::FromString(yaml);
  FUZZ_CHECK(again.ok(), again.status().ToString());
  for (const std::string& key : keys) {
    ConfigReader child = again->Child(key);
    for (const std::string& inner : child.Keys()) {
      ReadAll(child, inner);
    }
  }
  CheckError(again->CheckNoUnknownKeys());
  return 0;
}
