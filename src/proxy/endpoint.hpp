#pragma once
// The gateway of the bot endpoint without its sockets: the feeds of this cluster's shards, the
// client sessions by id (attached or detached and still resumable), and what the sessions need
// from the cluster (the shard to send a command through, who holds a shard that is not here).
// Pure and single-threaded (the io_context thread).

#include "proxy/client_session.hpp"
#include "proxy/shard_feed.hpp"

#include "core/clock.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace shardline::proxy {

struct EndpointSettings {
  std::string token;             // DISCORD_TOKEN: what IDENTIFY and RESUME must carry
  std::uint32_t shard_count = 1; // the bot's shard count
  std::string ws_url;            // this endpoint's gateway URL, READY's resume_gateway_url
  SessionLimits limits;
  std::size_t resume_events = 20000;
  std::size_t resume_bytes = 64u << 20;
  std::chrono::milliseconds resume_for{120'000}; // a detached session stays resumable this long
  std::size_t max_sessions = 4096;               // beyond: the oldest detached sessions go first
  CacheOptions cache;
};

class Endpoint {
public:
  // Sends a command (op, d as JSON) through a shard of this cluster; false if it cannot now.
  using CommandSink = std::function<bool(std::uint32_t shard_id, int op, std::string_view d_json)>;
  // The name of the cluster holding a shard of a layout, when known.
  using HolderLookup = std::function<std::optional<std::string>(std::uint32_t shard_id, std::uint32_t shard_count)>;

  Endpoint(EndpointSettings settings, Clock clock);
  ~Endpoint();

  ShardFeed& add_shard(std::uint32_t shard_id);
  ShardFeed* feed(std::uint32_t shard_id);
  const std::map<std::uint32_t, std::unique_ptr<ShardFeed>>& feeds() const { return feeds_; }
  void set_command_sink(CommandSink sink) { sink_ = std::move(sink); }
  void set_holder_lookup(HolderLookup lookup) { holders_ = std::move(lookup); }
  void set_ws_url(std::string url) { settings_.ws_url = std::move(url); }

  const EndpointSettings& settings() const { return settings_; }
  steady::time_point now() const { return clock_(); }

  // ---- for ClientSession ----
  ResumableSession& create_session(ShardFeed& feed);
  ResumableSession* find_session(std::string_view id);
  void end_session(ResumableSession& s);
  bool send_command(ShardFeed& feed, int op, std::string_view d_json);
  std::optional<std::string> holder_of(std::uint32_t shard_id, std::uint32_t shard_count) const;
  std::string next_member_nonce();

  // Ends detached sessions older than resume_for; call it every second or so.
  void sweep();
  std::size_t session_count() const { return sessions_.size(); }

private:
  void make_room();

  EndpointSettings settings_;
  Clock clock_;
  std::map<std::uint32_t, std::unique_ptr<ShardFeed>> feeds_;
  std::unordered_map<std::string, std::unique_ptr<ResumableSession>> sessions_;
  CommandSink sink_;
  HolderLookup holders_;
  std::uint64_t nonces_ = 0;
  std::string nonce_prefix_;
};

} // namespace shardline::proxy
