#pragma once
// What a cluster tells the IPC network about itself. The link asks this interface; the
// gateway shards (a later module) provide real numbers, an IPC-only cluster reports its
// shard list and zeros.

#include "protocol/messages.hpp"

#include <functional>
#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::link {

class ClusterState {
public:
  virtual ~ClusterState() = default;
  // The `stats_broadcast` data (docs/protocol.md §4).
  virtual protocol::ClusterStats stats() = 0;
  // A preset query's result; "unknown_query" for anything else. Never evaluates code.
  virtual boost::json::value eval(std::string_view query) = 0;
  virtual std::uint64_t guild_count() = 0;
  // What the process's REST gate reports (ClusterStats.rest); unset: nothing.
  void set_rest_report(std::function<boost::json::object()> f) { rest_report_ = std::move(f); }

protected:
  std::function<boost::json::object()> rest_report_;
};

// Resident set size of this process in bytes (0 if unknown).
std::uint64_t memory_rss_bytes();

// A cluster with no gateway shards running (no DISCORD_TOKEN): it still joins the network,
// answers every query, and reports the shards it is configured for.
class IpcOnlyClusterState : public ClusterState {
public:
  IpcOnlyClusterState(std::string name, std::vector<std::uint32_t> shard_ids, std::uint32_t shard_count,
                      std::string mode);
  protocol::ClusterStats stats() override;
  boost::json::value eval(std::string_view query) override;
  std::uint64_t guild_count() override { return 0; }

private:
  double uptime() const;
  std::string name_;
  std::vector<std::uint32_t> shard_ids_;
  std::uint32_t shard_count_;
  std::string mode_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

} // namespace shardline::link
