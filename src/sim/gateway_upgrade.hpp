#pragma once
// Where an HTTP connection becomes a gateway connection: the one entry into gateway_conn.cpp
// that takes Beast's types. Only the server (sim_server.cpp), which reads the upgrade request,
// and gateway_conn.cpp include it; the other rooms use gateway_conn.hpp.

#include "sim/sim_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <string>

namespace shardline::sim {

using UpgradeRequest = boost::beast::http::request<boost::beast::http::string_body>;

// Accepts the websocket on `stream` and runs the connection until it ends. `address` is the
// peer's, for the log.
asio::awaitable<void> serve_gateway(std::shared_ptr<Sim> sim, boost::beast::tcp_stream stream, std::string address,
                                    UpgradeRequest upgrade);

} // namespace shardline::sim
