#include "commands/command_set.hpp"

#include "core/text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace shardline::commands {
namespace {

namespace json = boost::json;

// Discord's rule for CHAT_INPUT names, restricted to what we would ever use: lowercase
// ASCII letters, digits, '-' and '_', 1 to 32 characters.
bool valid_command_name(std::string_view n) {
  if (n.empty() || n.size() > 32) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  return true;
}

bool valid_description(const json::value& v) {
  if (!v.is_string()) return false;
  auto n = utf8_length(v.get_string());
  return n >= 1 && n <= 100;
}

const json::object* find_command(const json::array& a, std::string_view name, std::int64_t type = 1) {
  for (auto& v : a) {
    auto& o = v.as_object();
    auto* t = o.if_contains("type");
    std::int64_t ty = t && t->is_int64() ? t->get_int64() : 1;
    if (o.at("name").as_string() == name && ty == type) return &o;
  }
  return nullptr;
}

int count_named(const json::array& a, std::string_view name, std::int64_t type = 1) {
  int n = 0;
  for (auto& v : a) {
    auto& o = v.as_object();
    auto* t = o.if_contains("type");
    std::int64_t ty = t && t->is_int64() ? t->get_int64() : 1;
    if (o.at("name").as_string() == name && ty == type) ++n;
  }
  return n;
}

// What GET /applications/{app}/commands returns once our set has been registered: Discord adds
// id, application_id, version, default_member_permissions, dm_permission, nsfw; leaves
// `options` out of a command that has none; echoes an option's `required` only when true.
// Built as text and parsed, as the real answer is (numbers come back as int64).
json::array discord_echo_of_ours() {
  return json::parse(R"json([
    {"id":"1230000000000000001","application_id":"1000000000000000000","version":"1240000000000000001",
     "default_member_permissions":null,"type":1,"name":"clusters",
     "description":"Every cluster: guilds, users, shards, latency, uptime and health",
     "dm_permission":true,"contexts":[0,1],"integration_types":[0],"nsfw":false},
    {"id":"1230000000000000002","application_id":"1000000000000000000","version":"1240000000000000002",
     "default_member_permissions":null,"type":1,"name":"ipcstatus",
     "description":"IPC diagnostics: mode, host, port, connected clients or link state",
     "dm_permission":true,"contexts":[0,1],"integration_types":[0],"nsfw":false},
    {"id":"1230000000000000003","application_id":"1000000000000000000","version":"1240000000000000003",
     "default_member_permissions":null,"type":1,"name":"broadcastmsg",
     "description":"Send a message to every cluster's operators",
     "options":[{"type":3,"name":"message","description":"What to tell every cluster (at most 500 characters)",
                 "required":true,"max_length":500}],
     "dm_permission":true,"contexts":[0,1],"integration_types":[0],"nsfw":false}
  ])json").as_array();
}

// The bot's commands that are not ours, as Discord returns them.
json::array others() {
  return json::parse(R"json([
    {"id":"777000000000000001","application_id":"1000000000000000000","version":"777100000000000001",
     "default_member_permissions":null,"type":1,"name":"ping","description":"Pong!",
     "dm_permission":true,"contexts":null,"integration_types":[0],"nsfw":false},
    {"id":"777000000000000002","application_id":"1000000000000000000","version":"777100000000000002",
     "default_member_permissions":"8","type":1,"name":"ban","description":"Ban a member",
     "options":[{"type":6,"name":"user","description":"Who","required":true},
                {"type":3,"name":"reason","description":"Why"}],
     "dm_permission":false,"contexts":[0],"integration_types":[0],"nsfw":false},
    {"id":"777000000000000003","application_id":"1000000000000000000","version":"777100000000000003",
     "default_member_permissions":null,"type":2,"name":"clusters","description":"",
     "dm_permission":true,"integration_types":[0],"nsfw":false}
  ])json").as_array();
}

json::array concat(json::array a, const json::array& b) {
  for (auto& v : b) a.push_back(v);
  return a;
}

json::array without(json::array a, std::string_view name) {
  json::array out;
  for (auto& v : a)
    if (!(v.as_object().at("name").as_string() == name && v.as_object().at("type").as_int64() == 1)) out.push_back(v);
  return out;
}

// --- the set ----------------------------------------------------------------------------

TEST(CommandSet, HasTheThreeOperatorCommandsWithValidNamesAndDescriptions) {
  auto set = operator_command_set();
  ASSERT_EQ(set.size(), 3u);
  for (const char* name : {"clusters", "ipcstatus", "broadcastmsg"}) {
    auto* c = find_command(set, name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(count_named(set, name), 1) << name;
  }
  for (auto& v : set) {
    auto& c = v.as_object();
    auto name = std::string(c.at("name").as_string());
    EXPECT_TRUE(valid_command_name(name)) << name;
    EXPECT_TRUE(valid_description(c.at("description"))) << name << ": " << json::serialize(c.at("description"));
    auto* type = c.if_contains("type");
    ASSERT_NE(type, nullptr) << name;
    EXPECT_EQ(type->to_number<int>(), 1) << name << " must be a slash (CHAT_INPUT) command";
    if (auto* opts = c.if_contains("options"); opts && opts->is_array())
      for (auto& o : opts->as_array()) {
        auto oname = std::string(o.as_object().at("name").as_string());
        EXPECT_TRUE(valid_command_name(oname)) << name << " " << oname;
        EXPECT_TRUE(valid_description(o.as_object().at("description"))) << name << " " << oname;
      }
  }
}

TEST(CommandSet, ClustersAndIpcStatusTakeNoArguments) {
  auto set = operator_command_set();
  for (const char* name : {"clusters", "ipcstatus"}) {
    auto* c = find_command(set, name);
    ASSERT_NE(c, nullptr);
    auto* opts = c->if_contains("options");
    EXPECT_TRUE(!opts || opts->is_null() || opts->as_array().empty()) << name;
  }
}

TEST(CommandSet, BroadcastTakesARequiredMessageOfAtMost500Characters) {
  auto set = operator_command_set();
  auto* c = find_command(set, "broadcastmsg");
  ASSERT_NE(c, nullptr);
  auto& opts = c->at("options").as_array();
  ASSERT_EQ(opts.size(), 1u);
  auto& o = opts[0].as_object();
  EXPECT_EQ(o.at("name").as_string(), "message");
  EXPECT_EQ(o.at("type").to_number<int>(), 3) << "STRING";
  ASSERT_TRUE(o.contains("required"));
  EXPECT_EQ(o.at("required"), json::value(true));
  EXPECT_EQ(o.at("max_length").to_number<int>(), 500);
  EXPECT_EQ(kBroadcastMaxChars, 500u);
}

// --- when to register -------------------------------------------------------------------

TEST(CommandSetRegistration, NothingToDoWhenDiscordHoldsOursAsWeSentThem) {
  auto ours = operator_command_set();
  EXPECT_EQ(commands_to_put(ours, ours), std::nullopt);
}

TEST(CommandSetRegistration, NothingToDoWhenDiscordEchoesOursWithItsOwnFields) {
  auto ours = operator_command_set();
  EXPECT_EQ(commands_to_put(discord_echo_of_ours(), ours), std::nullopt);
  // With the bot's other commands around them, in any order.
  EXPECT_EQ(commands_to_put(concat(others(), discord_echo_of_ours()), ours), std::nullopt);
  EXPECT_EQ(commands_to_put(concat(discord_echo_of_ours(), others()), ours), std::nullopt);
}

TEST(CommandSetRegistration, DiscordLeavingOutRequiredFalseIsNoDifference) {
  // A command of ours with an optional option: Discord's echo omits "required": false.
  json::array ours{json::object{{"type", 1}, {"name", "clusters"}, {"description", "All clusters"},
                                {"options", json::array{json::object{{"type", 5}, {"name", "verbose"},
                                                                     {"description", "More detail"},
                                                                     {"required", false}}}}}};
  auto registered = json::parse(R"json([{"id":"1","application_id":"2","version":"3","type":1,"name":"clusters",
      "description":"All clusters","options":[{"type":5,"name":"verbose","description":"More detail"}],
      "default_member_permissions":null,"dm_permission":true,"nsfw":false}])json").as_array();
  EXPECT_EQ(commands_to_put(registered, ours), std::nullopt);
}

TEST(CommandSetRegistration, DifferentContextsOrIntegrationTypesMeanPut) {
  // Registered elsewhere as guild-only, or as a user-installed command: ours must be restored.
  auto ours = operator_command_set();
  auto guild_only = discord_echo_of_ours();
  guild_only[1].as_object()["contexts"] = json::array{0};
  EXPECT_TRUE(commands_to_put(guild_only, ours).has_value());
  auto user_install = discord_echo_of_ours();
  user_install[2].as_object()["integration_types"] = json::array{1};
  EXPECT_TRUE(commands_to_put(user_install, ours).has_value());
}

TEST(CommandSetRegistration, MissingCommandMeansPut) {
  auto ours = operator_command_set();
  for (const char* name : {"clusters", "ipcstatus", "broadcastmsg"}) {
    auto registered = concat(others(), without(discord_echo_of_ours(), name));
    auto body = commands_to_put(registered, ours);
    ASSERT_TRUE(body.has_value()) << name;
    EXPECT_NE(find_command(*body, name), nullptr) << name;
  }
  EXPECT_TRUE(commands_to_put(json::array{}, ours).has_value());
  EXPECT_TRUE(commands_to_put(others(), ours).has_value());
}

TEST(CommandSetRegistration, DifferentDescriptionOrOptionMeansPut) {
  auto ours = operator_command_set();
  {
    auto registered = discord_echo_of_ours();
    registered[0].as_object()["description"] = "An older description";
    EXPECT_TRUE(commands_to_put(registered, ours).has_value());
  }
  {
    auto registered = discord_echo_of_ours();
    registered[2].as_object()["options"].as_array()[0].as_object()["max_length"] = 2000;
    EXPECT_TRUE(commands_to_put(registered, ours).has_value());
  }
  {
    auto registered = discord_echo_of_ours();
    registered[2].as_object()["options"].as_array()[0].as_object().erase("required");
    EXPECT_TRUE(commands_to_put(registered, ours).has_value()) << "our option is required; Discord's is not";
  }
  {
    auto registered = discord_echo_of_ours();
    registered[2].as_object().erase("options");
    EXPECT_TRUE(commands_to_put(registered, ours).has_value());
  }
}

TEST(CommandSetRegistration, AUserCommandOfTheSameNameIsNotOurs) {
  // Only the context-menu (type 2) "clusters" is registered: our slash command is missing.
  auto ours = operator_command_set();
  auto registered = concat(others(), without(discord_echo_of_ours(), "clusters"));
  ASSERT_NE(find_command(registered, "clusters", 2), nullptr);
  auto body = commands_to_put(registered, ours);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(count_named(*body, "clusters", 1), 1);
  EXPECT_EQ(count_named(*body, "clusters", 2), 1) << "the bot's user command is kept";
}

TEST(CommandSetRegistration, BodyKeepsTheBotsOtherCommandsAndHoldsOursOnce) {
  auto ours = operator_command_set();
  auto registered = concat(others(), discord_echo_of_ours());
  registered[3].as_object()["description"] = "An older description"; // our clusters
  auto body = commands_to_put(registered, ours);
  ASSERT_TRUE(body.has_value());

  // The bot's other commands are in the body exactly as Discord has them, ids included, so
  // they keep their ids, permissions and options.
  for (auto& other : others()) {
    int found = 0;
    for (auto& v : *body)
      if (v == other) ++found;
    EXPECT_EQ(found, 1) << json::serialize(other);
  }
  // Ours, each exactly once, as we define them (not the stale description).
  for (auto& want : ours) {
    auto name = want.as_object().at("name").as_string();
    EXPECT_EQ(count_named(*body, name), 1) << name;
    auto* c = find_command(*body, name);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->at("description"), want.as_object().at("description")) << name;
  }
  EXPECT_EQ(body->size(), others().size() + ours.size());

  // Once Discord holds that body, nothing more to do.
  EXPECT_EQ(commands_to_put(*body, ours), std::nullopt);
}

TEST(CommandSetRegistration, BodyForAnEmptyApplicationIsOurSet) {
  auto ours = operator_command_set();
  auto body = commands_to_put(json::array{}, ours);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(*body, ours);
}

} // namespace
} // namespace shardline::commands
