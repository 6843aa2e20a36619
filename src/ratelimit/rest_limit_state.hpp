#pragma once
// The REST rate limits of a whole bot, decided in one place (docs/rest.md). Requests are
// submitted with their route (rest_route.hpp) and come out of poll() granted, in order per
// bucket, as soon as Discord's limits allow them; each grant's answer is reported back
// (rest_observation.hpp) and teaches the buckets. Pure and clock-driven: the hub runs one for
// every process of the bot (hub/hub_rest.cpp), a cluster without a hub runs its own
// (ratelimit/rest_gate.hpp), and unit tests drive it with a ManualClock.
//
// The rules, and why they never overshoot a limit Discord enforces:
// - A route bucket is keyed by its X-RateLimit-Bucket hash (once learned; the route itself
//   before) and the major parameter. Until its first answer, one request at a time goes (a
//   probe); then `remaining` is counted down per grant and refilled when the window ends.
// - The window's end is learned as (time of the answer + Reset-After): an upper bound of
//   Discord's, since the answer left Discord before it arrived here. An answer that ends later
//   than the known window by over half a window landed in a newer window than thought and
//   moves it; one from a window already rolled over is ignored. A new window counts the grants
//   still in flight against it, since they may land in it.
// - The global limit (requests per second for the bot, interaction callbacks and token
//   webhooks exempt) holds a token from the grant until one second after its answer came back,
//   so no second of Discord's clock, however aligned, sees more than the limit.
// - A 429 of scope user or shared blocks its bucket for retry_after; a global 429 (or the
//   header-less one of an IP ban) blocks every non-exempt request.
// - A request that would wait longer than max_wait is refused at once with the wait; one still
//   queued at max_wait is refused then.
// - Invalid-request guard: 401, 403 and non-shared 429 answers are counted over a sliding
//   window (Discord bans the bot's IP for an hour at 10,000 in 10 minutes). A route over its
//   share is refused locally until its count falls back; the whole bot over the limit, every
//   route is.
// - After a restart, the processes' hints (what they last saw of each bucket, and when their
//   recent requests free their global tokens) are merged, and hinted buckets probe one request
//   at a time until a real answer; `start_grace` holds non-exempt grants for the first moments.

#include "core/clock.hpp"
#include "ratelimit/invalid_request_guard.hpp"
#include "ratelimit/rest_observation.hpp"
#include "ratelimit/rest_route.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace shardline::ratelimit {

struct RestLimitOptions {
  std::uint32_t global_per_sec = 50;    // Discord's default for a bot
  millis max_wait{10'000};              // longer than this: refused with a 429 of our own
  std::uint32_t invalid_limit = 9'000;  // the bot-wide guard, short of Discord's 10,000
  std::uint32_t route_invalid_limit = 1'000; // one route's share
  millis invalid_window{600'000};       // Discord's 10 minutes
  millis lease{35'000};                 // a grant never reported back is released after this
                                        // (the endpoint's 30 s REST timeout, and a margin)
  millis start_grace{0};                // non-exempt grants wait this long after construction,
                                        // and after the first sync of recent requests
  std::size_t max_queued_per_requester = 20'000; // a flooding peer is refused, not queued
};

struct RestDecision {
  enum class Kind { granted, refused_wait, refused_guard };
  Kind kind = Kind::granted;
  std::uint64_t requester = 0;
  std::string tag;           // the requester's own id for the request
  std::uint64_t grant = 0;   // granted: report the answer with it
  double waited_s = 0;       // how long it was queued here
  double retry_after_s = 0;  // refused: when trying again could go
  std::string message;       // refused: why, for the bot and the log
};

// What a process knows of a bucket, handed to a restarted coordinator.
struct RestHint {
  std::string route, major, bucket;
  std::uint32_t limit = 0, remaining = 0;
  double reset_after_s = 0; // from now
};

struct RestLimitStats {
  std::uint64_t requests = 0, granted = 0, waited = 0, refused_wait = 0, refused_guard = 0;
  std::uint64_t rate_limited_user = 0, rate_limited_global = 0, rate_limited_shared = 0, banned = 0;
  std::uint64_t answers = 0;
  std::uint32_t invalid_window = 0;   // 401/403/429 (not shared) in the sliding window
  std::size_t buckets = 0, queued = 0, in_flight = 0, global_in_use = 0;
  std::vector<std::string> blocked_routes; // by the invalid-request guard, now
};

class RestLimitState {
public:
  RestLimitState(RestLimitOptions options, Clock clock);

  // Queues one request of `requester` (a connection), named by `tag`. Its decision comes out of
  // poll(), at once if it may go now. `retry`: a request that got a 429 goes before its
  // bucket's queue, keeping its place in line.
  void submit(std::uint64_t requester, std::string tag, const RestRoute& route, bool retry = false);
  // Every decision due now: grants, and refusals (max_wait, guard).
  std::vector<RestDecision> poll();
  // When poll() has something to do next without a new submit or report; nullopt: nothing
  // queued (or only requests waiting for an answer, which report() brings).
  std::optional<steady::time_point> next_due() const { return next_due_; }
  // The answer of a grant. An unknown grant id (reported to a restarted coordinator, or
  // twice) still teaches the buckets.
  void report(std::uint64_t grant, const RestRoute& route, const RestObservation& answer);
  // A grant that was never used (its requester gave up before it came): its tokens come back.
  void release_unused(std::uint64_t grant);
  // A requester that went away: its queued requests are dropped (its grants run out with their
  // lease, or their answers come in). Returns how many were dropped.
  std::size_t drop(std::uint64_t requester);
  void hint(const RestHint& h);
  // A process's own recent requests: each frees its global token this far from now.
  void hint_global(const std::vector<millis>& releases);
  // Messages for the operator (a route blocked by the guard, the bot-wide guard); taken once.
  std::vector<std::string> take_alerts();

  RestLimitStats stats() const;
  const RestLimitOptions& options() const { return opt_; }

private:
  struct Waiter {
    std::uint64_t requester = 0;
    std::string tag;
    RestRoute route;
    steady::time_point submitted{};
    std::uint64_t seq = 0;
  };
  struct Bucket {
    std::string key;
    std::uint32_t limit = 0;        // 0: not learned yet (probe one at a time)
    std::uint32_t remaining = 0;
    std::optional<steady::time_point> reset_at; // end of the current window (upper bound)
    std::optional<steady::time_point> rolled_at; // the reset_at of the window rolled over last
    steady::time_point blocked_until{};
    double window_s = 0;             // the longest Reset-After seen: the window's length
    std::uint64_t generation = 0;
    std::uint32_t in_flight = 0;
    bool probing = false;            // hinted after a restart: one at a time until an answer
    std::deque<Waiter> queue;
    std::uint64_t pending_seq = 0;   // its entry in pending_ (0: none)
    steady::time_point last_used{};
  };
  struct Grant {
    std::string bucket_key;
    std::uint64_t generation = 0;
    bool global = false;
  };

  std::string key_for(const RestRoute& r) const;
  Bucket& bucket(const std::string& key);
  void repend(Bucket& b);
  // Whether the head of `b` may go now; if not, when to look again (nullopt: on an answer).
  bool may_go(Bucket& b, const Waiter& w, steady::time_point now, std::optional<steady::time_point>& wake);
  double estimate_wait(Bucket& b, bool exempt, steady::time_point now) const;
  void roll_window(Bucket& b, steady::time_point now);
  void learn_hash(const RestRoute& route, const std::string& hash);
  void learn_timing(Bucket& b, const RestObservation& o, steady::time_point now,
                    std::optional<std::uint64_t> grant_generation);
  void free_global(steady::time_point release_at);
  void prune(steady::time_point now);

  RestLimitOptions opt_;
  Clock clock_;
  steady::time_point started_;
  steady::time_point grace_until_{};
  bool grace_started_ = false;
  InvalidRequestGuard guard_;
  std::unordered_map<std::string, std::string> hashes_;  // route -> X-RateLimit-Bucket
  std::unordered_map<std::string, std::string> path_hashes_; // path (any method) -> a hash seen on it
  std::unordered_map<std::string, Bucket> buckets_;
  std::set<std::pair<std::uint64_t, Bucket*>> pending_; // buckets with a queue, by head's seq
  std::unordered_map<std::uint64_t, Grant> grants_;
  std::unordered_map<std::uint64_t, std::size_t> queued_by_; // requester -> its queued requests
  void dequeued(std::uint64_t requester);
  std::deque<std::pair<steady::time_point, std::uint64_t>> leases_; // expiry order
  std::uint32_t global_in_flight_ = 0;
  std::multiset<steady::time_point> global_releases_; // tokens answered, freed at these times
  steady::time_point global_blocked_until_{};
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_grant_; // random start: a report for an earlier coordinator's grant matches none
  std::optional<steady::time_point> next_due_;
  std::vector<RestDecision> ready_; // refused at submit, handed out by the next poll
  steady::time_point last_prune_{};
  RestLimitStats counters_;
};

} // namespace shardline::ratelimit
