#pragma once
// Inside a Shard (shard.hpp): the state its two halves share. shard.cpp is the connection loop
// (connect, read, inflate, parse, reconnect with backoff, stop, shut down); shard_protocol.cpp
// is what the shard says and answers on a connection (HELLO and heartbeats, IDENTIFY with a
// slot or RESUME, dispatches, RECONNECT, INVALID_SESSION) and the paced writer. Only those two
// files include this.

#include "gateway/close_policy.hpp"
#include "gateway/guild_tally.hpp"
#include "gateway/shard.hpp"
#include "gateway/zlib_inflater.hpp"
#include "net/backoff.hpp"
#include "net/event.hpp"

#include <deque>

namespace shardline::gateway {

// What to do once the current connection has ended; set by whoever ends it.
enum class NextStep { decide_by_close_code, resume, reidentify };

// A payload waiting for the writer.
struct Outgoing {
  std::string text;
  bool heartbeat = false; // jumps the queue, and may use the send limit's heartbeat reserve
};

class Shard::Impl : public std::enable_shared_from_this<Shard::Impl> {
public:
  Impl(asio::io_context& io, ShardOptions o, ShardHost& host, std::shared_ptr<WsConnector> connector,
       std::function<double()> random, Shard& owner);

  asio::io_context& io;
  ShardOptions opt;
  ShardHost& host;
  std::shared_ptr<WsConnector> connector;
  std::function<double()> random; // uniform in [0, 1): the jitter of first beats and reconnects
  Shard& owner;

  ShardStatus status = ShardStatus::starting;
  ShardCounters counters;
  std::optional<std::chrono::microseconds> latency;
  std::string stop_reason;

  // Session.
  std::string session_id, resume_url;
  std::uint64_t seq = 0;
  steady::time_point last_session_save{};
  // Connections in a row that failed before HELLO, at the resume URL and at the gateway URL
  // (ShardOptions::url_attempts).
  std::uint32_t resume_url_failures = 0;
  std::uint32_t gateway_url_failures = 0;
  GuildTally guilds;

  // The current connection. `gen` changes with every connection, so the tasks of an old one
  // (writer, heartbeats, an IDENTIFY waiting for its slot) see they are stale and end.
  std::shared_ptr<WsConnection> conn; // shared with the writer: a TLS write must not outlive its stream
  std::uint64_t gen = 0;
  std::deque<Outgoing> outq;
  std::uint64_t queued = 0;                            // payloads queued so far: wakes the writer
  std::shared_ptr<net::Condition> writer_wake;         // this connection's; the writer holds it too
  std::shared_ptr<asio::steady_timer> heartbeat_timer; // this connection's; cancelled when it ends
  bool hello_seen = false;
  bool reached_ready = false; // this connection got READY or RESUMED
  bool close_requested = false;
  std::uint16_t close_code = kResumeCloseCode;
  NextStep next = NextStep::decide_by_close_code;
  bool heartbeat_acked = true;
  steady::time_point heartbeat_sent{};
  CommandLimiter limiter;
  ZlibInflater inflater;
  PayloadParser parser;
  std::string text; // the payload being handled (inflated, or copied from a text message)

  // Between connections.
  net::Backoff backoff; // connections in a row that failed before READY; reset by READY/RESUMED
  asio::steady_timer backoff_timer;
  bool stopping = false;
  std::function<void()> shutdown_done;
  std::unique_ptr<asio::steady_timer> shutdown_timer;

  // ---- on a connection (shard_protocol.cpp) ----
  bool connected() const { return conn != nullptr && !close_requested; }
  void queue(std::string payload, bool heartbeat);
  // `scheduled`: the heartbeater's own beat, whose ACK the next beat checks.
  void send_heartbeat(bool scheduled);
  // Ends the current connection: our close frame (when the writer can send it), and the socket
  // is dropped if that has not finished within a deadline.
  void end_connection(NextStep step, std::uint16_t code);
  // Handles one payload; false ends the connection (a protocol error).
  bool handle(const GatewayPayload& p);
  void send_resume();
  void forget_session();
  void save_session();
  static asio::awaitable<void> writer(std::shared_ptr<Impl> self, std::shared_ptr<WsConnection> ws,
                                      std::shared_ptr<net::Condition> wake, std::uint64_t g);
  static asio::awaitable<void> heartbeater(std::shared_ptr<Impl> self, std::shared_ptr<asio::steady_timer> timer,
                                           std::uint64_t g, std::uint32_t interval_ms);
  static asio::awaitable<void> identify_when_allowed(std::shared_ptr<Impl> self, std::uint64_t g);

  // ---- the connection loop (shard.cpp) ----
  std::chrono::milliseconds reconnect_delay(NextStep step);
  static asio::awaitable<void> run(std::shared_ptr<Impl> self);
  // One connection, from connect to its end; returns what to do next.
  asio::awaitable<NextStep> connect_and_serve();
  // The connection to `url` failed before HELLO (`why`): counts it, and gives up a resume URL
  // that keeps failing for the gateway URL.
  void url_failed(bool at_resume_url, const std::string& why);
  // After the gateway URL failed url_attempts times in a row: asks the host for a fresh one.
  static asio::awaitable<void> refresh_gateway_url(std::shared_ptr<Impl> self);
  // One message received; false ends the connection (a protocol error).
  bool ingest(const WsMessage& msg);
  void stop(std::string reason);
  void finish_shutdown();
};

} // namespace shardline::gateway
