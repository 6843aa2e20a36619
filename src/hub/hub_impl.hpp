#pragma once
// The hub's insides, shared by its translation units: hub.cpp (listening, reading, deadlines,
// closing), hub_frames.cpp (authentication and routing of frames), hub_services.cpp (what the
// hub answers itself: status, IDENTIFY slots, shard sessions, the supervisor's control). The
// pure rules live in directory, router, admission and legacy_v1; this class applies them to
// connections. Runs on one io_context thread: no locks.

#include "hub/connection.hpp"
#include "hub/directory.hpp"
#include "hub/hub.hpp"
#include "hub/identify_scheduler.hpp"
#include "hub/session_registry.hpp"
#include "protocol/body.hpp"
#include "protocol/envelope.hpp"
#include "protocol/hub_messages.hpp"
#include "ratelimit/rest_limit_state.hpp"

#include <boost/json.hpp>

#include <list>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace shardline::hub {

namespace json = boost::json;

class Hub::Impl : public std::enable_shared_from_this<Hub::Impl> {
public:
  Impl(asio::io_context& io, HubOptions opt);

  Result<std::uint16_t> listen();
  void start();
  void stop();

  std::uint16_t port() const { return port_; }
  std::size_t connection_count() const { return all_.size(); }
  std::size_t authenticated_count() const { return directory_.size(); }

private:
  // ---- hub.cpp: connections --------------------------------------------------------------
  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self);
  void admit(const ConnPtr& c);
  static asio::awaitable<void> read_loop(std::shared_ptr<Impl> self, ConnPtr c);
  static asio::awaitable<void> sweep_loop(std::shared_ptr<Impl> self);
  void sweep(steady::time_point now);
  void update_health(steady::time_point now);
  // `log_it`: the hub dropped this connection on purpose (logged at warn as `closed ADDR: why`).
  void close(Connection& c, const std::string& why, bool log_it);
  // Sends what is queued (an error frame, typically), then closes; gives up after 1 s.
  void close_after_flush(Connection& c, const std::string& why);
  void finish_close(Connection& c);
  void release(Connection& c);
  void unregister(Connection& c, const std::string& why);

  // ---- hub_frames.cpp: authentication and routing ----------------------------------------
  void on_frame(const ConnPtr& c, std::string_view body, std::string_view wire);
  void on_auth(const ConnPtr& c, std::string_view body);
  void on_proof(const ConnPtr& c, std::string_view body);
  void refuse_auth(const ConnPtr& c, std::string_view error);
  void complete_auth(const ConnPtr& c);
  void start_probe(const ConnPtr& newcomer, Connection& holder);
  void settle_probes(steady::time_point now);
  void holder_answered(Connection& holder);
  void keep_v1_alive(steady::time_point now);
  void on_routed(const ConnPtr& c, std::string_view body, std::string_view wire);
  void route_frame(const ConnPtr& c, const protocol::Envelope& env, const std::string& id, std::string_view wire);
  void deliver(Connection& dest, std::string_view wire);
  void slow_consumer(Connection& c);
  void on_heartbeat(Connection& c);
  // An eval_request for a version-1 peer, which answers stats_request only (docs/protocol.md §16).
  void ask_v1_through_stats(Connection& requester, Connection& dest, const std::string& id);
  void answer_eval_from_stats(Connection& peer, std::string_view requester, const std::string& id,
                              const std::string& query);
  void keep_stats(Connection& c);
  bool legacy_json(const Connection& c) const { return c.proto == 1 || (c.proto == 0 && opt_.legacy_auth); }

  // Sending. `reply_to` is dropped for version-1 peers (the field does not exist for them).
  template <protocol::Message T>
  void send(Connection& c, std::string_view op, const T& msg, std::string_view reply_to = {}, bool ignore_cap = false) {
    send_data(c, op, protocol::to_data(msg), reply_to, ignore_cap);
  }
  void send_data(Connection& c, std::string_view op, json::object data, std::string_view reply_to, bool ignore_cap);
  // A frame the hub writes on a peer's behalf (`source`): answers for version-1 peers.
  void send_as(Connection& to, std::string_view source, std::string_view op, json::object data,
               std::string_view reply_to);
  void send_to_clusters(std::string_view op, json::object data, const Connection* except);
  // A protocol violation: v2 peers get an `error` frame, v1 peers nothing; the frame is dropped.
  void reject(Connection& c, std::string_view code, std::string_view message, std::string_view reply_to);
  // An `error` answer that is not a protocol violation (not counted as rejected).
  void send_error(Connection& c, std::string_view code, std::string_view message, std::string_view reply_to);

  // ---- hub_services.cpp: what the hub answers itself --------------------------------------
  // The current frame's `data` (absent reads as {}), or nullopt when it is not an object.
  std::optional<json::value> current_data();
  void on_identify_request(const ConnPtr& c, const std::string& id);
  void run_identify();
  void arm_identify();
  void forget_identify(Connection& c);
  void on_session_op(const ConnPtr& c, std::string_view op, const std::string& id);
  void on_session_report(Connection& c, const json::value& data, const std::string& id);
  void on_session_lookup(Connection& c, const json::value& data, const std::string& id);
  void on_launch_request(Connection& c, const std::string& id);
  // ---- hub_rest.cpp: the REST coordinator ---------------------------------------------------
  void on_rest_op(const ConnPtr& c, std::string_view op, const std::string& id);
  void run_rest();
  void arm_rest();
  void forget_rest(Connection& c);
  json::object rest_status() const;
  protocol::HubStatus status(steady::time_point now);

  asio::io_context& io_;
  HubOptions opt_;
  tcp::acceptor acceptor_;
  asio::steady_timer sweeper_;
  steady::time_point started_at_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;

  // Newcomers waiting for a version-1 name holder to answer (or not) within v1_probe_timeout.
  struct Probe {
    std::weak_ptr<Connection> newcomer, holder;
    steady::time_point deadline;
  };
  std::vector<Probe> probes_;

  std::unordered_set<ConnPtr> all_;
  std::list<std::weak_ptr<Connection>> pending_; // unauthenticated, oldest first
  Directory directory_;
  std::uint64_t next_serial_ = 0;

  IdentifyScheduler identify_;
  asio::steady_timer identify_timer_;
  bool identify_armed_ = false;
  steady::time_point identify_armed_at_{};
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> identify_conns_; // serial -> requester

  ratelimit::RestLimitState rest_;
  asio::steady_timer rest_timer_;
  bool rest_armed_ = false;
  steady::time_point rest_armed_at_{};
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> rest_conns_; // serial -> requester
  std::unordered_set<std::uint64_t> rest_synced_; // connections whose rest_sync was taken

  SessionRegistry sessions_;
  bool sessions_full_warned_ = false;

  protocol::EnvelopeParser parser_;
  protocol::NonceSource nonces_;
  std::uint64_t routed_ = 0, rejected_ = 0, unroutable_ = 0;
};

} // namespace shardline::hub
