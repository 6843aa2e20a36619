#pragma once
// What the hub knows of an authenticated peer: who it is and which shards it runs. The pure
// parts of the hub (directory, router, admission) work on Members, so they are tested without
// sockets; a hub connection is a Member with a transport (hub/connection.hpp).

#include <cstdint>
#include <string>
#include <vector>

namespace shardline::hub {

struct Member {
  enum class Role { cluster, admin };

  std::string name;
  Role role = Role::cluster;
  int proto = 0; // 1 or 2 once authenticated; 0 before
  std::string instance;
  std::int64_t generation = 0;
  std::vector<std::uint32_t> shard_ids;
  std::uint32_t shard_count = 0;
  std::uint64_t guild_count = 0;

  bool cluster() const { return role == Role::cluster; }
  const char* role_name() const { return role == Role::admin ? "admin" : "cluster"; }
};

} // namespace shardline::hub
