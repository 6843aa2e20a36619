#pragma once
// An operator command as it arrives: an INTERACTION_CREATE for a slash command, or a
// MESSAGE_CREATE whose content starts with the prefix and a command name. Parsing is pure
// and takes the dispatch's JSON text; anything that is not one of our commands is nullopt.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shardline::commands {

enum class Command { clusters, ipcstatus, broadcastmsg };

const char* name_of(Command c);
std::optional<Command> command_named(std::string_view name);

struct Invocation {
  Command command = Command::clusters;
  bool slash = true;
  std::uint64_t user_id = 0;
  std::string user_name;           // the global name, else the username
  std::uint64_t guild_id = 0;      // 0 in a DM
  std::uint64_t channel_id = 0;
  // Slash: what the callback and the webhook need.
  std::uint64_t interaction_id = 0;
  std::string interaction_token;
  std::uint64_t application_id = 0;
  // Prefix: the message to answer.
  std::uint64_t message_id = 0;
  std::string argument;            // /broadcastmsg's message (unchecked length)
};

// INTERACTION_CREATE data. Only application commands (type 2) named like ours.
std::optional<Invocation> parse_interaction(std::string_view data_json);

// A cheap test on a MESSAGE_CREATE's raw JSON, run for every message: false when the text
// cannot hold `prefix` followed by one of our command names, so most messages are never
// parsed. `escaped_prefix` is the prefix as it appears inside a JSON string (json_escape).
bool may_hold_prefix_command(std::string_view raw_json, std::string_view escaped_prefix);
std::string json_escape(std::string_view s);

// MESSAGE_CREATE data whose content is `prefix` + command name, then the end or whitespace
// and the argument. Messages from bots and webhooks are never commands.
std::optional<Invocation> parse_prefix_message(std::string_view data_json, std::string_view prefix);

} // namespace shardline::commands
