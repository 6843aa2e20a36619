#include "admin/admin_commands.hpp"

#include "admin/cluster_report.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"
#include "link/hub_link.hpp"
#include "net/tls_context.hpp"
#include "protocol/messages.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <vector>

namespace shardline::admin {

namespace json = boost::json;
namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

using Body = std::function<asio::awaitable<int>(std::shared_ptr<link::HubLink>)>;

asio::awaitable<int> with_link(std::shared_ptr<link::HubLink> link, Body body) {
  auto err = co_await link->connect_once();
  if (!err.empty()) {
    std::cerr << err << "\n";
    co_return 1;
  }
  link->serve();
  int rc = co_await body(link);
  link->stop();
  co_return rc;
}

// Connects as an admin, runs `body`, returns its exit code.
int run_admin(const Config& cfg, Body body) {
  asio::io_context io;
  auto tls = net::make_client_tls(cfg);
  link::LinkOptions o;
  // A hub listening on every interface is reached on loopback from the same machine.
  o.host = cfg.ipc_host == "0.0.0.0" ? "127.0.0.1" : cfg.ipc_host == "::" ? "::1" : cfg.ipc_host;
  o.port = cfg.ipc_port;
  o.secret = cfg.ipc_secret;
  o.name = "admin-" + random_hex(4);
  o.admin = true;
  o.reconnect = false;
  o.connect_timeout = std::chrono::seconds(5);
  o.tls = tls.get();
  auto link = link::HubLink::create(io, o, nullptr);
  int rc = 1;
  asio::co_spawn(io, with_link(link, std::move(body)), [&rc](std::exception_ptr e, int r) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::cerr << "error: " << ex.what() << "\n";
      }
      rc = 1;
    } else {
      rc = r;
    }
  });
  io.run();
  return rc;
}

void print_json(const json::value& v) { std::cout << json::serialize(v) << "\n"; }

json::value result_of(const link::RequestResult& r) {
  if (!r.ok) return json::object{{"error", r.error}};
  if (auto* v = r.data.if_contains("result")) return *v;
  return r.data;
}

} // namespace

// The command bodies are free coroutines taking their arguments by value: GCC 12 miscompiles
// coroutine lambdas with captures.
asio::awaitable<int> clusters_body(std::shared_ptr<link::HubLink> link, AdminOptions opt) {
  auto report = co_await gather_report(link.get(), std::chrono::milliseconds(opt.timeout_ms), std::nullopt);
  if (opt.json) print_json(to_json(report));
  else std::cout << render_text(report);
  co_return 0;
}

int clusters_command(const Config& cfg, const AdminOptions& opt) {
  return run_admin(cfg, [opt](auto link) { return clusters_body(std::move(link), opt); });
}

asio::awaitable<int> ipc_status_body(std::shared_ptr<link::HubLink> link, Config cfg, AdminOptions opt) {
    auto hub = co_await link->request("hub_status_request", {}, link->server_name(),
                                      std::chrono::milliseconds(opt.timeout_ms));
    auto data = hub.ok ? hub.data : json::object{};
    if (opt.json) print_json(ipc_status_json(cfg, data));
    else std::cout << render_ipc_status_text(cfg, data);
    co_return hub.ok ? 0 : 1;
}

int ipc_status_command(const Config& cfg, const AdminOptions& opt) {
  return run_admin(cfg, [cfg, opt](auto link) { return ipc_status_body(std::move(link), cfg, opt); });
}

asio::awaitable<int> broadcast_body(std::shared_ptr<link::HubLink> link, Config cfg, AdminOptions opt,
                                    std::string message);

int broadcast_command(const Config& cfg, const AdminOptions& opt, const std::string& message) {
  if (message.empty() || utf8_length(message) > 500) {
    std::cerr << fmt::format("broadcast: the message must be 1 to 500 characters (this one has {})\n",
                             utf8_length(message));
    return 2;
  }
  return run_admin(cfg, [cfg, opt, message](auto link) { return broadcast_body(std::move(link), cfg, opt, message); });
}

asio::awaitable<int> broadcast_body(std::shared_ptr<link::HubLink> link, Config cfg, AdminOptions opt,
                                    std::string message) {
    const char* user = std::getenv("USER");
    json::object data{{"message", message}, {"author", fmt::format("{} (shardline cli)", user ? user : "operator")}};
    std::uint64_t owner = 0;
    if (!cfg.bot_owner_id.empty()) owner = std::strtoull(cfg.bot_owner_id.c_str(), nullptr, 10);
    data["author_id"] = owner; // a number, as the seed's version-1 field is
    link->send("broadcast_message", std::move(data), "all");
    // The hub handles a connection's frames in order: once it answers this, the broadcast
    // has been routed to every cluster.
    auto hub = co_await link->request("hub_status_request", {}, link->server_name(),
                                      std::chrono::milliseconds(opt.timeout_ms));
    std::size_t clusters = hub.ok ? cluster_names(hub.data).size() : 0;
    if (opt.json) print_json(json::object{{"sent", hub.ok}, {"clusters", clusters}});
    else if (hub.ok) std::cout << fmt::format("Broadcast sent to {} cluster(s)\n", clusters);
    else std::cout << "Broadcast sent; the hub did not confirm it in time\n";
    co_return hub.ok ? 0 : 1;
}

// A job the supervisor runs (rolling restart, reshard): how to start it, and how to read its
// progress out of the supervisor's status.
struct SupervisorJob {
  std::string what;        // "restart", "reshard": the prefix of error messages
  std::string status_key;  // its entry in the status: "rolling", "reshard"
  // Prints what changed since the last call; `shown` is the job's own memory between calls.
  std::function<void(const json::object& job, const json::object& status, std::string& shown)> progress;
  std::function<std::string(const json::object& status)> done_line;
};

// Sends `start` to the supervisor, then follows the job's status every 250 ms until it ends or
// `timeout_s` passes. 0 when it ended without an error.
asio::awaitable<int> run_supervisor_job(std::shared_ptr<link::HubLink> link, AdminOptions opt, json::object start,
                                        SupervisorJob job, int timeout_s) {
  auto timeout = std::chrono::milliseconds(opt.timeout_ms);
  auto r = co_await link->request("launch_request", std::move(start), link->server_name(), timeout);
  if (!r.ok || r.data.contains("error")) {
    auto why = r.ok ? protocol::get_string(r.data, "error")
                    : r.error + (r.data.contains("message") ? ": " + protocol::get_string(r.data, "message") : "");
    std::cerr << job.what << ": " << why << "\n";
    co_return 1;
  }
  std::string shown;
  job.progress(json::object{}, r.data, shown); // the start's own answer
  asio::steady_timer wait(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    wait.expires_after(std::chrono::milliseconds(250));
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    json::object q;
    q["action"] = "status";
    auto st = co_await link->request("launch_request", std::move(q), link->server_name(), timeout);
    if (!st.ok) continue;
    auto* entry = st.data.if_contains(job.status_key);
    if (!entry || !entry->is_object()) continue;
    auto& jo = entry->get_object();
    job.progress(jo, st.data, shown);
    auto* running = jo.if_contains("running");
    if (running && running->is_bool() && !running->get_bool()) {
      auto error = protocol::get_string(jo, "error");
      if (!error.empty()) {
        std::cerr << job.what << ": stopped: " << error << "\n";
        co_return 1;
      }
      std::cout << job.done_line(st.data) << "\n";
      co_return 0;
    }
  }
  std::cerr << fmt::format("{}: not done within {} s (it goes on in the supervisor)\n", job.what, timeout_s);
  co_return 1;
}

int restart_command(const Config& cfg, const AdminOptions& opt, bool rolling, int timeout_s) {
  if (!rolling) {
    std::cerr << "restart: only --rolling is offered (one cluster at a time, sessions resumed)\n";
    return 2;
  }
  json::object start{{"action", "restart"}, {"rolling", true}};
  SupervisorJob job;
  job.what = "restart";
  job.status_key = "rolling";
  // One line per cluster replaced.
  job.progress = [](const json::object& jo, const json::object& status, std::string& shown) {
    if (jo.empty()) {
      std::cout << fmt::format("Rolling restart of {} cluster(s) started\n", protocol::get_number(status, "clusters"));
      shown = "0";
      return;
    }
    auto done = protocol::get_number(jo, "done");
    if (done > std::stod(shown)) {
      shown = fmt::format("{}", done);
      std::cout << fmt::format("  {}/{} cluster(s) replaced\n", done, protocol::get_number(jo, "total"));
    }
  };
  job.done_line = [](const json::object& status) {
    double skipped = 0;
    if (auto* r = status.if_contains("rolling"); r && r->is_object()) skipped = protocol::get_number(r->get_object(), "skipped");
    return skipped > 0 ? fmt::format("Rolling restart done ({} cluster(s) not running were skipped)", skipped)
                       : std::string("Rolling restart done");
  };
  return run_admin(cfg, [opt, start, job, timeout_s](auto link) {
    return run_supervisor_job(std::move(link), opt, start, job, timeout_s);
  });
}

int reshard_command(const Config& cfg, const AdminOptions& opt, std::uint32_t shards, int timeout_s) {
  json::object start{{"action", "reshard"}, {"shards", shards}};
  SupervisorJob job;
  job.what = "reshard";
  job.status_key = "reshard";
  // One line per phase.
  job.progress = [shards](const json::object& jo, const json::object& status, std::string& shown) {
    if (jo.empty()) {
      std::cout << fmt::format("Resharding from {} to {} shards\n", protocol::get_number(status, "from"), shards);
      return;
    }
    auto phase = protocol::get_string(jo, "phase");
    if (!phase.empty() && phase != shown && phase != "done") std::cout << "  " << (shown = phase) << "\n";
  };
  job.done_line = [](const json::object& status) {
    return fmt::format("Reshard done: {} shards", protocol::get_number(status, "shard_count"));
  };
  return run_admin(cfg, [opt, start, job, timeout_s](auto link) {
    return run_supervisor_job(std::move(link), opt, start, job, timeout_s);
  });
}

namespace {

// One preset query's answers, by cluster.
struct QueryAnswers {
  json::object results, errors;
  json::array missing;
};

asio::awaitable<QueryAnswers> run_query_once(std::shared_ptr<link::HubLink> link, std::string preset,
                                             std::string target, std::chrono::milliseconds timeout) {
  QueryAnswers a;
  // Built outside the co_await: GCC 12 rejects initializer lists inside co_await operands.
  json::object request;
  request["query"] = preset;
  if (target == "all") {
    auto r = co_await link->request_all("eval_request", std::move(request), timeout);
    for (auto& [name, reply] : r.replies) {
      if (reply.ok) a.results[name] = result_of(reply);
      else a.errors[name] = reply.error;
    }
    for (auto& m : r.missing) a.missing.emplace_back(m);
  } else {
    auto r = co_await link->request("eval_request", std::move(request), target, timeout);
    if (r.ok) a.results[r.from] = result_of(r);
    else if (r.error == "timeout") a.missing.emplace_back(target);
    else a.errors[r.from.empty() ? target : r.from] = r.error;
  }
  co_return a;
}

// `--repeat N`: the same query N times, one after another on one connection, timed from the
// request's send to the last answer (or the deadline): what a cluster-wide query costs through
// the hub, without the tool's own start-up and authentication.
json::object latency_summary(std::vector<double> us, std::size_t incomplete) {
  std::sort(us.begin(), us.end());
  auto at = [&us](double q) {
    return us[std::min(us.size() - 1, static_cast<std::size_t>(q * static_cast<double>(us.size())))];
  };
  double sum = 0;
  for (double v : us) sum += v;
  auto round1 = [](double v) { return std::round(v * 10) / 10; };
  return json::object{{"count", us.size()},           {"incomplete", incomplete},
                      {"p50_us", round1(at(0.50))},  {"p99_us", round1(at(0.99))},
                      {"min_us", round1(us.front())}, {"max_us", round1(us.back())},
                      {"mean_us", round1(sum / static_cast<double>(us.size()))}};
}

asio::awaitable<int> query_body(std::shared_ptr<link::HubLink> link, AdminOptions opt, std::string preset,
                                std::string target, int repeat) {
    auto timeout = std::chrono::milliseconds(opt.timeout_ms);
    QueryAnswers a;
    std::vector<double> latencies_us;
    latencies_us.reserve(static_cast<std::size_t>(repeat));
    std::size_t incomplete = 0;
    for (int i = 0; i < repeat; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      a = co_await run_query_once(link, preset, target, timeout);
      latencies_us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      if (!a.missing.empty() || !a.errors.empty()) ++incomplete;
    }
    auto& [results, errors, missing] = a;
    int rc = (target != "all" && results.empty()) ? 1 : 0;
    if (opt.json) {
      json::object out{{"query", preset}, {"target", target}, {"results", results}, {"missing", missing}};
      if (!errors.empty()) out["errors"] = errors;
      if (repeat > 1) out["latency"] = latency_summary(std::move(latencies_us), incomplete);
      print_json(out);
      co_return rc;
    }
    for (auto& [name, v] : results) std::cout << fmt::format("{}: {}\n", std::string(name), json::serialize(v));
    for (auto& [name, v] : errors)
      std::cout << fmt::format("{}: error {}\n", std::string(name), json::serialize(v));
    for (auto& m : missing)
      std::cout << fmt::format("{}: no answer within {} ms\n", std::string(m.get_string()), opt.timeout_ms);
    if (repeat > 1) {
      auto l = latency_summary(std::move(latencies_us), incomplete);
      std::cout << fmt::format("{} queries: p50 {:.1f} µs, p99 {:.1f} µs, min {:.1f} µs, max {:.1f} µs, {} incomplete\n",
                               repeat, l["p50_us"].to_number<double>(), l["p99_us"].to_number<double>(),
                               l["min_us"].to_number<double>(), l["max_us"].to_number<double>(), incomplete);
    }
    co_return rc;
}

} // namespace

int query_command(const Config& cfg, const AdminOptions& opt, const std::string& preset, const std::string& target,
                  int repeat) {
  return run_admin(cfg, [opt, preset, target, repeat](auto link) {
    return query_body(std::move(link), opt, preset, target, repeat);
  });
}

} // namespace shardline::admin
