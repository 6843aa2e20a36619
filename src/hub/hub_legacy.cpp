// What the hub does for version-1 peers, the seed's own clusters (docs/protocol.md §16): ask
// them preset queries through their stats, keep their links alive, and let a newcomer take the
// name of one that hung. The rules are in hub/legacy_v1 and hub/admission; this file applies them.

#include "hub/hub_impl.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shardline::hub {

namespace {

std::chrono::milliseconds millis_of(std::chrono::duration<double> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

} // namespace

// ---- preset queries ------------------------------------------------------------------------

void Hub::Impl::ask_v1_through_stats(Connection& requester, Connection& dest, const std::string& id) {
  std::string query;
  std::string_view q;
  if (!parser_.root().at_pointer("/data/query").get(q)) query = q;
  if (!protocol::preset_from_stats(query, protocol::ClusterStats{})) {
    // Never a silent miss: the requester hears that this peer cannot answer, and why.
    send_as(requester, dest.name, "error",
            protocol::to_data(protocol::ErrorMessage{
                "unsupported",
                fmt::format("{} speaks protocol version 1: it answers {}, not {}", dest.name,
                            protocol::kPresetsFromStats, query.empty() ? "an empty query" : query),
                ""}),
            id);
    return;
  }
  // The seed's clusters answer stats_request to its source: the requester.
  auto body = protocol::build_body(protocol::OutFrame{"stats_request", json::object{}, requester.name, dest.name, "", ""},
                                   nonces_);
  deliver(dest, protocol::encode_frame(body));
  dest.v1_pending.remember_eval(requester.name, id, std::move(query));
}

void Hub::Impl::answer_eval_from_stats(Connection& peer, std::string_view requester, const std::string& id,
                                       const std::string& query) {
  auto* to = directory_.find(requester);
  if (!to) return; // the requester left; its request timed out on its side anyway
  protocol::ClusterStats stats;
  simdjson::dom::element d;
  if (!parser_.root()["data"].get(d)) {
    boost::system::error_code ec;
    auto v = json::parse(simdjson::minify(d), ec);
    if (!ec && v.is_object()) stats = protocol::ClusterStats::read(protocol::ObjectReader(v));
  }
  auto result = protocol::preset_from_stats(query, stats).value_or(json::value("unknown_query"));
  send_as(static_cast<Connection&>(*to), peer.name, "eval_response",
          protocol::to_data(protocol::EvalResponse{query, std::move(result)}), id);
}

// ---- keep-alive ---------------------------------------------------------------------------------

// The seed's clients close a link on which nothing arrived for 120 s, and its server keeps them
// linked by broadcasting its stats every 60 s. A hub has no stats of its own: it sends a
// heartbeat_ack, which the seed's client ignores but which keeps its read deadline away.
void Hub::Impl::keep_v1_alive(steady::time_point now) {
  for (auto* m : directory_.clusters()) {
    auto& c = static_cast<Connection&>(*m);
    if (c.proto == 1 && now - c.last_sent_at >= opt_.v1_keepalive)
      send(c, "heartbeat_ack", protocol::HeartbeatAck{protocol::wall_seconds()});
  }
}

// ---- a newcomer and a version-1 name holder -----------------------------------------------------

void Hub::Impl::start_probe(const ConnPtr& newcomer, Connection& holder) {
  spdlog::info("name {}: held by a version-1 peer ({}); asking it for its stats before deciding on the newcomer "
               "from {}",
               holder.name, holder.address, newcomer->address);
  newcomer->state = Connection::State::awaiting_name;
  probes_.push_back({newcomer, holder.shared_from_this(), steady::now() + millis_of(opt_.v1_probe_timeout)});
  send_data(holder, "stats_request", json::object{}, {}, false);
}

void Hub::Impl::holder_answered(Connection& holder) {
  std::erase_if(probes_, [&](const Probe& p) {
    if (p.holder.lock().get() != &holder) return false;
    if (auto n = p.newcomer.lock(); n && n->state == Connection::State::awaiting_name)
      refuse_auth(n, "Cluster name already connected");
    return true;
  });
}

void Hub::Impl::settle_probes(steady::time_point now) {
  if (probes_.empty()) return;
  std::vector<ConnPtr> admit_now;
  std::erase_if(probes_, [&](const Probe& p) {
    auto newcomer = p.newcomer.lock();
    if (!newcomer || newcomer->state != Connection::State::awaiting_name) return true; // gone meanwhile
    auto holder = p.holder.lock();
    const bool holder_gone = !holder || !holder->registered;
    if (!holder_gone && now < p.deadline) return false;
    if (!holder_gone) {
      // As the seed's server does, the newcomer takes the name; unlike it, only once the holder
      // failed to show it is alive.
      close(*holder,
            fmt::format("replaced: a newcomer took the name {} and this version-1 peer answered nothing for {} ms",
                        holder->name, millis_of(opt_.v1_probe_timeout).count()),
            true);
    }
    admit_now.push_back(std::move(newcomer));
    return true;
  });
  for (auto& c : admit_now) complete_auth(c);
}

} // namespace shardline::hub
