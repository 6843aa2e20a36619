#include "proxy/endpoint.hpp"

#include "proxy/resumable_session.hpp"

#include "core/crypto.hpp"

#include <fmt/format.h>

namespace shardline::proxy {

Endpoint::Endpoint(EndpointSettings settings, Clock clock)
    : settings_(std::move(settings)), clock_(std::move(clock)), nonce_prefix_("shardline." + random_hex(3) + ".") {}

// Sessions go first: they unregister from their feeds.
Endpoint::~Endpoint() { sessions_.clear(); }

ShardFeed& Endpoint::add_shard(std::uint32_t shard_id) {
  auto& f = feeds_[shard_id];
  if (!f) {
    FeedOptions o;
    o.shard_id = shard_id;
    o.shard_count = settings_.shard_count;
    o.cache = settings_.cache;
    o.resume_events = settings_.resume_events;
    o.resume_bytes = settings_.resume_bytes;
    f = std::make_unique<ShardFeed>(o, clock_);
  }
  return *f;
}

ShardFeed* Endpoint::feed(std::uint32_t shard_id) {
  auto it = feeds_.find(shard_id);
  return it == feeds_.end() ? nullptr : it->second.get();
}

ResumableSession& Endpoint::create_session(ShardFeed& feed) {
  make_room();
  std::string id = random_hex(16);
  auto s = std::make_unique<ResumableSession>(id, feed, settings_.ws_url);
  auto& ref = *s;
  sessions_.insert_or_assign(std::move(id), std::move(s));
  return ref;
}

ResumableSession* Endpoint::find_session(std::string_view id) {
  auto it = sessions_.find(std::string(id));
  return it == sessions_.end() ? nullptr : it->second.get();
}

void Endpoint::end_session(ResumableSession& s) {
  std::string id = s.id();
  sessions_.erase(id);
}

bool Endpoint::send_command(ShardFeed& feed, int op, std::string_view d_json) {
  return sink_ && sink_(feed.shard_id(), op, d_json);
}

std::optional<std::string> Endpoint::holder_of(std::uint32_t shard_id, std::uint32_t shard_count) const {
  return holders_ ? holders_(shard_id, shard_count) : std::nullopt;
}

// Fixed width, so the feeds' maps of requests sort them by age; at most 32 characters, as
// Discord allows.
std::string Endpoint::next_member_nonce() { return fmt::format("{}{:012x}", nonce_prefix_, ++nonces_); }

void Endpoint::sweep() {
  const auto now = clock_();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    auto& s = *it->second;
    it = !s.connection() && now - s.detached_at() >= settings_.resume_for ? sessions_.erase(it) : std::next(it);
  }
}

// At the session limit, the detached session that has waited longest goes.
void Endpoint::make_room() {
  while (sessions_.size() >= settings_.max_sessions) {
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
      if (!it->second->connection() &&
          (oldest == sessions_.end() || it->second->detached_at() < oldest->second->detached_at()))
        oldest = it;
    if (oldest == sessions_.end()) return; // all attached: connections are bounded by the server
    sessions_.erase(oldest);
  }
}

} // namespace shardline::proxy
