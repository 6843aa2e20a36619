// The bot endpoint's guild cache: what a bot process connecting to Shardline is greeted with
// (READY with its own session, one GUILD_CREATE per guild as it is now), kept current by the
// shard's events, persisted across restarts, and never upset by bad input.

#include "proxy/guild_cache.hpp"
#include "sim/gateway_protocol.hpp"
#include "sim/world.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace shardline::proxy {
namespace {

namespace json = boost::json;

constexpr std::uint64_t kBot = 500000000000000001ULL;
constexpr std::uint64_t kGuild = 700000000000000001ULL;
constexpr std::uint64_t kGuild2 = 700000000000000002ULL;
constexpr std::uint64_t kGuild3 = 700000000000000003ULL;

json::value parse(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return v;
}

std::string id(std::uint64_t v) { return std::to_string(v); }

std::string bot_user(std::string_view name = "shardbot") {
  return R"({"id":")" + id(kBot) + R"(","username":")" + std::string(name) +
         R"(","discriminator":"0","global_name":null,"avatar":null,"bot":true,"flags":0})";
}

std::string ready(std::initializer_list<std::uint64_t> guilds) {
  std::string list;
  for (auto g : guilds) list += (list.empty() ? "" : ",") + (R"({"id":")" + id(g) + R"(","unavailable":true})");
  return R"({"v":10,"user_settings":{},"user":)" + bot_user() +
         R"(,"session_type":"normal","session_id":"real-session-3f2a","resume_gateway_url":"wss://real-resume.discord.gg",)"
         R"("shard":[0,1],"application":{"id":")" +
         id(kBot) + R"(","flags":565248},"private_channels":[],"presences":[],"guilds":[)" + list +
         R"(],"geo_ordered_rtc_regions":["rotterdam"],"_trace":["[\"gateway-prd\",{\"micros\":1}]"]})";
}

std::string member(std::uint64_t user, std::string_view extra = "") {
  return R"({"user":{"id":")" + id(user) + R"(","username":"u)" + id(user % 1000) +
         R"(","discriminator":"0","avatar":null},"roles":[],"joined_at":"2021-03-04T05:06:07.123000+00:00","deaf":false,"mute":false,"nick":null)" +
         std::string(extra) + "}";
}

// A guild with something in every list and values of every JSON kind (floats, escapes,
// unicode, negative numbers, a digit string that is not a canonical number, nested objects).
// Each list is in id order, the order the cache renders lists in (Discord promises none).
std::string rich_guild(std::uint64_t guild = kGuild, std::string_view members_json = "") {
  const std::string g = id(guild);
  // Other members' ids (< kBot) come first, in id order.
  std::string members = member(kBot);
  if (!members_json.empty()) members = std::string(members_json) + "," + members;
  return R"({"id":")" + g + R"(","name":"Caf\u00e9 \"quoted\" \\ ☕","icon":null,"owner_id":"80351110224678912",)"
         R"("afk_timeout":300,"verification_level":1,"features":["COMMUNITY","NEWS"],"max_members":500000,)"
         R"("float_field":1.50,"neg":-3,"exp":2e10,"padded":"0007","nested":{"a":[1,{"b":null}],"c":true},)"
         R"("member_count":42,"large":false,"unavailable":false,"joined_at":"2021-03-04T05:06:07.123000+00:00",)"
         R"("stage_instances":[],"guild_scheduled_events":[{"id":"9","name":"party"}],)"
         R"("channels":[{"id":"100","type":4,"name":"Text","position":0},{"id":"101","type":0,"name":"general","position":0,"parent_id":"100","permission_overwrites":[{"id":")" +
         g + R"(","type":0,"allow":"0","deny":"2048"}]}],)"
         R"("threads":[{"id":"201","type":11,"parent_id":"101","name":"thread","thread_metadata":{"archived":false}}],)"
         R"("roles":[{"id":"301","name":"mods","color":16711680},{"id":")" +
         g + R"(","name":"@everyone","permissions":"1071698660929","color":0}],)"
         R"("emojis":[{"id":"401","name":"blob","roles":[],"animated":false}],)"
         R"("stickers":[{"id":"501","name":"wave","format_type":1}],)"
         R"("members":[)" +
         members +
         R"(],"presences":[{"user":{"id":"900"},"status":"online","activities":[],"client_status":{"desktop":"online"}}],)"
         R"("voice_states":[{"user_id":"900","channel_id":"101","session_id":"abc","deaf":false,"mute":false,"self_mute":true}]})";
}

GuildCache ready_cache(CacheOptions options = {}, std::initializer_list<std::uint64_t> guilds = {kGuild}) {
  GuildCache cache(options);
  cache.apply("READY", ready(guilds));
  EXPECT_TRUE(cache.has_ready());
  return cache;
}

json::object guild_of(const GuildCache& cache, std::uint64_t guild = kGuild) {
  auto text = cache.guild_create(guild);
  EXPECT_TRUE(text.has_value());
  if (!text) return {};
  auto v = parse(*text);
  EXPECT_TRUE(v.is_object());
  return v.is_object() ? v.as_object() : json::object{};
}

// The ids of a GUILD_CREATE list (members and presences by user id).
std::vector<std::string> ids_of(const json::object& guild, std::string_view list) {
  std::vector<std::string> out;
  for (const auto& e : guild.at(list).as_array()) {
    const auto& o = e.as_object();
    if (o.contains("id"))
      out.emplace_back(o.at("id").as_string());
    else if (o.contains("user"))
      out.emplace_back(o.at("user").at("id").as_string());
    else
      out.emplace_back(o.at("user_id").as_string());
  }
  return out;
}

using Ids = std::vector<std::string>;

TEST(GuildCache, ReadyIsRenderedWithTheClientsSessionAndEveryGuildUnavailable) {
  GuildCache cache;
  EXPECT_FALSE(cache.has_ready());
  EXPECT_EQ(cache.bot_user_id(), 0u);
  cache.apply("READY", ready({kGuild2, kGuild}));
  cache.apply("GUILD_CREATE", rich_guild(kGuild));
  ASSERT_TRUE(cache.has_ready());
  EXPECT_EQ(cache.bot_user_id(), kBot);

  const auto text = cache.ready_data("client \"session\"", "ws://127.0.0.1:4242", 3, 16);
  EXPECT_EQ(text.find("real-session-3f2a"), std::string::npos);
  EXPECT_EQ(text.find("real-resume"), std::string::npos);
  auto d = parse(text).as_object();
  EXPECT_EQ(d.at("v"), 10);
  EXPECT_EQ(d.at("session_id"), "client \"session\"");
  EXPECT_EQ(d.at("resume_gateway_url"), "ws://127.0.0.1:4242");
  EXPECT_EQ(d.at("shard"), (json::array{3, 16}));
  EXPECT_EQ(d.at("user"), parse(bot_user()));
  EXPECT_EQ(d.at("application").at("flags"), 565248);
  // Even an available guild is listed unavailable: its GUILD_CREATE follows, as from Discord.
  EXPECT_EQ(d.at("guilds"), parse(R"([{"id":")" + id(kGuild) + R"(","unavailable":true},{"id":")" + id(kGuild2) +
                                  R"(","unavailable":true}])"));
  // The rest of READY is kept as it was.
  EXPECT_EQ(d.at("session_type"), "normal");
  EXPECT_EQ(d.at("geo_ordered_rtc_regions"), (json::array{"rotterdam"}));
  EXPECT_EQ(d.at("_trace").as_array().size(), 1u);
  EXPECT_EQ(d.at("user_settings"), json::object{});
}

TEST(GuildCache, GuildCreateRoundTripKeepsEveryField) {
  CacheOptions all{true, true, true};
  auto cache = ready_cache(all);
  const auto input = rich_guild(kGuild, member(901));
  cache.apply("GUILD_CREATE", input);
  EXPECT_EQ(cache.malformed_count(), 0u);
  EXPECT_EQ(cache.available_guild_ids(), std::vector<std::uint64_t>{kGuild});
  auto out = cache.guild_create(kGuild);
  ASSERT_TRUE(out);
  EXPECT_EQ(parse(*out), parse(input));
  // Number and string text is kept exactly as received.
  EXPECT_NE(out->find("1.50"), std::string::npos);
  EXPECT_NE(out->find("2e10"), std::string::npos);
  EXPECT_NE(out->find(R"("0007")"), std::string::npos);
}

TEST(GuildCache, SimulatorGuildsRoundTripExactly) {
  sim::World world(sim::WorldOptions{.guilds = 20, .seed = 7});
  GuildCache cache;
  cache.apply("READY", sim::ready_data(world, "s", "wss://x", 0, 1));
  ASSERT_TRUE(cache.has_ready());
  EXPECT_EQ(cache.bot_user_id(), world.bot_user_id());
  EXPECT_EQ(cache.guild_count(), world.guilds().size());
  for (const auto& g : world.guilds()) cache.apply("GUILD_CREATE", sim::guild_create_data(world, g, 50));
  EXPECT_EQ(cache.available_guild_ids().size(), world.guilds().size());
  for (const auto& g : world.guilds()) {
    auto out = cache.guild_create(g.id);
    ASSERT_TRUE(out);
    EXPECT_EQ(parse(*out), parse(sim::guild_create_data(world, g, 50)));
  }
  EXPECT_GT(cache.memory_bytes(), 0u);
}

TEST(GuildCache, UnavailableThenAvailableAgain) {
  auto cache = ready_cache({}, {kGuild, kGuild2, kGuild3});
  EXPECT_EQ(cache.guild_count(), 3u);
  EXPECT_TRUE(cache.available_guild_ids().empty());
  EXPECT_FALSE(cache.guild_create(kGuild));

  cache.apply("GUILD_CREATE", rich_guild(kGuild));
  cache.apply("GUILD_CREATE", rich_guild(kGuild2));
  EXPECT_EQ(cache.available_guild_ids(), (std::vector<std::uint64_t>{kGuild, kGuild2}));

  // An outage: still the shard's guild (READY lists it), no GUILD_CREATE for it.
  cache.apply("GUILD_DELETE", R"({"id":")" + id(kGuild) + R"(","unavailable":true})");
  EXPECT_EQ(cache.guild_count(), 3u);
  EXPECT_EQ(cache.available_guild_ids(), std::vector<std::uint64_t>{kGuild2});
  EXPECT_FALSE(cache.guild_create(kGuild));
  EXPECT_NE(cache.ready_data("s", "u", 0, 1).find(id(kGuild)), std::string::npos);

  cache.apply("GUILD_CREATE", rich_guild(kGuild));
  EXPECT_EQ(cache.available_guild_ids(), (std::vector<std::uint64_t>{kGuild, kGuild2}));
  EXPECT_EQ(guild_of(cache).at("name"), "Café \"quoted\" \\ ☕");

  // Removed (no unavailable flag): gone from READY too.
  cache.apply("GUILD_DELETE", R"({"id":")" + id(kGuild2) + R"("})");
  EXPECT_EQ(cache.guild_count(), 2u);
  EXPECT_EQ(cache.ready_data("s", "u", 0, 1).find(id(kGuild2)), std::string::npos);

  // A guild joined after READY.
  cache.apply("GUILD_CREATE", rich_guild(800000000000000009ULL));
  EXPECT_EQ(cache.guild_count(), 3u);
  EXPECT_TRUE(cache.guild_create(800000000000000009ULL));
}

TEST(GuildCache, NewReadyStartsOver) {
  auto cache = ready_cache({}, {kGuild, kGuild2});
  cache.apply("GUILD_CREATE", rich_guild(kGuild));
  cache.apply("READY", ready({kGuild, kGuild3}));
  EXPECT_EQ(cache.guild_count(), 2u);
  EXPECT_TRUE(cache.available_guild_ids().empty());
  const auto d = parse(cache.ready_data("s", "u", 0, 1));
  EXPECT_EQ(d.at("guilds").as_array().size(), 2u);
  EXPECT_EQ(cache.ready_data("s", "u", 0, 1).find(id(kGuild2)), std::string::npos);
}

TEST(GuildCache, GuildUpdateMergesFieldsAndKeepsLists) {
  auto cache = ready_cache();
  cache.apply("GUILD_CREATE", rich_guild());
  cache.apply("GUILD_UPDATE", R"({"id":")" + id(kGuild) +
                                  R"(","name":"renamed","icon":"abc","new_field":7,"roles":[{"id":"302","name":"only"}],"emojis":[]})");
  auto g = guild_of(cache);
  EXPECT_EQ(g.at("name"), "renamed");
  EXPECT_EQ(g.at("icon"), "abc");
  EXPECT_EQ(g.at("new_field"), 7);
  EXPECT_EQ(g.at("member_count"), 42); // GUILD_UPDATE has none; kept
  EXPECT_EQ(g.at("afk_timeout"), 300);
  EXPECT_EQ(ids_of(g, "channels"), (Ids{"100", "101"}));
  EXPECT_EQ(ids_of(g, "roles"), (Ids{"302"}));
  EXPECT_TRUE(g.at("emojis").as_array().empty());
  EXPECT_EQ(ids_of(g, "stickers"), (Ids{"501"}));
  EXPECT_EQ(ids_of(g, "members"), (Ids{id(kBot)}));
}

TEST(GuildCache, ChannelAndThreadEventsAreReflected) {
  auto cache = ready_cache();
  cache.apply("GUILD_CREATE", rich_guild());
  const std::string gid = id(kGuild);
  cache.apply("CHANNEL_CREATE", R"({"id":"102","type":2,"guild_id":")" + gid + R"(","name":"voice"})");
  cache.apply("CHANNEL_UPDATE", R"({"id":"101","type":0,"guild_id":")" + gid + R"(","name":"chat","parent_id":"100"})");
  cache.apply("CHANNEL_CREATE", R"({"id":"103","type":1,"recipients":[]})"); // a DM: not a guild's
  auto g = guild_of(cache);
  EXPECT_EQ(ids_of(g, "channels"), (Ids{"100", "101", "102"}));
  EXPECT_EQ(g.at("channels").as_array()[1].at("name"), "chat");

  cache.apply("THREAD_CREATE", R"({"id":"202","type":11,"guild_id":")" + gid + R"(","parent_id":"102","name":"t2"})");
  cache.apply("THREAD_UPDATE", R"({"id":"201","type":11,"guild_id":")" + gid +
                                   R"(","parent_id":"101","name":"renamed","thread_metadata":{"archived":true}})");
  g = guild_of(cache);
  EXPECT_EQ(ids_of(g, "threads"), (Ids{"201", "202"}));
  EXPECT_EQ(g.at("threads").as_array()[0].at("thread_metadata").at("archived"), true);
  cache.apply("THREAD_DELETE", R"({"id":"202","type":11,"guild_id":")" + gid + R"(","parent_id":"102"})");
  EXPECT_EQ(ids_of(guild_of(cache), "threads"), (Ids{"201"}));

  // Deleting a channel takes its threads.
  cache.apply("CHANNEL_DELETE", R"({"id":"101","type":0,"guild_id":")" + gid + R"("})");
  g = guild_of(cache);
  EXPECT_EQ(ids_of(g, "channels"), (Ids{"100", "102"}));
  EXPECT_TRUE(g.at("threads").as_array().empty());
}

TEST(GuildCache, ThreadListSyncReplacesTheNamedChannelsThreads) {
  auto cache = ready_cache();
  cache.apply("GUILD_CREATE", rich_guild());
  const std::string gid = id(kGuild);
  cache.apply("THREAD_CREATE", R"({"id":"203","type":11,"guild_id":")" + gid + R"(","parent_id":"100"})");
  cache.apply("THREAD_LIST_SYNC", R"({"guild_id":")" + gid +
                                      R"(","channel_ids":["101"],"threads":[{"id":"205","type":11,"guild_id":")" + gid +
                                      R"(","parent_id":"101"}],"members":[{"id":"205","user_id":")" + id(kBot) +
                                      R"(","flags":0}]})");
  auto g = guild_of(cache);
  EXPECT_EQ(ids_of(g, "threads"), (Ids{"203", "205"}));
  EXPECT_EQ(g.at("threads").as_array()[1].at("member").at("user_id"), json::value(id(kBot)));
  // No channel_ids: the whole guild's threads.
  cache.apply("THREAD_LIST_SYNC", R"({"guild_id":")" + gid + R"(","threads":[],"members":[]})");
  EXPECT_TRUE(guild_of(cache).at("threads").as_array().empty());
}

TEST(GuildCache, RoleEmojiAndStickerEventsAreReflected) {
  auto cache = ready_cache();
  cache.apply("GUILD_CREATE", rich_guild());
  const std::string gid = id(kGuild);
  cache.apply("GUILD_ROLE_CREATE", R"({"guild_id":")" + gid + R"(","role":{"id":"303","name":"new"}})");
  cache.apply("GUILD_ROLE_UPDATE", R"({"guild_id":")" + gid + R"(","role":{"id":"301","name":"admins","color":1}})");
  cache.apply("GUILD_ROLE_DELETE", R"({"guild_id":")" + gid + R"(","role_id":")" + gid + R"("})");
  auto g = guild_of(cache);
  EXPECT_EQ(ids_of(g, "roles"), (Ids{"301", "303"}));
  EXPECT_EQ(g.at("roles").as_array()[0].at("name"), "admins");

  cache.apply("GUILD_EMOJIS_UPDATE", R"({"guild_id":")" + gid + R"(","emojis":[{"id":"402","name":"a"},{"id":"403","name":"b"}]})");
  cache.apply("GUILD_STICKERS_UPDATE", R"({"guild_id":")" + gid + R"(","stickers":[]})");
  g = guild_of(cache);
  EXPECT_EQ(ids_of(g, "emojis"), (Ids{"402", "403"}));
  EXPECT_TRUE(g.at("stickers").as_array().empty());
}

TEST(GuildCache, WithoutOptionsOnlyTheBotsOwnMemberIsKept) {
  auto cache = ready_cache();
  cache.apply("GUILD_CREATE", rich_guild(kGuild, member(901) + "," + member(902)));
  auto g = guild_of(cache);
  EXPECT_EQ(ids_of(g, "members"), (Ids{id(kBot)}));
  EXPECT_TRUE(g.at("presences").as_array().empty());
  EXPECT_TRUE(g.at("voice_states").as_array().empty());
  const std::string gid = id(kGuild);

  // member_count follows joins and leaves even when members are not kept.
  cache.apply("GUILD_MEMBER_ADD", member(903, R"(,"guild_id":")" + gid + "\""));
  cache.apply("GUILD_MEMBER_ADD", member(904, R"(,"guild_id":")" + gid + "\""));
  cache.apply("GUILD_MEMBER_REMOVE", R"({"guild_id":")" + gid + R"(","user":{"id":"901"}})");
  cache.apply("PRESENCE_UPDATE", R"({"guild_id":")" + gid + R"(","user":{"id":"903"},"status":"online"})");
  cache.apply("VOICE_STATE_UPDATE", R"({"guild_id":")" + gid + R"(","user_id":"903","channel_id":"101"})");
  cache.apply("GUILD_MEMBERS_CHUNK", R"({"guild_id":")" + gid + R"(","members":[)" + member(905) + "]}");
  g = guild_of(cache);
  EXPECT_EQ(g.at("member_count"), 43);
  EXPECT_EQ(ids_of(g, "members"), (Ids{id(kBot)}));
  EXPECT_TRUE(g.at("presences").as_array().empty());
  EXPECT_TRUE(g.at("voice_states").as_array().empty());

  // The bot's own member is updated.
  cache.apply("GUILD_MEMBER_UPDATE", R"({"guild_id":")" + gid + R"(","user":{"id":")" + id(kBot) +
                                         R"("},"roles":["301"],"nick":"Bot Nick"})");
  g = guild_of(cache);
  const auto& me = g.at("members").as_array()[0].as_object();
  EXPECT_EQ(me.at("nick"), "Bot Nick");
  EXPECT_EQ(me.at("roles"), (json::array{"301"}));
  EXPECT_EQ(me.at("deaf"), false); // kept from GUILD_CREATE
  EXPECT_FALSE(me.contains("guild_id"));
}

TEST(GuildCache, WithOptionsMembersPresencesAndVoiceStatesAreKept) {
  auto cache = ready_cache({true, true, true});
  cache.apply("GUILD_CREATE", rich_guild(kGuild, member(901)));
  const std::string gid = id(kGuild);
  cache.apply("GUILD_MEMBER_ADD", member(903, R"(,"guild_id":")" + gid + "\""));
  cache.apply("GUILD_MEMBER_UPDATE", R"({"guild_id":")" + gid + R"(","user":{"id":"901"},"roles":[],"nick":"nn"})");
  cache.apply("GUILD_MEMBER_REMOVE", R"({"guild_id":")" + gid + R"(","user":{"id":")" + id(kBot) + R"("}})");
  cache.apply("GUILD_MEMBERS_CHUNK", R"({"guild_id":")" + gid + R"(","chunk_index":0,"chunk_count":1,"members":[)" +
                                         member(905) + "," + member(901, R"(,"extra":1)") + "]}");
  auto g = guild_of(cache);
  EXPECT_EQ(ids_of(g, "members"), (Ids{"901", "903", "905"}));
  EXPECT_EQ(g.at("members").as_array()[0].at("extra"), 1);
  EXPECT_EQ(g.at("member_count"), 42);

  cache.apply("PRESENCE_UPDATE", R"({"guild_id":")" + gid + R"(","user":{"id":"903"},"status":"idle","activities":[]})");
  cache.apply("PRESENCE_UPDATE", R"({"guild_id":")" + gid + R"(","user":{"id":"900"},"status":"offline","activities":[]})");
  cache.apply("VOICE_STATE_UPDATE", R"({"guild_id":")" + gid + R"(","user_id":"903","channel_id":"102","member":)" +
                                        member(903) + "}");
  cache.apply("VOICE_STATE_UPDATE", R"({"guild_id":")" + gid + R"(","user_id":"900","channel_id":null})");
  g = guild_of(cache);
  EXPECT_EQ(ids_of(g, "presences"), (Ids{"903"}));
  EXPECT_EQ(g.at("presences").as_array()[0].at("status"), "idle");
  EXPECT_FALSE(g.at("presences").as_array()[0].as_object().contains("guild_id"));
  EXPECT_EQ(ids_of(g, "voice_states"), (Ids{"903"}));
  EXPECT_FALSE(g.at("voice_states").as_array()[0].as_object().contains("member"));
}

TEST(GuildCache, UserUpdateChangesTheBotsUserEverywhere) {
  auto cache = ready_cache();
  cache.apply("GUILD_CREATE", rich_guild());
  cache.apply("USER_UPDATE", bot_user("renamedbot"));
  cache.apply("USER_UPDATE", R"({"id":"12345","username":"someone else"})");
  EXPECT_EQ(parse(cache.ready_data("s", "u", 0, 1)).at("user").at("username"), "renamedbot");
  EXPECT_EQ(guild_of(cache).at("members").as_array()[0].at("user").at("username"), "renamedbot");
}

TEST(GuildCache, EventsForUnknownOrUnavailableGuildsChangeNothing) {
  auto cache = ready_cache({}, {kGuild, kGuild2});
  cache.apply("GUILD_CREATE", rich_guild());
  const auto before = cache.serialize();
  cache.apply("CHANNEL_CREATE", R"({"id":"102","type":0,"guild_id":")" + id(kGuild2) + R"("})");
  cache.apply("GUILD_ROLE_CREATE", R"({"guild_id":"1234","role":{"id":"1"}})");
  cache.apply("GUILD_UPDATE", R"({"id":")" + id(kGuild2) + R"(","name":"x"})");
  cache.apply("MESSAGE_CREATE", R"({"id":"1","content":"hi"})");
  cache.apply("TYPING_START", "not even json");
  EXPECT_EQ(cache.serialize(), before);
  EXPECT_EQ(cache.malformed_count(), 0u); // unknown types are not parsed at all
}

TEST(GuildCache, SerializeRestoreRoundTripIsEqual) {
  auto cache = ready_cache({true, true, true}, {kGuild, kGuild2, kGuild3});
  cache.apply("GUILD_CREATE", rich_guild(kGuild, member(901)));
  cache.apply("GUILD_CREATE", rich_guild(kGuild2));
  const auto text = cache.serialize();
  auto restored = GuildCache::restore(text, {true, true, true});
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_TRUE(restored->has_ready());
  EXPECT_EQ(restored->bot_user_id(), kBot);
  EXPECT_EQ(restored->guild_count(), 3u);
  EXPECT_EQ(restored->available_guild_ids(), cache.available_guild_ids());
  EXPECT_EQ(restored->ready_data("c", "ws://x", 1, 2), cache.ready_data("c", "ws://x", 1, 2));
  for (auto g : {kGuild, kGuild2, kGuild3}) EXPECT_EQ(restored->guild_create(g), cache.guild_create(g));
  EXPECT_EQ(restored->serialize(), text);

  // The restored cache goes on applying events.
  restored->apply("CHANNEL_CREATE", R"({"id":"109","type":0,"guild_id":")" + id(kGuild) + R"("})");
  EXPECT_EQ(ids_of(guild_of(*restored), "channels"), (Ids{"100", "101", "109"}));

  // Restored with fewer options: what they exclude is dropped, the bot's member is kept.
  auto lean = GuildCache::restore(text, {});
  ASSERT_TRUE(lean);
  auto g = guild_of(*lean);
  EXPECT_EQ(ids_of(g, "members"), (Ids{id(kBot)}));
  EXPECT_TRUE(g.at("presences").as_array().empty());
  EXPECT_TRUE(g.at("voice_states").as_array().empty());

  // An empty cache round-trips too.
  auto empty = GuildCache::restore(GuildCache().serialize(), {});
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->has_ready());
}

TEST(GuildCache, DamagedSerializationsAreRefusedOrStillSafe) {
  auto cache = ready_cache({}, {kGuild, kGuild2});
  cache.apply("GUILD_CREATE", rich_guild());
  const auto text = cache.serialize();
  EXPECT_FALSE(GuildCache::restore("", {}));
  EXPECT_FALSE(GuildCache::restore("SLGC", {}));
  auto wrong_version = text;
  wrong_version[4] = 2;
  auto r = GuildCache::restore(wrong_version, {});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(Errc::bad_input));
  // Every truncation is refused.
  for (std::size_t n = 0; n < text.size(); ++n) EXPECT_FALSE(GuildCache::restore(text.substr(0, n), {})) << n;
  // Every single damaged byte is refused or gives a cache whose output is still JSON.
  for (std::size_t i = 0; i < text.size(); ++i) {
    for (unsigned char flip : {0x01, 0x22, 0x80, 0xFF}) {
      auto damaged = text;
      damaged[i] = static_cast<char>(static_cast<unsigned char>(damaged[i]) ^ flip);
      auto restored = GuildCache::restore(damaged, {});
      if (!restored) continue;
      boost::system::error_code ec;
      json::parse(restored->ready_data("s", "u", 0, 1), ec);
      EXPECT_FALSE(ec) << "byte " << i;
      for (auto gid : restored->available_guild_ids()) {
        json::parse(*restored->guild_create(gid), ec);
        EXPECT_FALSE(ec) << "byte " << i;
      }
    }
  }
}

TEST(GuildCache, MalformedAndHostileInputIsIgnoredAndCounted) {
  auto cache = ready_cache({true, true, true});
  cache.apply("GUILD_CREATE", rich_guild());
  const auto before = cache.serialize();
  const std::string gid = id(kGuild);
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string deep_object = R"({"id":")" + gid + R"(","x":)" + std::string(70, '[') + std::string(70, ']') + "}";
  const std::pair<std::string_view, std::string> bad[] = {
      {"GUILD_CREATE", "not json"},
      {"GUILD_CREATE", ""},
      {"GUILD_CREATE", "[1,2,3]"},
      {"GUILD_CREATE", "null"},
      {"GUILD_CREATE", R"({"id":")" + gid + R"(","name":"x"} trailing)"},
      {"GUILD_CREATE", R"({"id":")" + gid + R"(","name":"x")"},
      {"GUILD_CREATE", R"({"name":"no id"})"},
      {"GUILD_CREATE", R"({"id":"99999999999999999999999","name":"huge id"})"},
      {"GUILD_CREATE", R"({"id":99999999999999999999999,"name":"huge numeric id"})"},
      {"GUILD_CREATE", R"({"id":"0"})"},
      {"GUILD_CREATE", R"({"id":true})"},
      {"GUILD_CREATE", R"({"id":")" + gid + R"(","channels":{"id":"1"}})"},
      {"GUILD_CREATE", R"({"id":")" + gid + R"(","channels":[{"name":"no id"}]})"},
      {"GUILD_CREATE", R"({"id":")" + gid + R"(","roles":[5]})"},
      {"GUILD_CREATE", R"({"id":")" + gid + R"(","members":[{"user":"nope"}]})"},
      {"GUILD_CREATE", R"({"id":")" + gid + R"(","na\"me":"escaped key"})"},
      {"GUILD_CREATE", R"({"id":")" + gid + R"(","bad":"\x"})"},
      {"GUILD_CREATE", "{\"id\":\"" + gid + "\",\"bad\":\"\xff\xfe\"}"},
      {"GUILD_CREATE", deep},
      {"GUILD_CREATE", deep_object},
      {"GUILD_UPDATE", R"({"name":"no id"})"},
      {"GUILD_UPDATE", R"({"id":")" + gid + R"(","roles":"not a list"})"},
      {"GUILD_DELETE", R"({"unavailable":true})"},
      {"CHANNEL_CREATE", R"({"guild_id":")" + gid + R"(","name":"no id"})"},
      {"CHANNEL_DELETE", R"({"id":[],"guild_id":")" + gid + R"("})"},
      {"THREAD_LIST_SYNC", R"({"guild_id":")" + gid + R"(","threads":"x"})"},
      {"GUILD_ROLE_CREATE", R"({"guild_id":")" + gid + R"(","role":{"name":"no id"}})"},
      {"GUILD_ROLE_DELETE", R"({"guild_id":")" + gid + R"("})"},
      {"GUILD_EMOJIS_UPDATE", R"({"guild_id":")" + gid + R"(","emojis":[{"name":"no id"}]})"},
      {"GUILD_MEMBER_ADD", R"({"guild_id":")" + gid + R"(","user":{"id":-5}})"},
      {"GUILD_MEMBERS_CHUNK", R"({"guild_id":")" + gid + R"(","members":[{}]})"},
      {"PRESENCE_UPDATE", R"({"guild_id":")" + gid + R"(","user":null})"},
      {"VOICE_STATE_UPDATE", R"({"guild_id":")" + gid + R"(","channel_id":"1"})"},
      {"USER_UPDATE", R"({"username":"no id"})"},
      {"READY", R"({"user":{"id":"1"},"guilds":[{"id":"x"}]})"},
      {"READY", R"({"guilds":[]})"},
  };
  std::uint64_t expected = 0;
  for (const auto& [type, d] : bad) {
    cache.apply(type, d);
    ++expected;
    EXPECT_EQ(cache.malformed_count(), expected) << type << " " << d.substr(0, 80);
    EXPECT_EQ(cache.serialize(), before) << type << " " << d.substr(0, 80);
  }
  // The cache still works.
  EXPECT_EQ(parse(*cache.guild_create(kGuild)), parse(rich_guild()));
  EXPECT_TRUE(parse(cache.ready_data("s", "u", 0, 1)).is_object());
}

// Every handler first finds the id its event is about (GuildCache::required_id()): the event's
// own id, a role_id, a user id, a list element's id. Each of those, missing or not a snowflake,
// makes the event malformed: counted once, nothing changed. The same event with the id as a
// string or as a number is applied and not counted.
TEST(GuildCache, EveryEventsIdIsCheckedBeforeAnythingChanges) {
  const std::string g = id(kGuild);
  struct Case {
    std::string_view type;
    std::string_view key; // the id's field; "@" in `d` is where it goes
    std::string d;
    std::string valid; // a snowflake the event applies with
  };
  const Case cases[] = {
      {"READY", "id", R"({"user":{@},"guilds":[]})", id(kBot)},
      {"READY", "id", R"({"user":)" + bot_user() + R"(,"guilds":[{@}]})", id(kGuild3)},
      {"GUILD_CREATE", "id", R"({@,"name":"fresh"})", id(kGuild2)},
      {"GUILD_CREATE", "id", R"({"id":")" + g + R"(","channels":[{@,"type":0}]})", "102"},
      {"GUILD_UPDATE", "id", R"({@,"name":"renamed"})", g},
      {"GUILD_DELETE", "id", R"({@})", g},
      {"CHANNEL_CREATE", "id", R"({@,"guild_id":")" + g + R"(","type":0,"name":"c"})", "102"},
      {"CHANNEL_DELETE", "id", R"({@,"guild_id":")" + g + R"("})", "101"},
      {"THREAD_CREATE", "id", R"({@,"guild_id":")" + g + R"(","type":11,"parent_id":"101"})", "202"},
      {"THREAD_DELETE", "id", R"({@,"guild_id":")" + g + R"("})", "201"},
      {"THREAD_LIST_SYNC", "id", R"({"guild_id":")" + g + R"(","threads":[{@,"type":11,"parent_id":"101"}]})", "202"},
      {"GUILD_ROLE_CREATE", "id", R"({"guild_id":")" + g + R"(","role":{@,"name":"r"}})", "302"},
      // A valid "id" beside it must not stand in for role_id.
      {"GUILD_ROLE_DELETE", "role_id", R"({"guild_id":")" + g + R"(","id":"301",@})", "301"},
      {"GUILD_EMOJIS_UPDATE", "id", R"({"guild_id":")" + g + R"(","emojis":[{@,"name":"e"}]})", "402"},
      {"GUILD_MEMBER_ADD", "id", R"({"guild_id":")" + g + R"(","user":{@}})", "902"},
      {"GUILD_MEMBER_REMOVE", "id", R"({"guild_id":")" + g + R"(","user":{@}})", "900"},
      {"GUILD_MEMBERS_CHUNK", "id", R"({"guild_id":")" + g + R"(","members":[{"user":{@}}]})", "902"},
      {"PRESENCE_UPDATE", "id", R"({"guild_id":")" + g + R"(","user":{@},"status":"online"})", "902"},
      {"VOICE_STATE_UPDATE", "user_id", R"({"guild_id":")" + g + R"(",@,"channel_id":"101"})", "902"},
      {"USER_UPDATE", "id", R"({@,"username":"renamed"})", id(kBot)},
  };
  const auto with = [](const Case& c, const std::string& member) {
    std::string d = c.d;
    d.replace(d.find('@'), 1, member);
    return d;
  };
  const std::string_view not_snowflakes[] = {R"("x")", R"("0")", "0", "-5", "1.5", "true", "null", "{}", "[]",
                                             R"("99999999999999999999999")", R"("")"};
  for (const auto& c : cases) {
    std::vector<std::string> bad{with(c, R"("not_)" + std::string(c.key) + R"(":"1")")}; // missing
    for (auto v : not_snowflakes) bad.push_back(with(c, R"(")" + std::string(c.key) + R"(":)" + std::string(v)));
    for (const auto& d : bad) {
      auto cache = ready_cache({true, true, true});
      cache.apply("GUILD_CREATE", rich_guild());
      const auto before = cache.serialize();
      cache.apply(c.type, d);
      EXPECT_EQ(cache.malformed_count(), 1u) << c.type << " " << d;
      EXPECT_TRUE(cache.serialize() == before) << "changed by " << c.type << " " << d;
    }
    for (const auto& v : {R"(")" + c.valid + R"(")", c.valid}) {
      const auto d = with(c, R"(")" + std::string(c.key) + R"(":)" + v);
      auto cache = ready_cache({true, true, true});
      cache.apply("GUILD_CREATE", rich_guild());
      const auto before = cache.serialize();
      cache.apply(c.type, d);
      EXPECT_EQ(cache.malformed_count(), 0u) << c.type << " " << d;
      EXPECT_TRUE(cache.serialize() != before) << "not applied: " << c.type << " " << d;
    }
  }
}

TEST(GuildCache, AHostileStreamOfNewKeysCannotGrowTheKeyTableWithoutBound) {
  auto cache = ready_cache();
  cache.apply("GUILD_CREATE", rich_guild());
  std::uint64_t refused = 0;
  for (int i = 0; i < 4500; ++i) {
    const auto before = cache.malformed_count();
    cache.apply("GUILD_UPDATE", R"({"id":")" + id(kGuild) + R"(","key_)" + std::to_string(i) + R"(":1})");
    refused += cache.malformed_count() - before;
  }
  EXPECT_GT(refused, 300u); // the table filled up (packed::kMaxKeys) and new keys were refused
  EXPECT_LT(cache.memory_bytes(), 2u << 20);
  EXPECT_TRUE(parse(*cache.guild_create(kGuild)).is_object());
}

TEST(GuildCache, MemoryIsCompactForSimulatorGuilds) {
  sim::World world(sim::WorldOptions{.guilds = 2500, .seed = 3});
  GuildCache cache;
  cache.apply("READY", sim::ready_data(world, "s", "wss://x", 0, 1));
  std::size_t json_bytes = 0;
  for (const auto& g : world.guilds()) {
    auto d = sim::guild_create_data(world, g, 50);
    json_bytes += d.size();
    cache.apply("GUILD_CREATE", d);
  }
  // Well under the JSON's own size: the packed form is what makes the 1/4-of-discord.js target.
  EXPECT_LT(cache.memory_bytes(), json_bytes * 6 / 10) << cache.memory_bytes() << " vs " << json_bytes;
}

} // namespace
} // namespace shardline::proxy
