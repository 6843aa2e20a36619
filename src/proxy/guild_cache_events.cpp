// Applying a shard's dispatches to its guild cache, one handler per event family. Every
// handler checks its payload before it changes anything: a malformed one is counted and
// dropped whole (apply() then forgets the keys it brought), never applied half-way. The ids
// that checks depend on go through required_id().

#include "proxy/guild_cache.hpp"

#include <algorithm>

namespace shardline::proxy {

namespace pk = packed;

namespace {

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

// ---- helpers -----------------------------------------------------------------------------

std::optional<std::uint64_t> GuildCache::required_id(std::string_view object, std::uint32_t key) {
  auto field = pk::find(object, key); // nullopt for a non-object too
  auto id = field ? pk::as_id(*field) : std::nullopt;
  if (!id) count_malformed();
  return id;
}

std::optional<std::uint64_t> GuildCache::required_id(EntityKind kind, std::string_view entity) {
  auto id = entity_id(kind, entity);
  if (!id) count_malformed();
  return id;
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

// ---- guilds ------------------------------------------------------------------------------

void GuildCache::on_ready(std::string_view d) {
  const auto& k = *k_;
  auto user = pk::find(d, k.user);
  auto guilds = pk::find(d, k.guilds);
  if (!user || !guilds || !is_array(*guilds)) return count_malformed();
  const auto bot_id = required_id(*user, k.id);
  if (!bot_id) return;
  std::vector<std::uint64_t> ids;
  for (auto g : pk::elements_of(*guilds)) {
    auto id = required_id(g, k.id);
    if (!id) return;
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

  bot_user_id_ = *bot_id;
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
  const auto id = required_id(d, k.id);
  if (!id) return;
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
    if (!is_array(f.value)) return count_malformed();
    for (auto element : pk::elements_of(f.value)) {
      const auto eid = required_id(kind, element);
      if (!eid) return;
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
  const auto id = required_id(d, k.id);
  if (!id) return;
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
  for (auto& [kind, list] : lists)
    if (!replace_list(updated, kind, list)) return count_malformed();
  std::vector<pk::Field> own;
  for (const auto& f : pk::fields_of(d))
    if (k.list_kind(f.key) < 0 && f.key != k.unavailable && f.key != k.member_count) own.push_back(f);
  updated.fields = merge(g->fields, pk::make_object(own));
  updated.fields.shrink_to_fit();
  *g = std::move(updated);
}

void GuildCache::on_guild_delete(std::string_view d) {
  const auto id = required_id(d, k_->id);
  if (!id) return;
  auto u = pk::find(d, k_->unavailable);
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

// ---- a guild's channels, threads, roles, emojis and stickers -----------------------------

void GuildCache::on_channel(std::string_view type, std::string_view d) {
  const auto& k = *k_;
  const auto id = required_id(d, k.id);
  if (!id) return;
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
  const auto id = required_id(d, k_->id);
  if (!id) return;
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
    if (!pk::find(d, k.guild_id)) count_malformed();
    return;
  }
  auto threads = pk::find(d, k.lists[static_cast<std::size_t>(EntityKind::thread)]);
  if (!threads || !is_array(*threads)) return count_malformed();
  std::vector<Entity> fresh;
  for (auto t : pk::elements_of(*threads)) {
    const auto id = required_id(EntityKind::thread, t);
    if (!id) return;
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
    if (!pk::find(d, k.guild_id)) count_malformed();
    return;
  }
  if (type == "GUILD_ROLE_DELETE") {
    const auto id = required_id(d, k.role_id);
    if (!id) return;
    g->erase(EntityKind::role, *id);
    return;
  }
  auto role = pk::find(d, k.role);
  if (!role) return count_malformed();
  const auto id = required_id(EntityKind::role, *role);
  if (!id) return;
  g->upsert(EntityKind::role, *id, std::string(*role));
}

// GUILD_EMOJIS_UPDATE, GUILD_STICKERS_UPDATE: the guild's whole list.
void GuildCache::on_list_update(EntityKind kind, std::string_view d) {
  auto* g = target_guild(d);
  if (g == nullptr) {
    if (!pk::find(d, k_->guild_id)) count_malformed();
    return;
  }
  auto list = pk::find(d, k_->lists[static_cast<std::size_t>(kind)]);
  if (!list || !replace_list(*g, kind, *list)) count_malformed();
}

// ---- members, presences, voice states, the bot's user ------------------------------------

void GuildCache::on_member(std::string_view type, std::string_view d) {
  const auto& k = *k_;
  auto* g = target_guild(d);
  const auto uid = required_id(EntityKind::member, d);
  if (!uid) return;
  if (!pk::find(d, k.guild_id)) return count_malformed();
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
  if (!pk::find(d, k.guild_id) || !list || !is_array(*list)) return count_malformed();
  if (g == nullptr) return;
  std::vector<Entity> fresh;
  for (auto m : pk::elements_of(*list)) {
    const auto id = required_id(EntityKind::member, m);
    if (!id) return;
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
  auto* g = target_guild(d);
  const auto uid = required_id(EntityKind::presence, d);
  if (!uid) return;
  if (!pk::find(d, k_->guild_id)) return count_malformed();
  if (g == nullptr || !options_.presences) return;
  // Offline members are not in GUILD_CREATE's presences: removed, not kept as "offline".
  if (auto status = pk::find(d, k_->status)) {
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
  auto* g = target_guild(d);
  const auto uid = required_id(EntityKind::voice_state, d);
  if (!uid) return;
  if (g == nullptr || !options_.voice_states) return;
  // channel_id null: the user left voice.
  auto channel = pk::find(d, k_->channel_id);
  if (!channel || pk::is_null(*channel)) {
    g->erase(EntityKind::voice_state, *uid);
    return;
  }
  g->upsert(EntityKind::voice_state, *uid, strip_for_storage(EntityKind::voice_state, d));
}

void GuildCache::on_user_update(std::string_view d) {
  const auto id = required_id(d, k_->id);
  if (!id) return;
  if (!has_ready_ || *id != bot_user_id_) return;
  ready_user_ = std::string(d);
  // The bot's own member in every guild carries the same user.
  const std::string user_field = pk::make_object({pk::Field{k_->user, d}});
  for (auto& g : guilds_) {
    if (auto* me = g.find(EntityKind::member, *id)) {
      me->packed = merge(me->packed, user_field);
      me->packed.shrink_to_fit();
    }
  }
}

} // namespace shardline::proxy
