// The generated event stream: shapes, sizes, the intent each needs, determinism.

#include "sim/event_generator.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

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
