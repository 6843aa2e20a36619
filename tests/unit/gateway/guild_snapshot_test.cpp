// Guild lists saved beside a session: what a restarted process that RESUMEs reports.

#include "gateway/guild_snapshot.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace shardline::gateway;

namespace {

std::filesystem::path scratch_dir(const char* name) {
  auto d = std::filesystem::temp_directory_path() / ("shardline-guilds-" + std::string(name) + "-" +
                                                     std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::remove_all(d);
  return d;
}

} // namespace

TEST(GatewayGuildSnapshot, RoundTripsForTheSameSessionOnly) {
  auto dir = scratch_dir("roundtrip");
  GuildSnapshotStore store(dir / "sessions");
  std::vector<GuildRecord> guilds{{175928847299117063ull, 12345, false}, {1ull << 60, 0, true}, {42, 7, false}};
  std::string error;
  ASSERT_TRUE(store.save(3, 8, "abc123", guilds, error)) << error;
  auto back = store.load(3, 8, "abc123");
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ((*back)[0].id, 175928847299117063ull);
  EXPECT_EQ((*back)[0].member_count, 12345u);
  EXPECT_TRUE((*back)[1].unavailable);
  // Another session's list, or another layout's, is never used.
  EXPECT_FALSE(store.load(3, 8, "abc124"));
  EXPECT_FALSE(store.load(3, 16, "abc123"));
  EXPECT_FALSE(store.load(3, 8, "abc12"));
  // A new save replaces the old one.
  ASSERT_TRUE(store.save(3, 8, "abc123", {{1, 1, false}}, error));
  EXPECT_EQ(store.load(3, 8, "abc123")->size(), 1u);
  store.remove(3, 8);
  EXPECT_FALSE(store.load(3, 8, "abc123"));
  store.remove(3, 8); // missing is fine
  std::filesystem::remove_all(dir);
}

TEST(GatewayGuildSnapshot, TruncatedOrForeignFilesAreIgnored) {
  auto dir = scratch_dir("corrupt");
  GuildSnapshotStore store(dir);
  std::string error;
  ASSERT_TRUE(store.save(0, 1, "s", {{1, 2, false}, {3, 4, false}}, error)) << error;
  auto path = dir / "guilds-0-of-1.bin";
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 1); // a torn write
  EXPECT_FALSE(store.load(0, 1, "s"));
  std::ofstream(path, std::ios::trunc) << "not a snapshot at all";
  EXPECT_FALSE(store.load(0, 1, "s"));
  std::filesystem::remove_all(dir);
}
