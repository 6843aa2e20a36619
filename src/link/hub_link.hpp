#pragma once
// The client side of the IPC network (contract sections 3, 4 and 8): authenticates to the hub
// (v2, or v1 when legacy auth is enabled), verifies the hub in turn, heartbeats, publishes
// stats, answers queries, and reconnects with backoff. Also the request API used by the
// admin tools: a request to one target with a deadline, or to "all" with one result per
// cluster plus the clusters that did not answer in time.

#include "link/cluster_state.hpp"
#include "net/stream.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shardline::link {

struct LinkOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 20000;
  std::string secret;
  std::string name;
  bool admin = false;           // role admin: never counted as a cluster, may only send requests
  bool legacy = false;          // speak version 1 (plaintext secret)
  std::vector<std::uint32_t> shard_ids;
  std::uint32_t shard_count = 0;
  std::string instance;         // random per process start
  std::int64_t generation = 0;
  std::chrono::duration<double> heartbeat{30};
  std::chrono::duration<double> stats_interval{60};
  std::chrono::duration<double> connect_timeout{10};
  std::chrono::duration<double> idle_timeout{120};
  bool reconnect = true;
  std::chrono::duration<double> reconnect_min{5};
  std::chrono::duration<double> reconnect_max{120};
  ssl::context* tls = nullptr;
};

struct RequestResult {
  bool ok = false;
  std::string from;            // the answering cluster (or the hub, for errors it raised)
  std::string op;              // the reply's op
  boost::json::object data;    // the reply's data
  std::string error;           // error code when !ok: an `error` frame's code, "timeout", "not_linked"
};

struct FanoutResult {
  std::map<std::string, RequestResult> replies; // by cluster name
  std::vector<std::string> missing;             // delivered to, no answer before the deadline
};

// session_start_limit as last fetched from GET /gateway/bot.
struct SessionBudget {
  std::uint32_t total = 0, remaining = 0;
  std::uint64_t reset_after_ms = 0;
};

struct IdentifySlotRequest {
  std::uint32_t shard_id = 0, shard_count = 1, max_concurrency = 1;
  std::uint32_t window_ms = 5000;      // Discord's IDENTIFY window (100..60000)
  std::optional<SessionBudget> budget; // sent when known: the hub refuses below its reserve
};

struct IdentifySlotResult {
  enum class Status {
    granted,        // IDENTIFY now
    refused_budget, // the daily budget is down to the hub's reserve: do not IDENTIFY (message says more)
    not_linked,     // no hub link, or it dropped while waiting: pace IDENTIFYs locally
    timeout,        // no answer in time (the hub may still grant this request later)
    error,          // the hub refused the request (bad_request, unknown_op from an old hub...) or v1 link
  } status = Status::error;
  std::string message;
  std::optional<std::uint32_t> remaining; // granted: the hub's view of the budget after this grant
};

// One shard's Discord session, as a cluster reports it to the hub and gets it back
// (docs/ipc-hub.md, "Shard sessions").
struct ReportedSession {
  std::uint32_t shard_id = 0;
  std::string session_id; // empty = deleted (Discord invalidated it)
  std::uint64_t seq = 0;
  std::string resume_url; // resume_gateway_url from READY
};

// A broadcast_message from another cluster (or this one's own, handed back locally).
struct BroadcastMessage {
  std::string source;  // the sending cluster
  std::string message; // at most 500 characters (longer is cut, as the contract says)
  std::string author;
  std::uint64_t author_id = 0;
};

// What `/ipcstatus` shows of a client's link.
struct LinkStatus {
  bool linked = false;
  std::string hub;                      // the hub's name, from its auth_response
  std::string host;
  std::uint16_t port = 0;
  bool tls = false, legacy = false;
  std::optional<double> linked_for_s;   // since the current link authenticated
  std::optional<double> last_ack_age_s; // since the hub's last heartbeat_ack on this link
  std::optional<double> latency_s;      // heartbeat round trip
  std::uint64_t connects = 0;           // successful authentications since start
  std::string last_error;               // why the last link ended or failed, if it did
};

class HubLink {
public:
  static std::shared_ptr<HubLink> create(asio::io_context& io, LinkOptions options, ClusterState* state);
  ~HubLink();

  // Runs until stop(): connect, authenticate, serve, and reconnect with backoff.
  void start();
  void stop();

  // One attempt, for tools: connect and authenticate. Returns an empty string on success,
  // else an operator-facing reason ("Auth failed: check SHARD_IPC_SECRET", "Can't connect ...").
  asio::awaitable<std::string> connect_once();
  // Serves frames of a connect_once() link until it closes (replies to requests need it).
  void serve();

  asio::awaitable<RequestResult> request(std::string op, boost::json::object data, std::string target,
                                         std::chrono::milliseconds timeout);
  asio::awaitable<FanoutResult> request_all(std::string op, boost::json::object data,
                                            std::chrono::milliseconds timeout);
  // Waits for the hub's permission to IDENTIFY one shard (docs/ipc-hub.md, "IDENTIFY slots").
  // The grant comes when the shard's bucket is free for every cluster of the bot, so this may
  // wait several windows; `timeout` bounds it. Returns at once with not_linked when the link is
  // down, and as soon as it drops while waiting. A request for the same shard replaces an
  // earlier one that is still queued at the hub (e.g. after a timeout).
  asio::awaitable<IdentifySlotResult> request_identify_slot(IdentifySlotRequest req, std::chrono::milliseconds timeout);
  // Hands the shards' sessions to the hub, fire and forget, so that a process started elsewhere
  // can RESUME them (docs/ipc-hub.md, "Shard sessions"). An empty session_id deletes the shard's
  // session at the hub. Entries the hub would refuse (shard_id >= shard_count, a malformed
  // session_id or resume_url) are left out and logged, so one bad entry does not sink the rest;
  // large reports are split over several frames. Returns false, sending nothing, when not linked,
  // on a v1 or admin link, when the hub said it does not know session_report (an older hub), or
  // when shard_count is not 1..1,048,576.
  bool report_sessions(std::uint32_t shard_count, std::vector<ReportedSession> sessions);
  // The sessions the hub holds for these shards of the layout with `shard_count` shards; shards it
  // knows nothing of (never reported, deleted, or older than its max age) are left out. Shard ids
  // >= shard_count and duplicates are ignored; more than 4,096 ids take several requests, all
  // within `timeout`. nullopt: not linked (or the link dropped), v1 or admin link, timeout, or the
  // hub refused the lookup (an older hub answers unknown_op).
  asio::awaitable<std::optional<std::vector<ReportedSession>>> lookup_sessions(std::uint32_t shard_count,
                                                                               std::vector<std::uint32_t> shard_ids,
                                                                               std::chrono::milliseconds timeout);
  // Fire and forget (broadcast_message, stats_broadcast...). False if not linked.
  bool send(std::string_view op, boost::json::object data, std::string_view target = "all");

  bool linked() const;
  const std::string& server_name() const;
  const std::string& name() const;
  // Called when the hub fences this process (a newer generation took the name).
  void on_superseded(std::function<void()> f);
  // Called for every broadcast_message that reaches this cluster.
  void on_broadcast(std::function<void(const BroadcastMessage&)> f);
  LinkStatus status() const;
  // Called for a layout_request from the supervisor: whether bot code gets events now.
  void on_layout(std::function<void(bool active)> f);

  class Impl;

private:
  explicit HubLink(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

} // namespace shardline::link
