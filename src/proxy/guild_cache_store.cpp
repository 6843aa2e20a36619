// GuildCache::serialize() and restore(): the cache written beside the shard's saved session,
// so a cluster restarted onto a RESUMEd session (which brings no GUILD_CREATEs) can still
// greet a bot process with every guild.
//
// The packed form is written as it is held (it is already compact: about a fifth of the
// JSON's size), with the key table its ids refer to:
//   "SLGC" version(1)
//   varint key_count, key_count * (varint len, bytes)
//   u8 has_ready, varint bot_user_id, 3 * blob (READY user, application, other fields)
//   varint guild_count, guild_count * (varint id, u8 available, blob fields,
//                                      varint entity_count, entity_count * (u8 kind, varint id, blob))
// where blob = varint len, bytes. restore() checks every length, id order and packed value
// (packed::validate: tags, key ids, string and number text), so a damaged file is refused,
// never rendered to a bot.

#include "proxy/guild_cache.hpp"

namespace shardline::proxy {

namespace {

constexpr std::string_view kMagic = "SLGC";
constexpr std::uint8_t kVersion = 1;

void put_blob(std::string& out, std::string_view bytes) {
  packed::put_varint(out, bytes.size());
  out.append(bytes);
}

struct Reader {
  const char* p;
  const char* end;

  bool varint(std::uint64_t& v) { return packed::get_varint(p, end, v); }
  bool byte(std::uint8_t& b) {
    if (p >= end) return false;
    b = static_cast<std::uint8_t>(*p++);
    return true;
  }
  bool blob(std::string_view& out) {
    std::uint64_t len = 0;
    if (!varint(len) || len > static_cast<std::uint64_t>(end - p)) return false;
    out = std::string_view(p, static_cast<std::size_t>(len));
    p += len;
    return true;
  }
};

bool is_object(std::string_view v) { return !v.empty() && static_cast<std::uint8_t>(v[0]) == packed::kObject; }

} // namespace

std::string GuildCache::serialize() const {
  std::string out;
  std::size_t size = 64 + ready_user_.size() + ready_application_.size() + ready_rest_.size();
  for (const auto& g : guilds_) {
    size += 16 + g.fields.size();
    for (const auto& e : g.entities) size += 16 + e.packed.size();
  }
  out.reserve(size);
  out.append(kMagic);
  out.push_back(static_cast<char>(kVersion));
  packed::put_varint(out, keys_.size());
  for (std::uint32_t id = 1; id <= keys_.size(); ++id) put_blob(out, keys_.name(id));
  out.push_back(has_ready_ ? 1 : 0);
  packed::put_varint(out, bot_user_id_);
  put_blob(out, ready_user_);
  put_blob(out, ready_application_);
  put_blob(out, ready_rest_);
  packed::put_varint(out, guilds_.size());
  for (const auto& g : guilds_) {
    packed::put_varint(out, g.id);
    out.push_back(g.available ? 1 : 0);
    put_blob(out, g.fields);
    packed::put_varint(out, g.entities.size());
    for (const auto& e : g.entities) {
      out.push_back(static_cast<char>(e.kind));
      packed::put_varint(out, e.id);
      put_blob(out, e.packed);
    }
  }
  return out;
}

Result<GuildCache> GuildCache::restore(std::string_view text, CacheOptions options) {
  auto bad = [](std::string what) { return fail(Errc::bad_input, "guild cache file: " + what); };
  if (text.size() < kMagic.size() + 1 || text.substr(0, kMagic.size()) != kMagic) return bad("not a guild cache");
  if (static_cast<std::uint8_t>(text[kMagic.size()]) != kVersion)
    return bad("version " + std::to_string(static_cast<std::uint8_t>(text[kMagic.size()])) + " is not " +
               std::to_string(kVersion));
  Reader r{text.data() + kMagic.size() + 1, text.data() + text.size()};

  GuildCache cache(options);
  // The file's key ids are what its packed values refer to: the table is rebuilt in its order,
  // then the keys the cache looks up are found (or added after it).
  cache.keys_ = packed::KeyTable{};
  std::uint64_t key_count = 0;
  if (!r.varint(key_count) || key_count > packed::kMaxKeys) return bad("bad key table");
  for (std::uint64_t i = 0; i < key_count; ++i) {
    std::string_view key;
    if (!r.blob(key)) return bad("truncated key table");
    auto id = cache.keys_.intern(key);
    if (!id || *id != i + 1) return bad("bad key in key table");
  }
  cache.intern_known_keys();
  const auto value_ok = [&](std::string_view v) { return packed::validate(v, key_count) && is_object(v); };

  std::uint8_t has_ready = 0;
  std::string_view user, application, rest;
  if (!r.byte(has_ready) || has_ready > 1 || !r.varint(cache.bot_user_id_) || !r.blob(user) || !r.blob(application) ||
      !r.blob(rest))
    return bad("truncated READY");
  if ((!user.empty() && !value_ok(user)) || (!application.empty() && !value_ok(application)) ||
      (!rest.empty() && !value_ok(rest)))
    return bad("damaged READY");
  cache.has_ready_ = has_ready == 1;
  cache.ready_user_ = std::string(user);
  cache.ready_application_ = std::string(application);
  cache.ready_rest_ = std::string(rest);

  std::uint64_t guild_count = 0;
  // Every guild takes at least 4 bytes: a count beyond the text is a lie, not a reserve.
  if (!r.varint(guild_count) || guild_count > static_cast<std::uint64_t>(r.end - r.p) / 4 + 1)
    return bad("bad guild count");
  cache.guilds_.reserve(static_cast<std::size_t>(guild_count));
  for (std::uint64_t i = 0; i < guild_count; ++i) {
    CachedGuild g;
    std::uint8_t available = 0;
    std::string_view fields;
    std::uint64_t entity_count = 0;
    if (!r.varint(g.id) || !r.byte(available) || available > 1 || !r.blob(fields) || !r.varint(entity_count))
      return bad("truncated guild");
    if (g.id == 0 || (!cache.guilds_.empty() && cache.guilds_.back().id >= g.id)) return bad("guilds out of order");
    g.available = available == 1;
    if (g.available != !fields.empty() || (g.available && !value_ok(fields))) return bad("damaged guild");
    if (!g.available && entity_count != 0) return bad("unavailable guild with data");
    if (entity_count > static_cast<std::uint64_t>(r.end - r.p) / 3) return bad("bad entity count");
    g.fields = std::string(fields);
    g.entities.reserve(static_cast<std::size_t>(entity_count));
    for (std::uint64_t j = 0; j < entity_count; ++j) {
      std::uint8_t kind = 0;
      std::uint64_t id = 0;
      std::string_view value;
      if (!r.byte(kind) || kind >= kEntityKinds || !r.varint(id) || !r.blob(value)) return bad("truncated entity");
      if (id == 0 || !value_ok(value)) return bad("damaged entity");
      const auto k = static_cast<EntityKind>(kind);
      if (!g.entities.empty()) {
        const auto& last = g.entities.back();
        if (last.kind > k || (last.kind == k && last.id >= id)) return bad("entities out of order");
      }
      g.entities.push_back(Entity{id, k, std::string(value)});
    }
    // Kept only what these options keep (the file may come from a run with more switched on).
    std::erase_if(g.entities, [&](const Entity& e) { return !cache.keeps(e.kind, e.packed); });
    g.entities.shrink_to_fit();
    cache.guilds_.push_back(std::move(g));
  }
  if (r.p != r.end) return bad("trailing bytes");
  return cache;
}

} // namespace shardline::proxy
