// The link's side of IDENTIFY slots (docs/protocol.md, "IDENTIFY slots") against a real hub on
// loopback: grants, refusals and a link that drops while a request waits.

#include "link/loopback_hub.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace shardline::link {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackHub;
using steady = std::chrono::steady_clock;

// The client API against a real hub on loopback: a grant, then a link that drops while a
// request waits must answer not_linked at once, not after its timeout.
TEST(LinkIdentifySlots, GrantThenNotLinkedWhenTheHubGoesAway) {
  LoopbackHub h;
  auto& io = h.io;
  auto lo = h.link_options("c1");
  lo.shard_ids = {0, 1};
  lo.shard_count = 2;
  auto link = HubLink::create(io, lo, nullptr);

  std::vector<IdentifySlotResult> results;
  steady::duration second_wait{};
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto before = co_await link->request_identify_slot({0, 2, 1}, 2s);
        results.push_back(before); // not linked yet
        link->start();
        asio::steady_timer t(io);
        for (int i = 0; i < 200 && !link->linked(); ++i) {
          t.expires_after(10ms);
          co_await t.async_wait(asio::use_awaitable);
        }
        IdentifySlotRequest r{0, 2, 1, 60'000, SessionBudget{1000, 500, 3'600'000}};
        results.push_back(co_await link->request_identify_slot(r, 5s));
        // Same bucket, 60 s window: this one waits at the hub until the hub goes away.
        asio::post(io, [&] { h.hub->stop(); });
        auto start = steady::now();
        results.push_back(co_await link->request_identify_slot({1, 2, 1, 60'000}, 30s));
        second_wait = steady::now() - start;
        link->stop();
        done = true;
      },
      asio::detached);
  io.run_for(20s);
  ASSERT_TRUE(done);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].status, IdentifySlotResult::Status::not_linked);
  EXPECT_EQ(results[1].status, IdentifySlotResult::Status::granted) << results[1].message;
  EXPECT_EQ(results[1].remaining, 499u);
  EXPECT_EQ(results[2].status, IdentifySlotResult::Status::not_linked) << results[2].message;
  EXPECT_LT(second_wait, 5s);
}

TEST(LinkIdentifySlots, BudgetRefusalAndBadRequestReachTheCaller) {
  hub::HubOptions ho;
  ho.identify_reserve = 10;
  LoopbackHub h(ho);
  auto& io = h.io;
  auto link = h.link("c1");
  std::vector<IdentifySlotResult> results;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        link->start();
        asio::steady_timer t(io);
        for (int i = 0; i < 200 && !link->linked(); ++i) {
          t.expires_after(10ms);
          co_await t.async_wait(asio::use_awaitable);
        }
        results.push_back(co_await link->request_identify_slot({0, 1, 1, 5000, SessionBudget{1000, 10, 5000}}, 5s));
        results.push_back(co_await link->request_identify_slot({3, 2, 1}, 5s)); // shard_id >= shard_count
        link->stop();
        h.hub->stop();
      },
      asio::detached);
  io.run_for(20s);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status, IdentifySlotResult::Status::refused_budget);
  EXPECT_EQ(results[0].message, "session_start_limit: 10 IDENTIFYs left, keeping 10 in reserve; resets in 5 s");
  EXPECT_EQ(results[1].status, IdentifySlotResult::Status::error);
  EXPECT_NE(results[1].message.find("bad_request"), std::string::npos) << results[1].message;
}

} // namespace
} // namespace shardline::link
