#include "gateway/close_policy.hpp"

#include "gateway/gateway_codes.hpp"

namespace shardline::gateway {

CloseDecision decide_close(std::optional<std::uint16_t> code) {
  using enum CloseAction;
  if (!code) return {resume, "connection ended without a close code"};
  switch (*code) {
    case close_code::unknown_error: return {resume, "unknown error (4000)"};
    case close_code::unknown_opcode: return {resume, "unknown opcode (4001): a payload we sent had an opcode Discord does not know"};
    case close_code::decode_error: return {resume, "decode error (4002): a payload we sent was malformed or over 4096 bytes"};
    case close_code::not_authenticated: return {resume, "not authenticated (4003): a payload was sent before IDENTIFY"};
    case close_code::already_authenticated: return {resume, "already authenticated (4005): IDENTIFY or RESUME sent twice"};
    case close_code::rate_limited: return {resume, "rate limited (4008): over 120 gateway commands in 60 s"};
    case close_code::invalid_seq: return {reidentify, "invalid seq (4007): the session cannot be resumed"};
    case close_code::session_timed_out: return {reidentify, "session timed out (4009): the session cannot be resumed"};
    case close_code::authentication_failed:
      return {stop, "authentication failed (4004): Discord rejected the bot token; check DISCORD_TOKEN"};
    case close_code::invalid_shard:
      return {stop, "invalid shard (4010): the shard id or count is not valid; check SHARD_IDS and SHARD_COUNT "
                    "(large bots need a multiple of the shard count Discord assigns)"};
    case close_code::sharding_required:
      return {stop, "sharding required (4011): a shard would hold too many guilds; raise SHARD_COUNT or set "
                    "SHARD_COUNT=auto"};
    case close_code::invalid_api_version:
      return {stop, "invalid API version (4012): Discord does not accept the gateway API version (v=10) this "
                    "build requests; upgrade shardline"};
    case close_code::invalid_intents:
      return {stop, "invalid intents (4013): the intents value is not valid; check DISCORD_INTENTS"};
    case close_code::disallowed_intents:
      return {stop, "disallowed intents (4014): the bot asks for privileged intents it is not approved for; "
                    "enable them for the application in the Discord developer portal or remove them from "
                    "DISCORD_INTENTS"};
    case 1000: return {resume, "server closed the connection normally (1000)"};
    case 1001: return {resume, "server is going away (1001)"};
    default: break;
  }
  // Discord may add codes; resuming costs nothing, and a refused RESUME falls back to
  // IDENTIFY through INVALID_SESSION.
  if (*code >= 4000 && *code <= 4999) return {resume, "unrecognised Discord close code (4xxx)"};
  return {resume, "connection closed by the server (non-Discord close code)"};
}

} // namespace shardline::gateway
