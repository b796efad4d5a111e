#include "scheduler/scheduler_state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scheduler/scheduler_state_fixture.h"

namespace feilong::scheduler {
namespace {

using namespace testing_support;  // NOLINT(google-build-using-namespace): the fixture's helpers

TEST_F(SchedulerStateTest, FirstPeerTriggersSeedChosenByRendezvousAndWaits) {
  std::vector<std::string> seeds = {"seed-a", "seed-b", "seed-c"};
  for (const std::string& id : seeds) {
    ASSERT_TRUE(state_->AnnounceHost(MakeHost(id, v1::HOST_TYPE_SEED)).ok());
  }
  std::sort(seeds.begin(), seeds.end(), [](const std::string& a, const std::string& b) {
    return RendezvousWeight(kTask, a) > RendezvousWeight(kTask, b);
  });

  Actions actions = Register(1, "a", MakeHost("host-a"));
  EXPECT_TRUE(Decisions(actions, 1).empty());
  ASSERT_EQ(actions.seed_triggers.size(), 1u);
  EXPECT_EQ(actions.seed_triggers[0].task_id, kTask);
  EXPECT_EQ(actions.seed_triggers[0].host_id, seeds[0]);
  EXPECT_EQ(actions.seed_triggers[0].address, "10.0.0.6:65000");
  EXPECT_EQ(actions.seed_triggers[0].spec.url(), "http://origin/file");
  EXPECT_EQ(Phase("a"), PeerPhase::kWaiting);

  // A second peer while the trigger is pending does not trigger again.
  EXPECT_TRUE(Register(2, "b", MakeHost("host-b")).seed_triggers.empty());

  // The chosen seed fails: the next one by rendezvous order is asked.
  actions = state_->SeedTriggerDone(kTask, seeds[0], Status::Unavailable("down"));
  ASSERT_EQ(actions.seed_triggers.size(), 1u);
  EXPECT_EQ(actions.seed_triggers[0].host_id, seeds[1]);
  EXPECT_TRUE(Decisions(actions, 1).empty());
  // A stale report about the first seed changes nothing.
  EXPECT_TRUE(state_->SeedTriggerDone(kTask, seeds[0], Status::Ok()).empty());

  actions = state_->SeedTriggerDone(kTask, seeds[1], Status::DeadlineExceeded("slow"));
  ASSERT_EQ(actions.seed_triggers.size(), 1u);
  EXPECT_EQ(actions.seed_triggers[0].host_id, seeds[2]);

  // With every seed failed and nothing else running, "a" goes to the origin at
  // once; "b" then waits for "a".
  actions = state_->SeedTriggerDone(kTask, seeds[2], Status::Unavailable("down"));
  EXPECT_TRUE(actions.seed_triggers.empty());
  auto decisions = Decisions(actions, 1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_BACK_TO_SOURCE);
  EXPECT_EQ(decisions[0].reason(), BACK_TO_SOURCE_REASON_NO_PARENT);
  EXPECT_EQ(Phase("b"), PeerPhase::kWaiting);
}

TEST_F(SchedulerStateTest, WaitingPeerGetsSeedAsParentWhenContentLengthKnown) {
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("seed-host", v1::HOST_TYPE_SEED)).ok());
  Actions actions = Register(1, "a", MakeHost("host-a"));
  ASSERT_EQ(actions.seed_triggers.size(), 1u);
  EXPECT_TRUE(state_->SeedTriggerDone(kTask, "seed-host", Status::Ok()).empty());

  // The seed registers: nothing better exists, so it goes to the origin.
  actions = Register(100, "seed", MakeHost("seed-host", v1::HOST_TYPE_SEED));
  auto seed_decisions = Decisions(actions, 100);
  ASSERT_EQ(seed_decisions.size(), 1u);
  EXPECT_EQ(seed_decisions[0].kind(), Kind::KIND_BACK_TO_SOURCE);
  EXPECT_EQ(seed_decisions[0].reason(), BACK_TO_SOURCE_REASON_SEED);
  EXPECT_TRUE(Decisions(actions, 1).empty());  // the seed does not know the length yet

  actions = ContentLength(100);
  auto decisions = Decisions(actions, 1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_NORMAL);
  EXPECT_EQ(ParentIds(decisions[0]), std::vector<std::string>{"seed"});
  EXPECT_EQ(decisions[0].parents(0).host().id(), "seed-host");
  EXPECT_EQ(decisions[0].content_length(), kLength);
  EXPECT_EQ(decisions[0].piece_length(), kPieceLength);
  EXPECT_EQ(Phase("a"), PeerPhase::kRunning);
  EXPECT_EQ(Stat().back_to_source_peer_count(), 1u);
}

TEST_F(SchedulerStateTest, BackToSourceAfterScheduleWait) {
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("seed-host", v1::HOST_TYPE_SEED)).ok());
  Register(1, "a", MakeHost("host-a"));
  EXPECT_TRUE(state_->SeedTriggerDone(kTask, "seed-host", Status::Ok()).empty());
  Register(100, "seed", MakeHost("seed-host", v1::HOST_TYPE_SEED));  // slow origin: no length yet

  EXPECT_TRUE(Decisions(After(milliseconds(1900)), 1).empty());
  auto decisions = Decisions(After(milliseconds(100)), 1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_BACK_TO_SOURCE);
  EXPECT_EQ(decisions[0].reason(), BACK_TO_SOURCE_REASON_NO_PARENT);
  EXPECT_EQ(Stat().back_to_source_peer_count(), 2u);
}

TEST_F(SchedulerStateTest, WithoutSeedsFirstPeerGoesToOriginAndOthersWaitForIt) {
  auto decisions = Decisions(Register(1, "a", MakeHost("host-a")), 1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_BACK_TO_SOURCE);
  EXPECT_EQ(decisions[0].reason(), BACK_TO_SOURCE_REASON_NO_PARENT);

  EXPECT_TRUE(Decisions(Register(2, "b", MakeHost("host-b")), 2).empty());
  // A second peer on the same host as "a" cannot use it and has nothing to wait for.
  decisions = Decisions(Register(3, "a2", MakeHost("host-a")), 3);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_BACK_TO_SOURCE);

  decisions = Decisions(ContentLength(1), 2);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_NORMAL);
  // "a2" is back to source on another host, but does not know the length yet.
  EXPECT_EQ(ParentIds(decisions[0]), std::vector<std::string>{"a"});
}

TEST_F(SchedulerStateTest, CapIsEnforcedAndCapReachedAfterMaxWait) {
  SchedulerConfig config;
  config.max_back_to_source_peers_per_task = 2;
  Reset(config);
  Register(1, "a", MakeHost("host-a"));  // back to source at once (1/2)
  Register(2, "b", MakeHost("host-b"));  // waits for "a"
  auto decisions = Decisions(After(seconds(2)), 2);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].reason(), BACK_TO_SOURCE_REASON_NO_PARENT);  // 2/2
  EXPECT_EQ(Stat().back_to_source_peer_count(), 2u);

  Register(3, "c", MakeHost("host-c"));
  Register(4, "d", MakeHost("host-d"));
  clock_.Advance(seconds(1));
  Register(5, "e", MakeHost("host-e"));
  EXPECT_TRUE(After(seconds(2)).messages.empty());  // cap full: c, d, e keep waiting
  EXPECT_EQ(Phase("c"), PeerPhase::kWaiting);

  // "a" fails: one slot frees, and the first waiter past schedule_wait takes it.
  Actions actions = Failed(1);
  decisions = Decisions(actions, 3);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].reason(), BACK_TO_SOURCE_REASON_NO_PARENT);
  EXPECT_EQ(Phase("d"), PeerPhase::kWaiting);

  // At max_schedule_wait from their start, d and then e go anyway.
  EXPECT_TRUE(After(seconds(26)).messages.empty());  // "d" has waited 29 s
  decisions = Decisions(After(seconds(1)), 4);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_BACK_TO_SOURCE);
  EXPECT_EQ(decisions[0].reason(), BACK_TO_SOURCE_REASON_CAP_REACHED);
  EXPECT_EQ(Phase("e"), PeerPhase::kWaiting);
  decisions = Decisions(After(seconds(1)), 5);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].reason(), BACK_TO_SOURCE_REASON_CAP_REACHED);
}

TEST_F(SchedulerStateTest, SeedPeerGoesToOriginEvenWhenCapIsFull) {
  SchedulerConfig config;
  config.max_back_to_source_peers_per_task = 1;
  Reset(config);
  Register(1, "a", MakeHost("host-a"));  // takes the only slot
  auto decisions = Decisions(Register(100, "seed", MakeHost("seed-host", v1::HOST_TYPE_SEED)), 100);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].reason(), BACK_TO_SOURCE_REASON_SEED);
  EXPECT_EQ(Stat().back_to_source_peer_count(), 2u);
}

TEST_F(SchedulerStateTest, EmptyContentGivesEmptyDecisions) {
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("seed-host", v1::HOST_TYPE_SEED)).ok());
  Register(1, "a", MakeHost("host-a"));
  Register(100, "seed", MakeHost("seed-host", v1::HOST_TYPE_SEED));
  auto decisions = Decisions(ContentLength(100, 0, 0), 1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_EMPTY);
  EXPECT_EQ(decisions[0].content_length(), 0u);
  decisions = Decisions(Register(2, "b", MakeHost("host-b")), 2);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_EMPTY);
}

TEST_F(SchedulerStateTest, RescheduleExcludesBlockedAndFailedParents) {
  StartSeedWithContent();
  Register(1, "n1", MakeHost("host-1"));
  Finished(1);
  Register(2, "n2", MakeHost("host-2"));
  Finished(2);
  auto decisions = Decisions(Register(3, "a", MakeHost("host-a")), 3);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].parents_size(), 3);

  decisions = Decisions(Reschedule(3, {"seed"}), 3);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_NORMAL);
  auto ids = ParentIds(decisions[0]);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"n1", "n2"}));

  // A failed piece from n1 excludes it from later decisions too.
  v1::AnnouncePeerRequest failed;
  failed.mutable_piece_failed()->set_number(1);
  failed.mutable_piece_failed()->set_parent_id("n1");
  failed.mutable_piece_failed()->set_kind(v1::PieceFailed::KIND_CORRUPTION);
  EXPECT_TRUE(Send(3, failed).empty());
  decisions = Decisions(Reschedule(3, {"n2"}), 3);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_BACK_TO_SOURCE);
  EXPECT_EQ(decisions[0].reason(), BACK_TO_SOURCE_REASON_NO_PARENT);
}

TEST_F(SchedulerStateTest, RescheduleWithoutBlockedAddsNewParentsFirst) {
  SchedulerConfig config;
  config.candidate_parent_limit = 1;
  Reset(config);
  StartSeedWithContent();
  auto decisions = Decisions(Register(1, "a", MakeHost("host-a")), 1);
  ASSERT_EQ(ParentIds(decisions[0]), std::vector<std::string>{"seed"});
  Register(2, "b", MakeHost("host-b"));
  Finished(2);

  decisions = Decisions(Reschedule(1, {}), 1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_NORMAL);
  EXPECT_EQ(ParentIds(decisions[0]), (std::vector<std::string>{"b", "seed"}));
  EXPECT_EQ(Phase("a"), PeerPhase::kRunning);
}

TEST_F(SchedulerStateTest, RescheduleNeverDemotesAPeerThatStillHasAParent) {
  StartSeedWithContent();
  Register(1, "n1", MakeHost("host-1"));
  Finished(1);
  auto decisions = Decisions(Register(2, "a", MakeHost("host-a")), 2);
  ASSERT_EQ(decisions[0].parents_size(), 2);
  // The daemon repeats every blocked id in later requests for more parents.
  decisions = Decisions(Reschedule(2, {"n1"}), 2);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(ParentIds(decisions[0]), std::vector<std::string>{"seed"});
  decisions = Decisions(Reschedule(2, {"n1"}), 2);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_NORMAL);
  EXPECT_EQ(ParentIds(decisions[0]), std::vector<std::string>{"seed"});
  EXPECT_EQ(Phase("a"), PeerPhase::kRunning);
}

TEST_F(SchedulerStateTest, PeersMayBeEachOthersParents) {
  StartSeedWithContent();
  auto decisions = Decisions(Register(1, "a", MakeHost("host-a")), 1);
  ASSERT_EQ(ParentIds(decisions[0]), std::vector<std::string>{"seed"});
  decisions = Decisions(Register(2, "b", MakeHost("host-b")), 2);
  ASSERT_EQ(decisions.size(), 1u);
  auto b_parents = ParentIds(decisions[0]);
  ASSERT_NE(std::find(b_parents.begin(), b_parents.end(), "a"), b_parents.end());
  decisions = Decisions(Register(3, "c", MakeHost("host-c")), 3);  // child of a and b

  // "a" drops the seed: b and c descend from it, and they are what is left;
  // they trade pieces with a both ways.
  decisions = Decisions(Reschedule(1, {"seed"}), 1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_NORMAL);
  auto a_parents = ParentIds(decisions[0]);
  std::sort(a_parents.begin(), a_parents.end());
  EXPECT_EQ(a_parents, (std::vector<std::string>{"b", "c"}));
}

TEST_F(SchedulerStateTest, PeerWhoseStreamEndsUnfinishedIsRemoved) {
  StartSeedWithContent();
  Register(1, "a", MakeHost("host-a"));
  EXPECT_EQ(Phase("a"), PeerPhase::kRunning);
  state_->StreamClosed(1);
  EXPECT_FALSE(state_->PhaseOf(kTask, "a").ok());
  EXPECT_EQ(Stat().peer_count(), 1u);
  auto decisions = Decisions(Register(2, "b", MakeHost("host-b")), 2);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(ParentIds(decisions[0]), std::vector<std::string>{"seed"});
  // Messages on the closed stream are refused.
  v1::AnnouncePeerRequest finished;
  finished.mutable_download_finished();
  EXPECT_TRUE(state_->Handle(1, finished).status().IsNotFound());
  EXPECT_EQ(state_->Counts().peers, 2u);
}

TEST_F(SchedulerStateTest, FinishedPeerStaysAParentAfterItsStreamClosesUntilTtl) {
  StartSeedWithContent();
  Register(1, "a", MakeHost("host-a"));
  Finished(1);
  state_->StreamClosed(1);
  EXPECT_EQ(Phase("a"), PeerPhase::kSucceeded);
  EXPECT_EQ(state_->Counts().peers, 1u);  // open streams
  EXPECT_EQ(Stat().peer_count(), 2u);
  auto decisions = Decisions(Register(2, "b", MakeHost("host-b")), 2);
  ASSERT_EQ(decisions.size(), 1u);
  auto ids = ParentIds(decisions[0]);
  EXPECT_NE(std::find(ids.begin(), ids.end(), "a"), ids.end());

  // host-a keeps announcing, so only finished_peer_ttl ends it.
  for (int i = 0; i < 59; ++i) {
    clock_.Advance(seconds(60));
    ASSERT_TRUE(state_->AnnounceHost(MakeHost("host-a")).ok());
    state_->Tick();
  }
  EXPECT_TRUE(state_->PhaseOf(kTask, "a").ok());
  After(seconds(60));
  EXPECT_FALSE(state_->PhaseOf(kTask, "a").ok());
}

TEST_F(SchedulerStateTest, FinishedDetachedPeerGoesWithItsExpiredHost) {
  StartSeedWithContent();
  Register(1, "a", MakeHost("host-a"));
  Finished(1);
  state_->StreamClosed(1);
  After(seconds(119));
  EXPECT_TRUE(state_->PhaseOf(kTask, "a").ok());
  After(seconds(1));
  EXPECT_FALSE(state_->HasHost("host-a"));
  EXPECT_FALSE(state_->PhaseOf(kTask, "a").ok());
}

TEST_F(SchedulerStateTest, FinishedPeerIsRemovedWithItsStreamWhenTtlIsZero) {
  SchedulerConfig config;
  config.finished_peer_ttl = milliseconds(0);
  Reset(config);
  StartSeedWithContent();
  Register(1, "a", MakeHost("host-a"));
  Finished(1);
  state_->StreamClosed(1);
  EXPECT_FALSE(state_->PhaseOf(kTask, "a").ok());
}

TEST_F(SchedulerStateTest, AHostIdIsHeldByTheCertificateThatFirstAnnouncedIt) {
  const std::string a = "CN=host-a", b = "CN=intruder";
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("host-a"), a).ok());
  // Another certificate can neither update, register on nor remove it.
  EXPECT_EQ(state_->AnnounceHost(MakeHost("host-a"), b).code(), StatusCode::kPermissionDenied);
  v1::Register registration;
  registration.set_task_id(kTask);
  registration.set_peer_id("intruding-peer");
  *registration.mutable_host() = MakeHost("host-a");
  registration.mutable_spec()->set_url("http://origin/file");
  Result<Actions> registered = state_->Register(7, registration, b);
  EXPECT_EQ(registered.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(registered.status().message().find(a), std::string::npos)
      << registered.status().message();
  EXPECT_FALSE(state_->PhaseOf(kTask, "intruding-peer").ok());
  EXPECT_EQ(state_->LeaveHost("host-a", b).status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(state_->HasHost("host-a"));
  // Its own certificate can, and a host that left is free to claim again.
  EXPECT_TRUE(state_->Register(8, registration, a).ok());
  EXPECT_TRUE(state_->LeaveHost("host-a", a).ok());
  EXPECT_FALSE(state_->HasHost("host-a"));
  EXPECT_TRUE(state_->AnnounceHost(MakeHost("host-a"), b).ok());
  // An unknown host's leave is a no-op for anyone.
  EXPECT_TRUE(state_->LeaveHost("never-seen", b).ok());
}

TEST_F(SchedulerStateTest, LeaveHostRemovesItsPeers) {
  StartSeedWithContent();
  Register(1, "a", MakeHost("host-a"));
  Finished(1);
  ASSERT_TRUE(state_->LeaveHost("host-a").ok());
  EXPECT_FALSE(state_->HasHost("host-a"));
  EXPECT_FALSE(state_->PhaseOf(kTask, "a").ok());
  auto decisions = Decisions(Register(2, "b", MakeHost("host-b")), 2);
  EXPECT_EQ(ParentIds(decisions[0]), std::vector<std::string>{"seed"});
  state_->StreamClosed(1);  // the stream ends later: nothing happens
  EXPECT_EQ(state_->Counts().peers, 2u);
}

TEST_F(SchedulerStateTest, HostsExpireAfterTtlUnlessAPeerStreamIsOpen) {
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("idle")).ok());
  Register(1, "a", MakeHost("busy"));  // back to source, stream open
  After(seconds(119));
  EXPECT_TRUE(state_->HasHost("idle"));
  After(seconds(1));
  EXPECT_FALSE(state_->HasHost("idle"));
  EXPECT_TRUE(state_->HasHost("busy"));
  After(seconds(300));
  EXPECT_TRUE(state_->HasHost("busy"));
  state_->StreamClosed(1);
  After(milliseconds(100));
  EXPECT_FALSE(state_->HasHost("busy"));
  EXPECT_EQ(state_->Counts().tasks, 0u);  // the empty task is dropped too
}

TEST_F(SchedulerStateTest, AcceptedSeedThatNeverRegistersIsReplaced) {
  SchedulerConfig config;
  config.schedule_wait = seconds(10);  // "a" keeps waiting past the seed timeout
  Reset(config);
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("seed-a", v1::HOST_TYPE_SEED)).ok());
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("seed-bb", v1::HOST_TYPE_SEED)).ok());
  Actions actions = Register(1, "a", MakeHost("host-a"));
  ASSERT_EQ(actions.seed_triggers.size(), 1u);
  std::string first = actions.seed_triggers[0].host_id;
  EXPECT_TRUE(state_->SeedTriggerDone(kTask, first, Status::Ok()).empty());
  EXPECT_TRUE(After(milliseconds(4900)).seed_triggers.empty());
  actions = After(milliseconds(100));
  ASSERT_EQ(actions.seed_triggers.size(), 1u);
  EXPECT_NE(actions.seed_triggers[0].host_id, first);
  EXPECT_EQ(actions.warnings.size(), 1u);
}

TEST_F(SchedulerStateTest, FailedSeedPeerIsReplacedByAnotherSeed) {
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("seed-a", v1::HOST_TYPE_SEED)).ok());
  ASSERT_TRUE(state_->AnnounceHost(MakeHost("seed-bb", v1::HOST_TYPE_SEED)).ok());
  Actions actions = Register(1, "a", MakeHost("host-a"));
  ASSERT_EQ(actions.seed_triggers.size(), 1u);
  std::string first = actions.seed_triggers[0].host_id;
  Register(100, "seed", MakeHost(first, v1::HOST_TYPE_SEED));
  actions = Failed(100);
  ASSERT_EQ(actions.seed_triggers.size(), 1u);
  EXPECT_NE(actions.seed_triggers[0].host_id, first);
  EXPECT_EQ(Phase("a"), PeerPhase::kWaiting);
}

TEST_F(SchedulerStateTest, MalformedMessagesAreRejected) {
  v1::Register registration;
  registration.set_task_id(kTask);
  EXPECT_TRUE(state_->Register(1, registration).status().IsInvalidArgument());
  StartSeedWithContent();
  v1::AnnouncePeerRequest request;
  request.mutable_piece_finished()->set_number(3);  // 3 pieces: 0..2
  EXPECT_TRUE(state_->Handle(100, request).status().IsInvalidArgument());
  request.mutable_piece_finished()->set_number(0);
  request.mutable_piece_finished()->set_sha256("short");
  EXPECT_TRUE(state_->Handle(100, request).status().IsInvalidArgument());
  request.mutable_register_()->set_task_id(kTask);
  EXPECT_TRUE(state_->Handle(100, request).status().IsInvalidArgument());
  EXPECT_TRUE(state_->Handle(100, v1::AnnouncePeerRequest{}).status().IsInvalidArgument());
  registration.set_peer_id("x");
  *registration.mutable_host() = MakeHost("host-x");
  EXPECT_TRUE(state_->Register(100, registration).status().IsInvalidArgument());  // same stream
  EXPECT_TRUE(state_->StatTask("nope").status().IsNotFound());
}

TEST_F(SchedulerStateTest, SamePeerOnANewStreamReplacesTheOld) {
  StartSeedWithContent();
  Register(1, "a", MakeHost("host-a"));
  auto decisions = Decisions(Register(2, "a", MakeHost("host-a")), 2);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind(), Kind::KIND_NORMAL);
  EXPECT_TRUE(state_->Handle(1, v1::AnnouncePeerRequest{}).status().IsNotFound());
  state_->StreamClosed(1);  // the old stream's end does not remove the new peer
  EXPECT_EQ(Phase("a"), PeerPhase::kRunning);
  EXPECT_EQ(Stat().peer_count(), 2u);
}

}  // namespace
}  // namespace feilong::scheduler
