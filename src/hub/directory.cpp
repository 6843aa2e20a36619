#include "hub/directory.hpp"

#include <algorithm>

namespace shardline::hub {

bool Directory::add(Member& m) {
  by_name_[m.name] = &m;
  if (!m.cluster()) return false;
  clusters_.push_back(&m);
  for (auto id : m.shard_ids) shard_owner_[id] = &m;
  vote(m, +1);
  return !m.shard_ids.empty() && m.shard_count != 0 && layout_votes_.size() > 1;
}

bool Directory::remove(Member& m) {
  auto it = by_name_.find(m.name);
  if (it == by_name_.end() || it->second != &m) return false;
  by_name_.erase(it);
  if (!m.cluster()) return true;
  vote(m, -1);
  std::erase(clusters_, &m);
  for (auto id : m.shard_ids)
    if (auto s = shard_owner_.find(id); s != shard_owner_.end() && s->second == &m) shard_owner_.erase(s);
  return true;
}

Member* Directory::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Member* Directory::owner_of(std::uint32_t shard) const {
  auto it = shard_owner_.find(shard);
  return it == shard_owner_.end() ? nullptr : it->second;
}

void Directory::vote(const Member& m, int delta) {
  if (m.shard_ids.empty() || m.shard_count == 0) return;
  auto& n = layout_votes_[m.shard_count];
  n += delta;
  if (n <= 0) layout_votes_.erase(m.shard_count);
  shard_count_ = 0;
  int best = 0;
  for (auto& [count, votes] : layout_votes_)
    if (votes > best) best = votes, shard_count_ = count;
}

} // namespace shardline::hub
