// The guild cache kept across a cluster restart: read back only for the session it was saved
// with, and handed to clients that were waiting for the resumed shard's READY.

#include "proxy/cache_file.hpp"
#include "proxy/client_session.hpp"
#include "proxy/endpoint.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

namespace shardline::proxy {
namespace {

GuildCache ready_cache() {
  GuildCache c;
  c.apply("READY", R"({"v":10,"session_id":"s","resume_gateway_url":"wss://x","user":{"id":"42","username":"bot","bot":true},)"
                   R"("application":{"id":"42","flags":0},"guilds":[{"id":"100","unavailable":true}]})");
  c.apply("GUILD_CREATE", R"({"id":"100","name":"g","channels":[],"roles":[],"members":[]})");
  return c;
}

TEST(CacheFile, ReadsBackOnlyForTheSessionItWasSavedWith) {
  test::TempDir dir;
  ASSERT_TRUE(save_cache(dir.path(), 3, 8, "session-a", ready_cache()));
  std::string error;
  EXPECT_FALSE(load_cache(dir.path(), 3, 8, "session-b", {}, error)); // another session: not its cache
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_FALSE(load_cache(dir.path(), 3, 8, "session-a", {}, error)); // and it is gone once looked at
  ASSERT_TRUE(save_cache(dir.path(), 3, 8, "session-a", ready_cache()));
  EXPECT_FALSE(load_cache(dir.path(), 3, 16, "session-a", {}, error)); // another layout
  auto back = load_cache(dir.path(), 3, 8, "session-a", {}, error);
  ASSERT_TRUE(back) << error;
  EXPECT_TRUE(back->has_ready());
  EXPECT_EQ(back->available_guild_ids(), std::vector<std::uint64_t>{100});
}

TEST(CacheFile, ADamagedFileIsRefusedWithAReason) {
  test::TempDir dir;
  ASSERT_TRUE(save_cache(dir.path(), 0, 1, "s", ready_cache()));
  auto p = dir.path() / "cache-0-of-1.bin";
  std::filesystem::resize_file(p, std::filesystem::file_size(p) - 5);
  std::string error;
  EXPECT_FALSE(load_cache(dir.path(), 0, 1, "s", {}, error));
  EXPECT_FALSE(error.empty());
  dir.write("cache-0-of-1.bin", "not a cache");
  error.clear();
  EXPECT_FALSE(load_cache(dir.path(), 0, 1, "s", {}, error));
  EXPECT_FALSE(error.empty());
}

struct Out : ClientOutput {
  std::vector<std::string> frames;
  bool send(std::string f) override {
    frames.push_back(std::move(f));
    return true;
  }
  void close(std::uint16_t, std::string) override {}
};

TEST(CacheFile, ARestoredCacheStartsTheClientsWaitingForTheShard) {
  ManualClock clock;
  EndpointSettings s;
  s.token = "t";
  s.shard_count = 1;
  Endpoint ep(s, clock.clock());
  auto& feed = ep.add_shard(0);
  Out out;
  ClientSession c(ep, out);
  c.start();
  c.on_text(R"({"op":2,"d":{"token":"t","intents":1,"properties":{},"shard":[0,1]}})");
  ASSERT_EQ(out.frames.size(), 1u); // HELLO only: the shard has no READY yet
  feed.restore(ready_cache());
  ASSERT_EQ(out.frames.size(), 3u);
  EXPECT_NE(out.frames[1].find(R"("t":"READY")"), std::string::npos);
  EXPECT_NE(out.frames[2].find(R"("t":"GUILD_CREATE")"), std::string::npos);
}

} // namespace
} // namespace shardline::proxy
