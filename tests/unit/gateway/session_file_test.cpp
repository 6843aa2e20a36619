// Saved sessions: what a restarted cluster process RESUMEs from. A save replaces the file
// whole; a corrupt or misplaced file is ignored (and reported), never trusted; a session of
// another bot, API or layout, or one that says nothing of where it belongs, is not resumed.

#include "gateway/session_file.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace shardline::gateway {
namespace {

namespace fs = std::filesystem;
using shardline::test::TempDir;

constexpr const char* kApi = "https://discord.com/api/v10";
constexpr const char* kToken = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.bot-token-of-this-process";

SessionBinding here() { return SessionBinding(kApi, kToken); }

SavedSession sample(std::uint32_t id = 3, std::uint32_t count = 8) {
  SavedSession s;
  s.shard_id = id;
  s.shard_count = count;
  s.session_id = "e7f1c2d3a4b5";
  s.seq = 18446744073709551000ULL; // beyond int64: must survive the JSON round trip
  s.resume_url = "wss://gateway-us-east1-b.discord.gg";
  s.saved_at_unix_ms = 1767225600123;
  return s;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void expect_same(const SavedSession& a, const SavedSession& b) {
  EXPECT_EQ(a.shard_id, b.shard_id);
  EXPECT_EQ(a.shard_count, b.shard_count);
  EXPECT_EQ(a.session_id, b.session_id);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.resume_url, b.resume_url);
  EXPECT_EQ(a.saved_at_unix_ms, b.saved_at_unix_ms);
}

TEST(GatewaySessionFile, SaveThenLoadRoundTrips) {
  TempDir tmp;
  SessionFileStore store(tmp.path(), here());
  std::string error;
  ASSERT_TRUE(store.save(sample(), error)) << error;
  EXPECT_EQ(store.path_of(3, 8), tmp.path() / "shard-3-of-8.json");
  EXPECT_TRUE(fs::exists(tmp.path() / "shard-3-of-8.json"));
  const auto loaded = store.load(3, 8, &error);
  ASSERT_TRUE(loaded.has_value()) << error;
  expect_same(*loaded, sample());
}

TEST(GatewaySessionFile, SaveCreatesTheDirectory) {
  TempDir tmp;
  SessionFileStore store(tmp.path() / "data" / "shard_manager", here());
  std::string error;
  ASSERT_TRUE(store.save(sample(0, 1), error)) << error;
  EXPECT_TRUE(fs::is_regular_file(tmp.path() / "data" / "shard_manager" / "shard-0-of-1.json"));
}

TEST(GatewaySessionFile, SaveReplacesThePreviousStateAndLeavesNoTemporaryFiles) {
  TempDir tmp;
  SessionFileStore store(tmp.path(), here());
  std::string error;
  auto s = sample(0, 2);
  ASSERT_TRUE(store.save(s, error)) << error;
  s.seq = 7;
  s.session_id = "second";
  ASSERT_TRUE(store.save(s, error)) << error;
  const auto loaded = store.load(0, 2);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->seq, 7u);
  EXPECT_EQ(loaded->session_id, "second");

  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"shard-0-of-2.json"});
}

// Shard layouts are kept apart: the same shard id under another shard count is another
// session (Discord lets both run side by side during a re-shard).
TEST(GatewaySessionFile, LayoutsDoNotShareFiles) {
  TempDir tmp;
  SessionFileStore store(tmp.path(), here());
  std::string error;
  ASSERT_TRUE(store.save(sample(1, 4), error)) << error;
  EXPECT_FALSE(store.load(1, 8).has_value());
  EXPECT_FALSE(store.load(2, 4).has_value());
  EXPECT_TRUE(store.load(1, 4).has_value());
}

TEST(GatewaySessionFile, MissingFileIsAbsentWithoutError) {
  TempDir tmp;
  SessionFileStore store(tmp.path() / "never-created", here());
  std::string error = "stale";
  EXPECT_FALSE(store.load(0, 1, &error).has_value());
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_FALSE(store.load(0, 1).has_value());
}

TEST(GatewaySessionFile, CorruptFilesAreAbsentAndReported) {
  const char* cases[] = {
      "",
      "{",
      "garbage",
      "[]",
      R"({"version":1,"shard_id":0,"shard_count":1,"seq":5,"resume_url":"wss://x","saved_at_unix_ms":1})",
      R"({"version":1,"shard_id":0,"shard_count":1,"session_id":"","seq":5,"resume_url":"wss://x","saved_at_unix_ms":1})",
      R"({"version":1,"shard_id":0,"shard_count":1,"session_id":"s","seq":-5,"resume_url":"wss://x","saved_at_unix_ms":1})",
      R"({"version":1,"shard_id":0,"shard_count":1,"session_id":"s","seq":"5","resume_url":"wss://x","saved_at_unix_ms":1})",
      R"({"version":1,"shard_id":0,"shard_count":1,"session_id":"s","seq":5,"resume_url":7,"saved_at_unix_ms":1})",
      R"({"version":1,"shard_id":"0","shard_count":1,"session_id":"s","seq":5,"resume_url":"wss://x","saved_at_unix_ms":1})",
      R"({"version":2,"shard_id":0,"shard_count":1,"session_id":"s","seq":5,"resume_url":"wss://x","saved_at_unix_ms":1})",
      R"({"version":1,"shard_id":0,"shard_count":1,"session_id":"s","seq":5,"resume_url":"wss://x"})",
  };
  for (const char* c : cases) {
    TempDir tmp;
    tmp.write("shard-0-of-1.json", c);
    SessionFileStore store(tmp.path(), here());
    std::string error;
    EXPECT_FALSE(store.load(0, 1, &error).has_value()) << c;
    EXPECT_NE(error.find("shard-0-of-1.json"), std::string::npos) << c << " -> " << error;
  }
}

// A file copied or renamed onto another shard's name must not make that shard resume a
// session it does not own.
TEST(GatewaySessionFile, FileWhoseContentsDisagreeWithItsNameIsIgnored) {
  TempDir tmp;
  SessionFileStore store(tmp.path(), here());
  std::string error;
  ASSERT_TRUE(store.save(sample(1, 2), error)) << error;
  fs::copy_file(store.path_of(1, 2), store.path_of(0, 2));
  fs::copy_file(store.path_of(1, 2), store.path_of(1, 3));
  EXPECT_FALSE(store.load(0, 2, &error).has_value());
  EXPECT_NE(error.find("shard 1 of 2"), std::string::npos) << error;
  EXPECT_FALSE(store.load(1, 3, &error).has_value());
  EXPECT_FALSE(error.empty());
}

// What a crash halfway through a save leaves behind (a temporary file next to the real one)
// does not disturb the previous state.
TEST(GatewaySessionFile, LeftoverTemporaryFileDoesNotReplaceTheSavedState) {
  TempDir tmp;
  SessionFileStore store(tmp.path(), here());
  std::string error;
  ASSERT_TRUE(store.save(sample(0, 1), error)) << error;
  tmp.write("shard-0-of-1.json.tmp-a1b2c3", R"({"version":1,"shard_id":0,"sha)");
  const auto loaded = store.load(0, 1, &error);
  ASSERT_TRUE(loaded.has_value()) << error;
  expect_same(*loaded, sample(0, 1));
  auto next = sample(0, 1);
  next.seq = 99;
  ASSERT_TRUE(store.save(next, error)) << error;
  EXPECT_EQ(store.load(0, 1)->seq, 99u);
}

TEST(GatewaySessionFile, RemoveDeletesAndToleratesMissing) {
  TempDir tmp;
  SessionFileStore store(tmp.path(), here());
  std::string error;
  ASSERT_TRUE(store.save(sample(2, 4), error)) << error;
  store.remove(2, 4);
  EXPECT_FALSE(fs::exists(store.path_of(2, 4)));
  EXPECT_FALSE(store.load(2, 4).has_value());
  store.remove(2, 4);
  SessionFileStore elsewhere(tmp.path() / "missing-dir", here());
  elsewhere.remove(0, 1);
}

TEST(GatewaySessionFile, SaveFailureIsReportedNotThrown) {
  TempDir tmp;
  const auto blocker = tmp.write("not-a-dir", "x"); // a file where the directory should be
  SessionFileStore store(blocker / "sessions", here());
  std::string error;
  EXPECT_FALSE(store.save(sample(), error));
  EXPECT_FALSE(error.empty());
}

TEST(GatewaySessionFile, FileIsReadableJson) {
  TempDir tmp;
  SessionFileStore store(tmp.path(), here());
  std::string error;
  ASSERT_TRUE(store.save(sample(3, 8), error)) << error;
  const std::string text = read_file(store.path_of(3, 8));
  EXPECT_NE(text.find(R"("session_id":"e7f1c2d3a4b5")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("resume_url":"wss://gateway-us-east1-b.discord.gg")"), std::string::npos) << text;
}

// ---- bindings ---------------------------------------------------------------------------------

// The data directory of another environment (a simulator's, another bot's) must not make a
// shard resume there; each part of the binding counts on its own, and the reason names it.
TEST(GatewaySessionFile, ASessionOfAnotherApiOrTokenIsNotResumedAndTheReasonSaysWhich) {
  TempDir tmp;
  std::string error;
  ASSERT_TRUE(SessionFileStore(tmp.path(), here()).save(sample(1, 4), error)) << error;

  SessionFileStore other_api(tmp.path(), SessionBinding("http://127.0.0.1:40123/api/v10", kToken));
  EXPECT_FALSE(other_api.load(1, 4, &error).has_value());
  EXPECT_NE(error.find("another DISCORD_API_URL"), std::string::npos) << error;
  EXPECT_NE(error.find("http://127.0.0.1:40123/api/v10"), std::string::npos) << "names the URL this process uses";

  SessionFileStore other_token(tmp.path(), SessionBinding(kApi, "another-bot-token"));
  EXPECT_FALSE(other_token.load(1, 4, &error).has_value());
  EXPECT_NE(error.find("another DISCORD_TOKEN"), std::string::npos) << error;
  EXPECT_EQ(error.find("another-bot-token"), std::string::npos) << "never a token in a message";

  // Only a trailing '/' apart: the same API.
  SessionFileStore same(tmp.path(), SessionBinding(std::string(kApi) + "/", kToken));
  const auto loaded = same.load(1, 4, &error);
  ASSERT_TRUE(loaded.has_value()) << error;
  expect_same(*loaded, sample(1, 4));
  EXPECT_EQ(loaded->binding, here().binding(4));
}

// The shard count is bound too, not only named in the file: a file edited (or written by a
// tool) to claim another layout is refused.
TEST(GatewaySessionFile, ASessionBoundToAnotherShardCountIsNotResumed) {
  TempDir tmp;
  SessionFileStore store(tmp.path(), here());
  std::string error;
  ASSERT_TRUE(store.save(sample(1, 4), error)) << error;
  std::string text = read_file(store.path_of(1, 4));
  const auto at = text.find(R"("shard_count":4)");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 15, R"("shard_count":8)");
  tmp.write("shard-1-of-8.json", text);
  EXPECT_FALSE(store.load(1, 8, &error).has_value());
  EXPECT_NE(error.find("shard-1-of-8.json"), std::string::npos) << error;
  EXPECT_NE(here().binding(4), here().binding(8));
  SavedSession s = sample(1, 4);
  here().bind(s);
  ASSERT_TRUE(here().refusal(s, 8).has_value());
  EXPECT_NE(here().refusal(s, 8)->find("layout of 4 shards"), std::string::npos);
  EXPECT_FALSE(here().refusal(s, 4).has_value());
}

// Files of a Shardline before bindings (and hand-written ones) say nothing of where they came
// from: not resumed (one IDENTIFY per shard, once, after the upgrade).
TEST(GatewaySessionFile, AnUnboundSessionIsNotResumed) {
  TempDir tmp;
  tmp.write("shard-0-of-1.json", R"({"version":1,"shard_id":0,"shard_count":1,"session_id":"s","seq":5,)"
                                 R"("resume_url":"wss://x","saved_at_unix_ms":1})");
  SessionFileStore store(tmp.path(), here());
  std::string error;
  EXPECT_FALSE(store.load(0, 1, &error).has_value());
  EXPECT_NE(error.find("not bound"), std::string::npos) << error;
  // A binding that is not a string is a corrupt file.
  tmp.write("shard-0-of-1.json", R"({"version":1,"shard_id":0,"shard_count":1,"session_id":"s","seq":5,)"
                                 R"("resume_url":"wss://x","saved_at_unix_ms":1,"binding":7})");
  EXPECT_FALSE(store.load(0, 1, &error).has_value());
  EXPECT_NE(error.find("invalid binding"), std::string::npos) << error;
}

// The file holds digests: neither the token nor the API URL can be read from it.
TEST(GatewaySessionFile, TheFileHoldsNeitherTheTokenNorTheApiUrl) {
  TempDir tmp;
  SessionFileStore store(tmp.path(), here());
  std::string error;
  ASSERT_TRUE(store.save(sample(3, 8), error)) << error;
  const std::string text = read_file(store.path_of(3, 8));
  EXPECT_EQ(text.find(kToken), std::string::npos) << text;
  EXPECT_EQ(text.find("discord.com/api"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("binding":")" + here().binding(8) + '"'), std::string::npos) << text;
}

} // namespace
} // namespace shardline::gateway
