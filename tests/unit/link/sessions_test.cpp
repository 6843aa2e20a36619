// The link's side of shard sessions (docs/protocol.md, "Shard sessions") against a real hub on
// loopback: reports, lookups from another process, deletions, and what admins may not do.

#include "link/loopback_hub.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace shardline::link {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackHub;

const std::string kUrl = "wss://gateway-us-east1-b.discord.gg";

std::vector<ReportedSession> one(std::uint32_t shard, std::string id, std::uint64_t seq, std::string url) {
  return {ReportedSession{shard, std::move(id), seq, std::move(url)}};
}

// Bounded wait for a link to come up (the link has no "linked" event to await).
asio::awaitable<bool> linked(asio::io_context& io, HubLink& link) {
  asio::steady_timer t(io);
  for (int i = 0; i < 500 && !link.linked(); ++i) {
    t.expires_after(10ms);
    co_await t.async_wait(asio::use_awaitable);
  }
  co_return link.linked();
}

TEST(LinkSessions, ReportThenLookupFromAnotherProcess) {
  LoopbackHub h;
  auto a = h.link("alpha");
  auto b = h.link("beta");
  auto adm = h.link("dash", true);
  bool done = false;
  bool before = true, admin_report = true;
  std::optional<std::vector<ReportedSession>> got, unlinked, after_delete, admin_lookup;
  // Built outside the coroutine: g++ 12 rejects initializer lists inside it ("array used as
  // initializer").
  std::vector<ReportedSession> four;
  for (std::uint32_t i = 0; i < 4; ++i) four.push_back(one(i, "sess" + std::to_string(i), 100 + i, kUrl)[0]);
  four.push_back(one(9, "bad-shard", 1, kUrl)[0]);     // left out by the link, not sent
  four.push_back(one(1, "bad url", 1, "http://x")[0]); // likewise: the other entries still go
  const auto early = one(0, "s0", 1, kUrl), invalidated = one(2, "", 0, ""), forged = one(0, "x", 1, kUrl);
  const std::vector<std::uint32_t> shard0{0}, all4{0, 1, 2, 3}, mixed{3, 0, 1, 2, 2, 7};
  asio::co_spawn(
      h.io,
      [&]() -> asio::awaitable<void> {
        before = a->report_sessions(4, early);
        unlinked = co_await a->lookup_sessions(4, shard0, 1s);
        a->start();
        b->start();
        adm->start();
        EXPECT_TRUE(co_await linked(h.io, *a));
        EXPECT_TRUE(co_await linked(h.io, *b));
        EXPECT_TRUE(co_await linked(h.io, *adm));
        EXPECT_TRUE(a->report_sessions(4, four));
        // Frames on one link arrive in order: alpha's lookup after its report sees it stored.
        auto own = co_await a->lookup_sessions(4, shard0, 5s);
        EXPECT_TRUE(own && own->size() == 1u);
        got = co_await b->lookup_sessions(4, mixed, 5s);
        EXPECT_TRUE(a->report_sessions(4, invalidated)); // Discord invalidated shard 2
        (void)co_await a->lookup_sessions(4, shard0, 5s);        // ordering barrier, as above
        after_delete = co_await b->lookup_sessions(4, all4, 5s);
        admin_report = adm->report_sessions(4, forged);
        admin_lookup = co_await adm->lookup_sessions(4, shard0, 1s);
        a->stop();
        b->stop();
        adm->stop();
        h.hub->stop();
        done = true;
      },
      asio::detached);
  h.io.run_for(20s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(before);
  EXPECT_FALSE(unlinked);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i) {
    const auto& s = (*got)[i];
    const std::uint32_t want = i == 0 ? 3 : i - 1; // the order asked, duplicates once
    EXPECT_EQ(s.shard_id, want);
    EXPECT_EQ(s.session_id, "sess" + std::to_string(want));
    EXPECT_EQ(s.seq, 100u + want);
    EXPECT_EQ(s.resume_url, kUrl);
  }
  ASSERT_TRUE(after_delete);
  ASSERT_EQ(after_delete->size(), 3u);
  for (auto& s : *after_delete) EXPECT_NE(s.shard_id, 2u);
  EXPECT_FALSE(admin_report); // admins may not report sessions...
  EXPECT_FALSE(admin_lookup); // ...nor see them
}

} // namespace
} // namespace shardline::link
