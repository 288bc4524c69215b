// The change feed: changes in commit order, waits that end with a change or
// at their deadline, readers that fell behind the ring told so, Close()
// ending every wait; and the state store publishing every committed change
// of a job and keeping its history.
#include "services/change_feed.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "services/state_store.h"
#include "tests/common/test_dir.h"

namespace pgan::services {
namespace {

pgan::v1::JobEvent TickEvent(int64_t tick) {
  pgan::v1::JobEvent event;
  event.mutable_tick()->set_tick(tick);
  return event;
}

TEST(ChangeFeedTest, ReadersGetChangesInOrderAndWaitForNewOnes) {
  ChangeFeed feed(8);
  EXPECT_EQ(feed.last_sequence(), 0);
  feed.Publish("alice", "j1", TickEvent(1));
  feed.Publish("bob", "j2", TickEvent(2));
  ChangeFeed::Batch batch = feed.Wait(0, absl::Now());
  ASSERT_EQ(batch.changes.size(), 2u);
  EXPECT_FALSE(batch.lost);
  EXPECT_EQ(batch.changes[0]->sequence, 1);
  EXPECT_EQ(batch.changes[0]->owner, "alice");
  EXPECT_EQ(batch.changes[1]->job_id, "j2");
  EXPECT_EQ(batch.changes[1]->event.tick().tick(), 2);
  EXPECT_EQ(feed.Wait(1, absl::Now()).changes.size(), 1u);

  // Nothing new: the wait ends at its deadline, empty.
  const absl::Time start = absl::Now();
  batch = feed.Wait(2, start + absl::Milliseconds(100));
  EXPECT_TRUE(batch.changes.empty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));

  // A change wakes a waiting reader.
  std::thread publisher([&] {
    absl::SleepFor(absl::Milliseconds(50));
    feed.Publish("alice", "j1", TickEvent(3));
  });
  batch = feed.Wait(2, absl::Now() + absl::Seconds(30));
  publisher.join();
  ASSERT_EQ(batch.changes.size(), 1u);
  EXPECT_EQ(batch.changes[0]->sequence, 3);
}

TEST(ChangeFeedTest, AReaderBehindTheRingIsToldItLostChanges) {
  ChangeFeed feed(4);
  for (int i = 1; i <= 10; ++i) feed.Publish("alice", "j1", TickEvent(i));
  ChangeFeed::Batch batch = feed.Wait(2, absl::Now());
  EXPECT_TRUE(batch.lost);
  ASSERT_EQ(batch.changes.size(), 4u);
  EXPECT_EQ(batch.changes.front()->sequence, 7);
  batch = feed.Wait(6, absl::Now());
  EXPECT_FALSE(batch.lost) << "6 is just before the oldest kept";
  EXPECT_EQ(batch.changes.size(), 4u);
}

TEST(ChangeFeedTest, CloseEndsEveryWait) {
  ChangeFeed feed;
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    feed.Close();
  });
  const absl::Time start = absl::Now();
  const ChangeFeed::Batch batch = feed.Wait(0, start + absl::Seconds(60));
  closer.join();
  EXPECT_TRUE(batch.closed);
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  feed.Publish("alice", "j1", TickEvent(1));
  EXPECT_EQ(feed.last_sequence(), 0) << "nothing is published once closed";
}

TEST(ChangeFeedTest, ChangesAreTheApisJson) {
  ChangeFeed feed;
  pgan::v1::JobEvent event;
  event.mutable_job()->set_id("j1");
  event.mutable_job()->set_pending_reason("waiting");
  feed.Publish("alice", "j1", event);
  const std::string& json = feed.Wait(0, absl::Now()).changes[0]->Json();
  EXPECT_TRUE(absl::StrContains(json, "\"pending_reason\":\"waiting\""))
      << json;
  EXPECT_TRUE(absl::StrContains(json, "\"restarts\":0")) << json;
}

TEST(ChangeFeedTest, TheStatePublishesCommittedChangesAndKeepsHistory) {
  pgan::testing::TestDir dir;
  auto store = StateStore::Open(dir.file("state.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  ChangeFeed feed;
  (*store)->set_feed(&feed);
  pgan::v1::Job job;
  job.set_id("j1");
  job.set_owner("alice");
  job.set_state(pgan::v1::JOB_STATE_QUEUED);
  job.set_pending_reason("needs 2 workers");
  ASSERT_TRUE((*store)->InsertJob(job).ok());
  EXPECT_FALSE((*store)->InsertJob(job).ok());  // Taken: nothing published.
  job.set_pending_reason("needs 2 workers, 1 idle");
  ASSERT_TRUE((*store)->UpdateJob(job).ok());  // Same state: no history.
  job.set_state(pgan::v1::JOB_STATE_RUNNING);
  job.clear_pending_reason();
  job.set_generation(1);
  ASSERT_TRUE((*store)->UpdateJob(job).ok());
  pgan::v1::TickRecord tick;
  tick.set_tick(1);
  ASSERT_TRUE((*store)->RecordTick("j1", tick).ok());
  pgan::v1::Snapshot snapshot;
  snapshot.set_job_id("j1");
  snapshot.set_path("/out/s.safetensors");
  ASSERT_TRUE((*store)->RecordSnapshot(snapshot).ok());
  job.set_state(pgan::v1::JOB_STATE_FAILED);
  job.set_failure_reason("out of memory");
  ASSERT_TRUE((*store)->UpdateJob(job).ok());
  pgan::v1::Job missing = job;
  missing.set_id("j2");
  EXPECT_EQ((*store)->UpdateJob(missing).code(), absl::StatusCode::kNotFound);

  const ChangeFeed::Batch batch = feed.Wait(0, absl::Now());
  ASSERT_EQ(batch.changes.size(), 6u);
  for (const auto& change : batch.changes) {
    EXPECT_EQ(change->owner, "alice");
    EXPECT_EQ(change->job_id, "j1");
    EXPECT_EQ(change->event.job_id(), "j1");
  }
  EXPECT_EQ(batch.changes[1]->event.job().pending_reason(),
            "needs 2 workers, 1 idle");
  EXPECT_TRUE(batch.changes[3]->event.has_tick());
  EXPECT_TRUE(batch.changes[4]->event.has_snapshot());
  EXPECT_EQ(batch.changes[5]->event.job().state(), pgan::v1::JOB_STATE_FAILED);

  auto history = (*store)->History("j1");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].state(), pgan::v1::JOB_STATE_QUEUED);
  EXPECT_EQ((*history)[0].reason(), "needs 2 workers");
  EXPECT_EQ((*history)[1].state(), pgan::v1::JOB_STATE_RUNNING);
  EXPECT_EQ((*history)[1].generation(), 1);
  EXPECT_EQ((*history)[2].state(), pgan::v1::JOB_STATE_FAILED);
  EXPECT_EQ((*history)[2].reason(), "out of memory");
  EXPECT_TRUE((*store)->History("j2")->empty());
}

}  // namespace
}  // namespace pgan::services
