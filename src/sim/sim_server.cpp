// The simulator's server: one loopback port, one io_context, one thread. Each accepted
// connection reads an HTTP request; a websocket upgrade becomes a gateway connection
// (gateway_conn.cpp), anything else is answered by the route table's handlers (http_api.cpp).
// Also the loops that keep the simulation going: the sweeper (heartbeats, closes, the outage,
// expired sessions) and the event stream. Beast is confined to this file and gateway_conn.cpp:
// it is slow to compile, and the handlers only need the plain request and reply of
// http_exchange.hpp.

#include "sim/sim_server.hpp"

#include "core/port_file.hpp"
#include "net/spawn_owned.hpp"
#include "sim/gateway_conn.hpp"
#include "sim/gateway_protocol.hpp"
#include "sim/gateway_upgrade.hpp"
#include "sim/http_api.hpp"
#include "sim/route_table.hpp"
#include "sim/sim_state.hpp"
#include "sim/world_events.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <memory>
#include <unordered_set>

namespace shardline::sim {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;
// Gateway and HTTP connections at once; beyond, new ones are closed at accept.
constexpr std::size_t kMaxConnections = 4096;
constexpr auto kCloseGrace = std::chrono::seconds(2); // after our close frame, then the socket goes

using Request = UpgradeRequest; // every request is read as one; a websocket upgrade is handed on
using Response = http::response<http::string_body>;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

Method method_of(http::verb verb) {
  switch (verb) {
  case http::verb::get: return Method::get;
  case http::verb::post: return Method::post;
  case http::verb::put: return Method::put;
  case http::verb::patch: return Method::patch;
  case http::verb::delete_: return Method::delete_;
  default: return Method::other;
  }
}

Response to_response(HttpReply reply, unsigned version, bool keep_alive) {
  Response res{static_cast<http::status>(reply.status), version};
  res.set(http::field::server, "shardline-sim");
  if (!reply.content_type.empty()) res.set(http::field::content_type, reply.content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(reply.body);
  res.prepare_payload();
  for (auto& [name, value] : reply.headers) res.set(name, value);
  return res;
}

Response answer(Sim& sim, const Request& req) {
  auto target = boost::urls::parse_origin_form(sv(req.target()));
  if (!target)
    return to_response(error_reply(HttpStatus::bad_request, "400: Bad Request"), req.version(), req.keep_alive());
  const std::string path = target->path();
  HttpRequest plain;
  plain.method = method_of(req.method());
  plain.path = path;
  for (auto p : target->params()) plain.query.push_back({std::string(p.key), std::string(p.value)});
  plain.authorization = sv(req[http::field::authorization]);
  plain.body = req.body();
  return to_response(answer_http(sim, plain), req.version(), req.keep_alive());
}

// One of the kMaxConnections, held by the coroutine that serves the connection: given back
// when its frame goes, however it ends.
class ConnectionSlot {
public:
  explicit ConnectionSlot(std::shared_ptr<Sim> sim) : sim_(std::move(sim)) { ++sim_->open_connections; }
  ConnectionSlot(ConnectionSlot&& other) noexcept : sim_(std::move(other.sim_)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (sim_) --sim_->open_connections;
  }

private:
  std::shared_ptr<Sim> sim_;
};

// ---- accepting and serving -------------------------------------------------------------------

asio::awaitable<void> serve(std::shared_ptr<Sim> sim, tcp::socket sock, [[maybe_unused]] ConnectionSlot slot) {
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
        auto res = to_response(error_reply(HttpStatus::bad_request, "400: Bad Request"), 11, true);
        res.keep_alive(false);
        co_await http::async_write(stream, res, use_tuple);
      }
      break;
    }
    auto req = parser.release();
    if (beast::websocket::is_upgrade(req)) {
      co_await serve_gateway(sim, std::move(stream), std::move(address), std::move(req));
      co_return;
    }
    auto res = answer(*sim, req);
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
    net::spawn_owned(sim->io, serve(sim, std::move(sock), ConnectionSlot(sim)), "sim connection");
  }
}

// ---- the simulation's loops ---------------------------------------------------------------

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
        if (now - c->close_started > kCloseGrace) close_socket(*c); // the reader ends the connection
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

// The steady event stream: --events-per-sec events for random guilds, each dispatched to every
// session of the guild's shard whose intents ask for it, live or resumable (a disconnected
// session buffers them for its RESUME). Paced every --event-tick-ms (1 ms: bursts of 10 events at
// 10,000/s; it was 10 ms, whose bursts of 100 made every latency measured against the stream a
// burst's worth of processing, docs/benchmark-notes.md); a late tick catches up at most one
// second's worth. Nothing is generated while no session exists.
asio::awaitable<void> event_loop(std::shared_ptr<Sim> sim) {
  const double rate = sim->opt.events_per_sec;
  if (rate <= 0 || sim->world.guilds().empty()) co_return;
  asio::steady_timer tick(sim->io);
  auto last = sim->clock();
  double owed = 0;
  while (!sim->stopped) {
    tick.expires_after(std::chrono::milliseconds(sim->opt.event_tick_ms));
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
        churn_guilds(*sim, unix_ms);
        active = sim->sessions.active();
        continue;
      }
      auto& ev = sim->events.next(unix_ms, sim->opt.stamp_events ? std::optional(send_stamp_now_us()) : std::nullopt);
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
  if (auto written = write_port_file(options.port_file, sim->port); !written) {
    spdlog::error("{}", written.error().message);
    return 1;
  }

  net::spawn_owned(io, accept_loop(sim), "sim accept loop");
  net::spawn_owned(io, sweep_loop(sim), "sim sweeper");
  net::spawn_owned(io, event_loop(sim), "sim event stream");
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
