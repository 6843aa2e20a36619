#pragma once
// One struct per op's `data` (docs/protocol.md §3-§4, §9, §13.2), converted to and from JSON in one
// place. Every message has `static T read(const ObjectReader&)` (what a peer may send: types and
// ranges, with errors that name the field) and `void write(json::object&) const` (what Shardline
// sends); the tag_invoke overloads at the end make them Boost.JSON conversions, so
// `json::value_from(msg)` and `json::value_to<T>(v)` work, and decode<T>() gives a Result.
//
// The hub's routing hot path never builds these: it forwards bytes after reading the envelope
// (protocol/envelope.hpp). They are for what a process handles itself: auth, queries, control.
// The hub's own services (status, IDENTIFY slots, sessions, the supervisor's control) are in
// protocol/hub_messages.hpp.

#include "protocol/json_read.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shardline::protocol {

namespace json = boost::json;

// Limits on what a peer's auth frame may announce (docs/protocol.md §3).
inline constexpr std::uint32_t kMaxShardId = (1u << 20) - 1;
inline constexpr std::size_t kMaxShardIdsPerAuth = 1u << 16;
inline constexpr std::size_t kMaxInstanceChars = 128;

// ---- authentication (§3) ---------------------------------------------------------------------

// `auth`, both versions: version 2 carries `proto: 2` and a client nonce, version 1 the secret.
struct Auth {
  int proto = 1; // 2 when the frame says `proto: 2`
  std::string cluster_name;
  std::vector<std::uint32_t> shard_ids;
  std::uint32_t shard_count = 0;
  std::uint64_t guild_count = 0;
  // Version 2.
  std::string role = "cluster"; // "cluster" or "admin"
  std::string instance;
  std::int64_t generation = 0;
  std::string client_nonce; // 32 lowercase hex digits
  // Version 1: the shared secret in clear text (legacy auth only).
  std::optional<std::string> secret;

  bool admin() const { return role == "admin"; }
  static Auth read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct AuthChallenge {
  std::string server_nonce;
  static AuthChallenge read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct AuthProof {
  std::string mac;
  static AuthProof read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct AuthResponse {
  bool success = false;
  std::string error;                          // when refused: "Invalid secret", ...
  std::string server_cluster;                 // the hub's name
  std::vector<std::string> connected_clients; // cluster names after the join
  int proto = 1;                              // 2 from a v2 hub
  std::string server_mac;                     // v2: the hub's proof
  static AuthResponse read(const ObjectReader& r);
  void write(json::object& o) const;
};

// hex HMAC-SHA256(secret, "shardline-v2-client|" + name + "|" + client_nonce + "|" + server_nonce),
// and the server's with "shardline-v2-server|" (§3).
std::string client_mac(std::string_view secret, std::string_view cluster_name, std::string_view client_nonce,
                       std::string_view server_nonce);
std::string server_mac(std::string_view secret, std::string_view cluster_name, std::string_view client_nonce,
                       std::string_view server_nonce);

// ---- liveness and stats (§4) -----------------------------------------------------------------

struct Heartbeat {
  std::optional<double> timestamp;
  std::optional<std::uint64_t> guild_count;
  static Heartbeat read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct HeartbeatAck {
  double timestamp = 0;
  static HeartbeatAck read(const ObjectReader& r);
  void write(json::object& o) const;
};

// `stats_broadcast` data, also the answer to `stats_request`. Read leniently: version-1 peers
// send NaN latencies (read as null) and may leave fields out; an ill-typed field reads as absent.
struct ClusterStats {
  std::string cluster_name;
  std::uint64_t guild_count = 0;
  std::uint64_t user_count = 0;
  std::uint64_t shard_count = 0; // shards this cluster runs (the seed reports the bot's total)
  std::vector<std::uint32_t> shard_ids;
  std::optional<double> latency; // seconds, mean gateway heartbeat round trip; none before one
  double uptime = 0;             // seconds
  std::string mode;              // "server" or "client"
  double timestamp = 0;
  std::optional<bool> active;          // Shardline: whether bot code gets events (reshards)
  std::optional<std::uint32_t> layout; // Shardline: the shard count of this cluster's layout
  std::optional<json::object> rest;    // Shardline: this process's REST calls (docs/rest.md)
  static ClusterStats read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct GuildCountResponse {
  std::uint64_t guild_count = 0, user_count = 0, shard_count = 0;
  static GuildCountResponse read(const ObjectReader& r);
  void write(json::object& o) const;
};

// Preset queries only (never code): guild_count, user_count, shard_count, latency, uptime
// (version 1), memory_rss, shard_status, cluster_info (version 2).
struct EvalRequest {
  std::string query;
  static EvalRequest read(const ObjectReader& r);
  void write(json::object& o) const;
};

// The preset queries a version-1 peer can be asked through its stats (it answers stats_request,
// not eval_request, unless it hosts the network): the answer to `query` read from `stats`, or
// nullopt for the presets stats do not carry (memory_rss, shard_status, cluster_info) and unknown
// ones. shard_count counts the peer's shard_ids when it sent them: the seed reports the bot's
// total shard count in that field, not its own.
std::optional<json::value> preset_from_stats(std::string_view query, const ClusterStats& stats);
inline constexpr const char* kPresetsFromStats = "guild_count, user_count, shard_count, latency, uptime";

struct EvalResponse {
  std::string query;
  json::value result; // the preset's value, or "unknown_query"
  static EvalResponse read(const ObjectReader& r);
  void write(json::object& o) const;
};

// ---- membership and messages (§4) ------------------------------------------------------------

struct ClusterJoin {
  std::string cluster_name;
  std::vector<std::uint32_t> shard_ids;
  static ClusterJoin read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct ClusterLeave {
  std::string cluster_name;
  static ClusterLeave read(const ObjectReader& r);
  void write(json::object& o) const;
};

inline constexpr std::size_t kMaxBroadcastChars = 500;

// `broadcast_message`. Read leniently, as the seed writes it: `author_id` a number (or a
// snowflake string from some peers), a missing author read as "?".
struct Broadcast {
  std::string message; // at most 500 characters; longer is cut on reading
  std::string author;
  std::uint64_t author_id = 0;
  static Broadcast read(const ObjectReader& r);
  void write(json::object& o) const;
};

// `error` (version 2): a refused or failed request, or a protocol violation.
struct ErrorMessage {
  std::string code;
  std::string message;
  std::string target; // no_route: the target that had no route
  static ErrorMessage read(const ObjectReader& r);
  void write(json::object& o) const;
};

// `fanout` (§9): the clusters a request to "all" was delivered to.
struct Fanout {
  std::vector<std::string> targets;
  static Fanout read(const ObjectReader& r);
  void write(json::object& o) const;
};

// `layout_request` / `layout_response`: whether a cluster's bot code gets events (§13.2).
struct Layout {
  bool active = true;
  static Layout read(const ObjectReader& r);
  void write(json::object& o) const;
};

// ---- conversions -----------------------------------------------------------------------------

template <class T>
concept Message = requires(const T& m, json::object& o, const ObjectReader& r) {
  { T::read(r) } -> std::same_as<T>;
  m.write(o);
};

// The data object of a message.
template <Message T>
json::object to_data(const T& m) {
  json::object o;
  m.write(o);
  return o;
}

template <Message T>
void tag_invoke(json::value_from_tag, json::value& v, const T& m) {
  m.write(v.emplace_object());
}

template <Message T>
T tag_invoke(json::value_to_tag<T>, const json::value& v) {
  return T::read(ObjectReader(v));
}

} // namespace shardline::protocol
