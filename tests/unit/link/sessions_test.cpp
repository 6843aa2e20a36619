// The link's side of shard sessions (docs/protocol.md §12) against a real hub on loopback:
// reports, lookups from another process, deletions, and what admins may not do.

#include "link/loopback_hub.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace shardline::link {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackHub;
using Sessions = std::vector<protocol::ShardSession>;

const std::string kUrl = "wss://gateway-us-east1-b.discord.gg";

protocol::ShardSession session(std::uint32_t shard, std::string id, std::uint64_t seq, std::string url) {
  return protocol::ShardSession{shard, 4, std::move(id), seq, std::move(url)};
}

struct Outcome {
  bool done = false;
  Result<void> before, admin_report;
  std::optional<Result<Sessions>> own, got, unlinked, after_delete, admin_lookup;
};

// Takes its state by pointer (g++ 12 miscompiles capturing coroutine lambdas); the io_context
// is run to the end by the test, so the pointers stay valid.
asio::awaitable<void> report_and_look_up(LoopbackHub* h, std::shared_ptr<HubLink> a, std::shared_ptr<HubLink> b,
                                         std::shared_ptr<HubLink> adm, Outcome* out) {
  Sessions four;
  for (std::uint32_t i = 0; i < 4; ++i) four.push_back(session(i, "sess" + std::to_string(i), 100 + i, kUrl));
  // Bindings travel with their sessions (none on shard 0); one the hub would refuse (shard 3)
  // goes as none rather than sinking the report.
  four[1].binding = std::string(64, 'b');
  four[2].binding = "c0ffee";
  four[3].binding = "not a binding!";
  four.push_back(session(9, "bad-shard", 1, kUrl));     // left out by the link, not sent
  four.push_back(session(1, "bad url", 1, "http://x")); // likewise: the other entries still go
  const std::vector<std::uint32_t> shard0{0}, all4{0, 1, 2, 3}, mixed{3, 0, 1, 2, 2, 7};

  out->before = a->report_sessions(4, {session(0, "s0", 1, kUrl)});
  out->unlinked = co_await a->lookup_sessions(4, shard0, 1s);
  a->start();
  b->start();
  adm->start();
  for (auto* l : {a.get(), b.get(), adm.get()}) EXPECT_TRUE(co_await l->wait_linked(steady::now() + 5s));
  EXPECT_TRUE(a->report_sessions(4, four));
  // Frames on one link arrive in order: alpha's lookup after its report sees it stored.
  out->own = co_await a->lookup_sessions(4, shard0, 5s);
  out->got = co_await b->lookup_sessions(4, mixed, 5s);
  EXPECT_TRUE(a->report_sessions(4, {session(2, "", 0, "")})); // Discord invalidated shard 2
  (void)co_await a->lookup_sessions(4, shard0, 5s);             // ordering barrier, as above
  out->after_delete = co_await b->lookup_sessions(4, all4, 5s);
  out->admin_report = adm->report_sessions(4, {session(0, "x", 1, kUrl)});
  out->admin_lookup = co_await adm->lookup_sessions(4, shard0, 1s);
  a->stop();
  b->stop();
  adm->stop();
  h->hub->stop();
  out->done = true;
}

TEST(LinkSessions, ReportThenLookupFromAnotherProcess) {
  LoopbackHub h;
  Outcome o;
  asio::co_spawn(h.io, report_and_look_up(&h, h.link("alpha"), h.link("beta"), h.link("dash", true), &o),
                 asio::detached);
  h.io.run_for(20s);
  ASSERT_TRUE(o.done);
  ASSERT_FALSE(o.before);
  EXPECT_TRUE(o.before.error().is(Errc::not_connected));
  ASSERT_TRUE(o.unlinked && !*o.unlinked);
  EXPECT_TRUE(o.unlinked->error().is(Errc::not_connected));
  ASSERT_TRUE(o.own && *o.own) << o.own->error().message;
  EXPECT_EQ((*o.own)->size(), 1u);
  ASSERT_TRUE(o.got && *o.got) << o.got->error().message;
  auto& got = **o.got;
  ASSERT_EQ(got.size(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i) {
    const auto& s = got[i];
    const std::uint32_t want = i == 0 ? 3 : i - 1; // the order asked, duplicates once
    EXPECT_EQ(s.shard_id, want);
    EXPECT_EQ(s.shard_count, 4u);
    EXPECT_EQ(s.session_id, "sess" + std::to_string(want));
    EXPECT_EQ(s.seq, 100u + want);
    EXPECT_EQ(s.resume_url, kUrl);
    const char* binding[] = {"", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "c0ffee", ""};
    EXPECT_EQ(s.binding, binding[want]) << want;
  }
  ASSERT_TRUE(o.after_delete && *o.after_delete);
  ASSERT_EQ((*o.after_delete)->size(), 3u);
  for (auto& s : **o.after_delete) EXPECT_NE(s.shard_id, 2u);
  // Admins may not report sessions, nor see them.
  ASSERT_FALSE(o.admin_report);
  EXPECT_TRUE(o.admin_report.error().is(Errc::unsupported));
  ASSERT_TRUE(o.admin_lookup && !*o.admin_lookup);
}

} // namespace
} // namespace shardline::link
