#pragma once
// The payloads a shard sends (../shared/discord/gateway.md, "Connection lifecycle"), serialized
// with Boost.JSON: a token or session id is escaped by the serializer, never by hand, and a
// bot's command whose `d` is not JSON is refused here instead of reaching Discord (which would
// close the connection with 4002). Pure.

#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace shardline::gateway {

struct IdentifyFields {
  std::string_view token;
  std::uint64_t intents = 0;
  std::uint32_t shard_id = 0;
  std::uint32_t shard_count = 1;
  std::uint32_t large_threshold = 250;
};

// op 2: token, intents, properties, shard [id, count], large_threshold, compress false (the
// transport is compressed, or not, as a whole).
std::string identify_payload(const IdentifyFields& f);
// op 6: token, session_id, seq.
std::string resume_payload(std::string_view token, std::string_view session_id, std::uint64_t seq);
// op 1: the last sequence, or null before the first dispatch (seq 0).
std::string heartbeat_payload(std::uint64_t seq);
// {"op": op, "d": d}: bad_input when `d_json` is not one JSON value.
Result<std::string> command_payload(int op, std::string_view d_json);

} // namespace shardline::gateway
