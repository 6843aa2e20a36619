// The simulator's networking: one loopback port, one io_context, one thread. Each accepted
// connection reads an HTTP request; a websocket upgrade becomes a gateway connection, anything
// else is answered by the REST or /_sim/ handlers. All Beast code lives in this one
// translation unit on purpose: Beast is slow to compile, and the rules it enforces are in the
// pure library (world, limiters, sessions, gateway_protocol) where unit tests reach them.

#include "sim/sim_server.hpp"

#include "core/clock.hpp"
#include "core/port_file.hpp"
#include "sim/event_generator.hpp"
#include "sim/gateway_protocol.hpp"
#include "sim/identify_limiter.hpp"
#include "sim/interaction_store.hpp"
#include "sim/rest_limiter.hpp"
#include "sim/send_limiter.hpp"
#include "sim/session_store.hpp"
#include "sim/world.hpp"
#include "sim/zlib_stream.hpp"

#include <utility>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace shardline::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;
// A client that stops reading is a slow consumer, closed with 4000 (resumable) while the
// oldest dispatch it has not received is still kept for replay, with this many newer events
// of headroom for its reconnection: so its RESUME loses nothing. Waiting longer would turn
// the "resumable" close into a forced re-IDENTIFY.
constexpr std::uint64_t kSlowConsumerHeadroom = ReplayLimits{}.max_events / 10;
// ...and only if its writer is stuck: a client draining a large RESUME replay keeps writes
// completing and is left alone until it would actually lose an event.
constexpr auto kWriterStuckAfter = std::chrono::milliseconds(250);
// Backstop on any connection's queue (the rule above keeps dispatches well under it): twice
// what a replay can hold, so a RESUME's replay always fits.
constexpr std::size_t kMaxQueuedFrames = 2 * ReplayLimits{}.max_events;
constexpr std::size_t kMaxQueuedBytes = 2 * ReplayLimits{}.max_bytes;
// Gateway and HTTP connections at once; beyond, new ones are closed at accept.
constexpr std::size_t kMaxConnections = 4096;
constexpr auto kCloseGrace = std::chrono::seconds(2); // after our close frame, then the socket goes
constexpr std::uint64_t kPrivilegedIntents = intent::guild_members | intent::guild_presences | intent::message_content;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Beast's and Boost.JSON's strings are Boost's own; the pure code takes std::string_view.
std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }
std::string_view jsv(const json::string& s) { return {s.data(), s.size()}; }

struct Sim;

struct GatewayConn {
  struct Out {
    Frame frame;
    std::uint64_t seq = 0; // a dispatch of the attached session: recorded as delivered once written
    bool replayed = false;
    bool heartbeat_request = false; // our op 1: the answer is due from when it is written
  };

  GatewayConn(beast::tcp_stream stream, Clock clock)
      : ws(std::move(stream)), wake(ws.get_executor()), send_limiter(std::move(clock)) {}

  websocket::stream<beast::tcp_stream> ws;
  asio::steady_timer wake; // the writer sleeps on it; cancel() wakes it
  std::unique_ptr<ZlibStream> zlib;
  std::deque<Out> outq;
  std::size_t out_bytes = 0;
  SendLimiter send_limiter;
  std::string address;
  std::string session_id; // attached session; empty before IDENTIFY/RESUME
  steady::time_point last_heartbeat{};
  steady::time_point last_write_done{}; // the writer's last completed write (or the accept)
  steady::time_point heartbeat_requested{}; // our op 1 awaiting the client's HEARTBEAT; {}: none
  steady::time_point next_server_heartbeat{};
  bool closing = false; // our close frame is queued or sent
  bool ended = false;   // the reader has finished; the connection is gone
  steady::time_point close_started{};
  bool no_acks = false; // fault: heartbeats go unanswered
  bool stalled = false; // fault: nothing is written any more
  std::uint16_t close_code = 0;
  std::string close_reason;
};

using ConnPtr = std::shared_ptr<GatewayConn>;

struct Sim {
  Sim(asio::io_context& io, SimOptions o)
      : io(io), opt(std::move(o)), world(WorldOptions{opt.guilds, opt.seed}),
        identify(IdentifyLimits{opt.max_concurrency, millis(opt.identify_window_ms), opt.session_budget}, clock),
        // Session ids are random, not from the seed: a client must never resume a session
        // of an earlier simulator run by accident.
        sessions(SessionLimits{ReplayLimits{}, millis(opt.resume_ttl_ms)}, clock, std::random_device{}()),
        events(world, opt.seed),
        rest_limiter(RestLimits{opt.rest_global_per_sec, opt.rest_route_limit, millis(opt.rest_route_window_ms)},
                     clock),
        interactions(InteractionLimits{}, clock, std::random_device{}()), acceptor(io), sweeper(io), started(clock()),
        outage_end(started + millis(opt.outage_ms)) {}

  asio::io_context& io;
  SimOptions opt;
  Clock clock = real_clock();
  World world;
  IdentifyLimiter identify;
  SessionStore sessions;
  EventGenerator events;
  RestLimiter rest_limiter;
  InteractionStore interactions;
  std::map<std::string, json::array> commands; // "global" or a guild id -> its slash commands
  std::uint64_t command_puts = 0; // accepted bulk overwrites, any scope: a test sees a bot re-register
  std::unordered_map<std::uint64_t, std::deque<std::string>> channel_messages; // what the bot posted
  std::uint64_t next_increment = 0, last_id = 0;
  std::mt19937_64 churn_rng{opt.seed ^ 0xc4u};
  tcp::acceptor acceptor;
  asio::steady_timer sweeper;
  steady::time_point started;
  std::uint16_t port = 0;
  std::string ws_url;
  bool stopped = false;

  std::map<std::string, std::uint64_t> violations; // besides the identify limiter's own
  std::uint64_t resumes_refused = 0;
  std::uint64_t connections_total = 0;
  std::size_t open_connections = 0; // gateway and HTTP, for kMaxConnections
  std::uint64_t faults_applied = 0;
  std::unordered_set<ConnPtr> conns;
  std::unordered_map<std::string, std::weak_ptr<GatewayConn>> conn_of; // session id -> its connection

  // Guilds unavailable at start come back at outage_end: sessions that saw them unavailable
  // get their GUILD_CREATE then (replayable like any dispatch if they are disconnected).
  steady::time_point outage_end;
  bool outage_over = false;
  std::vector<std::string> awaiting_outage;

  std::uint32_t recommended_shards() const { return opt.shards ? opt.shards : world.recommended_shards(); }
};

// ---- gateway: queueing, dispatching, closing ------------------------------------------------

void wake_writer(GatewayConn& c) { c.wake.cancel(); }

void request_close(GatewayConn& c, std::uint16_t code, std::string reason);

Frame make_frame(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

void enqueue(GatewayConn& c, GatewayConn::Out out) {
  if (c.closing || c.ended) return;
  c.out_bytes += out.frame->size();
  c.outq.push_back(std::move(out));
  if (c.outq.size() > kMaxQueuedFrames || c.out_bytes > kMaxQueuedBytes)
    return request_close(c, close_code::unknown_error, "Slow consumer.");
  wake_writer(c);
}

void count_violation(Sim& sim, const char* kind, const GatewayConn& c, const std::string& detail = {}) {
  ++sim.violations[kind];
  spdlog::warn("violation {} from {}{}{}", kind, c.address, detail.empty() ? "" : ": ", detail);
}

// Closes with `code` as soon as the writer is free; frames still queued are dropped (a
// dispatch among them stays in the session's replay buffer, undelivered).
void request_close(GatewayConn& c, std::uint16_t code, std::string reason) {
  if (c.closing || c.ended) return;
  spdlog::info("closing gateway connection {} with {} ({})", c.address, code, reason);
  c.closing = true;
  c.close_code = code;
  c.close_reason = std::move(reason);
  c.close_started = steady::now();
  c.outq.clear();
  c.out_bytes = 0;
  wake_writer(c);
}

// Appends a dispatch to the session (sequence, replay buffer) and sends it if a connection
// holds the session.
void dispatch(Sim& sim, Session& s, std::string_view type, std::string_view data) {
  auto& ev = s.append(type, data);
  auto it = sim.conn_of.find(s.id());
  if (it == sim.conn_of.end()) return;
  auto c = it->second.lock();
  if (!c || c->session_id != s.id()) return;
  enqueue(*c, {ev.frame, ev.seq, false});
  // The oldest queued dispatch is the first one the client has not received: close while it
  // would survive kSlowConsumerHeadroom more events in the replay buffer (by count, and by
  // bytes through the queue, which holds the same events).
  for (auto& o : c->outq) {
    if (o.seq == 0) continue;
    const std::uint64_t behind = s.last_seq() - o.seq + 1;
    const bool at_risk = behind + kSlowConsumerHeadroom > ReplayLimits{}.max_events ||
                         c->out_bytes > ReplayLimits{}.max_bytes / 10 * 9;
    const bool stuck = sim.clock() - c->last_write_done > kWriterStuckAfter;
    if ((at_risk && stuck) || !s.can_replay_from(o.seq - 1))
      request_close(*c, close_code::unknown_error, "Slow consumer.");
    break;
  }
}

void send_guilds(Sim& sim, Session& s) {
  bool in_outage = !sim.outage_over && sim.clock() < sim.outage_end;
  bool waits = false;
  for (auto* g : sim.world.guilds_of_shard(s.shard_id(), s.num_shards())) {
    if (g->unavailable_at_start && in_outage) {
      dispatch(sim, s, "GUILD_DELETE", guild_unavailable_data(*g));
      waits = true;
    } else {
      dispatch(sim, s, "GUILD_CREATE", guild_create_data(sim.world, *g, s.large_threshold));
    }
  }
  if (waits) sim.awaiting_outage.push_back(s.id());
}

void end_outage(Sim& sim) {
  sim.outage_over = true;
  std::size_t sent = 0;
  for (auto& id : sim.awaiting_outage) {
    auto* s = sim.sessions.find(id);
    if (!s || s->invalidated) continue;
    for (auto* g : sim.world.guilds_of_shard(s->shard_id(), s->num_shards()))
      if (g->unavailable_at_start) {
        dispatch(sim, *s, "GUILD_CREATE", guild_create_data(sim.world, *g, s->large_threshold));
        ++sent;
      }
  }
  sim.awaiting_outage.clear();
  spdlog::info("guild outage over: {} GUILD_CREATE sent to waiting sessions", sent);
}

bool invalidates_session(std::uint16_t code) {
  switch (code) {
  case 1000:
  case 1001:
  case close_code::authentication_failed:
  case close_code::invalid_seq:
  case close_code::session_timed_out:
  case close_code::invalid_shard:
  case close_code::sharding_required:
  case close_code::invalid_api_version:
  case close_code::invalid_intents:
  case close_code::disallowed_intents: return true;
  default: return false;
  }
}

void attach(Sim& sim, const ConnPtr& c, Session& s) {
  c->session_id = s.id();
  sim.conn_of[s.id()] = c;
  if (sim.opt.server_heartbeat_ms) c->next_server_heartbeat = sim.clock() + millis(sim.opt.server_heartbeat_ms);
}

// Sends a HEARTBEAT request (op 1); the client must answer with a HEARTBEAT at once.
void request_heartbeat(GatewayConn& c, std::uint64_t last_seq) {
  GatewayConn::Out out{make_frame(heartbeat_request_frame(last_seq))};
  out.heartbeat_request = true;
  enqueue(c, std::move(out));
}

void on_identify(Sim& sim, const ConnPtr& c, const std::string& d_json) {
  if (!c->session_id.empty()) {
    count_violation(sim, "already_authenticated", *c);
    return request_close(*c, close_code::already_authenticated, "You sent more than one identify payload.");
  }
  GatewayError err;
  auto id = parse_identify(d_json, err);
  if (!id) {
    count_violation(sim, err.code == close_code::invalid_shard ? "invalid_shard" : "bad_identify", *c, err.reason);
    return request_close(*c, err.code, err.reason);
  }
  if (id->token != sim.opt.token) {
    count_violation(sim, "authentication_failed", *c);
    return request_close(*c, close_code::authentication_failed, "Authentication failed.");
  }
  if (auto refused = id->intents & kPrivilegedIntents & ~sim.opt.privileged_intents) {
    count_violation(sim, "disallowed_intents", *c, fmt::format("privileged intents {} not enabled", refused));
    return request_close(*c, close_code::disallowed_intents, "Disallowed intent(s).");
  }
  if (sim.world.count_of_shard(id->shard_id, id->num_shards) > World::kMaxGuildsPerShard) {
    count_violation(sim, "sharding_required", *c,
                    fmt::format("shard [{}, {}] would hold more than {} guilds", id->shard_id, id->num_shards,
                                World::kMaxGuildsPerShard));
    return request_close(*c, close_code::sharding_required, "Sharding is required.");
  }
  auto verdict = sim.identify.try_identify(id->shard_id);
  if (verdict != IdentifyVerdict::accepted) {
    // The limiter counts it; the client must wait and IDENTIFY again.
    spdlog::warn("violation {} from {}: IDENTIFY of shard [{}, {}] refused (bucket {})", to_string(verdict),
                 c->address, id->shard_id, id->num_shards, sim.identify.bucket_of(id->shard_id));
    enqueue(*c, {make_frame(invalid_session_frame(false))});
    return;
  }
  auto& s = sim.sessions.create(id->shard_id, id->num_shards);
  s.intents = id->intents;
  s.large_threshold = id->large_threshold;
  attach(sim, c, s);
  spdlog::info("IDENTIFY shard [{}, {}] from {}: session {}", id->shard_id, id->num_shards, c->address, s.id());
  dispatch(sim, s, "READY", ready_data(sim.world, s.id(), sim.ws_url, id->shard_id, id->num_shards));
  send_guilds(sim, s);
}

void on_resume(Sim& sim, const ConnPtr& c, const std::string& d_json) {
  if (!c->session_id.empty()) {
    count_violation(sim, "already_authenticated", *c);
    return request_close(*c, close_code::already_authenticated, "Already authenticated.");
  }
  GatewayError err;
  auto r = parse_resume(d_json, err);
  if (!r) {
    count_violation(sim, "bad_resume", *c);
    return request_close(*c, err.code, err.reason);
  }
  if (r->token != sim.opt.token) {
    count_violation(sim, "authentication_failed", *c);
    return request_close(*c, close_code::authentication_failed, "Authentication failed.");
  }
  // A session whose connection we are closing with a code that ends it (4009 session timed out,
  // 4007...) is over already, even while that close is still under way.
  if (auto held = sim.conn_of.find(r->session_id); held != sim.conn_of.end())
    if (auto h = held->second.lock(); h && h != c && h->closing && invalidates_session(h->close_code))
      if (auto* s = sim.sessions.find(r->session_id)) s->invalidated = true;
  auto res = sim.sessions.resume(r->session_id, r->seq);
  if (!res) {
    ++sim.resumes_refused;
    // The session id is the peer's text: logged by length only (no log injection).
    spdlog::info("RESUME ({}-byte session id) at {} refused from {}: {}", r->session_id.size(), r->seq,
                 c->address, to_string(res.refusal));
    enqueue(*c, {make_frame(invalid_session_frame(false))});
    return;
  }
  // A session still held by another connection (the client gave up on a zombie): once the
  // resume is accepted, that connection loses the session and is closed.
  if (auto it = sim.conn_of.find(r->session_id); it != sim.conn_of.end()) {
    if (auto old = it->second.lock(); old && old != c && old->session_id == r->session_id) {
      old->session_id.clear();
      request_close(*old, close_code::unknown_error, "Session resumed elsewhere.");
    }
  }
  auto& s = *res.session;
  attach(sim, c, s);
  auto missed = s.events_after(r->seq);
  spdlog::info("RESUME of {} (shard [{}, {}]) at {} from {}: replaying {}", s.id(), s.shard_id(), s.num_shards(),
               r->seq, c->address, missed.size());
  for (auto* e : missed) enqueue(*c, {e->frame, e->seq, true});
  dispatch(sim, s, "RESUMED", resumed_data());
}

void on_message(Sim& sim, const ConnPtr& c, std::string_view text) {
  if (!c->send_limiter.allow()) {
    count_violation(sim, "send_rate", *c, fmt::format("over {} commands in 60 s", c->send_limiter.limit()));
    return request_close(*c, close_code::rate_limited, "You are being rate limited.");
  }
  GatewayError err;
  auto cmd = parse_command(text, err);
  if (!cmd) {
    count_violation(sim, err.code == close_code::unknown_opcode ? "unknown_opcode" : "decode_error", *c);
    return request_close(*c, err.code, err.reason);
  }
  switch (cmd->op) {
  case op::heartbeat:
    c->last_heartbeat = sim.clock();
    c->heartbeat_requested = {};
    if (!c->no_acks) enqueue(*c, {make_frame(heartbeat_ack_frame())});
    return;
  case op::identify: return on_identify(sim, c, cmd->d_json);
  case op::resume: return on_resume(sim, c, cmd->d_json);
  default:
    // Presence, voice state, member requests: accepted and ignored once authenticated.
    if (c->session_id.empty()) {
      count_violation(sim, "not_authenticated", *c, fmt::format("op {} before IDENTIFY", cmd->op));
      return request_close(*c, close_code::not_authenticated, "Not authenticated.");
    }
    return;
  }
}

void end_connection(Sim& sim, const ConnPtr& c, std::uint16_t client_code) {
  if (c->ended) return;
  c->ended = true;
  wake_writer(*c);
  sim.conns.erase(c);
  if (c->session_id.empty()) return;
  auto* s = sim.sessions.find(c->session_id);
  auto it = sim.conn_of.find(c->session_id);
  if (it != sim.conn_of.end() && it->second.lock() == c) sim.conn_of.erase(it);
  if (!s) return;
  // When we closed first, our code decides: a client that answers our resumable close
  // (4000, 4002, 4008...) with 1000 keeps its session, as gateway.md's table says.
  bool invalidate = c->closing ? invalidates_session(c->close_code) : invalidates_session(client_code);
  sim.sessions.detach(*s, invalidate);
  spdlog::info("session {} (shard [{}, {}]) {}", s->id(), s->shard_id(), s->num_shards(),
               invalidate ? "ended" : "detached, resumable");
}

// ---- gateway: coroutines -------------------------------------------------------------------

// While a backlog of frames is being written the socket is corked (TCP_CORK), so the kernel
// sends full segments instead of one per dispatch (a loopback send per message cost about as
// much as generating and compressing it); it is uncorked, which sends what is pending, as
// soon as the queue is empty and before the writer sleeps or closes.
void set_cork(GatewayConn& c, bool on) {
  int v = on ? 1 : 0;
  ::setsockopt(beast::get_lowest_layer(c.ws).socket().native_handle(), IPPROTO_TCP, TCP_CORK, &v, sizeof v);
}

asio::awaitable<void> gateway_writer(std::shared_ptr<Sim> sim, ConnPtr c) {
  bool corked = false;
  std::string zbuf; // compressed frame, its capacity reused
  for (;;) {
    if (corked && (c->outq.empty() || c->stalled || c->ended)) {
      set_cork(*c, false);
      corked = false;
    }
    while ((c->outq.empty() || c->stalled) && !c->closing && !c->ended) {
      c->wake.expires_at(steady::time_point::max());
      co_await c->wake.async_wait(use_tuple);
    }
    if (c->ended) co_return;
    if (c->outq.empty() && c->closing) {
      websocket::close_reason reason(static_cast<websocket::close_code>(c->close_code), c->close_reason);
      [[maybe_unused]] auto [ec] = co_await c->ws.async_close(reason, use_tuple);
      co_return;
    }
    auto out = std::move(c->outq.front());
    c->outq.pop_front();
    c->out_bytes -= out.frame->size();
    if (!corked && !c->outq.empty()) {
      set_cork(*c, true);
      corked = true;
    }
    c->ws.binary(c->zlib != nullptr);
    if (c->zlib) c->zlib->compress_into(*out.frame, zbuf);
    auto [ec, n] = co_await c->ws.async_write(asio::buffer(c->zlib ? zbuf : *out.frame), use_tuple);
    if (ec) {
      beast::error_code ignored;
      beast::get_lowest_layer(c->ws).socket().close(ignored);
      co_return;
    }
    c->last_write_done = sim->clock();
    // A dispatch reached the client of the session this connection holds (still holds: a
    // RESUME elsewhere detaches it, and then the replay there is what counts).
    if (out.seq != 0 && !c->session_id.empty())
      if (auto* s = sim->sessions.find(c->session_id)) sim->sessions.delivered(*s, out.seq, out.replayed);
    // The client's answer is due from when the request reached the wire, not from when it
    // was queued behind a backlog of dispatches.
    if (out.heartbeat_request && c->heartbeat_requested == steady::time_point{}) c->heartbeat_requested = sim->clock();
  }
}

// Checks the query of the gateway URL: v=10, encoding=json, compress absent or zlib-stream.
// Returns 0 if fine, else the close code to refuse with.
std::uint16_t check_gateway_query(std::string_view target, bool& zlib, std::string& why) {
  auto u = boost::urls::parse_origin_form(target);
  if (!u) {
    why = "Malformed gateway URL.";
    return close_code::decode_error;
  }
  for (auto p : u->params()) {
    if (p.key == "v" && p.value != "10") {
      why = "Invalid API version.";
      return close_code::invalid_api_version;
    }
    if (p.key == "encoding" && p.value != "json") {
      why = "Only encoding=json is simulated.";
      return close_code::decode_error;
    }
    if (p.key == "compress") {
      if (p.value != "zlib-stream") {
        why = "Only compress=zlib-stream is simulated.";
        return close_code::decode_error;
      }
      zlib = true;
    }
  }
  return 0;
}

asio::awaitable<void> gateway(std::shared_ptr<Sim> sim, ConnPtr c, Request req) {
  bool zlib = false;
  std::string why;
  auto refuse = check_gateway_query(sv(req.target()), zlib, why);
  beast::get_lowest_layer(c->ws).expires_never();
  c->ws.set_option(websocket::stream_base::timeout{std::chrono::seconds(10), websocket::stream_base::none(), false});
  c->ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "shardline-sim"); }));
  // No frame-size limit in Beast: it would fail a large frame with 1009 before the reader
  // below counts it and closes with 4002; that reader never buffers more than 5 KiB.
  c->ws.read_message_max(0);
  c->ws.auto_fragment(false);
  auto [aec] = co_await c->ws.async_accept(req, use_tuple);
  if (aec) co_return;
  // The simulator must outrun its clients (benchmarks stream 100k events/s through it):
  // ISA-L by default (zlib_stream.hpp says why); any engine inflates the same way.
  if (zlib) c->zlib = std::make_unique<ZlibStream>(sim->opt.deflate);
  ++sim->connections_total;
  sim->conns.insert(c);
  c->last_heartbeat = sim->clock();
  c->last_write_done = sim->clock();
  // The reader owns the connection; a writer that fails closes the socket, which ends it.
  asio::co_spawn(c->ws.get_executor(), gateway_writer(sim, c), [c](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("gateway writer for {} failed: {}", c->address, ex.what());
    }
    beast::error_code ignored;
    beast::get_lowest_layer(c->ws).socket().close(ignored);
  });
  if (refuse) request_close(*c, refuse, why);
  else enqueue(*c, {make_frame(hello_frame(sim->opt.heartbeat_ms))});

  beast::flat_buffer buf;
  std::uint16_t client_code = 0;
  for (;;) {
    buf.clear();
    bool too_big = false;
    beast::error_code ec;
    // Read piecewise, so an oversized message is refused after 4 KiB, never buffered whole.
    do {
      auto [e, n] = co_await c->ws.async_read_some(buf, 1024, use_tuple);
      if (e) {
        ec = e;
        break;
      }
      if (buf.size() > kMaxPayloadBytes) {
        too_big = true;
        break;
      }
    } while (!c->ws.is_message_done());
    if (ec) {
      if (ec == websocket::error::closed) client_code = static_cast<std::uint16_t>(c->ws.reason().code);
      break;
    }
    if (c->closing) continue; // drain until the peer answers our close
    if (too_big) {
      count_violation(*sim, "payload_too_large", *c, "over 4096 bytes");
      request_close(*c, close_code::decode_error, "Payload too large.");
      continue;
    }
    if (!c->ws.got_text()) {
      // Binary frames carry ETF; clients send JSON as text even with zlib-stream (which
      // compresses only what the gateway sends).
      count_violation(*sim, "decode_error", *c, "binary frame");
      request_close(*c, close_code::decode_error, "Error while decoding payload.");
      continue;
    }
    auto data = buf.data();
    on_message(*sim, c, std::string_view(static_cast<const char*>(data.data()), data.size()));
  }
  end_connection(*sim, c, client_code);
  beast::error_code ignored;
  beast::get_lowest_layer(c->ws).socket().close(ignored);
}

// ---- REST -----------------------------------------------------------------------------------

Response json_response(const Request& req, http::status status, std::string body) {
  Response res{status, req.version()};
  res.set(http::field::server, "shardline-sim");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response error_response(const Request& req, http::status status, std::string_view message, int code = 0) {
  json::object o{{"message", message}, {"code", code}};
  return json_response(req, status, json::serialize(o));
}

std::string gateway_bot_json(Sim& sim) {
  auto ssl = sim.identify.session_start_limit();
  json::object o{{"url", sim.ws_url},
                 {"shards", sim.recommended_shards()},
                 {"session_start_limit", json::object{{"total", ssl.total},
                                                      {"remaining", ssl.remaining},
                                                      {"reset_after", ssl.reset_after_ms},
                                                      {"max_concurrency", ssl.max_concurrency}}}};
  return json::serialize(o);
}

// The team that owns the application with --team-members; null without. Its id is a
// snowflake from the world's seed, older than the application and younger than its owner.
json::value team_json(Sim& sim, std::uint64_t team_id) {
  auto& members = sim.opt.team_members;
  if (members.empty()) return nullptr;
  json::array out;
  for (auto id : members)
    out.push_back(json::object{{"membership_state", 2}, // ACCEPTED
                               {"permissions", json::array{"*"}}, // deprecated, still sent
                               {"team_id", std::to_string(team_id)},
                               {"user", json::object{{"id", std::to_string(id)},
                                                     {"username", "user" + std::to_string(id % 100000)},
                                                     {"discriminator", "0"},
                                                     {"global_name", nullptr},
                                                     {"avatar", nullptr},
                                                     {"public_flags", 0}}},
                               {"role", "admin"}});
  return json::object{{"id", std::to_string(team_id)},
                      {"name", "Shardline Sim Team"},
                      {"icon", nullptr},
                      {"owner_user_id", std::to_string(members.front())},
                      {"members", std::move(out)}};
}

std::string application_json(Sim& sim) {
  auto& w = sim.world;
  json::object owner{{"id", std::to_string(w.owner_id())}, {"username", "sim-owner"}, {"discriminator", "0"},
                     {"global_name", "Sim Owner"},         {"avatar", nullptr},       {"public_flags", 0},
                     {"flags", 0}};
  const auto team_id = World::snowflake(World::unix_ms_of(w.owner_id()) + 86'400'000ULL, 0, 4, 0);
  auto team = team_json(sim, team_id);
  // A team-owned application's `owner` is the team's pseudo-user, as on Discord: the team's id,
  // username "team<id>", and the TEAM_PSEUDO_USER flag (1 << 10). Libraries tell the two cases
  // apart by `team`, and take the owners from its members.
  if (!team.is_null()) {
    constexpr int kTeamPseudoUser = 1 << 10;
    owner = json::object{{"id", std::to_string(team_id)},
                         {"username", "team" + std::to_string(team_id)},
                         {"discriminator", "0000"},
                         {"global_name", nullptr},
                         {"avatar", nullptr},
                         {"public_flags", kTeamPseudoUser},
                         {"flags", kTeamPseudoUser}};
  }
  json::object o{{"id", std::to_string(w.application_id())},
                 {"name", w.bot_name()},
                 {"icon", nullptr},
                 {"description", "A bot inside the Shardline simulator"},
                 {"bot_public", true},
                 {"bot_require_code_grant", false},
                 {"verify_key", "0000000000000000000000000000000000000000000000000000000000000000"},
                 {"flags", 0},
                 {"team", std::move(team)},
                 {"approximate_guild_count", w.guilds().size()},
                 {"owner", std::move(owner)},
                 {"bot", json::parse(bot_user_json(w))}};
  return json::serialize(o);
}

std::string stats_json(Sim& sim) {
  json::object identifies{{"total", sim.identify.accepted_total()}};
  json::array per_bucket;
  for (auto n : sim.identify.accepted_per_bucket()) per_bucket.push_back(n);
  identifies["per_bucket"] = std::move(per_bucket);

  json::object per_shard_live;
  for (auto& [shard, n] : sim.sessions.live_per_shard()) per_shard_live[std::to_string(shard)] = n;
  json::object sessions{{"live", sim.sessions.live()}, {"known", sim.sessions.size()}};
  sessions["per_shard"] = std::move(per_shard_live);

  json::object violations;
  std::uint64_t violations_total = 0;
  for (auto& [kind, n] : sim.violations) {
    violations[kind] = n;
    violations_total += n;
  }
  for (auto& [kind, n] : sim.identify.violations()) {
    violations[kind] = n;
    violations_total += n;
  }

  json::object events_per_shard, replayed_per_shard;
  std::uint64_t events_total = 0;
  for (auto& [shard, c] : sim.sessions.shard_counters()) {
    events_per_shard[std::to_string(shard)] = c.events_sent;
    replayed_per_shard[std::to_string(shard)] = c.events_replayed;
    events_total += c.events_sent;
  }
  json::object events{{"total", events_total}};
  events["per_shard"] = std::move(events_per_shard);
  events["replayed_per_shard"] = std::move(replayed_per_shard);

  auto global_it = sim.commands.find("global");
  const std::size_t global_commands = global_it == sim.commands.end() ? 0 : global_it->second.size();

  json::object o{{"identifies", std::move(identifies)},
                 {"resumes", sim.sessions.resumes_total()},
                 {"resumes_refused", sim.resumes_refused},
                 {"sessions", std::move(sessions)},
                 {"violations", std::move(violations)},
                 {"violations_total", violations_total},
                 {"events_sent", std::move(events)},
                 {"session_budget_left", sim.identify.session_start_limit().remaining},
                 {"connections", json::object{{"live", sim.conns.size()}, {"total", sim.connections_total}}},
                 {"events_generated", sim.events.generated()},
                 {"faults_applied", sim.faults_applied},
                 {"application_commands", json::object{{"puts", sim.command_puts}, {"global", global_commands}}},
                 {"guilds", sim.world.guilds().size()},
                 {"recommended_shards", sim.recommended_shards()}};
  return json::serialize(o);
}

// GET /_sim/world?shards=N: the world as a bot with N shards sees it once every GUILD_CREATE has
// arrived (guilds still in their start-up outage included: they are the bot's), with the
// member_count GUILD_CREATE carries. A test compares what a cluster reports against it, and
// picks a guild of a given shard from `guild_ids` (the first few of each shard).
std::string world_json(Sim& sim, std::uint32_t num_shards) {
  constexpr std::size_t kIdsPerShard = 5;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> per(num_shards); // guilds, members
  std::vector<json::array> ids(num_shards);
  std::uint64_t members = 0;
  for (auto& g : sim.world.guilds()) {
    auto shard = World::shard_of(g.id, num_shards);
    auto& [n, m] = per[shard];
    ++n;
    m += g.member_count;
    members += g.member_count;
    if (ids[shard].size() < kIdsPerShard) ids[shard].push_back(json::value(std::to_string(g.id)));
  }
  json::object per_shard;
  for (std::uint32_t i = 0; i < num_shards; ++i)
    per_shard[std::to_string(i)] =
        json::object{{"guilds", per[i].first}, {"members", per[i].second}, {"guild_ids", std::move(ids[i])}};
  json::object o{{"guilds", sim.world.guilds().size()}, {"members", members}};
  o["per_shard"] = std::move(per_shard);
  return json::serialize(o);
}

// GET /_sim/sessions?shard=N: every known session of a shard with its delivery record, so a
// test can prove a client received every event across reconnects.
std::string sessions_json(Sim& sim, std::uint32_t shard) {
  json::array out;
  for (auto* s : sim.sessions.sessions_of_shard(shard)) {
    json::array delivered, missing;
    for (auto& [a, b] : s->delivered().ranges()) delivered.push_back(json::array{a, b});
    for (auto& [a, b] : s->undelivered()) missing.push_back(json::array{a, b});
    json::object o{{"session_id", s->id()},     {"shard", json::array{s->shard_id(), s->num_shards()}},
                   {"last_seq", s->last_seq()}, {"attached", s->attached},
                   {"invalidated", s->invalidated}, {"resumes", s->resumes},
                   {"longest_detached_ms", std::chrono::duration_cast<millis>(s->longest_detached).count()}};
    o["delivered"] = std::move(delivered);
    o["undelivered"] = std::move(missing);
    out.push_back(std::move(o));
  }
  return json::serialize(json::object{{"sessions", std::move(out)}});
}

// POST /_sim/faults {shard, kind, code?, resumable?}: does something unkind to every
// connection holding a session of shard `shard` (whatever its shard count), so tests can
// watch a client recover. Returns {applied: connections}.
Response faults(Sim& sim, const Request& req) {
  json::parse_options po;
  po.max_depth = 8;
  boost::system::error_code ec;
  auto body = json::parse(req.body(), ec, {}, po);
  auto bad = [&](std::string_view why) { return error_response(req, http::status::bad_request, why); };
  if (ec || !body.is_object()) return bad("body must be a JSON object");
  auto& o = body.as_object();
  auto* shard = o.if_contains("shard");
  auto* kind_v = o.if_contains("kind");
  if (!shard || !shard->is_int64() || shard->as_int64() < 0) return bad("shard: a non-negative integer");
  if (!kind_v || !kind_v->is_string()) return bad("kind: a string");
  std::string kind(kind_v->as_string());
  static const std::unordered_set<std::string> kinds{"close", "reconnect", "invalid_session", "reset",
                                                     "stop_acks", "stall", "heartbeat"};
  if (!kinds.count(kind))
    return bad("kind: one of close, reconnect, invalid_session, reset, stop_acks, stall, heartbeat");
  std::uint16_t code = close_code::unknown_error;
  if (auto* c = o.if_contains("code")) {
    if (!c->is_int64() || c->as_int64() < 1000 || c->as_int64() > 4999 || c->as_int64() == 1005 ||
        c->as_int64() == 1006 || c->as_int64() == 1015)
      return bad("code: a close code a server may send (1000-4999, not 1005, 1006 or 1015)");
    code = static_cast<std::uint16_t>(c->as_int64());
  }
  bool resumable = false;
  if (auto* r = o.if_contains("resumable")) {
    if (!r->is_bool()) return bad("resumable: true or false");
    resumable = r->as_bool();
  }

  std::vector<ConnPtr> targets;
  for (auto& c : sim.conns) {
    if (c->closing || c->session_id.empty()) continue;
    auto* s = sim.sessions.find(c->session_id);
    if (s && s->shard_id() == static_cast<std::uint64_t>(shard->as_int64())) targets.push_back(c);
  }
  for (auto& c : targets) {
    auto* s = sim.sessions.find(c->session_id);
    if (kind == "close") {
      request_close(*c, code, "Fault injected.");
    } else if (kind == "reconnect") {
      enqueue(*c, {make_frame(reconnect_frame())});
    } else if (kind == "invalid_session") {
      enqueue(*c, {make_frame(invalid_session_frame(resumable))});
      if (!resumable) { // the session is over; the connection may IDENTIFY again
        sim.conn_of.erase(c->session_id);
        sim.sessions.detach(*s, true);
        c->session_id.clear();
      }
    } else if (kind == "reset") {
      auto& sock = beast::get_lowest_layer(c->ws).socket();
      beast::error_code ignored;
      sock.set_option(asio::socket_base::linger(true, 0), ignored); // close sends RST
      sock.close(ignored);
    } else if (kind == "stop_acks") {
      c->no_acks = true;
    } else if (kind == "stall") {
      c->stalled = true;
    } else if (kind == "heartbeat") {
      request_heartbeat(*c, s->last_seq());
    }
  }
  sim.faults_applied += targets.size();
  spdlog::warn("fault {} on shard {}: {} connection(s)", kind, shard->as_int64(), targets.size());
  return json_response(req, http::status::ok, json::serialize(json::object{{"applied", targets.size()}}));
}

// ---- REST: Discord's routes -----------------------------------------------------------------

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto end = path.find('/');
    out.push_back(path.substr(0, end));
    if (end == std::string_view::npos) break;
    path.remove_prefix(end);
  }
  return out;
}

std::optional<std::uint64_t> parse_id(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty() || s.size() > 20) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> id_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return parse_id(jsv(v->get_string()));
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() > 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

std::uint64_t wall_now_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<millis>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// A fresh snowflake for something the simulator creates now (messages, commands,
// interactions): wall-clock time, and an increment that keeps ids of one millisecond apart.
std::uint64_t new_id(Sim& sim) {
  auto id = World::snowflake(wall_now_ms(), 2, 0, static_cast<std::uint32_t>(sim.next_increment++ % 4096));
  id = std::max(id, sim.last_id + 1);
  sim.last_id = id;
  return id;
}


Response discord_error(const Request& req, http::status status, int code, std::string_view message) {
  return error_response(req, status, message, code);
}

// Parses a JSON body (objects nested at most 16 deep; the body itself is capped by the
// HTTP parser at 64 KiB).
std::optional<json::value> json_body(const Request& req) {
  json::parse_options po;
  po.max_depth = 16;
  boost::system::error_code ec;
  auto v = json::parse(req.body(), ec, {}, po);
  if (ec) return std::nullopt;
  return v;
}

// A message the bot created (channel message, interaction response or follow-up), as Discord
// returns it.
json::object bot_message(Sim& sim, std::uint64_t id, std::uint64_t channel_id, const json::object& body,
                         std::optional<std::uint64_t> webhook_id = std::nullopt) {
  auto content = body.if_contains("content");
  json::object m{{"id", std::to_string(id)},
                 {"type", webhook_id ? 20 : 0},
                 {"channel_id", std::to_string(channel_id)},
                 {"content", content && content->is_string() ? *content : json::value("")},
                 {"author", json::parse(bot_user_json(sim.world))},
                 {"timestamp", iso8601_ms(World::unix_ms_of(id))},
                 {"edited_timestamp", nullptr},
                 {"tts", false},
                 {"mention_everyone", false},
                 {"mentions", json::array{}},
                 {"mention_roles", json::array{}},
                 {"attachments", json::array{}},
                 {"embeds", body.contains("embeds") ? body.at("embeds") : json::value(json::array{})},
                 {"components", body.contains("components") ? body.at("components") : json::value(json::array{})},
                 {"pinned", false},
                 {"flags", body.contains("flags") ? body.at("flags") : json::value(0)}};
  if (webhook_id) {
    m["webhook_id"] = std::to_string(*webhook_id);
    m["application_id"] = std::to_string(sim.world.application_id());
  }
  // A reply (type 19) names the message it answers, as Discord returns it.
  if (auto* ref = body.if_contains("message_reference"); ref && ref->is_object() && !webhook_id) {
    if (auto id = id_field(ref->get_object(), "message_id")) {
      m["type"] = 19;
      m["message_reference"] = json::object{{"type", 0}, {"message_id", std::to_string(*id)},
                                            {"channel_id", std::to_string(channel_id)}};
    }
  }
  return m;
}

// Discord's checks on a message body: content at most 2,000 characters, at most 10 embeds,
// and not empty. Returns an error message, or empty if fine.
std::string check_message_body(const json::object& body) {
  auto* content = body.if_contains("content");
  if (content && !content->is_string() && !content->is_null()) return "content: must be a string";
  auto* embeds = body.if_contains("embeds");
  if (embeds && !embeds->is_array() && !embeds->is_null()) return "embeds: must be an array";
  std::size_t chars = 0;
  if (content && content->is_string()) {
    // Characters, not bytes: count the UTF-8 lead bytes.
    for (unsigned char ch : content->get_string()) chars += (ch & 0xC0) != 0x80;
    if (chars > 2000) return "content: must be 2000 or fewer in length";
  }
  if (embeds && embeds->is_array() && embeds->get_array().size() > 10) return "embeds: must be 10 or fewer";
  bool has_embeds = embeds && embeds->is_array() && !embeds->get_array().empty();
  bool has_other = body.contains("components") || body.contains("attachments") || body.contains("sticker_ids") ||
                   body.contains("poll");
  if (chars == 0 && !has_embeds && !has_other) return "empty";
  return {};
}

// PUT /applications/{app}/commands and /applications/{app}/guilds/{guild}/commands: replaces
// the scope's commands (bulk overwrite), at most 100, each with a valid name and description.
Response put_commands(Sim& sim, const Request& req, const std::string& scope, std::optional<std::uint64_t> guild) {
  auto body = json_body(req);
  if (!body || !body->is_array()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
  auto& in = body->get_array();
  if (in.size() > 100) return discord_error(req, http::status::bad_request, 30032, "Maximum number of application commands reached (100)");
  json::array out;
  std::unordered_set<std::string> names;
  for (auto& c : in) {
    if (!c.is_object()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
    auto& o = c.get_object();
    auto* name = o.if_contains("name");
    auto* desc = o.if_contains("description");
    std::int64_t type = 1;
    if (auto* t = o.if_contains("type"); t && t->is_int64()) type = t->get_int64();
    bool name_ok = name && name->is_string() && !name->get_string().empty() && name->get_string().size() <= 32;
    if (name_ok && type == 1)
      for (unsigned char ch : name->get_string())
        if (!(std::islower(ch) || std::isdigit(ch) || ch == '-' || ch == '_' || ch >= 0x80)) name_ok = false;
    if (!name_ok) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (name)");
    if (type == 1 && (!desc || !desc->is_string() || desc->get_string().empty() || desc->get_string().size() > 100))
      return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (description)");
    if (!names.insert(std::string(name->get_string()) + "/" + std::to_string(type)).second)
      return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (duplicate name)");
    json::object cmd = o;
    // Commands that already exist keep their id, as on Discord.
    std::string id;
    for (auto& old : sim.commands[scope])
      if (old.at("name") == cmd.at("name") && old.at("type") == json::value(type))
        id = std::string(jsv(old.at("id").as_string()));
    if (id.empty()) id = std::to_string(new_id(sim));
    cmd["id"] = id;
    cmd["application_id"] = std::to_string(sim.world.application_id());
    cmd["type"] = type;
    cmd["version"] = std::to_string(new_id(sim));
    cmd["default_member_permissions"] =
        o.contains("default_member_permissions") ? o.at("default_member_permissions") : json::value(nullptr);
    if (!cmd.contains("options")) cmd["options"] = json::array{};
    if (guild) cmd["guild_id"] = std::to_string(*guild);
    out.push_back(std::move(cmd));
  }
  sim.commands[scope] = out;
  ++sim.command_puts;
  spdlog::info("application commands for {}: {} registered", scope, out.size());
  return json_response(req, http::status::ok, json::serialize(out));
}

// The command an interaction invokes: the guild's own first, then a global one.
const json::object* find_command(Sim& sim, std::uint64_t guild_id, std::string_view name) {
  for (auto scope : {std::to_string(guild_id), std::string("global")}) {
    auto it = sim.commands.find(scope);
    if (it == sim.commands.end()) continue;
    for (auto& c : it->second)
      if (jsv(c.at("name").as_string()) == name && c.at("type") == json::value(1)) return &c.as_object();
  }
  return nullptr;
}

Response interaction_error(const Request& req, InteractionError e) {
  switch (e) {
  case InteractionError::unknown_interaction: return discord_error(req, http::status::not_found, 10062, "Unknown interaction");
  case InteractionError::already_acknowledged:
    return discord_error(req, http::status::bad_request, 40060, "Interaction has already been acknowledged.");
  case InteractionError::bad_callback_type: return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (type)");
  case InteractionError::unknown_webhook: return discord_error(req, http::status::not_found, 10015, "Unknown Webhook");
  case InteractionError::not_acknowledged:
    return discord_error(req, http::status::bad_request, 40060, "The interaction has not been acknowledged yet.");
  case InteractionError::no_original: return discord_error(req, http::status::not_found, 10008, "Unknown Message");
  case InteractionError::none: break;
  }
  return discord_error(req, http::status::internal_server_error, 0, "500: Internal Server Error");
}

// Dispatches to every live or resumable session of the guild's shard that asked for `intent`
// (0: every such session). Returns how many sessions it went to.
std::size_t dispatch_to_guild(Sim& sim, std::uint64_t guild_id, const char* type, const std::string& data,
                              std::uint64_t intent_bit) {
  std::size_t n = 0;
  for (auto* s : sim.sessions.active()) {
    if (World::shard_of(guild_id, s->num_shards()) != s->shard_id()) continue;
    if (intent_bit && !(s->intents & intent_bit)) continue;
    dispatch(sim, *s, type, data);
    ++n;
  }
  return n;
}

// The bot joins a new guild (GUILD_CREATE) or leaves one (GUILD_DELETE without
// `unavailable`), told to the sessions of the guild's shard that asked for the GUILDS intent.
std::uint64_t join_guild(Sim& sim, std::uint64_t unix_ms) {
  auto& g = sim.world.join(unix_ms);
  for (auto* s : sim.sessions.active())
    if ((s->intents & intent::guilds) && World::shard_of(g.id, s->num_shards()) == s->shard_id())
      dispatch(sim, *s, "GUILD_CREATE", guild_create_data(sim.world, g, s->large_threshold));
  return g.id;
}

bool leave_guild(Sim& sim, std::uint64_t id) {
  auto* g = sim.world.find(id);
  // A guild in an outage is still owed its GUILD_CREATE; it stays, and so does the last one
  // (the event stream needs a guild).
  if (!g || (g->unavailable_at_start && !sim.outage_over) || sim.world.guilds().size() < 2) return false;
  sim.world.leave(id);
  for (auto* s : sim.sessions.active())
    if ((s->intents & intent::guilds) && World::shard_of(id, s->num_shards()) == s->shard_id())
      dispatch(sim, *s, "GUILD_DELETE", guild_removed_data(id));
  return true;
}

// ---- REST: /_sim/ control -------------------------------------------------------------------

// POST /_sim/interactions {name, options?, user_id?, guild_id, channel_id?}: a member invokes
// a registered slash command; INTERACTION_CREATE goes to the guild's shard.
Response sim_interaction(Sim& sim, const Request& req) {
  auto body = json_body(req);
  if (!body || !body->is_object()) return error_response(req, http::status::bad_request, "body must be a JSON object");
  auto& o = body->get_object();
  auto guild_id = id_field(o, "guild_id");
  auto* name = o.if_contains("name");
  if (!guild_id || !sim.world.find(*guild_id)) return error_response(req, http::status::bad_request, "guild_id: a guild of the world");
  if (!name || !name->is_string()) return error_response(req, http::status::bad_request, "name: a string");
  auto* cmd = find_command(sim, *guild_id, jsv(name->get_string()));
  if (!cmd)
    return error_response(req, http::status::bad_request,
                          "name: no slash command of that name is registered (globally or for the guild)");
  InteractionSpec spec;
  spec.name = std::string(name->get_string());
  if (auto* opts = o.if_contains("options")) {
    if (!opts->is_array()) return error_response(req, http::status::bad_request, "options: an array");
    spec.options_json = json::serialize(*opts);
  }
  spec.guild_id = *guild_id;
  spec.channel_id = id_field(o, "channel_id").value_or(*guild_id + 1);
  spec.user_id = id_field(o, "user_id").value_or(World::snowflake(World::unix_ms_of(*guild_id) + 1000, 0, 3, 1));
  auto command_id = parse_id(jsv(cmd->at("id").as_string())).value_or(0);
  auto& in = sim.interactions.create(new_id(sim), std::move(spec));
  auto n = dispatch_to_guild(sim, *guild_id, "INTERACTION_CREATE", interaction_create_data(sim.world, in, command_id), 0);
  spdlog::info("interaction {} (/{}) injected for guild {}: {} session(s)", in.id, in.spec.name, *guild_id, n);
  json::object out{{"id", std::to_string(in.id)}, {"token", in.token}, {"sessions", n}};
  return json_response(req, http::status::ok, json::serialize(out));
}

Response sim_interaction_get(Sim& sim, const Request& req, std::string_view id_text) {
  auto id = parse_id(id_text);
  auto* in = id ? sim.interactions.find(*id) : nullptr;
  if (!in) return error_response(req, http::status::not_found, "unknown interaction");
  auto parse_all = [](const std::vector<std::string>& v) {
    json::array a;
    for (auto& s : v) a.push_back(json::parse(s));
    return a;
  };
  json::object out{{"id", std::to_string(in->id)},
                   {"name", in->spec.name},
                   {"guild_id", std::to_string(in->spec.guild_id)},
                   {"channel_id", std::to_string(in->spec.channel_id)},
                   {"user_id", std::to_string(in->spec.user_id)},
                   {"callback", in->callback_type ? json::parse(in->callback_json) : json::value(nullptr)},
                   {"edits", parse_all(in->edits)},
                   {"followups", parse_all(in->followups)}};
  return json_response(req, http::status::ok, json::serialize(out));
}

// POST /_sim/messages {guild_id, content, channel_id?, user_id?, username?}: a member posts a
// message. As on Discord, a session that did not IDENTIFY with MESSAGE_CONTENT (1 << 15) gets
// it with `content`, `embeds`, `attachments` and `components` empty, unless it mentions the
// bot (`<@id>` or the older `<@!id>`; the bot is then in `mentions` too). Guild messages only:
// the other exceptions (DMs, the bot's own messages) do not arise here.
Response sim_message(Sim& sim, const Request& req) {
  auto body = json_body(req);
  if (!body || !body->is_object()) return error_response(req, http::status::bad_request, "body must be a JSON object");
  auto& o = body->get_object();
  auto guild_id = id_field(o, "guild_id");
  if (!guild_id || !sim.world.find(*guild_id)) return error_response(req, http::status::bad_request, "guild_id: a guild of the world");
  auto* content = o.if_contains("content");
  if (!content || !content->is_string() || content->get_string().size() > 8000)
    return error_response(req, http::status::bad_request, "content: a string");
  std::optional<std::string> username;
  if (auto* u = o.if_contains("username")) {
    // Discord's usernames: 2-32 characters (counted as UTF-8 lead bytes).
    std::size_t chars = 0;
    if (u->is_string())
      for (unsigned char ch : u->get_string()) chars += (ch & 0xC0) != 0x80;
    if (!u->is_string() || chars < 2 || chars > 32 || u->get_string().size() > 128)
      return error_response(req, http::status::bad_request, "username: a string of 2-32 characters");
    username = std::string(u->get_string());
  }
  auto channel = id_field(o, "channel_id").value_or(*guild_id + 1);
  auto user = id_field(o, "user_id").value_or(World::snowflake(World::unix_ms_of(*guild_id) + 1000, 0, 3, 1));
  auto id = new_id(sim);
  const auto text = jsv(content->get_string());
  const auto bot = std::to_string(sim.world.bot_user_id());
  const bool mentions_bot = text.find("<@" + bot + ">") != std::string_view::npos ||
                            text.find("<@!" + bot + ">") != std::string_view::npos;

  auto d = json::parse(user_message_data(id, World::unix_ms_of(id), *guild_id, channel, user, text)).as_object();
  if (username) d["author"].as_object()["username"] = *username;
  if (mentions_bot) d["mentions"] = json::array{json::parse(bot_user_json(sim.world))};
  const std::string full = json::serialize(d);
  d["content"] = "";
  d["embeds"] = json::array{};
  d["attachments"] = json::array{};
  d["components"] = json::array{};
  const std::string blanked = json::serialize(d);

  std::size_t n = 0, without_content = 0;
  for (auto* s : sim.sessions.active()) {
    if (World::shard_of(*guild_id, s->num_shards()) != s->shard_id() || !(s->intents & intent::guild_messages))
      continue;
    const bool sees_content = (s->intents & intent::message_content) || mentions_bot;
    dispatch(sim, *s, "MESSAGE_CREATE", sees_content ? full : blanked);
    ++n;
    without_content += !sees_content;
  }
  json::object out{{"id", std::to_string(id)}, {"sessions", n}, {"sessions_without_content", without_content}};
  return json_response(req, http::status::ok, json::serialize(out));
}

Response sim_channel_messages(Sim& sim, const Request& req, std::string_view id_text) {
  auto id = parse_id(id_text);
  json::array out;
  if (id)
    if (auto it = sim.channel_messages.find(*id); it != sim.channel_messages.end())
      for (auto& m : it->second) out.push_back(json::parse(m));
  return json_response(req, http::status::ok, json::serialize(json::object{{"messages", std::move(out)}}));
}

void remember_channel_message(Sim& sim, std::uint64_t channel, std::string message) {
  constexpr std::size_t kPerChannel = 1000, kChannels = 10'000;
  if (!sim.channel_messages.count(channel) && sim.channel_messages.size() >= kChannels) return;
  auto& log = sim.channel_messages[channel];
  if (log.size() >= kPerChannel) log.pop_front();
  log.push_back(std::move(message));
}

// POST /_sim/guilds {"action": "join"} or {"action": "leave", "guild_id": id}: the bot joins a
// new guild or leaves one now, as the event stream does now and then.
Response sim_guilds(Sim& sim, const Request& req) {
  auto body = json_body(req);
  if (!body || !body->is_object()) return error_response(req, http::status::bad_request, "body must be a JSON object");
  auto& o = body->get_object();
  auto* action = o.if_contains("action");
  if (action && action->is_string() && action->get_string() == "join") {
    auto id = join_guild(sim, wall_now_ms());
    return json_response(req, http::status::ok, json::serialize(json::object{{"guild_id", std::to_string(id)}}));
  }
  if (action && action->is_string() && action->get_string() == "leave") {
    auto id = id_field(o, "guild_id");
    if (!id || !leave_guild(sim, *id))
      return error_response(req, http::status::bad_request,
                            "guild_id: a guild of the world, not in an outage, and not the last one");
    return json_response(req, http::status::ok, json::serialize(json::object{{"guild_id", std::to_string(*id)}}));
  }
  return error_response(req, http::status::bad_request, "action: join or leave");
}

// ---- REST: routing --------------------------------------------------------------------------

Response with_rate_limit(Sim& sim, const Request& req, const std::string& bucket_key,
                         const std::function<Response()>& handler) {
  auto v = sim.rest_limiter.check(bucket_key);
  auto wall = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto headers = [&](Response& res) {
    res.set("X-RateLimit-Limit", std::to_string(v.limit));
    res.set("X-RateLimit-Remaining", std::to_string(v.remaining));
    res.set("X-RateLimit-Reset", fmt::format("{:.3f}", wall + v.reset_after_s));
    res.set("X-RateLimit-Reset-After", fmt::format("{:.3f}", v.reset_after_s));
    res.set("X-RateLimit-Bucket", v.bucket);
  };
  if (!v.allowed) {
    const char* kind = v.global ? "rest_rate_limit_global" : "rest_rate_limit_route";
    ++sim.violations[kind];
    spdlog::warn("violation {}: {} refused (429, retry after {:.3f} s)", kind, bucket_key, v.reset_after_s);
    json::object o{{"message", "You are being rate limited."}, {"retry_after", v.reset_after_s}, {"global", v.global}};
    auto res = json_response(req, http::status::too_many_requests, json::serialize(o));
    headers(res);
    res.set(http::field::retry_after, std::to_string(static_cast<long>(std::ceil(v.reset_after_s))));
    res.set("X-RateLimit-Scope", v.global ? "global" : "user");
    if (v.global) res.set("X-RateLimit-Global", "true");
    return res;
  }
  auto res = handler();
  headers(res);
  return res;
}

Response rest(Sim& sim, const Request& req) {
  auto u = boost::urls::parse_origin_form(sv(req.target()));
  if (!u) return error_response(req, http::status::bad_request, "400: Bad Request");
  std::string path = u->path();
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  const auto method = req.method();
  const bool get = method == http::verb::get, post = method == http::verb::post;
  auto not_allowed = [&] { return error_response(req, http::status::method_not_allowed, "405: Method Not Allowed"); };
  auto not_found = [&] { return error_response(req, http::status::not_found, "404: Not Found"); };

  if (path.rfind("/_sim/", 0) == 0) {
    auto seg = split_path(path);
    if (path == "/_sim/faults") return post ? faults(sim, req) : not_allowed();
    if (path == "/_sim/interactions") return post ? sim_interaction(sim, req) : not_allowed();
    if (path == "/_sim/messages") return post ? sim_message(sim, req) : not_allowed();
    if (path == "/_sim/guilds") return post ? sim_guilds(sim, req) : not_allowed();
    if (seg.size() == 3 && seg[1] == "interactions") return get ? sim_interaction_get(sim, req, seg[2]) : not_allowed();
    if (seg.size() == 4 && seg[1] == "channels" && seg[3] == "messages")
      return get ? sim_channel_messages(sim, req, seg[2]) : not_allowed();
    if (!get) return not_allowed();
    if (path == "/_sim/stats") return json_response(req, http::status::ok, stats_json(sim));
    if (path == "/_sim/world") {
      // The shard count of the layout to count for: required, as a bot's own (1-4096).
      std::optional<std::uint32_t> shards;
      bool bad = false;
      for (auto p : u->params())
        if (p.key == "shards") {
          std::uint32_t v = 0;
          auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), v);
          bad = ec != std::errc() || end != p.value.data() + p.value.size() || v < 1 || v > 4096;
          if (bad) break;
          shards = v;
        }
      if (bad || !shards)
        return error_response(req, http::status::bad_request, "shards=N (a shard count, 1-4096) is required");
      return json_response(req, http::status::ok, world_json(sim, *shards));
    }
    if (path == "/_sim/sessions") {
      std::optional<std::uint32_t> shard;
      for (auto p : u->params())
        if (p.key == "shard") {
          std::uint32_t v = 0;
          auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), v);
          if (ec == std::errc() && end == p.value.data() + p.value.size()) shard = v;
        }
      if (!shard) return json_response(req, http::status::bad_request,
                                       R"({"message":"shard=N (a shard id) is required"})");
      return json_response(req, http::status::ok, sessions_json(sim, *shard));
    }
    return not_found();
  }

  constexpr std::string_view api = "/api/v10";
  if (path.rfind(api, 0) != 0) return not_found();
  auto route = std::string_view(path).substr(api.size());
  auto seg = split_path(route);
  const std::string app_id = std::to_string(sim.world.application_id());

  if (route == "/gateway") // no authorization needed, as on Discord
    return get ? json_response(req, http::status::ok, json::serialize(json::object{{"url", sim.ws_url}})) : not_allowed();

  // Interaction callbacks and the interaction webhook need no bot token (the interaction
  // token is the credential) and are not bound by the global limit, as on Discord.
  if (seg.size() == 4 && seg[0] == "interactions" && seg[3] == "callback") {
    if (!post) return not_allowed();
    auto id = parse_id(seg[1]);
    auto body = json_body(req);
    if (!body || !body->is_object() || !body->get_object().contains("type") || !body->at("type").is_int64())
      return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
    const auto raw_type = body->at("type").get_int64();
    if (raw_type < 1 || raw_type > 12) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (type)");
    auto type = static_cast<int>(raw_type);
    if (type == 4 || type == 7) {
      auto* data = body->get_object().if_contains("data");
      if (!data || !data->is_object()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (data)");
      if (auto why = check_message_body(data->get_object()); !why.empty())
        return discord_error(req, http::status::bad_request, why == "empty" ? 50006 : 50035,
                             why == "empty" ? "Cannot send an empty message" : "Invalid Form Body (" + why + ")");
    }
    auto e = sim.interactions.callback(id.value_or(0), seg[2], type, json::serialize(*body));
    if (e != InteractionError::none) {
      ++sim.violations[std::string("interaction_") + to_string(e)];
      return interaction_error(req, e);
    }
    Response res{http::status::no_content, req.version()};
    res.set(http::field::server, "shardline-sim");
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
  }
  if (seg.size() >= 3 && seg[0] == "webhooks") {
    if (seg[1] != app_id) return discord_error(req, http::status::not_found, 10015, "Unknown Webhook");
    auto body = json_body(req);
    bool original = seg.size() == 5 && seg[3] == "messages" && seg[4] == "@original";
    if (!(original && method == http::verb::patch) && !(seg.size() == 3 && post)) return not_allowed();
    if (!body || !body->is_object()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
    auto why = check_message_body(body->get_object());
    if (!why.empty() && !(original && why == "empty"))
      return discord_error(req, http::status::bad_request, why == "empty" ? 50006 : 50035,
                           why == "empty" ? "Cannot send an empty message" : "Invalid Form Body (" + why + ")");
    auto body_text = json::serialize(*body);
    auto e = original ? sim.interactions.edit_original(seg[2], body_text) : sim.interactions.followup(seg[2], body_text);
    if (e != InteractionError::none) {
      ++sim.violations[std::string("interaction_") + to_string(e)];
      return interaction_error(req, e);
    }
    auto msg = bot_message(sim, new_id(sim), 0, body->get_object(), sim.world.application_id());
    return json_response(req, http::status::ok, json::serialize(msg));
  }

  if (sv(req[http::field::authorization]) != "Bot " + sim.opt.token) {
    ++sim.violations["rest_unauthorized"];
    return error_response(req, http::status::unauthorized, "401: Unauthorized");
  }
  const std::string method_name(sv(req.method_string()));

  if (route == "/gateway/bot" || route == "/users/@me" || route == "/oauth2/applications/@me" ||
      route == "/applications/@me") {
    if (!get) return not_allowed();
    return with_rate_limit(sim, req, "GET " + std::string(route), [&] {
      std::string body = route == "/gateway/bot" ? gateway_bot_json(sim)
                         : route == "/users/@me" ? bot_user_json(sim.world)
                                                 : application_json(sim);
      return json_response(req, http::status::ok, std::move(body));
    });
  }
  // /applications/{app}/commands and /applications/{app}/guilds/{guild}/commands
  if (seg.size() >= 3 && seg[0] == "applications" && seg.back() == "commands" && (seg.size() == 3 || seg.size() == 5)) {
    if (seg[1] != app_id) return discord_error(req, http::status::forbidden, 50001, "Missing Access");
    std::optional<std::uint64_t> guild;
    if (seg.size() == 5) {
      if (seg[2] != "guilds") return not_found();
      guild = parse_id(seg[3]);
      if (!guild || !sim.world.find(*guild)) return discord_error(req, http::status::not_found, 10004, "Unknown Guild");
    }
    std::string scope = guild ? std::to_string(*guild) : "global";
    auto key = method_name + " /applications/" + (guild ? "{guild}/" + scope : std::string("global")) + "/commands";
    if (get)
      return with_rate_limit(sim, req, key, [&] {
        auto it = sim.commands.find(scope);
        return json_response(req, http::status::ok,
                             json::serialize(it == sim.commands.end() ? json::array{} : json::array(it->second)));
      });
    if (method != http::verb::put) return not_allowed();
    return with_rate_limit(sim, req, key, [&] { return put_commands(sim, req, scope, guild); });
  }
  // POST /channels/{channel}/messages: the bot posts; kept for GET /_sim/channels/{id}/messages.
  if (seg.size() == 3 && seg[0] == "channels" && seg[2] == "messages") {
    if (!post) return not_allowed();
    auto channel = parse_id(seg[1]);
    // Every guild has one text channel, #general, whose id is the guild's plus one.
    if (!channel || *channel == 0 || !sim.world.find(*channel - 1))
      return discord_error(req, http::status::not_found, 10003, "Unknown Channel");
    return with_rate_limit(sim, req, "POST /channels/" + std::to_string(*channel) + "/messages", [&] {
      auto body = json_body(req);
      if (!body || !body->is_object()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
      if (auto why = check_message_body(body->get_object()); !why.empty())
        return discord_error(req, http::status::bad_request, why == "empty" ? 50006 : 50035,
                             why == "empty" ? "Cannot send an empty message" : "Invalid Form Body (" + why + ")");
      auto msg = bot_message(sim, new_id(sim), *channel, body->get_object());
      msg["guild_id"] = std::to_string(*channel - 1);
      auto text = json::serialize(msg);
      remember_channel_message(sim, *channel, text);
      return json_response(req, http::status::ok, std::move(text));
    });
  }
  return not_found();
}

// ---- accepting, serving, sweeping -------------------------------------------------------------

asio::awaitable<void> serve(std::shared_ptr<Sim> sim, tcp::socket sock) {
  beast::tcp_stream stream(std::move(sock));
  std::string address;
  {
    beast::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    address = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buf, parser, use_tuple);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::connection_reset) {
        // Malformed or oversized: a plain 400, then the connection goes.
        Request dummy;
        dummy.version(11);
        auto res = error_response(dummy, http::status::bad_request, "400: Bad Request");
        res.keep_alive(false);
        co_await http::async_write(stream, res, use_tuple);
      }
      break;
    }
    auto req = parser.release();
    if (websocket::is_upgrade(req)) {
      auto c = std::make_shared<GatewayConn>(std::move(stream), sim->clock);
      c->address = address;
      co_await gateway(sim, std::move(c), std::move(req));
      co_return;
    }
    auto res = rest(*sim, req);
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<Sim> sim) {
  while (!sim->stopped) {
    auto [ec, sock] = co_await sim->acceptor.async_accept(use_tuple);
    if (ec) {
      if (sim->stopped || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer t(sim->io, std::chrono::milliseconds(100));
      co_await t.async_wait(use_tuple);
      continue;
    }
    beast::error_code ignored;
    if (sim->open_connections >= kMaxConnections) {
      spdlog::warn("connection limit ({}) reached: closing a new one", kMaxConnections);
      sock.close(ignored);
      continue;
    }
    sock.set_option(tcp::no_delay(true), ignored);
    ++sim->open_connections;
    asio::co_spawn(sim->io, serve(sim, std::move(sock)), [sim](std::exception_ptr e) {
      --sim->open_connections;
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("sim connection failed: {}", ex.what());
      }
    });
  }
}

// Every 50 ms: zombie connections (no heartbeat within 1.5 intervals), HEARTBEAT requests
// and their answers, closes the peer never answered, the end of the guild outage, and
// sessions no longer resumable.
asio::awaitable<void> sweep_loop(std::shared_ptr<Sim> sim) {
  const auto zombie_after = millis(sim->opt.heartbeat_ms + sim->opt.heartbeat_ms / 2);
  const auto answer_within = millis(std::min<std::uint32_t>(1000, sim->opt.heartbeat_ms));
  auto last_session_sweep = sim->clock();
  while (!sim->stopped) {
    sim->sweeper.expires_after(std::chrono::milliseconds(50));
    co_await sim->sweeper.async_wait(use_tuple);
    if (sim->stopped) co_return;
    auto now = sim->clock();
    std::vector<ConnPtr> all(sim->conns.begin(), sim->conns.end());
    for (auto& c : all) {
      if (c->closing) {
        if (now - c->close_started > kCloseGrace) {
          beast::error_code ignored;
          beast::get_lowest_layer(c->ws).socket().close(ignored); // the reader ends the connection
        }
        continue;
      }
      if (now - c->last_heartbeat > zombie_after) {
        count_violation(*sim, "heartbeat_timeout", *c, "no heartbeat within 1.5 intervals");
        request_close(*c, close_code::session_timed_out, "Session timed out.");
        continue;
      }
      if (c->heartbeat_requested != steady::time_point{} && now - c->heartbeat_requested > answer_within) {
        count_violation(*sim, "heartbeat_request_ignored", *c, "no HEARTBEAT answered our op 1");
        c->heartbeat_requested = {};
      }
      if (sim->opt.server_heartbeat_ms && !c->session_id.empty() && !c->stalled && now >= c->next_server_heartbeat) {
        c->next_server_heartbeat = now + millis(sim->opt.server_heartbeat_ms);
        auto* s = sim->sessions.find(c->session_id);
        request_heartbeat(*c, s ? s->last_seq() : 0);
      }
    }
    if (!sim->outage_over && now >= sim->outage_end) end_outage(*sim);
    if (now - last_session_sweep > std::chrono::seconds(1)) {
      last_session_sweep = now;
      sim->sessions.sweep();
    }
  }
}

void churn(Sim& sim, std::uint64_t unix_ms) {
  if (sim.churn_rng() % 2 == 0) join_guild(sim, unix_ms);
  else leave_guild(sim, sim.world.guilds()[sim.churn_rng() % sim.world.guilds().size()].id);
}

// The steady event stream: --events-per-sec events for random guilds, each dispatched to every
// session of the guild's shard whose intents ask for it, live or resumable (a disconnected
// session buffers them for its RESUME). Paced every 10 ms; a late tick catches up at most one
// second's worth. Nothing is generated while no session exists.
asio::awaitable<void> event_loop(std::shared_ptr<Sim> sim) {
  const double rate = sim->opt.events_per_sec;
  if (rate <= 0 || sim->world.guilds().empty()) co_return;
  asio::steady_timer tick(sim->io);
  auto last = sim->clock();
  double owed = 0;
  while (!sim->stopped) {
    tick.expires_after(std::chrono::milliseconds(10));
    co_await tick.async_wait(use_tuple);
    if (sim->stopped) co_return;
    auto now = sim->clock();
    owed = std::min(owed + rate * std::chrono::duration<double>(now - last).count(), rate);
    last = now;
    auto n = static_cast<std::uint64_t>(owed);
    owed -= static_cast<double>(n);
    if (n == 0) continue;
    auto active = sim->sessions.active();
    if (active.empty()) continue;
    bool in_outage = !sim->outage_over;
    auto unix_ms = wall_now_ms();
    for (std::uint64_t i = 0; i < n; ++i) {
      // About one event in 1,000 is the bot joining or leaving a guild.
      if (sim->churn_rng() % 1000 == 0) {
        churn(*sim, unix_ms);
        active = sim->sessions.active();
        continue;
      }
      auto& ev = sim->events.next(unix_ms);
      if (in_outage && ev.guild->unavailable_at_start) continue; // no events from a guild in an outage
      for (auto* s : active)
        if ((s->intents & ev.intent) && World::shard_of(ev.guild->id, s->num_shards()) == s->shard_id())
          dispatch(*sim, *s, ev.type, ev.data);
    }
  }
}

} // namespace

bool parse_team_members(std::string_view text, std::vector<std::uint64_t>& out, std::string& error) {
  out.clear();
  if (text.empty()) return true;
  std::unordered_set<std::uint64_t> seen;
  for (;;) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    auto id = parse_id(item);
    // A user id is a snowflake: at least one millisecond after the Discord epoch.
    if (!id || *id < (std::uint64_t{1} << 22)) {
      error = fmt::format("'{}' is not a user id (a snowflake)", item.substr(0, 32));
      return false;
    }
    if (!seen.insert(*id).second) {
      error = fmt::format("user {} is listed twice", *id);
      return false;
    }
    if (out.size() == kMaxTeamMembers) {
      error = fmt::format("at most {} team members", kMaxTeamMembers);
      return false;
    }
    out.push_back(*id);
    if (comma == std::string_view::npos) return true;
    text.remove_prefix(comma + 1);
  }
}

int run_sim(const SimOptions& options) {
  asio::io_context io;
  auto sim = std::make_shared<Sim>(io, options);
  beast::error_code ec;
  auto addr = asio::ip::make_address(options.host, ec);
  if (ec) {
    spdlog::error("--host: '{}' is not an IP address", options.host);
    return 2;
  }
  tcp::endpoint ep(addr, options.port);
  sim->acceptor.open(ep.protocol(), ec);
  if (!ec) sim->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) sim->acceptor.bind(ep, ec);
  if (!ec) sim->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    spdlog::error("cannot listen on {}:{}: {}", options.host, options.port, ec.message());
    return 1;
  }
  sim->port = sim->acceptor.local_endpoint().port();
  sim->ws_url = "ws://" + options.host + ":" + std::to_string(sim->port);
  spdlog::info("sim: {} guilds, {} recommended shards, max_concurrency {}, identify window {} ms, heartbeat {} ms, "
               "{} unavailable until {} ms, {} events/s",
               sim->world.guilds().size(), sim->recommended_shards(), sim->identify.limits().max_concurrency,
               options.identify_window_ms, options.heartbeat_ms, sim->world.unavailable_at_start_count(),
               options.outage_ms, options.events_per_sec);
  spdlog::info("sim listening on {}:{}", options.host, sim->port);
  std::cout << "sim listening on http://" << options.host << ":" << sim->port << " (REST /api/v10, gateway "
            << sim->ws_url << ")" << std::endl;
  try {
    write_port_file(options.port_file, sim->port);
  } catch (const std::exception& e) {
    spdlog::error("--port-file: {}", e.what());
    return 1;
  }

  auto log_failure = [](const char* what) {
    return [what](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("{} failed: {}", what, ex.what());
      }
    };
  };
  asio::co_spawn(io, accept_loop(sim), log_failure("sim accept loop"));
  asio::co_spawn(io, sweep_loop(sim), log_failure("sim sweeper"));
  asio::co_spawn(io, event_loop(sim), log_failure("sim event stream"));
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& sec, int sig) {
    if (sec) return;
    spdlog::info("signal {}: stopping the simulator", sig);
    sim->stopped = true;
    io.stop();
  });
  io.run();
  // Coroutines still suspended hold the Sim; destroying the io_context frees them.
  sim->conns.clear();
  sim->conn_of.clear();
  return 0;
}

} // namespace shardline::sim
