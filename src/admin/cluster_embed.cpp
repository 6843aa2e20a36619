#include "admin/cluster_embed.hpp"

#include "core/text.hpp"
#include "protocol/body.hpp"
#include "protocol/health.hpp"

#include <fmt/format.h>

namespace shardline::admin {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxFields = 25, kMaxDescription = 4096, kMaxTotal = 6000;

std::string_view mark(const std::string& health) {
  if (health == "green") return protocol::to_emoji(protocol::Health::green);
  if (health == "yellow") return protocol::to_emoji(protocol::Health::yellow);
  return protocol::to_emoji(protocol::Health::red);
}

int rank(const std::string& health) { return health == "green" ? 0 : health == "yellow" ? 1 : 2; }

std::uint32_t colour_of(int worst) { return worst == 0 ? kColourGreen : worst == 1 ? kColourYellow : kColourRed; }

std::string shard_list(const std::vector<std::uint32_t>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i == 8) return out + fmt::format(", … +{}", ids.size() - 8);
    out += (i ? ", " : "") + std::to_string(ids[i]);
  }
  return out;
}

// Appends lines to a description, ending with "… and N more" rather than passing the limit.
void append_lines(std::string& desc, const std::vector<std::string>& lines, std::size_t budget) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto more = fmt::format("… and {} more", lines.size() - i);
    if (utf8_length(desc) + utf8_length(lines[i]) + 1 + more.size() + 1 > budget) {
      desc += more + "\n";
      return;
    }
    desc += lines[i] + "\n";
  }
}

} // namespace

// Recursion target of clusters_embed: at most `max_cluster_fields` cluster fields.
static json::object clusters_embed_within(const ClusterReport& r, std::size_t max_cluster_fields);
static std::size_t text_length(const json::value* v);

std::string with_thousands(std::uint64_t n) {
  auto digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

static std::size_t text_length(const json::value* v) { return v && v->is_string() ? utf8_length(v->get_string()) : 0; }

json::object clusters_embed(const ClusterReport& r) {
  return clusters_embed_within(r, kMaxFields - 2);
}

static json::object clusters_embed_within(const ClusterReport& r, std::size_t max_cluster_fields) {
  json::array fields;
  int worst = 0;
  std::size_t shown = 0;
  for (auto& row : r.rows) {
    worst = std::max(worst, row.answered || row.stats_age ? rank(row.health) : std::max(1, rank(row.health)));
    // Fields are kept for the totals and for "more clusters".
    if (shown == max_cluster_fields && r.rows.size() > max_cluster_fields + 1) continue;
    ++shown;
    std::string value;
    if (!row.answered && !row.stats_age) {
      value = fmt::format("**No answer** within {} ms", r.timeout_ms);
      if (row.heartbeat_age >= 0) value += fmt::format("\nLast heartbeat {} ago", format_duration(row.heartbeat_age));
    } else {
      value = fmt::format("Guilds **{}**\nUsers **{}**\nShards **{}**{}\nLatency **{}**\nUptime **{}**",
                          with_thousands(row.guilds), with_thousands(row.users), row.shards,
                          row.shard_ids.empty() ? "" : " (" + shard_list(row.shard_ids) + ")",
                          row.latency ? format_latency(*row.latency) : std::string("-"),
                          format_duration(row.uptime));
      if (row.stats_age) value += fmt::format("\n_stats {} old_", format_duration(*row.stats_age));
    }
    fields.push_back(json::object{{"name", fmt::format("{} {}", mark(row.health), row.name)}, {"value", value}, {"inline", true}});
  }
  if (r.rows.size() > shown)
    fields.push_back(json::object{{"name", "More clusters"},
                                  {"value", fmt::format("{} more: see `shardline clusters`", r.rows.size() - shown)},
                                  {"inline", true}});
  fields.push_back(json::object{{"name", "Σ Total"},
                                {"value", fmt::format("Guilds **{}**\nUsers **{}**\nShards **{}**", with_thousands(r.total_guilds),
                                                      with_thousands(r.total_users), r.total_shards)},
                                {"inline", false}});
  std::string desc;
  if (r.hub) {
    desc = fmt::format("Hub **{}** ({}) on {}:{} · up {} · TLS {}", r.hub->hub, r.hub->mode, r.hub->host, r.hub->port,
                       format_duration(r.hub->uptime), r.hub->tls ? "on" : "off");
  } else {
    desc = "Hub: **did not answer**";
    worst = 2;
  }
  desc += fmt::format("\n{} cluster(s)", r.rows.size());
  if (!r.missing.empty()) {
    std::string names;
    for (std::size_t i = 0; i < r.missing.size(); ++i) {
      if (names.size() + r.missing[i].size() > 1500) {
        names += fmt::format(" and {} more", r.missing.size() - i);
        break;
      }
      names += (i ? ", " : "") + r.missing[i];
    }
    desc += fmt::format("\nNot answering within {} ms: {}", r.timeout_ms, names);
  }
  json::object embed{{"title", "Clusters"}, {"description", desc}, {"color", colour_of(worst)}, {"fields", std::move(fields)}};
  // Discord refuses an embed over 6,000 characters in all: show fewer clusters until it fits.
  std::size_t total = text_length(embed.if_contains("title")) + text_length(embed.if_contains("description"));
  for (auto& f : embed.at("fields").as_array())
    total += text_length(f.as_object().if_contains("name")) + text_length(f.as_object().if_contains("value"));
  if (total > kMaxTotal && max_cluster_fields > 1) return clusters_embed_within(r, max_cluster_fields - 1);
  return embed;
}

namespace {

std::uint64_t count_at(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_uint64() ? v->get_uint64() : v && v->is_int64() && v->get_int64() > 0 ? std::uint64_t(v->get_int64()) : 0;
}

// "REST: 1,204 requests (88 waited) · 429s user 0, global 0, shared 2 · invalid (10 min) 2":
// the counters of docs/rest.md, from the hub's coordinator or one process's gate.
std::string rest_line(const json::object& r) {
  static const json::object none;
  auto* l = r.if_contains("rate_limited");
  const auto& limited = l && l->is_object() ? l->get_object() : none;
  std::string line = fmt::format("{} requests ({} waited) · 429s user {}, global {}, shared {} · invalid (10 min) {}",
                                 count_at(r, "requests"), count_at(r, "waited"), count_at(limited, "user"),
                                 count_at(limited, "global"), count_at(limited, "shared"), count_at(r, "invalid_window"));
  if (auto* b = r.if_contains("blocked_routes"); b && b->is_array() && !b->get_array().empty()) {
    std::string routes;
    for (auto& x : b->get_array())
      if (x.is_string()) routes += (routes.empty() ? "" : ", ") + std::string(x.get_string());
    line += " · blocked by the guard: " + cap_characters(routes, 300);
  }
  return line;
}

} // namespace

json::object ipc_status_embed(const Config& cfg, const std::optional<protocol::HubStatus>& hub,
                              const link::LinkStatus* link, const json::object* own_rest) {
  std::string desc = fmt::format("Mode **{}** · Host **{}** · Port **{}**\nSecret `{}` · Legacy auth {} · TLS {}",
                                 to_string(cfg.ipc_mode), cfg.ipc_host, link && link->port ? link->port : cfg.ipc_port,
                                 mask_secret(cfg.ipc_secret), cfg.legacy_auth ? "on" : "off",
                                 cfg.tls_enabled() ? "on" : "off");
  int worst = 0;
  json::array fields;
  if (link) {
    std::string state;
    if (link->linked) {
      state = fmt::format("🟢 linked to **{}**{}", link->hub,
                          link->linked_for_s ? " for " + format_duration(*link->linked_for_s) : "");
      if (link->last_ack_age_s)
        state += fmt::format("\nLast heartbeat ack {} ago · round trip {:.1f} ms", format_duration(*link->last_ack_age_s),
                             link->latency_s.value_or(0) * 1000);
    } else {
      state = "🔴 not linked" + (link->last_error.empty() ? "" : ": " + cap_characters(link->last_error, 300));
      worst = 2;
    }
    state += fmt::format("\nLinks made since start: {}", link->connects);
    fields.push_back(json::object{{"name", "Link to the hub"}, {"value", state}, {"inline", false}});
  }
  if (own_rest)
    fields.push_back(json::object{{"name", "REST calls of this cluster"}, {"value", rest_line(*own_rest)}, {"inline", false}});
  if (cfg.ipc_mode == IpcMode::server || !link) {
    if (!hub) {
      desc += "\n\nHub: **did not answer**";
      worst = 2;
    } else {
      desc += fmt::format("\n\nHub **{}** ({}), up {}", hub->hub, hub->mode, format_duration(hub->uptime));
      auto& id = hub->identify;
      desc += fmt::format("\nIDENTIFY slots: {} granted, {} queued · session budget {} · sessions held {}", id.granted,
                          id.queued,
                          id.budget_remaining ? fmt::format("{} left", *id.budget_remaining) : std::string("unknown"),
                          hub->sessions_known);
      if (hub->rest) desc += "\nREST for the bot: " + rest_line(*hub->rest);
      std::vector<std::string> lines;
      for (auto& c : hub->clients) {
        if (c.cluster()) worst = std::max(worst, rank(c.health));
        lines.push_back(fmt::format("{} **{}** ({}, v{}) {} · heartbeat {} ago", mark(c.health), c.name, c.role, c.proto,
                                    c.address, format_duration(c.last_heartbeat_age)));
      }
      desc += fmt::format("\n\n**Connected clients ({})**\n", lines.size());
      append_lines(desc, lines, kMaxDescription);
    }
  }
  return json::object{{"title", "IPC status"}, {"description", desc}, {"color", colour_of(worst)}, {"fields", std::move(fields)}};
}

json::object broadcast_embed(const link::BroadcastMessage& b) {
  return json::object{{"title", fmt::format("📣 Broadcast from {}", cap_characters(b.source, 64))},
                      {"description", cap_characters(b.message, 500)},
                      {"color", 0x5865F2},
                      {"footer", json::object{{"text", cap_characters("by " + b.author, 200)}}}};
}

} // namespace shardline::admin
