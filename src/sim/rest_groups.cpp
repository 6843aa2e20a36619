#include "sim/rest_groups.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace shardline::sim {

namespace {

struct GroupSpec {
  std::string_view name;
  std::uint32_t limit;
  std::uint32_t window_ms;
  Major major;
  bool generic;
  std::vector<RouteId> routes;
};

// Discord's limits as bots observe them (they are not documented, and differ per bot): a
// message create and edit share a bucket per channel, deletes have their own, looser one;
// reactions are the classic one per 250 ms; the guild moderation routes are limited per guild.
// The bot's other routes keep one generic bucket each, as the simulator always had.
const std::vector<GroupSpec>& default_groups() {
  static const std::vector<GroupSpec> all{
      {"messages", 5, 5000, Major::channel, false, {RouteId::channel_message_create, RouteId::channel_message_edit}},
      {"message_delete", 5, 1000, Major::channel, false, {RouteId::channel_message_delete}},
      {"reactions", 1, 250, Major::channel, false, {RouteId::reaction_add, RouteId::reaction_remove}},
      {"member", 10, 10'000, Major::guild, false, {RouteId::guild_member_get, RouteId::guild_member_edit}},
      {"member_roles", 10, 10'000, Major::guild, false, {RouteId::member_role_add, RouteId::member_role_remove}},
      {"bans", 5, 5000, Major::guild, false, {RouteId::bans_list, RouteId::ban_create, RouteId::ban_remove}},
      {"roles", 10, 10'000, Major::guild, false, {RouteId::role_create, RouteId::role_edit, RouteId::role_delete}},
      {"gateway_bot", 5, 5000, Major::none, true, {RouteId::gateway_bot}},
      {"current_user", 5, 5000, Major::none, true, {RouteId::current_user}},
      {"oauth2_application", 5, 5000, Major::none, true, {RouteId::oauth2_current_application}},
      {"application", 5, 5000, Major::none, true, {RouteId::current_application}},
      {"global_commands_get", 5, 5000, Major::none, true, {RouteId::global_commands_list}},
      {"global_commands_put", 5, 5000, Major::none, true, {RouteId::global_commands_overwrite}},
      {"guild_commands_get", 5, 5000, Major::guild, true, {RouteId::guild_commands_list}},
      {"guild_commands_put", 5, 5000, Major::guild, true, {RouteId::guild_commands_overwrite}},
  };
  return all;
}

// FNV-1a over the group's name: an opaque id that is the same on every run and machine.
std::uint64_t fnv1a(std::string_view text, std::uint64_t basis) {
  std::uint64_t h = basis;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string group_hash(std::string_view name) {
  return fmt::format("{:016x}{:016x}", fnv1a(name, 0xcbf29ce484222325ULL), fnv1a(name, 0x84222325cbf29ce4ULL));
}

std::optional<std::uint32_t> parse_u32(std::string_view text) {
  std::uint32_t v = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

} // namespace

const char* to_string(Major m) {
  switch (m) {
  case Major::none: return "none";
  case Major::channel: return "channel";
  case Major::guild: return "guild";
  case Major::webhook: return "webhook";
  }
  return "none";
}

std::vector<std::string_view> rest_group_names() {
  std::vector<std::string_view> out;
  for (const auto& g : default_groups()) out.push_back(g.name);
  return out;
}

Result<RestBucketOverride> parse_rest_bucket(std::string_view text) {
  auto eq = text.find('=');
  auto slash = text.find('/', eq == std::string_view::npos ? 0 : eq);
  if (eq == std::string_view::npos || slash == std::string_view::npos)
    return fail(Errc::bad_input, fmt::format("'{}' is not NAME=LIMIT/WINDOW_MS (e.g. messages=50/1000)",
                                             text.substr(0, 64)));
  auto name = text.substr(0, eq);
  auto names = rest_group_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    return fail(Errc::bad_input, fmt::format("unknown REST bucket '{}' (one of {})", name.substr(0, 64),
                                             fmt::join(names, ", ")));
  auto limit = parse_u32(text.substr(eq + 1, slash - eq - 1));
  if (!limit || *limit < 1 || *limit > kMaxBucketLimit)
    return fail(Errc::bad_input, fmt::format("{}: LIMIT must be 1-{}", name, kMaxBucketLimit));
  auto window = parse_u32(text.substr(slash + 1));
  if (!window || *window < 1 || *window > kMaxBucketWindowMs)
    return fail(Errc::bad_input, fmt::format("{}: WINDOW_MS must be 1-{}", name, kMaxBucketWindowMs));
  return RestBucketOverride{std::string(name), *limit, *window};
}

RestModel::RestModel(const RestModelOptions& o)
    : global_per_sec_(std::max<std::uint32_t>(1, o.global_per_sec)),
      invalid_limit_(std::max<std::uint32_t>(1, o.invalid_limit)),
      invalid_window_(std::max<std::uint32_t>(1, o.invalid_window_ms)), ban_(o.ban_ms),
      max_bucket_states_(std::max<std::size_t>(1, o.max_bucket_states)) {
  group_of_route_.fill(-1);
  for (const auto& spec : default_groups()) {
    RestGroup g;
    g.name = std::string(spec.name);
    g.hash = group_hash(spec.name);
    g.limit = spec.generic ? o.route_limit : spec.limit;
    g.window = millis(spec.generic ? o.route_window_ms : spec.window_ms);
    g.major = spec.major;
    g.generic = spec.generic;
    g.routes = spec.routes;
    for (auto r : spec.routes) group_of_route_[static_cast<std::size_t>(r)] = static_cast<std::int16_t>(groups_.size());
    groups_.push_back(std::move(g));
  }
  for (const auto& b : o.buckets)
    for (auto& g : groups_)
      if (g.name == b.name) {
        g.limit = b.limit;
        g.window = millis(b.window_ms);
      }
  // A limit of 0 would refuse everything for ever: not a model of Discord.
  for (auto& g : groups_) {
    g.limit = std::max<std::uint32_t>(1, g.limit);
    g.window = std::max(g.window, millis(1));
  }
}

std::optional<std::size_t> RestModel::group_of(RouteId route) const {
  auto i = group_of_route_[static_cast<std::size_t>(route)];
  if (i < 0) return std::nullopt;
  return static_cast<std::size_t>(i);
}

std::optional<std::size_t> RestModel::find(std::string_view name_or_route) const {
  for (std::size_t i = 0; i < groups_.size(); ++i)
    if (groups_[i].name == name_or_route) return i;
  for (const auto& row : route_table())
    if (auto g = group_of(row.id); g && route_text(row) == name_or_route) return g;
  return std::nullopt;
}

std::uint64_t major_of(Major major, const RouteCaptures& at) {
  switch (major) {
  case Major::none: return 0;
  case Major::channel: return at.channel.value_or(0);
  case Major::guild: return at.guild.value_or(0);
  case Major::webhook: {
    // Discord splits webhook buckets by id and token: fold the token into the id.
    std::uint64_t h = 0xcbf29ce484222325ULL ^ at.app.value_or(0);
    for (unsigned char c : at.token) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    return h;
  }
  }
  return 0;
}

bool is_global_exempt(RouteId route) {
  return route == RouteId::interaction_callback || route == RouteId::webhook_followup ||
         route == RouteId::webhook_edit_original;
}

} // namespace shardline::sim
