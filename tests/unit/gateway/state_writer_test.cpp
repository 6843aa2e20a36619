// The writer thread of the shards' saved state: jobs in the order posted, flush() as a barrier
// for the final durable save, discard() for a superseded process.
#include "gateway/state_writer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace shardline::gateway {
namespace {

TEST(StateWriter, RunsJobsInTheOrderPostedOffTheCallersThread) {
  StateWriter w;
  std::mutex m;
  std::vector<int> ran;
  std::atomic<bool> on_caller{false};
  const auto caller = std::this_thread::get_id();
  for (int i = 0; i < 200; ++i)
    w.post([&, i] {
      if (std::this_thread::get_id() == caller) on_caller = true;
      std::lock_guard lock(m);
      ran.push_back(i);
    });
  w.flush();
  std::lock_guard lock(m);
  ASSERT_EQ(ran.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(ran[i], i);
  EXPECT_FALSE(on_caller);
}

TEST(StateWriter, FlushWaitsForASlowJobPostedBeforeIt) {
  StateWriter w;
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<bool> done{false};
  w.post([gate, &done] {
    gate.wait();
    done = true;
  });
  auto flushed = std::async(std::launch::async, [&w] { w.flush(); });
  // The job is held: flush must not have returned.
  EXPECT_EQ(flushed.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  release.set_value();
  ASSERT_EQ(flushed.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(done);
}

TEST(StateWriter, DiscardDropsQueuedAndLaterJobsButFlushStillReturns) {
  StateWriter w;
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::promise<void> started;
  std::atomic<int> ran{0};
  w.post([gate, &ran, &started] {
    started.set_value();
    gate.wait(); // started before discard(): it finishes
    ++ran;
  });
  w.post([&ran] { ran += 10; }); // queued behind it: dropped
  started.get_future().wait();
  w.discard();
  w.post([&ran] { ran += 100; }); // after: dropped
  release.set_value();
  w.flush();
  EXPECT_EQ(ran, 1);
}

TEST(StateWriter, DestructionRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    StateWriter w;
    for (int i = 0; i < 50; ++i) w.post([&ran] { ++ran; });
  }
  EXPECT_EQ(ran, 50);
}

} // namespace
} // namespace shardline::gateway
