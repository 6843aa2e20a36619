#pragma once
// The endpoint's side of Discord's gateway wire format (v10, encoding=json), without
// networking: what a client sends, checked, and the frames the endpoint sends. Close codes are
// Discord's (../shared/discord/gateway.md, "Close codes"). Pure.

#include "gateway/gateway_codes.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shardline::proxy {

// Discord's opcodes and close codes, as the rest of the endpoint names them.
namespace op = gateway::opcode;
namespace close_code = gateway::close_code;

// A refusal: close the connection with `code` and `reason` (at most 123 bytes on the wire).
struct Refusal {
  std::uint16_t code = 0;
  std::string reason;
};

// One client frame: its op and d (null when absent).
struct ClientFrame {
  int op = -1;
  boost::json::value d;
};

// Parses a client's text frame. Refusals: not a JSON object, no integer op -> 4002; an op a
// client may not send -> 4001.
std::optional<ClientFrame> parse_client_frame(std::string_view text, Refusal& refusal);

struct IdentifyRequest {
  std::string token;
  std::uint32_t shard_id = 0;
  std::uint32_t shard_count = 1; // no `shard`: [0, 1], as Discord reads it
};
// IDENTIFY's d; malformed -> 4002.
std::optional<IdentifyRequest> parse_identify(const boost::json::value& d, Refusal& refusal);

struct ResumeRequest {
  std::string token;
  std::string session_id;
  std::uint64_t seq = 0;
};
// RESUME's d; malformed -> 4002. A null seq reads as 0.
std::optional<ResumeRequest> parse_resume(const boost::json::value& d, Refusal& refusal);

// The token as a client sends it, without the "Bot " prefix some add.
std::string_view bare_token(std::string_view token);

std::string hello_frame(std::uint32_t heartbeat_interval_ms);
std::string heartbeat_ack_frame();
std::string invalid_session_frame(bool resumable);
// {"op":0,"s":seq,"t":type,"d":d} with d as raw JSON text.
std::string dispatch_frame(std::string_view type, std::uint64_t seq, std::string_view d_json);

// A close reason cut to what a websocket close frame carries (123 bytes), on a UTF-8 boundary.
std::string close_reason(std::string reason);

} // namespace shardline::proxy
