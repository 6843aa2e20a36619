#pragma once
// One gateway session: the shard it serves, its sequence counter, the replay buffer a RESUME
// draws from, and the record of which dispatches reached the client (so a test can prove no
// event was lost across reconnects). Owned by the SessionStore; outlives its connections.

#include "core/clock.hpp"
#include "sim/seq_ranges.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::sim {

// One gateway message as sent, shared (never copied) by the replay buffer and the queues of
// the connections it goes out on.
using Frame = std::shared_ptr<const std::string>;

struct StoredEvent {
  std::uint64_t seq = 0;
  Frame frame; // the whole dispatch: {"t":...,"s":seq,"op":0,"d":...}
};

struct ReplayLimits {
  std::size_t max_events = 10'000;
  std::size_t max_bytes = 16u << 20;
};

class Session {
public:
  Session(std::string id, std::uint32_t shard_id, std::uint32_t num_shards, ReplayLimits limits)
      : id_(std::move(id)), shard_id_(shard_id), num_shards_(num_shards), limits_(limits) {}

  const std::string& id() const { return id_; }
  std::uint32_t shard_id() const { return shard_id_; }
  std::uint32_t num_shards() const { return num_shards_; }
  std::uint64_t last_seq() const { return last_seq_; }

  // Gives a dispatch of `type` with body `data` (JSON text) the next sequence number, builds
  // its frame and keeps it for replay (the oldest events fall out once the buffer is over its
  // limits).
  const StoredEvent& append(std::string_view type, std::string_view data);
  // True if every event after `seq` is still buffered (so a RESUME from it loses nothing).
  bool can_replay_from(std::uint64_t seq) const;
  // The buffered events with a sequence above `seq`, oldest first.
  std::vector<const StoredEvent*> events_after(std::uint64_t seq) const;
  std::size_t buffered_events() const { return buffer_.size(); }
  std::size_t buffered_bytes() const { return buffer_bytes_; }

  // Delivery record: written to the client's socket (first time or replayed).
  void mark_delivered(std::uint64_t seq) { delivered_.add(seq); }
  const SeqRanges& delivered() const { return delivered_; }
  std::vector<SeqRanges::Range> undelivered() const { return delivered_.missing(last_seq_); }

  // From IDENTIFY: the event stream only sends what the intents ask for; GUILD_CREATE
  // marks a guild `large` above the threshold.
  std::uint64_t intents = ~std::uint64_t{0};
  std::uint32_t large_threshold = 50;

  // Connection state, kept by the store.
  bool attached = true;
  bool invalidated = false;
  steady::time_point detached_at{};
  std::uint64_t resumes = 0;
  // The longest time the session went without a connection before a RESUME took it back: a
  // shard's downtime across a restart.
  steady::duration longest_detached{};

private:
  std::string id_;
  std::uint32_t shard_id_;
  std::uint32_t num_shards_;
  ReplayLimits limits_;
  std::uint64_t last_seq_ = 0;
  std::deque<StoredEvent> buffer_;
  std::size_t buffer_bytes_ = 0;
  SeqRanges delivered_;
};

} // namespace shardline::sim
