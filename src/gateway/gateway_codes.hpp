#pragma once
// Discord's gateway opcodes and close codes (API v10), named once for the three places that
// speak the gateway: the shards (src/gateway, the client side), the simulator (src/sim, the
// server side) and the bot endpoint (src/proxy, a server to bot processes). One list keeps the
// three from drifting apart. Meanings: ../shared/discord/gateway.md and Discord's
// "Opcodes and Status Codes" page. Plain constants, not enum classes: `op` arrives as an int in
// every payload and a close code as the uint16 of a websocket close frame, and both are
// compared with what came off the wire.
//
// Header only and without dependencies (the shardline_gateway_codes interface library), so the
// simulator and the endpoint use it without linking the gateway's libraries.

#include <cstdint>

namespace shardline::gateway {

// The `op` of a gateway payload. "Sent by": who may send it.
namespace opcode {
inline constexpr int dispatch = 0;                   // server: an event (t, s and d)
inline constexpr int heartbeat = 1;                  // both: client's keep-alive; server asks for one now
inline constexpr int identify = 2;                   // client: starts a new session
inline constexpr int presence_update = 3;            // client: the bot's own presence
inline constexpr int voice_state_update = 4;         // client: join, move or leave a voice channel
inline constexpr int resume = 6;                     // client: continues a session, replaying missed events
inline constexpr int reconnect = 7;                  // server: reconnect and resume
inline constexpr int request_guild_members = 8;      // client: asks for GUILD_MEMBERS_CHUNK dispatches
inline constexpr int invalid_session = 9;            // server: d true = resumable, false = IDENTIFY again
inline constexpr int hello = 10;                     // server: first payload, carries heartbeat_interval
inline constexpr int heartbeat_ack = 11;             // server: a heartbeat was received
inline constexpr int request_soundboard_sounds = 31; // client: asks for SOUNDBOARD_SOUNDS dispatches

// What a client may send; a server closes with 4001 on anything else.
constexpr bool sent_by_client(std::uint64_t op) {
  return op == heartbeat || op == identify || op == presence_update || op == voice_state_update || op == resume ||
         op == request_guild_members || op == request_soundboard_sounds;
}
} // namespace opcode

// The code of the websocket close frame Discord sends. "Resume" and "stop" are what a client
// should do next (gateway.md's table); 4006 is no longer used by Discord.
namespace close_code {
inline constexpr std::uint16_t unknown_error = 4000;         // something went wrong; resume
inline constexpr std::uint16_t unknown_opcode = 4001;        // an invalid op was sent; resume
inline constexpr std::uint16_t decode_error = 4002;          // invalid payload, or over 4096 bytes; resume
inline constexpr std::uint16_t not_authenticated = 4003;     // a payload before IDENTIFY; resume
inline constexpr std::uint16_t authentication_failed = 4004; // bad token in IDENTIFY; stop
inline constexpr std::uint16_t already_authenticated = 4005; // a second IDENTIFY or RESUME; resume
inline constexpr std::uint16_t invalid_seq = 4007;           // RESUME with a bad seq; new session
inline constexpr std::uint16_t rate_limited = 4008;          // over 120 commands in 60 s; resume
inline constexpr std::uint16_t session_timed_out = 4009;     // the session expired; new session
inline constexpr std::uint16_t invalid_shard = 4010;         // shard id or count not valid; stop
inline constexpr std::uint16_t sharding_required = 4011;     // too many guilds for one shard; stop
inline constexpr std::uint16_t invalid_api_version = 4012;   // the `v` query parameter; stop
inline constexpr std::uint16_t invalid_intents = 4013;       // an intents value that is not valid; stop
inline constexpr std::uint16_t disallowed_intents = 4014;    // privileged intents not approved; stop
} // namespace close_code

} // namespace shardline::gateway
