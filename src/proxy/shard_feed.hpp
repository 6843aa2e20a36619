#pragma once
// Everything the endpoint keeps for one shard of this cluster: its guild cache, the buffer of
// its recent dispatches for RESUME, the client sessions receiving them, and the member
// requests in flight. Fed every dispatch of the shard, in order, whatever the cluster does
// with it (even while the layout is on standby). Pure: the shard itself is reached through a
// function (Endpoint's command sink).
//
// Member chunks: a client's REQUEST_GUILD_MEMBERS leaves with a nonce of the endpoint's own, so
// the GUILD_MEMBERS_CHUNKs that answer it are recognised and go, with the client's own nonce
// put back, to that client only. Chunks with any other nonce (or none) go to every client.

#include "proxy/guild_cache.hpp"
#include "proxy/resume_buffer.hpp"

#include "core/clock.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::proxy {

class ResumableSession;

struct FeedOptions {
  std::uint32_t shard_id = 0;
  std::uint32_t shard_count = 1;
  CacheOptions cache;
  std::size_t resume_events = 20000;
  std::size_t resume_bytes = 64u << 20;
  // A member request's chunks are routed back for this long, at most this many at a time.
  std::chrono::milliseconds member_request_ttl{120'000};
  std::size_t max_member_requests = 1000;
};

class ShardFeed {
public:
  ShardFeed(FeedOptions options, Clock clock);

  // Every dispatch of the shard, in order. READY and RESUMED describe the shard's own
  // connection: they update the cache (READY) but are not passed on.
  void on_dispatch(std::string_view type, std::string_view d_json);

  // A cache saved by the previous process, for a shard that RESUMEd (no READY comes): the
  // clients waiting for the shard's READY get theirs from it now. Call before the first
  // dispatch of the resumed session is applied.
  void restore(GuildCache cache);

  std::uint32_t shard_id() const { return opt_.shard_id; }
  std::uint32_t shard_count() const { return opt_.shard_count; }
  const GuildCache& cache() const { return cache_; }
  GuildCache& cache() { return cache_; }
  const ResumeBuffer& buffer() const { return buffer_; }
  // Dispatches passed on since start.
  std::uint64_t events() const { return buffer_.last_index(); }

  // Sessions receiving this shard's events (attached or waiting for the shard's READY).
  void add(ResumableSession& s);
  void remove(ResumableSession& s);
  std::size_t client_count() const;

  // Rewrites a REQUEST_GUILD_MEMBERS's d for `session` (its nonce replaced by one of the
  // endpoint's, which `proxy_nonce` gives) and remembers where the chunks go.
  void route_member_request(const std::string& session_id, boost::json::object& d, std::string proxy_nonce);
  std::size_t member_requests() const { return requests_.size(); }

private:
  struct MemberRequest {
    std::string session_id;
    std::optional<std::string> nonce; // the client's, put back on the chunks
    steady::time_point expires;
  };
  // GUILD_MEMBERS_CHUNK: the session it is for (empty: every client) and its d as passed on.
  std::string route_chunk(std::string_view d_json, std::string& out);
  void expire_requests();

  FeedOptions opt_;
  Clock clock_;
  GuildCache cache_;
  ResumeBuffer buffer_;
  std::vector<ResumableSession*> sessions_;
  bool delivering_ = false; // removals during a delivery leave a null, compacted after it
  std::map<std::string, MemberRequest, std::less<>> requests_;
};

} // namespace shardline::proxy
