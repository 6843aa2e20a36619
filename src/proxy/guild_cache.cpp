// The guild cache's state and what is read from it: the known keys, finding and inserting
// guilds, which entities are kept and under what id, apply()'s routing of a dispatch to its
// handler, and rendering READY and GUILD_CREATE for a client session. The handlers, which
// change the state, are guild_cache_events.cpp; persisting is guild_cache_store.cpp.

#include "proxy/guild_cache.hpp"

#include <algorithm>

namespace shardline::proxy {

namespace pk = packed;

namespace {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

bool is_object(std::string_view v) { return !v.empty() && static_cast<std::uint8_t>(v[0]) == pk::kObject; }

} // namespace

GuildCache::GuildCache(CacheOptions options) : options_(options), k_(std::make_unique<Keys>()) {
  intern_known_keys();
}
GuildCache::GuildCache(GuildCache&&) noexcept = default;
GuildCache& GuildCache::operator=(GuildCache&&) noexcept = default;
GuildCache::~GuildCache() = default;

void GuildCache::intern_known_keys() {
  auto id = [&](std::string_view name) { return keys_.intern(name).value_or(0); };
  auto& k = *k_;
  k.id = id("id");
  k.guild_id = id("guild_id");
  k.user = id("user");
  k.user_id = id("user_id");
  k.member_count = id("member_count");
  k.unavailable = id("unavailable");
  k.guilds = id("guilds");
  k.session_id = id("session_id");
  k.resume_gateway_url = id("resume_gateway_url");
  k.shard = id("shard");
  k.v = id("v");
  k.application = id("application");
  k.role = id("role");
  k.role_id = id("role_id");
  k.parent_id = id("parent_id");
  k.channel_id = id("channel_id");
  k.channel_ids = id("channel_ids");
  k.status = id("status");
  k.type = id("type");
  k.member = id("member");
  for (std::size_t i = 0; i < kEntityKinds; ++i) k.lists[i] = id(kEntityListKeys[i]);
}

// ---- lookups ---------------------------------------------------------------------------

CachedGuild* GuildCache::find_guild(std::uint64_t id) {
  auto it = std::lower_bound(guilds_.begin(), guilds_.end(), id,
                             [](const CachedGuild& g, std::uint64_t v) { return g.id < v; });
  return it != guilds_.end() && it->id == id ? &*it : nullptr;
}

const CachedGuild* GuildCache::find_guild(std::uint64_t id) const {
  return const_cast<GuildCache*>(this)->find_guild(id);
}

CachedGuild& GuildCache::guild_slot(std::uint64_t id) {
  auto it = std::lower_bound(guilds_.begin(), guilds_.end(), id,
                             [](const CachedGuild& g, std::uint64_t v) { return g.id < v; });
  if (it != guilds_.end() && it->id == id) return *it;
  CachedGuild g;
  g.id = id;
  return *guilds_.insert(it, std::move(g));
}

CachedGuild* GuildCache::target_guild(std::string_view d) {
  auto field = pk::find(d, k_->guild_id);
  if (!field) return nullptr;
  auto id = pk::as_id(*field);
  if (!id) return nullptr;
  auto* g = find_guild(*id);
  return g != nullptr && g->available ? g : nullptr;
}

std::optional<std::uint64_t> GuildCache::entity_id(EntityKind kind, std::string_view entity) const {
  if (!is_object(entity)) return std::nullopt;
  std::optional<std::string_view> v;
  switch (kind) {
    case EntityKind::member:
    case EntityKind::presence: {
      auto user = pk::find(entity, k_->user);
      if (user) v = pk::find(*user, k_->id);
      break;
    }
    case EntityKind::voice_state: v = pk::find(entity, k_->user_id); break;
    default: v = pk::find(entity, k_->id); break;
  }
  return v ? pk::as_id(*v) : std::nullopt;
}

bool GuildCache::keeps(EntityKind kind, std::string_view entity) const {
  switch (kind) {
    case EntityKind::member:
      // The bot's own member always: a bot reads its own roles and permissions from it.
      return options_.members || (bot_user_id_ != 0 && entity_id(kind, entity) == bot_user_id_);
    case EntityKind::presence: return options_.presences;
    case EntityKind::voice_state: return options_.voice_states;
    default: return true;
  }
}

// ---- applying a dispatch ------------------------------------------------------------------
// Which dispatches are parsed, the parser, and undoing a malformed one's keys: the cache's
// invariants, kept here; the handlers are guild_cache_events.cpp.

void GuildCache::apply(std::string_view type, std::string_view d_json) {
  using Handler = void (GuildCache::*)(std::string_view);
  struct Route {
    std::string_view type;
    Handler handler;
  };
  // Only the dispatches that change what READY and GUILD_CREATE hold are parsed at all: the
  // bulk of a shard's traffic (MESSAGE_CREATE, TYPING_START...) costs one string compare each.
  static constexpr Route routes[] = {
      {"READY", &GuildCache::on_ready},
      {"GUILD_CREATE", &GuildCache::on_guild_create},
      {"GUILD_UPDATE", &GuildCache::on_guild_update},
      {"GUILD_DELETE", &GuildCache::on_guild_delete},
      {"THREAD_LIST_SYNC", &GuildCache::on_thread_list_sync},
      {"GUILD_MEMBERS_CHUNK", &GuildCache::on_members_chunk},
      {"PRESENCE_UPDATE", &GuildCache::on_presence},
      {"VOICE_STATE_UPDATE", &GuildCache::on_voice_state},
      {"USER_UPDATE", &GuildCache::on_user_update},
  };
  static constexpr std::string_view typed[] = {
      "CHANNEL_CREATE",    "CHANNEL_UPDATE",    "CHANNEL_DELETE",    "THREAD_CREATE",        "THREAD_UPDATE",
      "THREAD_DELETE",     "GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE",    "GUILD_MEMBER_ADD",
      "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE", "GUILD_EMOJIS_UPDATE", "GUILD_STICKERS_UPDATE"};

  Handler handler = nullptr;
  for (const auto& r : routes)
    if (r.type == type) handler = r.handler;
  const bool is_typed = std::find(std::begin(typed), std::end(typed), type) != std::end(typed);
  if (handler == nullptr && !is_typed) return;
  // Presences and voice states are the busiest of these; not kept, they are not parsed.
  if (type == "PRESENCE_UPDATE" && !options_.presences) return;
  if (type == "VOICE_STATE_UPDATE" && !options_.voice_states) return;

  // One parser per thread, not per cache: its buffers grow to the largest payload seen (READY
  // of 2,500 guilds is ~110 KB, six times that in parser buffers) and are scratch between two
  // calls, so the 16 caches of a cluster share one instead of holding 16. apply() never
  // suspends, so nothing else on the thread can use it meanwhile.
  static thread_local JsonPacker packer;
  const std::size_t known_keys = keys_.size();
  auto d = packer.pack_object(d_json, keys_);
  if (!d) return count_malformed();
  const auto malformed_before = malformed_;
  if (handler != nullptr) {
    (this->*handler)(*d);
  } else if (type.starts_with("CHANNEL_")) {
    on_channel(type, *d);
  } else if (type.starts_with("THREAD_")) {
    on_thread(type, *d);
  } else if (type.starts_with("GUILD_ROLE_")) {
    on_role(type, *d);
  } else if (type.starts_with("GUILD_MEMBER_")) {
    on_member(type, *d);
  } else if (type == "GUILD_EMOJIS_UPDATE") {
    on_list_update(EntityKind::emoji, *d);
  } else {
    on_list_update(EntityKind::sticker, *d);
  }
  // Every handler decides a payload is malformed before it changes anything, so the keys only
  // that payload brought can go again.
  if (malformed_ != malformed_before) keys_.truncate(known_keys);
}

// ---- rendering -------------------------------------------------------------------------

std::string GuildCache::ready_data(std::string_view session_id, std::string_view resume_gateway_url,
                                   std::uint32_t shard_id, std::uint32_t shard_count) const {
  std::string out;
  out.reserve(256 + guilds_.size() * 48 + ready_user_.size() * 2 + ready_rest_.size() * 2);
  out.append("{\"v\":10,\"user\":");
  if (ready_user_.empty())
    out.append("null");
  else
    pk::render(ready_user_, keys_, out);
  out.append(",\"session_id\":");
  append_json_string(out, session_id);
  out.append(",\"resume_gateway_url\":");
  append_json_string(out, resume_gateway_url);
  out.append(",\"shard\":[");
  out.append(std::to_string(shard_id));
  out.push_back(',');
  out.append(std::to_string(shard_count));
  out.append("],\"guilds\":[");
  bool first = true;
  for (const auto& g : guilds_) {
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"id\":\"");
    out.append(std::to_string(g.id));
    out.append("\",\"unavailable\":true}");
  }
  out.push_back(']');
  if (!ready_application_.empty()) {
    out.append(",\"application\":");
    pk::render(ready_application_, keys_, out);
  }
  if (!ready_rest_.empty() && ready_rest_.size() > 2) {
    out.push_back(',');
    pk::render_fields(ready_rest_, keys_, out);
  }
  out.push_back('}');
  return out;
}

std::vector<std::uint64_t> GuildCache::available_guild_ids() const {
  std::vector<std::uint64_t> ids;
  for (const auto& g : guilds_)
    if (g.available) ids.push_back(g.id);
  return ids;
}

std::optional<std::string> GuildCache::guild_create(std::uint64_t guild_id) const {
  const auto* g = find_guild(guild_id);
  if (g == nullptr || !g->available) return std::nullopt;
  std::string out;
  out.reserve(g->fields.size() * 3 + g->entities.size() * 128 + 256);
  g->render(keys_, out);
  return out;
}

std::size_t GuildCache::memory_bytes() const {
  std::size_t n = sizeof(GuildCache) + sizeof(Keys) + keys_.memory_bytes();
  n += heap_of(ready_user_) + heap_of(ready_application_) + heap_of(ready_rest_);
  n += heap_chunk(guilds_.capacity() * sizeof(CachedGuild));
  for (const auto& g : guilds_) n += g.memory_bytes();
  return n;
}

} // namespace shardline::proxy
