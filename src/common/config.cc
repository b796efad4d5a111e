#include "common/config.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

namespace feilong {

struct ConfigReader::Shared {
  std::set<std::string, std::less<>> read_keys;   // full paths consumed by Read
  std::set<std::string, std::less<>> child_keys;  // full paths consumed by Child
  Status first_child_error;
};

struct ConfigReader::Node {
  YAML::Node yaml;  // a map, or null for an empty map
};

namespace {

std::string JoinPath(std::string_view path, std::string_view key) {
  if (path.empty()) {
    return std::string(key);
  }
  std::string out;
  out.reserve(path.size() + 1 + key.size());
  out.append(path).append(".").append(key);
  return out;
}

std::string KeyText(const YAML::Node& key) {
  if (key.IsScalar()) {
    return key.Scalar();
  }
  return "<non-scalar key>";
}

// A value quoted for an error message, shortened if long.
std::string Quote(std::string_view text) {
  if (text.size() > 80) {
    return "'" + std::string(text.substr(0, 77)) + "...'";
  }
  return "'" + std::string(text) + "'";
}

// How a value is shown in an error: the scalar quoted, or its kind.
std::string Describe(const YAML::Node& value) {
  if (value.IsScalar()) {
    return Quote(value.Scalar());
  }
  if (value.IsMap()) {
    return "a map";
  }
  if (value.IsSequence()) {
    return "a list";
  }
  return "null";
}

Status Expected(std::string_view path, std::string_view what, const YAML::Node& got) {
  return Status::InvalidArgument("config key '" + std::string(path) + "': expected " +
                                 std::string(what) + ", got " + Describe(got));
}

Status OutOfRange(std::string_view path, std::string_view text, std::string_view what) {
  return Status::InvalidArgument("config key '" + std::string(path) + "': value '" +
                                 std::string(text) + "' is out of range for " + std::string(what));
}

std::optional<YAML::Node> FindKey(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) {
    return std::nullopt;
  }
  for (YAML::const_iterator it = map.begin(); it != map.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      return it->second;
    }
  }
  return std::nullopt;
}

// Config files nest a few levels; anything deeper is a mistake or an attack.
// The limits keep the walk below off a deep stack and out of alias cycles
// ("&a [*a]" refers to itself) and alias bombs (each level doubling).
constexpr int kMaxConfigDepth = 64;
constexpr size_t kMaxConfigValues = 100000;

// Walks the document depth first: InvalidArgument for the first map that
// repeats a key, or for a document beyond the limits above.
class DuplicateKeyCheck {
 public:
  Status Check(const YAML::Node& node, const std::string& path, int depth) {
    if (depth > kMaxConfigDepth) {
      return Status::InvalidArgument(Quote(path) + " is nested more than " +
                                     std::to_string(kMaxConfigDepth) + " levels deep");
    }
    if (++values_ > kMaxConfigValues) {
      return Status::InvalidArgument("more than " + std::to_string(kMaxConfigValues) +
                                     " values (counting each use of an alias)");
    }
    if (node.IsMap()) {
      std::set<std::string, std::less<>> seen;
      for (YAML::const_iterator it = node.begin(); it != node.end(); ++it) {
        std::string key = KeyText(it->first);
        std::string full = JoinPath(path, key);
        if (!seen.insert(key).second) {
          YAML::Mark mark = it->first.Mark();
          return Status::InvalidArgument("line " + std::to_string(mark.line + 1) +
                                         ": duplicate key '" + full + "'");
        }
        FL_RETURN_IF_ERROR(Check(it->second, full, depth + 1));
      }
    } else if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) {
        FL_RETURN_IF_ERROR(Check(node[i], path + "[" + std::to_string(i) + "]", depth + 1));
      }
    }
    return Status::Ok();
  }

 private:
  size_t values_ = 0;
};

// A number with an optional unit: digits, optionally '.' digits, an optional
// single space, then the unit (possibly empty).
struct Quantity {
  std::string_view integer;
  std::string_view fraction;  // digits after '.', may be empty
  std::string_view unit;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::optional<Quantity> SplitQuantity(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && IsDigit(text[i])) {
    ++i;
  }
  if (i == 0) {
    return std::nullopt;
  }
  Quantity q;
  q.integer = text.substr(0, i);
  if (i < text.size() && text[i] == '.') {
    size_t start = ++i;
    while (i < text.size() && IsDigit(text[i])) {
      ++i;
    }
    if (i == start) {
      return std::nullopt;
    }
    q.fraction = text.substr(start, i - start);
  }
  if (i < text.size() && text[i] == ' ') {
    ++i;
    if (i == text.size()) {
      return std::nullopt;
    }
  }
  q.unit = text.substr(i);
  return q;
}

// (integer.fraction * multiplier / divisor) rounded to the nearest integer;
// nullopt when it does not fit in `max`.
std::optional<uint64_t> Scale(const Quantity& q, uint64_t multiplier, uint64_t divisor,
                              uint64_t max) {
  uint64_t whole = 0;
  auto [ptr, ec] = std::from_chars(q.integer.data(), q.integer.data() + q.integer.size(), whole);
  if (ec != std::errc() || ptr != q.integer.data() + q.integer.size()) {
    return std::nullopt;
  }
  long double value = static_cast<long double>(whole) * static_cast<long double>(multiplier);
  if (!q.fraction.empty()) {
    long double frac = 0;
    long double scale = 1;
    for (char c : q.fraction.substr(0, 18)) {
      scale /= 10;
      frac += static_cast<long double>(c - '0') * scale;
    }
    value += frac * static_cast<long double>(multiplier);
  }
  value /= static_cast<long double>(divisor);
  long double rounded = std::floor(value + 0.5L);
  if (rounded > static_cast<long double>(max)) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(rounded);
}

struct Unit {
  std::string_view name;
  uint64_t multiplier;
};

constexpr uint64_t kKi = 1024;
constexpr Unit kDurationUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
constexpr Unit kByteUnits[] = {{"B", 1},
                               {"KiB", kKi},
                               {"MiB", kKi* kKi},
                               {"GiB", kKi* kKi* kKi},
                               {"TiB", kKi* kKi* kKi* kKi},
                               {"KB", 1'000},
                               {"MB", 1'000'000},
                               {"GB", 1'000'000'000},
                               {"TB", 1'000'000'000'000}};
// Multipliers in bits per second.
constexpr Unit kBitRateUnits[] = {
    {"bit", 1},
    {"kbit", 1'000},
    {"Mbit", 1'000'000},
    {"Gbit", 1'000'000'000},
    {"Tbit", 1'000'000'000'000},
    {"bps", 1},
    {"kbps", 1'000},
    {"Mbps", 1'000'000},
    {"Gbps", 1'000'000'000},
    {"Tbps", 1'000'000'000'000},
    {"B/s", 8},
    {"KB/s", 8 * 1'000ull},
    {"MB/s", 8 * 1'000'000ull},
    {"GB/s", 8 * 1'000'000'000ull},
    {"TB/s", 8 * 1'000'000'000'000ull},
    {"KiB/s", 8 * kKi},
    {"MiB/s", 8 * kKi* kKi},
    {"GiB/s", 8 * kKi* kKi* kKi},
    {"TiB/s", 8 * kKi* kKi* kKi* kKi},
};

template <size_t N>
std::optional<uint64_t> FindUnit(const Unit (&units)[N], std::string_view name) {
  for (const Unit& u : units) {
    if (u.name == name) {
      return u.multiplier;
    }
  }
  return std::nullopt;
}

// Records where each document of a stream starts; ignores the rest.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;

  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Checks that `yaml` holds at most one document. Not YAML::LoadAll: on a
// token no rule consumes (a stray ',' at the top level) yaml-cpp 0.7's
// parser reports an empty document without moving on, and LoadAll loops
// forever, allocating a node per turn (yaml-cpp issue #1040). Here a
// document that starts where the previous one did is that stuck token.
Status CheckSingleDocument(const std::string& yaml, const std::string& origin) {
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  DocumentStarts events;
  while (parser.HandleNextDocument(events)) {
    size_t n = events.starts.size();
    if (n >= 2 && events.starts[n - 1].pos == events.starts[n - 2].pos) {
      const YAML::Mark& at = events.starts[n - 1];
      return Status::InvalidArgument(origin + ": line " + std::to_string(at.line + 1) +
                                     ", column " + std::to_string(at.column + 1) +
                                     ": unexpected token");
    }
  }
  if (events.starts.size() > 1) {
    return Status::InvalidArgument(origin + ": has " + std::to_string(events.starts.size()) +
                                   " YAML documents; expected one");
  }
  return Status::Ok();
}

// The outcome of parsing a YAML file or string.
Result<YAML::Node> Parse(const std::string& yaml, const std::string& origin) {
  try {
    FL_RETURN_IF_ERROR(CheckSingleDocument(yaml, origin));
    YAML::Node root = YAML::Load(yaml);
    if (!root.IsDefined() || root.IsNull()) {
      return YAML::Node(YAML::NodeType::Map);
    }
    if (!root.IsMap()) {
      return Status::InvalidArgument(origin + ": the top level must be a map of keys, got " +
                                     Describe(root));
    }
    Status dup = DuplicateKeyCheck().Check(root, "", 0);
    if (!dup.ok()) {
      return dup.WithContext(origin);
    }
    return root;
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own guard, far beyond kMaxConfigDepth; its message is "bad file".
    return Status::InvalidArgument(origin + ": line " + std::to_string(e.mark.line + 1) +
                                   ", column " + std::to_string(e.mark.column + 1) +
                                   ": nested more than " + std::to_string(kMaxConfigDepth) +
                                   " levels deep");
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return Status::InvalidArgument(origin + ": " + e.msg);
    }
    return Status::InvalidArgument(origin + ": line " + std::to_string(e.mark.line + 1) +
                                   ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return Status::Internal(origin + ": " + e.what());
  }
}

}  // namespace

ConfigReader::ConfigReader(std::shared_ptr<Shared> shared, std::shared_ptr<const Node> node,
                           std::string path, Status error)
    : shared_(std::move(shared)),
      node_(std::move(node)),
      path_(std::move(path)),
      error_(std::move(error)) {}

Result<ConfigReader> ConfigReader::FromString(std::string_view yaml) {
  auto root = Parse(std::string(yaml), "config");
  if (!root.ok()) {
    return root.status();
  }
  return ConfigReader(std::make_shared<Shared>(),
                      std::make_shared<const Node>(Node{std::move(root).value()}), "",
                      Status::Ok());
}

Result<ConfigReader> ConfigReader::FromFile(const std::string& path) {
  std::string origin = "config file '" + path + "'";
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (f == nullptr) {
    return Status::FromErrno(errno, origin);
  }
  std::string text;
  char buf[65536];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    text.append(buf, n);
  }
  int err = std::ferror(f) != 0 ? errno : 0;
  std::fclose(f);
  if (err != 0) {
    return Status::FromErrno(err, origin);
  }
  auto root = Parse(text, origin);
  if (!root.ok()) {
    return root.status();
  }
  return ConfigReader(std::make_shared<Shared>(),
                      std::make_shared<const Node>(Node{std::move(root).value()}), "",
                      Status::Ok());
}

ConfigReader ConfigReader::Child(std::string_view key) const {
  // Not a shared static: readers of different documents may live on different threads.
  auto empty = std::make_shared<const Node>(Node{YAML::Node(YAML::NodeType::Map)});
  std::string child_path = JoinPath(path_, key);
  if (!error_.ok()) {
    return ConfigReader(shared_, empty, child_path, error_);
  }
  std::optional<YAML::Node> value;
  try {
    value = FindKey(node_->yaml, key);
  } catch (const YAML::Exception&) {
    value.reset();
  }
  if (!value) {
    return ConfigReader(shared_, empty, child_path, Status::Ok());
  }
  shared_->child_keys.insert(child_path);
  if (value->IsMap()) {
    return ConfigReader(shared_, std::make_shared<const Node>(Node{*value}), child_path,
                        Status::Ok());
  }
  if (value->IsNull()) {
    return ConfigReader(shared_, empty, child_path, Status::Ok());
  }
  Status error = Expected(child_path, "a map", *value);
  if (shared_->first_child_error.ok()) {
    shared_->first_child_error = error;
  }
  return ConfigReader(shared_, empty, child_path, error);
}

bool ConfigReader::Has(std::string_view key) const {
  try {
    return FindKey(node_->yaml, key).has_value();
  } catch (const YAML::Exception&) {
    return false;
  }
}

std::vector<std::string> ConfigReader::Keys() const {
  std::vector<std::string> keys;
  try {
    if (node_->yaml.IsMap()) {
      for (YAML::const_iterator it = node_->yaml.begin(); it != node_->yaml.end(); ++it) {
        keys.push_back(KeyText(it->first));
      }
    }
  } catch (const YAML::Exception&) {
  }
  return keys;
}

namespace {

// "config key 'a.b': expected <what>, got '<text>'" for a scalar value.
Status ExpectedText(std::string_view path, std::string_view what, std::string_view text) {
  return Status::InvalidArgument("config key '" + std::string(path) + "': expected " +
                                 std::string(what) + ", got " + Quote(text));
}

template <typename T>
bool ParseNumber(std::string_view text, T& out) {
  if (text.empty()) {
    return false;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

template <typename T>
bool IsOutOfRange(std::string_view text) {
  T ignored{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), ignored);
  return ec == std::errc::result_out_of_range && ptr == text.data() + text.size();
}

// Reads an integer of type T; `what` names the type in errors.
template <typename T>
Status ParseIntegerValue(const std::string& full, const std::string& text, std::string_view what,
                         std::string_view range_name, T& out) {
  T v{};
  if (!ParseNumber(text, v)) {
    if (IsOutOfRange<T>(text)) {
      return OutOfRange(full, text, range_name);
    }
    return ExpectedText(full, what, text);
  }
  out = v;
  return Status::Ok();
}

constexpr std::string_view kDurationWhat = "a duration such as '250ms', '5s', '2m' or '1h'";
constexpr std::string_view kBytesWhat =
    "a size such as 123, '4KiB', '4MiB', '1GiB', '10MB' or '1GB'";
constexpr std::string_view kBitRateWhat =
    "a bit rate such as '100Mbit', '1Gbit', '500kbit' or '20MB/s'";

}  // namespace

Status ConfigReader::ReadScalar(
    std::string_view key, std::string_view what,
    const std::function<Status(const std::string&, const std::string&)>& parse) const {
  if (!error_.ok()) {
    return error_;
  }
  std::string full = JoinPath(path_, key);
  try {
    std::optional<YAML::Node> value = FindKey(node_->yaml, key);
    if (!value) {
      return Status::Ok();
    }
    shared_->read_keys.insert(full);
    if (!value->IsScalar()) {
      return Expected(full, what, *value);
    }
    return parse(full, value->Scalar());
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("config key '" + full + "': " + e.msg);
  }
}

Status ConfigReader::Read(std::string_view key, std::string& out) const {
  return ReadScalar(key, "a string", [&](const std::string&, const std::string& text) {
    out = text;
    return Status::Ok();
  });
}

Status ConfigReader::Read(std::string_view key, bool& out) const {
  return ReadScalar(key, "true or false", [&](const std::string& full, const std::string& text) {
    if (text == "true" || text == "True" || text == "TRUE") {
      out = true;
    } else if (text == "false" || text == "False" || text == "FALSE") {
      out = false;
    } else {
      return ExpectedText(full, "true or false", text);
    }
    return Status::Ok();
  });
}

Status ConfigReader::Read(std::string_view key, int64_t& out) const {
  return ReadScalar(key, "an integer", [&](const std::string& full, const std::string& text) {
    return ParseIntegerValue(full, text, "an integer", "a 64-bit integer", out);
  });
}

Status ConfigReader::Read(std::string_view key, uint32_t& out) const {
  return ReadScalar(key, "an unsigned integer",
                    [&](const std::string& full, const std::string& text) {
                      return ParseIntegerValue(full, text, "an unsigned integer",
                                               "a 32-bit unsigned integer", out);
                    });
}

Status ConfigReader::Read(std::string_view key, uint64_t& out) const {
  return ReadScalar(key, "an unsigned integer",
                    [&](const std::string& full, const std::string& text) {
                      return ParseIntegerValue(full, text, "an unsigned integer",
                                               "a 64-bit unsigned integer", out);
                    });
}

Status ConfigReader::Read(std::string_view key, double& out) const {
  return ReadScalar(key, "a number", [&](const std::string& full, const std::string& text) {
    double v = 0;
    if (!ParseNumber(text, v) || !std::isfinite(v)) {
      return ExpectedText(full, "a number", text);
    }
    out = v;
    return Status::Ok();
  });
}

Status ConfigReader::Read(std::string_view key, std::chrono::milliseconds& out) const {
  return ReadScalar(key, kDurationWhat, [&](const std::string& full, const std::string& text) {
    std::optional<Quantity> q = SplitQuantity(text);
    if (q && q->unit.empty()) {
      return Status::InvalidArgument("config key '" + full +
                                     "': a duration needs a unit (ms, s, m, h), got '" + text +
                                     "'; write e.g. '" + text + "s' or '" + text + "ms'");
    }
    std::optional<uint64_t> multiplier = q ? FindUnit(kDurationUnits, q->unit) : std::nullopt;
    if (!multiplier) {
      return ExpectedText(full, kDurationWhat, text);
    }
    std::optional<uint64_t> ms = Scale(*q, *multiplier, 1, std::numeric_limits<int64_t>::max());
    if (!ms) {
      return OutOfRange(full, text, "a duration in milliseconds");
    }
    out = std::chrono::milliseconds(static_cast<int64_t>(*ms));
    return Status::Ok();
  });
}

Status ConfigReader::ReadBytes(std::string_view key, uint64_t& out) const {
  return ReadScalar(key, kBytesWhat, [&](const std::string& full, const std::string& text) {
    std::optional<Quantity> q = SplitQuantity(text);
    std::optional<uint64_t> multiplier;
    if (q && q->unit.empty() && q->fraction.empty()) {
      multiplier = 1;  // bare bytes
    } else if (q) {
      multiplier = FindUnit(kByteUnits, q->unit);
    }
    if (!multiplier) {
      return ExpectedText(full, kBytesWhat, text);
    }
    std::optional<uint64_t> bytes = Scale(*q, *multiplier, 1, std::numeric_limits<uint64_t>::max());
    if (!bytes) {
      return OutOfRange(full, text, "a size in bytes");
    }
    out = *bytes;
    return Status::Ok();
  });
}

Status ConfigReader::ReadBitRate(std::string_view key, uint64_t& bytes_per_second) const {
  return ReadScalar(key, kBitRateWhat, [&](const std::string& full, const std::string& text) {
    std::optional<Quantity> q = SplitQuantity(text);
    if (q && q->unit.empty()) {
      return Status::InvalidArgument("config key '" + full + "': a bit rate needs a unit, got '" +
                                     text + "'; write e.g. '" + text + "Mbit' or '" + text +
                                     "MB/s'");
    }
    std::optional<uint64_t> bits = q ? FindUnit(kBitRateUnits, q->unit) : std::nullopt;
    if (!bits) {
      return ExpectedText(full, kBitRateWhat, text);
    }
    std::optional<uint64_t> rate = Scale(*q, *bits, 8, std::numeric_limits<uint64_t>::max());
    if (!rate) {
      return OutOfRange(full, text, "a bit rate");
    }
    if (*rate == 0 && text.find_first_of("123456789") != std::string::npos) {
      // A tiny non-zero rate must not round to 0, which callers read as "unlimited".
      return Status::InvalidArgument("config key '" + full + "': '" + text +
                                     "' is less than 1 byte per second");
    }
    bytes_per_second = *rate;
    return Status::Ok();
  });
}

Status ConfigReader::Read(std::string_view key, std::vector<std::string>& out) const {
  if (!error_.ok()) {
    return error_;
  }
  std::string full = JoinPath(path_, key);
  try {
    std::optional<YAML::Node> value = FindKey(node_->yaml, key);
    if (!value) {
      return Status::Ok();
    }
    shared_->read_keys.insert(full);
    if (value->IsNull()) {
      out.clear();
      return Status::Ok();
    }
    if (!value->IsSequence()) {
      return Expected(full, "a list of strings", *value);
    }
    std::vector<std::string> items;
    items.reserve(value->size());
    for (size_t i = 0; i < value->size(); ++i) {
      const YAML::Node item = (*value)[i];
      if (!item.IsScalar()) {
        return Expected(full + "[" + std::to_string(i) + "]", "a string", item);
      }
      items.push_back(item.Scalar());
    }
    out = std::move(items);
    return Status::Ok();
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("config key '" + full + "': " + e.msg);
  }
}

namespace {

Status FindUnknown(const YAML::Node& map, const std::string& path,
                   const std::set<std::string, std::less<>>& read_keys,
                   const std::set<std::string, std::less<>>& child_keys) {
  if (!map.IsMap()) {
    return Status::Ok();
  }
  for (YAML::const_iterator it = map.begin(); it != map.end(); ++it) {
    std::string full = JoinPath(path, KeyText(it->first));
    if (read_keys.contains(full)) {
      continue;
    }
    if (child_keys.contains(full)) {
      FL_RETURN_IF_ERROR(FindUnknown(it->second, full, read_keys, child_keys));
      continue;
    }
    return Status::InvalidArgument("unknown config key '" + full + "'");
  }
  return Status::Ok();
}

}  // namespace

Status ConfigReader::CheckNoUnknownKeys() const {
  if (!error_.ok()) {
    return error_;
  }
  if (!shared_->first_child_error.ok()) {
    return shared_->first_child_error;
  }
  try {
    return FindUnknown(node_->yaml, path_, shared_->read_keys, shared_->child_keys);
  } catch (const YAML::Exception& e) {
    return Status::Internal("config: " + e.msg);
  }
}

}  // namespace feilong
