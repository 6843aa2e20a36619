#include "proxy/guild_cache.hpp"

#include <algorithm>

namespace shardline::proxy {

namespace pk = packed;

struct GuildCache::Keys {
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
bool is_array(std::string_view v) { return !v.empty() && static_cast<std::uint8_t>(v[0]) == pk::kArray; }

// `object` with the fields of `update` merged in: present keys replaced in place, new ones
// appended, keys in `skip` left out of both.
std::string merge(std::string_view object, std::string_view update, std::initializer_list<std::uint32_t> skip = {}) {
  auto fields = pk::fields_of(object);
  const auto skipped = [&](std::uint32_t key) { return std::find(skip.begin(), skip.end(), key) != skip.end(); };
  std::erase_if(fields, [&](const pk::Field& f) { return skipped(f.key); });
  for (const auto& f : pk::fields_of(update)) {
    if (skipped(f.key)) continue;
    auto it = std::find_if(fields.begin(), fields.end(), [&](const pk::Field& g) { return g.key == f.key; });
    if (it != fields.end())
      it->value = f.value;
    else
      fields.push_back(f);
  }
  return pk::make_object(fields);
}

// `object` without the keys in `drop`.
std::string without(std::string_view object, std::initializer_list<std::uint32_t> drop) { return merge(object, {}, drop); }

bool is_thread_type(std::optional<std::uint64_t> type) { return type && (*type == 10 || *type == 11 || *type == 12); }

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

// Members, presences and voice states arrive in events with guild_id (and voice states with
// the member); GUILD_CREATE's lists have neither, and the cache renders what GUILD_CREATE has.
std::string GuildCache::strip_for_storage(EntityKind kind, std::string_view entity) const {
  switch (kind) {
    case EntityKind::member:
    case EntityKind::presence: return without(entity, {k_->guild_id});
    case EntityKind::voice_state: return without(entity, {k_->guild_id, k_->member});
    default: return std::string(entity);
  }
}

bool GuildCache::replace_list(CachedGuild& guild, EntityKind kind, std::string_view list) {
  if (!is_array(list)) return false;
  std::vector<Entity> fresh;
  for (auto element : pk::elements_of(list)) {
    auto id = entity_id(kind, element);
    if (!id) return false;
    if (!keeps(kind, element)) continue;
    fresh.push_back(Entity{*id, kind, strip_for_storage(kind, element)});
  }
  std::erase_if(guild.entities, [&](const Entity& e) { return e.kind == kind; });
  for (auto& e : fresh) guild.entities.push_back(std::move(e));
  guild.normalize();
  return true;
}

void GuildCache::adjust_member_count(CachedGuild& guild, int delta) {
  auto current = pk::find(guild.fields, k_->member_count);
  if (!current) return;
  auto n = pk::as_uint(*current);
  if (!n) return;
  const std::uint64_t next = delta < 0 ? (*n > 0 ? *n - 1 : 0) : *n + 1;
  const std::string value = pk::uint_value(next);
  auto fields = pk::fields_of(guild.fields);
  for (auto& f : fields)
    if (f.key == k_->member_count) f.value = value;
  guild.fields = pk::make_object(fields);
  guild.fields.shrink_to_fit();
}

// ---- events ----------------------------------------------------------------------------

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

  auto d = packer_.pack_object(d_json, keys_);
  if (!d) {
    ++malformed_;
    return;
  }
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
}

void GuildCache::on_ready(std::string_view d) {
  const auto& k = *k_;
  auto user = pk::find(d, k.user);
  auto guilds = pk::find(d, k.guilds);
  if (!user || !is_object(*user) || !pk::find(*user, k.id) || !pk::as_id(*pk::find(*user, k.id)) || !guilds ||
      !is_array(*guilds)) {
    ++malformed_;
    return;
  }
  std::vector<std::uint64_t> ids;
  for (auto g : pk::elements_of(*guilds)) {
    auto gid = is_object(g) ? pk::find(g, k.id) : std::nullopt;
    auto id = gid ? pk::as_id(*gid) : std::nullopt;
    if (!id) {
      ++malformed_;
      return;
    }
    ids.push_back(*id);
  }
  // A new session: Discord sends every guild again, unavailable until its GUILD_CREATE, and
  // only the guilds READY lists belong to it.
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<CachedGuild> fresh;
  fresh.reserve(ids.size());
  for (auto id : ids) {
    CachedGuild g;
    g.id = id;
    fresh.push_back(std::move(g));
  }
  guilds_ = std::move(fresh);

  bot_user_id_ = *pk::as_id(*pk::find(*user, k.id));
  ready_user_ = std::string(*user);
  auto app = pk::find(d, k.application);
  ready_application_ = app ? std::string(*app) : std::string();
  // The rest of READY, less what belongs to one session (each client gets its own) and what
  // is rendered from the cache.
  ready_rest_ = without(d, {k.user, k.guilds, k.application, k.session_id, k.resume_gateway_url, k.shard, k.v});
  ready_rest_.shrink_to_fit();
  has_ready_ = true;
}

void GuildCache::on_guild_create(std::string_view d) {
  const auto& k = *k_;
  auto idv = pk::find(d, k.id);
  auto id = idv ? pk::as_id(*idv) : std::nullopt;
  if (!id) {
    ++malformed_;
    return;
  }
  if (auto u = pk::find(d, k.unavailable); u && pk::is_true(*u)) {
    guild_slot(*id).clear_data();
    return;
  }
  CachedGuild g;
  g.id = *id;
  g.available = true;
  std::vector<pk::Field> own;
  for (const auto& f : pk::fields_of(d)) {
    const int kind_index = k.list_kind(f.key);
    if (kind_index < 0) {
      own.push_back(f);
      continue;
    }
    const auto kind = static_cast<EntityKind>(kind_index);
    if (!is_array(f.value)) {
      ++malformed_;
      return;
    }
    for (auto element : pk::elements_of(f.value)) {
      auto eid = entity_id(kind, element);
      if (!eid) {
        ++malformed_;
        return;
      }
      if (keeps(kind, element)) g.entities.push_back(Entity{*eid, kind, strip_for_storage(kind, element)});
    }
  }
  g.fields = pk::make_object(own);
  g.fields.shrink_to_fit();
  g.normalize();
  g.entities.shrink_to_fit();
  guild_slot(*id) = std::move(g);
}

void GuildCache::on_guild_update(std::string_view d) {
  const auto& k = *k_;
  auto idv = pk::find(d, k.id);
  auto id = idv ? pk::as_id(*idv) : std::nullopt;
  if (!id) {
    ++malformed_;
    return;
  }
  auto* g = find_guild(*id);
  if (g == nullptr || !g->available) return;
  // GUILD_UPDATE carries the guild object: its fields, and full lists of roles and emojis
  // (and stickers); channels, members and the rest come with their own events. Fields merged
  // in place, lists it has replaced, member_count and the rest it lacks kept.
  std::vector<std::pair<EntityKind, std::string_view>> lists;
  for (const auto& f : pk::fields_of(d)) {
    const int kind_index = k.list_kind(f.key);
    if (kind_index < 0) continue;
    const auto kind = static_cast<EntityKind>(kind_index);
    if (kind == EntityKind::role || kind == EntityKind::emoji || kind == EntityKind::sticker) lists.emplace_back(kind, f.value);
  }
  CachedGuild updated = *g;
  for (auto& [kind, list] : lists) {
    if (!replace_list(updated, kind, list)) {
      ++malformed_;
      return;
    }
  }
  std::vector<pk::Field> own;
  for (const auto& f : pk::fields_of(d))
    if (k.list_kind(f.key) < 0 && f.key != k.unavailable && f.key != k.member_count) own.push_back(f);
  updated.fields = merge(g->fields, pk::make_object(own));
  updated.fields.shrink_to_fit();
  *g = std::move(updated);
}

void GuildCache::on_guild_delete(std::string_view d) {
  const auto& k = *k_;
  auto idv = pk::find(d, k.id);
  auto id = idv ? pk::as_id(*idv) : std::nullopt;
  if (!id) {
    ++malformed_;
    return;
  }
  auto u = pk::find(d, k.unavailable);
  if (u && pk::is_true(*u)) {
    // An outage: still the shard's guild, listed in READY, its GUILD_CREATE comes when it ends.
    guild_slot(*id).clear_data();
    return;
  }
  // The bot left or was removed.
  auto it = std::lower_bound(guilds_.begin(), guilds_.end(), *id,
                             [](const CachedGuild& g, std::uint64_t v) { return g.id < v; });
  if (it != guilds_.end() && it->id == *id) guilds_.erase(it);
}

void GuildCache::on_channel(std::string_view type, std::string_view d) {
  const auto& k = *k_;
  auto idv = pk::find(d, k.id);
  auto id = idv ? pk::as_id(*idv) : std::nullopt;
  if (!id) {
    ++malformed_;
    return;
  }
  auto* g = target_guild(d); // DM channels have no guild_id: nothing to keep
  if (g == nullptr) return;
  auto t = pk::find(d, k.type);
  const bool thread = is_thread_type(t ? pk::as_uint(*t) : std::nullopt);
  if (type == "CHANNEL_DELETE") {
    g->erase(thread ? EntityKind::thread : EntityKind::channel, *id);
    // A deleted channel takes its threads with it.
    g->erase_if(EntityKind::thread, [&](const Entity& e) {
      auto parent = pk::find(e.packed, k.parent_id);
      return parent && pk::as_id(*parent) == *id;
    });
    return;
  }
  g->upsert(thread ? EntityKind::thread : EntityKind::channel, *id, std::string(d));
}

void GuildCache::on_thread(std::string_view type, std::string_view d) {
  const auto& k = *k_;
  auto idv = pk::find(d, k.id);
  auto id = idv ? pk::as_id(*idv) : std::nullopt;
  if (!id) {
    ++malformed_;
    return;
  }
  auto* g = target_guild(d);
  if (g == nullptr) return;
  if (type == "THREAD_DELETE") {
    g->erase(EntityKind::thread, *id);
    return;
  }
  if (type != "THREAD_CREATE" && type != "THREAD_UPDATE") return;
  // THREAD_CREATE's newly_created flag is about the event, not the thread; harmless to keep.
  g->upsert(EntityKind::thread, *id, std::string(d));
}

void GuildCache::on_thread_list_sync(std::string_view d) {
  const auto& k = *k_;
  auto* g = target_guild(d);
  if (g == nullptr) {
    if (!pk::find(d, k.guild_id)) ++malformed_;
    return;
  }
  auto threads = pk::find(d, k.lists[static_cast<std::size_t>(EntityKind::thread)]);
  if (!threads || !is_array(*threads)) {
    ++malformed_;
    return;
  }
  std::vector<Entity> fresh;
  for (auto t : pk::elements_of(*threads)) {
    auto id = entity_id(EntityKind::thread, t);
    if (!id) {
      ++malformed_;
      return;
    }
    fresh.push_back(Entity{*id, EntityKind::thread, std::string(t)});
  }
  // The sync replaces the active threads of the channels it names (all of the guild's when it
  // names none).
  auto channel_ids = pk::find(d, k.channel_ids);
  std::vector<std::uint64_t> parents;
  if (channel_ids && is_array(*channel_ids)) {
    for (auto c : pk::elements_of(*channel_ids))
      if (auto id = pk::as_id(c)) parents.push_back(*id);
  }
  const bool whole_guild = !channel_ids || !is_array(*channel_ids);
  g->erase_if(EntityKind::thread, [&](const Entity& e) {
    if (whole_guild) return true;
    auto parent = pk::find(e.packed, k.parent_id);
    auto pid = parent ? pk::as_id(*parent) : std::nullopt;
    return pid && std::find(parents.begin(), parents.end(), *pid) != parents.end();
  });
  // The bot's thread members go into each thread's `member`, as on THREAD_CREATE.
  auto members = pk::find(d, k.lists[static_cast<std::size_t>(EntityKind::member)]);
  std::vector<std::string_view> thread_members;
  if (members && is_array(*members)) thread_members = pk::elements_of(*members);
  for (auto& e : fresh) {
    for (auto m : thread_members) {
      auto mid = pk::find(m, k.id);
      if (mid && pk::as_id(*mid) == e.id) {
        e.packed = merge(e.packed, pk::make_object({pk::Field{k.member, m}}));
        break;
      }
    }
    g->entities.push_back(std::move(e));
  }
  g->normalize();
}

void GuildCache::on_role(std::string_view type, std::string_view d) {
  const auto& k = *k_;
  auto* g = target_guild(d);
  if (g == nullptr) {
    if (!pk::find(d, k.guild_id)) ++malformed_;
    return;
  }
  if (type == "GUILD_ROLE_DELETE") {
    auto rid = pk::find(d, k.role_id);
    auto id = rid ? pk::as_id(*rid) : std::nullopt;
    if (!id) {
      ++malformed_;
      return;
    }
    g->erase(EntityKind::role, *id);
    return;
  }
  auto role = pk::find(d, k.role);
  auto id = role ? entity_id(EntityKind::role, *role) : std::nullopt;
  if (!id) {
    ++malformed_;
    return;
  }
  g->upsert(EntityKind::role, *id, std::string(*role));
}

void GuildCache::on_list_update(EntityKind kind, std::string_view d) {
  auto* g = target_guild(d);
  if (g == nullptr) {
    if (!pk::find(d, k_->guild_id)) ++malformed_;
    return;
  }
  auto list = pk::find(d, k_->lists[static_cast<std::size_t>(kind)]);
  if (!list || !replace_list(*g, kind, *list)) ++malformed_;
}

void GuildCache::on_member(std::string_view type, std::string_view d) {
  const auto& k = *k_;
  auto* g = target_guild(d);
  auto uid = entity_id(EntityKind::member, d);
  if (!uid || !pk::find(d, k.guild_id)) {
    ++malformed_;
    return;
  }
  if (g == nullptr) return;
  if (type == "GUILD_MEMBER_REMOVE") {
    g->erase(EntityKind::member, *uid);
    adjust_member_count(*g, -1);
    return;
  }
  if (type == "GUILD_MEMBER_ADD") {
    adjust_member_count(*g, +1);
    if (keeps(EntityKind::member, d)) g->upsert(EntityKind::member, *uid, strip_for_storage(EntityKind::member, d));
    return;
  }
  if (type != "GUILD_MEMBER_UPDATE") return;
  if (!keeps(EntityKind::member, d)) return;
  // GUILD_MEMBER_UPDATE carries the member's fields that can change: merged into what is
  // kept (deaf and mute, which it may lack, stay).
  if (auto* existing = g->find(EntityKind::member, *uid)) {
    existing->packed = merge(existing->packed, d, {k.guild_id});
    existing->packed.shrink_to_fit();
  } else {
    g->upsert(EntityKind::member, *uid, strip_for_storage(EntityKind::member, d));
  }
}

void GuildCache::on_members_chunk(std::string_view d) {
  const auto& k = *k_;
  auto* g = target_guild(d);
  auto list = pk::find(d, k.lists[static_cast<std::size_t>(EntityKind::member)]);
  if (!pk::find(d, k.guild_id) || !list || !is_array(*list)) {
    ++malformed_;
    return;
  }
  if (g == nullptr) return;
  std::vector<Entity> fresh;
  for (auto m : pk::elements_of(*list)) {
    auto id = entity_id(EntityKind::member, m);
    if (!id) {
      ++malformed_;
      return;
    }
    if (keeps(EntityKind::member, m)) fresh.push_back(Entity{*id, EntityKind::member, strip_for_storage(EntityKind::member, m)});
  }
  // A chunk may carry the presences of its members (REQUEST_GUILD_MEMBERS with presences).
  std::vector<Entity> presences;
  if (options_.presences) {
    if (auto p = pk::find(d, k.lists[static_cast<std::size_t>(EntityKind::presence)]); p && is_array(*p)) {
      for (auto e : pk::elements_of(*p))
        if (auto id = entity_id(EntityKind::presence, e))
          presences.push_back(Entity{*id, EntityKind::presence, strip_for_storage(EntityKind::presence, e)});
    }
  }
  if (fresh.empty() && presences.empty()) return;
  for (auto& e : fresh) g->entities.push_back(std::move(e));
  for (auto& e : presences) g->entities.push_back(std::move(e));
  g->normalize();
}

void GuildCache::on_presence(std::string_view d) {
  const auto& k = *k_;
  auto* g = target_guild(d);
  auto uid = entity_id(EntityKind::presence, d);
  if (!uid || !pk::find(d, k.guild_id)) {
    ++malformed_;
    return;
  }
  if (g == nullptr || !options_.presences) return;
  // Offline members are not in GUILD_CREATE's presences: removed, not kept as "offline".
  if (auto status = pk::find(d, k.status)) {
    std::string rendered;
    pk::render(*status, keys_, rendered);
    if (rendered == "\"offline\"") {
      g->erase(EntityKind::presence, *uid);
      return;
    }
  }
  g->upsert(EntityKind::presence, *uid, strip_for_storage(EntityKind::presence, d));
}

void GuildCache::on_voice_state(std::string_view d) {
  const auto& k = *k_;
  auto* g = target_guild(d);
  auto uid = entity_id(EntityKind::voice_state, d);
  if (!uid) {
    ++malformed_;
    return;
  }
  if (g == nullptr || !options_.voice_states) return;
  // channel_id null: the user left voice.
  auto channel = pk::find(d, k.channel_id);
  if (!channel || pk::is_null(*channel)) {
    g->erase(EntityKind::voice_state, *uid);
    return;
  }
  g->upsert(EntityKind::voice_state, *uid, strip_for_storage(EntityKind::voice_state, d));
}

void GuildCache::on_user_update(std::string_view d) {
  const auto& k = *k_;
  auto idv = pk::find(d, k.id);
  auto id = idv ? pk::as_id(*idv) : std::nullopt;
  if (!id) {
    ++malformed_;
    return;
  }
  if (!has_ready_ || *id != bot_user_id_) return;
  ready_user_ = std::string(d);
  // The bot's own member in every guild carries the same user.
  const std::string user_field = pk::make_object({pk::Field{k.user, d}});
  for (auto& g : guilds_) {
    if (auto* me = g.find(EntityKind::member, *id)) {
      me->packed = merge(me->packed, user_field);
      me->packed.shrink_to_fit();
    }
  }
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
  std::size_t n = sizeof(GuildCache) + sizeof(Keys) + keys_.memory_bytes() + packer_.memory_bytes();
  n += heap_of(ready_user_) + heap_of(ready_application_) + heap_of(ready_rest_);
  n += heap_chunk(guilds_.capacity() * sizeof(CachedGuild));
  for (const auto& g : guilds_) n += g.memory_bytes();
  return n;
}

} // namespace shardline::proxy
