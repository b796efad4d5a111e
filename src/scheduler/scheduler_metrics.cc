#include "scheduler/scheduler_metrics.h"

#include <string>

namespace feilong::scheduler {
namespace {

std::string ReasonLabel(common::v1::BackToSourceReason reason) {
  switch (reason) {
    case common::v1::BACK_TO_SOURCE_REASON_SEED:
      return "seed";
    case common::v1::BACK_TO_SOURCE_REASON_NO_PARENT:
      return "no_parent";
    case common::v1::BACK_TO_SOURCE_REASON_CAP_REACHED:
      return "cap_reached";
    default:
      return "other";
  }
}

}  // namespace

SchedulerMetrics::SchedulerMetrics(metrics::Registry& registry)
    : decisions(registry.AddCounter("feilong_scheduler_decisions_total",
                                    "Schedule decisions sent to peers, by kind.", {"kind"})),
      back_to_source(registry.AddCounter("feilong_scheduler_back_to_source_total",
                                         "Peers told to go back to source, by reason.",
                                         {"reason"})),
      seed_triggers(registry.AddCounter("feilong_scheduler_seed_triggers_total",
                                        "TriggerDownload calls to seed peers, by result.",
                                        {"result"})),
      piece_reports(registry.AddCounter("feilong_scheduler_piece_reports_total",
                                        "Piece reports from peers, by result.", {"result"})),
      registrations(registry
                        .AddCounter("feilong_scheduler_registrations_total",
                                    "Peers registered on AnnouncePeer streams.")
                        .Get()),
      decisions_normal(decisions.WithLabels({"normal"})),
      decisions_back_to_source(decisions.WithLabels({"back_to_source"})),
      decisions_empty(decisions.WithLabels({"empty"})),
      seed_triggers_ok(seed_triggers.WithLabels({"ok"})),
      seed_triggers_failed(seed_triggers.WithLabels({"failed"})),
      pieces_finished(piece_reports.WithLabels({"finished"})),
      pieces_failed(piece_reports.WithLabels({"failed"})),
      digest_conflicts(registry
                           .AddCounter("feilong_scheduler_digest_conflicts_total",
                                       "Origin piece digests that differ from the recorded one.")
                           .Get()),
      untrusted_reports(registry
                            .AddCounter("feilong_scheduler_untrusted_reports_total",
                                        "Content lengths and piece digests ignored because the "
                                        "reporting peer was not sent to the origin.")
                            .Get()),
      quarantined_tasks(registry
                            .AddCounter("feilong_scheduler_quarantined_tasks_total",
                                        "Tasks quarantined because trusted reports disagreed.")
                            .Get()),
      peers(registry.AddGauge("feilong_scheduler_peers", "Peers with an open stream.").Get()),
      tasks(registry.AddGauge("feilong_scheduler_tasks", "Tasks known.").Get()),
      hosts(registry.AddGauge("feilong_scheduler_hosts", "Hosts known.").Get()) {
  for (const char* reason : {"seed", "no_parent", "cap_reached"}) {
    back_to_source.WithLabels({reason});
  }
}

void SchedulerMetrics::CountDecision(const v1::ScheduleDecision& decision) {
  switch (decision.kind()) {
    case v1::ScheduleDecision::KIND_NORMAL:
      decisions_normal.Increment();
      break;
    case v1::ScheduleDecision::KIND_BACK_TO_SOURCE:
      decisions_back_to_source.Increment();
      back_to_source.WithLabels({ReasonLabel(decision.reason())}).Increment();
      break;
    case v1::ScheduleDecision::KIND_EMPTY:
      decisions_empty.Increment();
      break;
    default:
      break;
  }
}

}  // namespace feilong::scheduler
