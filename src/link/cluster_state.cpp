#include "link/cluster_state.hpp"

#include "protocol/body.hpp"

#include <fstream>
#include <unistd.h>

namespace shardline::link {

using protocol::wall_seconds;

namespace json = boost::json;

std::uint64_t memory_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

IpcOnlyClusterState::IpcOnlyClusterState(std::string name, std::vector<std::uint32_t> shard_ids,
                                         std::uint32_t shard_count, std::string mode)
    : name_(std::move(name)), shard_ids_(std::move(shard_ids)), shard_count_(shard_count), mode_(std::move(mode)) {}

double IpcOnlyClusterState::uptime() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

protocol::ClusterStats IpcOnlyClusterState::stats() {
  protocol::ClusterStats s;
  s.cluster_name = name_;
  s.shard_count = shard_ids_.size();
  s.shard_ids = shard_ids_;
  s.latency = std::nullopt; // no gateway shard, so no gateway latency
  s.uptime = uptime();
  s.mode = mode_;
  s.timestamp = wall_seconds();
  if (rest_report_) s.rest = rest_report_();
  return s;
}

json::value IpcOnlyClusterState::eval(std::string_view query) {
  if (query == "guild_count" || query == "user_count") return 0;
  if (query == "shard_count") return shard_ids_.size();
  if (query == "latency") return nullptr;
  if (query == "uptime") return uptime();
  if (query == "memory_rss") return memory_rss_bytes();
  if (query == "shard_status") {
    json::array shards;
    for (auto id : shard_ids_)
      shards.emplace_back(json::object{{"shard_id", id}, {"status", "not_started"}, {"guilds", 0}, {"latency", nullptr}});
    return shards;
  }
  if (query == "cluster_info") {
    json::array ids;
    for (auto id : shard_ids_) ids.emplace_back(id);
    return json::object{{"cluster_name", name_}, {"mode", mode_}, {"shard_ids", std::move(ids)},
                        {"shard_count", shard_count_}, {"pid", static_cast<std::int64_t>(getpid())},
                        {"uptime", uptime()}, {"gateway", "none (DISCORD_TOKEN unset)"}};
  }
  return "unknown_query";
}

} // namespace shardline::link
