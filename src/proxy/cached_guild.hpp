#pragma once
// One guild as the cache holds it: the guild's own fields as one packed object, and its
// channels, threads, roles, emojis, stickers, members, presences and voice states as packed
// objects keyed by snowflake in one vector sorted by (kind, id).
//
// Why one sorted vector rather than a container per list: most guilds have a few channels and
// roles and, without the members setting, one member (the bot); eight vectors would cost 192
// bytes per guild before holding anything, eight maps far more. A sorted vector finds an entry
// by binary search and walks a list as a contiguous range; a GUILD_MEMBERS_CHUNK of 1,000
// members is appended and sorted once.

#include "proxy/packed_json.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::proxy {

enum class EntityKind : std::uint8_t { channel, thread, role, emoji, sticker, member, presence, voice_state };
inline constexpr std::size_t kEntityKinds = 8;
// The GUILD_CREATE key of each kind's list, in EntityKind order (also the rendering order).
inline constexpr std::array<std::string_view, kEntityKinds> kEntityListKeys = {
    "channels", "threads", "roles", "emojis", "stickers", "members", "presences", "voice_states"};

struct Entity {
  std::uint64_t id = 0;
  EntityKind kind = EntityKind::channel;
  std::string packed; // a packed object
};

struct CachedGuild {
  std::uint64_t id = 0;
  bool available = false;
  std::string fields;           // packed object: everything but the entity lists; empty if unavailable
  std::vector<Entity> entities; // sorted by (kind, id), ids unique per kind

  // The entry, or nullptr.
  Entity* find(EntityKind kind, std::uint64_t entity_id);
  // Inserts or replaces.
  void upsert(EntityKind kind, std::uint64_t entity_id, std::string packed);
  bool erase(EntityKind kind, std::uint64_t entity_id);
  // Removes every entry of `kind` for which pred(entity) is true.
  template <class Pred>
  void erase_if(EntityKind kind, Pred pred) {
    std::erase_if(entities, [&](const Entity& e) { return e.kind == kind && pred(e); });
  }
  // Sorts and removes duplicates (the last one added wins): after a bulk append.
  void normalize();
  // Drops the data of an unavailable guild (Discord sends it all again when it comes back).
  void clear_data();

  void render(const packed::KeyTable& keys, std::string& out) const;
  std::size_t memory_bytes() const; // heap held beyond sizeof(CachedGuild)
};

// Heap bytes of one allocation of `n` bytes (glibc malloc: 8-byte header, 16-byte rounding).
std::size_t heap_chunk(std::size_t n);
// Heap bytes of a string's buffer (none when short enough to live inside the string).
std::size_t heap_of(const std::string& s);

} // namespace shardline::proxy
