// The bot endpoint's server (proxy_server.hpp): the accept loop, HTTP requests (answered here,
// or forwarded by rest_forward.cpp), and the websocket connections that carry a ClientSession
// each: a reader coroutine that owns the connection and a writer that drains its queue. Beast
// is compiled here and in rest_forward.cpp only.

#include "proxy/proxy_server.hpp"

#include "proxy/gateway_frames.hpp"
#include "proxy/rest_forward.hpp"

#include "core/crypto.hpp"
#include "net/gateway_query.hpp"
#include "net/spawn_owned.hpp"
#include "net/zlib_stream.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <deque>
#include <set>

namespace shardline::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
constexpr auto kRequestDeadline = std::chrono::seconds(30);
constexpr auto kHandshakeDeadline = std::chrono::seconds(10);
// After our close frame is queued: then the socket goes, answered or not.
constexpr auto kCloseDeadline = std::chrono::seconds(3);
constexpr auto kTickEvery = std::chrono::milliseconds(500);

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

Response json_response(http::status status, const json::value& body, const Request& req) {
  Response res{status, req.version()};
  res.set(http::field::server, "shardline");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
}

Response discord_error(http::status status, int code, std::string_view message, const Request& req) {
  return json_response(status, json::object{{"message", message}, {"code", code}}, req);
}

// "/api/v10/x" -> "/x"; "/api/x" -> "/x"; anything else: nullopt.
std::optional<std::string_view> api_route(std::string_view path) {
  if (path.substr(0, 4) != "/api") return std::nullopt;
  path.remove_prefix(4);
  if (path.substr(0, 2) == "/v") {
    std::size_t i = 2;
    while (i < path.size() && std::isdigit(static_cast<unsigned char>(path[i]))) ++i;
    if (i > 2 && (i == path.size() || path[i] == '/')) path.remove_prefix(i);
  }
  if (!path.empty() && path[0] != '/') return std::nullopt;
  return path;
}

} // namespace

// ---- state ------------------------------------------------------------------------------------

struct WsClient;

struct ProxyServer::State {
  State(asio::io_context& i, Endpoint& e, ProxyServerOptions o, ServerHooks h, asio::ssl::context& t)
      : io(i), endpoint(e), opt(std::move(o)), hooks(std::move(h)), tls(t), acceptor(i), ticker(i) {}
  asio::io_context& io;
  Endpoint& endpoint;
  ProxyServerOptions opt;
  ServerHooks hooks;
  asio::ssl::context& tls;
  tcp::acceptor acceptor;
  asio::steady_timer ticker;
  std::string ws_url;
  bool stopped = false;
  std::size_t open_connections = 0;
  std::set<std::shared_ptr<WsClient>> clients;
};

using State = ProxyServer::State;

// One gateway client: its websocket, its outbound queue (ClientOutput) and its protocol state.
struct WsClient final : ClientOutput, std::enable_shared_from_this<WsClient> {
  WsClient(beast::tcp_stream s, State& st)
      : ws(std::move(s)), wake(ws.get_executor()), force_close(ws.get_executor()), state(st) {}

  bool send(std::string frame) override {
    if (closing || ended) return true;
    if (outq.size() >= state.opt.max_queued_frames || out_bytes + frame.size() > state.opt.max_queued_bytes)
      return false;
    out_bytes += frame.size();
    outq.push_back(std::move(frame));
    wake.cancel();
    return true;
  }

  void close(std::uint16_t code, std::string reason) override {
    if (closing || ended) return;
    closing = true;
    close_code = code;
    close_reason = std::move(reason);
    spdlog::info("bot endpoint: closing client {} with {} ({})", address, code, close_reason);
    // What was queued goes unsent: a client that may RESUME gets it replayed.
    outq.clear();
    out_bytes = 0;
    wake.cancel();
    force_close.expires_after(kCloseDeadline);
    force_close.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) self->close_socket();
    });
  }

  void close_socket() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
  }

  websocket::stream<beast::tcp_stream> ws;
  asio::steady_timer wake, force_close;
  State& state;
  std::string address;
  std::unique_ptr<ClientSession> session;
  std::unique_ptr<net::ZlibStream> zlib;
  std::deque<std::string> outq;
  std::size_t out_bytes = 0;
  bool closing = false, ended = false;
  std::uint16_t close_code = 0;
  std::string close_reason;
};

namespace {

// One of max_connections, held by the coroutine serving a connection.
class ConnectionSlot {
public:
  explicit ConnectionSlot(std::shared_ptr<State> s) : s_(std::move(s)) { ++s_->open_connections; }
  ConnectionSlot(ConnectionSlot&& o) noexcept : s_(std::move(o.s_)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (s_) --s_->open_connections;
  }

private:
  std::shared_ptr<State> s_;
};

// ---- the gateway ------------------------------------------------------------------------------

asio::awaitable<void> ws_writer(std::shared_ptr<State> st, std::shared_ptr<WsClient> c) {
  (void)st;
  std::string zbuf; // the compressed frame, its capacity reused
  for (;;) {
    while (c->outq.empty() && !c->closing && !c->ended) {
      c->wake.expires_at(steady::time_point::max());
      auto [ec] = co_await c->wake.async_wait(use_tuple);
      (void)ec;
    }
    if (c->ended) co_return;
    if (c->outq.empty() && c->closing) {
      websocket::close_reason reason(static_cast<websocket::close_code>(c->close_code), c->close_reason);
      auto [ec] = co_await c->ws.async_close(reason, use_tuple);
      (void)ec;
      co_return;
    }
    std::string frame = std::move(c->outq.front());
    c->outq.pop_front();
    c->out_bytes -= frame.size();
    c->ws.binary(c->zlib != nullptr);
    if (c->zlib) c->zlib->compress_into(frame, zbuf);
    auto [ec, n] = co_await c->ws.async_write(asio::buffer(c->zlib ? zbuf : frame), use_tuple);
    if (ec) {
      c->close_socket();
      co_return;
    }
  }
}

asio::awaitable<void> serve_gateway(std::shared_ptr<State> st, beast::tcp_stream stream, std::string address,
                                    Request upgrade, ConnectionSlot slot) {
  (void)slot;
  auto c = std::make_shared<WsClient>(std::move(stream), *st);
  c->address = std::move(address);
  auto& ws = c->ws;
  const auto query = net::check_gateway_query(sv(upgrade.target()));
  beast::get_lowest_layer(ws).expires_never();
  ws.set_option(websocket::stream_base::timeout{kHandshakeDeadline, websocket::stream_base::none(), false});
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "shardline"); }));
  // No frame-size limit in Beast (it would fail with 1009 instead of Discord's 4002); the reader
  // below never buffers more than the payload limit and a piece.
  ws.read_message_max(0);
  ws.auto_fragment(false);
  auto [aec] = co_await ws.async_accept(upgrade, use_tuple);
  if (aec || st->stopped) co_return;
  if (query.zlib_stream) c->zlib = std::make_unique<net::ZlibStream>(net::DeflateEngine::isal);
  st->clients.insert(c);
  net::spawn_owned(ws.get_executor(), ws_writer(st, c), "bot endpoint writer", [c](const std::exception&) {
    c->close_socket();
  });
  c->session = std::make_unique<ClientSession>(st->endpoint, *c);
  if (query.refusal) {
    c->session->close(query.refusal, query.why);
  } else {
    c->session->start();
  }

  const std::size_t max_payload = st->endpoint.settings().limits.max_payload_bytes;
  beast::flat_buffer buf;
  std::optional<std::uint16_t> client_code;
  for (;;) {
    buf.clear();
    bool too_big = false;
    beast::error_code ec;
    do {
      auto [e, n] = co_await ws.async_read_some(buf, 1024, use_tuple);
      if (e) {
        ec = e;
        break;
      }
      if (buf.size() > max_payload) {
        too_big = true;
        break;
      }
    } while (!ws.is_message_done());
    if (ec) {
      if (ec == websocket::error::closed) client_code = static_cast<std::uint16_t>(ws.reason().code);
      break;
    }
    if (!c->session || c->closing) continue; // drain until the peer answers our close
    if (too_big) c->session->on_oversize();
    else if (!ws.got_text()) c->session->on_binary();
    else {
      auto data = buf.data();
      c->session->on_text(std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
  }
  if (c->session) c->session->on_disconnected(client_code);
  c->session.reset();
  c->ended = true;
  c->wake.cancel();
  c->force_close.cancel();
  st->clients.erase(c);
  c->close_socket();
}

// ---- HTTP -------------------------------------------------------------------------------------

json::object status_json(State& st) {
  json::array shards;
  std::size_t clients = 0;
  for (auto& [id, feed] : st.endpoint.feeds()) {
    clients += feed->client_count();
    shards.push_back(json::object{{"id", id},
                                  {"status", st.hooks.shard_status ? st.hooks.shard_status(id) : std::string("?")},
                                  {"ready", feed->cache().has_ready()},
                                  {"guilds", feed->cache().guild_count()},
                                  {"available_guilds", feed->cache().available_guild_ids().size()},
                                  {"clients", feed->client_count()},
                                  {"events", feed->events()},
                                  {"cache_bytes", feed->cache().memory_bytes()}});
  }
  return json::object{{"ws_url", st.ws_url},
                      {"shard_count", st.endpoint.settings().shard_count},
                      {"connections", st.clients.size()},
                      {"clients", clients},
                      {"sessions", st.endpoint.session_count()},
                      {"shards", std::move(shards)}};
}

Response gateway_answer(State& st, const Request& req, bool bot) {
  json::object o{{"url", st.ws_url}};
  if (bot) {
    // Discord wants the bot's token for /gateway/bot; a client with another one learns it here.
    auto auth = sv(req[http::field::authorization]);
    if (!constant_time_equal(bare_token(auth), bare_token(st.endpoint.settings().token)) ||
        auth.substr(0, 4) != "Bot ")
      return discord_error(http::status::unauthorized, 0, "401: Unauthorized", req);
    auto limit = st.hooks.start_limit ? st.hooks.start_limit() : ServerHooks::StartLimit{};
    o["shards"] = st.endpoint.settings().shard_count;
    // IDENTIFY here costs the bot nothing (the cluster's shards hold the sessions): every
    // shard may IDENTIFY at once, so clients need not pace themselves in 5-second buckets.
    o["session_start_limit"] = json::object{{"total", limit.total},
                                            {"remaining", limit.remaining},
                                            {"reset_after", limit.reset_after_ms},
                                            {"max_concurrency", std::max<std::uint32_t>(limit.max_concurrency,
                                                                                        st.endpoint.settings().shard_count)}};
  }
  return json_response(http::status::ok, o, req);
}

// Answered here, not by Discord: the bot's turn would come too late, or the invalid-request
// guard blocks the route. A 429 as Discord writes it (retry_after, Retry-After), so the bot's
// library waits and tries again, marked X-Shardline-RateLimit so an operator can tell it apart.
Response refused_here(const ratelimit::RestAdmission& a, const Request& req) {
  json::object o{{"message", a.message}, {"retry_after", a.retry_after_s}, {"global", false}, {"code", 0}};
  Response res{http::status::too_many_requests, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::retry_after, std::to_string(static_cast<long>(std::ceil(std::max(a.retry_after_s, 0.0)))));
  res.set("X-Shardline-RateLimit", a.header_value());
  res.keep_alive(req.keep_alive());
  res.body() = json::serialize(o);
  res.prepare_payload();
  return res;
}

asio::awaitable<Response> forward(std::shared_ptr<State> st, const Request& req, std::string target) {
  ForwardRequest fr;
  fr.method = std::string(sv(req.method_string()));
  fr.target = std::move(target);
  for (auto& f : req) fr.headers.emplace_back(sv(f.name_string()), sv(f.value()));
  fr.body = req.body();
  const std::string method = fr.method;
  std::string api_url = st->opt.api_url;
  auto gate = st->opt.rest_gate;
  auto r = co_await forward_in_turn(st->tls, std::move(api_url), std::move(gate), std::move(fr), st->opt.rest_timeout,
                                    st->opt.max_body_bytes);
  if (r.refused) co_return refused_here(*r.refused, req);
  if (!r.answer) {
    // The path only: its query may carry what the bot would not want in a log.
    auto path = sv(req.target());
    spdlog::warn("bot endpoint: {} {} not forwarded: {}", method,
                 path.substr(0, std::min(path.find('?'), std::size_t{200})), r.answer.error().message);
    co_return discord_error(http::status::bad_gateway, 0, "502: Discord could not be reached through Shardline", req);
  }
  Response res{static_cast<http::status>(r.answer->status), req.version()};
  for (auto& [name, value] : r.answer->headers) res.insert(name, value);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(r.answer->body);
  res.prepare_payload();
  co_return res;
}

asio::awaitable<Response> answer(std::shared_ptr<State> st, const Request& req) {
  auto u = boost::urls::parse_origin_form(sv(req.target()));
  if (!u) co_return discord_error(http::status::bad_request, 0, "400: Bad Request", req);
  const std::string_view path = u->encoded_path();
  if (path == "/_shardline/status") co_return json_response(http::status::ok, status_json(*st), req);
  auto route = api_route(path);
  if (!route) co_return discord_error(http::status::not_found, 0, "404: Not Found", req);
  if (req.method() == http::verb::get && (*route == "/gateway" || *route == "/gateway/bot"))
    co_return gateway_answer(*st, req, *route == "/gateway/bot");
  std::string target(*route);
  if (u->has_query()) target += "?" + std::string(u->encoded_query());
  co_return co_await forward(st, req, std::move(target));
}

asio::awaitable<void> serve(std::shared_ptr<State> st, tcp::socket sock, ConnectionSlot slot) {
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
    parser.body_limit(st->opt.max_body_bytes);
    stream.expires_after(kRequestDeadline);
    auto [ec, n] = co_await http::async_read(stream, buf, parser, use_tuple);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::connection_reset) {
        Response res{http::status::bad_request, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"message":"400: Bad Request","code":0})";
        res.keep_alive(false);
        res.prepare_payload();
        co_await http::async_write(stream, res, use_tuple);
      }
      break;
    }
    auto req = parser.release();
    if (websocket::is_upgrade(req)) {
      co_await serve_gateway(st, std::move(stream), std::move(address), std::move(req), std::move(slot));
      co_return;
    }
    auto res = co_await answer(st, req);
    stream.expires_after(kRequestDeadline);
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive() || st->stopped) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> st) {
  while (!st->stopped) {
    auto [ec, sock] = co_await st->acceptor.async_accept(use_tuple);
    if (ec) {
      if (st->stopped || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("bot endpoint: accept failed: {}", ec.message());
      asio::steady_timer t(st->io, std::chrono::milliseconds(100));
      co_await t.async_wait(use_tuple);
      continue;
    }
    if (st->open_connections >= st->opt.max_connections) {
      spdlog::warn("bot endpoint: connection limit ({}) reached: closing a new one", st->opt.max_connections);
      beast::error_code ignored;
      sock.close(ignored);
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    net::spawn_owned(st->io, serve(st, std::move(sock), ConnectionSlot(st)), "bot endpoint connection");
  }
}

void schedule_tick(std::shared_ptr<State> st) {
  st->ticker.expires_after(kTickEvery);
  st->ticker.async_wait([st](const boost::system::error_code& ec) {
    if (ec || st->stopped) return;
    for (auto& c : st->clients)
      if (c->session) c->session->tick();
    st->endpoint.sweep();
    schedule_tick(st);
  });
}

} // namespace

// ---- ProxyServer --------------------------------------------------------------------------------

ProxyServer::ProxyServer(asio::io_context& io, Endpoint& endpoint, ProxyServerOptions options, ServerHooks hooks,
                         asio::ssl::context& client_tls)
    : state_(std::make_shared<State>(io, endpoint, std::move(options), std::move(hooks), client_tls)) {}

ProxyServer::~ProxyServer() { stop(); }

Result<std::uint16_t> ProxyServer::listen() {
  auto& st = *state_;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(st.opt.host, ec);
  if (ec) return fail(Errc::bad_input, fmt::format("SHARD_PROXY_HOST {} is not an IP address", st.opt.host));
  tcp::endpoint ep(addr, st.opt.port);
  st.acceptor.open(ep.protocol(), ec);
  if (!ec) st.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) st.acceptor.bind(ep, ec);
  if (!ec) st.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(Errc::io, fmt::format("bot endpoint: cannot listen on {}:{}: {} (SHARD_PROXY_HOST, SHARD_PROXY_PORT)",
                                      st.opt.host, st.opt.port, ec.message()));
  const auto port = st.acceptor.local_endpoint().port();
  std::string host = st.opt.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  else if (host == "::") host = "[::1]";
  else if (addr.is_v6()) host = "[" + host + "]";
  st.ws_url = fmt::format("ws://{}:{}", host, port);
  st.endpoint.set_ws_url(st.ws_url);
  return port;
}

void ProxyServer::start() {
  net::spawn_owned(state_->io, accept_loop(state_), "bot endpoint accept loop");
  schedule_tick(state_);
}

void ProxyServer::stop() {
  auto& st = *state_;
  if (st.stopped) return;
  st.stopped = true;
  boost::system::error_code ignored;
  st.acceptor.close(ignored);
  st.ticker.cancel();
  for (auto& c : st.clients) {
    // The sessions go with this process; the clients learn it with a resumable close (their
    // RESUME at the next process gets INVALID_SESSION, then they IDENTIFY).
    if (c->session) {
      c->session->close(close_code::unknown_error, "Shardline endpoint stopping.");
      c->session.reset();
    }
  }
}

std::string ProxyServer::ws_url() const { return state_->ws_url; }
std::size_t ProxyServer::connections() const { return state_->clients.size(); }

} // namespace shardline::proxy
