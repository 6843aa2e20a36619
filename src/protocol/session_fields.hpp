#pragma once
// Fields of the shard-session ops (session_report, session_lookup; docs/protocol.md, "Shard
// sessions"): their limits and validity rules, shared by the hub that stores sessions and the
// link that reports them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shardline::protocol {

// Limits of the protocol; every peer-supplied size is bounded by one of these.
inline constexpr std::size_t kMaxSessionIdChars = 128;
inline constexpr std::size_t kMaxResumeUrlChars = 512;
inline constexpr std::size_t kMaxBindingChars = 128;
inline constexpr std::size_t kMaxSessionsPerFrame = 4096; // report entries or looked-up shard ids
inline constexpr std::uint32_t kMaxSessionShardCount = 1u << 20; // as identify_request

// 1..128 characters of [A-Za-z0-9_-] (Discord's are 32 hex digits).
bool valid_session_id(std::string_view s);
// At most 512 characters, "ws://" or "wss://" and at least one character more, printable ASCII
// without space, '"' or '\\' (none occurs in a gateway URL; keeping them out bounds the JSON a
// lookup answer needs per entry).
bool valid_resume_url(std::string_view s);
// A session's binding (what it belongs to; opaque to the hub): 1..128 characters of
// [A-Za-z0-9_-], as a session id (Shardline's are 64 hex digits).
bool valid_session_binding(std::string_view s);

// One shard's Discord session: what a cluster saves on disk (gateway/session_file), reports to
// the hub and gets back from it, and what the hub stores. One struct for all of them.
struct ShardSession {
  std::uint32_t shard_id = 0;
  std::uint32_t shard_count = 1;
  std::string session_id; // empty: none (a report with it empty deletes the hub's entry)
  std::uint64_t seq = 0;  // the last dispatch sequence handled
  std::string resume_url; // resume_gateway_url from READY
  // What the session belongs to (gateway::SessionBinding: a digest of the bot, the API and the
  // shard count); empty: unbound, and not resumed by Shardline.
  std::string binding;
};

} // namespace shardline::protocol
