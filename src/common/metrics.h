// Metrics in the Prometheus text exposition format (version 0.0.4).
//
// A Registry owns metric families; each family has a name, a help text and
// label names, and hands out children for label values. Children are created
// once and then updated lock-free; keep the returned reference and update it
// on the hot path.
//
//   auto& pieces = registry.AddCounter("feilong_daemon_pieces_total",
//                                      "Pieces stored, by source.", {"source"});
//   pieces.WithLabels({"peer"}).Increment();
//   std::string text = registry.Render();
//
// Thread rule: every method of every class here is thread-safe. References
// returned by a Registry stay valid for the Registry's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace feilong::metrics {

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Cumulative buckets with upper bounds `bounds` (sorted ascending; +Inf is
// implicit), a sum and a count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  std::vector<uint64_t> bucket_counts() const;  // per bound, then +Inf; not cumulative
  double sum() const;
  uint64_t count() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_bits_{0};  // a double, updated by CAS
};

// A metric name with label names; children per label-value tuple.
template <typename Metric>
class Family {
 public:
  // REQUIRES: values.size() == number of label names (else aborts: a bug).
  Metric& WithLabels(const std::vector<std::string>& values);
  // The child with no labels. REQUIRES: the family has no label names.
  Metric& Get() { return WithLabels({}); }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

class Registry {
 public:
  // Out of line because Entry is complete only in metrics.cc.
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and be unique in the registry
  // (violations abort: they are programming errors).
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds,
                                  std::vector<std::string> label_names = {});

  // All families in the text exposition format, with # HELP and # TYPE lines,
  // label values escaped (backslash, double quote, newline).
  std::string Render() const;

 private:
  struct Entry;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Exponential bucket bounds: start, start*factor, ... (count bounds).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

}  // namespace feilong::metrics
