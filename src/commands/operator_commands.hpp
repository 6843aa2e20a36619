#pragma once
// The operator commands of a cluster process (/clusters, /ipcstatus, /broadcastmsg, and the
// same as prefix messages), answered from the shards' INTERACTION_CREATE and MESSAGE_CREATE
// dispatches. Bot owner only, with per-user cooldowns; slower gathering is deferred and the
// original response edited. Also posts broadcasts that reach this cluster to
// SHARD_BROADCAST_CHANNEL_ID. docs/commands.md describes what an operator sees.
//
// Lifetime: as ShardCluster's. Destroy only once the io_context runs no more handlers; every
// coroutine it starts ends within its deadlines (a few seconds) or with the io_context.

#include "ratelimit/rest_gate.hpp"
#include "commands/cooldowns.hpp"
#include "commands/invocation.hpp"
#include "commands/owners.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "rest/discord_rest.hpp"

#include <boost/json.hpp>

#include <deque>
#include <memory>
#include <set>
#include <optional>

namespace shardline::gateway {
class ShardCluster;
}
namespace shardline::link {
class HubLink;
struct BroadcastMessage;
} // namespace shardline::link

namespace shardline::commands {

namespace asio = boost::asio;

class OperatorCommands {
public:
  OperatorCommands(asio::io_context& io, const Config& cfg, gateway::ShardCluster& cluster, Clock clock = real_clock());
  ~OperatorCommands();
  OperatorCommands(const OperatorCommands&) = delete;
  OperatorCommands& operator=(const OperatorCommands&) = delete;

  // Subscribes to the cluster's dispatches. Before start() has learnt the owners, every
  // invocation is refused.
  void attach();
  // The IPC link to gather from and send broadcasts on; its broadcasts are posted here.
  void set_link(link::HubLink* link);
  // The bot's REST limits (docs/rest.md): every call waits its turn there. Null: none.
  void set_rest_gate(std::shared_ptr<ratelimit::RestGate> gate) { rest_gate_ = std::move(gate); }
  // Learns who the owners are (BOT_OWNER_ID, else the application) and, in the process that
  // runs shard 0, registers the slash commands if Discord's set differs. Retries while
  // Discord is unreachable, a bounded number of times. Call after the cluster's plan().
  asio::awaitable<void> start();
  // New invocations are ignored from now on; those under way finish within their deadlines.
  void stop();

  std::size_t in_flight() const { return in_flight_; }

private:
  void on_interaction(std::string_view data);
  void on_message(std::string_view data);
  void launch(Invocation in);
  asio::awaitable<void> handle(Invocation in, steady::time_point received);
  // Answers with `ready`, or else with what produce() gathers: at once when it is ready within
  // the time Discord allows a first answer, else deferred, then the original response edited.
  asio::awaitable<void> answer(Invocation in, steady::time_point received, std::optional<boost::json::object> ready,
                               bool ephemeral);
  asio::awaitable<void> refuse(Invocation in, std::string text);
  asio::awaitable<boost::json::object> produce(Invocation in);
  asio::awaitable<void> produce_into(Invocation in, std::shared_ptr<struct Pending> pending);

  asio::awaitable<boost::json::object> clusters_message();
  asio::awaitable<boost::json::object> ipc_status_message();
  asio::awaitable<boost::json::object> broadcast_message(Invocation in);

  void deliver_broadcast(const link::BroadcastMessage& b);
  asio::awaitable<void> post_broadcasts();
  asio::awaitable<bool> register_commands(std::uint64_t application_id);

  // One REST call, waiting out 429s while `deadline` allows.
  asio::awaitable<Result<rest::RestResponse>> call(std::string method, std::string path, std::string body,
                                                  bool bot_auth, steady::time_point deadline);
  asio::awaitable<void> sleep_for(steady::duration d);

  asio::io_context& io_;
  const Config& cfg_;
  gateway::ShardCluster& cluster_;
  link::HubLink* link_ = nullptr;
  std::shared_ptr<ratelimit::RestGate> rest_gate_;
  Clock clock_;
  OwnerSet owners_;
  Cooldowns cooldowns_;
  std::string escaped_prefix_;
  std::size_t in_flight_ = 0;          // owners' invocations under way
  std::size_t refusals_in_flight_ = 0; // strangers' refusals under way
  std::set<asio::steady_timer*> sleeping_;
  bool stopping_ = false;
  std::deque<boost::json::object> to_post_; // broadcast posts waiting for the channel
  bool posting_ = false;
};

} // namespace shardline::commands
