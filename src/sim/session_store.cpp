#include "sim/session_store.hpp"

#include <algorithm>

#include <cstdio>

namespace shardline::sim {

const char* to_string(ResumeRefusal r) {
  switch (r) {
  case ResumeRefusal::none: return "none";
  case ResumeRefusal::unknown_session: return "unknown_session";
  case ResumeRefusal::invalidated: return "invalidated";
  case ResumeRefusal::expired: return "expired";
  case ResumeRefusal::seq_too_old: return "seq_too_old";
  case ResumeRefusal::seq_ahead: return "seq_ahead";
  }
  return "?";
}

SessionStore::SessionStore(SessionLimits limits, Clock clock, std::uint64_t seed)
    : limits_(limits), clock_(std::move(clock)), rng_(seed ^ 0x5e55'1011'd15c'0dull) {}

std::string SessionStore::new_id() {
  // 32 hex digits, like Discord's session ids.
  for (;;) {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng_()),
                  static_cast<unsigned long long>(rng_()));
    std::string id(buf, 32);
    if (!sessions_.count(id)) return id;
  }
}

Session& SessionStore::create(std::uint32_t shard_id, std::uint32_t num_shards) {
  if (sessions_.size() >= limits_.max_sessions) sweep();
  // Still full: drop the oldest detached sessions (live ones are never dropped).
  for (auto it = order_.begin(); sessions_.size() >= limits_.max_sessions && it != order_.end();) {
    auto& s = *sessions_.at(it->second);
    if (s.attached) {
      ++it;
      continue;
    }
    sessions_.erase(it->second);
    it = order_.erase(it);
  }
  auto id = new_id();
  auto s = std::make_unique<Session>(id, shard_id, num_shards, limits_.replay);
  auto& ref = *s;
  sessions_.emplace(id, std::move(s));
  order_.emplace(++created_, id);
  ++shards_[shard_id].sessions_started;
  return ref;
}

Session* SessionStore::find(std::string_view id) {
  auto it = sessions_.find(std::string(id));
  return it == sessions_.end() ? nullptr : it->second.get();
}

bool SessionStore::resumable(const Session& s, steady::time_point now) const {
  if (s.invalidated) return false;
  return s.attached || now - s.detached_at < limits_.resume_ttl;
}

ResumeResult SessionStore::resume(std::string_view id, std::uint64_t seq) {
  auto* s = find(id);
  if (!s) return {nullptr, ResumeRefusal::unknown_session};
  if (s->invalidated) return {nullptr, ResumeRefusal::invalidated};
  if (!resumable(*s, clock_())) return {nullptr, ResumeRefusal::expired};
  if (seq > s->last_seq()) return {nullptr, ResumeRefusal::seq_ahead};
  if (!s->can_replay_from(seq)) return {nullptr, ResumeRefusal::seq_too_old};
  if (!s->attached) s->longest_detached = std::max(s->longest_detached, clock_() - s->detached_at);
  s->attached = true;
  ++s->resumes;
  ++resumes_total_;
  ++shards_[s->shard_id()].resumes;
  return {s, ResumeRefusal::none};
}

void SessionStore::detach(Session& s, bool invalidate) {
  s.attached = false;
  s.detached_at = clock_();
  if (invalidate) s.invalidated = true;
}

void SessionStore::delivered(Session& s, std::uint64_t seq, bool replayed) {
  s.mark_delivered(seq);
  auto& c = shards_[s.shard_id()];
  ++c.events_sent;
  if (replayed) ++c.events_replayed;
}

std::size_t SessionStore::sweep() {
  auto now = clock_();
  std::size_t dropped = 0;
  for (auto it = order_.begin(); it != order_.end();) {
    auto& s = *sessions_.at(it->second);
    if (resumable(s, now)) {
      ++it;
      continue;
    }
    sessions_.erase(it->second);
    it = order_.erase(it);
    ++dropped;
  }
  return dropped;
}

std::map<std::uint32_t, std::size_t> SessionStore::live_per_shard() const {
  std::map<std::uint32_t, std::size_t> out;
  for (auto& [id, s] : sessions_)
    if (s->attached) ++out[s->shard_id()];
  return out;
}

std::size_t SessionStore::live() const {
  std::size_t n = 0;
  for (auto& [id, s] : sessions_) n += s->attached ? 1 : 0;
  return n;
}

std::vector<Session*> SessionStore::active() {
  auto now = clock_();
  std::vector<Session*> out;
  for (auto& [n, id] : order_) {
    auto& s = *sessions_.at(id);
    if (resumable(s, now)) out.push_back(&s);
  }
  return out;
}

std::vector<const Session*> SessionStore::sessions_of_shard(std::uint32_t shard_id) const {
  std::vector<const Session*> out;
  for (auto& [n, id] : order_) {
    auto& s = *sessions_.at(id);
    if (s.shard_id() == shard_id) out.push_back(&s);
  }
  return out;
}

} // namespace shardline::sim
