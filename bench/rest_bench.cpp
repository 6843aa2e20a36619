// rest_bench: open-loop load of Discord REST calls, for the REST coordination benchmark
// (bench/rest_coordinator_run.sh, issue 15).
//
// Requests are scheduled on a timetable, request k at t0 + k / rate, whatever the answers do
// (open loop): a slow answer does not lower the offered rate, and each request's latency runs
// from its scheduled time to the last byte of its answer, so time spent waiting for a free
// connection or behind a late timer is counted, not hidden. Request k goes to thread k mod T
// (each thread has its own io_context) and to target (k / T) mod N; every thread keeps
// keep-alive HTTP/1.1 connections to every target, opens more when all are busy (up to
// --max-conns per target) and queues behind them beyond that.
//
// The mix is a fixed pattern of the weights given, and each route's keys (guilds, or their
// channels: the simulator's #general of a guild has the guild's id plus one) are taken in turn,
// so every rate-limit bucket (route group and major parameter) gets its requests evenly
// spaced: rate x weight / (sum of weights) / keys per second each.
//
//   message   POST /channels/{guild+1}/messages                       bucket messages, per channel
//   reaction  PUT /channels/{guild+1}/messages/{id}/reactions/👍/@me  bucket reactions, per channel
//   member    PATCH /guilds/{guild}/members/{user}                    bucket member, per guild
//   ban       PUT then DELETE /guilds/{guild}/bans/{user}, in turn    bucket bans, per guild
//
//   rest_bench --targets http://127.0.0.1:P/api/v10[,http://...] --guilds-file F
//              [--rate 1000 --duration 10 --warmup 2 --threads 2 --conns 4 --max-conns 256
//               --mix message=4,reaction=2,member=2,ban=2 --keys 100 --token sim-token
//               --user 175928847299117063 --timeout 10 --timeline FILE]
//
// Prints one JSON object on stdout (progress goes to stderr): what was offered and completed
// over the measured window (requests scheduled in [warmup, warmup + duration)), the answers by
// status, latency p50/p90/p99/p99.9/max, how late the sends left (timer_lag: the thread woke
// late; send_lag: that and the wait for a connection), and the client's own CPU.

#include "bench_common.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using bench::steady;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

enum class Route { message, reaction, member, ban };
constexpr std::array<const char*, 4> kRouteNames{"message", "reaction", "member", "ban"};

struct Target {
  std::string host, port, base; // base: the path before the route, "/api/v10"
};

Target parse_target(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw std::runtime_error("target '" + url + "' is not an http:// URL");
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("target '" + url + "' has no port");
  Target t{hostport.substr(0, colon), hostport.substr(colon + 1), slash == std::string::npos ? "" : rest.substr(slash)};
  while (!t.base.empty() && t.base.back() == '/') t.base.pop_back();
  return t;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= s.size()) {
    auto next = s.find(sep, at);
    if (next == std::string::npos) next = s.size();
    if (next > at) out.push_back(s.substr(at, next - at));
    at = next + 1;
  }
  return out;
}

// The mix as a repeating pattern of routes, each route's slots spread over the pattern (smooth
// weighted round robin), and for every slot its rank among its route's slots.
struct Mix {
  std::vector<Route> pattern;
  std::vector<std::uint64_t> rank;         // of pattern[i] among the same route's slots
  std::array<std::uint64_t, 4> per_pattern{}; // slots of each route in one pattern

  static Mix parse(const std::string& text) {
    std::array<long, 4> weight{};
    for (auto& item : split(text, ',')) {
      auto eq = item.find('=');
      if (eq == std::string::npos) throw std::runtime_error("--mix item '" + item + "' is not NAME=WEIGHT");
      auto name = item.substr(0, eq);
      long w = std::strtol(item.c_str() + eq + 1, nullptr, 10);
      std::size_t r = 0;
      while (r < kRouteNames.size() && name != kRouteNames[r]) ++r;
      if (r == kRouteNames.size()) throw std::runtime_error("--mix: unknown route '" + name + "' (message, reaction, member, ban)");
      if (w < 0 || w > 1000) throw std::runtime_error("--mix: weight of " + name + " is not 0-1000");
      weight[r] = w;
    }
    long total = 0;
    for (long w : weight) total += w;
    if (total == 0) throw std::runtime_error("--mix: every weight is 0");
    Mix m;
    std::array<long, 4> credit{};
    for (long slot = 0; slot < total; ++slot) {
      std::size_t best = 0;
      for (std::size_t r = 0; r < 4; ++r) {
        credit[r] += weight[r];
        if (credit[r] > credit[best]) best = r;
      }
      credit[best] -= total;
      m.pattern.push_back(static_cast<Route>(best));
      m.rank.push_back(m.per_pattern[best]++);
    }
    return m;
  }
};

struct Options {
  std::vector<Target> targets;
  std::vector<std::string> guilds;
  Mix mix;
  double rate = 1000, duration = 10, warmup = 2, timeout = 10;
  int threads = 2, conns = 4, max_conns = 256;
  std::string token = "sim-token", user = "175928847299117063";
  std::string timeline; // a file for latency by 100 ms slice of the timetable (diagnostics)
};

// Request k of the timetable: its route, the key it uses and the request itself.
http::request<http::string_body> build_request(const Options& o, const Target& t, std::uint64_t k, Route& route) {
  const auto& m = o.mix;
  const auto slot = k % m.pattern.size();
  route = m.pattern[slot];
  // The how-many-th request of this route this one is, and so its key: keys in turn.
  const std::uint64_t nth = (k / m.pattern.size()) * m.per_pattern[static_cast<std::size_t>(route)] + m.rank[slot];
  const auto& guild = o.guilds[nth % o.guilds.size()];
  const std::uint64_t round = nth / o.guilds.size();
  const std::string channel = std::to_string(std::stoull(guild) + 1);
  http::verb verb = http::verb::get;
  std::string path, body;
  switch (route) {
  case Route::message:
    verb = http::verb::post;
    path = "/channels/" + channel + "/messages";
    body = R"({"content":"rest bench"})";
    break;
  case Route::reaction:
    verb = http::verb::put;
    path = "/channels/" + channel + "/messages/" + o.user + "/reactions/%F0%9F%91%8D/@me";
    break;
  case Route::member:
    verb = http::verb::patch;
    path = "/guilds/" + guild + "/members/" + o.user;
    body = R"({"nick":"rest bench"})";
    break;
  case Route::ban:
    // A ban and its lifting in turn: the simulator's remembered bans stay bounded.
    verb = round % 2 == 0 ? http::verb::put : http::verb::delete_;
    path = "/guilds/" + guild + "/bans/" + o.user;
    break;
  }
  http::request<http::string_body> req{verb, t.base + path, 11};
  req.set(http::field::host, t.host + ":" + t.port);
  req.set(http::field::authorization, "Bot " + o.token);
  req.set(http::field::user_agent, "DiscordBot (shardline rest_bench, 1)");
  req.keep_alive(true);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

struct Conn {
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  explicit Conn(asio::io_context& io) : stream(io) {}
};

// One thread's share of the timetable: its connections, its samples.
class Worker {
public:
  Worker(const Options& o, int index, steady::time_point t0)
      : o_(o), index_(index), t0_(t0), pools_(o.targets.size()) {}

  void run() {
    asio::co_spawn(io_, schedule(this), [this](std::exception_ptr e) { note_failure(e); });
    io_.run();
  }

  // Samples of the measured window, and counters.
  std::vector<double> latency_us, lag_us;
  std::vector<double> timer_lag_us;  // how late this thread woke for a measured request
  std::vector<double> answered_at_s; // since t0, of every answer to a measured request
  std::map<unsigned, std::uint64_t> statuses;
  std::array<std::uint64_t, 4> by_route{};
  std::uint64_t sent = 0, measured = 0, errors = 0, opened = 0, failures = 0;
  std::string first_error;

private:
  struct Waiter {
    asio::steady_timer timer;
    std::unique_ptr<Conn> conn;
    explicit Waiter(asio::io_context& io) : timer(io) {}
  };
  struct Pool {
    std::vector<std::unique_ptr<Conn>> idle;
    std::deque<std::shared_ptr<Waiter>> waiters;
    int open = 0;
  };

  void note_failure(std::exception_ptr e) {
    if (!e) return;
    ++failures;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      if (first_error.empty()) first_error = ex.what();
    }
  }

  static asio::awaitable<std::unique_ptr<Conn>> connect(Worker* w, std::size_t target) {
    const auto& t = w->o_.targets[target];
    auto c = std::make_unique<Conn>(w->io_);
    tcp::resolver resolver(w->io_);
    auto [rec, eps] = co_await resolver.async_resolve(t.host, t.port, use_tuple);
    if (rec) co_return nullptr;
    c->stream.expires_after(std::chrono::seconds(5));
    auto [cec, ep] = co_await c->stream.async_connect(eps, use_tuple);
    if (cec) co_return nullptr;
    c->stream.socket().set_option(tcp::no_delay(true));
    ++w->opened;
    co_return c;
  }

  // A connection to `target`: an idle one, a new one while under --max-conns, else the next
  // one released (null at the deadline or when a connect fails).
  static asio::awaitable<std::unique_ptr<Conn>> take(Worker* w, std::size_t target, steady::time_point deadline) {
    auto& pool = w->pools_[target];
    if (!pool.idle.empty()) {
      auto c = std::move(pool.idle.back());
      pool.idle.pop_back();
      co_return c;
    }
    if (pool.open < w->o_.max_conns) {
      ++pool.open;
      auto c = co_await connect(w, target);
      if (!c) --pool.open;
      co_return c;
    }
    auto waiter = std::make_shared<Waiter>(w->io_);
    pool.waiters.push_back(waiter);
    waiter->timer.expires_at(deadline);
    co_await waiter->timer.async_wait(use_tuple);
    co_return std::move(waiter->conn);
  }

  // A connection taken from `target`'s pool comes back: to the first waiter still waiting,
  // else to the idle ones; null when it was closed (it frees its place under --max-conns).
  void give_back(std::size_t target, std::unique_ptr<Conn> c) {
    auto& pool = pools_[target];
    if (!c) {
      --pool.open;
      return;
    }
    while (!pool.waiters.empty()) {
      auto waiter = std::move(pool.waiters.front());
      pool.waiters.pop_front();
      if (waiter->timer.expiry() <= steady::now()) continue; // it gave up already
      waiter->conn = std::move(c);
      waiter->timer.cancel();
      return;
    }
    pool.idle.push_back(std::move(c));
  }

  static asio::awaitable<void> one_request(Worker* w, std::uint64_t k, steady::time_point due, bool measured) {
    const auto& o = w->o_;
    const std::size_t target = (k / static_cast<std::uint64_t>(o.threads)) % o.targets.size();
    const auto deadline = due + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.timeout));
    Route route{};
    auto req = build_request(o, o.targets[target], k, route);
    auto conn = co_await take(w, target, deadline);
    const bool held = conn != nullptr; // a place under --max-conns is ours to give back
    const auto started = steady::now();
    unsigned status = 0;
    bool keep = false;
    if (conn) {
      conn->stream.expires_at(deadline);
      auto [wec, wn] = co_await http::async_write(conn->stream, req, use_tuple);
      if (!wec) {
        http::response_parser<http::string_body> parser;
        parser.body_limit(1 << 20);
        auto [rec, rn] = co_await http::async_read(conn->stream, conn->buf, parser, use_tuple);
        if (!rec) {
          status = parser.get().result_int();
          keep = parser.get().keep_alive();
        }
      }
      if (!keep) conn.reset();
    }
    const auto done = steady::now();
    if (held) w->give_back(target, std::move(conn));
    ++w->by_route[static_cast<std::size_t>(route)];
    if (!measured) co_return;
    if (status == 0) {
      ++w->errors;
      co_return;
    }
    ++w->statuses[status];
    w->latency_us.push_back(std::chrono::duration<double, std::micro>(done - due).count());
    w->lag_us.push_back(std::chrono::duration<double, std::micro>(started - due).count());
    w->answered_at_s.push_back(std::chrono::duration<double>(done - w->t0_).count());
  }

  // The timetable: this thread's requests k = index, index + T, ... sent at t0 + k / rate.
  static asio::awaitable<void> schedule(Worker* w) {
    const auto& o = w->o_;
    // Connections opened before the clock starts, so the first requests do not pay for them.
    for (std::size_t t = 0; t < o.targets.size(); ++t)
      for (int i = 0; i < o.conns; ++i) {
        ++w->pools_[t].open;
        auto c = co_await connect(w, t);
        if (!c) throw std::runtime_error("cannot connect to " + o.targets[t].host + ":" + o.targets[t].port);
        w->give_back(t, std::move(c));
      }
    asio::steady_timer timer(w->io_);
    timer.expires_at(w->t0_);
    co_await timer.async_wait(use_tuple);
    const auto total = static_cast<std::uint64_t>((o.warmup + o.duration) * o.rate);
    const auto first_measured = static_cast<std::uint64_t>(o.warmup * o.rate);
    for (auto k = static_cast<std::uint64_t>(w->index_); k < total; k += static_cast<std::uint64_t>(o.threads)) {
      const auto due = w->t0_ + std::chrono::duration_cast<steady::duration>(
                                    std::chrono::duration<double>(static_cast<double>(k) / o.rate));
      timer.expires_at(due);
      co_await timer.async_wait(use_tuple);
      const bool measured = k >= first_measured;
      ++w->sent;
      if (measured) {
        ++w->measured;
        w->timer_lag_us.push_back(std::chrono::duration<double, std::micro>(steady::now() - due).count());
      }
      ++w->outstanding_;
      asio::co_spawn(w->io_, one_request(w, k, due, measured), [w](std::exception_ptr e) {
        --w->outstanding_;
        w->note_failure(e);
      });
    }
    // Every request has its deadline (--timeout after its due time): wait for the last answers
    // within it, then drop the connections.
    const auto last = w->t0_ + std::chrono::duration_cast<steady::duration>(
                                   std::chrono::duration<double>(o.warmup + o.duration + o.timeout + 1));
    while (w->outstanding_ > 0 && steady::now() < last) {
      timer.expires_after(std::chrono::milliseconds(5));
      co_await timer.async_wait(use_tuple);
    }
    for (auto& pool : w->pools_) pool.idle.clear();
    if (w->outstanding_ > 0) w->io_.stop();
  }

  const Options& o_;
  const int index_;
  const steady::time_point t0_;
  asio::io_context io_{1};
  std::vector<Pool> pools_;
  std::uint64_t outstanding_ = 0; // requests spawned and not finished
};

Options parse(int argc, char** argv) {
  bench::Args a(argc, argv, 1);
  Options o;
  for (auto& url : split(a.get("targets", ""), ',')) o.targets.push_back(parse_target(url));
  if (o.targets.empty()) throw std::runtime_error("--targets: at least one http://HOST:PORT/api/v10");
  const auto file = a.get("guilds-file", "");
  std::ifstream in(file);
  if (!in) throw std::runtime_error("--guilds-file: cannot read '" + file + "'");
  const long keys = a.num("keys", 100);
  for (std::string line; std::getline(in, line) && static_cast<long>(o.guilds.size()) < keys;)
    if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos) o.guilds.push_back(line);
  if (static_cast<long>(o.guilds.size()) < keys)
    throw std::runtime_error("--guilds-file holds " + std::to_string(o.guilds.size()) + " guild ids, --keys asks for " +
                             std::to_string(keys));
  o.mix = Mix::parse(a.get("mix", "message=4,reaction=2,member=2,ban=2"));
  o.rate = a.real("rate", o.rate);
  o.duration = a.real("duration", o.duration);
  o.warmup = a.real("warmup", o.warmup);
  o.timeout = a.real("timeout", o.timeout);
  o.threads = static_cast<int>(a.num("threads", o.threads));
  o.conns = static_cast<int>(a.num("conns", o.conns));
  o.max_conns = static_cast<int>(a.num("max-conns", o.max_conns));
  o.token = a.get("token", o.token);
  o.user = a.get("user", o.user);
  o.timeline = a.get("timeline", "");
  if (o.rate <= 0 || o.rate > 100000) throw std::runtime_error("--rate: 0 to 100,000 requests/s");
  if (o.duration <= 0 || o.duration > 600 || o.warmup < 0 || o.warmup > 60 || o.timeout <= 0 || o.timeout > 60)
    throw std::runtime_error("--duration 0-600, --warmup 0-60, --timeout 0-60 seconds");
  if (o.threads < 1 || o.threads > 16 || o.conns < 0 || o.conns > 64 || o.max_conns < 1 || o.max_conns > 4096 ||
      o.conns > o.max_conns)
    throw std::runtime_error("--threads 1-16, --conns 0-64 and at most --max-conns (1-4096)");
  return o;
}

} // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    // A second to open the connections, then the clock starts for every thread at once.
    const auto t0 = steady::now() + std::chrono::seconds(1);
    const double cpu0 = bench::self_cpu_s();
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < o.threads; ++i) workers.push_back(std::make_unique<Worker>(o, i, t0));
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
    for (auto& t : threads) t.join();
    const double cpu = bench::self_cpu_s() - cpu0;
    const double wall = bench::since_s(t0);

    std::vector<double> lat, lag, timer_lag;
    std::map<long, std::vector<double>> slices; // 100 ms of the timetable -> latencies (µs)
    std::map<unsigned, std::uint64_t> statuses;
    std::array<std::uint64_t, 4> by_route{};
    std::uint64_t sent = 0, measured = 0, errors = 0, opened = 0, failures = 0, in_window = 0;
    std::string first_error;
    const double window_end = o.warmup + o.duration;
    for (auto& w : workers) {
      lat.insert(lat.end(), w->latency_us.begin(), w->latency_us.end());
      lag.insert(lag.end(), w->lag_us.begin(), w->lag_us.end());
      timer_lag.insert(timer_lag.end(), w->timer_lag_us.begin(), w->timer_lag_us.end());
      for (auto& [s, n] : w->statuses) statuses[s] += n;
      for (std::size_t r = 0; r < 4; ++r) by_route[r] += w->by_route[r];
      sent += w->sent;
      measured += w->measured;
      errors += w->errors;
      opened += w->opened;
      failures += w->failures;
      if (first_error.empty()) first_error = w->first_error;
      for (double at : w->answered_at_s) in_window += at >= o.warmup && at < window_end;
      for (std::size_t i = 0; i < w->latency_us.size(); ++i)
        slices[static_cast<long>((w->answered_at_s[i] - w->latency_us[i] * 1e-6) * 10)].push_back(w->latency_us[i]);
    }
    std::uint64_t ok = 0, limited = 0, other = 0;
    std::string status_text;
    for (auto& [s, n] : statuses) {
      (s >= 200 && s < 300 ? ok : s == 429 ? limited : other) += n;
      status_text += (status_text.empty() ? "" : ",") + std::to_string(s) + ":" + std::to_string(n);
    }
    const std::uint64_t answered = ok + limited + other;
    std::sort(lag.begin(), lag.end());
    std::sort(timer_lag.begin(), timer_lag.end());
    bench::Result r;
    r.str("scenario", "rest_open_loop")
        .num("targets", static_cast<double>(o.targets.size()))
        .num("offered_per_sec", o.rate)
        .num("duration_s", o.duration)
        .num("warmup_s", o.warmup)
        .num("threads", o.threads)
        .num("keys", static_cast<double>(o.guilds.size()))
        .num("sent", static_cast<double>(sent))
        .num("measured", static_cast<double>(measured))
        .num("answered", static_cast<double>(answered))
        // Answers that arrived within the measured window, per second of it (open loop: equal
        // to the offered rate when the path keeps up).
        .num("completed_per_sec", static_cast<double>(in_window) / o.duration)
        .num("status_2xx", static_cast<double>(ok))
        .num("status_429", static_cast<double>(limited))
        .num("status_other", static_cast<double>(other))
        .str("statuses", status_text)
        .num("errors", static_cast<double>(errors))
        .num("unanswered", static_cast<double>(measured - answered - errors))
        .num("connections_opened", static_cast<double>(opened));
    for (std::size_t i = 0; i < 4; ++i) r.num(std::string("sent_") + kRouteNames[i], static_cast<double>(by_route[i]));
    bench::add_latency(r, std::move(lat));
    r.num("send_lag_p50_us", bench::percentile(lag, 50))
        .num("send_lag_p99_us", bench::percentile(lag, 99))
        .num("send_lag_max_us", lag.empty() ? 0 : lag.back())
        // The client's own lateness: its thread woke this long after a request's time (a busy
        // machine); the send lag adds waiting for a free or new connection.
        .num("timer_lag_p99_us", bench::percentile(timer_lag, 99))
        .num("client_cpu_cores", wall > 0 ? cpu / wall : 0)
        .num("failures", static_cast<double>(failures));
    if (!first_error.empty()) r.str("first_failure", first_error);
    r.print();
    if (!o.timeline.empty()) {
      std::ofstream tl(o.timeline);
      tl << "# scheduled_s requests p50_us p99_us max_us\n";
      for (auto& [slice, us] : slices) {
        std::sort(us.begin(), us.end());
        tl << static_cast<double>(slice) / 10 << ' ' << us.size() << ' ' << bench::percentile(us, 50) << ' '
           << bench::percentile(us, 99) << ' ' << us.back() << '\n';
      }
    }
    std::fprintf(stderr, "rest_bench: %llu measured, %llu answered (%llu 2xx, %llu 429, %llu other), %llu errors\n",
                 static_cast<unsigned long long>(measured), static_cast<unsigned long long>(answered),
                 static_cast<unsigned long long>(ok), static_cast<unsigned long long>(limited),
                 static_cast<unsigned long long>(other), static_cast<unsigned long long>(errors));
    return failures == 0 && errors == 0 && answered == measured ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rest_bench: %s\n", e.what());
    return 2;
  }
}
