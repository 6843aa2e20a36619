#pragma once
// The hub's directory of authenticated members: by name, the clusters in join order, which
// cluster owns which shard, and the shard count guild targets are mapped with. Pure: it holds
// Members it does not own (the hub's connections own themselves) and knows no sockets.

#include "hub/member.hpp"

#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shardline::hub {

class Directory {
public:
  // Registers `m` under its name (the caller has settled any conflict: hub/admission.hpp). A
  // cluster also owns its shards and votes for its shard count. Returns true when the clusters
  // now disagree on the shard count (mid-reshard, or a misconfiguration worth a warning).
  bool add(Member& m);
  // Unregisters `m` if it is the member registered under its name; false if it was not.
  bool remove(Member& m);

  Member* find(std::string_view name) const;
  const std::vector<Member*>& clusters() const { return clusters_; }
  std::size_t size() const { return by_name_.size(); }
  // Every member, by name.
  template <class F>
  void for_each(F&& f) const {
    for (auto& [name, m] : by_name_) f(*m);
  }

  // The cluster that runs `shard`; null when none does.
  Member* owner_of(std::uint32_t shard) const;
  // The shard count guild targets map with: the one announced by the most shard-owning
  // clusters (clusters with no shards do not vote). 0 when no cluster owns a shard.
  std::uint32_t guild_shard_count() const { return shard_count_; }

private:
  void vote(const Member& m, int delta);

  // Transparent hashing: routing looks names up by string_view without allocating.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Member*, NameHash, std::equal_to<>> by_name_;
  std::vector<Member*> clusters_; // join order
  std::unordered_map<std::uint32_t, Member*> shard_owner_;
  std::map<std::uint32_t, int> layout_votes_; // shard_count -> owning clusters announcing it
  std::uint32_t shard_count_ = 0;
};

} // namespace shardline::hub
