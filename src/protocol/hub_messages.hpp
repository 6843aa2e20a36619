#pragma once
// The messages of the hub's own services (docs/protocol.md §10-§13): its status, IDENTIFY slots,
// shard sessions, and the control of the supervisor that hosts it. Same shape as
// protocol/messages.hpp: read() checks what a peer sends (types and ranges, errors naming the
// field), write() is what Shardline sends.

#include "core/config.hpp"
#include "protocol/messages.hpp"
#include "protocol/session_fields.hpp"

#include <optional>
#include <string>
#include <vector>

namespace shardline::protocol {

// ---- hub status (§10) -------------------------------------------------------------------------

// One connected peer as the hub sees it.
struct HubClient {
  std::string name;
  std::string role; // "cluster" or "admin"
  int proto = 2;
  std::string address;
  std::vector<std::uint32_t> shard_ids;
  std::uint32_t shard_count = 0;
  std::uint64_t guild_count = 0;
  std::int64_t generation = 0;
  double connected_for = 0;      // seconds
  double last_heartbeat_age = 0; // seconds
  std::string health;            // green, yellow, red
  std::optional<ClusterStats> stats; // the latest stats_broadcast it sent
  std::optional<double> stats_age;   // seconds since then
  bool cluster() const { return role == "cluster"; }
  static HubClient read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct IdentifyStatus {
  std::uint64_t granted = 0;
  std::uint64_t queued = 0;
  std::uint32_t max_concurrency = 0; // 0 before the first request
  std::uint32_t window_ms = 0;
  std::optional<std::uint32_t> budget_remaining; // unknown until a cluster reports one
  std::uint64_t refused_budget = 0;
  std::uint32_t reserve = 0;
  static IdentifyStatus read(const ObjectReader& r);
  void write(json::object& o) const;
};

// `hub_status_response`.
struct HubStatus {
  std::string hub;
  std::string mode; // "hub" or "server"
  std::string host;
  std::uint16_t port = 0;
  int proto = 2;
  bool legacy_auth = false;
  bool tls = false;
  double uptime = 0;
  std::uint64_t connections = 0;
  std::uint64_t unauthenticated = 0;
  std::uint64_t routed = 0, rejected = 0, unroutable = 0;
  std::vector<HubClient> clients;
  IdentifyStatus identify;
  std::uint64_t sessions_known = 0; // a count: the sessions themselves are never shown
  std::optional<json::object> rest; // the REST coordinator's counters (docs/rest.md), if it runs
  HealthThresholds thresholds;
  static HubStatus read(const ObjectReader& r);
  void write(json::object& o) const;
  // The clients of role cluster, sorted by name.
  std::vector<const HubClient*> clusters() const;
};

// ---- IDENTIFY slots (§11) --------------------------------------------------------------------

// session_start_limit as a cluster last read it from GET /gateway/bot.
struct SessionBudget {
  std::uint32_t total = 0;
  std::uint32_t remaining = 0;
  std::uint64_t reset_after_ms = 0;
  static SessionBudget read(const ObjectReader& r);
  void write(json::object& o) const;
};

// `identify_request`. Types are checked here; ranges by the hub's scheduler, which answers
// bad_request with the rule (hub/identify_scheduler.hpp).
struct IdentifyRequest {
  std::uint32_t shard_id = 0;
  std::uint32_t shard_count = 1;
  std::uint32_t max_concurrency = 1;
  std::uint32_t window_ms = 5000;
  std::optional<SessionBudget> budget;
  static IdentifyRequest read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct IdentifyGrant {
  std::uint32_t shard_id = 0, shard_count = 0, bucket = 0;
  std::optional<std::uint32_t> remaining; // the budget after this grant; unknown: null
  static IdentifyGrant read(const ObjectReader& r);
  void write(json::object& o) const;
};

// ---- shard sessions (§12) --------------------------------------------------------------------

// One entry of a `session_report`. session_id nullopt: Discord invalidated it; forget it.
struct SessionReportItem {
  std::uint32_t shard_id = 0;
  std::optional<std::string> session_id;
  std::uint64_t seq = 0;
  std::string resume_url;
  std::string binding; // optional (empty: none)
  static SessionReportItem read(const ObjectReader& r);
  void write(json::object& o) const;
};

// `session_report`: types and ranges both (a report is applied whole or not at all).
struct SessionReport {
  std::uint32_t shard_count = 0;
  std::vector<SessionReportItem> sessions;
  static SessionReport read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct SessionReportAck {
  std::uint64_t stored = 0, deleted = 0, ignored = 0;
  static SessionReportAck read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct SessionLookup {
  std::uint32_t shard_count = 0;
  std::vector<std::uint32_t> shard_ids;
  static SessionLookup read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct SessionLookupEntry {
  std::uint32_t shard_id = 0, shard_count = 0;
  std::string session_id;
  std::uint64_t seq = 0;
  std::string resume_url;
  std::string reported_by;
  double age_s = 0;
  std::string binding; // optional (empty: none)
  static SessionLookupEntry read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct SessionLookupResponse {
  std::vector<SessionLookupEntry> sessions;
  std::vector<std::uint32_t> more; // known, but did not fit this frame: ask again
  static SessionLookupResponse read(const ObjectReader& r);
  void write(json::object& o) const;
};

// The range rules of the two (read() applies them; the session store too, for reports built
// in code). Empty, or what is wrong, naming the entry and field.
std::string validate(const SessionReport& r);
std::string validate(const SessionLookup& l);

// ---- the supervisor's control (§13) ----------------------------------------------------------

// `launch_request`: action "status", "restart" (rolling: true, or bots: true) or "reshard"
// (shards: N).
struct LaunchRequest {
  std::string action;
  bool rolling = false;
  std::optional<std::uint32_t> shards;
  bool bots = false; // restart: the bot processes (SHARD_BOT_COMMAND), not the clusters
  static LaunchRequest read(const ObjectReader& r);
  void write(json::object& o) const;
};

// The bot process (SHARD_BOT_COMMAND) the supervisor runs beside one cluster.
struct SupervisedBot {
  std::int64_t pid = 0;       // 0: none running
  double uptime = 0;          // seconds, of the current process
  std::uint32_t restarts = 0; // after its own deaths (not when its cluster was replaced)
  std::string state;          // waiting, running, restarting, given_up, no_endpoint
  std::string error;          // why it is not running, "" when it is
  std::string api_url;        // the DISCORD_API_URL it was given, "" before the endpoint is known
  static SupervisedBot read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct SupervisedCluster {
  std::string name;
  std::vector<std::uint32_t> shard_ids;
  std::int64_t pid = 0;
  std::int64_t generation = 0;
  bool up = false;
  std::uint32_t restarts = 0;
  bool given_up = false;
  std::optional<SupervisedBot> bot; // none without SHARD_BOT_COMMAND
  static SupervisedCluster read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct ReshardJob {
  bool running = false;
  std::uint32_t target = 0;
  std::string phase, error;
  static ReshardJob read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct RollingJob {
  bool running = false;
  std::uint64_t done = 0, skipped = 0, total = 0;
  std::string current, error;
  static RollingJob read(const ObjectReader& r);
  void write(json::object& o) const;
};

// `launch_response` to "status".
struct SupervisorStatus {
  std::vector<SupervisedCluster> clusters;
  std::uint32_t shard_count = 0;
  ReshardJob reshard;
  RollingJob rolling;
  RollingJob bots; // `shardline restart --bots`: bot processes replaced one cluster at a time
  static SupervisorStatus read(const ObjectReader& r);
  void write(json::object& o) const;
};

// `launch_response` to "restart" and "reshard": started, or the reason it was not.
struct LaunchStarted {
  bool started = false;
  std::string error;
  std::optional<std::uint64_t> clusters;     // restart: how many will be replaced
  std::optional<std::uint32_t> from, to;     // reshard: the shard counts
  static LaunchStarted read(const ObjectReader& r);
  void write(json::object& o) const;
};

} // namespace shardline::protocol
