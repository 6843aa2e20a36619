#pragma once
// What a shard does when its gateway connection ends, by the close code Discord sent
// (../shared/discord/gateway.md, "Close codes"): resume the session, start a new one, or stop
// and tell the operator why. Pure.

#include <cstdint>
#include <optional>
#include <string_view>

namespace shardline::gateway {

enum class CloseAction {
  resume,     // reconnect to resume_gateway_url and RESUME (IDENTIFY if there is no session)
  reidentify, // the session is gone: IDENTIFY again (a new session), after 1-5 s
  stop,       // retrying cannot help: the shard stops, with an operator-facing reason
};

struct CloseDecision {
  CloseAction action = CloseAction::resume;
  // For `stop`: what the operator must change, e.g. "Authentication failed (4004): check
  // DISCORD_TOKEN". Otherwise a short description for the log ("unknown error (4000)").
  std::string_view reason;
};

// `code`: the close code the server sent; nullopt when the connection ended without one (TCP
// reset, EOF, a read error). 4000-4014 follow the table; 1000/1001 from the server, other
// 1xxx codes and unknown 4xxx codes resume (Discord may add codes; resuming costs nothing and
// a refused RESUME falls back to IDENTIFY through INVALID_SESSION).
CloseDecision decide_close(std::optional<std::uint16_t> code);

// The code a shard closes its own connection with when it intends to RESUME (zombie
// connection, RECONNECT, shutdown with saved state): anything but 1000/1001 keeps the session.
inline constexpr std::uint16_t kResumeCloseCode = 4900;
// The code it closes with when it gives its session up for good.
inline constexpr std::uint16_t kEndSessionCloseCode = 1000;

} // namespace shardline::gateway
