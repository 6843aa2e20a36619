#pragma once
// What one REST answer says about the rate limits, read from its status, headers and body:
// Discord's X-RateLimit-* headers (Bucket, Limit, Remaining, Reset-After, Scope, Global) and a
// 429's retry_after. Pure; the coordinator (rest_limit_state.hpp) learns from it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shardline::ratelimit {

struct RestObservation {
  unsigned status = 0;  // the HTTP status; 0: no answer came (the request may still have landed)
  std::string bucket;   // X-RateLimit-Bucket
  std::optional<std::uint32_t> limit, remaining;
  std::optional<double> reset_after_s;
  std::string scope;    // a 429's X-RateLimit-Scope: user, global or shared (empty: none sent)
  bool global = false;  // a 429 of the global limit (X-RateLimit-Global, or the body's "global")
  double retry_after_s = 0; // a 429's wait

  // The route's bucket headers came (a rate-limited route answered normally or with a 429).
  bool has_bucket_headers() const { return limit && remaining && reset_after_s; }
  // Discord counts 401, 403 and 429 toward the invalid-request limit, except a 429 of scope
  // shared (a resource's limit, not the bot's doing).
  bool invalid() const { return status == 401 || status == 403 || (status == 429 && scope != "shared"); }
};

// Builds an observation from the answer's parts; `header(name)` returns a header's value
// (empty if absent), names as Discord spells them. Malformed values are treated as absent.
template <class HeaderLookup>
RestObservation observe_answer(unsigned status, HeaderLookup&& header, std::string_view body);

// The non-template part: every field but the headers already looked up.
RestObservation observe_answer(unsigned status, std::string_view bucket, std::string_view limit,
                               std::string_view remaining, std::string_view reset_after, std::string_view scope,
                               std::string_view global, std::string_view retry_after, std::string_view body);

template <class HeaderLookup>
RestObservation observe_answer(unsigned status, HeaderLookup&& header, std::string_view body) {
  return observe_answer(status, header("X-RateLimit-Bucket"), header("X-RateLimit-Limit"),
                        header("X-RateLimit-Remaining"), header("X-RateLimit-Reset-After"),
                        header("X-RateLimit-Scope"), header("X-RateLimit-Global"), header("Retry-After"), body);
}

} // namespace shardline::ratelimit
