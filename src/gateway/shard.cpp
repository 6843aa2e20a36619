#include "gateway/shard.hpp"

#include "gateway/close_policy.hpp"
#include "gateway/zlib_inflater.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <random>
#include <unordered_map>

namespace shardline::gateway {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

const char* to_string(ShardStatus s) {
  switch (s) {
  case ShardStatus::starting: return "starting";
  case ShardStatus::connecting: return "connecting";
  case ShardStatus::waiting_slot: return "waiting_slot";
  case ShardStatus::identifying: return "identifying";
  case ShardStatus::resuming: return "resuming";
  case ShardStatus::ready: return "ready";
  case ShardStatus::reconnecting: return "reconnecting";
  case ShardStatus::stopped: return "stopped";
  }
  return "unknown";
}

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxPayloadBytes = 4096;  // Discord's limit on what a client sends
constexpr std::size_t kMaxQueuedCommands = 512; // beyond, send_command refuses
constexpr std::size_t kMaxMessageBytes = 64u << 20;
constexpr auto kCloseDeadline = std::chrono::seconds(2); // then the socket is closed without ceremony
constexpr auto kSessionSaveEvery = std::chrono::seconds(1);
// Buffers grown past this by a large message (a big GUILD_CREATE is hundreds of KB) are given
// back afterwards: 16 shards each keeping their largest message would cost more than their
// guilds do.
constexpr std::size_t kKeepBufferBytes = 64 * 1024;

// One websocket, plain or TLS, behind one interface so the lifecycle code is written once.
class WsConn {
public:
  virtual ~WsConn() = default;
  virtual asio::awaitable<beast::error_code> read(beast::flat_buffer& buf) = 0;
  virtual bool got_binary() const = 0;
  virtual asio::awaitable<beast::error_code> write(std::string_view text) = 0;
  virtual asio::awaitable<beast::error_code> close(std::uint16_t code) = 0;
  // The close code the server sent, once a read failed with websocket::error::closed.
  virtual std::uint16_t server_close_code() const = 0;
  // Drops the TCP connection at once: pending operations complete with an error.
  virtual void force_close() = 0;
};

template <class Next>
class WsConnOf final : public WsConn {
public:
  template <class... Args>
  explicit WsConnOf(Args&&... args) : ws(std::forward<Args>(args)...) {}

  asio::awaitable<beast::error_code> read(beast::flat_buffer& buf) override {
    auto [ec, n] = co_await ws.async_read(buf, use_tuple);
    co_return ec;
  }
  bool got_binary() const override { return ws.got_binary(); }
  asio::awaitable<beast::error_code> write(std::string_view text) override {
    ws.text(true);
    auto [ec, n] = co_await ws.async_write(asio::buffer(text.data(), text.size()), use_tuple);
    co_return ec;
  }
  asio::awaitable<beast::error_code> close(std::uint16_t code) override {
    auto [ec] = co_await ws.async_close(websocket::close_reason(code), use_tuple);
    co_return ec;
  }
  std::uint16_t server_close_code() const override { return static_cast<std::uint16_t>(ws.reason().code); }
  void force_close() override {
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws).socket().close(ignored);
  }

  websocket::stream<Next> ws;
};

using PlainConn = WsConnOf<beast::tcp_stream>;
using TlsConn = WsConnOf<beast::ssl_stream<beast::tcp_stream>>;

struct GatewayUrl {
  bool tls = false;
  std::string host, port, target;
};

// wss://gateway.discord.gg (or ws://127.0.0.1:PORT from the simulator), with the query a
// shard needs. Discord's URLs carry no path or query of their own.
std::optional<GatewayUrl> parse_gateway_url(const std::string& url, bool compress, std::string& error) {
  auto r = boost::urls::parse_uri(url);
  if (!r) {
    error = fmt::format("'{}' is not a URL", url);
    return std::nullopt;
  }
  GatewayUrl g;
  auto scheme = std::string(r->scheme());
  if (scheme == "wss") g.tls = true;
  else if (scheme != "ws") {
    error = fmt::format("'{}' is not a ws:// or wss:// URL", url);
    return std::nullopt;
  }
  g.host = std::string(r->host_address());
  g.port = r->has_port() ? std::string(r->port()) : (g.tls ? "443" : "80");
  g.target = r->path().empty() ? "/" : std::string(r->path());
  g.target += "?v=10&encoding=json";
  if (compress) g.target += "&compress=zlib-stream";
  return g;
}

template <class Ws>
void configure(Ws& ws, std::chrono::milliseconds handshake_timeout) {
  websocket::stream_base::timeout t{};
  t.handshake_timeout = handshake_timeout; // also bounds our close handshake
  t.idle_timeout = websocket::stream_base::none(); // heartbeats find dead connections
  t.keep_alive_pings = false;
  ws.set_option(t);
  ws.read_message_max(kMaxMessageBytes);
  ws.auto_fragment(false);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "Shardline (shardline, 0.1)"); }));
}

asio::awaitable<bool> connect_tcp(beast::tcp_stream& stream, tcp::resolver::results_type endpoints,
                                  std::chrono::milliseconds timeout, const std::string& host_header, std::string& error) {
  stream.expires_after(timeout);
  auto [ec, ep] = co_await stream.async_connect(endpoints, use_tuple);
  if (ec) {
    error = fmt::format("cannot connect to {}: {}", host_header, ec.message());
    co_return false;
  }
  stream.socket().set_option(tcp::no_delay(true));
  co_return true;
}

// The websocket upgrade; from here on Beast's own timeouts apply, not the TCP layer's.
template <class Conn>
asio::awaitable<bool> ws_handshake(Conn& conn, std::string host, std::string target, std::chrono::milliseconds timeout,
                                   std::string& error) {
  beast::get_lowest_layer(conn.ws).expires_never();
  configure(conn.ws, timeout);
  auto [ec] = co_await conn.ws.async_handshake(host, target, use_tuple);
  if (ec) {
    error = fmt::format("websocket handshake with {} failed: {}", host, ec.message());
    co_return false;
  }
  co_return true;
}

// Resolves, connects, does TLS and the websocket handshake, all within `timeout`.
asio::awaitable<std::shared_ptr<WsConn>> connect_ws(asio::io_context& io, ssl::context& tls_ctx, GatewayUrl url,
                                                     std::chrono::milliseconds timeout, std::string& error) {
  // Shared with the guard's handler, which may run after this frame has moved on.
  auto resolver = std::make_shared<tcp::resolver>(io);
  asio::steady_timer guard(io);
  guard.expires_after(timeout);
  guard.async_wait([resolver](const boost::system::error_code& ec) {
    if (!ec) resolver->cancel();
  });
  auto [rec, endpoints] = co_await resolver->async_resolve(url.host, url.port, use_tuple);
  guard.cancel();
  if (rec) {
    error = fmt::format("cannot resolve {}: {}", url.host, rec.message());
    co_return nullptr;
  }
  std::string host_header = url.host + ":" + url.port;
  if (!url.tls) {
    auto conn = std::make_shared<PlainConn>(io);
    if (!co_await connect_tcp(beast::get_lowest_layer(conn->ws), endpoints, timeout, host_header, error) ||
        !co_await ws_handshake(*conn, host_header, url.target, timeout, error))
      co_return nullptr;
    co_return conn;
  }
  auto conn = std::make_shared<TlsConn>(io, tls_ctx);
  if (!co_await connect_tcp(beast::get_lowest_layer(conn->ws), endpoints, timeout, host_header, error))
    co_return nullptr;
  auto& tls = conn->ws.next_layer();
  // SNI and certificate name check: Discord's gateway is behind a shared front end.
  if (!SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str())) {
    error = fmt::format("TLS: cannot set SNI for {}", url.host);
    co_return nullptr;
  }
  tls.set_verify_callback(ssl::host_name_verification(url.host));
  beast::get_lowest_layer(conn->ws).expires_after(timeout);
  auto [tec] = co_await tls.async_handshake(ssl::stream_base::client, use_tuple);
  if (tec) {
    error = fmt::format("TLS handshake with {} failed: {}", host_header, tec.message());
    co_return nullptr;
  }
  if (!co_await ws_handshake(*conn, url.host, url.target, timeout, error)) co_return nullptr;
  co_return conn;
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(ch)));
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

} // namespace

// What to do once the current connection has ended; set by whoever ends it.
enum class NextStep { decide_by_close_code, resume, reidentify };

class Shard::Impl : public std::enable_shared_from_this<Shard::Impl> {
public:
  Impl(asio::io_context& io, ShardOptions o, ShardHost& host, ssl::context& tls, Shard& owner)
      : io(io), opt(std::move(o)), host(host), tls(tls), owner(owner), limiter(real_clock()), backoff_timer(io),
        rng(std::random_device{}()) {}

  asio::io_context& io;
  ShardOptions opt;
  ShardHost& host;
  ssl::context& tls;
  Shard& owner;

  ShardStatus status = ShardStatus::starting;
  ShardCounters counters;
  std::optional<std::chrono::microseconds> latency;
  std::string stop_reason;

  // Session.
  std::string session_id, resume_url;
  std::uint64_t seq = 0;
  steady::time_point last_session_save{};

  // Guilds of the session: id -> member_count; unavailable ones are kept with their count.
  std::unordered_map<std::uint64_t, std::uint32_t> guilds;
  std::unordered_map<std::uint64_t, bool> unavailable;
  std::uint64_t members = 0;
  bool guilds_dirty = false;

  // The current connection. `gen` changes with every connection, so the tasks of an old one
  // (writer, heartbeats, an IDENTIFY waiting for its slot) see they are stale and end.
  std::shared_ptr<WsConn> conn; // shared with the writer: a TLS write must not outlive its stream
  std::uint64_t gen = 0;
  std::deque<std::string> outq;
  std::shared_ptr<asio::steady_timer> writer_wake;
  std::shared_ptr<asio::steady_timer> heartbeat_timer; // this connection's; cancelled when it ends
  bool close_requested = false;
  std::uint16_t close_code = kResumeCloseCode;
  NextStep next = NextStep::decide_by_close_code;
  bool heartbeat_acked = true;
  steady::time_point heartbeat_sent{};
  CommandLimiter limiter;
  ZlibInflater inflater;
  PayloadParser parser;
  std::string text; // the payload being handled (inflated, or copied from a text frame)

  asio::steady_timer backoff_timer;
  std::mt19937_64 rng;
  bool stopping = false;
  std::function<void()> shutdown_done;
  std::unique_ptr<asio::steady_timer> shutdown_timer;

  double jitter() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

  // ---- sending ----------------------------------------------------------------------------

  bool connected() const { return conn != nullptr && !close_requested; }

  void queue(std::string payload, bool urgent) {
    if (!connected()) return;
    if (urgent) outq.push_front(std::move(payload));
    else outq.push_back(std::move(payload));
    if (writer_wake) writer_wake->cancel();
  }

  // `scheduled`: the heartbeater's own beat, whose ACK the next beat checks. An answer to the
  // server's HEARTBEAT request must not reset that, or a request just before a beat would look
  // like a zombie.
  void send_heartbeat(bool scheduled) {
    if (scheduled) {
      heartbeat_acked = false;
      heartbeat_sent = steady::now();
    }
    queue(seq ? fmt::format("{{\"op\":1,\"d\":{}}}", seq) : std::string("{\"op\":1,\"d\":null}"), true);
  }

  // Ends the current connection: our close frame (when the writer can send it), and the
  // socket is dropped if that has not finished within kCloseDeadline.
  void end_connection(NextStep step, std::uint16_t code) {
    if (!conn || close_requested) return;
    next = step;
    close_requested = true;
    close_code = code;
    outq.clear();
    if (writer_wake) writer_wake->cancel();
    auto timer = std::make_shared<asio::steady_timer>(io, kCloseDeadline);
    timer->async_wait([self = shared_from_this(), g = gen, timer](const boost::system::error_code& ec) {
      if (!ec && self->gen == g && self->conn) self->conn->force_close();
    });
  }

  static asio::awaitable<void> writer(std::shared_ptr<Impl> self, std::uint64_t g) {
    // This connection's stream and wake timer, kept alive by this coroutine until its last
    // operation completes, even if the reader has already moved on to a new connection.
    auto conn = self->conn;
    auto wake_owner = self->writer_wake;
    asio::steady_timer& wake = *wake_owner;
    while (self->gen == g && self->conn) {
      if (self->close_requested) {
        co_await conn->close(self->close_code);
        co_return; // the reader sees the close completing (or the forced close)
      }
      if (self->outq.empty()) {
        wake.expires_at(steady::time_point::max());
        co_await wake.async_wait(use_tuple);
        continue;
      }
      // Heartbeats are queued at the front and may use the whole limit; anything else waits
      // for its share (CommandLimiter).
      bool heartbeat = self->outq.front().rfind("{\"op\":1,", 0) == 0;
      if (!self->limiter.try_acquire(heartbeat)) {
        wake.expires_at(self->limiter.next_allowed(heartbeat));
        co_await wake.async_wait(use_tuple);
        continue;
      }
      auto payload = std::move(self->outq.front());
      self->outq.pop_front();
      auto ec = co_await conn->write(payload);
      if (ec) {
        conn->force_close();
        co_return;
      }
    }
  }

  // ---- heartbeats -------------------------------------------------------------------------

  static asio::awaitable<void> heartbeater(std::shared_ptr<Impl> self, std::uint64_t g, std::uint32_t interval_ms) {
    auto timer_owner = self->heartbeat_timer;
    asio::steady_timer& timer = *timer_owner;
    // The first beat at interval * jitter, as Discord asks, so shards started together do
    // not beat together.
    timer.expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(interval_ms * self->jitter())));
    for (;;) {
      co_await timer.async_wait(use_tuple);
      if (self->gen != g || !self->conn || self->close_requested) co_return;
      if (!self->heartbeat_acked) {
        // No ACK since the last beat: a zombie connection. Close it (not with 1000/1001, so
        // the session survives) and resume on a new one.
        ++self->counters.zombies;
        spdlog::warn("shard {}: no HEARTBEAT_ACK within {} ms: zombie connection, reconnecting to resume", self->opt.shard_id,
                     interval_ms);
        self->end_connection(NextStep::resume, kResumeCloseCode);
        co_return;
      }
      self->send_heartbeat(true);
      timer.expires_after(std::chrono::milliseconds(interval_ms));
    }
  }

  // ---- IDENTIFY / RESUME ------------------------------------------------------------------

  void send_resume() {
    status = ShardStatus::resuming;
    ++counters.resumes;
    spdlog::info("shard {}: RESUME session {} at seq {}", opt.shard_id, session_for_log(session_id), seq);
    queue(fmt::format("{{\"op\":6,\"d\":{{\"token\":{},\"session_id\":{},\"seq\":{}}}}}", json_string(opt.token),
                      json_string(session_id), seq),
          false);
  }

  static asio::awaitable<void> identify_when_allowed(std::shared_ptr<Impl> self, std::uint64_t g) {
    self->status = ShardStatus::waiting_slot;
    auto allowed = co_await self->host.acquire_identify(self->opt.shard_id);
    if (self->gen != g || !self->connected() || self->stopping) co_return; // the slot goes unused; harmless
    if (!allowed) {
      self->stop(allowed.error().message);
      co_return;
    }
    self->status = ShardStatus::identifying;
    ++self->counters.identifies;
    spdlog::info("shard [{}, {}]: IDENTIFY", self->opt.shard_id, self->opt.shard_count);
    self->queue(fmt::format("{{\"op\":2,\"d\":{{\"token\":{},\"intents\":{},\"properties\":{{\"os\":\"linux\","
                            "\"browser\":\"shardline\",\"device\":\"shardline\"}},\"shard\":[{},{}],"
                            "\"large_threshold\":{},\"compress\":false}}}}",
                            json_string(self->opt.token), self->opt.intents, self->opt.shard_id, self->opt.shard_count,
                            self->opt.large_threshold),
                false);
  }

  // ---- receiving --------------------------------------------------------------------------

  void forget_session() {
    if (session_id.empty()) return;
    session_id.clear();
    resume_url.clear();
    seq = 0;
    host.on_session_lost(owner);
  }

  void reset_guilds() {
    guilds.clear();
    unavailable.clear();
    members = 0;
  }

  void track_guild(std::string_view type, std::string_view d) {
    GuildInfo g;
    if (!parser.guild(d, g)) return;
    guilds_dirty = true;
    auto it = guilds.find(g.id);
    if (type == "GUILD_DELETE" && !g.unavailable) { // the bot left or was removed
      if (it != guilds.end()) {
        members -= it->second;
        guilds.erase(it);
      }
      unavailable.erase(g.id);
      return;
    }
    if (it == guilds.end()) it = guilds.emplace(g.id, 0).first;
    if (g.unavailable) {
      unavailable[g.id] = true; // an outage: still the bot's guild
      return;
    }
    unavailable.erase(g.id);
    if (!g.has_member_count) return; // GUILD_UPDATE: the count is not in it, keep ours
    members += g.member_count;
    members -= it->second;
    it->second = static_cast<std::uint32_t>(std::min<std::uint64_t>(g.member_count, UINT32_MAX));
  }

  // Handles one payload; false ends the connection (after end_connection, or on a protocol error).
  bool handle(const GatewayPayload& p, bool& hello_seen, std::uint64_t g) {
    switch (p.op) {
    case opcode::hello: {
      if (hello_seen) return true;
      std::uint32_t interval = 0;
      if (!parser.hello_interval(p.data, interval) || interval == 0) {
        spdlog::warn("shard {}: HELLO without a heartbeat_interval; reconnecting", opt.shard_id);
        return false;
      }
      hello_seen = true;
      heartbeat_acked = true;
      asio::co_spawn(io, heartbeater(shared_from_this(), g, interval), asio::detached);
      limiter.set_heartbeat_reserve(CommandLimiter::reserve_for(std::chrono::milliseconds(interval)));
      if (!session_id.empty()) send_resume();
      else asio::co_spawn(io, identify_when_allowed(shared_from_this(), g), asio::detached);
      return true;
    }
    case opcode::heartbeat: // the server asks for one now
      send_heartbeat(false);
      return true;
    case opcode::heartbeat_ack:
      heartbeat_acked = true;
      latency = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - heartbeat_sent);
      return true;
    case opcode::reconnect:
      spdlog::info("shard {}: RECONNECT requested; resuming on a new connection", opt.shard_id);
      end_connection(NextStep::resume, kResumeCloseCode);
      return true;
    case opcode::invalid_session: {
      bool resumable = PayloadParser::invalid_session_resumable(p.data);
      spdlog::warn("shard {}: INVALID_SESSION ({})", opt.shard_id, resumable ? "resumable" : "not resumable");
      if (resumable && !session_id.empty()) {
        end_connection(NextStep::resume, kResumeCloseCode);
      } else {
        forget_session();
        end_connection(NextStep::reidentify, kResumeCloseCode);
      }
      return true;
    }
    case opcode::dispatch: break;
    default: return true; // an opcode a client does not receive: ignore
    }
    if (p.seq && *p.seq > seq) seq = *p.seq;
    ++counters.events;
    if (p.type == "READY") {
      ReadyInfo r;
      if (!parser.ready(p.data, r)) {
        spdlog::error("shard {}: READY without session_id or resume_gateway_url; reconnecting", opt.shard_id);
        return false;
      }
      session_id = std::move(r.session_id);
      resume_url = std::move(r.resume_gateway_url);
      reset_guilds();
      guilds_dirty = true;
      for (auto id : r.guild_ids) {
        guilds.emplace(id, 0);
        unavailable[id] = true;
      }
      status = ShardStatus::ready;
      backoff_failures = 0;
      reached_ready = true;
      spdlog::info("shard [{}, {}]: READY, session {}, {} guilds", opt.shard_id, opt.shard_count, session_for_log(session_id),
                   r.guild_ids.size());
      host.on_ready(owner, false);
      save_session();
    } else if (p.type == "RESUMED") {
      status = ShardStatus::ready;
      backoff_failures = 0;
      reached_ready = true;
      spdlog::info("shard [{}, {}]: RESUMED session {} at seq {}", opt.shard_id, opt.shard_count,
                   session_for_log(session_id), seq);
      host.on_ready(owner, true);
      save_session();
    } else if (p.type == "GUILD_CREATE" || p.type == "GUILD_DELETE" || p.type == "GUILD_UPDATE") {
      track_guild(p.type, p.data);
    }
    host.on_dispatch(owner, p.type, p.data);
    if (steady::now() - last_session_save >= kSessionSaveEvery) save_session();
    return true;
  }

  void save_session() {
    if (session_id.empty()) return;
    last_session_save = steady::now();
    host.on_session_update(owner);
  }

  // ---- the connection loop ----------------------------------------------------------------

  // Connections in a row that ended before READY/RESUMED. Whatever ended them (a refused
  // connect, a close code, RECONNECT), reconnecting at once would loop, and a shard without a
  // session would spend an IDENTIFY on every turn: so they back off.
  int backoff_failures = 0;
  bool reached_ready = false; // this connection got READY or RESUMED

  std::chrono::milliseconds reconnect_delay(NextStep step) {
    std::chrono::milliseconds backoff{static_cast<int>(250 * jitter())};
    if (backoff_failures > 0) {
      // 1, 2, 4... 60 s, with jitter so shards spread out.
      auto base = std::min(60'000, 1000 << std::min(backoff_failures - 1, 6));
      backoff = std::chrono::milliseconds(base / 2 + static_cast<int>(base / 2 * jitter()));
    }
    if (step == NextStep::reidentify) // Discord: wait 1-5 s before a new IDENTIFY
      return std::max(backoff, std::chrono::milliseconds(1000 + static_cast<int>(4000 * jitter())));
    return backoff;
  }

  static asio::awaitable<void> run(std::shared_ptr<Impl> self) {
    NextStep step = NextStep::resume;
    bool first = true;
    while (!self->stopping) {
      if (!first) {
        ++self->counters.reconnects;
        self->status = ShardStatus::reconnecting;
        self->backoff_timer.expires_after(self->reconnect_delay(step));
        co_await self->backoff_timer.async_wait(use_tuple);
        if (self->stopping) break;
      }
      first = false;
      step = co_await self->connect_and_serve();
      if (self->status == ShardStatus::stopped) break;
    }
    self->finish_shutdown();
  }

  // One connection, from connect to its end; returns what to do next.
  asio::awaitable<NextStep> connect_and_serve() {
    status = ShardStatus::connecting;
    std::string error;
    const std::string& url = !session_id.empty() && !resume_url.empty() ? resume_url : opt.gateway_url;
    auto gu = parse_gateway_url(url, opt.compress, error);
    if (!gu) {
      stop(fmt::format("gateway URL: {}", error));
      co_return NextStep::resume;
    }
    auto c = co_await connect_ws(io, tls, *gu, opt.connect_timeout, error);
    if (stopping) co_return NextStep::resume;
    if (!c) {
      ++backoff_failures;
      spdlog::warn("shard {}: {}", opt.shard_id, error);
      co_return NextStep::resume;
    }
    const std::uint64_t g = ++gen;
    conn = std::move(c);
    reached_ready = false;
    close_requested = false;
    next = NextStep::decide_by_close_code;
    outq.clear();
    limiter.reset();
    inflater.reset();
    writer_wake = std::make_shared<asio::steady_timer>(io);
    heartbeat_timer = std::make_shared<asio::steady_timer>(io);
    asio::co_spawn(io, writer(shared_from_this(), g), asio::detached);
    // HELLO must come within hello_timeout, or the connection is useless.
    bool hello_seen = false;
    asio::steady_timer hello_timer(io, opt.hello_timeout);
    hello_timer.async_wait([self = shared_from_this(), g, &hello_seen](const boost::system::error_code& ec) {
      if (!ec && self->gen == g && !hello_seen && self->conn) {
        spdlog::warn("shard {}: no HELLO within the deadline; reconnecting", self->opt.shard_id);
        self->conn->force_close();
      }
    });

    beast::flat_buffer buf;
    std::optional<std::uint16_t> server_code;
    bool protocol_error = false;
    for (;;) {
      buf.clear();
      auto ec = co_await conn->read(buf);
      if (ec) {
        if (ec == websocket::error::closed) server_code = conn->server_close_code();
        break;
      }
      counters.bytes_in += buf.size();
      std::string_view raw(static_cast<const char*>(buf.data().data()), buf.size());
      if (conn->got_binary()) {
        auto r = inflater.feed(raw, text);
        if (r == ZlibInflater::Result::need_more) continue;
        if (r == ZlibInflater::Result::error) {
          spdlog::warn("shard {}: corrupt zlib-stream; reconnecting", opt.shard_id);
          protocol_error = true;
          break;
        }
      } else {
        text.assign(raw);
      }
      GatewayPayload p;
      std::string perr;
      if (!parser.parse(text, p, perr)) {
        spdlog::warn("shard {}: unreadable payload ({}); reconnecting", opt.shard_id, perr);
        protocol_error = true;
        break;
      }
      if (!handle(p, hello_seen, g)) {
        protocol_error = true;
        break;
      }
      if (buf.capacity() > kKeepBufferBytes) {
        buf.clear();
        buf.shrink_to_fit();
      }
      if (text.capacity() > kKeepBufferBytes) std::string().swap(text);
      if (stopping && !conn) break;
    }
    hello_timer.cancel();
    if (!reached_ready) ++backoff_failures;
    // The connection is over: stale tasks see the new generation and end.
    ++gen;
    if (conn) conn->force_close();
    conn.reset();
    if (writer_wake) writer_wake->cancel();
    if (heartbeat_timer) heartbeat_timer->cancel();
    outq.clear();
    if (stopping) co_return NextStep::resume;
    if (status == ShardStatus::stopped) co_return NextStep::resume;
    if (protocol_error) co_return NextStep::resume;
    if (next != NextStep::decide_by_close_code) co_return next;
    auto decision = decide_close(server_code);
    spdlog::info("shard {}: connection closed ({}): {}", opt.shard_id,
                 server_code ? std::to_string(*server_code) : std::string("no close code"), decision.reason);
    switch (decision.action) {
    case CloseAction::resume: co_return NextStep::resume;
    case CloseAction::reidentify: forget_session(); co_return NextStep::reidentify;
    case CloseAction::stop: stop(std::string(decision.reason)); co_return NextStep::resume;
    }
    co_return NextStep::resume;
  }

  void stop(std::string reason) {
    if (status == ShardStatus::stopped) return;
    status = ShardStatus::stopped;
    stop_reason = std::move(reason);
    spdlog::error("shard [{}, {}] stopped: {}", opt.shard_id, opt.shard_count, stop_reason);
    if (conn) end_connection(NextStep::resume, kResumeCloseCode);
    backoff_timer.cancel();
    host.on_stopped(owner, stop_reason);
  }

  void finish_shutdown() {
    if (shutdown_timer) shutdown_timer->cancel();
    if (auto done = std::move(shutdown_done)) {
      shutdown_done = nullptr;
      done();
    }
  }
};

Shard::Shard(asio::io_context& io, ShardOptions options, ShardHost& host, ssl::context& tls)
    : impl_(std::make_shared<Impl>(io, std::move(options), host, tls, *this)) {}

Shard::~Shard() {
  impl_->stopping = true;
  if (impl_->conn) impl_->conn->force_close();
}

void Shard::start(std::optional<SavedSession> saved) {
  if (saved && saved->shard_id == impl_->opt.shard_id && saved->shard_count == impl_->opt.shard_count &&
      !saved->session_id.empty()) {
    impl_->session_id = saved->session_id;
    impl_->seq = saved->seq;
    impl_->resume_url = saved->resume_url;
    spdlog::info("shard [{}, {}]: saved session {} at seq {}: will RESUME", impl_->opt.shard_id, impl_->opt.shard_count,
                 session_for_log(saved->session_id), saved->seq);
  }
  asio::co_spawn(impl_->io, Impl::run(impl_), [impl = impl_](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("shard {}: connection loop failed: {}", impl->opt.shard_id, ex.what());
    }
    ++impl->gen;
    if (impl->conn) impl->conn->force_close();
    impl->status = ShardStatus::stopped;
    impl->finish_shutdown();
  });
}

void Shard::shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
  auto& s = *impl_;
  if (s.stopping && (s.shutdown_done || s.shutdown_timer)) {
    // Already shutting down (SIGTERM, then superseded): both callers are told, once, when
    // the first shutdown finishes; its deadline stands.
    if (done) {
      auto first = std::move(s.shutdown_done);
      s.shutdown_done = [first = std::move(first), done = std::move(done)] {
        if (first) first();
        done();
      };
    }
    return;
  }
  s.stopping = true;
  s.backoff_timer.cancel();
  if (!s.conn && s.status != ShardStatus::connecting) {
    // Between connections (or stopped): nothing to close.
    if (s.status != ShardStatus::stopped) s.status = ShardStatus::stopped;
    if (done) done();
    return;
  }
  s.shutdown_done = std::move(done);
  s.shutdown_timer = std::make_unique<asio::steady_timer>(s.io, deadline);
  s.shutdown_timer->async_wait([impl = impl_](const boost::system::error_code& ec) {
    if (ec) return;
    if (impl->conn) impl->conn->force_close();
    impl->finish_shutdown();
  });
  // Resumable: the session (saved by the host) is taken over by the next process.
  s.end_connection(NextStep::resume, kResumeCloseCode);
}

bool Shard::send_command(int op, std::string_view d_json) {
  auto& s = *impl_;
  if (!s.connected() || s.status != ShardStatus::ready) return false;
  auto payload = fmt::format("{{\"op\":{},\"d\":{}}}", op, d_json);
  if (payload.size() > kMaxPayloadBytes || s.outq.size() >= kMaxQueuedCommands) return false;
  s.queue(std::move(payload), false);
  return true;
}

std::uint32_t Shard::id() const { return impl_->opt.shard_id; }
std::uint32_t Shard::count() const { return impl_->opt.shard_count; }
ShardStatus Shard::status() const { return impl_->status; }
std::optional<std::chrono::microseconds> Shard::latency() const { return impl_->latency; }
const ShardCounters& Shard::counters() const { return impl_->counters; }
const std::string& Shard::stop_reason() const { return impl_->stop_reason; }
std::size_t Shard::guild_count() const { return impl_->guilds.size(); }
std::size_t Shard::unavailable_guilds() const { return impl_->unavailable.size(); }
std::uint64_t Shard::member_count() const { return impl_->members; }
bool Shard::guilds_changed() const { return impl_->guilds_dirty; }

std::vector<GuildRecord> Shard::take_guilds() {
  impl_->guilds_dirty = false;
  std::vector<GuildRecord> out;
  out.reserve(impl_->guilds.size());
  for (auto& [id, members] : impl_->guilds) out.push_back({id, members, impl_->unavailable.count(id) > 0});
  return out;
}

void Shard::restore_guilds(const std::vector<GuildRecord>& guilds) {
  impl_->reset_guilds();
  for (auto& g : guilds) {
    impl_->guilds.emplace(g.id, g.member_count);
    impl_->members += g.member_count;
    if (g.unavailable) impl_->unavailable[g.id] = true;
  }
}

SavedSession Shard::session() const {
  SavedSession s;
  s.shard_id = impl_->opt.shard_id;
  s.shard_count = impl_->opt.shard_count;
  s.session_id = impl_->session_id;
  s.seq = impl_->seq;
  s.resume_url = impl_->resume_url;
  s.saved_at_unix_ms = unix_ms_now();
  return s;
}

} // namespace shardline::gateway
