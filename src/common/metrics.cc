#include "common/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <type_traits>
#include <variant>

namespace feilong::metrics {

namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::abort();
}

bool IsMetricName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved by Prometheus).
bool IsLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

// Go-style float text as Prometheus writes it: shortest round trip,
// "+Inf", "-Inf", "NaN".
std::string FormatDouble(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  return fmt::format("{}", v);
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void AppendEscapedHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

// `{a="x",b="y"}` (plus an `le` label for buckets), or "" with no labels.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string* le = nullptr) {
  if (names.empty() && le == nullptr) {
    return "";
  }
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += names[i];
    out += "=\"";
    AppendEscapedLabelValue(out, values[i]);
    out += '"';
  }
  if (le != nullptr) {
    if (!names.empty()) {
      out += ',';
    }
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

// ---- Histogram ----

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  if (!bounds_.empty() && std::isinf(bounds_.back()) && bounds_.back() > 0) {
    bounds_.pop_back();  // +Inf is implicit
  }
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (std::isnan(bounds_[i]) || (i > 0 && !(bounds_[i - 1] < bounds_[i]))) {
      Die("histogram bounds must be strictly ascending numbers");
    }
  }
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    counts_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::Observe(double v) {
  size_t bucket = bounds_.size();  // +Inf, also for NaN
  if (!std::isnan(v)) {
    bucket =
        static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  }
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  uint64_t old_bits = sum_bits_.load(std::memory_order_relaxed);
  while (!sum_bits_.compare_exchange_weak(
      old_bits, std::bit_cast<uint64_t>(std::bit_cast<double>(old_bits) + v),
      std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::bucket_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = counts_[i].load(std::memory_order_relaxed);
  }
  return out;
}

double Histogram::sum() const {
  return std::bit_cast<double>(sum_bits_.load(std::memory_order_relaxed));
}

uint64_t Histogram::count() const { return count_.load(std::memory_order_relaxed); }

// ---- Family ----

template <typename Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {
  if (!IsMetricName(name_)) {
    Die("invalid metric name '" + name_ + "'");
  }
  for (size_t i = 0; i < label_names_.size(); ++i) {
    const std::string& label = label_names_[i];
    if (!IsLabelName(label)) {
      Die("metric " + name_ + ": invalid label name '" + label + "'");
    }
    if (std::is_same_v<Metric, Histogram> && label == "le") {
      Die("metric " + name_ + ": label 'le' is reserved for histogram buckets");
    }
    if (std::find(label_names_.begin(), label_names_.begin() + static_cast<std::ptrdiff_t>(i),
                  label) != label_names_.begin() + static_cast<std::ptrdiff_t>(i)) {
      Die("metric " + name_ + ": duplicate label name '" + label + "'");
    }
  }
  if (label_names_.empty()) {
    WithLabels({});  // a family without labels shows its single child from the start
  }
}

template <typename Metric>
Metric& Family<Metric>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    Die("metric " + name_ + ": got " + std::to_string(values.size()) + " label values for " +
        std::to_string(label_names_.size()) + " label names");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    std::unique_ptr<Metric> child;
    if constexpr (std::is_same_v<Metric, Histogram>) {
      child = std::make_unique<Histogram>(bounds_);
    } else {
      child = std::make_unique<Metric>();
    }
    it = children_.emplace(values, std::move(child)).first;
  }
  return *it->second;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Registry ----

struct Registry::Entry {
  std::variant<std::unique_ptr<Family<Counter>>, std::unique_ptr<Family<Gauge>>,
               std::unique_ptr<Family<Histogram>>>
      family;
  const std::string& name() const {
    return std::visit([](const auto& f) -> const std::string& { return f->name_; }, family);
  }
};

Registry::Registry() = default;
Registry::~Registry() = default;

namespace {

// Aborts when `name` is already registered. (Entries is Registry's private
// entry list; a template so this helper need not name the private type.)
template <typename Entries>
void CheckUnique(const Entries& entries, const std::string& name) {
  for (const auto& e : entries) {
    if (e->name() == name) {
      Die("metric '" + name + "' registered twice");
    }
  }
}

}  // namespace

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mutex_);
  CheckUnique(entries_, name);
  auto* family = new Family<Counter>(name, help, std::move(label_names));
  entries_.push_back(std::make_unique<Entry>(Entry{std::unique_ptr<Family<Counter>>(family)}));
  return *family;
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mutex_);
  CheckUnique(entries_, name);
  auto* family = new Family<Gauge>(name, help, std::move(label_names));
  entries_.push_back(std::make_unique<Entry>(Entry{std::unique_ptr<Family<Gauge>>(family)}));
  return *family;
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<double> bounds,
                                          std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mutex_);
  CheckUnique(entries_, name);
  auto* family = new Family<Histogram>(name, help, std::move(label_names), std::move(bounds));
  entries_.push_back(std::make_unique<Entry>(Entry{std::unique_ptr<Family<Histogram>>(family)}));
  return *family;
}

std::string Registry::Render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& entry : entries_) {
    std::visit(
        [&out](const auto& family) {
          using F = std::decay_t<decltype(*family)>;
          const char* type = std::is_same_v<F, Family<Counter>> ? "counter"
                             : std::is_same_v<F, Family<Gauge>> ? "gauge"
                                                                : "histogram";
          out += "# HELP " + family->name_ + " ";
          AppendEscapedHelp(out, family->help_);
          out += "\n# TYPE " + family->name_ + " " + type + "\n";
          std::lock_guard<std::mutex> family_lock(family->mutex_);
          for (const auto& [values, child] : family->children_) {
            if constexpr (std::is_same_v<F, Family<Histogram>>) {
              std::vector<uint64_t> counts = child->bucket_counts();
              uint64_t cumulative = 0;
              for (size_t i = 0; i < counts.size(); ++i) {
                cumulative += counts[i];
                std::string le = i < child->bounds().size() ? FormatDouble(child->bounds()[i])
                                                            : std::string("+Inf");
                out += family->name_ + "_bucket" + LabelSet(family->label_names_, values, &le) +
                       " " + std::to_string(cumulative) + "\n";
              }
              std::string labels = LabelSet(family->label_names_, values);
              out += family->name_ + "_sum" + labels + " " + FormatDouble(child->sum()) + "\n";
              // The +Inf bucket total, so _count always equals it.
              out += family->name_ + "_count" + labels + " " + std::to_string(cumulative) + "\n";
            } else {
              out += family->name_ + LabelSet(family->label_names_, values) + " " +
                     std::to_string(child->value()) + "\n";
            }
          }
        },
        entry->family);
  }
  return out;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    Die("ExponentialBuckets needs start > 0, factor > 1, count >= 1");
  }
  std::vector<double> bounds;
  bounds.reserve(static_cast<size_t>(count));
  double v = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(v);
    v *= factor;
  }
  return bounds;
}

}  // namespace feilong::metrics
