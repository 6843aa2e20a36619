#pragma once
// Discord's REST buckets as the simulator models them: route groups, each a stable opaque hash
// (what X-RateLimit-Bucket names), a limit per fixed window, the routes that share it, and the
// major parameter that splits it (a bucket's state is kept per channel, guild or webhook the
// path names; a group without one has one state). The defaults follow Discord's observed
// limits (docs/simulator.md has the table); `--rest-bucket NAME=LIMIT/WINDOW_MS` changes a
// group's limit and window by its name. Pure: rest_limiter.hpp applies the rules, the server
// only looks groups up.

#include "core/clock.hpp"
#include "core/error.hpp"
#include "sim/route_table.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::sim {

// What splits a group's bucket: the top-level resource of the path.
enum class Major : std::uint8_t { none, channel, guild, webhook };

// "channel", "guild", "webhook"; "none" for none (JSON writes null).
const char* to_string(Major m);

struct RestGroup {
  std::string name; // short, stable: for --rest-bucket and the /_sim/ API (messages, reactions...)
  std::string hash; // X-RateLimit-Bucket: 32 hex digits, the same on every run
  std::uint32_t limit = 5;
  millis window{5000};
  Major major = Major::none;
  bool generic = false; // follows --rest-route-limit / --rest-route-window-ms
  std::vector<RouteId> routes;
};

// One --rest-bucket NAME=LIMIT/WINDOW_MS.
struct RestBucketOverride {
  std::string name;
  std::uint32_t limit = 0;
  std::uint32_t window_ms = 0;
};

// The whole model's knobs, from the sim's options.
struct RestModelOptions {
  std::uint32_t global_per_sec = 50;
  std::uint32_t route_limit = 5; // the generic groups'
  std::uint32_t route_window_ms = 5000;
  std::vector<RestBucketOverride> buckets; // applied in order, after the generic defaults
  std::uint32_t invalid_limit = 10'000;    // invalid answers (401, 403, 429 but shared) that ban...
  std::uint32_t invalid_window_ms = 600'000; // ...within this sliding window
  std::uint32_t ban_ms = 3'600'000;
  std::size_t max_bucket_states = 100'000;
};

inline constexpr std::uint32_t kMaxBucketLimit = 1'000'000;
inline constexpr std::uint32_t kMaxBucketWindowMs = 3'600'000;

// The names of the default groups, in table order.
std::vector<std::string_view> rest_group_names();

// Parses NAME=LIMIT/WINDOW_MS: a known group name, LIMIT 1-1,000,000, WINDOW_MS 1-3,600,000.
// Errc::bad_input with a message naming what is wrong (and the known names for an unknown one).
Result<RestBucketOverride> parse_rest_bucket(std::string_view text);

class RestModel {
public:
  // Overrides of unknown groups were refused by parse_rest_bucket; any left are ignored.
  explicit RestModel(const RestModelOptions& options);

  std::span<const RestGroup> groups() const { return groups_; }
  const RestGroup& group(std::size_t index) const { return groups_[index]; }
  // The group a route belongs to; nullopt: not rate limited (the gateway URL, the interaction
  // callback and webhooks, unknown paths, the control API).
  std::optional<std::size_t> group_of(RouteId route) const;
  // A group by its name or by one of its routes as route_text writes it ("PUT /guilds/...").
  std::optional<std::size_t> find(std::string_view name_or_route) const;

  std::uint32_t global_per_sec() const { return global_per_sec_; }
  std::uint32_t invalid_limit() const { return invalid_limit_; }
  millis invalid_window() const { return invalid_window_; }
  millis ban() const { return ban_; }
  std::size_t max_bucket_states() const { return max_bucket_states_; }

private:
  std::vector<RestGroup> groups_;
  std::array<std::int16_t, 256> group_of_route_{}; // RouteId -> index in groups_; -1: none
  std::uint32_t global_per_sec_;
  std::uint32_t invalid_limit_;
  millis invalid_window_;
  millis ban_;
  std::size_t max_bucket_states_;
};

// The major parameter of a request, from its captures: the channel, guild or webhook id
// (a webhook's token folded in); 0 for a group without one (or an id that is no snowflake,
// which the routes refuse before any limit is looked at).
std::uint64_t major_of(Major major, const RouteCaptures& at);

// The routes the global limit leaves out, as Discord does: the interaction callback and the
// webhook-with-token routes (interaction follow-ups and edits).
bool is_global_exempt(RouteId route);

} // namespace shardline::sim
