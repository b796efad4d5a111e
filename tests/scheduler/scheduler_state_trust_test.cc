// SchedulerState: who is trusted for piece digests and the content length,
// private tasks and their grants, quarantine.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scheduler/scheduler_state.h"
#include "scheduler/scheduler_state_fixture.h"

namespace feilong::scheduler {
namespace {

using namespace testing_support;  // NOLINT(google-build-using-namespace): the fixture's helpers

TEST_F(SchedulerStateTest, OriginDigestsArePushedAndSentWithDecisions) {
  StartSeedWithContent();
  Actions actions = Register(1, "a", MakeHost("host-a"));
  ASSERT_EQ(Decisions(actions, 1).size(), 1u);
  EXPECT_TRUE(Digests(actions, 1).empty());  // none known yet

  actions = Piece(100, 0, Sha('x'));
  auto pushed = Digests(actions, 1);
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].number(), 0u);
  EXPECT_EQ(pushed[0].sha256(), Sha('x'));
  EXPECT_TRUE(Digests(actions, 100).empty());  // not to the reporter
  Piece(100, 2, Sha('z'));

  // A piece a child got from a parent is not an origin digest.
  EXPECT_TRUE(Piece(1, 1, Sha('q'), "seed").messages.empty());
  EXPECT_EQ(Stat().known_piece_digests(), 2u);

  // A newcomer gets its decision, then every digest known so far.
  actions = Register(2, "b", MakeHost("host-b"));
  ASSERT_EQ(actions.messages.size(), 2u);
  EXPECT_TRUE(actions.messages[0].response.has_decision());
  auto all = Digests(actions, 2);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].number(), 0u);
  EXPECT_EQ(all[1].number(), 2u);
}

TEST_F(SchedulerStateTest, DigestsAndLengthComeOnlyFromPeersSentToTheOrigin) {
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("seed-host", v1::HOST_TYPE_SEED)).ok());
  // A rogue registers first and reports a short length and its own digests
  // before the seed has said anything.
  Actions actions = Register(1, "rogue", MakeHost("host-r"));
  ASSERT_EQ(actions.seed_triggers.size(), 1u);
  actions = ContentLength(1, kLength - 1024 * 1024);
  EXPECT_EQ(actions.untrusted_reports, 1u);
  v1::AnnouncePeerRequest b2s;  // going to the origin on its own does not make it trusted
  b2s.mutable_back_to_source_started();
  Send(1, b2s);
  actions = Piece(1, 0, Sha('z'));
  EXPECT_EQ(actions.untrusted_reports, 1u);
  EXPECT_TRUE(actions.messages.empty()) << "an untrusted digest is not pushed";
  EXPECT_EQ(Stat().content_length(), 0u) << "the rogue's length is not recorded";

  // The triggered seed is sent to the origin: its reports are the task's.
  Register(2, "b", MakeHost("host-b"));
  Actions seed = Register(100, "seed", MakeHost("seed-host", v1::HOST_TYPE_SEED));
  ASSERT_EQ(Decisions(seed, 100).size(), 1u);
  actions = ContentLength(100);
  EXPECT_EQ(actions.untrusted_reports, 0u);
  auto decisions = Decisions(actions, 2);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_NORMAL);
  EXPECT_EQ(decisions[0].content_length(), kLength);
  auto digests = Digests(Piece(100, 0, Sha('x')), 2);
  ASSERT_EQ(digests.size(), 1u);
  EXPECT_EQ(digests[0].sha256(), Sha('x'));
  EXPECT_EQ(state_->digest_conflicts(), 0u);
  EXPECT_FALSE(state_->IsQuarantined(kTask).value());

  // A peer told the recorded length may confirm it (it knows the length now).
  EXPECT_EQ(ContentLength(2).untrusted_reports, 0u);
}

TEST_F(SchedulerStateTest, APeerGoingToTheOriginWhenItsSeedDiedIsTrusted) {
  StartSeedWithContent();
  Piece(100, 0, Sha('x'));
  Register(1, "a", MakeHost("host-a"));
  state_->StreamClosed(100);  // the seed dies mid-download
  v1::AnnouncePeerRequest b2s;
  b2s.mutable_back_to_source_started();
  Send(1, b2s);  // its only parent gone, "a" goes to the origin on its own
  Actions actions = Piece(1, 1, Sha('y'));
  EXPECT_EQ(actions.untrusted_reports, 0u);
  auto digests = Digests(Register(2, "b", MakeHost("host-b")), 2);
  ASSERT_EQ(digests.size(), 2u) << "the seed's and a's digests";
  EXPECT_EQ(digests[1].sha256(), Sha('y'));
}

TEST_F(SchedulerStateTest, APrivateTaskGivesParentsAndGrantsOnlyToPeersThatProvedAccess) {
  StartSeedWithContent();
  Piece(100, 0, Sha('x'));
  const v1::Host host_a = MakeHost("host-a");
  auto a = Decisions(RegisterAccess(1, "a", host_a, /*private=*/true, /*proven=*/true), 1);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind(), v1::ScheduleDecision::KIND_NORMAL);
  EXPECT_EQ(ParentIds(a[0]), std::vector<std::string>{"seed"});
  EXPECT_EQ(a[0].grant_key(), signer_->public_key());
  EXPECT_TRUE(access::CheckGrant(a[0].grant(), signer_->public_key(), kTask, host_a.ip(),
                                 clock_.NowUnixSeconds())
                  .ok());
  EXPECT_FALSE(access::CheckGrant(a[0].grant(), signer_->public_key(), kTask,
                                  MakeHost("host-bb").ip(), clock_.NowUnixSeconds())
                   .ok())
      << "a grant names its holder's address";

  // Not proven (its request had no credentials): straight to the origin with
  // its own request, with no grant, no digest, and its reports not taken.
  Actions b_actions = RegisterAccess(2, "b", MakeHost("host-bb"), false, false);
  auto b = Decisions(b_actions, 2);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].kind(), v1::ScheduleDecision::KIND_BACK_TO_SOURCE);
  EXPECT_TRUE(b[0].grant().empty());
  EXPECT_EQ(b[0].grant_key(), signer_->public_key()) << "it must still guard what it holds";
  EXPECT_TRUE(Digests(b_actions, 2).empty());
  EXPECT_EQ(Piece(2, 1, Sha('z')).untrusted_reports, 1u);
  Finished(2);

  // A proven newcomer is never given "b" as a parent.
  auto c = Decisions(RegisterAccess(3, "c", MakeHost("host-ccc"), true, true), 3);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind(), v1::ScheduleDecision::KIND_NORMAL);
  for (const std::string& parent : ParentIds(c[0])) {
    EXPECT_NE(parent, "b");
  }
  EXPECT_FALSE(c[0].grant().empty());
}

TEST_F(SchedulerStateTest, APublicTaskCarriesNoGrantAndTurnsPrivateForGood) {
  StartSeedWithContent();
  auto a = Decisions(Register(1, "a", MakeHost("host-a")), 1);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(a[0].grant().empty());
  EXPECT_TRUE(a[0].grant_key().empty());
  RegisterAccess(2, "b", MakeHost("host-bb"), /*private=*/true, /*proven=*/true);
  // A later public registration does not make it public again.
  auto c = Decisions(Register(3, "c", MakeHost("host-ccc")), 3);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind(), v1::ScheduleDecision::KIND_BACK_TO_SOURCE);
  EXPECT_EQ(c[0].grant_key(), signer_->public_key());
}

TEST_F(SchedulerStateTest, RunningPeersOfAPrivateTaskGetAFreshGrantAtHalfItsTtl) {
  StartSeedWithContent();
  const v1::Host host_a = MakeHost("host-a");
  auto first = Decisions(RegisterAccess(1, "a", host_a, true, true), 1);
  ASSERT_EQ(first.size(), 1u);
  auto claims = access::VerifyGrant(first[0].grant(), signer_->public_key());
  ASSERT_TRUE(claims.ok());

  auto renewed = [](const Actions& actions) {
    std::vector<std::string> grants;
    for (const OutboundMessage& m : actions.messages) {
      if (m.session == 1 && m.response.has_grant_renewed()) {
        grants.push_back(m.response.grant_renewed().grant());
      }
    }
    return grants;
  };
  EXPECT_TRUE(renewed(After(config_.grants.ttl / 2 - std::chrono::seconds(1))).empty());
  auto grants = renewed(After(std::chrono::seconds(1)));
  ASSERT_EQ(grants.size(), 1u);
  auto fresh = access::VerifyGrant(grants[0], signer_->public_key());
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(fresh->expires_unix, claims->expires_unix);
  EXPECT_TRUE(access::CheckGrant(grants[0], signer_->public_key(), kTask, host_a.ip(),
                                 clock_.NowUnixSeconds())
                  .ok());
  EXPECT_TRUE(renewed(After(std::chrono::seconds(1))).empty()) << "once per half ttl";
}

TEST_F(SchedulerStateTest, DisagreeingTrustedReportsQuarantineTheTask) {
  // No seed: the first peer of a host is sent to the origin, and so is a
  // second peer on the same host (it cannot use the first).
  ASSERT_EQ(Decisions(Register(1, "a", MakeHost("host-a")), 1)[0].kind(),
            Kind::KIND_BACK_TO_SOURCE);
  ContentLength(1);
  Piece(1, 0, Sha('x'));
  ASSERT_EQ(Decisions(Register(3, "a2", MakeHost("host-a")), 3)[0].kind(),
            Kind::KIND_BACK_TO_SOURCE);
  EXPECT_TRUE(Piece(3, 0, Sha('x')).digest_conflicts.empty()) << "agreeing report";
  Actions actions = Piece(3, 1, Sha('y'));
  EXPECT_TRUE(actions.quarantined.empty());
  actions = Piece(1, 1, Sha('w'));  // two peers read different bytes from the origin
  ASSERT_EQ(actions.digest_conflicts.size(), 1u);
  EXPECT_EQ(actions.digest_conflicts[0].piece, 1u);
  EXPECT_EQ(actions.digest_conflicts[0].peer_id, "a");
  ASSERT_EQ(actions.quarantined.size(), 1u);
  EXPECT_EQ(state_->digest_conflicts(), 1u);
  EXPECT_TRUE(state_->IsQuarantined(kTask).value());

  // Nobody is offered as a parent, no digest is handed out or recorded.
  Finished(1);
  actions = Register(2, "b", MakeHost("host-b"));
  EXPECT_TRUE(Digests(actions, 2).empty());
  for (const auto& decision : Decisions(actions, 2)) {
    EXPECT_EQ(decision.parents_size(), 0);
  }
  EXPECT_TRUE(Piece(3, 2, Sha('v')).messages.empty());
}

TEST_F(SchedulerStateTest, ATrustedPeerReportingAnotherLengthQuarantinesTheTask) {
  ASSERT_EQ(Decisions(Register(1, "a", MakeHost("host-a")), 1)[0].kind(),
            Kind::KIND_BACK_TO_SOURCE);
  ContentLength(1);
  ASSERT_EQ(Decisions(Register(3, "a2", MakeHost("host-a")), 3)[0].kind(),
            Kind::KIND_BACK_TO_SOURCE);
  Actions actions = ContentLength(3, kLength + 1);
  ASSERT_EQ(actions.quarantined.size(), 1u);
  EXPECT_TRUE(state_->IsQuarantined(kTask).value());
  EXPECT_EQ(Stat().content_length(), kLength);
}

}  // namespace
}  // namespace feilong::scheduler
