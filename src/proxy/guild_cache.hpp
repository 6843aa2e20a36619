#pragma once
// The guild cache of the bot endpoint (issue 14): one per shard, fed every dispatch of the
// shard in order, so that a bot process connecting to the endpoint can be sent what Discord
// would send a fresh session: READY, then one GUILD_CREATE per available guild, as the guilds
// are now.
//
// What is kept is what gateway-proxy's `cache` block keeps: the guild, its channels, threads,
// roles, emojis and stickers, and the bot's own member; every member, presences and voice
// states only when CacheOptions says so (a big bot's members are most of its memory).
//
// Memory is the design's first concern (issue 14's target: at most 1/4 of discord.js's own
// cache for the same guilds). Every object is kept as packed JSON (packed_json.hpp: interned
// keys, varint snowflakes, one byte string per object), guilds in a vector sorted by id, each
// guild's lists in one sorted vector (cached_guild.hpp). apply() parses with simdjson
// on-demand straight into that form; rendering is string appends.
//
// Not thread-safe: one owner (the shard's strand) applies and renders.

#include "core/error.hpp"
#include "proxy/cached_guild.hpp"
#include "proxy/json_packer.hpp"
#include "proxy/packed_json.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::proxy {

struct CacheOptions {
  bool members = false;
  bool presences = false;
  bool voice_states = false;
};

class GuildCache {
public:
  explicit GuildCache(CacheOptions options = {});
  GuildCache(GuildCache&&) noexcept;
  GuildCache& operator=(GuildCache&&) noexcept;
  ~GuildCache();

  // type: dispatch name ("READY", "GUILD_CREATE", ...); d_json: the dispatch's d as raw JSON
  // text (valid only during the call). Unknown types are ignored; malformed JSON is ignored
  // (counted in malformed_count()).
  void apply(std::string_view type, std::string_view d_json);
  bool has_ready() const { return has_ready_; }
  // READY's d for a client session: the shard's real user, application, and every guild the
  // shard holds as {"id": "...", "unavailable": true} (as Discord sends it), with the client's
  // own session_id and resume_gateway_url, shard [id, count], v 10, and the other fields READY
  // had.
  std::string ready_data(std::string_view session_id, std::string_view resume_gateway_url, std::uint32_t shard_id,
                         std::uint32_t shard_count) const;
  std::vector<std::uint64_t> available_guild_ids() const; // guilds with a full GUILD_CREATE
  std::size_t guild_count() const { return guilds_.size(); } // available + unavailable
  // GUILD_CREATE d of a guild as it is now, or nullopt if unknown/unavailable.
  std::optional<std::string> guild_create(std::uint64_t guild_id) const;
  // Heap held, estimated from capacities and glibc's allocation sizes (for status and benches).
  // Not counted: the JSON parser's scratch, which is one per thread, shared by every cache
  // applied on that thread (see apply()).
  std::size_t memory_bytes() const;
  std::uint64_t bot_user_id() const { return bot_user_id_; } // from READY (0 before)
  // Dispatches ignored because they were malformed (not JSON, wrong types, missing ids).
  std::uint64_t malformed_count() const { return malformed_; }
  const CacheOptions& options() const { return options_; }

  // Persisting across a cluster restart (the shard RESUMEs, Discord does not resend
  // GUILD_CREATEs): a compact, versioned binary form.
  std::string serialize() const;
  // Errc::bad_input if `text` is not a well-formed serialization of this version. Data the
  // options exclude (members with members off...) is dropped.
  static Result<GuildCache> restore(std::string_view text, CacheOptions options);

private:
  // The ids of the keys the cache looks at, interned once (intern_known_keys()). Defined here,
  // not in a .cpp: the cache's state (guild_cache.cpp) and its event handlers
  // (guild_cache_events.cpp) both read them.
  struct Keys {
    std::uint32_t id = 0, guild_id = 0, user = 0, user_id = 0, member_count = 0, unavailable = 0, guilds = 0,
                  session_id = 0, resume_gateway_url = 0, shard = 0, v = 0, application = 0, role = 0, role_id = 0,
                  parent_id = 0, channel_id = 0, channel_ids = 0, status = 0, type = 0, member = 0;
    std::array<std::uint32_t, kEntityKinds> lists{};

    // The entity kind whose list `key` is, or -1.
    int list_kind(std::uint32_t key) const {
      for (std::size_t i = 0; i < kEntityKinds; ++i)
        if (lists[i] == key) return static_cast<int>(i);
      return -1;
    }
  };
  void intern_known_keys();

  CachedGuild* find_guild(std::uint64_t id);
  const CachedGuild* find_guild(std::uint64_t id) const;
  CachedGuild& guild_slot(std::uint64_t id); // found or inserted (unavailable)
  // The available guild named by d's guild_id, or nullptr.
  CachedGuild* target_guild(std::string_view d);

  bool keeps(EntityKind kind, std::string_view entity) const;
  std::optional<std::uint64_t> entity_id(EntityKind kind, std::string_view entity) const;

  // guild_cache_events.cpp: applying dispatches.
  //
  // A handler finds the id its event is about first; when the id is missing or not a
  // snowflake the event is malformed: counted, and dropped before anything changed (apply()
  // relies on that to forget the keys the event brought). required_id() is that check:
  // `object`'s field `key`, or the id of an entity of `kind` (entity_id()); nullopt means
  // counted already, the handler returns.
  std::optional<std::uint64_t> required_id(std::string_view object, std::uint32_t key);
  std::optional<std::uint64_t> required_id(EntityKind kind, std::string_view entity);
  void count_malformed() { ++malformed_; } // for the handlers' other checks
  std::string strip_for_storage(EntityKind kind, std::string_view entity) const;
  // Replaces all entries of `kind` with the array `list`; false if malformed.
  bool replace_list(CachedGuild& guild, EntityKind kind, std::string_view list);
  void adjust_member_count(CachedGuild& guild, int delta);

  void on_ready(std::string_view d);
  void on_guild_create(std::string_view d);
  void on_guild_update(std::string_view d);
  void on_guild_delete(std::string_view d);
  void on_channel(std::string_view type, std::string_view d);
  void on_thread(std::string_view type, std::string_view d);
  void on_thread_list_sync(std::string_view d);
  void on_role(std::string_view type, std::string_view d);
  void on_list_update(EntityKind kind, std::string_view d);
  void on_member(std::string_view type, std::string_view d);
  void on_members_chunk(std::string_view d);
  void on_presence(std::string_view d);
  void on_voice_state(std::string_view d);
  void on_user_update(std::string_view d);

  CacheOptions options_;
  packed::KeyTable keys_;
  std::unique_ptr<Keys> k_;
  bool has_ready_ = false;
  std::uint64_t bot_user_id_ = 0;
  std::string ready_user_;        // packed
  std::string ready_application_; // packed
  std::string ready_rest_;        // packed object: READY's other lasting fields
  std::vector<CachedGuild> guilds_; // sorted by id
  std::uint64_t malformed_ = 0;
};

} // namespace shardline::proxy
