#pragma once
// Every op of the protocol and how the hub treats it (docs/protocol.md §4, §10-§13). Adding an
// op starts here: a row in kOps, its data struct in protocol/messages.hpp or hub_messages.hpp,
// and, for an op the hub answers itself, its handler in hub/hub_services.cpp.

#include <string_view>

namespace shardline::protocol {

enum class OpKind {
  unknown,        // not an op of the protocol: unknown_op
  heartbeat,      // client -> hub; answered with heartbeat_ack
  stats,          // stats_broadcast: routed, and the hub keeps the latest per cluster
  request,        // routed to its target, which answers (stats_request, eval_request...)
  response,       // a request's answer, routed back (guild_count_response...)
  broadcast,      // broadcast_message: routed
  error,          // error: routed (a peer's answer to a request)
  hub_status,     // answered by the hub whatever the target
  identify,       // identify_request: answered by the hub (IDENTIFY slots)
  session_report, // kept by the hub, never forwarded
  session_lookup, // answered by the hub, never forwarded
  launch,         // launch_request: answered by the supervisor hosting the hub
  rest,           // rest_acquire, rest_report, rest_sync: the hub's REST coordinator, never forwarded
  hub_only,       // sent by the hub only: a client may not send it
};

struct OpInfo {
  std::string_view name;
  OpKind kind;
};

// Looked up for every routed frame: the ops a busy network sends most come first.
inline constexpr OpInfo kOps[] = {
    {"broadcast_message", OpKind::broadcast},
    {"eval_request", OpKind::request},
    {"eval_response", OpKind::response},
    {"stats_broadcast", OpKind::stats},
    {"heartbeat", OpKind::heartbeat},
    {"stats_request", OpKind::request},
    {"guild_count_request", OpKind::request},
    {"guild_count_response", OpKind::response},
    {"error", OpKind::error},
    {"layout_request", OpKind::request},
    {"layout_response", OpKind::response},
    {"hub_status_request", OpKind::hub_status},
    {"identify_request", OpKind::identify},
    {"session_report", OpKind::session_report},
    {"session_lookup", OpKind::session_lookup},
    {"launch_request", OpKind::launch},
    {"rest_acquire", OpKind::rest},
    {"rest_report", OpKind::rest},
    {"rest_sync", OpKind::rest},
    // Sent by the hub only.
    {"auth", OpKind::hub_only}, // the first frame only; later ones are refused as hub_only
    {"auth_challenge", OpKind::hub_only},
    {"auth_proof", OpKind::hub_only},
    {"auth_response", OpKind::hub_only},
    {"heartbeat_ack", OpKind::hub_only},
    {"cluster_join", OpKind::hub_only},
    {"cluster_leave", OpKind::hub_only},
    {"fanout", OpKind::hub_only},
    {"hub_status_response", OpKind::hub_only},
    {"identify_grant", OpKind::hub_only},
    {"session_report_ack", OpKind::hub_only},
    {"session_lookup_response", OpKind::hub_only},
    {"launch_response", OpKind::hub_only},
    {"rest_grant", OpKind::hub_only},
};

// The op a version-1 peer answers a request with (it has no reply_to: docs/protocol.md §16);
// empty when it answers none.
constexpr std::string_view v1_reply_op(std::string_view request_op) {
  if (request_op == "stats_request") return "stats_broadcast";
  if (request_op == "guild_count_request") return "guild_count_response";
  if (request_op == "eval_request") return "eval_response";
  return {};
}

constexpr OpKind classify(std::string_view op) {
  for (const auto& o : kOps)
    if (o.name == op) return o.kind;
  return OpKind::unknown;
}

} // namespace shardline::protocol
