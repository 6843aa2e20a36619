#pragma once
// The /_sim/ control API's requests whose checks need no world: the fault a test injects, the
// shard numbers of the world and sessions queries, and the shared-scope 429s a test asks for. Pure, so the 400s a test relies on are
// unit-tested; the handlers (control_api.cpp) act on what these return.

#include "core/error.hpp"
#include "sim/http_exchange.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace shardline::sim {

enum class FaultKind : std::uint8_t { close, reconnect, invalid_session, reset, stop_acks, stall, heartbeat };

const char* to_string(FaultKind k);

// POST /_sim/faults {shard, kind, code?, resumable?}
struct FaultRequest {
  std::uint64_t shard = 0;
  FaultKind kind = FaultKind::close;
  std::uint16_t code = 4000; // for `close`: one a server may send
  bool resumable = false;    // for `invalid_session`
};

// Errc::bad_input with the message the 400 carries (the field and what it must be).
Result<FaultRequest> parse_fault_request(std::string_view body);

// GET /_sim/world?shards=N: N, a bot's shard count (1-4096), required; every `shards` given
// must be one.
Result<std::uint32_t> parse_world_shards(std::span<const QueryParam> query);

// GET /_sim/sessions?shard=N: N, a shard id, required; the last well-formed `shard` counts.
Result<std::uint32_t> parse_sessions_shard(std::span<const QueryParam> query);

// POST /_sim/rest/shared-limit {route, count, retry_after_ms}: `route` names a REST group (by
// name or by one of its routes; the handler looks it up), count 0-1,000,000, retry_after_ms
// 0-3,600,000.
struct SharedLimitRequest {
  std::string route;
  std::uint32_t count = 0;
  std::uint32_t retry_after_ms = 0;
};

Result<SharedLimitRequest> parse_shared_limit_request(std::string_view body);

} // namespace shardline::sim
