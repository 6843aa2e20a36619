#pragma once
// The link's insides, shared by its translation units: hub_link.cpp (connecting,
// authenticating, the read/heartbeat/stats loops, reconnecting), link_requests.cpp (requests and
// their answers, and the frames a cluster answers itself), link_services.cpp (IDENTIFY slots and
// shard sessions at the hub). Runs on one io_context thread: no locks.

#include "link/hub_link.hpp"
#include "net/backoff.hpp"
#include "net/event.hpp"
#include "net/frame_writer.hpp"
#include "protocol/body.hpp"
#include "protocol/frame_codec.hpp"
#include "protocol/ops.hpp"

#include <set>
#include <unordered_map>

namespace shardline::link {

namespace json = boost::json;

class HubLink::Impl : public std::enable_shared_from_this<HubLink::Impl> {
public:
  // A request waiting for its answers.
  struct Pending {
    explicit Pending(asio::any_io_executor ex) : done(std::move(ex)) {}
    net::Event done; // set when every answer is in, or the link dropped
    bool fanout = false;
    bool link_dropped = false;
    std::optional<std::set<std::string>> expected; // fanout: from the hub's `fanout` frame
    std::map<std::string, Reply> replies;
    // Version 1 carries no request ids: an answer is matched by its op and its source.
    std::string_view v1_reply_op;
    std::string target;
  };

  Impl(asio::io_context& io, LinkOptions opt, ClusterState* state);

  // ---- hub_link.cpp ------------------------------------------------------------------------
  void start();
  void stop();
  static asio::awaitable<void> run(std::shared_ptr<Impl> self);
  asio::awaitable<Result<void>> connect_once();
  asio::awaitable<Result<void>> connect_and_auth();
  // One connection and handshake in version 2, or in version 1.
  asio::awaitable<Result<void>> attempt(bool v1);
  // Reads frames until one with `op` arrives (auth phase only).
  asio::awaitable<Result<json::object>> expect(std::string_view op, steady::time_point deadline);
  // One frame body, or closed / timeout / protocol.
  asio::awaitable<Result<std::string>> read_frame(steady::time_point deadline);
  asio::awaitable<std::string> session();
  asio::awaitable<std::string> read_loop();
  asio::awaitable<void> heartbeat_loop();
  asio::awaitable<void> stats_loop();
  void close_stream();
  void set_linked(bool up);
  LinkStatus status() const;

  // ---- link_requests.cpp -------------------------------------------------------------------
  void on_frame(const std::string& body);
  void on_reply(Pending& p, const std::string& op, const std::string& source, const json::object& data);
  void answer(const std::string& requester, const std::string& id, std::string_view op, json::object data);
  void fail_pending();
  // The request a version-1 answer (`op` from `source`, no reply_to) belongs to; null if none.
  Pending* v1_pending_for(const std::string& op, const std::string& source);
  void push(const std::string& body);
  Result<void> send(std::string_view op, json::object data, std::string_view target, std::string_view id = {});
  asio::awaitable<Result<Reply>> request(std::string op, json::object data, std::string target,
                                         std::chrono::milliseconds timeout);
  asio::awaitable<FanoutResult> request_all(std::string op, json::object data, std::chrono::milliseconds timeout);

  // ---- link_services.cpp -------------------------------------------------------------------
  asio::awaitable<Result<protocol::IdentifyGrant>> request_identify_slot(protocol::IdentifyRequest req,
                                                                         std::chrono::milliseconds timeout);
  Result<void> report_sessions(std::uint32_t shard_count, std::vector<protocol::ShardSession> sessions);
  asio::awaitable<Result<std::vector<protocol::ShardSession>>> lookup_sessions(std::uint32_t shard_count,
                                                                               std::vector<std::uint32_t> shard_ids,
                                                                               std::chrono::milliseconds timeout);

  asio::io_context& io_;
  LinkOptions opt_;
  ClusterState* state_;
  net::Backoff backoff_;
  std::optional<net::IpcStream> stream_;
  std::unique_ptr<net::FrameWriter> writer_;
  protocol::FrameDecoder decoder_{protocol::kMaxFrameBytes, 4096};
  protocol::NonceSource nonces_;
  std::string server_name_;
  std::set<std::string> clusters_;
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending_;
  bool linked_ = false;
  bool v1_ = false;                  // this link speaks version 1
  bool refused_before_challenge_ = false; // the last version-2 auth got no challenge, only a refusal
  std::string v1_name_;              // the name this link authenticated with in version 1
  net::Event linked_event_{io_.get_executor()};
  bool stopped_ = false;
  bool superseded_ = false;
  bool hub_lacks_sessions_ = false; // the hub answered session_report with unknown_op
  std::function<void()> superseded_cb_;
  std::function<void(const BroadcastMessage&)> broadcast_cb_;
  std::function<void(bool)> layout_cb_;
  std::function<void(const protocol::ClusterJoin*, std::string_view)> membership_cb_;
  std::function<void()> linked_cb_;
  steady::time_point linked_since_{};
  steady::time_point last_ack_at_{};
  std::uint64_t connects_ = 0;
  std::string last_error_;
  asio::steady_timer* wake_ = nullptr; // the reconnect wait, cancelled by stop()
  steady::time_point heartbeat_sent_{};
  steady::time_point last_frame_at_{};
  double ipc_latency_ = 0;
};

} // namespace shardline::link
