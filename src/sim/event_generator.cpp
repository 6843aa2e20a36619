#include "sim/event_generator.hpp"

#include "sim/gateway_protocol.hpp"

#include <array>
#include <charconv>
#include <string_view>

#include <time.h>

namespace shardline::sim {

namespace {

constexpr std::array<std::string_view, 24> kWords{
    "hello", "anyone", "playing", "tonight", "gg",    "lol",    "the",   "raid",  "starts", "at",    "nine",  "who",
    "wants", "to",     "join",    "nice",    "update", "bot",   "please", "check", "server", "thanks", "meme", "music"};

void append_u64(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// "id" as JSON text: snowflakes are strings in Discord's payloads.
void append_id(std::string& out, std::uint64_t v) {
  out += '"';
  append_u64(out, v);
  out += '"';
}

} // namespace

std::uint64_t send_stamp_now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

void EventGenerator::append_user(std::uint64_t id, std::uint64_t n) {
  auto& d = event_.data;
  d += "{\"id\":";
  append_id(d, id);
  d += ",\"username\":\"user";
  append_u64(d, n % 100000);
  d += "\",\"discriminator\":\"0\",\"global_name\":null,\"avatar\":null,\"public_flags\":0}";
}

const GeneratedEvent& EventGenerator::next(std::uint64_t unix_ms, std::optional<std::uint64_t> send_stamp_us) {
  auto& guilds = world_.guilds();
  auto& ev = event_;
  auto& d = ev.data;
  d.clear();
  ev.guild = &guilds[rng_() % guilds.size()];
  const std::uint64_t gid = ev.guild->id, channel = gid + 1; // #general, as in GUILD_CREATE
  auto n = rng_();
  // Members joined some time after their guild was created; ids say so.
  auto user_id = World::snowflake(World::unix_ms_of(gid) + n % 86'400'000ULL, 0, 3, n % 4096);
  if (iso_ms_ != unix_ms) {
    iso_ = iso8601_ms(unix_ms);
    iso_ms_ = unix_ms;
  }
  ++generated_;
  unsigned roll = static_cast<unsigned>(rng_() % 100);
  if (roll < 70) {
    ev.type = "MESSAGE_CREATE";
    ev.intent = intent::guild_messages;
    auto msg_id = World::snowflake(unix_ms, 1, 1, static_cast<std::uint32_t>(generated_ % 4096));
    d += "{\"type\":0,\"tts\":false,\"timestamp\":\"";
    d += iso_;
    d += "\",\"pinned\":false,\"mentions\":[],\"mention_roles\":[],\"mention_everyone\":false,\"id\":";
    append_id(d, msg_id);
    if (send_stamp_us) {
      d += ",\"nonce\":";
      append_id(d, *send_stamp_us); // a string, as a client's nonce usually is
    }
    d += ",\"flags\":0,\"embeds\":[],\"edited_timestamp\":null,\"content\":\"";
    for (unsigned i = 0, words = 3 + static_cast<unsigned>(rng_() % 10); i < words; ++i) {
      if (i) d += ' ';
      d += kWords[rng_() % kWords.size()];
    }
    d += "\",\"components\":[],\"channel_id\":";
    append_id(d, channel);
    d += ",\"author\":";
    append_user(user_id, n);
    d += ",\"attachments\":[],\"guild_id\":";
    append_id(d, gid);
    d += ",\"member\":{\"roles\":[],\"joined_at\":\"";
    d += iso_;
    d += "\",\"deaf\":false,\"mute\":false,\"flags\":0}}";
  } else if (roll < 90) {
    ev.type = "PRESENCE_UPDATE";
    ev.intent = intent::guild_presences;
    static constexpr std::array<std::string_view, 4> kStatus{"online", "idle", "dnd", "offline"};
    auto status = kStatus[rng_() % kStatus.size()];
    d += "{\"user\":{\"id\":";
    append_id(d, user_id);
    d += "},\"status\":\"";
    d += status;
    d += "\",\"guild_id\":";
    append_id(d, gid);
    d += ",\"client_status\":{\"desktop\":\"";
    d += status;
    d += "\"},\"activities\":[]}";
  } else if (roll < 95) {
    ev.type = "TYPING_START";
    ev.intent = intent::guild_message_typing;
    d += "{\"user_id\":";
    append_id(d, user_id);
    d += ",\"timestamp\":";
    append_u64(d, unix_ms / 1000);
    d += ",\"channel_id\":";
    append_id(d, channel);
    d += ",\"guild_id\":";
    append_id(d, gid);
    d += '}';
  } else {
    ev.type = "GUILD_MEMBER_ADD";
    ev.intent = intent::guild_members;
    d += "{\"user\":";
    append_user(user_id, n);
    d += ",\"roles\":[],\"joined_at\":\"";
    d += iso_;
    d += "\",\"deaf\":false,\"mute\":false,\"flags\":0,\"pending\":false,\"guild_id\":";
    append_id(d, gid);
    d += '}';
  }
  return ev;
}

} // namespace shardline::sim
