#include "proxy/shard_feed.hpp"

#include "proxy/resumable_session.hpp"

#include <algorithm>

namespace shardline::proxy {

namespace json = boost::json;

ShardFeed::ShardFeed(FeedOptions options, Clock clock)
    : opt_(options), clock_(std::move(clock)), cache_(options.cache),
      buffer_(options.resume_events, options.resume_bytes) {}

void ShardFeed::on_dispatch(std::string_view type, std::string_view d_json) {
  if (type == "RESUMED") return;
  cache_.apply(type, d_json);
  if (type == "READY") {
    // Clients already attached keep their own session; those waiting for the shard start now.
    delivering_ = true;
    for (std::size_t i = 0; i < sessions_.size(); ++i)
      if (auto* s = sessions_[i]; s && !s->started()) s->start();
  } else {
    std::string target, rewritten;
    if (type == "GUILD_MEMBERS_CHUNK" && !requests_.empty()) target = route_chunk(d_json, rewritten);
    auto data = std::make_shared<const std::string>(target.empty() ? std::string(d_json) : std::move(rewritten));
    const auto& e = buffer_.push(type, std::move(data), std::move(target));
    delivering_ = true;
    for (std::size_t i = 0; i < sessions_.size(); ++i)
      if (auto* s = sessions_[i]) s->deliver(e);
  }
  delivering_ = false;
  std::erase(sessions_, nullptr);
}

void ShardFeed::restore(GuildCache cache) {
  cache_ = std::move(cache);
  if (!cache_.has_ready()) return;
  delivering_ = true;
  for (std::size_t i = 0; i < sessions_.size(); ++i)
    if (auto* s = sessions_[i]; s && !s->started()) s->start();
  delivering_ = false;
  std::erase(sessions_, nullptr);
}

void ShardFeed::add(ResumableSession& s) { sessions_.push_back(&s); }

void ShardFeed::remove(ResumableSession& s) {
  auto it = std::find(sessions_.begin(), sessions_.end(), &s);
  if (it == sessions_.end()) return;
  if (delivering_) *it = nullptr; // the delivery loop is walking the vector
  else sessions_.erase(it);
}

std::size_t ShardFeed::client_count() const {
  return static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(), [](auto* s) { return s; }));
}

void ShardFeed::route_member_request(const std::string& session_id, json::object& d, std::string proxy_nonce) {
  expire_requests();
  MemberRequest r{session_id, std::nullopt, clock_() + opt_.member_request_ttl};
  if (auto* n = d.if_contains("nonce"); n && n->is_string()) r.nonce = std::string(n->get_string());
  d["nonce"] = proxy_nonce;
  requests_.insert_or_assign(std::move(proxy_nonce), std::move(r));
  // Nonces sort by age (Endpoint::next_member_nonce): the oldest request goes first.
  while (requests_.size() > opt_.max_member_requests) requests_.erase(requests_.begin());
}

void ShardFeed::expire_requests() {
  const auto now = clock_();
  for (auto it = requests_.begin(); it != requests_.end();)
    it = it->second.expires <= now ? requests_.erase(it) : std::next(it);
}

std::string ShardFeed::route_chunk(std::string_view d_json, std::string& out) {
  boost::system::error_code ec;
  auto v = json::parse(d_json, ec);
  auto* o = !ec ? v.if_object() : nullptr;
  auto* n = o ? o->if_contains("nonce") : nullptr;
  if (!n || !n->is_string()) return {};
  auto it = requests_.find(std::string_view(n->get_string()));
  if (it == requests_.end()) return {};
  auto& req = it->second;
  if (req.nonce) (*o)["nonce"] = *req.nonce;
  else o->erase("nonce");
  out = json::serialize(v);
  std::string target = req.session_id;
  // The last chunk ends the request (chunk_index counts from 0 to chunk_count - 1).
  auto count_of = [&](const char* key) -> std::int64_t {
    auto* x = o->if_contains(key);
    return x && x->is_int64() ? x->get_int64() : (x && x->is_uint64() ? static_cast<std::int64_t>(x->get_uint64()) : -1);
  };
  if (auto index = count_of("chunk_index"), count = count_of("chunk_count"); index >= 0 && index + 1 >= count)
    requests_.erase(it);
  return target;
}

} // namespace shardline::proxy
