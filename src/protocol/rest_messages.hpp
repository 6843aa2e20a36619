#pragma once
// The ops of REST coordination (docs/protocol.md §13.3): a cluster asks the hub before each
// Discord REST call (rest_acquire, answered by rest_grant), reports what Discord answered
// (rest_report), and after every (re)link tells the hub what it last saw (rest_sync), so a
// restarted hub starts from the bot's real state. Bounded: routes, majors and hashes are short;
// a sync carries at most kMaxRestSyncItems buckets.

#include "protocol/json_read.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shardline::protocol {

namespace json = boost::json;

inline constexpr std::size_t kMaxRestRouteChars = 256;
inline constexpr std::size_t kMaxRestMajorChars = 48;
inline constexpr std::size_t kMaxRestBucketChars = 64;
inline constexpr std::size_t kMaxRestSyncItems = 2'000;
inline constexpr std::size_t kMaxRestSyncReleases = 1'000;

struct RestAcquire {
  std::string route;  // "POST /channels/{channel}/messages" (ratelimit/rest_route.hpp)
  std::string major;  // "channel:123", or empty
  bool exempt = false; // outside the global limit (interaction callback, token webhook)
  bool retry = false;  // a retry after a 429: it keeps its place at the head of its bucket
  static RestAcquire read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct RestGrant {
  bool granted = false;
  std::uint64_t grant = 0;  // report the answer with it
  std::string reason;       // refused: "max_wait" or "invalid_guard"
  double retry_after = 0;   // refused: seconds
  std::string message;      // refused: why
  static RestGrant read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct RestReport {
  std::uint64_t grant = 0; // 0: a request this coordinator never granted
  std::string route, major;
  bool exempt = false;
  bool unused = false; // the grant came too late and was not used
  std::uint32_t status = 0; // 0: no answer
  std::string bucket;
  std::optional<std::uint32_t> limit, remaining;
  std::optional<double> reset_after;
  std::string scope;
  bool global = false;
  double retry_after = 0;
  static RestReport read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct RestSyncItem {
  std::string route, major, bucket;
  std::uint32_t limit = 0, remaining = 0;
  double reset_after = 0;
  static RestSyncItem read(const ObjectReader& r);
  void write(json::object& o) const;
};

struct RestSync {
  std::vector<RestSyncItem> buckets;
  std::vector<std::uint32_t> global_releases_ms; // this process's global tokens, freed this far ahead
  static RestSync read(const ObjectReader& r);
  void write(json::object& o) const;
};

} // namespace shardline::protocol
