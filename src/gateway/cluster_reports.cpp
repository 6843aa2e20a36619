// What ShardCluster reports to the IPC network (link::ClusterState): stats_broadcast and the
// preset queries (guild_count, user_count, latency, shard_status, cluster_info...).

#include "gateway/shard_cluster.hpp"

#include "protocol/body.hpp"

#include <unistd.h>

namespace shardline::gateway {

namespace json = boost::json;

double ShardCluster::uptime() const { return std::chrono::duration<double>(steady::now() - started_).count(); }

std::uint64_t ShardCluster::guild_count() {
  std::uint64_t n = 0;
  for (auto& [id, s] : shards_) n += s->guild_count();
  return n;
}

json::array ShardCluster::shard_status() {
  json::array out;
  for (auto& [id, s] : shards_) {
    auto& c = s->counters();
    auto lat = s->latency();
    json::object o{{"shard_id", id},
                   {"status", to_string(s->status())},
                   {"guilds", s->guild_count()},
                   {"unavailable_guilds", s->unavailable_guilds()},
                   {"members", s->member_count()},
                   {"latency", lat ? json::value(lat->count() / 1e6) : json::value(nullptr)},
                   {"events", c.events},
                   {"reconnects", c.reconnects},
                   {"identifies", c.identifies},
                   {"resumes", c.resumes}};
    if (!s->stop_reason().empty()) o["stop_reason"] = s->stop_reason();
    out.emplace_back(std::move(o));
  }
  return out;
}

protocol::ClusterStats ShardCluster::stats() {
  protocol::ClusterStats s;
  s.cluster_name = cfg_.cluster_name;
  s.guild_count = guild_count();
  s.shard_count = shard_ids_.size();
  s.shard_ids = shard_ids_;
  double latency_sum = 0;
  std::size_t with_latency = 0;
  for (auto& [id, shard] : shards_) {
    s.user_count += shard->member_count();
    if (auto l = shard->latency()) {
      latency_sum += l->count() / 1e6;
      ++with_latency;
    }
  }
  // Mean heartbeat round trip of the shards that have one; none before any.
  if (with_latency) s.latency = latency_sum / with_latency;
  s.uptime = uptime();
  s.mode = mode_;
  s.active = active_;
  s.layout = shard_count_;
  s.timestamp = protocol::wall_seconds();
  if (rest_report_) s.rest = rest_report_();
  return s;
}

json::value ShardCluster::eval(std::string_view query) {
  auto st = stats();
  if (query == "guild_count") return st.guild_count;
  if (query == "user_count") return st.user_count;
  if (query == "shard_count") return st.shard_count;
  if (query == "latency") return st.latency ? json::value(*st.latency) : json::value(nullptr);
  if (query == "uptime") return st.uptime;
  if (query == "memory_rss") return link::memory_rss_bytes();
  if (query == "shard_status") return shard_status();
  if (query == "cluster_info") {
    json::array ids;
    for (auto id : shard_ids_) ids.emplace_back(id);
    return json::object{{"cluster_name", cfg_.cluster_name}, {"mode", mode_}, {"shard_ids", std::move(ids)},
                        {"shard_count", shard_count_}, {"pid", static_cast<std::int64_t>(getpid())},
                        {"uptime", uptime()}, {"gateway", bot_.url}, {"max_concurrency", bot_.max_concurrency},
                        {"session_budget_remaining", budget_remaining_}};
  }
  return "unknown_query";
}

} // namespace shardline::gateway
