#pragma once
// One peer's connection to the hub: a Member (once authenticated) with its transport, its
// deadlines and what the hub keeps of it. Owned by the hub (a shared_ptr held by the hub's set
// and by the connection's reader coroutine); everything else refers to it by plain pointer.

#include "core/clock.hpp"
#include "hub/legacy_v1.hpp"
#include "hub/member.hpp"
#include "net/frame_writer.hpp"
#include "net/stream.hpp"
#include "protocol/frame_codec.hpp"
#include "protocol/health.hpp"
#include "protocol/nonce_window.hpp"

#include <list>
#include <memory>
#include <string>

namespace shardline::hub {

struct Connection : Member, std::enable_shared_from_this<Connection> {
  enum class State {
    tls_handshake,
    awaiting_auth,
    awaiting_proof,
    awaiting_name, // authenticated, but its name's version-1 holder is being probed
    authenticated,
    closing,
    closed,
  };

  Connection(net::IpcStream s, std::size_t max_preauth_frame, std::size_t max_outbuf_bytes, std::size_t nonce_window)
      : stream(std::move(s)), decoder(max_preauth_frame, 512), writer(stream, max_outbuf_bytes), nonces(nonce_window) {}

  net::IpcStream stream;
  protocol::FrameDecoder decoder;
  net::FrameWriter writer;
  protocol::NonceWindow nonces;
  State state = State::awaiting_auth;
  std::string address;
  std::uint64_t serial = 0; // unique per connection for the hub's life: keys its IDENTIFY requests
  bool registered = false;  // in the directory under its name
  bool overflowed = false;  // output cap passed: being closed as a slow consumer

  // Version-2 handshake.
  std::string client_nonce;
  std::string server_nonce;

  // Deadlines, checked by the hub's sweeper.
  steady::time_point accepted_at = steady::now();
  steady::time_point authenticated_at{};
  steady::time_point last_frame_at = steady::now();
  steady::time_point body_started_at{};
  steady::time_point close_by{}; // closing: give up on flushing after this
  steady::time_point last_heartbeat{};
  steady::time_point last_sent_at{}; // the hub's last frame to it (version-1 keep-alive)
  protocol::Health health = protocol::Health::green;

  std::string last_stats; // latest stats_broadcast data, as JSON text
  steady::time_point last_stats_at{};

  V1PendingRequests v1_pending; // see hub/legacy_v1.hpp
  std::list<std::weak_ptr<Connection>>::iterator pending_it; // in the hub's unauthenticated list
  bool in_pending = false;

  bool authenticated() const { return state == State::authenticated; }
  bool open() const {
    return state == State::awaiting_auth || state == State::awaiting_proof || state == State::awaiting_name ||
           authenticated();
  }
};

using ConnPtr = std::shared_ptr<Connection>;

} // namespace shardline::hub
