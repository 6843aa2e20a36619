#include "commands/command_set.hpp"

namespace shardline::commands {

namespace json = boost::json;

namespace {

json::object command(std::string_view name, std::string_view description, json::array options = {}) {
  return json::object{{"type", 1},
                      {"name", name},
                      {"description", description},
                      {"options", std::move(options)},
                      // GUILD and BOT_DM; the owner check decides who may run them.
                      {"contexts", json::array{0, 1}},
                      {"integration_types", json::array{0}}};
}

std::int64_t type_of(const json::object& c) {
  auto* t = c.if_contains("type");
  return t && t->is_int64() ? t->get_int64() : 1;
}

const json::value* field(const json::object& o, std::string_view key) {
  static const json::value null_value;
  auto* v = o.if_contains(key);
  return v ? v : &null_value;
}

// Discord echoes an option with defaults filled in (required: false is left out, for one);
// compare only what we set.
bool same_options(const json::value& registered, const json::value& ours) {
  static const json::array empty;
  auto& a = registered.is_array() ? registered.get_array() : empty;
  auto& b = ours.is_array() ? ours.get_array() : empty;
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_object() || !b[i].is_object()) return false;
    auto& ra = a[i].get_object();
    for (auto& [key, value] : b[i].get_object()) {
      auto* theirs = ra.if_contains(key);
      if (key == "required" && !theirs && value == json::value(false)) continue;
      if (!theirs || *theirs != value) return false;
    }
  }
  return true;
}

// Every field we set must be as we set it (contexts, integration_types too); fields Discord
// adds (id, version...) do not matter.
bool same_command(const json::object& registered, const json::object& ours) {
  for (auto& [key, value] : ours) {
    if (key == "options") {
      if (!same_options(*field(registered, "options"), value)) return false;
    } else if (key == "type") {
      if (type_of(registered) != type_of(ours)) return false;
    } else if (*field(registered, key) != value) {
      return false;
    }
  }
  return true;
}

} // namespace

json::array operator_command_set() {
  json::array message_option{json::object{{"type", 3}, // STRING
                                          {"name", "message"},
                                          {"description", "What to tell every cluster (at most 500 characters)"},
                                          {"required", true},
                                          {"max_length", kBroadcastMaxChars}}};
  return json::array{
      command("clusters", "Every cluster: guilds, users, shards, latency, uptime and health"),
      command("ipcstatus", "IPC diagnostics: mode, host, port, connected clients or link state"),
      command("broadcastmsg", "Send a message to every cluster's operators", std::move(message_option)),
  };
}

std::optional<json::array> commands_to_put(const json::array& registered, const json::array& ours) {
  bool changed = false;
  json::array out;
  for (auto& want : ours) {
    auto& w = want.get_object();
    const json::object* found = nullptr;
    for (auto& r : registered)
      if (r.is_object() && *field(r.get_object(), "name") == *field(w, "name") && type_of(r.get_object()) == 1)
        found = &r.get_object();
    if (!found || !same_command(*found, w)) changed = true;
  }
  if (!changed) return std::nullopt;
  // Everything that is not ours, as Discord has it (ids included, so those commands keep
  // their ids and permissions), then ours.
  for (auto& r : registered) {
    if (!r.is_object()) continue;
    bool mine = false;
    for (auto& want : ours)
      mine = mine || (*field(r.get_object(), "name") == *field(want.get_object(), "name") && type_of(r.get_object()) == 1);
    if (!mine) out.push_back(r);
  }
  for (auto& want : ours) out.push_back(want);
  return out;
}

} // namespace shardline::commands
