#include "hub/session_registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace shardline::hub {

SessionRegistry::SessionRegistry(Clock clock, SessionRegistryOptions options)
    : clock_(std::move(clock)), opt_(options) {}

SessionReportResult SessionRegistry::report(const SessionReport& r, std::string_view reporter) {
  using S = SessionReportResult::Status;
  SessionReportResult out;
  if (auto err = protocol::validate(r); !err.empty()) return {S::bad_request, err};
  expire(); // expired entries must not count against the cap

  // The cap applies to the state after the whole report, which is applied all or nothing: a
  // report that deletes some shards and adds others is judged by what it leaves. Only presence
  // matters for the count, so a dry run tracks that per shard the report touches.
  std::unordered_map<std::uint32_t, bool> present;
  std::size_t count = entries_.size();
  for (const auto& s : r.sessions) {
    auto [it, fresh] = present.try_emplace(s.shard_id, false);
    if (fresh) it->second = entries_.contains(Key{r.shard_count, s.shard_id});
    const bool keeps = s.session_id.has_value();
    if (keeps != it->second) {
      count = keeps ? count + 1 : count - 1;
      it->second = keeps;
    }
  }
  if (count > opt_.max_entries)
    return {S::too_many_sessions,
            fmt::format("the hub holds at most {} sessions; this report would leave {}", opt_.max_entries, count)};

  const auto now = clock_();
  for (const auto& s : r.sessions) {
    const Key key{r.shard_count, s.shard_id};
    auto it = entries_.find(key);
    if (!s.session_id) {
      if (it == entries_.end()) {
        ++out.ignored;
      } else {
        erase(it);
        ++out.deleted;
      }
      continue;
    }
    if (it != entries_.end() && it->second.session_id == *s.session_id && it->second.seq > s.seq) {
      // Out of order: an older snapshot of the session the hub already has a newer one of.
      ++out.ignored;
      continue;
    }
    if (it == entries_.end()) {
      it = entries_.emplace(key, StoredSession{}).first;
    } else {
      by_time_.erase({it->second.reported_at, key});
    }
    auto& e = it->second;
    e.shard_id = s.shard_id;
    e.shard_count = r.shard_count;
    e.session_id = *s.session_id;
    e.seq = s.seq;
    e.resume_url = s.resume_url;
    e.binding = s.binding;
    e.reported_by = std::string(reporter);
    e.reported_at = now;
    by_time_.emplace(now, key);
    ++out.stored;
  }
  return out;
}

std::vector<StoredSession> SessionRegistry::lookup(const SessionLookup& l) {
  std::vector<StoredSession> out;
  if (!protocol::validate(l).empty()) return out;
  expire();
  std::unordered_set<std::uint32_t> seen;
  for (auto id : l.shard_ids) {
    if (!seen.insert(id).second) continue;
    if (auto it = entries_.find(Key{l.shard_count, id}); it != entries_.end()) out.push_back(it->second);
  }
  return out;
}

std::size_t SessionRegistry::expire() {
  const auto now = clock_();
  std::size_t n = 0;
  // Older than max_age is expired; exactly max_age is still served.
  while (!by_time_.empty() && now - by_time_.begin()->first > opt_.max_age) {
    const auto key = by_time_.begin()->second;
    by_time_.erase(by_time_.begin());
    entries_.erase(key);
    ++n;
  }
  return n;
}

std::size_t SessionRegistry::size() {
  expire();
  return entries_.size();
}

void SessionRegistry::erase(std::map<Key, StoredSession>::iterator it) {
  if (it == entries_.end()) return;
  by_time_.erase({it->second.reported_at, it->first});
  entries_.erase(it);
}

} // namespace shardline::hub
