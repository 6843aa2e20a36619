// The generated event stream: shapes, sizes, the intent each needs, determinism.

#include "sim/event_generator.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <map>

using namespace shardline;
using namespace shardline::sim;
namespace json = boost::json;

TEST(SimEventGenerator, EventsAreValidAndBelongToTheirGuild) {
  World w({200, 4});
  EventGenerator gen(w, 4);
  std::map<std::string, int> types;
  std::size_t bytes = 0;
  for (int i = 0; i < 2000; ++i) {
    auto ev = gen.next(1767225600000ULL + i);
    ASSERT_NE(ev.guild, nullptr);
    ++types[ev.type];
    bytes += ev.data.size();
    auto d = json::parse(ev.data).as_object();
    EXPECT_EQ(d.at("guild_id").as_string(), std::to_string(ev.guild->id)) << ev.type;
    std::string t = ev.type;
    if (t == "MESSAGE_CREATE") {
      EXPECT_EQ(ev.intent, intent::guild_messages);
      EXPECT_EQ(d.at("channel_id").as_string(), std::to_string(ev.guild->id + 1)); // #general
      EXPECT_FALSE(d.at("content").as_string().empty());
      EXPECT_EQ(World::unix_ms_of(std::stoull(std::string(d.at("id").as_string()))), 1767225600000ULL + i);
    } else if (t == "PRESENCE_UPDATE") {
      EXPECT_EQ(ev.intent, intent::guild_presences);
    } else if (t == "TYPING_START") {
      EXPECT_EQ(ev.intent, intent::guild_message_typing);
    } else {
      EXPECT_EQ(t, "GUILD_MEMBER_ADD");
      EXPECT_EQ(ev.intent, intent::guild_members);
    }
  }
  EXPECT_EQ(gen.generated(), 2000u);
  EXPECT_GT(types["MESSAGE_CREATE"], 1200);
  EXPECT_GT(types["PRESENCE_UPDATE"], 250);
  EXPECT_GT(types["TYPING_START"], 40);
  EXPECT_GT(types["GUILD_MEMBER_ADD"], 40);
  auto mean = bytes / 2000;
  EXPECT_GT(mean, 150u); // about the size of Discord's
  EXPECT_LT(mean, 700u);
}

TEST(SimEventGenerator, DeterministicFromSeed) {
  World w({50, 1});
  EventGenerator a(w, 9), b(w, 9);
  for (int i = 0; i < 100; ++i) {
    auto x = a.next(1000), y = b.next(1000);
    EXPECT_EQ(x.guild, y.guild);
    EXPECT_EQ(x.data, y.data);
  }
}

// `--stamp-events`: a MESSAGE_CREATE's nonce is its send time, the microseconds given, as a
// decimal string a client parses back; other kinds get no nonce, and without a stamp the stream
// is byte for byte what it was (the default, which every other test and benchmark uses).
TEST(SimEventGenerator, SendStampIsTheMessageNonce) {
  World w({50, 1});
  EventGenerator stamped(w, 3), plain(w, 3);
  int messages = 0;
  for (std::uint64_t i = 0; i < 400; ++i) {
    const std::uint64_t send_us = 1767225600000000ULL + i * 137;
    auto s = stamped.next(1767225600000ULL, send_us);
    auto p = plain.next(1767225600000ULL);
    ASSERT_EQ(std::string(s.type), p.type);
    auto d = json::parse(s.data).as_object();
    auto without = json::parse(p.data).as_object();
    EXPECT_FALSE(without.contains("nonce"));
    if (std::string(s.type) == "MESSAGE_CREATE") {
      ++messages;
      ASSERT_TRUE(d.at("nonce").is_string());
      EXPECT_EQ(std::stoull(std::string(d.at("nonce").as_string())), send_us);
      EXPECT_LE(d.at("nonce").as_string().size(), 25u); // Discord's bound on a nonce
      d.erase("nonce");
      EXPECT_EQ(d, without); // the stamp is the only difference
    } else {
      EXPECT_EQ(s.data, p.data);
    }
  }
  EXPECT_GT(messages, 200);
}

TEST(SimEventGenerator, SendStampClockIsRealtimeMicroseconds) {
  auto before_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  auto us = send_stamp_now_us();
  auto after_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  EXPECT_GE(us / 1000, before_ms);
  EXPECT_LE(us / 1000, after_ms);
}
