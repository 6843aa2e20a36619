#include "admin/admin_commands.hpp"

#include "admin/cluster_report.hpp"
#include "core/crypto.hpp"
#include "core/exit_codes.hpp"
#include "core/text.hpp"
#include "link/hub_link.hpp"
#include "net/tls_context.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <vector>

namespace shardline::admin {

namespace json = boost::json;

namespace {

using Body = std::function<asio::awaitable<int>(std::shared_ptr<link::HubLink>)>;

asio::awaitable<int> with_link(std::shared_ptr<link::HubLink> link, Body body) {
  auto linked = co_await link->connect_once();
  if (!linked) {
    std::cerr << linked.error().message << "\n";
    co_return kExitFailure;
  }
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
  // With legacy auth on, a tool talks to the seed's server too (as shardline-admin-...).
  o.allow_v1 = cfg.legacy_auth;
  o.admin = true;
  o.reconnect = false;
  o.connect_timeout = std::chrono::seconds(5);
  o.tls = tls.get();
  auto link = link::HubLink::create(io, o, nullptr);
  int rc = kExitFailure;
  asio::co_spawn(io, with_link(link, std::move(body)), [&rc](std::exception_ptr e, int r) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::cerr << "error: " << ex.what() << "\n";
      }
      rc = kExitFailure;
    } else {
      rc = r;
    }
  });
  io.run();
  return rc;
}

void print_json(const json::value& v) { std::cout << json::serialize(v) << "\n"; }

// The preset queries a cluster answers (docs/protocol.md §4.5).
const std::vector<std::string>& presets() {
  static const std::vector<std::string> names{"guild_count", "user_count",   "shard_count",  "latency",
                                              "uptime",      "memory_rss",   "shard_status", "cluster_info"};
  return names;
}

} // namespace

// The command bodies are free coroutines taking their arguments by value: GCC 12 miscompiles
// coroutine lambdas with captures.
asio::awaitable<int> clusters_body(std::shared_ptr<link::HubLink> link, AdminOptions opt) {
  auto report = co_await gather_report(link.get(), std::chrono::milliseconds(opt.timeout_ms), std::nullopt);
  // The bot processes are known to the supervisor alone. A hub no supervisor runs answers
  // no_route: no bots to show.
  if (report.hub) {
    const protocol::LaunchRequest status_request{"status"};
    std::string supervisor = link->server_name();
    auto st = co_await link->request("launch_request", status_request, std::move(supervisor),
                                     std::chrono::milliseconds(opt.timeout_ms));
    if (st && !st->is_error())
      if (auto status = st->as<protocol::SupervisorStatus>()) attach_bots(report, *status);
  }
  if (opt.json) print_json(to_json(report));
  else std::cout << render_text(report);
  // Clusters that did not answer are listed (missing, "Not answering within"): the report is
  // still the answer, so the exit code is 0; only a hub that does not answer fails it.
  co_return report.hub || !report.v1_hub.empty() ? kExitOk : kExitFailure;
}

int clusters_command(const Config& cfg, const AdminOptions& opt) {
  return run_admin(cfg, [opt](auto link) { return clusters_body(std::move(link), opt); });
}

asio::awaitable<int> ipc_status_body(std::shared_ptr<link::HubLink> link, Config cfg, AdminOptions opt) {
  IpcStatusView view;
  if (link->speaks_v1()) {
    view.v1_hub = link->server_name();
    view.v1_clusters = link->known_clusters();
  } else if (auto hub = co_await link->hub_status(std::chrono::milliseconds(opt.timeout_ms))) {
    view.hub = std::move(*hub);
  }
  if (opt.json) print_json(ipc_status_json(cfg, view));
  else std::cout << render_ipc_status_text(cfg, view);
  co_return view.hub || !view.v1_hub.empty() ? kExitOk : kExitFailure;
}

int ipc_status_command(const Config& cfg, const AdminOptions& opt) {
  return run_admin(cfg, [cfg, opt](auto link) { return ipc_status_body(std::move(link), cfg, opt); });
}

asio::awaitable<int> broadcast_body(std::shared_ptr<link::HubLink> link, Config cfg, AdminOptions opt,
                                    std::string message) {
  const char* user = std::getenv("USER");
  protocol::Broadcast b{message, fmt::format("{} (shardline cli)", user ? user : "operator"), 0};
  if (!cfg.bot_owner_id.empty()) b.author_id = std::strtoull(cfg.bot_owner_id.c_str(), nullptr, 10);
  (void)link->send("broadcast_message", protocol::to_data(b), "all");
  if (link->speaks_v1()) {
    // The seed's server confirms nothing, but it handles one connection's frames in order: once it
    // answers a stats request sent after the broadcast, it has relayed the broadcast (and closing
    // the link before then could lose it in our own write queue).
    auto ack = co_await link->request("stats_request", {}, link->server_name(),
                                      std::chrono::milliseconds(opt.timeout_ms));
    auto known = link->known_clusters().size() + 1; // and the server itself
    if (opt.json) print_json(json::object{{"sent", bool(ack)}, {"clusters", known}, {"hub_protocol", 1}});
    else if (ack) std::cout << fmt::format("Broadcast sent through the version-1 hub {} ({} cluster(s) known)\n",
                                           link->server_name(), known);
    else std::cout << "Broadcast sent; the version-1 hub did not confirm it in time\n";
    co_return ack ? kExitOk : kExitFailure;
  }
  // The hub handles a connection's frames in order: once it answers this, the broadcast has been
  // routed to every cluster.
  auto hub = co_await link->hub_status(std::chrono::milliseconds(opt.timeout_ms));
  std::size_t clusters = hub ? cluster_names(*hub).size() : 0;
  if (opt.json) print_json(json::object{{"sent", bool(hub)}, {"clusters", clusters}});
  else if (hub) std::cout << fmt::format("Broadcast sent to {} cluster(s)\n", clusters);
  else std::cout << "Broadcast sent; the hub did not confirm it in time\n";
  co_return hub ? kExitOk : kExitFailure;
}

int broadcast_command(const Config& cfg, const AdminOptions& opt, const std::string& message) {
  if (message.empty() || utf8_length(message) > protocol::kMaxBroadcastChars) {
    std::cerr << fmt::format("broadcast: the message must be 1 to 500 characters (this one has {})\n",
                             utf8_length(message));
    return kExitConfig;
  }
  return run_admin(cfg, [cfg, opt, message](auto link) { return broadcast_body(std::move(link), cfg, opt, message); });
}

// A job the supervisor runs (rolling restart, reshard): how to start it, and how to show its
// progress from the supervisor's status.
struct SupervisorJob {
  std::string what; // "restart", "reshard": the prefix of error messages
  // The job's entry in the status: running, and its error once it ended.
  std::function<std::pair<bool, std::string>(const protocol::SupervisorStatus&)> state;
  // A line for the terminal when the job moved on since the last call (`shown`: the job's own
  // memory between calls), or empty.
  std::function<std::string(const protocol::SupervisorStatus&, std::string& shown)> progress;
  std::function<std::string(const protocol::SupervisorStatus&)> done_line;
};

// Sends `start` to the supervisor, then follows the job's status every 250 ms until it ends or
// `timeout_s` passes. 0 when it ended without an error. With --json, one JSON object a line:
// the start's answer, then the final status.
asio::awaitable<int> run_supervisor_job(std::shared_ptr<link::HubLink> link, AdminOptions opt,
                                        protocol::LaunchRequest start, SupervisorJob job, int timeout_s) {
  auto timeout = std::chrono::milliseconds(opt.timeout_ms);
  auto r = co_await link->request("launch_request", start, link->server_name(), timeout);
  std::string why;
  if (!r) why = r.error().message;
  else if (r->is_error()) why = r->error_code() + ": " + r->error_message();
  auto started = r && !r->is_error() ? r->as<protocol::LaunchStarted>() : Result<protocol::LaunchStarted>(fail(Errc::refused, why));
  if (started && !started->error.empty()) why = started->error;
  if (!why.empty()) {
    if (opt.json) print_json(json::object{{"started", false}, {"error", why}});
    std::cerr << job.what << ": " << why << "\n";
    co_return kExitFailure;
  }
  if (opt.json) print_json(json::value_from(*started));
  else if (started->clusters && start.bots)
    std::cout << fmt::format("Restart of the bot processes of {} cluster(s) started\n", *started->clusters);
  else if (started->clusters) std::cout << fmt::format("Rolling restart of {} cluster(s) started\n", *started->clusters);
  else if (started->from && started->to)
    std::cout << fmt::format("Resharding from {} to {} shards\n", *started->from, *started->to);
  std::string shown;
  asio::steady_timer wait(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    wait.expires_after(std::chrono::milliseconds(250));
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    // Named, not a temporary in the co_await: g++ 12 destroys such temporaries twice.
    const protocol::LaunchRequest status_request{"status"};
    auto st = co_await link->request("launch_request", status_request, link->server_name(), timeout);
    if (!st || st->is_error()) continue;
    auto status = st->as<protocol::SupervisorStatus>();
    if (!status) continue;
    if (!opt.json)
      if (auto line = job.progress(*status, shown); !line.empty()) std::cout << line << "\n";
    auto [running, error] = job.state(*status);
    if (running) continue;
    if (opt.json) print_json(json::value_from(*status));
    if (!error.empty()) {
      std::cerr << job.what << ": stopped: " << error << "\n";
      co_return kExitFailure;
    }
    if (!opt.json) std::cout << job.done_line(*status) << "\n";
    co_return kExitOk;
  }
  std::cerr << fmt::format("{}: not done within {} s (it goes on in the supervisor)\n", job.what, timeout_s);
  co_return kExitFailure;
}

namespace {

int restart_bots_command(const Config& cfg, const AdminOptions& opt, int timeout_s) {
  SupervisorJob job;
  job.what = "restart";
  job.state = [](const protocol::SupervisorStatus& s) { return std::pair(s.bots.running, s.bots.error); };
  // One line per bot replaced.
  job.progress = [](const protocol::SupervisorStatus& s, std::string& shown) {
    auto done = std::to_string(s.bots.done);
    if (done == shown || s.bots.done == 0) return std::string();
    shown = done;
    return fmt::format("  {}/{} bot process(es) replaced", s.bots.done, s.bots.total);
  };
  job.done_line = [](const protocol::SupervisorStatus& s) {
    return s.bots.skipped > 0
               ? fmt::format("Bot restart done ({} cluster(s) without a running endpoint were skipped)", s.bots.skipped)
               : std::string("Bot restart done");
  };
  protocol::LaunchRequest start{"restart", false, std::nullopt, true};
  return run_admin(cfg, [opt, start, job, timeout_s](auto link) {
    return run_supervisor_job(std::move(link), opt, start, job, timeout_s);
  });
}

} // namespace

int restart_command(const Config& cfg, const AdminOptions& opt, bool rolling, bool bots, int timeout_s) {
  if (rolling == bots) {
    std::cerr << "restart: give --rolling (the clusters, one at a time, sessions resumed) or --bots (the bot "
                 "processes, one cluster at a time; the clusters go on)\n";
    return kExitConfig;
  }
  if (bots) return restart_bots_command(cfg, opt, timeout_s);
  SupervisorJob job;
  job.what = "restart";
  job.state = [](const protocol::SupervisorStatus& s) { return std::pair(s.rolling.running, s.rolling.error); };
  // One line per cluster replaced.
  job.progress = [](const protocol::SupervisorStatus& s, std::string& shown) {
    auto done = std::to_string(s.rolling.done);
    if (done == shown || s.rolling.done == 0) return std::string();
    shown = done;
    return fmt::format("  {}/{} cluster(s) replaced", s.rolling.done, s.rolling.total);
  };
  job.done_line = [](const protocol::SupervisorStatus& s) {
    return s.rolling.skipped > 0
               ? fmt::format("Rolling restart done ({} cluster(s) not running were skipped)", s.rolling.skipped)
               : std::string("Rolling restart done");
  };
  protocol::LaunchRequest start{"restart", true, std::nullopt};
  return run_admin(cfg, [opt, start, job, timeout_s](auto link) {
    return run_supervisor_job(std::move(link), opt, start, job, timeout_s);
  });
}

int reshard_command(const Config& cfg, const AdminOptions& opt, std::uint32_t shards, int timeout_s) {
  SupervisorJob job;
  job.what = "reshard";
  job.state = [](const protocol::SupervisorStatus& s) { return std::pair(s.reshard.running, s.reshard.error); };
  // One line per phase.
  job.progress = [](const protocol::SupervisorStatus& s, std::string& shown) {
    const auto& phase = s.reshard.phase;
    if (phase.empty() || phase == shown || phase == "done") return std::string();
    shown = phase;
    return "  " + phase;
  };
  job.done_line = [](const protocol::SupervisorStatus& s) {
    return fmt::format("Reshard done: {} shards", s.shard_count);
  };
  protocol::LaunchRequest start{"reshard", false, shards};
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

json::value result_of(const link::Reply& r) {
  auto e = protocol::EvalResponse::read(protocol::ObjectReader(json::value(r.data)));
  return e.result;
}

// A version-1 network (the seed's server) has no eval_request for its clients: every cluster is
// asked for its stats and the preset is read from them (protocol::preset_from_stats).
asio::awaitable<QueryAnswers> run_query_v1(std::shared_ptr<link::HubLink> link, std::string preset, std::string target,
                                           std::chrono::milliseconds timeout) {
  QueryAnswers a;
  link::FanoutResult r;
  if (target == "all") {
    r = co_await link->request_all("stats_request", json::object{}, timeout);
  } else {
    auto one = co_await link->request("stats_request", json::object{}, target, timeout);
    if (one) r.replies[one->from] = std::move(*one);
    else r.missing.push_back(target);
  }
  for (auto& [name, reply] : r.replies) {
    auto stats = protocol::ClusterStats::read(protocol::ObjectReader(json::value(reply.data)));
    if (auto v = protocol::preset_from_stats(preset, stats)) a.results[name] = std::move(*v);
    else a.errors[name] = "unsupported";
  }
  for (auto& m : r.missing) a.missing.emplace_back(m);
  co_return a;
}

asio::awaitable<QueryAnswers> run_query_once(std::shared_ptr<link::HubLink> link, std::string preset,
                                             std::string target, std::chrono::milliseconds timeout) {
  if (link->speaks_v1()) co_return co_await run_query_v1(std::move(link), std::move(preset), std::move(target), timeout);
  QueryAnswers a;
  auto request = protocol::to_data(protocol::EvalRequest{preset});
  if (target == "all") {
    auto r = co_await link->request_all("eval_request", std::move(request), timeout);
    for (auto& [name, reply] : r.replies) {
      if (!reply.is_error()) a.results[name] = result_of(reply);
      else a.errors[name] = reply.error_code();
    }
    for (auto& m : r.missing) a.missing.emplace_back(m);
  } else {
    auto r = co_await link->request("eval_request", std::move(request), target, timeout);
    if (!r) {
      if (r.error().is(Errc::timeout)) a.missing.emplace_back(target);
      else a.errors[target] = r.error().kind();
    } else if (r->is_error()) {
      a.errors[r->from.empty() ? target : r->from] = r->error_code();
    } else {
      a.results[r->from] = result_of(*r);
    }
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
  // A target that did not answer fails the command; with "all", the clusters that did not answer
  // are listed (missing, errors) and the answers of the others are the result.
  int rc = (target != "all" && results.empty()) ? kExitFailure : kExitOk;
  if (opt.json) {
    json::object out{{"query", preset}, {"target", target}, {"results", results}, {"missing", missing}};
    if (!errors.empty()) out["errors"] = errors;
    if (repeat > 1) out["latency"] = latency_summary(std::move(latencies_us), incomplete);
    print_json(out);
    co_return rc;
  }
  for (auto& [name, v] : results) std::cout << fmt::format("{}: {}\n", std::string(name), json::serialize(v));
  for (auto& [name, v] : errors) std::cout << fmt::format("{}: error {}\n", std::string(name), json::serialize(v));
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
  if (std::find(presets().begin(), presets().end(), preset) == presets().end()) {
    std::string known;
    for (auto& p : presets()) known += (known.empty() ? "" : ", ") + p;
    std::cerr << fmt::format("query: '{}' is not a preset query (one of: {})\n", preset, known);
    return kExitConfig;
  }
  return run_admin(cfg, [opt, preset, target, repeat](auto link) {
    return query_body(std::move(link), opt, preset, target, repeat);
  });
}

} // namespace shardline::admin
