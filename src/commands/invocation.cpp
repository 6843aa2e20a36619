#include "commands/invocation.hpp"

#include <boost/json.hpp>

#include <array>
#include <charconv>

namespace shardline::commands {

namespace json = boost::json;

namespace {

constexpr std::array<std::pair<Command, std::string_view>, 3> kNames{{
    {Command::clusters, "clusters"},
    {Command::ipcstatus, "ipcstatus"},
    {Command::broadcastmsg, "broadcastmsg"},
}};

std::uint64_t snowflake(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return 0;
  auto s = v->get_string();
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() ? out : 0;
}

std::string text(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::optional<json::object> parse_object(std::string_view s) {
  json::parse_options po;
  po.max_depth = 32;
  boost::system::error_code ec;
  auto v = json::parse(s, ec, {}, po);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

// The invoking user: `member.user` in a guild, `user` in a DM.
const json::object* user_of(const json::object& d) {
  if (auto* m = d.if_contains("member"); m && m->is_object())
    if (auto* u = m->get_object().if_contains("user"); u && u->is_object()) return &u->get_object();
  if (auto* u = d.if_contains("user"); u && u->is_object()) return &u->get_object();
  return nullptr;
}

void fill_user(Invocation& in, const json::object& user) {
  in.user_id = snowflake(user, "id");
  in.user_name = text(user, "global_name");
  if (in.user_name.empty()) in.user_name = text(user, "username");
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

} // namespace

const char* name_of(Command c) {
  for (auto& [cmd, name] : kNames)
    if (cmd == c) return name.data();
  return "?";
}

std::optional<Command> command_named(std::string_view name) {
  for (auto& [cmd, n] : kNames)
    if (n == name) return cmd;
  return std::nullopt;
}

std::optional<Invocation> parse_interaction(std::string_view data_json) {
  auto d = parse_object(data_json);
  if (!d) return std::nullopt;
  auto* type = d->if_contains("type");
  if (!type || !type->is_int64() || type->get_int64() != 2) return std::nullopt; // APPLICATION_COMMAND
  auto* data = d->if_contains("data");
  if (!data || !data->is_object()) return std::nullopt;
  auto& cmd = data->get_object();
  auto command = command_named(text(cmd, "name"));
  if (!command) return std::nullopt;
  Invocation in;
  in.command = *command;
  in.slash = true;
  in.interaction_id = snowflake(*d, "id");
  in.interaction_token = text(*d, "token");
  in.application_id = snowflake(*d, "application_id");
  in.guild_id = snowflake(*d, "guild_id");
  in.channel_id = snowflake(*d, "channel_id");
  // Without these the interaction cannot be answered at all.
  if (!in.interaction_id || in.interaction_token.empty() || in.interaction_token.size() > 512 || !in.application_id)
    return std::nullopt;
  if (auto* u = user_of(*d)) fill_user(in, *u);
  if (auto* opts = cmd.if_contains("options"); opts && opts->is_array())
    for (auto& o : opts->get_array())
      if (o.is_object() && text(o.get_object(), "name") == "message") in.argument = text(o.get_object(), "value");
  return in;
}

std::string json_escape(std::string_view s) {
  // As a JSON encoder writes a string's characters: quote, backslash and control characters
  // escaped (Discord's encoder leaves the others as they are).
  auto quoted = json::serialize(json::string(s));
  return quoted.substr(1, quoted.size() - 2);
}

bool may_hold_prefix_command(std::string_view raw, std::string_view escaped_prefix) {
  if (escaped_prefix.empty()) return false;
  for (auto pos = raw.find(escaped_prefix); pos != std::string_view::npos; pos = raw.find(escaped_prefix, pos + 1)) {
    auto rest = raw.substr(pos + escaped_prefix.size());
    for (auto& [cmd, name] : kNames)
      if (rest.substr(0, name.size()) == name) return true;
  }
  return false;
}

std::optional<Invocation> parse_prefix_message(std::string_view data_json, std::string_view prefix) {
  if (prefix.empty()) return std::nullopt;
  auto d = parse_object(data_json);
  if (!d) return std::nullopt;
  if (d->contains("webhook_id")) return std::nullopt;
  auto* author = d->if_contains("author");
  if (!author || !author->is_object()) return std::nullopt;
  if (auto* bot = author->get_object().if_contains("bot"); bot && bot->is_bool() && bot->get_bool()) return std::nullopt;
  auto content = text(*d, "content");
  if (content.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string_view rest(content);
  rest.remove_prefix(prefix.size());
  std::size_t name_end = 0;
  while (name_end < rest.size() && !is_space(rest[name_end])) ++name_end;
  auto command = command_named(rest.substr(0, name_end));
  if (!command) return std::nullopt;
  rest.remove_prefix(name_end);
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  while (!rest.empty() && is_space(rest.back())) rest.remove_suffix(1);
  Invocation in;
  in.command = *command;
  in.slash = false;
  in.message_id = snowflake(*d, "id");
  in.channel_id = snowflake(*d, "channel_id");
  in.guild_id = snowflake(*d, "guild_id");
  if (!in.message_id || !in.channel_id) return std::nullopt;
  fill_user(in, author->get_object());
  in.argument = std::string(rest);
  return in;
}

} // namespace shardline::commands
