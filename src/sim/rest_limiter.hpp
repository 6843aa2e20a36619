#pragma once
// Discord's REST rate limits, as the simulator enforces them (rest_groups.hpp has the buckets):
//
// - a bucket per route group and major parameter: `limit` requests per fixed window that opens
//   with its first request;
// - the global limit: `global_per_sec` requests per fixed 1 s window (opened by its first
//   request), counting every request to a limited route (the interaction callback and the
//   webhooks are not limited at all, so they stay out of it, as on Discord);
// - shared-scope 429s a test asks for (a resource limit shared with others, e.g. a busy
//   channel): the next N requests to a group are refused, and are not the bot's fault;
// - invalid requests: every answer 401, 403 or 429 (but a shared one), counted over a sliding
//   window; reaching `invalid_limit` bans the bot for `ban`: every request is then answered
//   429 without rate-limit headers, and counts again.
//
// Times are in whole milliseconds, rounded up: a client that waits exactly Reset-After (or
// retry_after) arrives when the window has ended and is let through. Pure and clock-driven;
// the server turns a verdict into headers and bodies (http_api.cpp).

#include "core/clock.hpp"
#include "sim/rest_groups.hpp"
#include "sim/sliding_count.hpp"

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace shardline::sim {

// Who refused a request (X-RateLimit-Scope), or none: it was let through.
enum class RestScope : std::uint8_t { none, user, global, shared, banned };

const char* to_string(RestScope s);

struct RestVerdict {
  RestScope refused = RestScope::none;
  const RestGroup* group = nullptr; // its hash for X-RateLimit-Bucket
  std::uint32_t limit = 0;          // X-RateLimit-Limit
  std::uint32_t remaining = 0;      // X-RateLimit-Remaining, after this request
  std::uint64_t reset_after_ms = 0; // X-RateLimit-Reset-After: until the bucket's window ends
  std::uint64_t retry_after_ms = 0; // a refusal's retry_after (the global window's end for `global`)

  bool allowed() const { return refused == RestScope::none; }
};

// What the limiter has seen since it started (or was reset).
struct RestCounters {
  std::uint64_t requests = 0; // answers to /api/v10 requests
  std::uint64_t ok = 0;       // 2xx
  std::uint64_t user = 0, global = 0, shared = 0, banned = 0; // 429s by scope
  std::uint64_t invalid_total = 0;
  struct Group {
    std::uint64_t requests = 0; // checked against the group's bucket
    std::uint64_t refused = 0;  // answered 429 (user, global or shared)
  };
  std::vector<Group> by_group; // indexed like RestModel::groups()
};

class RestLimiter {
public:
  RestLimiter(RestModel model, Clock clock);

  const RestModel& model() const { return model_; }

  // How long the ban still lasts, rounded up; nullopt: the bot is not banned.
  std::optional<millis> ban_left();

  // Decides on one request to `group` for major parameter `major`, and records it (an allowed
  // request spends a unit of its bucket and of the global limit; a refused one spends nothing).
  RestVerdict check(std::size_t group, std::uint64_t major);

  // Every answer to an /api/v10 request, with the scope of the limiter's refusal when it made
  // the answer (none otherwise): counts it, and the invalid ones. Returns true when this answer
  // started a ban.
  bool answered(unsigned status, RestScope scope);

  // The next `count` requests to `group` are refused with scope shared and `retry_after`
  // (replacing what a previous call left; 0 clears it).
  void share_limit(std::size_t group, std::uint32_t count, millis retry_after);

  // Forgets every bucket, the global window, the pending shared refusals, the invalid
  // requests, the ban and the counters: a fresh simulator's REST state.
  void reset();

  const RestCounters& counters() const { return counters_; }
  std::uint64_t invalid_in_window() { return invalid_.count(clock_()); }
  std::size_t bucket_states() const { return buckets_.size(); }

private:
  struct Key {
    std::uint32_t group;
    std::uint64_t major;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return std::hash<std::uint64_t>{}(k.major * 0x9e3779b97f4a7c15ULL ^ k.group);
    }
  };
  struct Window {
    steady::time_point start{};
    std::uint32_t used = 0; // 0: no window open
  };
  struct Bucket {
    Window window;
    std::list<Key>::iterator order; // its place in by_start_[group]
  };
  struct Shared {
    std::uint32_t count = 0;
    millis retry_after{0};
  };

  // Opens a fresh window if the current one has ended (or none is open); true if it did.
  static bool roll(Window& w, steady::time_point now, steady::duration length);
  static std::uint64_t ms_left(const Window& w, steady::time_point now, steady::duration length);
  Bucket& bucket(std::size_t group, std::uint64_t major, steady::time_point now);
  void evict_one(steady::time_point now);

  RestModel model_;
  Clock clock_;
  Window global_;
  std::unordered_map<Key, Bucket, KeyHash> buckets_;
  // Per group, its buckets by when their window opened, oldest first: the front of a group's
  // list is its bucket whose window ends first, so the map is bounded by dropping those.
  std::vector<std::list<Key>> by_start_;
  std::vector<Shared> shared_;
  SlidingCount invalid_;
  std::optional<steady::time_point> banned_until_;
  RestCounters counters_;
};

// Milliseconds as Discord's headers write seconds: "1.250".
std::string seconds_text(std::uint64_t ms);

} // namespace shardline::sim
