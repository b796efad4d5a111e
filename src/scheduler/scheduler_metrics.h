// SchedulerMetrics: the scheduler's Prometheus metrics, registered once.
//
//   feilong_scheduler_registrations_total             peers registered
//   feilong_scheduler_decisions_total{kind}           normal, back_to_source, empty
//   feilong_scheduler_back_to_source_total{reason}    seed, no_parent, cap_reached
//   feilong_scheduler_seed_triggers_total{result}     ok, failed
//   feilong_scheduler_piece_reports_total{result}     finished, failed
//   feilong_scheduler_digest_conflicts_total          conflicting origin digests
//   feilong_scheduler_untrusted_reports_total         lengths and digests from peers not sent to
//   the origin feilong_scheduler_quarantined_tasks_total         tasks quarantined over disagreeing
//   reports feilong_scheduler_peers / _tasks / _hosts         current counts (gauges)
//
// Thread rule: the references are to thread-safe metrics; update them from
// any thread. The Registry must outlive this object.
#pragma once

#include "common/metrics.h"
#include "feilong/common/v1/common.pb.h"
#include "feilong/scheduler/v1/scheduler.pb.h"

namespace feilong::scheduler {

struct SchedulerMetrics {
  explicit SchedulerMetrics(metrics::Registry& registry);

  // Counts one decision sent to a peer.
  void CountDecision(const v1::ScheduleDecision& decision);

  // Families first: the counters below are their children.
  metrics::Family<metrics::Counter>& decisions;       // by kind
  metrics::Family<metrics::Counter>& back_to_source;  // by reason
  metrics::Family<metrics::Counter>& seed_triggers;   // by result
  metrics::Family<metrics::Counter>& piece_reports;   // by result

  metrics::Counter& registrations;
  metrics::Counter& decisions_normal;
  metrics::Counter& decisions_back_to_source;
  metrics::Counter& decisions_empty;
  metrics::Counter& seed_triggers_ok;
  metrics::Counter& seed_triggers_failed;
  metrics::Counter& pieces_finished;
  metrics::Counter& pieces_failed;
  metrics::Counter& digest_conflicts;
  metrics::Counter& untrusted_reports;
  metrics::Counter& quarantined_tasks;
  metrics::Gauge& peers;
  metrics::Gauge& tasks;
  metrics::Gauge& hosts;
};

}  // namespace feilong::scheduler
