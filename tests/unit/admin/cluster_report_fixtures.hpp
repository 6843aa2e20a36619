#pragma once
// The hub's status and the clusters' stats replies, shaped as the IPC network sends them, for
// the tests of the report and of its renderings (terminal table, Discord embed).

#include "link/hub_link.hpp"

#include <boost/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>

namespace shardline::admin::fixtures {

inline boost::json::object client(std::string name, std::string role, std::string health, double age) {
  return boost::json::object{{"name", name}, {"role", role}, {"health", health}, {"last_heartbeat_age", age},
                             {"proto", 2}, {"address", "127.0.0.1:5000"}};
}

inline link::Reply stats_reply(std::string from, std::uint64_t guilds, std::uint64_t users, std::uint64_t shards,
                               boost::json::value latency = 0.05) {
  link::Reply r;
  r.from = from;
  r.op = "stats_broadcast";
  r.data = boost::json::object{{"cluster_name", from}, {"guild_count", guilds}, {"user_count", users},
                               {"shard_count", shards}, {"shard_ids", boost::json::array{0, 1}}, {"latency", latency},
                               {"uptime", 3725.0}, {"mode", "client"}};
  return r;
}

inline boost::json::object hub_with(boost::json::array clients) {
  return boost::json::object{{"hub", "cluster-0"}, {"mode", "hub"},          {"host", "127.0.0.1"},
                             {"port", 20000},      {"uptime", 90.0},         {"legacy_auth", false},
                             {"tls", false},       {"clients", std::move(clients)}};
}

// A reply that is an `error` frame, as a cluster without a route or the hub sends it.
inline link::Reply error_reply(std::string from, std::string code) {
  return link::Reply{std::move(from), "error", boost::json::object{{"code", code}, {"message", code}}};
}

// The hub status as a tool decodes it; an empty object stands for a hub that did not answer.
inline std::optional<protocol::HubStatus> status_of(const boost::json::object& hub) {
  if (hub.empty()) return std::nullopt;
  auto s = protocol::decode<protocol::HubStatus>(hub);
  if (!s) throw std::runtime_error("fixture hub status does not decode: " + s.error().message);
  return *s;
}

} // namespace shardline::admin::fixtures
