#pragma once
// Which rate limit a REST request falls under, from its method and path alone (before any
// answer): Discord's buckets are per route, split by the route's major parameter (the channel,
// guild or webhook in the path), and a route's bucket hash is learned from the answers
// (rest_limit_state.hpp). Two requests that differ only in minor ids (a message, a user, a
// role, an emoji) share a route; two that differ in the major id do not share a bucket.
//
// The interaction callback and the webhook routes that carry a token are outside Discord's
// global limit; that is decided here too. Tokens are never part of a route or a major
// parameter: routes are logged and shown in metrics.

#include <string>
#include <string_view>

namespace shardline::ratelimit {

struct RestRoute {
  // "PATCH /channels/{channel}/messages/{id}": the method and the path with every id replaced
  // by a placeholder, the major one included (its value is in `major`). No query string.
  std::string route;
  // "channel:81384788765712384", "guild:...", "webhook:...", "interaction:...", or empty.
  std::string major;
  // The interaction callback and token webhooks: not counted against the global limit.
  bool global_exempt = false;

  bool operator==(const RestRoute&) const = default;
};

// `path` is what follows the API base ("/channels/1/messages?limit=5"); a leading "/api/v10"
// is not expected. Never fails: an odd path is a route of its own.
RestRoute classify_rest_route(std::string_view method, std::string_view path);

} // namespace shardline::ratelimit
