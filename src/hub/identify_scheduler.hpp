#pragma once
// IDENTIFY slots for every cluster of one bot (docs/protocol.md §11).
//
// Discord allows one IDENTIFY per bucket (shard_id % max_concurrency) per 5-second window, and
// a daily budget (session_start_limit), per bot and not per process: clusters that pace
// themselves collide. The hub therefore queues every cluster's requests here and grants them
// one by one. This class is the pure part: no sockets, no timers; it reads the time through the
// Clock it is given, so tests drive it with a ManualClock. The hub calls poll() when
// next_due() comes and sends what it returns.

#include "core/clock.hpp"
#include "protocol/hub_messages.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace shardline::hub {

using protocol::IdentifyRequest;
using protocol::SessionBudget;

struct IdentifySchedulerOptions {
  // IDENTIFYs kept back from the daily budget (SHARD_IDENTIFY_RESERVE): running out ends every
  // session and resets the token, so the last few stay for an operator's deliberate restart.
  std::uint32_t reserve = 10;
  // Queued requests one requester may hold. A cluster has one per shard; the cap only bounds
  // what a broken peer can make the hub keep.
  std::size_t max_queued_per_requester = 1u << 16;
};

// One answer that poll() produced: a grant, or a refusal because the budget shrank (a lower
// report, other grants) while the request waited.
struct IdentifyOutcome {
  enum class Kind { grant, refused_budget } kind = Kind::grant;
  std::uint64_t requester = 0;
  std::string tag; // the request's id, echoed back as reply_to
  std::uint32_t shard_id = 0;
  std::uint32_t shard_count = 0;
  std::uint32_t bucket = 0;
  std::optional<std::uint32_t> remaining; // the budget after this grant; nullopt: unknown
  std::string message;                    // refused_budget: the operator-facing reason
};

struct IdentifySubmitResult {
  enum class Status { accepted, refused_budget, bad_request } status = Status::accepted;
  std::string message; // refused_budget / bad_request: the reason, for the error frame
};

struct IdentifyStats {
  std::uint64_t granted = 0;
  std::size_t queued = 0;
  std::uint32_t max_concurrency = 0; // 0: no request seen yet
  std::uint32_t window_ms = 0;       // 0: no request seen yet
  std::optional<std::uint32_t> budget_remaining;
  std::uint64_t refused_budget = 0;
};

class IdentifyScheduler {
public:
  // Spacing between two grants of one bucket: the window plus a slack that absorbs the
  // cluster's send delay varying from one grant to the next.
  static millis spacing(std::uint32_t window_ms);
  static constexpr std::uint32_t kMinWindowMs = 100, kMaxWindowMs = 60'000;
  static constexpr std::uint32_t kMaxShardCount = 1u << 20, kMaxConcurrency = 1u << 16;

  IdentifyScheduler(Clock clock, IdentifySchedulerOptions options = {});

  // Queues a request from `requester` (the hub's connection serial), answered later by poll()
  // with `tag`. A second request for the same (shard_id, shard_count) from the same requester
  // replaces the queued one and keeps its place in the queue: a cluster that retries after its
  // own timeout is not sent to the back.
  IdentifySubmitResult submit(std::uint64_t requester, std::string tag, const IdentifyRequest& req);
  // The answers due now, in the order to send them (bucket order within one instant).
  std::vector<IdentifyOutcome> poll();
  // When poll() next has something to give; nullopt when nothing is queued.
  std::optional<steady::time_point> next_due() const;
  // Forgets every queued request of `requester` (its connection closed). Returns how many.
  std::size_t drop(std::uint64_t requester);

  IdentifyStats stats();

private:
  struct Entry {
    std::uint64_t requester = 0;
    std::string tag;
    std::uint32_t shard_id = 0;
    std::uint32_t shard_count = 0;
  };
  using Key = std::tuple<std::uint64_t, std::uint32_t, std::uint32_t>; // requester, shard, count

  void refresh_budget(steady::time_point now);
  void merge_budget(const SessionBudget& b, steady::time_point now);
  std::uint32_t bucket_of(std::uint32_t shard_id) const { return shard_id % max_concurrency_; }
  steady::time_point due(std::uint32_t bucket) const;
  void remove(std::uint64_t seq);
  std::string budget_message(std::uint64_t left, steady::time_point now) const;

  Clock clock_;
  IdentifySchedulerOptions opt_;
  std::uint32_t max_concurrency_ = 0; // 0 until the first request
  std::uint32_t window_ms_ = 0;

  std::map<std::uint64_t, Entry> queue_;                        // by arrival (seq)
  std::map<std::uint32_t, std::set<std::uint64_t>> by_bucket_;  // bucket -> seqs, FIFO
  std::map<Key, std::uint64_t> index_;                          // for replace and drop
  std::map<std::uint64_t, std::size_t> per_requester_;
  std::uint64_t next_seq_ = 0;

  std::map<std::uint32_t, steady::time_point> last_grant_; // per bucket
  std::optional<steady::time_point> latest_grant_;         // of any bucket
  steady::time_point hold_until_{};                        // after a max_concurrency change

  // The hub's single view of the bot's remaining IDENTIFYs (nullopt: no report yet).
  std::optional<std::uint32_t> remaining_;
  std::uint32_t total_ = 0;
  std::optional<steady::time_point> reset_at_;

  std::uint64_t granted_ = 0;
  std::uint64_t refused_budget_ = 0;
};

} // namespace shardline::hub
