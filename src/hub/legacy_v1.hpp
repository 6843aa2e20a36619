#pragma once
// What the hub does for version-1 peers (the seed's Python Shard Manager; docs/protocol.md §2,
// §5): they answer requests without `reply_to`, and may write bare NaN/Infinity. Pure string and
// bookkeeping functions; the hub applies them to the bytes it forwards.

#include "protocol/ops.hpp"

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace shardline::hub {

using protocol::v1_reply_op;

// The requests with an id that the hub delivered to one version-1 connection, in order, so the
// matching answer can be tagged with the id (without it a v1 cluster never answers an admin tool
// or a v2 requester). Bounded: the oldest is forgotten past `capacity`.
class V1PendingRequests {
public:
  explicit V1PendingRequests(std::size_t capacity = 256) : capacity_(capacity) {}

  // What an answer matched.
  struct Answered {
    std::string id;
    // Set when the hub asked this peer's stats in place of an eval_request it cannot answer:
    // the answer is turned into an eval_response for this preset.
    std::optional<std::string> eval_query;
  };

  // A request `op` with `id` from `requester` was delivered to this peer.
  void remember(std::string requester, std::string id, std::string_view op);
  // The hub sent this peer a stats_request for `requester`'s eval_request `id` of `query`.
  void remember_eval(std::string requester, std::string id, std::string query);
  // The oldest request this answer (`op` addressed to `target`) matches, removed.
  std::optional<Answered> answered(std::string_view op, std::string_view target);
  bool empty() const { return q_.empty(); }

private:
  struct Entry {
    std::string requester, id;
    std::string_view reply_op; // a static string from v1_reply_op
    std::optional<std::string> eval_query;
  };
  void push(Entry e);
  std::size_t capacity_;
  std::deque<Entry> q_;
};

// `body` (a JSON object's text) with `"key":raw_value,` inserted as its first member. The hub
// forwards bytes; this is its one way to add a field without re-serializing the frame.
std::string with_first_field(std::string_view body, std::string_view key, std::string_view raw_value);

} // namespace shardline::hub
