#include "proxy/cached_guild.hpp"

#include <algorithm>

namespace shardline::proxy {

namespace {

bool entity_less(const Entity& a, const Entity& b) {
  return a.kind != b.kind ? a.kind < b.kind : a.id < b.id;
}

std::vector<Entity>::iterator lower(std::vector<Entity>& v, EntityKind kind, std::uint64_t id) {
  return std::lower_bound(v.begin(), v.end(), std::pair{kind, id}, [](const Entity& e, const auto& key) {
    return e.kind != key.first ? e.kind < key.first : e.id < key.second;
  });
}

} // namespace

std::size_t heap_chunk(std::size_t n) {
  if (n == 0) return 0;
  const std::size_t c = (n + 8 + 15) / 16 * 16;
  return c < 32 ? 32 : c;
}

std::size_t heap_of(const std::string& s) { return s.capacity() > 15 ? heap_chunk(s.capacity() + 1) : 0; }

Entity* CachedGuild::find(EntityKind kind, std::uint64_t entity_id) {
  auto it = lower(entities, kind, entity_id);
  return it != entities.end() && it->kind == kind && it->id == entity_id ? &*it : nullptr;
}

void CachedGuild::upsert(EntityKind kind, std::uint64_t entity_id, std::string packed) {
  packed.shrink_to_fit(); // held for a long time: no spare capacity
  auto it = lower(entities, kind, entity_id);
  if (it != entities.end() && it->kind == kind && it->id == entity_id) {
    it->packed = std::move(packed);
    return;
  }
  entities.insert(it, Entity{entity_id, kind, std::move(packed)});
}

bool CachedGuild::erase(EntityKind kind, std::uint64_t entity_id) {
  auto it = lower(entities, kind, entity_id);
  if (it == entities.end() || it->kind != kind || it->id != entity_id) return false;
  entities.erase(it);
  return true;
}

void CachedGuild::normalize() {
  std::stable_sort(entities.begin(), entities.end(), entity_less);
  // Keep the last of each run of equal (kind, id): it was added last.
  std::vector<Entity> out;
  out.reserve(entities.size());
  for (std::size_t i = 0; i < entities.size(); ++i) {
    if (i + 1 < entities.size() && entities[i + 1].kind == entities[i].kind && entities[i + 1].id == entities[i].id)
      continue;
    out.push_back(std::move(entities[i]));
  }
  entities = std::move(out);
}

void CachedGuild::clear_data() {
  available = false;
  std::string().swap(fields);
  std::vector<Entity>().swap(entities);
}

void CachedGuild::render(const packed::KeyTable& keys, std::string& out) const {
  out.push_back('{');
  const std::size_t start = out.size();
  packed::render_fields(fields, keys, out);
  auto it = entities.begin();
  for (std::size_t k = 0; k < kEntityKinds; ++k) {
    if (out.size() != start) out.push_back(',');
    out.push_back('"');
    out.append(kEntityListKeys[k]);
    out.append("\":[");
    bool first = true;
    for (; it != entities.end() && static_cast<std::size_t>(it->kind) == k; ++it) {
      if (!first) out.push_back(',');
      first = false;
      packed::render(it->packed, keys, out);
    }
    out.push_back(']');
  }
  out.push_back('}');
}

std::size_t CachedGuild::memory_bytes() const {
  std::size_t n = heap_of(fields) + heap_chunk(entities.capacity() * sizeof(Entity));
  for (const auto& e : entities) n += heap_of(e.packed);
  return n;
}

} // namespace shardline::proxy
