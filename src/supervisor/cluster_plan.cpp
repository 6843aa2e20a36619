#include "supervisor/cluster_plan.hpp"

#include <fmt/format.h>

#include <iterator>

namespace shardline::supervisor {

Result<std::vector<ClusterSpec>> plan_clusters(const std::vector<std::uint32_t>& shard_ids, std::uint32_t clusters,
                                               std::uint32_t per_cluster, const std::string& prefix) {
  if (shard_ids.empty()) return fail(Errc::bad_input, "no shards to run: check SHARD_COUNT and SHARD_IDS");
  const auto n = static_cast<std::uint32_t>(shard_ids.size());
  if (clusters == 0) {
    if (per_cluster == 0) return fail(Errc::bad_input, "SHARD_CLUSTERS or SHARD_PER_CLUSTER must be above 0");
    clusters = (n + per_cluster - 1) / per_cluster;
  }
  if (clusters > n)
    return fail(Errc::bad_input,
                fmt::format("SHARD_CLUSTERS is {} but there are only {} shards: every cluster needs one", clusters, n));
  std::vector<ClusterSpec> out;
  std::uint32_t next = 0;
  for (std::uint32_t i = 0; i < clusters; ++i) {
    // The first n % clusters clusters take one shard more.
    auto size = n / clusters + (i < n % clusters ? 1 : 0);
    ClusterSpec c{fmt::format("{}-{}", prefix, i), {}};
    c.shard_ids.assign(shard_ids.begin() + next, shard_ids.begin() + next + size);
    next += size;
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<ClusterSpec>> plan_layout(std::uint32_t shard_count, const std::vector<std::uint32_t>& owned,
                                             std::uint32_t clusters, std::uint32_t per_cluster,
                                             const std::string& prefix) {
  std::vector<std::uint32_t> ids = owned;
  if (ids.empty())
    for (std::uint32_t i = 0; i < shard_count; ++i) ids.push_back(i);
  for (auto id : ids)
    if (id >= shard_count)
      return fail(Errc::bad_input, fmt::format("SHARD_IDS has shard {} but the bot has {} shards", id, shard_count));
  return plan_clusters(ids, clusters, per_cluster, prefix);
}

std::string format_shard_ids(const std::vector<std::uint32_t>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size();) {
    auto j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    // fmt::format_to rather than string concatenation: g++ 12 reports a false -Wrestrict
    // for `"," + std::to_string(...)` at -O2.
    if (j == i)
      fmt::format_to(std::back_inserter(out), "{}", ids[i]);
    else
      fmt::format_to(std::back_inserter(out), "{}-{}", ids[i], ids[j]);
    i = j + 1;
  }
  return out;
}

} // namespace shardline::supervisor
