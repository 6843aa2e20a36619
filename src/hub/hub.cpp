#include "hub/hub.hpp"

#include "core/crypto.hpp"
#include "core/sharding.hpp"
#include "hub/identify_scheduler.hpp"
#include "hub/session_registry.hpp"
#include "net/frame_writer.hpp"
#include "net/spawn_owned.hpp"
#include "protocol/envelope.hpp"
#include "protocol/frame_codec.hpp"
#include "protocol/health.hpp"
#include "protocol/messages.hpp"
#include "protocol/nonce_window.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <list>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace shardline::hub {

using protocol::FrameDecoder;
using protocol::DecodeStatus;
using protocol::kMaxFrameBytes;
using protocol::kHeaderBytes;
using protocol::encode_frame;
using protocol::Envelope;
using protocol::EnvelopeParser;
using protocol::EnvelopeStatus;
using protocol::replace_non_finite;
using protocol::NonceWindow;
using protocol::wall_seconds;
using protocol::NonceSource;
using protocol::OutFrame;
using protocol::build_body;
using protocol::parse_body;
using protocol::get_string;
using protocol::get_number;
using protocol::get_uint64;
using protocol::client_mac;
using protocol::server_mac;
using protocol::Health;
using protocol::health_from_heartbeat;
using net::spawn_owned;
using net::IpcStream;
using net::FrameWriter;

namespace json = boost::json;
using steady = std::chrono::steady_clock;

namespace {

enum class Role { cluster, admin };

// Operations the hub knows. Anything else is `unknown_op`.
enum class OpKind {
  unknown,
  heartbeat,
  stats_broadcast,
  request,        // stats_request, guild_count_request, eval_request
  response,       // replies: guild_count_response, eval_response
  broadcast,      // broadcast_message
  error,
  hub_status,     // hub_status_request: answered by the hub
  identify,       // identify_request: answered by the hub (docs/ipc-hub.md, "IDENTIFY slots")
  session_report, // session_report: kept by the hub (docs/ipc-hub.md, "Shard sessions")
  session_lookup, // session_lookup: answered by the hub
  launch,         // launch_request: answered by the supervisor hosting the hub (docs/supervisor.md)
  hub_only,       // sent by the hub only: a client may not send them
};

OpKind classify(std::string_view op) {
  if (op == "heartbeat") return OpKind::heartbeat;
  if (op == "stats_broadcast") return OpKind::stats_broadcast;
  if (op == "stats_request" || op == "guild_count_request" || op == "eval_request" || op == "layout_request")
    return OpKind::request;
  if (op == "guild_count_response" || op == "eval_response" || op == "layout_response") return OpKind::response;
  if (op == "broadcast_message") return OpKind::broadcast;
  if (op == "error") return OpKind::error;
  if (op == "hub_status_request") return OpKind::hub_status;
  if (op == "identify_request") return OpKind::identify;
  if (op == "session_report") return OpKind::session_report;
  if (op == "session_lookup") return OpKind::session_lookup;
  if (op == "launch_request") return OpKind::launch;
  if (op == "heartbeat_ack" || op == "cluster_join" || op == "cluster_leave" || op == "fanout" ||
      op == "hub_status_response" || op == "identify_grant" || op == "session_report_ack" ||
      op == "session_lookup_response" || op == "launch_response" || op == "auth" || op == "auth_challenge" ||
      op == "auth_proof" || op == "auth_response")
    return OpKind::hub_only;
  return OpKind::unknown;
}

bool is_hex(std::string_view s, std::size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

// An optional non-negative integer field: absent or null leaves `out` at 0; anything but an
// integer (a string, a fraction, a negative number) is refused.
bool optional_count(const json::object& d, std::string_view key, std::uint64_t& out) {
  out = 0;
  auto* v = d.if_contains(key);
  if (!v || v->is_null()) return true;
  if (v->is_uint64()) { out = v->get_uint64(); return true; }
  if (v->is_int64() && v->get_int64() >= 0) { out = static_cast<std::uint64_t>(v->get_int64()); return true; }
  if (v->is_double() && v->get_double() >= 0 && v->get_double() < 1.8e19 &&
      v->get_double() == std::floor(v->get_double())) {
    out = static_cast<std::uint64_t>(v->get_double());
    return true;
  }
  return false;
}

// The op that answers a request, as a version-1 peer sends it (contract section 4).
std::string_view reply_op_for(std::string_view request_op) {
  if (request_op == "stats_request") return "stats_broadcast";
  if (request_op == "guild_count_request") return "guild_count_response";
  if (request_op == "eval_request") return "eval_response";
  return {};
}

// Requests awaiting an answer from one v1 connection, kept at most this many (oldest dropped).
constexpr std::size_t kMaxV1Pending = 256;

double seconds_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

} // namespace

class Hub::Impl : public std::enable_shared_from_this<Hub::Impl> {
public:
  struct Connection;
  using ConnPtr = std::shared_ptr<Connection>;

  struct Connection : std::enable_shared_from_this<Connection> {
    enum class State { tls_handshake, awaiting_auth, awaiting_proof, authenticated, closing, closed };

    Connection(Impl& hub, IpcStream s)
        : hub(hub), stream(std::move(s)), decoder(hub.opt_.max_preauth_frame, 512),
          writer(stream, hub.opt_.max_outbuf_bytes), nonces(hub.opt_.nonce_window) {}

    Impl& hub;
    IpcStream stream;
    FrameDecoder decoder;
    FrameWriter writer;
    NonceWindow nonces;
    State state = State::awaiting_auth;
    std::string address;
    std::uint64_t serial = 0; // unique per connection for the hub's life: keys its IDENTIFY requests

    // Identity, once authenticated.
    int proto = 0;
    Role role = Role::cluster;
    std::string name;
    std::string instance;
    std::int64_t generation = 0;
    std::vector<std::uint32_t> shard_ids;
    std::uint32_t shard_count = 0;
    std::uint64_t guild_count = 0;
    bool registered = false;
    bool overflowed = false; // output cap passed: being closed as a slow consumer

    // Handshake (v2).
    std::string client_nonce;
    std::string server_nonce;

    // Deadlines, checked by the hub's sweeper.
    steady::time_point accepted_at = steady::now();
    steady::time_point authenticated_at{};
    steady::time_point last_frame_at = steady::now();
    steady::time_point body_started_at{};
    steady::time_point close_by{}; // closing: give up on flushing after this
    steady::time_point last_heartbeat{};
    Health health = Health::green;

    std::string last_stats; // latest stats_broadcast data, as JSON
    steady::time_point last_stats_at{};

    // A v1 peer answers a request without `reply_to` (the field does not exist for it), so
    // the hub remembers the requests with an id that it delivered to this v1 connection, in
    // order, and tags the matching answer (same op pair, addressed to the requester) with
    // the id. Without it a v1 cluster never answers an admin tool or a v2 requester.
    struct PendingRequest {
      std::string requester;
      std::string id;
      std::string_view reply_op; // static string
    };
    std::deque<PendingRequest> v1_pending;
    std::list<std::weak_ptr<Connection>>::iterator pending_it;
    bool in_pending = false;

    bool authenticated() const { return state == State::authenticated; }
    bool legacy_json() const { return proto == 1 || (proto == 0 && hub.opt_.legacy_auth); }
  };

  Impl(asio::io_context& io, HubOptions opt)
      : io_(io), opt_(std::move(opt)), acceptor_(io), sweeper_(io), started_at_(steady::now()),
        identify_(real_clock(), IdentifySchedulerOptions{opt_.identify_reserve}), identify_timer_(io),
        sessions_(real_clock(), SessionRegistryOptions{opt_.max_sessions, opt_.session_max_age}) {}

  std::uint16_t listen() {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(opt_.host, ec);
    if (ec) throw std::runtime_error("SHARD_IPC_HOST: '" + opt_.host + "' is not an IP address");
    tcp::endpoint ep(addr, opt_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (ec == asio::error::address_in_use)
      throw std::runtime_error("Port already in use: " + opt_.host + ":" + std::to_string(opt_.port) +
                               " (change SHARD_IPC_PORT or stop the process using it)");
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + opt_.host + ":" + std::to_string(opt_.port) + ": " +
                               ec.message());
    port_ = acceptor_.local_endpoint().port();
    spdlog::info("hub listening on {}:{}", opt_.host, port_);
    return port_;
  }

  void start() {
    spawn_owned(io_, accept_loop(shared_from_this()), "hub accept loop");
    spawn_owned(io_, sweep_loop(shared_from_this()), "hub sweeper");
  }

  void stop() {
    stopped_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    sweeper_.cancel();
    identify_timer_.cancel();
    auto all = all_;
    for (auto& c : all) close(*c, "hub stopping", false);
  }

  std::uint16_t port() const { return port_; }
  std::size_t connection_count() const { return all_.size(); }
  std::size_t authenticated_count() const { return by_name_.size(); }

private:
  // ---- accept, read, deadlines -------------------------------------------------------

  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    while (!self->stopped_) {
      auto [ec, sock] = co_await self->acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (self->stopped_ || ec == asio::error::operation_aborted) co_return;
        // Out of descriptors and the like: log, breathe, keep serving.
        spdlog::warn("accept failed: {}", ec.message());
        asio::steady_timer t(self->io_, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      boost::system::error_code ignored;
      sock.set_option(tcp::no_delay(true), ignored);
      auto conn = self->opt_.tls ? std::make_shared<Connection>(*self, IpcStream(std::move(sock), *self->opt_.tls))
                                 : std::make_shared<Connection>(*self, IpcStream(std::move(sock)));
      conn->address = conn->stream.remote_address();
      conn->serial = ++self->next_serial_;
      self->admit(conn);
      spawn_owned(self->io_, read_loop(self, conn), "hub connection");
    }
  }

  void admit(const ConnPtr& c) {
    // Over the cap, the oldest unauthenticated connection makes room: a flood of idle
    // sockets then costs bounded memory and can never lock an honest client out.
    while (pending_.size() >= opt_.max_pending) {
      auto victim = pending_.front().lock();
      pending_.pop_front();
      if (victim) {
        victim->in_pending = false;
        close(*victim, "too many unauthenticated connections", true);
      }
    }
    pending_.push_back(c);
    c->pending_it = std::prev(pending_.end());
    c->in_pending = true;
    all_.insert(c);
    // Weak captures: a write may complete after the hub or the connection is gone.
    std::weak_ptr<Impl> hub = shared_from_this();
    std::weak_ptr<Connection> conn = c;
    c->writer.on_error([hub, conn](const boost::system::error_code& ec) {
      auto h = hub.lock();
      auto c = conn.lock();
      if (h && c) h->close(*c, "write failed: " + ec.message(), false);
    });
    c->writer.on_drained([hub, conn] {
      auto h = hub.lock();
      auto c = conn.lock();
      if (h && c && c->state == Connection::State::closing) h->finish_close(*c);
    });
    if (c->stream.is_tls()) c->state = Connection::State::tls_handshake;
  }

  static asio::awaitable<void> read_loop(std::shared_ptr<Impl> self, ConnPtr c) {
    if (auto* tls = c->stream.tls()) {
      auto [ec] = co_await tls->async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        self->close(*c, "TLS handshake failed: " + ec.message(), true);
        co_return;
      }
      if (c->state == Connection::State::tls_handshake) c->state = Connection::State::awaiting_auth;
    }
    // Read size adapts: a busy connection gets large reads (fewer syscalls, more frames per
    // turn and so larger write batches), a quiet one gives its memory back.
    constexpr std::size_t kMinRead = 512, kMaxRead = 256 * 1024;
    std::size_t want = kMinRead;
    while (c->state == Connection::State::awaiting_auth || c->state == Connection::State::awaiting_proof ||
           c->state == Connection::State::authenticated) {
      std::size_t avail = 0;
      char* p = c->decoder.prepare(avail, want);
      auto [ec, n] = co_await c->stream.async_read_some(asio::buffer(p, avail), asio::as_tuple(asio::use_awaitable));
      if (ec) {
        self->close(*c, ec == asio::error::eof ? "peer closed" : ec.message(), false);
        co_return;
      }
      c->decoder.commit(n);
      auto now = steady::now();
      for (;;) {
        std::string_view body, wire;
        auto st = c->decoder.next(body, wire);
        if (st == DecodeStatus::need_more) break;
        if (st == DecodeStatus::zero_length) {
          self->close(*c, "zero-length frame", true);
          co_return;
        }
        if (st == DecodeStatus::too_large) {
          self->close(*c, "frame too large", true);
          co_return;
        }
        c->last_frame_at = now;
        self->on_frame(c, body, wire);
        if (c->state == Connection::State::closing || c->state == Connection::State::closed) co_return;
      }
      if (c->decoder.mid_frame()) {
        if (c->body_started_at == steady::time_point{}) c->body_started_at = now;
      } else {
        c->body_started_at = {};
        if (n < avail / 8) c->decoder.shrink_if_idle(4096);
      }
      want = n == avail ? std::min(avail * 2, kMaxRead) : kMinRead;
    }
  }

  static asio::awaitable<void> sweep_loop(std::shared_ptr<Impl> self) {
    auto last_health = steady::now();
    while (!self->stopped_) {
      self->sweeper_.expires_after(std::chrono::milliseconds(100));
      co_await self->sweeper_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (self->stopped_) co_return;
      auto now = steady::now();
      self->sweep(now);
      if (now - last_health >= std::chrono::seconds(1)) {
        last_health = now;
        self->update_health(now);
        // Expired sessions give their memory back even when nobody looks them up.
        if (auto n = self->sessions_.expire(); n > 0) spdlog::debug("sessions: {} expired", n);
      }
    }
  }

  void sweep(steady::time_point now) {
    std::vector<std::pair<ConnPtr, const char*>> expired;
    for (auto& c : all_) {
      using S = Connection::State;
      if (c->state == S::closing) {
        if (now >= c->close_by) expired.emplace_back(c, nullptr);
        continue;
      }
      if (c->state != S::authenticated) {
        if (now - c->accepted_at >= opt_.auth_timeout) expired.emplace_back(c, "auth timeout");
      } else if (now - c->last_frame_at >= opt_.idle_timeout) {
        expired.emplace_back(c, "idle timeout");
      }
      if (c->body_started_at != steady::time_point{} && now - c->body_started_at >= opt_.body_timeout)
        expired.emplace_back(c, "frame body timeout");
      else if (c->writer.writing() && now - c->writer.write_started() >= opt_.idle_timeout)
        expired.emplace_back(c, "write timeout");
    }
    for (auto& [c, why] : expired) {
      if (why) close(*c, why, true);
      else finish_close(*c);
    }
  }

  void update_health(steady::time_point now) {
    for (auto& [name, c] : by_name_) {
      if (c->role != Role::cluster) continue;
      auto h = health_from_heartbeat(seconds_between(c->last_heartbeat, now), opt_.health);
      if (h != c->health) {
        spdlog::log(h == Health::green ? spdlog::level::info : spdlog::level::warn, "health {}: {} -> {}",
                    name, to_string(c->health), to_string(h));
        c->health = h;
      }
    }
  }

  // ---- closing --------------------------------------------------------------------------

  // `log_it`: the hub dropped this connection on purpose (logged at warn as `closed ADDR: why`).
  void close(Connection& c, const std::string& why, bool log_it) {
    if (c.state == Connection::State::closed) return;
    if (log_it) spdlog::warn("closed {}: {}", c.address, why);
    else spdlog::debug("connection {} ended: {}", c.address, why);
    unregister(c, why);
    forget_identify(c);
    c.state = Connection::State::closed;
    c.stream.close();
    release(c);
  }

  // Sends what is queued (an error frame, typically), then closes; gives up after 1 s.
  void close_after_flush(Connection& c, const std::string& why) {
    if (c.state == Connection::State::closed || c.state == Connection::State::closing) return;
    spdlog::warn("closed {}: {}", c.address, why);
    unregister(c, why);
    forget_identify(c);
    c.state = Connection::State::closing;
    c.close_by = steady::now() + std::chrono::seconds(1);
    if (!c.writer.busy()) finish_close(c);
  }

  void finish_close(Connection& c) {
    if (c.state == Connection::State::closed) return;
    c.state = Connection::State::closed;
    c.stream.close();
    release(c);
  }

  void release(Connection& c) {
    if (c.in_pending) {
      pending_.erase(c.pending_it);
      c.in_pending = false;
    }
    all_.erase(c.shared_from_this());
  }

  void unregister(Connection& c, const std::string& why) {
    if (!c.registered) return;
    c.registered = false;
    auto it = by_name_.find(c.name);
    if (it == by_name_.end() || it->second.get() != &c) return;
    by_name_.erase(it);
    if (c.role != Role::cluster) return;
    remove_cluster_entries(c);
    spdlog::info("cluster left: {} ({})", c.name, why);
    json::object data{{"cluster_name", c.name}};
    send_to_clusters("cluster_leave", data, nullptr);
  }

  // ---- frames ---------------------------------------------------------------------------

  void on_frame(const ConnPtr& c, std::string_view body, std::string_view wire) {
    switch (c->state) {
    case Connection::State::awaiting_auth: return on_auth(c, body);
    case Connection::State::awaiting_proof: return on_proof(c, body);
    case Connection::State::authenticated: return on_routed(c, body, wire);
    default: return;
    }
  }

  void refuse_auth(const ConnPtr& c, std::string_view error) {
    spdlog::warn("auth failed from {}: {}", c->address, error);
    json::object data{{"success", false}, {"error", error}};
    send_body(*c, "auth_response", std::move(data), "", "", true);
    close_after_flush(*c, std::string("auth refused: ") + std::string(error));
  }

  void on_auth(const ConnPtr& c, std::string_view body) {
    json::value doc;
    if (!parse_body(body, opt_.legacy_auth, doc) || !doc.is_object()) {
      spdlog::warn("auth failed from {}: first frame is not JSON", c->address);
      return close(*c, "first frame is not an auth frame", true);
    }
    auto& o = doc.get_object();
    auto* op = o.if_contains("op");
    auto* data = o.if_contains("data");
    if (!op || !op->is_string() || op->get_string() != "auth" || !data || !data->is_object()) {
      spdlog::warn("auth failed from {}: first frame is not an auth frame", c->address);
      return close(*c, "first frame is not an auth frame", true);
    }
    auto& d = data->get_object();
    auto name = get_string(d, "cluster_name");
    if (!is_valid_cluster_name(name)) return refuse_auth(c, "Invalid auth");

    // Shard list and counts are the same in both versions. Ill-typed fields are refused
    // rather than guessed at: a cluster with a wrong shard list would receive wrong traffic.
    c->shard_ids.clear();
    if (auto* ids = d.if_contains("shard_ids"); ids && !ids->is_null()) {
      if (!ids->is_array() || ids->get_array().size() > (1u << 16)) return refuse_auth(c, "Invalid auth");
      for (auto& v : ids->get_array()) {
        std::uint64_t id = 0;
        if (!v.is_number() || !get_uint64(v, id) || id >= (1u << 20)) return refuse_auth(c, "Invalid auth");
        c->shard_ids.push_back(static_cast<std::uint32_t>(id));
      }
    }
    std::uint64_t sc = 0, gc = 0;
    if (!optional_count(d, "shard_count", sc) || sc >= (1u << 20) || !optional_count(d, "guild_count", gc))
      return refuse_auth(c, "Invalid auth");
    c->shard_count = static_cast<std::uint32_t>(sc);
    c->guild_count = gc;
    c->name = name;

    auto* proto = d.if_contains("proto");
    if (proto && get_number(d, "proto", 0) == 2) {
      auto* role_v = d.if_contains("role");
      auto* inst_v = d.if_contains("instance");
      std::uint64_t gen = 0;
      if ((role_v && !role_v->is_string()) || (inst_v && !inst_v->is_string()) ||
          !optional_count(d, "generation", gen) || gen > static_cast<std::uint64_t>(INT64_MAX))
        return refuse_auth(c, "Invalid auth");
      auto role = get_string(d, "role", "cluster");
      if (role != "cluster" && role != "admin") return refuse_auth(c, "Invalid auth");
      c->role = role == "admin" ? Role::admin : Role::cluster;
      c->instance = get_string(d, "instance");
      c->generation = static_cast<std::int64_t>(gen);
      c->client_nonce = get_string(d, "client_nonce");
      if (!is_hex(c->client_nonce, 32) || c->instance.size() > 128) return refuse_auth(c, "Invalid auth");
      c->server_nonce = random_hex(16);
      c->proto = 2;
      c->state = Connection::State::awaiting_proof;
      json::object ch{{"proto", 2}, {"server_nonce", c->server_nonce}};
      send_body(*c, "auth_challenge", std::move(ch), name, "", true);
      return;
    }
    if (!d.contains("secret")) return refuse_auth(c, "Invalid auth");
    if (!opt_.legacy_auth) return refuse_auth(c, "Legacy auth disabled");
    auto secret = get_string(d, "secret");
    if (!constant_time_equal(secret, opt_.secret)) return refuse_auth(c, "Invalid secret");
    c->proto = 1;
    c->role = Role::cluster;
    complete_auth(c);
  }

  void on_proof(const ConnPtr& c, std::string_view body) {
    json::value doc;
    if (!parse_body(body, false, doc) || !doc.is_object()) return close(*c, "bad auth_proof", true);
    auto& o = doc.get_object();
    auto* op = o.if_contains("op");
    auto* data = o.if_contains("data");
    if (!op || !op->is_string() || op->get_string() != "auth_proof" || !data || !data->is_object())
      return close(*c, "expected auth_proof", true);
    auto mac = get_string(data->get_object(), "mac");
    auto expected = client_mac(opt_.secret, c->name, c->client_nonce, c->server_nonce);
    if (!constant_time_equal(mac, expected)) return refuse_auth(c, "Invalid secret");
    complete_auth(c);
  }

  void complete_auth(const ConnPtr& c) {
    // The hub's own name belongs to the cluster it runs inside (server mode), identified by
    // that process's instance; nobody else may take it, not even with a higher generation.
    if (c->name == opt_.name && (opt_.local_instance.empty() || c->instance != opt_.local_instance))
      return refuse_auth(c, "Cluster name already connected");
    if (auto it = by_name_.find(c->name); it != by_name_.end()) {
      Connection& old = *it->second;
      if (!c->instance.empty() && c->instance == old.instance) {
        // The same process reconnecting: the old link is dead or dying.
        old.registered = false;
        by_name_.erase(it);
        remove_cluster_entries(old);
        close(old, "replaced by a new connection of the same process", true);
      } else if (c->proto == 2 && c->generation > old.generation) {
        // A newer spawn of this cluster slot: fence the old process.
        old.registered = false;
        by_name_.erase(it);
        remove_cluster_entries(old);
        if (old.proto == 2) {
          json::object e{{"code", "superseded"},
                         {"message", "a newer generation of cluster " + c->name + " has connected"}};
          send_body(old, "error", std::move(e), old.name, "", true);
        }
        close_after_flush(old, "superseded by generation " + std::to_string(c->generation));
      } else {
        return refuse_auth(c, "Cluster name already connected");
      }
    }

    c->state = Connection::State::authenticated;
    c->authenticated_at = c->last_heartbeat = steady::now();
    c->health = Health::green;
    c->decoder.set_max_frame(kMaxFrameBytes);
    if (c->in_pending) {
      pending_.erase(c->pending_it);
      c->in_pending = false;
    }
    c->registered = true;
    by_name_[c->name] = c;
    if (c->role == Role::cluster) {
      clusters_.push_back(c.get());
      for (auto id : c->shard_ids) shard_owner_[id] = c.get();
      count_layout(*c, +1);
    }

    json::array names;
    for (auto* k : clusters_) names.emplace_back(k->name);
    json::object resp{{"success", true}, {"server_cluster", opt_.name}, {"connected_clients", std::move(names)}};
    if (c->proto == 2) {
      resp["proto"] = 2;
      resp["server_mac"] = server_mac(opt_.secret, c->name, c->client_nonce, c->server_nonce);
    }
    send_body(*c, "auth_response", std::move(resp), c->name, "", true);
    spdlog::info("auth ok: {} ({}, proto {}) from {}", c->name, c->role == Role::admin ? "admin" : "cluster",
                 c->proto, c->address);
    if (c->role == Role::cluster) {
      spdlog::info("cluster joined: {}", c->name);
      json::array ids;
      for (auto id : c->shard_ids) ids.emplace_back(id);
      json::object data{{"cluster_name", c->name}, {"shard_ids", std::move(ids)}};
      send_to_clusters("cluster_join", data, c.get());
    }
  }

  // Guilds map to shards by the shard count of the clusters that own shards; clusters that
  // own none (monitors, tools) do not vote. If owners disagree (mid-reshard), the count
  // announced by the most owners wins.
  void count_layout(const Connection& c, int delta) {
    if (c.shard_ids.empty() || c.shard_count == 0) return;
    auto& n = layout_votes_[c.shard_count];
    n += delta;
    if (n <= 0) layout_votes_.erase(c.shard_count);
    shard_count_ = 0;
    int best = 0;
    for (auto& [count, votes] : layout_votes_)
      if (votes > best) best = votes, shard_count_ = count;
    if (delta > 0 && layout_votes_.size() > 1)
      spdlog::warn("clusters disagree on the shard count ({} says {}); guild routing uses {}", c.name, c.shard_count,
                   shard_count_);
  }

  void remove_cluster_entries(Connection& c) {
    count_layout(c, -1);
    std::erase_if(clusters_, [&](Connection* x) { return x == &c; });
    for (auto id : c.shard_ids) {
      auto s = shard_owner_.find(id);
      if (s != shard_owner_.end() && s->second == &c) shard_owner_.erase(s);
    }
  }

  // Answers a protocol error: v2 peers get an `error` frame, v1 peers get nothing (they
  // do not know the frame); the frame is dropped either way.
  void reject(Connection& c, std::string_view code, std::string_view message, std::string_view reply_to) {
    spdlog::debug("rejected frame from {}: {} ({})", c.name, code, message);
    ++rejected_;
    if (c.proto != 2) return;
    json::object e{{"code", code}, {"message", message}};
    send_body(c, "error", std::move(e), c.name, reply_to, false);
  }

  void on_routed(const ConnPtr& c, std::string_view body, std::string_view wire) {
    Envelope env;
    switch (parser_.parse(body, c->legacy_json(), env)) {
    case EnvelopeStatus::bad_json: return reject(*c, "bad_json", "the frame is not valid JSON", "");
    case EnvelopeStatus::bad_envelope:
      return reject(*c, "bad_envelope", "the frame needs a string op and an object data", env.id);
    case EnvelopeStatus::ok: break;
    }
    // Copy what outlives the next parse (the views point into the parser).
    const std::string id(env.id);
    const std::string_view reply_to = env.reply_to;
    auto kind = classify(env.op);
    if (kind == OpKind::unknown) return reject(*c, "unknown_op", "unknown op: " + std::string(env.op), id);
    if (c->proto == 2 && !env.has_nonce) return reject(*c, "missing_nonce", "every frame needs a nonce", id);
    if (env.has_nonce && !c->nonces.insert(env.nonce))
      return reject(*c, "replayed_nonce", "this nonce was already used on this connection", id);
    if (c->proto == 2) {
      double now = wall_seconds();
      if (!env.timestamp || std::fabs(now - *env.timestamp) > opt_.max_clock_skew_s)
        return reject(*c, "stale_timestamp", "timestamp missing or too far from the hub's clock", id);
    }
    if (env.has_source && env.source != c->name)
      return reject(*c, "bad_source", "source does not match the authenticated name", id);
    // Handled by the hub whatever `target` says, like hub_status_request.
    if (kind == OpKind::identify) return on_identify_request(c, id);
    if (kind == OpKind::session_report || kind == OpKind::session_lookup) return on_session_op(c, kind, env.op, id);
    if (kind == OpKind::launch) return on_launch_request(*c, id);
    if (c->role == Role::admin) {
      bool allowed = kind == OpKind::heartbeat || kind == OpKind::hub_status || kind == OpKind::broadcast ||
                     (kind == OpKind::request && !id.empty()) || !reply_to.empty();
      if (!allowed) return reject(*c, "forbidden", "admin connections may only send requests", id);
    }

    switch (kind) {
    case OpKind::heartbeat: return on_heartbeat(*c);
    case OpKind::hub_status: return send_hub_status(*c, id);
    case OpKind::hub_only: return reject(*c, "forbidden", std::string(env.op) + " is sent by the hub only", id);
    case OpKind::stats_broadcast:
      if (c->role == Role::cluster) keep_stats(*c);
      break;
    default: break;
    }
    // A v1 peer written in Python may send bare NaN/Infinity/-Infinity (contract section 2).
    // The hub read them as null; it must forward them as null too, since "Shardline never
    // emits them" and a v2 receiver (a `shardline run` cluster, a strict JSON parser) would
    // otherwise drop the whole frame. Only v1 connections pay for this, and only when one of
    // the tokens appears at all.
    std::string sanitized_wire;
    if (c->proto == 1 && (body.find("NaN") != std::string_view::npos ||
                          body.find("Infinity") != std::string_view::npos)) {
      std::string clean;
      if (replace_non_finite(body, clean)) {
        // "NaN" -> "null" grows the body: it must still fit the cap every peer enforces.
        if (clean.size() > kMaxFrameBytes)
          return reject(*c, "too_large", "with NaN/Infinity written as null the frame would pass 1,000,000 bytes", id);
        sanitized_wire = encode_frame(clean);
        wire = sanitized_wire;
      }
    }
    std::string tagged_wire, answered_id;
    if (c->proto == 1 && env.reply_to.empty() && !c->v1_pending.empty() && !env.target.empty() &&
        env.target != "all") {
      auto& q = c->v1_pending;
      auto it = std::find_if(q.begin(), q.end(), [&](const Connection::PendingRequest& p) {
        return p.reply_op == env.op && p.requester == env.target;
      });
      if (it != q.end()) {
        answered_id = std::move(it->id);
        q.erase(it);
        auto body = wire.substr(kHeaderBytes);
        std::string field = "{\"reply_to\":" + json::serialize(json::string(answered_id)) + ",";
        if (body.size() + field.size() <= kMaxFrameBytes) {
          std::string b;
          b.reserve(body.size() + field.size());
          b.append(field).append(body.substr(body.find('{') + 1));
          tagged_wire = encode_frame(b);
          wire = tagged_wire;
          env.reply_to = answered_id;
        }
      }
    }
    route(c, env, id, wire);
  }

  // See Connection::v1_pending.
  void remember_v1_request(Connection& dest, const Connection& requester, std::string_view op,
                           const std::string& id) {
    auto reply_op = reply_op_for(op);
    if (dest.proto != 1 || id.empty() || reply_op.empty()) return;
    if (dest.v1_pending.size() >= kMaxV1Pending) dest.v1_pending.pop_front();
    dest.v1_pending.push_back({requester.name, id, reply_op});
  }

  void on_heartbeat(Connection& c) {
    c.last_heartbeat = steady::now();
    simdjson::dom::element gc;
    if (!parser_.root().at_pointer("/data/guild_count").get(gc)) {
      std::uint64_t n = 0;
      if (!gc.get_uint64().get(n)) c.guild_count = n;
    }
    if (c.health != Health::green && c.role == Role::cluster) {
      spdlog::info("health {}: {} -> green", c.name, to_string(c.health));
      c.health = Health::green;
    }
    json::object data{{"timestamp", wall_seconds()}};
    send_body(c, "heartbeat_ack", std::move(data), c.name, "", false);
  }

  // ---- IDENTIFY slots (docs/ipc-hub.md) ----------------------------------------------------

  void on_identify_request(const ConnPtr& c, const std::string& id) {
    // A v1 peer does not know the op (and gets no error frames anyway).
    if (c->proto != 2) return reject(*c, "unknown_op", "unknown op: identify_request", id);
    if (c->role != Role::cluster)
      return reject(*c, "forbidden", "identify_request is for cluster connections (role cluster) only", id);
    if (id.empty()) return reject(*c, "bad_request", "identify_request needs an id (the grant answers it)", id);
    json::object data;
    simdjson::dom::element d;
    if (!parser_.root()["data"].get(d)) {
      // Requests are rare (one per shard start): re-reading the small data object with
      // Boost.JSON keeps the field checks in the scheduler's pure, tested parser.
      boost::system::error_code ec;
      auto v = json::parse(simdjson::minify(d), ec);
      if (ec || !v.is_object()) return reject(*c, "bad_request", "identify_request data must be an object", id);
      data = std::move(v.get_object());
    }
    IdentifyRequest req;
    if (auto err = parse_identify_request(data, req); !err.empty()) return reject(*c, "bad_request", err, id);
    auto r = identify_.submit(c->serial, id, req);
    switch (r.status) {
    case IdentifySubmitResult::Status::bad_request: return reject(*c, "bad_request", r.message, id);
    case IdentifySubmitResult::Status::refused_budget:
      spdlog::warn("identify refused for {} shard {}/{}: {}", c->name, req.shard_id, req.shard_count, r.message);
      return send_error(*c, "identify_budget", r.message, id);
    case IdentifySubmitResult::Status::accepted: break;
    }
    spdlog::debug("identify queued: {} shard {}/{} (id {})", c->name, req.shard_id, req.shard_count, id);
    identify_conns_[c->serial] = c;
    run_identify(); // the slot may be free right now: grant without a timer round trip
  }

  // Sends the answers that are due, then waits for the next.
  void run_identify() {
    for (auto& o : identify_.poll()) {
      auto it = identify_conns_.find(o.requester);
      auto c = it == identify_conns_.end() ? nullptr : it->second.lock();
      // A closed connection's requests were dropped with it; this only guards the invariant.
      if (!c || c->state != Connection::State::authenticated) continue;
      if (o.kind == IdentifyOutcome::Kind::refused_budget) {
        spdlog::warn("identify refused for {} shard {}/{}: {}", c->name, o.shard_id, o.shard_count, o.message);
        send_error(*c, "identify_budget", o.message, o.tag);
        continue;
      }
      spdlog::info("identify granted: {} shard {}/{} bucket {}{}", c->name, o.shard_id, o.shard_count, o.bucket,
                   o.remaining ? fmt::format(" ({} left today)", *o.remaining) : std::string());
      json::object g{
          {"shard_id", o.shard_id}, {"shard_count", o.shard_count}, {"bucket", o.bucket}, {"remaining", nullptr}};
      if (o.remaining) g["remaining"] = *o.remaining;
      send_body(*c, "identify_grant", std::move(g), c->name, o.tag, false);
    }
    arm_identify();
  }

  // One timer, owned by the hub and cancelled on stop, always set to the scheduler's next due
  // time (or idle when nothing is queued).
  void arm_identify() {
    if (stopped_) return;
    auto next = identify_.next_due();
    if (!next) {
      if (identify_armed_) identify_timer_.cancel();
      identify_armed_ = false;
      return;
    }
    if (identify_armed_ && identify_armed_at_ == *next) return;
    identify_timer_.expires_at(*next); // cancels the previous wait, if any
    identify_armed_ = true;
    identify_armed_at_ = *next;
    std::weak_ptr<Impl> weak = shared_from_this();
    identify_timer_.async_wait([weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_) return; // re-armed, cancelled, or the hub is gone
      self->identify_armed_ = false;
      self->run_identify();
    });
  }

  // A closed connection's queued requests are dropped: nobody is left to IDENTIFY with them,
  // and they must not hold a bucket for the others.
  void forget_identify(Connection& c) {
    if (identify_conns_.erase(c.serial) == 0) return;
    if (auto n = identify_.drop(c.serial); n > 0) {
      spdlog::info("identify: dropped {} queued request(s) of {} ({})", n, c.name, c.address);
      arm_identify();
    }
  }

  // ---- Shard sessions (docs/ipc-hub.md) ----------------------------------------------------

  // The current frame's `data` as a Boost.JSON object (absent reads as {}); false when it is not
  // valid. Extension ops are rare next to routed traffic: re-reading their data with Boost.JSON
  // keeps the field checks in pure, unit-tested parsers.
  bool data_object(json::object& out) {
    out.clear();
    simdjson::dom::element d;
    if (parser_.root()["data"].get(d)) return true;
    boost::system::error_code ec;
    auto v = json::parse(simdjson::minify(d), ec);
    if (ec || !v.is_object()) return false;
    out = std::move(v.get_object());
    return true;
  }

  // launch_request: the operator's tools (role admin) ask the supervisor that hosts this hub
  // (status, rolling restart). Answered at once; what it starts goes on in the supervisor.
  void on_launch_request(Connection& c, const std::string& id) {
    if (c.proto != 2) return reject(c, "unknown_op", "unknown op: launch_request", id);
    if (c.role != Role::admin) return reject(c, "forbidden", "launch_request is for admin connections only", id);
    if (id.empty()) return reject(c, "bad_request", "launch_request needs an id", id);
    if (!opt_.control) return reject(c, "no_route", "no supervisor runs this hub (start it with shardline launch)", id);
    json::object data;
    if (!data_object(data)) return reject(c, "bad_request", "launch_request data must be an object", id);
    auto answer = opt_.control(data);
    send_body(c, "launch_response", std::move(answer), c.name, id, false);
  }

  // session_report and session_lookup: kept and answered by the hub, whatever `target` says,
  // and never forwarded: session ids let a process take a shard's Discord session over, so they
  // reach only the cluster that asks for its shards, never other clusters or admin tools.
  void on_session_op(const ConnPtr& c, OpKind kind, std::string_view op_view, const std::string& id) {
    const std::string op(op_view); // op_view points into the parser; copied before anything else
    // A v1 peer does not know the ops (and gets no error frames anyway).
    if (c->proto != 2) return reject(*c, "unknown_op", "unknown op: " + op, id);
    if (c->role != Role::cluster)
      return reject(*c, "forbidden", op + " is for cluster connections (role cluster) only", id);
    json::object data;
    if (!data_object(data)) return reject(*c, "bad_request", op + " data must be an object", id);
    if (kind == OpKind::session_report) return on_session_report(*c, data, id);
    return on_session_lookup(*c, data, id);
  }

  void on_session_report(Connection& c, const json::object& data, const std::string& id) {
    SessionReport r;
    if (auto err = parse_session_report(data, r); !err.empty()) return reject(c, "bad_request", err, id);
    auto res = sessions_.report(r, c.name);
    switch (res.status) {
    case SessionReportResult::Status::bad_request: return reject(c, "bad_request", res.message, id);
    case SessionReportResult::Status::too_many_sessions:
      // Warned once per episode: a full store would otherwise log every report of every cluster.
      if (!sessions_full_warned_)
        spdlog::warn("sessions: refused a report of {} ({} entries): {}", c.name, r.sessions.size(), res.message);
      sessions_full_warned_ = true;
      return send_error(c, "too_many_sessions", res.message, id);
    case SessionReportResult::Status::ok: break;
    }
    sessions_full_warned_ = false;
    // Never the session ids themselves: logs are read by more people than the hub's secret.
    spdlog::debug("sessions: {} reported {} of {} shard(s): {} stored, {} deleted, {} ignored", c.name,
                  r.sessions.size(), r.shard_count, res.stored, res.deleted, res.ignored);
    if (id.empty()) return; // fire and forget
    json::object ack{{"stored", res.stored}, {"deleted", res.deleted}, {"ignored", res.ignored}};
    send_body(c, "session_report_ack", std::move(ack), c.name, id, false);
  }

  void on_session_lookup(Connection& c, const json::object& data, const std::string& id) {
    if (id.empty())
      return reject(c, "bad_request", "session_lookup needs an id (the answer carries it as reply_to)", id);
    SessionLookup l;
    if (auto err = parse_session_lookup(data, l); !err.empty()) return reject(c, "bad_request", err, id);
    auto found = sessions_.lookup(l);
    // The answer must fit one frame (1,000,000 bytes), which 4,096 entries of maximal size do
    // not. Entries that do not fit are listed in `more` (their shard ids) for the requester to
    // ask again; 64 KiB is kept for the envelope, `more` itself (<= 4,096 ids) and the echoed id.
    const std::size_t reserve = 64 * 1024 + json::serialize(json::string(id)).size();
    const std::size_t budget = kMaxFrameBytes > reserve ? kMaxFrameBytes - reserve : 0;
    std::size_t used = 0;
    json::array sessions, more;
    const auto now = steady::now();
    for (auto& s : found) {
      if (!more.empty()) {
        more.emplace_back(s.shard_id);
        continue;
      }
      json::object e{{"shard_id", s.shard_id},
                     {"shard_count", s.shard_count},
                     {"session_id", s.session_id},
                     {"seq", s.seq},
                     {"resume_url", s.resume_url},
                     {"reported_by", s.reported_by},
                     {"age_s", seconds_between(s.reported_at, now)}};
      const auto size = json::serialize(e).size() + 1; // + the comma
      if (used + size > budget) {
        more.emplace_back(s.shard_id);
        continue;
      }
      used += size;
      sessions.emplace_back(std::move(e));
    }
    spdlog::info("sessions: {} looked up {} shard(s) of {}: {} known{}", c.name, l.shard_ids.size(), l.shard_count,
                 found.size(), more.empty() ? "" : fmt::format(", {} left for another lookup", more.size()));
    json::object answer{{"sessions", std::move(sessions)}};
    if (!more.empty()) answer["more"] = std::move(more);
    send_body(c, "session_lookup_response", std::move(answer), c.name, id, false);
  }

  // An `error` answer that is not a protocol violation (not counted as rejected).
  void send_error(Connection& c, std::string_view code, std::string_view message, std::string_view reply_to) {
    if (c.proto != 2) return;
    json::object e{{"code", code}, {"message", message}};
    send_body(c, "error", std::move(e), c.name, reply_to, false);
  }

  void keep_stats(Connection& c) {
    simdjson::dom::element data;
    if (!parser_.root()["data"].get(data)) {
      c.last_stats = simdjson::minify(data);
      c.last_stats_at = steady::now();
    }
  }

  void route(const ConnPtr& c, const Envelope& env, const std::string& id, std::string_view wire) {
    // The hub forwards the bytes it received; it rewrites only to fill in a missing source.
    std::string rewritten;
    if (!env.has_source) {
      auto body = wire.substr(kHeaderBytes);
      // Filling in the source must not push a legal frame over the cap every peer enforces.
      if (body.size() + c->name.size() + 12 > kMaxFrameBytes)
        return reject(*c, "too_large", "with its source added the frame would pass 1,000,000 bytes; set source", id);
      auto brace = body.find('{');
      std::string b;
      b.reserve(body.size() + c->name.size() + 12);
      b.append("{\"source\":\"").append(c->name).append("\",").append(body.substr(brace + 1));
      rewritten = encode_frame(b);
      wire = rewritten;
    }
    std::string_view target = env.target.empty() ? std::string_view("all") : env.target;
    const bool is_reply = !env.reply_to.empty();

    if (target == "all") {
      json::array delivered;
      for (auto* k : clusters_) {
        if (k == c.get()) continue;
        deliver(*k, wire);
        if (!id.empty()) delivered.emplace_back(k->name);
        if (!is_reply) remember_v1_request(*k, *c, env.op, id);
      }
      if (!id.empty() && !is_reply && c->proto == 2) {
        json::object f{{"targets", std::move(delivered)}};
        send_body(*c, "fanout", std::move(f), c->name, id, false);
      }
      return;
    }

    Connection* dest = nullptr;
    if (target.rfind("shard:", 0) == 0) {
      std::uint32_t shard = 0;
      auto s = target.substr(6);
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), shard);
      if (ec == std::errc() && p == s.data() + s.size()) dest = owner_of(shard);
    } else if (target.rfind("guild:", 0) == 0) {
      std::uint64_t guild = 0;
      auto s = target.substr(6);
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), guild);
      if (ec == std::errc() && p == s.data() + s.size() && shard_count_ > 0)
        dest = owner_of(shard_for_guild(guild, shard_count_));
    } else if (auto it = by_name_.find(target); it != by_name_.end()) {
      // Admin tools receive replies only; they are never a target of their own.
      if (it->second->role == Role::cluster || is_reply) dest = it->second.get();
    }
    if (!dest) {
      ++unroutable_;
      if (c->proto == 2) {
        json::object e{{"code", "no_route"}, {"message", "no connected cluster for target " + std::string(target)},
                       {"target", target}};
        send_body(*c, "error", std::move(e), c->name, id, false);
      }
      return;
    }
    deliver(*dest, wire);
    if (!is_reply) remember_v1_request(*dest, *c, env.op, id);
  }

  Connection* owner_of(std::uint32_t shard) {
    auto it = shard_owner_.find(shard);
    return it == shard_owner_.end() ? nullptr : it->second;
  }

  void deliver(Connection& dest, std::string_view wire) {
    if (dest.state != Connection::State::authenticated || dest.overflowed) return;
    if (dest.writer.push_wire(wire, dest.shared_from_this())) {
      ++routed_;
      return;
    }
    // Closed from a fresh handler: the caller may be iterating over the cluster list.
    dest.overflowed = true;
    asio::post(io_, [self = shared_from_this(), c = dest.shared_from_this()] { self->slow_consumer(*c); });
  }

  void slow_consumer(Connection& c) {
    if (c.state != Connection::State::authenticated) return;
    json::object e{{"code", "slow_consumer"},
                   {"message", "output queue over " + std::to_string(opt_.max_outbuf_bytes / 1024) + " KiB"}};
    if (c.proto == 2) send_body(c, "error", std::move(e), c.name, "", true);
    close_after_flush(c, "slow_consumer");
  }

  void send_to_clusters(std::string_view op, const json::object& data, const Connection* except) {
    std::string body = build_body(OutFrame{op, data, opt_.name, "all", "", ""}, nonces_);
    std::string wire = encode_frame(body);
    for (auto* k : clusters_)
      if (k != except) deliver(*k, wire);
  }

  void send_body(Connection& c, std::string_view op, json::object data, std::string_view target,
                 std::string_view reply_to, bool ignore_cap) {
    if (c.state == Connection::State::closed) return;
    // v1 peers get the seed's envelope: no request ids.
    if (c.proto == 1) reply_to = {};
    auto body = build_body(OutFrame{op, std::move(data), opt_.name, target.empty() ? "all" : target, "", reply_to},
                           nonces_);
    if (!c.writer.push_body(body, c.shared_from_this(), ignore_cap) && !c.overflowed) {
      c.overflowed = true;
      asio::post(io_, [self = shared_from_this(), c = c.shared_from_this()] { self->slow_consumer(*c); });
    }
  }

  json::object identify_status() {
    auto st = identify_.stats();
    json::object o{{"granted", st.granted},
                   {"queued", st.queued},
                   {"max_concurrency", st.max_concurrency},
                   {"window_ms", st.window_ms},
                   {"budget_remaining", nullptr},
                   {"refused_budget", st.refused_budget},
                   {"reserve", opt_.identify_reserve}};
    if (st.budget_remaining) o["budget_remaining"] = *st.budget_remaining;
    return o;
  }

  void send_hub_status(Connection& c, const std::string& id) {
    auto now = steady::now();
    json::array clients;
    for (auto& [name, k] : by_name_) {
      json::array ids;
      for (auto id : k->shard_ids) ids.emplace_back(id);
      json::object e{{"name", name},
                     {"role", k->role == Role::admin ? "admin" : "cluster"},
                     {"proto", k->proto},
                     {"address", k->address},
                     {"shard_ids", std::move(ids)},
                     {"shard_count", k->shard_count},
                     {"guild_count", k->guild_count},
                     {"generation", k->generation},
                     {"connected_for", seconds_between(k->authenticated_at, now)},
                     {"last_heartbeat_age", seconds_between(k->last_heartbeat, now)},
                     {"health", to_string(health_from_heartbeat(seconds_between(k->last_heartbeat, now), opt_.health))}};
      if (!k->last_stats.empty()) {
        boost::system::error_code ec;
        auto stats = json::parse(k->last_stats, ec);
        if (!ec) {
          e["stats"] = std::move(stats);
          e["stats_age"] = seconds_between(k->last_stats_at, now);
        }
      }
      clients.emplace_back(std::move(e));
    }
    json::object data{
        {"hub", opt_.name},
        {"mode", opt_.mode},
        {"host", opt_.host},
        {"port", port_},
        {"proto", 2},
        {"legacy_auth", opt_.legacy_auth},
        {"tls", opt_.tls != nullptr},
        {"uptime", seconds_between(started_at_, now)},
        {"connections", all_.size()},
        {"unauthenticated", pending_.size()},
        {"routed", routed_},
        {"rejected", rejected_},
        {"unroutable", unroutable_},
        {"clients", std::move(clients)},
        {"identify", identify_status()},
        // A count only: session ids are for the clusters that take shards over, no one else.
        {"sessions_known", sessions_.size()},
        {"thresholds",
         {{"heartbeat_green_s", opt_.health.heartbeat_green_s},
          {"heartbeat_yellow_s", opt_.health.heartbeat_yellow_s},
          {"stats_green_s", opt_.health.stats_green_s},
          {"stats_hide_s", opt_.health.stats_hide_s}}},
    };
    send_body(c, "hub_status_response", std::move(data), c.name, id, false);
  }

  asio::io_context& io_;
  HubOptions opt_;
  tcp::acceptor acceptor_;
  asio::steady_timer sweeper_;
  steady::time_point started_at_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;

  std::unordered_set<ConnPtr> all_;
  std::list<std::weak_ptr<Connection>> pending_; // unauthenticated, oldest first
  // Transparent hashing: routing looks names up by string_view without allocating.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, ConnPtr, NameHash, std::equal_to<>> by_name_;
  std::vector<Connection*> clusters_;             // authenticated clusters, join order
  std::unordered_map<std::uint32_t, Connection*> shard_owner_;
  std::uint32_t shard_count_ = 0;
  std::map<std::uint32_t, int> layout_votes_; // shard_count -> owning clusters announcing it

  IdentifyScheduler identify_;
  asio::steady_timer identify_timer_;
  bool identify_armed_ = false;
  steady::time_point identify_armed_at_{};
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> identify_conns_; // serial -> requester
  std::uint64_t next_serial_ = 0;

  SessionRegistry sessions_;
  bool sessions_full_warned_ = false;

  EnvelopeParser parser_;
  NonceSource nonces_;
  std::uint64_t routed_ = 0, rejected_ = 0, unroutable_ = 0;
};

HubOptions HubOptions::from_config(const Config& c) {
  HubOptions o;
  o.name = c.cluster_name;
  o.host = c.ipc_host;
  o.port = c.ipc_port;
  o.secret = c.ipc_secret;
  o.legacy_auth = c.legacy_auth;
  o.auth_timeout = std::chrono::duration<double>(c.auth_timeout_s);
  o.body_timeout = std::chrono::duration<double>(c.body_timeout_s);
  o.idle_timeout = std::chrono::duration<double>(c.idle_timeout_s);
  o.max_pending = c.max_pending;
  o.max_outbuf_bytes = c.max_outbuf_bytes;
  o.health = c.health;
  o.identify_reserve = c.identify_reserve;
  return o;
}

Hub::Hub(asio::io_context& io, HubOptions options) : impl_(std::make_shared<Impl>(io, std::move(options))) {}
Hub::~Hub() { impl_->stop(); }
std::uint16_t Hub::listen() { return impl_->listen(); }
void Hub::start() { impl_->start(); }
void Hub::stop() { impl_->stop(); }
std::uint16_t Hub::port() const { return impl_->port(); }
std::size_t Hub::connection_count() const { return impl_->connection_count(); }
std::size_t Hub::authenticated_count() const { return impl_->authenticated_count(); }

} // namespace shardline::hub
