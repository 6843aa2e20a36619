#pragma once
// One HTTP request in, one reply out: the route table (route_table.hpp) names the route, then
// come the bot's authorization, the path's own checks and the method, in that order (a bot
// without its token learns nothing about the paths), and the route's handler answers.

#include "sim/http_exchange.hpp"
#include "sim/sim_state.hpp"

namespace shardline::sim {

HttpReply answer_http(Sim& sim, const HttpRequest& req);

} // namespace shardline::sim
