#pragma once
// Reading gateway payloads on the hot path (every dispatch of every shard): simdjson on-demand,
// one parser per shard, no DOM. parse() finds op, s and t and leaves d as raw JSON text; the
// few dispatches a shard manager looks into (READY, GUILD_CREATE, GUILD_DELETE) have their own
// extractors that read only the fields they need, so a 1 MB GUILD_CREATE costs a skim of its
// members and channels, not a tree.

#include "gateway/gateway_codes.hpp" // opcode::, for the callers of parse()

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::gateway {

struct GatewayPayload {
  int op = -1;
  std::optional<std::uint64_t> seq; // s: dispatches only
  std::string_view type;            // t: dispatches only (empty otherwise)
  std::string_view data;            // d as raw JSON text ("null" when null); points into the parsed text
};

struct ReadyInfo {
  std::string session_id;
  std::string resume_gateway_url;
  std::vector<std::uint64_t> guild_ids; // the guilds READY lists (unavailable until GUILD_CREATE)
  std::uint64_t user_id = 0;
  std::uint64_t application_id = 0;
};

struct GuildInfo {
  std::uint64_t id = 0;
  std::uint64_t member_count = 0; // 0 when absent (an unavailable guild)
  bool has_member_count = false;  // only GUILD_CREATE carries it; GUILD_UPDATE does not
  bool unavailable = false;
};

class PayloadParser {
public:
  PayloadParser();
  ~PayloadParser();
  PayloadParser(const PayloadParser&) = delete;
  PayloadParser& operator=(const PayloadParser&) = delete;

  // Parses one payload. `text` is the payload; its capacity may be grown to give simdjson
  // its padding, its contents are not changed. `out`'s views point into `text` and stay
  // valid until `text` changes. On malformed input (not an object, no integer op, s or t of
  // the wrong type, d missing is fine: "null") returns false and sets `error`.
  bool parse(std::string& text, GatewayPayload& out, std::string& error);

  // Extractors for `d` of a payload parse() just returned (the views must still point into
  // its text, which provides simdjson's padding). False on missing or mistyped fields.
  // Snowflakes are accepted as strings or numbers.
  bool hello_interval(std::string_view d, std::uint32_t& heartbeat_interval_ms);
  bool ready(std::string_view d, ReadyInfo& out);
  bool guild(std::string_view d, GuildInfo& out); // GUILD_CREATE, GUILD_DELETE, GUILD_UPDATE
  // INVALID_SESSION's d: true if resumable (anything but `true` counts as false).
  static bool invalid_session_resumable(std::string_view d);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace shardline::gateway
