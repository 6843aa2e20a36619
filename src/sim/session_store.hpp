#pragma once
// Every gateway session the simulator knows, live or waiting to be resumed. A session whose
// connection dropped stays resumable for `resume_ttl`; one closed with 1000/1001, or refused
// by INVALID_SESSION, is invalidated at once. Also keeps the per-shard counters /_sim/stats
// reports.

#include "core/clock.hpp"
#include "sim/session.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shardline::sim {

struct SessionLimits {
  ReplayLimits replay;
  millis resume_ttl{120'000};
  std::size_t max_sessions = 100'000; // detached sessions beyond this are dropped oldest first
};

enum class ResumeRefusal {
  none,
  unknown_session,
  invalidated,   // closed with 1000/1001, or replaced
  expired,       // detached for longer than resume_ttl
  seq_too_old,   // events after seq have left the replay buffer
  seq_ahead,     // seq beyond anything this session sent
};

const char* to_string(ResumeRefusal r);

struct ResumeResult {
  Session* session = nullptr; // set on success
  ResumeRefusal refusal = ResumeRefusal::none;
  explicit operator bool() const { return session != nullptr; }
};

struct ShardCounters {
  std::uint64_t sessions_started = 0;
  std::uint64_t resumes = 0;
  std::uint64_t events_sent = 0;     // dispatch frames written, replays included
  std::uint64_t events_replayed = 0; // of which sent again by a RESUME
};

class SessionStore {
public:
  SessionStore(SessionLimits limits, Clock clock, std::uint64_t seed = 1);

  // A new, attached session for [shard_id, num_shards].
  Session& create(std::uint32_t shard_id, std::uint32_t num_shards);
  Session* find(std::string_view id);
  // Resumes `id` from `seq`: on success the session is attached again and the caller
  // replays `session->events_after(seq)`. A refused resume invalidates nothing.
  ResumeResult resume(std::string_view id, std::uint64_t seq);
  // The session's connection ended. `invalidate`: it may not be resumed (close 1000/1001,
  // or the gateway ended the session).
  void detach(Session& s, bool invalidate);
  // Records a dispatch written to the session's client.
  void delivered(Session& s, std::uint64_t seq, bool replayed);
  // Drops sessions that can no longer be resumed. Returns how many went.
  std::size_t sweep();

  std::size_t size() const { return sessions_.size(); }
  std::map<std::uint32_t, std::size_t> live_per_shard() const;
  std::size_t live() const;
  std::uint64_t resumes_total() const { return resumes_total_; }
  const std::map<std::uint32_t, ShardCounters>& shard_counters() const { return shards_; }
  // Sessions that still take events (live, or resumable and buffering), oldest first.
  std::vector<Session*> active();
  // Sessions (live or resumable) of one shard, oldest first.
  std::vector<const Session*> sessions_of_shard(std::uint32_t shard_id) const;

private:
  std::string new_id();
  bool resumable(const Session& s, steady::time_point now) const;

  SessionLimits limits_;
  Clock clock_;
  std::mt19937_64 rng_;
  std::uint64_t created_ = 0;
  std::unordered_map<std::string, std::unique_ptr<Session>> sessions_;
  std::map<std::uint64_t, std::string> order_; // creation number -> id, for oldest-first
  std::map<std::uint32_t, ShardCounters> shards_;
  std::uint64_t resumes_total_ = 0;
};

} // namespace shardline::sim
