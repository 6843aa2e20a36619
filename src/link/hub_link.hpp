#pragma once
// The client side of the IPC network (docs/protocol.md §3, §4, §8), used by clusters and by the
// admin tools alike: authenticates to the hub (version 2, or 1 when legacy auth is on), verifies
// the hub in turn, heartbeats, publishes stats, answers preset queries, and reconnects with
// backoff. Requests go to one target with a deadline, or to "all" with one answer per cluster
// plus the clusters that did not answer in time.
//
// Every fallible call returns a Result (core/error.hpp): timeout, not_connected (no link, or it
// dropped while waiting), unsupported (a version-1 link or an older hub), refused or bad_input
// (the hub's answer). An `error` frame that answers a request is an answer, not a failure:
// Reply::is_error() tells, with the peer's code.

#include "core/clock.hpp"
#include "core/error.hpp"
#include "link/cluster_state.hpp"
#include "net/stream.hpp"
#include "protocol/hub_messages.hpp"
#include "protocol/session_fields.hpp"

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
  bool admin = false;  // role admin: never counted as a cluster, may only send requests
  // SHARD_IPC_LEGACY_AUTH: when the hub refuses version 2 outright, as the seed's server does
  // (it reads only the clear-text secret), authenticate again with version 1. A Shardline hub
  // always answers version 2 with a challenge, so it never sees the fallback.
  bool allow_v1 = false;
  std::vector<std::uint32_t> shard_ids;
  std::uint32_t shard_count = 0;
  std::string instance; // random per process start
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

// One answer to a request.
struct Reply {
  std::string from; // the answering cluster (or the hub, for what it answers itself)
  std::string op;   // the reply's op; "error" for an error answer
  boost::json::object data;

  bool is_error() const { return op == "error"; }
  // An error answer's code ("no_route", "unknown_op"...) and message; empty otherwise.
  std::string error_code() const;
  std::string error_message() const;
  // The data as a typed message (protocol/messages.hpp), or bad_input naming the field.
  template <protocol::Message T>
  Result<T> as() const {
    return protocol::decode<T>(data);
  }
};

struct FanoutResult {
  std::map<std::string, Reply> replies; // by cluster name
  std::vector<std::string> missing;     // delivered to, no answer before the deadline
};

// A broadcast_message from another cluster (or this one's own, handed back locally).
struct BroadcastMessage : protocol::Broadcast {
  std::string source; // the sending cluster
};

// What `/ipcstatus` shows of a client's link.
struct LinkStatus {
  bool linked = false;
  std::string hub; // the hub's name, from its auth_response
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

  // One attempt, for tools: connect and authenticate, then serve the link until it closes
  // (replies to requests need it). The error's message is for the operator ("Auth failed:
  // check SHARD_IPC_SECRET", "Can't connect ...").
  asio::awaitable<Result<void>> connect_once();
  // Returns as soon as the link is up (at once if it is), false if `deadline` passes first.
  asio::awaitable<bool> wait_linked(steady::time_point deadline);

  asio::awaitable<Result<Reply>> request(std::string op, boost::json::object data, std::string target,
                                         std::chrono::milliseconds timeout);
  template <protocol::Message T>
  asio::awaitable<Result<Reply>> request(std::string op, const T& msg, std::string target,
                                         std::chrono::milliseconds timeout) {
    return request(std::move(op), protocol::to_data(msg), std::move(target), timeout);
  }
  asio::awaitable<FanoutResult> request_all(std::string op, boost::json::object data,
                                            std::chrono::milliseconds timeout);
  // The hub's status (hub_status_request).
  asio::awaitable<Result<protocol::HubStatus>> hub_status(std::chrono::milliseconds timeout);
  // Fire and forget (broadcast_message, stats_broadcast...); not_connected when not linked.
  Result<void> send(std::string_view op, boost::json::object data, std::string_view target = "all");

  // Waits for the hub's permission to IDENTIFY one shard (docs/protocol.md §11). The grant
  // comes when the shard's bucket is free for every cluster of the bot, so this may wait several
  // windows; `timeout` bounds it. Errors: not_connected (at once when the link is down, and as
  // soon as it drops while waiting), busy (the daily budget is down to the hub's reserve; the
  // message is the hub's), timeout (the hub may still grant this request later), unsupported (a
  // version-1 link, or a hub that does not know the op), bad_input (the hub refused the request).
  // A request for the same shard replaces an earlier one that is still queued at the hub.
  asio::awaitable<Result<protocol::IdentifyGrant>> request_identify_slot(protocol::IdentifyRequest req,
                                                                         std::chrono::milliseconds timeout);
  // Hands the shards' sessions to the hub, fire and forget, so that a process started elsewhere
  // can RESUME them (docs/protocol.md §12). An empty session_id deletes the shard's session at
  // the hub. Entries the hub would refuse (shard_id >= shard_count, a malformed session_id or
  // resume_url) are left out and logged, so one bad entry does not sink the rest; large reports
  // are split over several frames. Errors: not_connected, unsupported (a v1 or admin link, or the
  // hub said it does not know session_report), bad_input (shard_count not 1..1,048,576).
  Result<void> report_sessions(std::uint32_t shard_count, std::vector<protocol::ShardSession> sessions);
  // The sessions the hub holds for these shards of the layout with `shard_count` shards; shards
  // it knows nothing of are left out. Ids >= shard_count and duplicates are ignored; more than
  // 4,096 ids take several requests, all within `timeout`.
  asio::awaitable<Result<std::vector<protocol::ShardSession>>> lookup_sessions(std::uint32_t shard_count,
                                                                               std::vector<std::uint32_t> shard_ids,
                                                                               std::chrono::milliseconds timeout);

  bool linked() const;
  // The link speaks version 1 (the hub is the seed's server): no request ids, no hub status.
  bool speaks_v1() const;
  // The cluster names the hub announced (auth_response, cluster_join, cluster_leave), this
  // link's own excluded.
  std::vector<std::string> known_clusters() const;
  const std::string& server_name() const;
  const std::string& name() const;
  LinkStatus status() const;
  // Called when the hub fences this process (a newer generation took the name).
  void on_superseded(std::function<void()> f);
  // Called for every broadcast_message that reaches this cluster.
  void on_broadcast(std::function<void(const BroadcastMessage&)> f);
  // Called for a layout_request from the supervisor: whether bot code gets events now.
  void on_layout(std::function<void(bool active)> f);
  // Called when the hub announces a cluster joining (with the shards it runs) or leaving: a
  // directory of who holds what can follow at once instead of at its next hub_status.
  void on_membership(std::function<void(const protocol::ClusterJoin* joined, std::string_view left)> f);
  // Called each time the link (re)authenticates with version 2, before anything else is sent
  // on it: what the hub must know first goes out from here (the REST gate's rest_sync).
  void on_linked(std::function<void()> f);

  class Impl;

private:
  explicit HubLink(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

} // namespace shardline::link
