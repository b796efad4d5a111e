// The fixture of the SchedulerState tests (scheduler_state_test.cc,
// scheduler_state_trust_test.cc): a state on a fake clock, hosts and peers
// made in one line each.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "scheduler/scheduler_state.h"

namespace feilong::scheduler::testing_support {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = v1::ScheduleDecision;
using common::v1::BACK_TO_SOURCE_REASON_CAP_REACHED;
using common::v1::BACK_TO_SOURCE_REASON_NO_PARENT;
using common::v1::BACK_TO_SOURCE_REASON_SEED;

constexpr char kTask[] = "task-1";
constexpr uint64_t kLength = 10 * 1024 * 1024;  // 3 pieces of 4 MiB
constexpr uint32_t kPieceLength = 4 * 1024 * 1024;

inline v1::Host MakeHost(const std::string& id, v1::HostType type = v1::HOST_TYPE_NORMAL) {
  v1::Host host;
  host.set_id(id);
  host.set_hostname(id);
  host.set_ip("10.0.0." + std::to_string(id.size()));
  host.set_peer_port(65000);
  host.set_piece_port(65001);
  host.set_type(type);
  return host;
}

inline std::string Sha(char fill) { return std::string(32, fill); }

class SchedulerStateTest : public ::testing::Test {
 protected:
  SchedulerStateTest() { Reset(SchedulerConfig{}); }

  void Reset(const SchedulerConfig& config) {
    config_ = config;
    state_ = std::make_unique<SchedulerState>(config_, clock_, signer_);
  }

  // Registers peer `peer_id` of `task` on `host` on stream `session`.
  Actions Register(SessionId session, const std::string& peer_id, const v1::Host& host,
                   const std::string& task = kTask) {
    return RegisterAccess(session, peer_id, host, false, false, task);
  }

  // Register with the private-task flags (see "Private tasks").
  Actions RegisterAccess(SessionId session, const std::string& peer_id, const v1::Host& host,
                         bool private_task, bool access_proven, const std::string& task = kTask) {
    v1::Register registration;
    registration.set_task_id(task);
    registration.set_peer_id(peer_id);
    registration.set_private_task(private_task);
    registration.set_access_proven(access_proven);
    *registration.mutable_host() = host;
    registration.mutable_spec()->set_url("http://origin/file");
    Result<Actions> actions = state_->Register(session, registration);
    EXPECT_TRUE(actions.ok()) << actions.status().ToString();
    return actions.ok() ? std::move(actions).value() : Actions{};
  }

  Actions Send(SessionId session, const v1::AnnouncePeerRequest& request) {
    Result<Actions> actions = state_->Handle(session, request);
    EXPECT_TRUE(actions.ok()) << actions.status().ToString();
    return actions.ok() ? std::move(actions).value() : Actions{};
  }

  Actions ContentLength(SessionId session, uint64_t length = kLength,
                        uint32_t piece_length = kPieceLength) {
    v1::AnnouncePeerRequest request;
    request.mutable_content_length_known()->set_content_length(length);
    request.mutable_content_length_known()->set_piece_length(piece_length);
    return Send(session, request);
  }

  Actions Piece(SessionId session, uint32_t number, const std::string& sha,
                const std::string& parent = "") {
    v1::AnnouncePeerRequest request;
    request.mutable_piece_finished()->set_number(number);
    request.mutable_piece_finished()->set_sha256(sha);
    request.mutable_piece_finished()->set_parent_id(parent);
    return Send(session, request);
  }

  Actions Reschedule(SessionId session, const std::vector<std::string>& blocked) {
    v1::AnnouncePeerRequest request;
    for (const std::string& id : blocked) {
      request.mutable_reschedule()->add_blocked_parent_ids(id);
    }
    request.mutable_reschedule();
    return Send(session, request);
  }

  Actions Finished(SessionId session) {
    v1::AnnouncePeerRequest request;
    request.mutable_download_finished();
    return Send(session, request);
  }

  Actions Failed(SessionId session) {
    v1::AnnouncePeerRequest request;
    request.mutable_download_failed()->set_message("boom");
    return Send(session, request);
  }

  // Advances the clock and ticks.
  Actions After(Clock::Duration d) {
    clock_.Advance(d);
    return state_->Tick();
  }

  PeerPhase Phase(const std::string& peer_id) {
    Result<PeerPhase> phase = state_->PhaseOf(kTask, peer_id);
    EXPECT_TRUE(phase.ok()) << phase.status().ToString();
    return phase.value_or(PeerPhase::kLeft);
  }

  v1::StatTaskResponse Stat() {
    Result<v1::StatTaskResponse> stat = state_->StatTask(kTask);
    EXPECT_TRUE(stat.ok()) << stat.status().ToString();
    return stat.value_or(v1::StatTaskResponse{});
  }

  // A seed peer "seed" (session 100) that has the content length and pieces:
  // the usual parent for the tests that need one.
  void StartSeedWithContent() {
    ASSERT_TRUE(state_->AnnounceHost(MakeHost("seed-host", v1::HOST_TYPE_SEED)).ok());
    Actions seed = Register(100, "seed", MakeHost("seed-host", v1::HOST_TYPE_SEED));
    ASSERT_EQ(Decisions(seed, 100).size(), 1u);
    ContentLength(100);
  }

  static std::vector<v1::ScheduleDecision> Decisions(const Actions& actions, SessionId session) {
    std::vector<v1::ScheduleDecision> out;
    for (const OutboundMessage& m : actions.messages) {
      if (m.session == session && m.response.has_decision()) {
        out.push_back(m.response.decision());
      }
    }
    return out;
  }

  static std::vector<common::v1::PieceDigest> Digests(const Actions& actions, SessionId session) {
    std::vector<common::v1::PieceDigest> out;
    for (const OutboundMessage& m : actions.messages) {
      if (m.session == session && m.response.has_piece_digests()) {
        for (const auto& d : m.response.piece_digests().pieces()) {
          out.push_back(d);
        }
      }
    }
    return out;
  }

  static std::vector<std::string> ParentIds(const v1::ScheduleDecision& decision) {
    std::vector<std::string> ids;
    for (const auto& parent : decision.parents()) {
      ids.push_back(parent.peer_id());
    }
    return ids;
  }

  FakeClock clock_;
  SchedulerConfig config_;
  std::shared_ptr<const access::GrantSigner> signer_ = access::GrantSigner::Generate().value();
  std::unique_ptr<SchedulerState> state_;
};

}  // namespace feilong::scheduler::testing_support
