#pragma once
// The dispatches of one shard kept for clients that RESUME: a ring of the last N (and at most
// a byte budget), each numbered with the feed's own index. The index is the shard feed's, not
// Discord's sequence: it keeps counting when the shard itself starts a new Discord session,
// and every client maps it onto its own sequence numbers (resumable_session.hpp).
//
// An event may be meant for one client session only (GUILD_MEMBERS_CHUNK answering that
// client's REQUEST_GUILD_MEMBERS): `target` names it; empty means every client.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

namespace shardline::proxy {

struct FeedEvent {
  std::uint64_t index = 0;
  std::string type;
  std::shared_ptr<const std::string> data; // d as JSON text, shared by every client's copy
  std::string target;                      // a client session id, or empty: every client
  std::size_t bytes() const { return type.size() + (data ? data->size() : 0) + target.size() + 64; }
};

class ResumeBuffer {
public:
  ResumeBuffer(std::size_t max_events, std::size_t max_bytes);

  // Appends the next event (index = last_index() + 1) and drops the oldest beyond the bounds.
  const FeedEvent& push(std::string_view type, std::shared_ptr<const std::string> data, std::string target = {});

  // The index of the newest event pushed (0 before the first).
  std::uint64_t last_index() const { return next_index_ - 1; }
  // Whether every event after `index` is still held (a client that has seen up to `index` can be
  // brought up to date). True for the last index itself.
  bool holds_after(std::uint64_t index) const;
  // The held events after `index`, oldest first; call holds_after() first.
  template <class F>
  void for_each_after(std::uint64_t index, F&& f) const {
    if (events_.empty() || index >= last_index()) return;
    std::size_t start = index + 1 <= events_.front().index ? 0 : static_cast<std::size_t>(index + 1 - events_.front().index);
    for (std::size_t i = start; i < events_.size(); ++i) f(events_[i]);
  }

  std::size_t size() const { return events_.size(); }
  std::size_t bytes() const { return bytes_; }

private:
  std::size_t max_events_, max_bytes_;
  std::deque<FeedEvent> events_;
  std::size_t bytes_ = 0;
  std::uint64_t next_index_ = 1;
};

} // namespace shardline::proxy
