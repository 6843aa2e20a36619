// Bot code in the same process as its shards: the event API of gateway::ShardCluster.
//
//   export DISCORD_TOKEN=sim-token DISCORD_API_URL=http://127.0.0.1:PORT/api/v10 SHARD_COUNT=auto
//   build/bin/example_event_counter
//
// Counts MESSAGE_CREATE per second, notices "!ping", shows which shard the first guild lives
// on, and asks Discord for a few of that guild's members over the gateway (op 8) to show
// send(). Runs without an IPC hub, so its
// shards pace their IDENTIFYs themselves. Ctrl-C closes the shards resumably and exits.

#include "core/config.hpp"
#include "gateway/shard_cluster.hpp"

#include <utility>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

using namespace shardline;

int main() {
  Config cfg;
  try {
    ConfigSources src;
    src.environment = process_environment();
    src.secret = SecretRule::optional; // no IPC network here
    cfg = load_config(src);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  if (cfg.discord_token.empty()) {
    std::cerr << "set DISCORD_TOKEN (and DISCORD_API_URL to use `shardline sim`)\n";
    return 2;
  }
  boost::asio::io_context io;
  gateway::ShardCluster cluster(io, cfg, "example");

  std::uint64_t messages = 0, guilds = 0;
  cluster.on("MESSAGE_CREATE", [&](gateway::Shard&, std::string_view, std::string_view d) {
    ++messages;
    if (d.find("\"content\":\"!ping\"") != std::string_view::npos) spdlog::info("someone said !ping");
  });
  cluster.on("GUILD_CREATE", [&](gateway::Shard& shard, std::string_view, std::string_view d) {
    if (++guilds != 1) return;
    // Ask the first guild's shard for a few of its members: a gateway command, paced under
    // the 120-per-minute limit by the shard itself. (A full parse is fine once; the hot path
    // would use simdjson.)
    auto id = boost::json::parse(d).at("id").as_string();
    spdlog::info("first guild {} is on shard {}", std::string_view(id), shard.id());
    cluster.send(shard.id(), 8, fmt::format(R"({{"guild_id":"{}","query":"","limit":1}})", std::string_view(id)));
  });

  boost::asio::co_spawn(io, cluster.start(), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::cerr << ex.what() << "\n";
    }
    io.stop();
  });
  boost::asio::steady_timer tick(io);
  std::function<void()> report = [&] {
    tick.expires_after(std::chrono::seconds(1));
    tick.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      std::cout << fmt::format("{} guilds, {} MESSAGE_CREATE/s, all ready: {}", cluster.guild_count(), messages,
                               cluster.all_ready())
                << std::endl;
      messages = 0;
      report();
    });
  };
  report();
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    tick.cancel();
    cluster.shutdown(std::chrono::seconds(3), [&] { io.stop(); });
  });
  io.run();
  return 0;
}
