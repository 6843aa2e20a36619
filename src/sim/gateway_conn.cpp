// Gateway connections: queueing, dispatching and closing, and the two coroutines of each
// connection (the reader, which owns it, and the writer). Beast's websocket lives here and in
// the server alone: Beast is slow to compile, and the rules it enforces are in the pure library
// (gateway_protocol, limiters, sessions) where unit tests reach them.

#include "sim/gateway_conn.hpp"

#include "net/gateway_query.hpp"
#include "net/spawn_owned.hpp"
#include "sim/gateway_protocol.hpp"
#include "sim/gateway_upgrade.hpp"
#include "sim/world_events.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace shardline::sim {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

struct GatewaySocket {
  explicit GatewaySocket(beast::tcp_stream stream) : ws(std::move(stream)) {}
  websocket::stream<beast::tcp_stream> ws;
};

GatewayConn::GatewayConn(std::unique_ptr<GatewaySocket> s, Clock clock)
    : socket(std::move(s)), wake(socket->ws.get_executor()), send_limiter(std::move(clock)) {}

GatewayConn::~GatewayConn() = default;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
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
constexpr std::uint64_t kPrivilegedIntents = intent::guild_members | intent::guild_presences | intent::message_content;

void wake_writer(GatewayConn& c) { c.wake.cancel(); }

} // namespace

Frame make_frame(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

void enqueue(GatewayConn& c, GatewayConn::Out out) {
  if (c.closing || c.ended) return;
  c.out_bytes += out.frame->size();
  c.outq.push_back(std::move(out));
  if (c.outq.size() > kMaxQueuedFrames || c.out_bytes > kMaxQueuedBytes)
    return request_close(c, close_code::unknown_error, "Slow consumer.");
  wake_writer(c);
}

void count_violation(Sim& sim, const char* kind, const GatewayConn& c, const std::string& detail) {
  ++sim.violations[kind];
  spdlog::warn("violation {} from {}{}{}", kind, c.address, detail.empty() ? "" : ": ", detail);
}

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

void request_heartbeat(GatewayConn& c, std::uint64_t last_seq) {
  GatewayConn::Out out{make_frame(heartbeat_request_frame(last_seq))};
  out.heartbeat_request = true;
  enqueue(c, std::move(out));
}

void close_socket(GatewayConn& c) {
  beast::error_code ignored;
  beast::get_lowest_layer(c.socket->ws).socket().close(ignored);
}

void reset_socket(GatewayConn& c) {
  auto& sock = beast::get_lowest_layer(c.socket->ws).socket();
  beast::error_code ignored;
  sock.set_option(asio::socket_base::linger(true, 0), ignored); // close sends RST
  sock.close(ignored);
}

namespace {

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

// REQUEST_GUILD_MEMBERS: one GUILD_MEMBERS_CHUNK per requested guild of the session's shard,
// carrying the request's nonce (a client routes chunks back to the request by it).
void on_member_request(Sim& sim, const ConnPtr& c, const std::string& d_json) {
  if (c->session_id.empty()) {
    count_violation(sim, "not_authenticated", *c, "op 8 before IDENTIFY");
    return request_close(*c, close_code::not_authenticated, "Not authenticated.");
  }
  GatewayError err;
  auto req = parse_member_request(d_json, err);
  if (!req) {
    count_violation(sim, "decode_error", *c, "malformed REQUEST_GUILD_MEMBERS");
    return request_close(*c, err.code, err.reason);
  }
  auto* s = sim.sessions.find(c->session_id);
  if (!s) return;
  for (auto id : req->guild_ids) {
    const auto* g = sim.world.find(id);
    // A guild of another shard, or one the bot is not in: Discord sends nothing for it.
    if (!g || World::shard_of(id, s->num_shards()) != s->shard_id()) continue;
    dispatch(sim, *s, "GUILD_MEMBERS_CHUNK", guild_members_chunk_data(sim.world, *g, req->nonce));
  }
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
  case op::request_guild_members: return on_member_request(sim, c, cmd->d_json);
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

// While a backlog of frames is being written the socket is corked (TCP_CORK), so the kernel
// sends full segments instead of one per dispatch (a loopback send per message cost about as
// much as generating and compressing it); it is uncorked, which sends what is pending, as
// soon as the queue is empty and before the writer sleeps or closes.
void set_cork(GatewayConn& c, bool on) {
  int v = on ? 1 : 0;
  ::setsockopt(beast::get_lowest_layer(c.socket->ws).socket().native_handle(), IPPROTO_TCP, TCP_CORK, &v, sizeof v);
}

asio::awaitable<void> gateway_writer(std::shared_ptr<Sim> sim, ConnPtr c) {
  auto& ws = c->socket->ws;
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
      [[maybe_unused]] auto [ec] = co_await ws.async_close(reason, use_tuple);
      co_return;
    }
    auto out = std::move(c->outq.front());
    c->outq.pop_front();
    c->out_bytes -= out.frame->size();
    if (!corked && !c->outq.empty()) {
      set_cork(*c, true);
      corked = true;
    }
    ws.binary(c->zlib != nullptr);
    if (c->zlib) c->zlib->compress_into(*out.frame, zbuf);
    auto [ec, n] = co_await ws.async_write(asio::buffer(c->zlib ? zbuf : *out.frame), use_tuple);
    if (ec) {
      close_socket(*c);
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

} // namespace

asio::awaitable<void> serve_gateway(std::shared_ptr<Sim> sim, beast::tcp_stream stream, std::string address,
                                    UpgradeRequest upgrade) {
  auto c = std::make_shared<GatewayConn>(std::make_unique<GatewaySocket>(std::move(stream)), sim->clock);
  c->address = std::move(address);
  auto& ws = c->socket->ws;
  const auto target = upgrade.target();
  const auto query = net::check_gateway_query({target.data(), target.size()});
  beast::get_lowest_layer(ws).expires_never();
  ws.set_option(websocket::stream_base::timeout{std::chrono::seconds(10), websocket::stream_base::none(), false});
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "shardline-sim"); }));
  // No frame-size limit in Beast: it would fail a large frame with 1009 before the reader
  // below counts it and closes with 4002; that reader never buffers more than 5 KiB.
  ws.read_message_max(0);
  ws.auto_fragment(false);
  auto [aec] = co_await ws.async_accept(upgrade, use_tuple);
  if (aec) co_return;
  // The simulator must outrun its clients (benchmarks stream 100k events/s through it):
  // ISA-L by default (zlib_stream.hpp says why); any engine inflates the same way.
  if (query.zlib_stream) c->zlib = std::make_unique<net::ZlibStream>(sim->opt.deflate);
  ++sim->connections_total;
  sim->conns.insert(c);
  c->last_heartbeat = sim->clock();
  c->last_write_done = sim->clock();
  // The reader owns the connection; a writer that fails closes the socket, which ends it.
  net::spawn_owned(ws.get_executor(), gateway_writer(sim, c), "sim gateway writer", [c](const std::exception&) {
    spdlog::warn("closing gateway connection {}: its writer failed", c->address);
    close_socket(*c);
  });
  if (query.refusal) request_close(*c, query.refusal, query.why);
  else enqueue(*c, {make_frame(hello_frame(sim->opt.heartbeat_ms))});

  beast::flat_buffer buf;
  std::uint16_t client_code = 0;
  for (;;) {
    buf.clear();
    bool too_big = false;
    beast::error_code ec;
    // Read piecewise, so an oversized message is refused after 4 KiB, never buffered whole.
    do {
      auto [e, n] = co_await ws.async_read_some(buf, 1024, use_tuple);
      if (e) {
        ec = e;
        break;
      }
      if (buf.size() > kMaxPayloadBytes) {
        too_big = true;
        break;
      }
    } while (!ws.is_message_done());
    if (ec) {
      if (ec == websocket::error::closed) client_code = static_cast<std::uint16_t>(ws.reason().code);
      break;
    }
    if (c->closing) continue; // drain until the peer answers our close
    if (too_big) {
      count_violation(*sim, "payload_too_large", *c, "over 4096 bytes");
      request_close(*c, close_code::decode_error, "Payload too large.");
      continue;
    }
    if (!ws.got_text()) {
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
  close_socket(*c);
}

} // namespace shardline::sim
