#pragma once
// The gateway's wire format (v10, encoding=json), without any networking: parsing what a
// client sends into checked commands, and building the payloads the simulator sends. Kept
// apart from the server so every rule about shapes and close codes is unit-testable.

#include "gateway/gateway_codes.hpp"
#include "sim/interaction_store.hpp"
#include "sim/world.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::sim {

// Discord's opcodes and close codes, as the rest of the simulator names them.
namespace op = gateway::opcode;
namespace close_code = gateway::close_code;

inline constexpr std::size_t kMaxPayloadBytes = 4096;

// A refusal: the connection is closed with `code` (and `reason`, at most 123 bytes).
struct GatewayError {
  std::uint16_t code = 0;
  std::string reason;
};

struct ClientCommand {
  int op = -1;
  // The raw `d` for ops the caller parses further; only set for identify, resume and
  // request_guild_members.
  std::string d_json;
  std::optional<std::uint64_t> heartbeat_seq; // op 1: d as a number (null: none)
};

// Parses one client frame. Errors: not JSON, not an object, no integer op -> 4002;
// an op clients may not send -> 4001.
std::optional<ClientCommand> parse_command(std::string_view text, GatewayError& err);

struct Identify {
  std::string token;
  std::uint64_t intents = 0;
  std::uint32_t shard_id = 0;
  std::uint32_t num_shards = 1;
  std::uint32_t large_threshold = 50;
};

// Checks an IDENTIFY's `d` (shape only: the token and shard against the world are the
// caller's). Errors: malformed -> 4002; missing or unknown intents -> 4013; a shard pair that
// is not [id < count] with count >= 1 -> 4010.
std::optional<Identify> parse_identify(std::string_view d_json, GatewayError& err);

struct Resume {
  std::string token;
  std::string session_id;
  std::uint64_t seq = 0;
};

std::optional<Resume> parse_resume(std::string_view d_json, GatewayError& err);

struct MemberRequest {
  std::vector<std::uint64_t> guild_ids; // guild_id: one id or an array of them
  std::optional<std::string> nonce;
};

// Checks a REQUEST_GUILD_MEMBERS's `d`. Errors: malformed (no guild_id, a nonce that is not a
// string of at most 32 bytes) -> 4002.
std::optional<MemberRequest> parse_member_request(std::string_view d_json, GatewayError& err);

// Server frames.
std::string hello_frame(std::uint32_t heartbeat_interval_ms);
std::string heartbeat_ack_frame();
std::string heartbeat_request_frame(std::uint64_t last_seq);
std::string reconnect_frame();
std::string invalid_session_frame(bool resumable);
std::string dispatch_frame(std::string_view type, std::uint64_t seq, std::string_view data_json);

// Dispatch bodies (`d`).
std::string ready_data(const World& world, std::string_view session_id, std::string_view resume_url,
                       std::uint32_t shard_id, std::uint32_t num_shards);
std::string guild_create_data(const World& world, const Guild& guild, std::uint32_t large_threshold);
std::string guild_unavailable_data(const Guild& guild); // GUILD_DELETE during an outage
std::string guild_removed_data(std::uint64_t guild_id);  // GUILD_DELETE: the bot left or was removed
std::string resumed_data();
// GUILD_MEMBERS_CHUNK answering a member request: the guild's members as the simulator knows
// them (the bot's own member), in one chunk, with the request's nonce.
std::string guild_members_chunk_data(const World& world, const Guild& guild, const std::optional<std::string>& nonce);
// INTERACTION_CREATE for a slash command (type 2) invoked by a member of the guild.
std::string interaction_create_data(const World& world, const Interaction& in, std::uint64_t command_id);
// MESSAGE_CREATE for a message a user posts in a guild channel.
std::string user_message_data(std::uint64_t message_id, std::uint64_t unix_ms, std::uint64_t guild_id,
                              std::uint64_t channel_id, std::uint64_t user_id, std::string_view content);

// Helpers shared with the REST side.
std::string iso8601_ms(std::uint64_t unix_ms); // 2021-03-04T05:06:07.123000+00:00
std::string bot_user_json(const World& world);

} // namespace shardline::sim
