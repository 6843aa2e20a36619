#pragma once
// How `shardline launch` splits its shards into cluster processes: contiguous runs of shard
// ids, as even as possible, named <prefix>-<index>. Pure, so the plan is unit-tested.

#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace shardline::supervisor {

struct ClusterSpec {
  std::string name;
  std::vector<std::uint32_t> shard_ids;
};

// `shard_ids`: the shards this supervisor owns (all of 0..shard_count-1 unless SHARD_IDS says
// otherwise). `clusters`: how many processes (0: derive from `per_cluster`). bad_input with an
// operator-facing message when the request cannot be met.
Result<std::vector<ClusterSpec>> plan_clusters(const std::vector<std::uint32_t>& shard_ids, std::uint32_t clusters,
                                       std::uint32_t per_cluster, const std::string& prefix);

// The clusters of a layout of `shard_count` shards: the shards this supervisor owns (`owned`,
// SHARD_IDS; empty: every shard), planned as plan_clusters does. bad_input with the operator's
// message when `owned` names a shard past the count or the plan cannot be met.
Result<std::vector<ClusterSpec>> plan_layout(std::uint32_t shard_count, const std::vector<std::uint32_t>& owned,
                                             std::uint32_t clusters, std::uint32_t per_cluster,
                                             const std::string& prefix);

// "0-3,8,10-11".
std::string format_shard_ids(const std::vector<std::uint32_t>& ids);

} // namespace shardline::supervisor
