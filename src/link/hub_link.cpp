#include "link/hub_link.hpp"

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "net/backoff.hpp"
#include "net/frame_writer.hpp"
#include "net/spawn_owned.hpp"
#include "protocol/frame_codec.hpp"
#include "protocol/messages.hpp"
#include "protocol/session_fields.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace shardline::link {

using protocol::FrameDecoder;
using protocol::DecodeStatus;
using protocol::kMaxFrameBytes;
using protocol::wall_seconds;
using protocol::NonceSource;
using protocol::OutFrame;
using protocol::build_body;
using protocol::parse_body;
using protocol::get_string;
using protocol::get_uint64;
using protocol::client_mac;
using protocol::server_mac;
using net::Backoff;
using net::spawn_owned;
using net::IpcStream;
using protocol::kMaxSessionShardCount;
using protocol::kMaxSessionsPerFrame;
using protocol::valid_resume_url;
using protocol::valid_session_id;
using net::FrameWriter;

namespace json = boost::json;
using namespace boost::asio::experimental::awaitable_operators;
using steady = std::chrono::steady_clock;

namespace {
constexpr std::size_t kLinkOutbufCap = 64u << 20; // a cluster's own queue: generous, still bounded

std::chrono::steady_clock::duration to_steady(std::chrono::duration<double> d) {
  return std::chrono::duration_cast<steady::duration>(d);
}
} // namespace

class HubLink::Impl : public std::enable_shared_from_this<HubLink::Impl> {
public:
  struct Pending {
    explicit Pending(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    bool fanout = false;
    std::optional<std::set<std::string>> expected; // fanout: from the hub's `fanout` frame
    std::map<std::string, RequestResult> replies;
    bool done = false;

    void finish() {
      done = true;
      timer.cancel();
    }
  };

  Impl(asio::io_context& io, LinkOptions opt, ClusterState* state)
      : io_(io), opt_(std::move(opt)), state_(state), backoff_(opt_.reconnect_min, opt_.reconnect_max) {
    if (opt_.instance.empty()) opt_.instance = random_hex(8);
  }

  // ---- lifecycle -------------------------------------------------------------------

  void start() { spawn_owned(io_, run(shared_from_this()), "cluster link"); }

  void stop() {
    stopped_ = true;
    close_stream();
    if (wake_) wake_->cancel();
  }

  static asio::awaitable<void> run(std::shared_ptr<Impl> self) {
    asio::steady_timer wait(self->io_);
    self->wake_ = &wait;
    while (!self->stopped_) {
      auto err = co_await self->connect_and_auth();
      std::string reason;
      if (err.empty()) {
        self->backoff_.reset();
        reason = co_await self->session();
      } else {
        reason = err;
      }
      self->last_error_ = reason;
      self->close_stream();
      if (self->stopped_ || self->superseded_) break;
      auto delay = self->backoff_.next();
      spdlog::warn("link lost: {}; reconnecting in {:.1f}s", reason, delay.count());
      wait.expires_after(to_steady(delay));
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    self->wake_ = nullptr;
  }

  asio::awaitable<std::string> connect_once() { co_return co_await connect_and_auth(); }

  void serve() {
    auto self = shared_from_this();
    spawn_owned(io_, [](std::shared_ptr<Impl> s) -> asio::awaitable<void> { co_await s->read_loop(); }(self),
                "admin link");
  }

  bool linked() const { return linked_; }

  // ---- connect and authenticate --------------------------------------------------------

  asio::awaitable<std::string> connect_and_auth() {
    linked_ = false;
    decoder_ = FrameDecoder(kMaxFrameBytes, 4096);
    const auto deadline = steady::now() + to_steady(opt_.connect_timeout);

    tcp::resolver resolver(io_);
    auto [rec, results] = co_await resolver.async_resolve(opt_.host, std::to_string(opt_.port),
                                                          asio::as_tuple(asio::use_awaitable));
    if (rec) co_return fmt::format("Can't connect to {}:{} ({})", opt_.host, opt_.port, rec.message());

    tcp::socket sock(io_);
    asio::steady_timer timer(io_, deadline);
    auto connected = co_await (asio::async_connect(sock, results, asio::as_tuple(asio::use_awaitable)) ||
                               timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (connected.index() == 1)
      co_return fmt::format("Can't connect to {}:{} (timed out)", opt_.host, opt_.port);
    if (auto [ec, ep] = std::get<0>(connected); ec)
      co_return fmt::format("Can't connect to {}:{} ({})", opt_.host, opt_.port, ec.message());
    boost::system::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);

    if (opt_.tls) {
      stream_.emplace(std::move(sock), *opt_.tls);
      auto* tls = stream_->tls();
      SSL_set_tlsext_host_name(tls->native_handle(), opt_.host.c_str());
      tls->set_verify_mode(ssl::verify_peer);
      tls->set_verify_callback(ssl::host_name_verification(opt_.host));
      timer.expires_at(deadline);
      auto hs = co_await (tls->async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable)) ||
                          timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (hs.index() == 1) co_return "Can't connect: TLS handshake timed out";
      if (auto [ec] = std::get<0>(hs); ec) co_return "Can't connect: TLS handshake failed: " + ec.message();
    } else {
      stream_.emplace(std::move(sock));
    }
    writer_ = std::make_unique<FrameWriter>(*stream_, kLinkOutbufCap);
    std::weak_ptr<Impl> weak = shared_from_this();
    writer_->on_error([weak](const boost::system::error_code& ec) {
      if (auto s = weak.lock()) {
        spdlog::debug("link write failed: {}", ec.message());
        s->close_stream();
      }
    });

    json::array ids;
    for (auto id : opt_.shard_ids) ids.emplace_back(id);
    const std::uint64_t guilds = state_ ? state_->guild_count() : 0;
    std::string client_nonce;
    if (opt_.legacy) {
      json::object auth{{"secret", opt_.secret}, {"cluster_name", opt_.name}, {"shard_ids", ids},
                        {"shard_count", opt_.shard_count}, {"guild_count", guilds}};
      push(build_body(OutFrame{"auth", std::move(auth), opt_.name, "all", "", ""}, nonces_));
    } else {
      client_nonce = random_hex(16);
      json::object auth{{"proto", 2}, {"cluster_name", opt_.name}, {"role", opt_.admin ? "admin" : "cluster"},
                        {"shard_ids", ids}, {"shard_count", opt_.shard_count}, {"guild_count", guilds},
                        {"instance", opt_.instance}, {"generation", opt_.generation},
                        {"client_nonce", client_nonce}};
      push(build_body(OutFrame{"auth", std::move(auth), opt_.name, "all", "", ""}, nonces_));

      json::object challenge;
      auto err = co_await expect("auth_challenge", deadline, challenge);
      if (!err.empty()) co_return err;
      auto server_nonce = get_string(challenge, "server_nonce");
      server_nonce_ = server_nonce;
      json::object proof{{"mac", client_mac(opt_.secret, opt_.name, client_nonce, server_nonce)}};
      push(build_body(OutFrame{"auth_proof", std::move(proof), opt_.name, "all", "", ""}, nonces_));
    }

    json::object resp;
    auto err = co_await expect("auth_response", deadline, resp);
    if (!err.empty()) co_return err;
    if (auto* ok = resp.if_contains("success"); !ok || !ok->is_bool() || !ok->get_bool()) {
      auto e = get_string(resp, "error", "refused");
      if (e == "Invalid secret") co_return "Auth failed: check SHARD_IPC_SECRET (the hub said: Invalid secret)";
      co_return "Auth failed: " + e;
    }
    if (!opt_.legacy) {
      // Mutual authentication: the hub proves it knows the secret too.
      auto expected = server_mac(opt_.secret, opt_.name, client_nonce, server_nonce_);
      if (!constant_time_equal(get_string(resp, "server_mac"), expected))
        co_return "Auth failed: the hub did not prove it knows SHARD_IPC_SECRET (wrong hub or wrong secret)";
    }
    server_name_ = get_string(resp, "server_cluster", "?");
    clusters_.clear();
    if (auto* cc = resp.if_contains("connected_clients"); cc && cc->is_array())
      for (auto& v : cc->get_array())
        if (v.is_string()) clusters_.insert(std::string(v.get_string()));
    linked_ = true;
    linked_since_ = steady::now();
    last_ack_at_ = {};
    ++connects_;
    hub_lacks_sessions_ = false; // perhaps another hub now (failover, upgrade)
    last_frame_at_ = steady::now();
    if (!opt_.admin) spdlog::info("linked to hub {} as {}", server_name_, opt_.name);
    co_return std::string();
  }

  // Reads frames until one with `op` arrives (auth phase only).
  asio::awaitable<std::string> expect(std::string_view op, steady::time_point deadline, json::object& data_out) {
    std::string body;
    auto err = co_await read_frame(body, deadline);
    if (!err.empty())
      co_return err == "closed" ? "Auth failed: the hub closed the connection without an answer (is TLS on at the "
                                  "hub and off here, or the reverse? see SHARD_IPC_TLS_CA)"
                                : err;
    json::value doc;
    if (!parse_body(body, opt_.legacy, doc) || !doc.is_object()) co_return "Auth failed: bad frame from the hub";
    auto& o = doc.get_object();
    auto got = get_string(o, "op");
    auto* data = o.if_contains("data");
    if (got == "auth_response" && op != "auth_response" && data && data->is_object()) {
      data_out = data->get_object(); // refused early (e.g. "Legacy auth disabled")
      auto e = get_string(data_out, "error", "refused");
      if (e == "Invalid secret") co_return "Auth failed: check SHARD_IPC_SECRET (the hub said: Invalid secret)";
      co_return "Auth failed: " + e;
    }
    if (got != op || !data || !data->is_object()) co_return fmt::format("Auth failed: expected {} from the hub", op);
    data_out = data->get_object();
    co_return std::string();
  }

  // One frame body, or an error string ("closed", "timeout", ...).
  asio::awaitable<std::string> read_frame(std::string& body, steady::time_point deadline) {
    for (;;) {
      std::string_view b, wire;
      auto st = decoder_.next(b, wire);
      if (st == DecodeStatus::frame) {
        body.assign(b);
        co_return std::string();
      }
      if (st != DecodeStatus::need_more) co_return "bad frame length from the hub";
      if (!stream_) co_return "closed";
      std::size_t avail = 0;
      char* p = decoder_.prepare(avail, 4096);
      asio::steady_timer timer(io_, deadline);
      auto r = co_await (stream_->async_read_some(asio::buffer(p, avail), asio::as_tuple(asio::use_awaitable)) ||
                         timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (r.index() == 1) co_return "timeout";
      auto [ec, n] = std::get<0>(r);
      if (ec) co_return ec == asio::error::eof ? std::string("closed") : ec.message();
      decoder_.commit(n);
    }
  }

  // ---- session ---------------------------------------------------------------------------

  asio::awaitable<std::string> session() {
    auto r = co_await (read_loop() || heartbeat_loop() || stats_loop());
    linked_ = false;
    fail_pending("not_linked");
    if (r.index() == 0) co_return std::get<0>(r);
    co_return std::string("link closed");
  }

  asio::awaitable<std::string> read_loop() {
    for (;;) {
      std::string body;
      auto err = co_await read_frame(body, steady::now() + to_steady(opt_.idle_timeout));
      if (!err.empty()) {
        linked_ = false;
        fail_pending("not_linked");
        co_return err == "timeout" ? std::string("no frame from the hub within the idle timeout") : err;
      }
      last_frame_at_ = steady::now();
      on_frame(body);
      if (superseded_) co_return std::string("superseded");
    }
  }

  asio::awaitable<void> heartbeat_loop() {
    asio::steady_timer t(io_);
    for (;;) {
      t.expires_after(to_steady(opt_.heartbeat));
      auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec || !linked_) co_return;
      json::object hb{{"timestamp", wall_seconds()}, {"guild_count", state_ ? state_->guild_count() : 0}};
      heartbeat_sent_ = steady::now();
      send("heartbeat", std::move(hb), server_name_);
    }
  }

  asio::awaitable<void> stats_loop() {
    if (opt_.admin || !state_) {
      // Nothing to publish: wait for cancellation by the other branches.
      asio::steady_timer t(io_, steady::time_point::max());
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return;
    }
    asio::steady_timer t(io_);
    for (;;) {
      // First stats right after linking, so operators do not wait a whole interval.
      send("stats_broadcast", state_->stats(), "all");
      t.expires_after(to_steady(opt_.stats_interval));
      auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec || !linked_) co_return;
    }
  }

  // ---- incoming frames ---------------------------------------------------------------------

  void on_frame(const std::string& body) {
    json::value doc;
    if (!parse_body(body, opt_.legacy, doc) || !doc.is_object()) {
      spdlog::warn("ignored a frame from the hub that is not a JSON object");
      return;
    }
    auto& o = doc.get_object();
    auto op = get_string(o, "op");
    auto source = get_string(o, "source");
    auto id = get_string(o, "id");
    auto reply_to = get_string(o, "reply_to");
    static const json::object empty;
    auto* dv = o.if_contains("data");
    const json::object& data = dv && dv->is_object() ? dv->get_object() : empty;

    if (!reply_to.empty()) {
      if (auto it = pending_.find(reply_to); it != pending_.end()) on_reply(*it->second, op, source, data);
      return;
    }
    if (op == "heartbeat_ack") {
      last_ack_at_ = steady::now();
      ipc_latency_ = std::chrono::duration<double>(last_ack_at_ - heartbeat_sent_).count();
    } else if (op == "stats_request") {
      if (state_) answer(source, id, "stats_broadcast", state_->stats());
    } else if (op == "guild_count_request") {
      if (state_) {
        auto s = state_->stats();
        answer(source, id, "guild_count_response",
               json::object{{"guild_count", s["guild_count"]}, {"user_count", s["user_count"]},
                            {"shard_count", s["shard_count"]}});
      }
    } else if (op == "eval_request") {
      auto query = get_string(data, "query");
      if (state_) answer(source, id, "eval_response", json::object{{"query", query}, {"result", state_->eval(query)}});
    } else if (op == "broadcast_message") {
      BroadcastMessage b{source, cap_characters(get_string(data, "message"), 500),
                         cap_characters(get_string(data, "author", "?"), 100), 0};
      if (auto* a = data.if_contains("author_id")) {
        // A number in version 1, a snowflake string from some peers: take either.
        if (a->is_string()) b.author_id = std::strtoull(std::string(a->get_string()).c_str(), nullptr, 10);
        else get_uint64(*a, b.author_id);
      }
      if (b.message.empty()) {
        spdlog::warn("ignored a broadcast from {} with no message", source);
      } else {
        spdlog::info("broadcast from {} by {}: {}", b.source, one_log_line(b.author), one_log_line(b.message));
        if (broadcast_cb_) broadcast_cb_(b);
      }
    } else if (op == "layout_request") {
      // The supervisor switches a reshard's layouts over (docs/supervisor.md, "Resharding").
      auto* a = data.if_contains("active");
      if (!a || !a->is_bool() || !layout_cb_) {
        if (!id.empty() && !opt_.legacy)
          answer(source, id, "error", json::object{{"code", "bad_request"}, {"message", "layout_request needs active: true|false"}});
      } else {
        layout_cb_(a->get_bool());
        answer(source, id, "layout_response", json::object{{"active", a->get_bool()}});
      }
    } else if (op == "cluster_join") {
      auto n = get_string(data, "cluster_name");
      clusters_.insert(n);
      spdlog::info("cluster joined: {}", n);
    } else if (op == "cluster_leave") {
      auto n = get_string(data, "cluster_name");
      clusters_.erase(n);
      spdlog::info("cluster left: {}", n);
    } else if (op == "stats_broadcast") {
      spdlog::debug("stats from {}", source);
    } else if (op == "error") {
      auto code = get_string(data, "code");
      if (code == "superseded") {
        spdlog::error("superseded by a newer generation of {}: this process gives up its shards", opt_.name);
        superseded_ = true;
        if (superseded_cb_) superseded_cb_();
      } else if (code == "unknown_op" && get_string(data, "message") == "unknown op: session_report") {
        // An older hub: stop reporting on this link rather than earn an error per report.
        if (!hub_lacks_sessions_)
          spdlog::warn("the hub does not keep shard sessions (older version): a process started elsewhere "
                       "cannot take this cluster's sessions over");
        hub_lacks_sessions_ = true;
      } else {
        spdlog::warn("hub error {}: {}", code, get_string(data, "message"));
      }
    } else if (!id.empty() && !opt_.legacy) {
      answer(source, id, "error", json::object{{"code", "unknown_op"}, {"message", "unknown op: " + op}});
    }
  }

  void on_reply(Pending& p, const std::string& op, const std::string& source, const json::object& data) {
    if (p.done) return;
    if (op == "fanout") {
      std::set<std::string> expected;
      if (auto* t = data.if_contains("targets"); t && t->is_array())
        for (auto& v : t->get_array())
          if (v.is_string()) expected.insert(std::string(v.get_string()));
      p.expected = std::move(expected);
    } else {
      RequestResult r;
      r.ok = op != "error";
      r.from = source;
      r.op = op;
      r.data = data;
      if (!r.ok) r.error = get_string(data, "code", "error");
      p.replies[source] = std::move(r);
    }
    if (!p.fanout) {
      if (!p.replies.empty()) p.finish();
    } else if (p.expected) {
      bool all = true;
      for (auto& name : *p.expected) all = all && p.replies.count(name);
      if (all) p.finish();
    }
  }

  void answer(const std::string& requester, const std::string& id, std::string_view op, json::object data) {
    // v1 peers correlate by op and source; v2 by reply_to.
    auto body = build_body(OutFrame{op, std::move(data), opt_.name, requester.empty() ? "all" : requester, "",
                                    opt_.legacy ? std::string_view() : std::string_view(id)},
                           nonces_);
    push(body);
  }

  // ---- sending -----------------------------------------------------------------------------

  void push(const std::string& body) {
    if (stream_ && writer_) writer_->push_body(body, shared_from_this());
  }

  bool send(std::string_view op, json::object data, std::string_view target, std::string_view id = {}) {
    if (!linked_) return false;
    push(build_body(OutFrame{op, std::move(data), opt_.name, target, opt_.legacy ? "" : id, ""}, nonces_));
    return true;
  }

  asio::awaitable<RequestResult> request(std::string op, json::object data, std::string target,
                                         std::chrono::milliseconds timeout) {
    RequestResult r;
    if (!linked_) {
      r.error = "not_linked";
      co_return r;
    }
    // The caller may drop its HubLink while this waits (stop() then fails the request):
    // the frame must keep the Impl it resumes into alive.
    auto self = shared_from_this();
    auto id = nonces_.next();
    auto p = std::make_shared<Pending>(io_.get_executor());
    pending_[id] = p;
    send(op, std::move(data), target, id);
    p->timer.expires_after(timeout);
    co_await p->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    pending_.erase(id);
    if (!p->replies.empty()) co_return p->replies.begin()->second;
    r.error = p->done ? "not_linked" : "timeout";
    co_return r;
  }

  asio::awaitable<FanoutResult> request_all(std::string op, json::object data, std::chrono::milliseconds timeout) {
    FanoutResult out;
    if (!linked_) co_return out;
    auto self = shared_from_this(); // see request()
    auto id = nonces_.next();
    auto p = std::make_shared<Pending>(io_.get_executor());
    p->fanout = true;
    pending_[id] = p;
    send(op, std::move(data), "all", id);
    p->timer.expires_after(timeout);
    co_await p->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    pending_.erase(id);
    out.replies = std::move(p->replies);
    // Whom to wait for: the hub's list, or else every cluster this link knows of.
    std::set<std::string> expected = p->expected ? *p->expected : clusters_;
    if (!p->expected) expected.erase(opt_.name);
    for (auto& name : expected)
      if (!out.replies.count(name)) out.missing.push_back(name);
    co_return out;
  }

  asio::awaitable<IdentifySlotResult> request_identify_slot(IdentifySlotRequest req,
                                                            std::chrono::milliseconds timeout) {
    using Status = IdentifySlotResult::Status;
    IdentifySlotResult out;
    if (!linked_) {
      out.status = Status::not_linked;
      out.message = "not linked to the hub";
      co_return out;
    }
    if (opt_.legacy) {
      // A v1 link carries no request ids, so no grant could be matched to this request.
      out.status = Status::error;
      out.message = "IDENTIFY slots need IPC protocol v2 (legacy auth is on)";
      co_return out;
    }
    json::object data{{"shard_id", req.shard_id},
                      {"shard_count", req.shard_count},
                      {"max_concurrency", req.max_concurrency},
                      {"window_ms", req.window_ms}};
    if (req.budget)
      data["budget"] = json::object{{"total", req.budget->total},
                                    {"remaining", req.budget->remaining},
                                    {"reset_after_ms", req.budget->reset_after_ms}};
    auto self = shared_from_this();
    auto r = co_await request("identify_request", std::move(data), server_name_, timeout);
    out.message = get_string(r.data, "message");
    if (r.ok && r.op == "identify_grant") {
      out.status = Status::granted;
      if (auto* v = r.data.if_contains("remaining"); v && v->is_number()) {
        std::uint64_t n = 0;
        if (get_uint64(*v, n) && n <= UINT32_MAX) out.remaining = static_cast<std::uint32_t>(n);
      }
    } else if (r.error == "identify_budget") {
      out.status = Status::refused_budget;
    } else if (r.error == "not_linked") {
      out.status = Status::not_linked;
      out.message = "the link to the hub dropped";
    } else if (r.error == "timeout") {
      out.status = Status::timeout;
      out.message = "no identify_grant within " + std::to_string(timeout.count()) + " ms";
    } else {
      out.status = Status::error;
      out.message = (r.ok ? "unexpected reply " + r.op : r.error) + (out.message.empty() ? "" : ": " + out.message);
    }
    co_return out;
  }

  // ---- shard sessions (docs/ipc-hub.md, "Shard sessions") --------------------------------

  bool report_sessions(std::uint32_t shard_count, std::vector<ReportedSession> sessions) {
    // A v1 link cannot carry the op, an admin may not send it, an older hub does not know it.
    if (!linked_ || opt_.legacy || opt_.admin || hub_lacks_sessions_) return false;
    if (shard_count < 1 || shard_count > kMaxSessionShardCount) {
      spdlog::warn("not reporting sessions to the hub: shard_count {} is not 1..{}", shard_count,
                   kMaxSessionShardCount);
      return false;
    }
    // The hub refuses a whole report for one bad entry: leave bad entries out here instead.
    // Each frame stays under 4,096 entries and ~900 KB (4,096 entries of maximal size would pass
    // the 1,000,000-byte frame cap); valid entries need no JSON escaping, so sizes add up.
    constexpr std::size_t kMaxReportBytes = 900'000;
    constexpr std::size_t kEntryOverhead = 96; // keys, punctuation, two integers
    json::array batch;
    std::size_t bytes = 0;
    auto flush = [&] {
      if (batch.empty()) return;
      json::object data{{"shard_count", shard_count}, {"sessions", std::move(batch)}};
      send("session_report", std::move(data), server_name_);
      batch = json::array();
      bytes = 0;
    };
    for (auto& s : sessions) {
      const char* why = nullptr;
      if (s.shard_id >= shard_count) why = "shard_id is not below shard_count";
      else if (!s.session_id.empty() && !valid_session_id(s.session_id)) why = "malformed session_id";
      else if (!s.session_id.empty() && !valid_resume_url(s.resume_url)) why = "resume_url is not a ws(s):// URL";
      if (why) {
        spdlog::warn("not reporting the session of shard {}/{} to the hub: {}", s.shard_id, shard_count, why);
        continue;
      }
      const std::size_t size = kEntryOverhead + s.session_id.size() + s.resume_url.size();
      if (batch.size() >= kMaxSessionsPerFrame || bytes + size > kMaxReportBytes) flush();
      json::object e{{"shard_id", s.shard_id}, {"session_id", nullptr}};
      if (!s.session_id.empty()) {
        e["session_id"] = std::move(s.session_id);
        e["seq"] = s.seq;
        e["resume_url"] = std::move(s.resume_url);
      }
      batch.emplace_back(std::move(e));
      bytes += size;
    }
    flush();
    return true;
  }

  asio::awaitable<std::optional<std::vector<ReportedSession>>> lookup_sessions(std::uint32_t shard_count,
                                                                               std::vector<std::uint32_t> shard_ids,
                                                                               std::chrono::milliseconds timeout) {
    if (!linked_ || opt_.legacy || opt_.admin || shard_count < 1 || shard_count > kMaxSessionShardCount)
      co_return std::nullopt;
    auto self = shared_from_this(); // see request()
    const auto deadline = steady::now() + timeout;
    // Ids the hub would refuse (out of range) cannot have a session; duplicates add nothing.
    std::vector<std::uint32_t> todo;
    {
      std::unordered_set<std::uint32_t> seen;
      for (auto id : shard_ids)
        if (id < shard_count && seen.insert(id).second) todo.push_back(id);
    }
    std::vector<ReportedSession> out;
    std::size_t next = 0;
    std::vector<std::uint32_t> again; // `more` of the last answer: known, did not fit its frame
    while (next < todo.size() || !again.empty()) {
      std::vector<std::uint32_t> chunk;
      if (!again.empty()) {
        chunk = std::move(again);
        again.clear();
      } else {
        const auto n = std::min(kMaxSessionsPerFrame, todo.size() - next);
        const auto from = todo.begin() + static_cast<std::ptrdiff_t>(next);
        chunk.assign(from, from + static_cast<std::ptrdiff_t>(n));
        next += n;
      }
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
      if (left <= std::chrono::milliseconds::zero()) co_return std::nullopt;
      json::array ids;
      for (auto id : chunk) ids.emplace_back(id);
      json::object data{{"shard_count", shard_count}, {"shard_ids", std::move(ids)}};
      auto r = co_await request("session_lookup", std::move(data), server_name_, left);
      if (!r.ok || r.op != "session_lookup_response") {
        spdlog::warn("session lookup at the hub failed: {}{}", r.ok ? "unexpected reply " + r.op : r.error,
                     r.ok || get_string(r.data, "message").empty() ? "" : ": " + get_string(r.data, "message"));
        co_return std::nullopt;
      }
      const std::unordered_set<std::uint32_t> asked(chunk.begin(), chunk.end());
      // The hub is authenticated, but its answer is still checked: a shard's session must be
      // one this process asked for, of its layout, and usable for a RESUME.
      if (auto* a = r.data.if_contains("sessions"); a && a->is_array()) {
        for (auto& v : a->get_array()) {
          if (!v.is_object()) continue;
          const auto& o = v.get_object();
          std::uint64_t sid = 0, count = 0, seq = 0;
          auto* sv = o.if_contains("shard_id");
          auto* cv = o.if_contains("shard_count");
          auto* qv = o.if_contains("seq");
          if (!sv || !cv || !qv || !sv->is_number() || !cv->is_number() || !qv->is_number() ||
              !get_uint64(*sv, sid) || !get_uint64(*cv, count) || !get_uint64(*qv, seq) || count != shard_count ||
              sid > UINT32_MAX || !asked.count(static_cast<std::uint32_t>(sid)))
            continue;
          ReportedSession s{static_cast<std::uint32_t>(sid), get_string(o, "session_id"), seq,
                            get_string(o, "resume_url")};
          if (!valid_session_id(s.session_id) || !valid_resume_url(s.resume_url)) continue;
          out.push_back(std::move(s));
        }
      }
      if (auto* m = r.data.if_contains("more"); m && m->is_array()) {
        for (auto& v : m->get_array()) {
          std::uint64_t id = 0;
          if (v.is_number() && get_uint64(v, id) && id <= UINT32_MAX && asked.count(static_cast<std::uint32_t>(id)))
            again.push_back(static_cast<std::uint32_t>(id));
        }
        // Each round must shrink what is left, or a confused hub would keep this loop going.
        if (again.size() >= chunk.size()) {
          spdlog::warn("session lookup at the hub made no progress ({} shard(s) left)", again.size());
          co_return std::nullopt;
        }
      }
    }
    co_return out;
  }

  void fail_pending(const char*) {
    for (auto& [id, p] : pending_) p->finish();
  }

  void close_stream() {
    linked_ = false;
    if (stream_) stream_->close();
  }

  asio::io_context& io_;
  LinkOptions opt_;
  ClusterState* state_;
  Backoff backoff_;
  std::optional<IpcStream> stream_;
  std::unique_ptr<FrameWriter> writer_;
  FrameDecoder decoder_{kMaxFrameBytes, 4096};
  NonceSource nonces_;
  std::string server_name_;
  std::string server_nonce_;
  std::set<std::string> clusters_;
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending_;
  bool linked_ = false;
  bool stopped_ = false;
  bool superseded_ = false;
  bool hub_lacks_sessions_ = false; // the hub answered session_report with unknown_op
  std::function<void()> superseded_cb_;
  std::function<void(const BroadcastMessage&)> broadcast_cb_;
  std::function<void(bool)> layout_cb_;
  steady::time_point linked_since_{};
  steady::time_point last_ack_at_{};
  std::uint64_t connects_ = 0;
  std::string last_error_;
  asio::steady_timer* wake_ = nullptr;
  steady::time_point heartbeat_sent_{};
  steady::time_point last_frame_at_{};
  double ipc_latency_ = 0;

  friend class HubLink;
};

std::shared_ptr<HubLink> HubLink::create(asio::io_context& io, LinkOptions options, ClusterState* state) {
  return std::shared_ptr<HubLink>(new HubLink(std::make_shared<Impl>(io, std::move(options), state)));
}
HubLink::~HubLink() { impl_->stop(); }
void HubLink::start() { impl_->start(); }
void HubLink::stop() { impl_->stop(); }
asio::awaitable<std::string> HubLink::connect_once() { return impl_->connect_once(); }
void HubLink::serve() { impl_->serve(); }
asio::awaitable<RequestResult> HubLink::request(std::string op, json::object data, std::string target,
                                                   std::chrono::milliseconds timeout) {
  return impl_->request(std::move(op), std::move(data), std::move(target), timeout);
}
asio::awaitable<FanoutResult> HubLink::request_all(std::string op, json::object data,
                                                       std::chrono::milliseconds timeout) {
  return impl_->request_all(std::move(op), std::move(data), timeout);
}
asio::awaitable<IdentifySlotResult> HubLink::request_identify_slot(IdentifySlotRequest req,
                                                                      std::chrono::milliseconds timeout) {
  return impl_->request_identify_slot(req, timeout);
}
bool HubLink::report_sessions(std::uint32_t shard_count, std::vector<ReportedSession> sessions) {
  return impl_->report_sessions(shard_count, std::move(sessions));
}
asio::awaitable<std::optional<std::vector<ReportedSession>>> HubLink::lookup_sessions(
    std::uint32_t shard_count, std::vector<std::uint32_t> shard_ids, std::chrono::milliseconds timeout) {
  return impl_->lookup_sessions(shard_count, std::move(shard_ids), timeout);
}
bool HubLink::send(std::string_view op, json::object data, std::string_view target) {
  return impl_->send(op, std::move(data), target);
}
bool HubLink::linked() const { return impl_->linked(); }
const std::string& HubLink::server_name() const { return impl_->server_name_; }
const std::string& HubLink::name() const { return impl_->opt_.name; }
void HubLink::on_superseded(std::function<void()> f) { impl_->superseded_cb_ = std::move(f); }
void HubLink::on_layout(std::function<void(bool active)> f) { impl_->layout_cb_ = std::move(f); }
void HubLink::on_broadcast(std::function<void(const BroadcastMessage&)> f) { impl_->broadcast_cb_ = std::move(f); }

LinkStatus HubLink::status() const {
  auto& i = *impl_;
  auto now = steady::now();
  auto age = [&](steady::time_point t) -> std::optional<double> {
    if (t == steady::time_point{}) return std::nullopt;
    return std::chrono::duration<double>(now - t).count();
  };
  LinkStatus s;
  s.linked = i.linked_;
  s.hub = i.server_name_;
  s.host = i.opt_.host;
  s.port = i.opt_.port;
  s.tls = i.opt_.tls != nullptr;
  s.legacy = i.opt_.legacy;
  if (i.linked_) {
    s.linked_for_s = age(i.linked_since_);
    s.last_ack_age_s = age(i.last_ack_at_);
    if (s.last_ack_age_s) s.latency_s = i.ipc_latency_;
  }
  s.connects = i.connects_;
  s.last_error = i.last_error_;
  return s;
}

} // namespace shardline::link
