#include "commands/invocation.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace shardline::commands {
namespace {

namespace json = boost::json;

// --- INTERACTION_CREATE -----------------------------------------------------------------

// An APPLICATION_COMMAND interaction in a guild, as the gateway's INTERACTION_CREATE `d`.
json::object guild_interaction(std::string_view name = "clusters") {
  auto o = json::parse(R"({
    "version": 1, "type": 2, "token": "aW50ZXJhY3Rpb246MTEwMDAwMDAwMDAwMDAwMDAwMTpzZWNyZXQ",
    "id": "1100000000000000001", "application_id": "1000000000000000000",
    "guild_id": "800000000000000000", "channel_id": "810000000000000000",
    "channel": {"id": "810000000000000000", "type": 0, "name": "ops", "guild_id": "800000000000000000"},
    "member": {"user": {"id": "300000000000000001", "username": "alice", "global_name": "Alice A",
                        "discriminator": "0", "avatar": null, "public_flags": 0},
               "roles": ["820000000000000000"], "permissions": "2251799813685247", "nick": null,
               "joined_at": "2021-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0},
    "data": {"id": "1230000000000000001", "name": "clusters", "type": 1},
    "locale": "en-GB", "guild_locale": "en-US", "app_permissions": "2251799813685247",
    "entitlements": [], "authorizing_integration_owners": {"0": "800000000000000000"}, "context": 0
  })").as_object();
  o["data"].as_object()["name"] = name;
  return o;
}

// The same command in the bot's DMs: no guild, `user` instead of `member`.
json::object dm_interaction(std::string_view name = "clusters") {
  auto o = json::parse(R"({
    "version": 1, "type": 2, "token": "aW50ZXJhY3Rpb246MTEwMDAwMDAwMDAwMDAwMDAwMjpzZWNyZXQ",
    "id": "1100000000000000002", "application_id": "1000000000000000000",
    "channel_id": "830000000000000000",
    "channel": {"id": "830000000000000000", "type": 1, "recipients": [], "flags": 0},
    "user": {"id": "300000000000000002", "username": "bob", "global_name": null,
             "discriminator": "0", "avatar": null, "public_flags": 0},
    "data": {"id": "1230000000000000001", "name": "clusters", "type": 1},
    "locale": "fr", "app_permissions": "1125899906842624", "entitlements": [],
    "authorizing_integration_owners": {"0": "1000000000000000000"}, "context": 1
  })").as_object();
  o["data"].as_object()["name"] = name;
  return o;
}

std::optional<Invocation> parse(const json::object& o) { return parse_interaction(json::serialize(o)); }

TEST(CommandInvocationSlash, GuildCommandTakesTheUserFromMember) {
  auto in = parse(guild_interaction("clusters"));
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->command, Command::clusters);
  EXPECT_TRUE(in->slash);
  EXPECT_EQ(in->user_id, 300000000000000001ULL);
  EXPECT_EQ(in->user_name, "Alice A") << "the global name first";
  EXPECT_EQ(in->guild_id, 800000000000000000ULL);
  EXPECT_EQ(in->channel_id, 810000000000000000ULL);
  EXPECT_EQ(in->interaction_id, 1100000000000000001ULL);
  EXPECT_EQ(in->interaction_token, "aW50ZXJhY3Rpb246MTEwMDAwMDAwMDAwMDAwMDAwMTpzZWNyZXQ");
  EXPECT_EQ(in->application_id, 1000000000000000000ULL);
  EXPECT_TRUE(in->argument.empty());
}

TEST(CommandInvocationSlash, DmCommandTakesTheUserFromUser) {
  auto in = parse(dm_interaction("ipcstatus"));
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->command, Command::ipcstatus);
  EXPECT_EQ(in->user_id, 300000000000000002ULL);
  EXPECT_EQ(in->user_name, "bob") << "no global name: the username";
  EXPECT_EQ(in->guild_id, 0u);
  EXPECT_EQ(in->channel_id, 830000000000000000ULL);
  EXPECT_EQ(in->interaction_id, 1100000000000000002ULL);
  EXPECT_FALSE(in->interaction_token.empty());
}

TEST(CommandInvocationSlash, BroadcastCarriesTheMessageOption) {
  for (auto base : {guild_interaction("broadcastmsg"), dm_interaction("broadcastmsg")}) {
    base["data"].as_object()["options"] =
        json::array{json::object{{"name", "message"}, {"type", 3}, {"value", "Deploying at 18:00 🚀 \"v2\""}}};
    auto in = parse(base);
    ASSERT_TRUE(in.has_value());
    EXPECT_EQ(in->command, Command::broadcastmsg);
    EXPECT_EQ(in->argument, "Deploying at 18:00 🚀 \"v2\"");
    EXPECT_NE(in->user_id, 0u);
  }
}

TEST(CommandInvocationSlash, EveryOneOfOurNames) {
  EXPECT_EQ(parse(guild_interaction("clusters"))->command, Command::clusters);
  EXPECT_EQ(parse(guild_interaction("ipcstatus"))->command, Command::ipcstatus);
  EXPECT_EQ(parse(guild_interaction("broadcastmsg"))->command, Command::broadcastmsg);
  EXPECT_STREQ(name_of(Command::clusters), "clusters");
  EXPECT_STREQ(name_of(Command::ipcstatus), "ipcstatus");
  EXPECT_STREQ(name_of(Command::broadcastmsg), "broadcastmsg");
  EXPECT_EQ(command_named("broadcastmsg"), Command::broadcastmsg);
  EXPECT_EQ(command_named("Clusters"), std::nullopt);
  EXPECT_EQ(command_named(""), std::nullopt);
}

TEST(CommandInvocationSlash, UnknownCommandNamesAreNotOurs) {
  for (const char* name : {"ping", "cluster", "clustersx", "Clusters", "", "broadcast"})
    EXPECT_EQ(parse(guild_interaction(name)), std::nullopt) << name;
}

TEST(CommandInvocationSlash, OtherInteractionTypesAreNotCommands) {
  // A button press (MESSAGE_COMPONENT) on one of our messages.
  auto component = json::parse(R"({
    "version": 1, "type": 3, "token": "dG9rZW4", "id": "1100000000000000003",
    "application_id": "1000000000000000000", "guild_id": "800000000000000000",
    "channel_id": "810000000000000000",
    "member": {"user": {"id": "300000000000000001", "username": "alice"}},
    "message": {"id": "1300000000000000000", "content": "/clusters"},
    "data": {"custom_id": "clusters", "component_type": 2}
  })").as_object();
  EXPECT_EQ(parse(component), std::nullopt);
  // The same with a name, in case a component or a modal ever carries one.
  component["data"].as_object()["name"] = "clusters";
  EXPECT_EQ(parse(component), std::nullopt);

  for (int type : {1 /* PING */, 4 /* AUTOCOMPLETE */, 5 /* MODAL_SUBMIT */}) {
    auto o = guild_interaction("broadcastmsg");
    o["type"] = type;
    EXPECT_EQ(parse(o), std::nullopt) << type;
  }
  auto o = guild_interaction("clusters");
  o["type"] = "2";
  EXPECT_EQ(parse(o), std::nullopt) << "type as a string";
  o.erase("type");
  EXPECT_EQ(parse(o), std::nullopt) << "no type";
}

TEST(CommandInvocationSlash, WithoutTokenOrIdsTheInteractionCannotBeAnswered) {
  for (const char* key : {"token", "id", "application_id"}) {
    auto o = guild_interaction("clusters");
    o.erase(key);
    EXPECT_EQ(parse(o), std::nullopt) << "no " << key;
  }
  {
    auto o = guild_interaction("clusters");
    o["token"] = "";
    EXPECT_EQ(parse(o), std::nullopt) << "empty token";
  }
  {
    auto o = guild_interaction("clusters");
    o["id"] = 1100000000000000001ULL; // a number, not a snowflake string
    EXPECT_EQ(parse(o), std::nullopt) << "id as a number";
  }
  {
    auto o = guild_interaction("clusters");
    o["id"] = "not-a-snowflake";
    EXPECT_EQ(parse(o), std::nullopt);
  }
}

TEST(CommandInvocationSlash, GarbageNeverThrows) {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string deep_obj;
  for (int i = 0; i < 5000; ++i) deep_obj += R"({"a":)";
  deep_obj += "1" + std::string(5000, '}');
  const std::string inputs[] = {
      "",
      "{",
      "}",
      "null",
      "42",
      R"("type")",
      "[1,2,3]",
      "{\"type\":2,",
      "\xff\xfe\xfd",
      "{\"type\":2,\"data\":\"\xff\"}",
      R"({"type":2})",
      R"({"type":2,"data":null})",
      R"({"type":2,"data":[]})",
      R"({"type":2,"data":{"name":42}})",
      R"({"type":2,"id":"1","token":"t","application_id":"2","data":{"name":"clusters","options":"x"}})",
      R"({"type":2,"id":"1","token":"t","application_id":"2","data":{"name":"broadcastmsg","options":[1,null,{"name":"message","value":5}]}})",
      R"({"type":2,"id":"1","token":"t","application_id":"2","member":"x","user":7,"data":{"name":"clusters"}})",
      R"({"type":1e400})",
      deep,
      deep_obj,
  };
  for (auto& s : inputs) {
    std::optional<Invocation> in;
    EXPECT_NO_THROW(in = parse_interaction(s)) << s.substr(0, 80);
    EXPECT_NO_THROW(parse_prefix_message(s, "!")) << s.substr(0, 80);
  }
  EXPECT_EQ(parse_interaction(""), std::nullopt);
  EXPECT_EQ(parse_interaction("{"), std::nullopt);
  EXPECT_EQ(parse_interaction("\xff\xfe\xfd"), std::nullopt);
  EXPECT_EQ(parse_interaction(deep), std::nullopt);
  EXPECT_EQ(parse_interaction(deep_obj), std::nullopt);
}

TEST(CommandInvocationSlash, IllTypedPartsLeaveTheRestUsable) {
  // Odd but answerable: a command with an ill-typed user or options is still ours; it has no
  // user (so no owner can match) and no argument.
  auto in = parse_interaction(
      R"({"type":2,"id":"1","token":"t","application_id":"2","member":"x","user":7,"data":{"name":"clusters"}})");
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->user_id, 0u);
  auto in2 = parse_interaction(
      R"({"type":2,"id":"1","token":"t","application_id":"2","user":{"id":"9"},"data":{"name":"broadcastmsg","options":[1,null,{"name":"message","value":5}]}})");
  ASSERT_TRUE(in2.has_value());
  EXPECT_EQ(in2->user_id, 9u);
  EXPECT_TRUE(in2->argument.empty());
}

// --- MESSAGE_CREATE with a prefix -------------------------------------------------------

// A MESSAGE_CREATE `d` from a person in a guild.
json::object guild_message(std::string_view content) {
  auto o = json::parse(R"({
    "type": 0, "tts": false, "timestamp": "2024-05-01T12:00:00.000000+00:00", "pinned": false,
    "nonce": "1234567890", "mentions": [], "mention_roles": [], "mention_everyone": false,
    "member": {"roles": [], "premium_since": null, "pending": false, "nick": null, "mute": false,
               "joined_at": "2021-01-01T00:00:00.000000+00:00", "flags": 0, "deaf": false},
    "id": "1300000000000000001", "flags": 0, "embeds": [], "edited_timestamp": null,
    "content": "", "components": [], "channel_id": "810000000000000000",
    "author": {"username": "alice", "public_flags": 0, "id": "300000000000000001",
               "global_name": "Alice A", "discriminator": "0", "avatar": null},
    "attachments": [], "guild_id": "800000000000000000"
  })").as_object();
  o["content"] = content;
  return o;
}

json::object dm_message(std::string_view content) {
  auto o = guild_message(content);
  o.erase("guild_id");
  o.erase("member");
  o["channel_id"] = "830000000000000000";
  o["author"].as_object()["global_name"] = nullptr;
  return o;
}

std::optional<Invocation> prefix(const json::object& o, std::string_view p = "!") {
  return parse_prefix_message(json::serialize(o), p);
}

TEST(CommandInvocationPrefix, BareCommand) {
  auto in = prefix(guild_message("!clusters"));
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->command, Command::clusters);
  EXPECT_FALSE(in->slash);
  EXPECT_EQ(in->message_id, 1300000000000000001ULL);
  EXPECT_EQ(in->channel_id, 810000000000000000ULL);
  EXPECT_EQ(in->guild_id, 800000000000000000ULL);
  EXPECT_EQ(in->user_id, 300000000000000001ULL);
  EXPECT_EQ(in->user_name, "Alice A");
  EXPECT_TRUE(in->argument.empty());
  EXPECT_EQ(in->interaction_id, 0u);
  EXPECT_TRUE(in->interaction_token.empty());

  ASSERT_TRUE(prefix(guild_message("!ipcstatus")).has_value());
  EXPECT_EQ(prefix(guild_message("!ipcstatus"))->command, Command::ipcstatus);
}

TEST(CommandInvocationPrefix, InDirectMessages) {
  auto in = prefix(dm_message("!clusters"));
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->guild_id, 0u);
  EXPECT_EQ(in->channel_id, 830000000000000000ULL);
  EXPECT_EQ(in->user_name, "alice");
}

TEST(CommandInvocationPrefix, BroadcastArgumentIsTrimmed) {
  auto in = prefix(guild_message("!broadcastmsg  hello world "));
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->command, Command::broadcastmsg);
  EXPECT_EQ(in->argument, "hello world");

  in = prefix(guild_message("!broadcastmsg\nline one\n  line two\n"));
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->argument, "line one\n  line two") << "inner whitespace is kept";

  in = prefix(guild_message("!broadcastmsg"));
  ASSERT_TRUE(in.has_value());
  EXPECT_TRUE(in->argument.empty());

  in = prefix(guild_message("!broadcastmsg   \t "));
  ASSERT_TRUE(in.has_value());
  EXPECT_TRUE(in->argument.empty());
}

TEST(CommandInvocationPrefix, NotCommands) {
  for (const char* content : {"!clustersx", "!unknown", "!cluster", "!", "", "clusters", "hello !clusters",
                              "! clusters", "!!clusters", "?clusters", "!broadcastmsghello"})
    EXPECT_EQ(prefix(guild_message(content)), std::nullopt) << "'" << content << "'";
}

TEST(CommandInvocationPrefix, MultiCharacterPrefix) {
  auto in = prefix(guild_message("sl!clusters"), "sl!");
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->command, Command::clusters);

  in = prefix(guild_message("sl!broadcastmsg  hello world "), "sl!");
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->command, Command::broadcastmsg);
  EXPECT_EQ(in->argument, "hello world");

  for (const char* content : {"!clusters", "sl!clustersx", "sl!unknown", "sl", "sl!", "s!clusters", "SL!clusters"})
    EXPECT_EQ(prefix(guild_message(content), "sl!"), std::nullopt) << "'" << content << "'";
}

TEST(CommandInvocationPrefix, BotsAndWebhooksAreIgnored) {
  auto bot = guild_message("!clusters");
  bot["author"].as_object()["bot"] = true;
  EXPECT_EQ(prefix(bot), std::nullopt);

  auto not_bot = guild_message("!clusters");
  not_bot["author"].as_object()["bot"] = false;
  EXPECT_TRUE(prefix(not_bot).has_value());

  auto hook = guild_message("!clusters");
  hook["webhook_id"] = "840000000000000000";
  hook["author"] = json::object{{"id", "840000000000000000"}, {"username", "Captain Hook"}, {"discriminator", "0000"},
                                {"avatar", nullptr}, {"bot", true}};
  EXPECT_EQ(prefix(hook), std::nullopt);

  // A webhook message whose author is not flagged as a bot is still not a command.
  auto hook2 = guild_message("!clusters");
  hook2["webhook_id"] = "840000000000000000";
  EXPECT_EQ(prefix(hook2), std::nullopt);
}

TEST(CommandInvocationPrefix, EmptyPrefixDisablesPrefixCommands) {
  EXPECT_EQ(prefix(guild_message("clusters"), ""), std::nullopt);
  EXPECT_EQ(prefix(guild_message("!clusters"), ""), std::nullopt);
  EXPECT_FALSE(may_hold_prefix_command(json::serialize(guild_message("clusters")), ""));
}

TEST(CommandInvocationPrefix, PrefixWithQuoteOrBackslash) {
  for (std::string p : {std::string("\""), std::string("\\"), std::string("a\"b\\")}) {
    auto raw = json::serialize(guild_message(p + "broadcastmsg hi"));
    auto in = parse_prefix_message(raw, p);
    ASSERT_TRUE(in.has_value()) << p;
    EXPECT_EQ(in->argument, "hi");
    EXPECT_TRUE(may_hold_prefix_command(raw, json_escape(p))) << p;
  }
}

// --- the cheap filter -------------------------------------------------------------------

TEST(CommandInvocationFilter, RawJsonWithPrefixAndNameMayHoldACommand) {
  for (const char* content : {"!clusters", "!ipcstatus", "!broadcastmsg hello", "!broadcastmsg  hello world "}) {
    auto raw = json::serialize(guild_message(content));
    EXPECT_TRUE(may_hold_prefix_command(raw, json_escape("!"))) << content;
  }
  auto raw = json::serialize(guild_message("sl!clusters"));
  EXPECT_TRUE(may_hold_prefix_command(raw, json_escape("sl!")));
}

TEST(CommandInvocationFilter, TypicalMessagesAreSkipped) {
  for (const char* content : {"hello everyone!", "gg", "can someone check the clusters?", "!help", "! clusters",
                              "wow!!! cluster is down", ""}) {
    auto raw = json::serialize(guild_message(content));
    EXPECT_FALSE(may_hold_prefix_command(raw, json_escape("!"))) << content;
  }
  auto raw = json::serialize(guild_message("!clusters"));
  EXPECT_FALSE(may_hold_prefix_command(raw, json_escape("sl!"))) << "another prefix";
  EXPECT_FALSE(may_hold_prefix_command(json::serialize(guild_message("hello")), json_escape("sl!")));
}

TEST(CommandInvocationFilter, NeverSkipsAMessageTheParserAccepts) {
  // The filter runs first; a false negative would silently drop a command.
  for (std::string p : {"!", "sl!", "?", "\"", "\\", "§", "<@1000000000000000000> "})
    for (const char* rest : {"clusters", "ipcstatus", "broadcastmsg hello", "broadcastmsg\n\"quoted\" \\ text"}) {
      auto raw = json::serialize(guild_message(p + rest));
      ASSERT_TRUE(parse_prefix_message(raw, p).has_value()) << p << rest;
      EXPECT_TRUE(may_hold_prefix_command(raw, json_escape(p))) << p << rest;
    }
}

TEST(CommandInvocationFilter, JsonEscape) {
  EXPECT_EQ(json_escape("!"), "!");
  EXPECT_EQ(json_escape("sl!"), "sl!");
  EXPECT_EQ(json_escape("\""), "\\\"");
  EXPECT_EQ(json_escape("\\"), "\\\\");
  EXPECT_EQ(json_escape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(json_escape("\t"), "\\t");
  EXPECT_EQ(json_escape("§"), "§");
  EXPECT_EQ(json_escape(""), "");
}

} // namespace
} // namespace shardline::commands
