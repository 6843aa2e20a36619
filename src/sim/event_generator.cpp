#include "sim/event_generator.hpp"

#include "sim/gateway_protocol.hpp"

#include <array>

namespace shardline::sim {

namespace {

constexpr std::array kWords{"hello",   "anyone", "playing", "tonight", "gg",     "lol",    "the",   "raid",
                            "starts",  "at",     "nine",    "who",     "wants",  "to",     "join",  "nice",
                            "update",  "bot",    "please",  "check",   "server", "thanks", "meme",  "music"};

std::string user_json(std::uint64_t id, std::uint64_t n) {
  return "{\"id\":\"" + std::to_string(id) + "\",\"username\":\"user" + std::to_string(n % 100000) +
         "\",\"discriminator\":\"0\",\"global_name\":null,\"avatar\":null,\"public_flags\":0}";
}

} // namespace

GeneratedEvent EventGenerator::next(std::uint64_t unix_ms) {
  auto& guilds = world_.guilds();
  GeneratedEvent ev;
  ev.guild = &guilds[rng_() % guilds.size()];
  auto gid = std::to_string(ev.guild->id);
  auto channel = std::to_string(ev.guild->id + 1); // #general, as in GUILD_CREATE
  auto n = rng_();
  // Members joined some time after their guild was created; ids say so.
  auto user_id = World::snowflake(World::unix_ms_of(ev.guild->id) + n % 86'400'000ULL, 0, 3, n % 4096);
  auto now_iso = iso8601_ms(unix_ms);
  ++generated_;
  unsigned roll = static_cast<unsigned>(rng_() % 100);
  if (roll < 70) {
    ev.type = "MESSAGE_CREATE";
    ev.intent = intent::guild_messages;
    std::string content;
    for (unsigned i = 0, words = 3 + static_cast<unsigned>(rng_() % 10); i < words; ++i) {
      if (i) content += ' ';
      content += kWords[rng_() % kWords.size()];
    }
    auto msg_id = World::snowflake(unix_ms, 1, 1, static_cast<std::uint32_t>(generated_ % 4096));
    ev.data = "{\"type\":0,\"tts\":false,\"timestamp\":\"" + now_iso + "\",\"pinned\":false,\"mentions\":[]," +
              "\"mention_roles\":[],\"mention_everyone\":false,\"id\":\"" + std::to_string(msg_id) +
              "\",\"flags\":0,\"embeds\":[],\"edited_timestamp\":null,\"content\":\"" + content +
              "\",\"components\":[],\"channel_id\":\"" + channel + "\",\"author\":" + user_json(user_id, n) +
              ",\"attachments\":[],\"guild_id\":\"" + gid + "\",\"member\":{\"roles\":[],\"joined_at\":\"" +
              now_iso + "\",\"deaf\":false,\"mute\":false,\"flags\":0}}";
  } else if (roll < 90) {
    ev.type = "PRESENCE_UPDATE";
    ev.intent = intent::guild_presences;
    static constexpr std::array kStatus{"online", "idle", "dnd", "offline"};
    auto status = kStatus[rng_() % kStatus.size()];
    ev.data = "{\"user\":{\"id\":\"" + std::to_string(user_id) + "\"},\"status\":\"" + status +
              "\",\"guild_id\":\"" + gid + "\",\"client_status\":{\"desktop\":\"" + status +
              "\"},\"activities\":[]}";
  } else if (roll < 95) {
    ev.type = "TYPING_START";
    ev.intent = intent::guild_message_typing;
    ev.data = "{\"user_id\":\"" + std::to_string(user_id) + "\",\"timestamp\":" + std::to_string(unix_ms / 1000) +
              ",\"channel_id\":\"" + channel + "\",\"guild_id\":\"" + gid + "\"}";
  } else {
    ev.type = "GUILD_MEMBER_ADD";
    ev.intent = intent::guild_members;
    ev.data = "{\"user\":" + user_json(user_id, n) + ",\"roles\":[],\"joined_at\":\"" + now_iso +
              "\",\"deaf\":false,\"mute\":false,\"flags\":0,\"pending\":false,\"guild_id\":\"" + gid + "\"}";
  }
  return ev;
}

} // namespace shardline::sim
