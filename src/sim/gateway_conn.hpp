#pragma once
// What the other rooms of the simulator do to gateway connections: send a frame, a dispatch
// or a HEARTBEAT request, close one, count a client's violation. The connection's coroutines,
// and everything that touches its websocket, are in gateway_conn.cpp; this header stays free
// of Beast (sim_state.hpp says why).

#include "sim/sim_state.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace shardline::sim {

Frame make_frame(std::string text);

// Queues a frame for the writer; a queue over its cap closes the connection as a slow consumer.
void enqueue(GatewayConn& c, GatewayConn::Out out);

// Closes with `code` as soon as the writer is free; frames still queued are dropped (a
// dispatch among them stays in the session's replay buffer, undelivered).
void request_close(GatewayConn& c, std::uint16_t code, std::string reason);

// Sends a HEARTBEAT request (op 1); the client must answer with a HEARTBEAT at once.
void request_heartbeat(GatewayConn& c, std::uint64_t last_seq);

// Appends a dispatch to the session (sequence, replay buffer) and sends it if a connection
// holds the session.
void dispatch(Sim& sim, Session& s, std::string_view type, std::string_view data);

void count_violation(Sim& sim, const char* kind, const GatewayConn& c, const std::string& detail = {});

// Closes the socket now, without a close frame: the reader then ends the connection.
void close_socket(GatewayConn& c);

// Closes the socket with a TCP reset (linger 0): a fault a client must survive.
void reset_socket(GatewayConn& c);

} // namespace shardline::sim
