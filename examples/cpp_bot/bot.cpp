// A C++ bot on Shardline's bot endpoint, built from its own directory against Debian's Boost
// alone: no Discord library and nothing of this repository.
//
//   cmake -S . -B build -G Ninja && cmake --build build
//   DISCORD_TOKEN=... DISCORD_API_URL=http://127.0.0.1:PORT/api/v10 build/cpp_bot
//
// The one setting is DISCORD_API_URL, the endpoint's REST base; the gateway URL and the shard
// count come from `GET /gateway/bot` through it, as they would from Discord. The endpoint is
// local plain HTTP and WebSocket (Shardline keeps the TLS connections to Discord), so this bot
// speaks http:// and ws:// only. Under `shardline launch` with SHARD_BOT_COMMAND=.../cpp_bot the
// supervisor sets every variable itself (docs/bots.md). What it reads:
// - DISCORD_API_URL, DISCORD_TOKEN;
// - SHARD_IDS (`0,1` or ranges `0-3,8`), SHARD_COUNT (optional): the shards to run; without
//   them, every shard `GET /gateway/bot` recommends.
//
// What it does, as examples/discordpy_bot and examples/discordjs_bot do: one gateway
// connection per shard (HELLO, IDENTIFY, heartbeats), registers the global command /ping,
// answers a message `!ping` with a reply `pong` and /ping with `pong <interaction id>`. One
// JSON object per line on stdout: `starting`, `commands`, `ready` (once every shard has
// received every guild of its READY, with their channels and roles), `message`, `replied`,
// `interaction_replied`, `error`. SIGTERM or SIGINT closes every connection (1000) and exits 0.
//
// Kept small on purpose: no RESUME (a restarted bot IDENTIFYs again, which costs nothing at
// Discord when Shardline holds the session), no rate-limit handling beyond what the endpoint's
// forward does, and one HTTP connection per REST call.

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr int kIntents = 1 | (1 << 9) | (1 << 15); // GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One machine-readable line on stdout, flushed: a test reads it as it comes.
void emit(const std::string& event, json::object fields = {}) {
  fields["event"] = event;
  std::cout << json::serialize(fields) << std::endl;
}

std::string env(const char* name, std::string fallback = {}) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string str(const json::value* v) {
  if (!v) return {};
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  if (v->is_uint64()) return std::to_string(v->as_uint64());
  return {};
}

// SHARD_IDS as `shardline launch` writes it: `0,1,2` or ranges `0-3,8`.
std::vector<int> parse_shard_ids(const std::string& text) {
  std::vector<int> ids;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto comma = text.find(',', pos);
    auto part = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? text.size() : comma + 1;
    if (part.empty()) continue;
    auto dash = part.find('-');
    int lo = std::stoi(part.substr(0, dash));
    int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
    for (int i = lo; i <= hi; ++i) ids.push_back(i);
  }
  return ids;
}

struct Endpoint {
  std::string host, port, path; // path without a trailing slash
};

std::optional<Endpoint> parse_url(const std::string& url, const char* scheme) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != scheme) return std::nullopt;
  Endpoint e{std::string(u->host_address()), u->has_port() ? std::string(u->port()) : "80", std::string(u->path())};
  while (!e.path.empty() && e.path.back() == '/') e.path.pop_back();
  return e;
}

struct Bot {
  Endpoint api;
  std::string token;
  std::string user_id, application_id;
  int shard_count = 0;
  std::vector<int> shard_ids;
  std::map<int, std::set<std::string>> waiting;   // per shard: guilds of READY not yet created
  std::set<int> ready_shards;
  std::map<std::string, json::object> guilds;      // id -> {id, name, shard, channels, roles}
  bool announced = false, commands_registered = false, stopping = false;
};

// One REST call through the endpoint's forward; the status and the parsed body (null if none).
asio::awaitable<std::pair<unsigned, json::value>> rest(Bot& bot, http::verb method, std::string target,
                                                       std::string body) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(bot.api.host, bot.api.port, use_tuple);
  if (rec) throw std::runtime_error("resolving " + bot.api.host + ": " + rec.message());
  beast::tcp_stream stream(ex);
  stream.expires_after(15s);
  auto [cec, ep] = co_await stream.async_connect(results, use_tuple);
  if (cec) throw std::runtime_error("connecting to the API: " + cec.message());
  http::request<http::string_body> req{method, bot.api.path + target, 11};
  req.set(http::field::host, bot.api.host + ":" + bot.api.port);
  req.set(http::field::authorization, "Bot " + bot.token);
  req.set(http::field::user_agent, "DiscordBot (shardline cpp_bot, 1)");
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.prepare_payload();
  auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
  if (wec) throw std::runtime_error("sending " + target + ": " + wec.message());
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  auto [hec, hn] = co_await http::async_read(stream, buf, res, use_tuple);
  if (hec) throw std::runtime_error("reading the answer to " + target + ": " + hec.message());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  json::value parsed;
  if (!res.body().empty()) {
    boost::system::error_code jec;
    parsed = json::parse(res.body(), jec);
  }
  co_return std::pair{res.result_int(), std::move(parsed)};
}

// A REST call whose outcome is only reported (a reply, a callback): run beside the reader.
asio::awaitable<void> answer(Bot& bot, std::string what, std::string to, std::string target, std::string body) {
  try {
    auto [status, res] = co_await rest(bot, http::verb::post, std::move(target), std::move(body));
    if (status >= 300) {
      emit("error", {{"where", what}, {"to", to}, {"status", status}, {"message", json::serialize(res)}});
      co_return;
    }
    if (what == "reply")
      emit("replied", {{"to", to}, {"id", str(res.as_object().if_contains("id"))},
                       {"channel", str(res.as_object().if_contains("channel_id"))}});
    else
      emit("interaction_replied", {{"id", to}});
  } catch (const std::exception& e) {
    emit("error", {{"where", what}, {"to", to}, {"message", e.what()}});
  }
}

asio::awaitable<void> register_commands(Bot& bot) {
  try {
    json::array commands{json::object{{"name", "ping"}, {"description", "Answers pong"}, {"type", 1}}};
    std::string target = "/applications/" + bot.application_id + "/commands", body = json::serialize(commands);
    auto [status, res] = co_await rest(bot, http::verb::put, std::move(target), std::move(body));
    if (status >= 300 || !res.is_array()) {
      emit("error", {{"where", "commands"}, {"status", status}, {"message", json::serialize(res)}});
      co_return;
    }
    json::array names;
    for (auto& c : res.as_array()) names.push_back(json::value(str(c.as_object().if_contains("name"))));
    emit("commands", {{"names", names}});
  } catch (const std::exception& e) {
    emit("error", {{"where", "commands"}, {"message", e.what()}});
  }
}

void maybe_announce(Bot& bot) {
  if (bot.announced || bot.ready_shards.size() != bot.shard_ids.size()) return;
  for (auto& [shard, left] : bot.waiting)
    if (!left.empty()) return;
  bot.announced = true;
  json::array guilds, shards;
  for (auto& [id, g] : bot.guilds) guilds.push_back(g);
  for (int s : bot.shard_ids) shards.push_back(s);
  emit("ready", {{"at", unix_ms()}, {"user", bot.user_id}, {"shards", shards}, {"shard_count", bot.shard_count},
                 {"guild_count", guilds.size()}, {"guilds", guilds}});
}

json::object guild_of(const json::object& d, int shard) {
  json::array channels, roles;
  if (auto* cs = d.if_contains("channels"); cs && cs->is_array())
    for (auto& c : cs->as_array())
      channels.push_back(json::object{{"id", str(c.as_object().if_contains("id"))},
                                      {"name", str(c.as_object().if_contains("name"))}});
  if (auto* rs = d.if_contains("roles"); rs && rs->is_array())
    for (auto& r : rs->as_array())
      roles.push_back(json::object{{"id", str(r.as_object().if_contains("id"))},
                                   {"name", str(r.as_object().if_contains("name"))}});
  return {{"id", str(d.if_contains("id"))}, {"name", str(d.if_contains("name"))}, {"shard", shard},
          {"channels", channels}, {"roles", roles}};
}

void on_dispatch(Bot& bot, int shard, const std::string& type, const json::object& d) {
  if (type == "READY") {
    bot.user_id = str(d.at("user").as_object().if_contains("id"));
    if (auto* app = d.if_contains("application"); app && app->is_object())
      bot.application_id = str(app->as_object().if_contains("id"));
    auto& left = bot.waiting[shard];
    if (auto* gs = d.if_contains("guilds"); gs && gs->is_array())
      for (auto& g : gs->as_array()) left.insert(str(g.as_object().if_contains("id")));
    bot.ready_shards.insert(shard);
  } else if (type == "GUILD_CREATE") {
    auto g = guild_of(d, shard);
    bot.waiting[shard].erase(std::string(g["id"].as_string()));
    bot.guilds[std::string(g["id"].as_string())] = std::move(g);
  } else if (type == "GUILD_DELETE") {
    if (!d.if_contains("unavailable")) bot.guilds.erase(str(d.if_contains("id")));
  }
  maybe_announce(bot);
}

struct Connection {
  websocket::stream<beast::tcp_stream> ws;
  std::deque<std::string> out;
  bool writing = false;
  explicit Connection(asio::any_io_executor ex) : ws(ex) {}
};

std::string heartbeat_payload(std::int64_t seq) {
  json::object hb{{"op", 1}, {"d", seq >= 0 ? json::value(seq) : json::value(nullptr)}};
  return json::serialize(hb);
}

// g++ 12 mishandles temporaries with destructors inside a co_await expression: every argument
// of an awaited call below is a named variable, moved in.

// One writer at a time on a websocket: the first caller drains what the others queue.
asio::awaitable<void> send(std::shared_ptr<Connection> c, std::string payload) {
  c->out.push_back(std::move(payload));
  if (c->writing) co_return;
  c->writing = true;
  while (!c->out.empty()) {
    std::string next = std::move(c->out.front());
    c->out.pop_front();
    c->ws.text(true);
    auto [ec, n] = co_await c->ws.async_write(asio::buffer(next), use_tuple);
    if (ec) break;
  }
  c->writing = false;
}

asio::awaitable<void> heartbeat(std::shared_ptr<Connection> c, std::shared_ptr<std::int64_t> seq, int interval_ms) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (c->ws.is_open()) {
    timer.expires_after(std::chrono::milliseconds(interval_ms));
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec || !c->ws.is_open()) co_return;
    std::string hb = heartbeat_payload(*seq);
    co_await send(c, std::move(hb));
  }
}

asio::awaitable<void> run_shard(Bot& bot, Endpoint gateway, int shard, std::shared_ptr<Connection> c) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(gateway.host, gateway.port, use_tuple);
  if (rec) throw std::runtime_error("resolving the gateway: " + rec.message());
  beast::get_lowest_layer(c->ws).expires_after(15s);
  auto [cec, ep] = co_await beast::get_lowest_layer(c->ws).async_connect(results, use_tuple);
  if (cec) throw std::runtime_error("connecting to the gateway: " + cec.message());
  beast::get_lowest_layer(c->ws).expires_never();
  c->ws.read_message_max(64 << 20);
  const std::string host = gateway.host + ":" + gateway.port, target = gateway.path + "/?v=10&encoding=json";
  auto [hec] = co_await c->ws.async_handshake(host, target, use_tuple);
  if (hec) throw std::runtime_error("websocket handshake: " + hec.message());
  auto seq = std::make_shared<std::int64_t>(-1);
  beast::flat_buffer buf;
  for (;;) {
    buf.clear();
    auto [ec, n] = co_await c->ws.async_read(buf, use_tuple);
    if (ec == websocket::error::closed) {
      if (bot.stopping) co_return;
      throw std::runtime_error("shard " + std::to_string(shard) + ": closed by the endpoint with " +
                               std::to_string(c->ws.reason().code) + " " + std::string(c->ws.reason().reason.data(), c->ws.reason().reason.size()));
    }
    if (ec) {
      if (bot.stopping) co_return;
      throw std::runtime_error("shard " + std::to_string(shard) + ": " + ec.message());
    }
    boost::system::error_code jec;
    auto msg = json::parse(beast::buffers_to_string(buf.data()), jec);
    if (jec || !msg.is_object()) throw std::runtime_error("unreadable gateway payload");
    auto& o = msg.as_object();
    const auto op = o.at("op").to_number<int>();
    if (auto* s = o.if_contains("s"); s && s->is_number()) *seq = s->to_number<std::int64_t>();
    if (op == 10) { // HELLO: IDENTIFY, then heartbeat on its interval
      const int interval = o.at("d").as_object().at("heartbeat_interval").to_number<int>();
      json::object identify{{"op", 2},
                            {"d",
                             {{"token", bot.token},
                              {"intents", kIntents},
                              {"shard", json::array{shard, bot.shard_count}},
                              {"properties", {{"os", "linux"}, {"browser", "cpp_bot"}, {"device", "cpp_bot"}}}}}};
      std::string payload = json::serialize(identify);
      co_await send(c, std::move(payload));
      asio::co_spawn(ex, heartbeat(c, seq, interval), asio::detached);
    } else if (op == 1) { // the server asks for a heartbeat now
      std::string hb = heartbeat_payload(*seq);
      co_await send(c, std::move(hb));
    } else if (op == 0) {
      const std::string type(o.at("t").as_string());
      const auto& d = o.at("d").as_object();
      on_dispatch(bot, shard, type, d);
      if (type == "READY" && !bot.commands_registered && !bot.application_id.empty()) {
        bot.commands_registered = true;
        asio::co_spawn(ex, register_commands(bot), asio::detached);
      } else if (type == "MESSAGE_CREATE") {
        const std::string id = str(d.if_contains("id")), channel = str(d.if_contains("channel_id"));
        const std::string content = str(d.if_contains("content"));
        const auto* author = d.if_contains("author");
        const std::string author_id = author && author->is_object() ? str(author->as_object().if_contains("id")) : "";
        emit("message", {{"id", id}, {"guild", str(d.if_contains("guild_id"))}, {"channel", channel},
                         {"author", author_id}, {"content", content}});
        if (content == "!ping" && author_id != bot.user_id) {
          json::object reply{{"content", "pong"}, {"message_reference", {{"message_id", id}}}};
          asio::co_spawn(ex, answer(bot, "reply", id, "/channels/" + channel + "/messages", json::serialize(reply)),
                         asio::detached);
        }
      } else if (type == "INTERACTION_CREATE") {
        const std::string id = str(d.if_contains("id")), itoken = str(d.if_contains("token"));
        json::object callback{{"type", 4}, {"data", {{"content", "pong " + id}}}};
        asio::co_spawn(ex, answer(bot, "interaction", id, "/interactions/" + id + "/" + itoken + "/callback",
                                  json::serialize(callback)),
                       asio::detached);
      }
    } else if (op == 9) {
      throw std::runtime_error("shard " + std::to_string(shard) + ": INVALID_SESSION");
    }
  }
}

asio::awaitable<void> run(Bot& bot, std::vector<std::shared_ptr<Connection>>& conns, int& exit_code) {
  auto ex = co_await asio::this_coro::executor;
  try {
    std::string target = "/gateway/bot", none;
    auto [status, info] = co_await rest(bot, http::verb::get, std::move(target), std::move(none));
    if (status != 200 || !info.is_object())
      throw std::runtime_error("GET /gateway/bot answered " + std::to_string(status) + ": " + json::serialize(info));
    auto gateway = parse_url(str(info.as_object().if_contains("url")), "ws");
    if (!gateway) throw std::runtime_error("the gateway URL is not ws:// (this example speaks to the endpoint only)");
    if (bot.shard_count == 0) bot.shard_count = info.as_object().at("shards").to_number<int>();
    if (bot.shard_ids.empty())
      for (int i = 0; i < bot.shard_count; ++i) bot.shard_ids.push_back(i);
    for (int s : bot.shard_ids) bot.waiting[s];
    for (int s : bot.shard_ids) {
      auto c = std::make_shared<Connection>(ex);
      conns.push_back(c);
      asio::co_spawn(ex, run_shard(bot, *gateway, s, c), [&bot, &exit_code](std::exception_ptr e) {
        if (!e || bot.stopping) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& err) {
          emit("error", {{"where", "gateway"}, {"message", err.what()}});
        }
        exit_code = 1;
        bot.stopping = true;
      });
    }
  } catch (const std::exception& e) {
    emit("error", {{"where", "login"}, {"message", e.what()}});
    exit_code = 1;
  }
}

} // namespace

int main() {
  Bot bot;
  bot.token = env("DISCORD_TOKEN");
  if (bot.token.empty()) {
    std::fprintf(stderr, "DISCORD_TOKEN is not set\n");
    return 2;
  }
  const std::string api_url = env("DISCORD_API_URL", "http://127.0.0.1:8000/api/v10");
  auto api = parse_url(api_url, "http");
  if (!api) {
    std::fprintf(stderr, "DISCORD_API_URL must be the endpoint's http:// URL, not %s\n", api_url.c_str());
    return 2;
  }
  bot.api = *api;
  bot.shard_ids = parse_shard_ids(env("SHARD_IDS"));
  if (!env("SHARD_COUNT").empty()) bot.shard_count = std::stoi(env("SHARD_COUNT"));
  json::array ids;
  for (int s : bot.shard_ids) ids.push_back(s);
  emit("starting", {{"at", unix_ms()}, {"api", api_url}, {"shard_ids", ids}, {"shard_count", bot.shard_count}});

  asio::io_context io;
  int exit_code = 0;
  std::vector<std::shared_ptr<Connection>> conns;
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    emit("stopping");
    bot.stopping = true;
    for (auto& c : conns)
      if (c->ws.is_open()) c->ws.async_close(websocket::close_code::normal, [](const boost::system::error_code&) {});
    // Whatever is still in flight (a REST call) gets a moment, then the loop ends.
    auto t = std::make_shared<asio::steady_timer>(io, 2s);
    t->async_wait([&io, t](const boost::system::error_code&) { io.stop(); });
  });
  asio::co_spawn(io, run(bot, conns, exit_code), asio::detached);
  // A gateway failure sets `stopping` with exit code 1: the loop ends with it.
  asio::steady_timer watch(io);
  std::function<void()> check = [&] {
    if (bot.stopping && exit_code != 0) return io.stop();
    watch.expires_after(200ms);
    watch.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) check();
    });
  };
  check();
  io.run();
  return exit_code;
}
