#pragma once
// One client's gateway session at the endpoint: what survives the client's connection, so it
// can RESUME. It has its own session id and its own sequence numbers (READY is 1, then one per
// dispatch it is sent), while the events come from its shard's feed, numbered by the feed
// (resume_buffer.hpp). The two numberings advance together except where the session is sent
// something that is not in the feed (READY, the GUILD_CREATEs built from the cache, RESUMED) or
// the feed holds something that is not for it (another client's member chunks): there it keeps
// an anchor, "at my seq c, I have seen the feed up to f". A RESUME at seq S then restarts from
// the feed position of S, and the replay, filtered the same way, is numbered on from S: the
// client sees no gap and no repeat (the numbers match the first delivery's except after a
// synthetic dispatch such as an earlier RESUMED, which is not replayed).

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace shardline::proxy {

class ClientSession;
class ShardFeed;
struct FeedEvent;

class ResumableSession {
public:
  // `resume_url`: READY's resume_gateway_url (the endpoint's own gateway URL).
  ResumableSession(std::string id, ShardFeed& feed, std::string resume_url);
  ~ResumableSession();
  ResumableSession(const ResumableSession&) = delete;
  ResumableSession& operator=(const ResumableSession&) = delete;

  const std::string& id() const { return id_; }
  ShardFeed& feed() { return feed_; }
  std::uint64_t seq() const { return seq_; }
  ClientSession* connection() const { return conn_; }
  // Started: READY has been sent (the shard had one); until then the session waits for it.
  bool started() const { return started_; }

  // After IDENTIFY on `conn`: READY and one GUILD_CREATE per available guild from the shard's
  // cache, then live events; or, while the shard has no READY yet, waits for it.
  void identify(ClientSession& conn);
  // The shard's READY arrived (ShardFeed calls this for sessions waiting for one).
  void start();
  // One event of the feed: sent if attached, started and meant for this session.
  void deliver(const FeedEvent& e);
  // RESUME at the client's `seq` on `conn`: replays what it missed, then RESUMED. False (nothing
  // sent) when that is impossible: a seq this session never sent, from before its first live
  // event, or older than the feed's buffer.
  bool resume(ClientSession& conn, std::uint64_t seq);
  // The connection is gone (or taken over): events wait in the feed's buffer until a RESUME.
  void detach(steady::time_point now);
  steady::time_point detached_at() const { return detached_at_; }

private:
  void send_dispatch(std::string_view type, std::string_view d_json);
  // The client has now been sent everything of the feed up to `feed_index` at seq_.
  void anchor(std::uint64_t feed_index);
  // The feed position a client at `seq` has seen up to; false if unknown.
  bool feed_position(std::uint64_t seq, std::uint64_t& feed_index) const;

  std::string id_;
  ShardFeed& feed_;
  std::string resume_url_;
  ClientSession* conn_ = nullptr;
  bool started_ = false;
  bool in_feed_ = false; // registered with the feed (waiting for READY, or receiving)
  std::uint64_t seq_ = 0;
  std::uint64_t last_feed_ = 0; // the newest feed index this session has seen
  struct Anchor {
    std::uint64_t seq;
    std::uint64_t feed_index;
  };
  std::deque<Anchor> anchors_;
  steady::time_point detached_at_{};
};

} // namespace shardline::proxy
