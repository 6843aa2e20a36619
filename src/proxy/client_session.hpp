#pragma once
// The protocol of one client connection to the endpoint's gateway, as a state machine with no
// networking: frames in (on_text), frames and a close out (ClientOutput), time through a Clock
// (tick() checks the deadlines). proxy_server.cpp drives it from a websocket; unit tests drive
// it directly.
//
// As Discord does (../shared/discord/gateway.md): HELLO first; IDENTIFY with the bot's token
// (else 4004) and a shard this cluster holds with the bot's shard count (else 4010, saying
// which cluster holds it when known); a second IDENTIFY or RESUME 4005; any other command
// before IDENTIFY 4003; no IDENTIFY within identify_timeout 4003; no heartbeat within 1.5
// heartbeat intervals 4009; a frame over 4,096 bytes, not JSON, or binary 4002; an unknown op
// 4001; over 120 commands in 60 s 4008. Presence updates, voice state updates and member
// requests go to Discord through the shard (Endpoint::send_command, paced by the shard).
// IDENTIFY's intents, properties, large_threshold and presence are accepted as given: the
// client gets what the cluster's shard receives (its intents are DISCORD_INTENTS).

#include "core/clock.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace shardline::proxy {

class Endpoint;
class ResumableSession;

// Where a ClientSession's frames go: the connection's outbound queue.
class ClientOutput {
public:
  virtual ~ClientOutput() = default;
  // Queues a text frame; false if the queue is over its bound (the client is too slow).
  virtual bool send(std::string frame) = 0;
  // Sends a close frame after what is queued and ends the connection.
  virtual void close(std::uint16_t code, std::string reason) = 0;
};

struct SessionLimits {
  std::chrono::milliseconds heartbeat_interval{41'250};
  std::chrono::milliseconds identify_timeout{60'000};
  std::size_t max_payload_bytes = 4096;
  std::size_t max_commands = 120; // per command_window, heartbeats included
  std::chrono::milliseconds command_window{60'000};
  // No heartbeat for heartbeat_interval x this: the connection is dead.
  double heartbeat_grace = 1.5;
};

class ClientSession {
public:
  ClientSession(Endpoint& endpoint, ClientOutput& out);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Sends HELLO and starts the deadlines.
  void start();
  // One complete text frame from the client.
  void on_text(std::string_view text);
  // A binary frame (clients send JSON as text), or one over the size limit (its size only:
  // the server does not buffer it).
  void on_binary();
  void on_oversize();
  // Closes when a deadline has passed; call it every second or so.
  void tick();
  // The transport is gone (`client_code`: the code of the client's close frame, if any). The
  // session stays resumable unless the client closed with 1000 or 1001.
  void on_disconnected(std::optional<std::uint16_t> client_code);

  // Closes the connection with `code`; the session survives (resumable) unless the code ends it.
  void close(std::uint16_t code, std::string reason);
  // Another connection RESUMEd this one's session: close it without touching the session.
  void taken_over();

  // Used by ResumableSession: a frame for the client (a slow client is closed with 4000).
  void send(std::string frame);

  bool closed() const { return closed_; }
  ResumableSession* session() const { return session_; }

private:
  void on_frame(int op, boost::json::value& d);
  void on_identify(const boost::json::value& d);
  void on_resume(const boost::json::value& d);
  void on_command(int op, boost::json::value& d);
  bool token_ok(std::string_view token) const;

  Endpoint& endpoint_;
  ClientOutput& out_;
  steady::time_point connected_at_{}, last_heartbeat_{};
  std::deque<steady::time_point> commands_; // the last max_commands commands' times
  ResumableSession* session_ = nullptr;
  bool closed_ = false;
};

} // namespace shardline::proxy
