// The link's side of IDENTIFY slots (docs/protocol.md §11) against a real hub on loopback:
// grants, refusals, and a link that drops while a request waits.

#include "link/loopback_hub.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace shardline::link {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackHub;
using Slot = Result<protocol::IdentifyGrant>;

protocol::IdentifyRequest ask(std::uint32_t shard, std::uint32_t count, std::uint32_t window_ms = 5000,
                              std::optional<protocol::SessionBudget> budget = std::nullopt) {
  return protocol::IdentifyRequest{shard, count, 1, window_ms, budget};
}

// Coroutines take their state by pointer or value (g++ 12 miscompiles capturing coroutine
// lambdas); the io_context is run to the end by the test, so the pointers stay valid.
asio::awaitable<void> grant_then_hub_goes_away(LoopbackHub* h, std::shared_ptr<HubLink> link, std::vector<Slot>* out,
                                               steady::duration* second_wait) {
  out->push_back(co_await link->request_identify_slot(ask(0, 2), 2s)); // not linked yet
  link->start();
  EXPECT_TRUE(co_await link->wait_linked(steady::now() + 5s));
  out->push_back(co_await link->request_identify_slot(ask(0, 2, 60'000, protocol::SessionBudget{1000, 500, 3'600'000}), 5s));
  // Same bucket, 60 s window: this one waits at the hub until the hub goes away.
  asio::post(h->io, [h] { h->hub->stop(); });
  auto start = steady::now();
  out->push_back(co_await link->request_identify_slot(ask(1, 2, 60'000), 30s));
  *second_wait = steady::now() - start;
  link->stop();
}

// A grant, then a link that drops while a request waits must answer not_connected at once, not
// after its timeout.
TEST(LinkIdentifySlots, GrantThenNotLinkedWhenTheHubGoesAway) {
  LoopbackHub h;
  auto lo = h.link_options("c1");
  lo.shard_ids = {0, 1};
  lo.shard_count = 2;
  auto link = HubLink::create(h.io, lo, nullptr);
  std::vector<Slot> results;
  steady::duration second_wait{};
  asio::co_spawn(h.io, grant_then_hub_goes_away(&h, link, &results, &second_wait), asio::detached);
  h.io.run_for(20s);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_FALSE(results[0]);
  EXPECT_TRUE(results[0].error().is(Errc::not_connected));
  ASSERT_TRUE(results[1]) << results[1].error().message;
  EXPECT_EQ(results[1]->remaining, 499u);
  ASSERT_FALSE(results[2]);
  EXPECT_TRUE(results[2].error().is(Errc::not_connected)) << results[2].error().message;
  EXPECT_LT(second_wait, 5s);
}

asio::awaitable<void> refusals(LoopbackHub* h, std::shared_ptr<HubLink> link, std::vector<Slot>* out) {
  link->start();
  EXPECT_TRUE(co_await link->wait_linked(steady::now() + 5s));
  out->push_back(co_await link->request_identify_slot(ask(0, 1, 5000, protocol::SessionBudget{1000, 10, 5000}), 5s));
  out->push_back(co_await link->request_identify_slot(ask(3, 2), 5s)); // shard_id >= shard_count
  link->stop();
  h->hub->stop();
}

TEST(LinkIdentifySlots, BudgetRefusalAndBadRequestReachTheCaller) {
  hub::HubOptions ho;
  ho.identify_reserve = 10;
  LoopbackHub h(ho);
  std::vector<Slot> results;
  asio::co_spawn(h.io, refusals(&h, h.link("c1"), &results), asio::detached);
  h.io.run_for(20s);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_FALSE(results[0]);
  EXPECT_TRUE(results[0].error().is(Errc::busy));
  EXPECT_EQ(results[0].error().message, "session_start_limit: 10 IDENTIFYs left, keeping 10 in reserve; resets in 5 s");
  ASSERT_FALSE(results[1]);
  EXPECT_TRUE(results[1].error().is(Errc::bad_input));
  EXPECT_NE(results[1].error().message.find("bad_request"), std::string::npos) << results[1].error().message;
}

} // namespace
} // namespace shardline::link
