// The link's reconnection (docs/protocol.md §8): it comes back by itself when the hub returns,
// backs off while it cannot, fails waiting requests at once when the link drops, and says why.

#include "link/loopback_hub.hpp"

#include <gtest/gtest.h>

namespace shardline::link {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackHub;

struct Seen {
  bool first = false, dropped = false, back = false;
  std::optional<Result<Reply>> during_outage;
  std::uint64_t connects = 0;
  std::string last_error;
  steady::duration outage{};
};

// The hub stops, the link notices, a new hub comes up on the same port, and the link is back.
asio::awaitable<void> outage(LoopbackHub* h, std::shared_ptr<HubLink> link, Seen* seen) {
  link->start();
  seen->first = co_await link->wait_linked(steady::now() + 5s);
  const auto port = h->port;
  h->hub->stop();
  asio::steady_timer t(h->io);
  for (auto deadline = steady::now() + 5s; link->linked() && steady::now() < deadline;) {
    t.expires_after(5ms);
    co_await t.async_wait(asio::use_awaitable);
  }
  seen->dropped = !link->linked();
  seen->during_outage = co_await link->request("stats_request", {}, "all", 2s);
  auto options = h->options;
  options.port = port;
  h->hub = std::make_unique<hub::Hub>(h->io, options);
  auto relisten = h->hub->listen();
  EXPECT_TRUE(relisten) << relisten.error().message;
  h->hub->start();
  const auto t0 = steady::now();
  seen->back = co_await link->wait_linked(steady::now() + 5s);
  seen->outage = steady::now() - t0;
  seen->connects = link->status().connects;
  link->stop();
  h->hub->stop();
}

TEST(LinkReconnect, ComesBackWhenTheHubReturns) {
  LoopbackHub h;
  auto lo = h.link_options("c1");
  lo.reconnect = true;
  lo.reconnect_min = 20ms;
  lo.reconnect_max = 100ms;
  Seen seen;
  asio::co_spawn(h.io, outage(&h, HubLink::create(h.io, lo, nullptr), &seen), asio::detached);
  h.io.run_for(20s);
  EXPECT_TRUE(seen.first);
  EXPECT_TRUE(seen.dropped);
  ASSERT_TRUE(seen.during_outage);
  ASSERT_FALSE(*seen.during_outage);
  EXPECT_TRUE(seen.during_outage->error().is(Errc::not_connected)); // at once, not after 2 s
  EXPECT_TRUE(seen.back);
  EXPECT_LT(seen.outage, 2s); // backoff capped at 100 ms here
  EXPECT_EQ(seen.connects, 2u);
}

asio::awaitable<void> refused(LoopbackHub* h, std::shared_ptr<HubLink> link, Seen* seen) {
  link->start();
  seen->first = co_await link->wait_linked(steady::now() + 500ms);
  seen->connects = link->status().connects;
  seen->last_error = link->status().last_error;
  link->stop();
  h->hub->stop();
}

TEST(LinkReconnect, AWrongSecretNeverLinksAndSaysWhy) {
  LoopbackHub h;
  auto lo = h.link_options("c1");
  lo.secret = "not-the-hub-secret-0123456789";
  lo.reconnect = true;
  lo.reconnect_min = 20ms;
  lo.reconnect_max = 50ms;
  Seen seen;
  asio::co_spawn(h.io, refused(&h, HubLink::create(h.io, lo, nullptr), &seen), asio::detached);
  h.io.run_for(10s);
  EXPECT_FALSE(seen.first);
  EXPECT_EQ(seen.connects, 0u);
  EXPECT_NE(seen.last_error.find("check SHARD_IPC_SECRET"), std::string::npos) << seen.last_error;
}

} // namespace
} // namespace shardline::link
