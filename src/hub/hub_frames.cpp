// The hub's frames: authentication (docs/protocol.md §3), the checks every routed frame passes
// (§6), and routing (§5). The rules themselves are pure (admission, router, legacy_v1); this
// file applies them to connections.

#include "hub/hub_impl.hpp"

#include "core/crypto.hpp"
#include "hub/admission.hpp"
#include "hub/router.hpp"
#include "protocol/ops.hpp"

#include <spdlog/spdlog.h>

#include <cmath>

namespace shardline::hub {

using protocol::OpKind;

void Hub::Impl::on_frame(const ConnPtr& c, std::string_view body, std::string_view wire) {
  switch (c->state) {
  case Connection::State::awaiting_auth: return on_auth(c, body);
  case Connection::State::awaiting_proof: return on_proof(c, body);
  case Connection::State::authenticated: return on_routed(c, body, wire);
  default: return;
  }
}

// ---- authentication ------------------------------------------------------------------------------

void Hub::Impl::refuse_auth(const ConnPtr& c, std::string_view error) {
  spdlog::warn("auth failed from {}: {}", c->address, error);
  send(*c, "auth_response", protocol::AuthResponse{false, std::string(error)}, {}, true);
  close_after_flush(*c, std::string("auth refused: ") + std::string(error));
}

void Hub::Impl::on_auth(const ConnPtr& c, std::string_view body) {
  using Next = FirstFrame::Next;
  auto f = judge_first_frame(body, opt_.legacy_auth, opt_.secret);
  if (f.next == Next::close) {
    spdlog::warn("auth failed from {}: {}", c->address, f.reason);
    return close(*c, "first frame is not an auth frame", true);
  }
  // Name and shards are known from here, so a refusal is logged against them.
  c->name = f.auth.cluster_name;
  c->shard_ids = std::move(f.auth.shard_ids);
  c->shard_count = f.auth.shard_count;
  c->guild_count = f.auth.guild_count;
  if (f.next == Next::refuse) return refuse_auth(c, f.reason);
  c->proto = f.auth.proto;
  c->role = f.auth.admin() ? Member::Role::admin : Member::Role::cluster;
  if (f.next == Next::accept) return complete_auth(c);
  c->instance = std::move(f.auth.instance);
  c->generation = f.auth.generation;
  c->client_nonce = std::move(f.auth.client_nonce);
  c->server_nonce = random_hex(16);
  c->state = Connection::State::awaiting_proof;
  send(*c, "auth_challenge", protocol::AuthChallenge{c->server_nonce}, {}, true);
}

void Hub::Impl::on_proof(const ConnPtr& c, std::string_view body) {
  json::value doc;
  if (!protocol::parse_body(body, false, doc) || !doc.is_object()) return close(*c, "bad auth_proof", true);
  auto& o = doc.get_object();
  auto* op = o.if_contains("op");
  auto* data = o.if_contains("data");
  if (!op || !op->is_string() || op->get_string() != "auth_proof" || !data || !data->is_object())
    return close(*c, "expected auth_proof", true);
  auto proof = protocol::decode<protocol::AuthProof>(*data);
  if (!proof || !proof_ok(opt_.secret, c->name, c->client_nonce, c->server_nonce, proof->mac))
    return refuse_auth(c, "Invalid secret");
  complete_auth(c);
}

void Hub::Impl::complete_auth(const ConnPtr& c) {
  auto verdict = judge_name(directory_, *c, opt_.name, opt_.local_instance);
  switch (verdict.kind) {
  case Admission::Kind::refuse: return refuse_auth(c, "Cluster name already connected");
  case Admission::Kind::probe: return start_probe(c, static_cast<Connection&>(*verdict.old));
  case Admission::Kind::replace: {
    auto& old = static_cast<Connection&>(*verdict.old);
    old.registered = false;
    directory_.remove(old);
    close(old, "replaced by a new connection of the same process", true);
    break;
  }
  case Admission::Kind::supersede: {
    auto& old = static_cast<Connection&>(*verdict.old);
    old.registered = false;
    directory_.remove(old);
    if (old.proto == 2)
      send(old, "error",
           protocol::ErrorMessage{"superseded", "a newer generation of cluster " + c->name + " has connected", ""}, {},
           true);
    close_after_flush(old, "superseded by generation " + std::to_string(c->generation));
    break;
  }
  case Admission::Kind::accept: break;
  }

  c->state = Connection::State::authenticated;
  c->authenticated_at = c->last_heartbeat = steady::now();
  c->health = protocol::Health::green;
  c->decoder.set_max_frame(protocol::kMaxFrameBytes);
  if (c->in_pending) {
    pending_.erase(c->pending_it);
    c->in_pending = false;
  }
  c->registered = true;
  if (directory_.add(*c))
    spdlog::warn("clusters disagree on the shard count ({} says {}); guild routing uses {}", c->name, c->shard_count,
                 directory_.guild_shard_count());

  protocol::AuthResponse resp;
  resp.success = true;
  resp.server_cluster = opt_.name;
  for (auto* k : directory_.clusters()) resp.connected_clients.push_back(k->name);
  if (c->proto == 2) {
    resp.proto = 2;
    resp.server_mac = protocol::server_mac(opt_.secret, c->name, c->client_nonce, c->server_nonce);
  }
  send(*c, "auth_response", resp, {}, true);
  spdlog::info("auth ok: {} ({}, proto {}) from {}", c->name, c->role_name(), c->proto, c->address);
  if (c->cluster()) {
    spdlog::info("cluster joined: {}", c->name);
    send_to_clusters("cluster_join", protocol::to_data(protocol::ClusterJoin{c->name, c->shard_ids}), c.get());
  }
}

// ---- routed frames ---------------------------------------------------------------------------------

void Hub::Impl::on_routed(const ConnPtr& c, std::string_view body, std::string_view wire) {
  if (c->proto == 1) {
    // The seed's clusters never manage to heartbeat, but send stats every 60 s: from a
    // version-1 peer any frame is a sign of life (docs/protocol.md §16).
    c->last_heartbeat = c->last_frame_at;
    if (!probes_.empty()) holder_answered(*c);
  }
  protocol::Envelope env;
  switch (parser_.parse(body, legacy_json(*c), env)) {
  case protocol::EnvelopeStatus::bad_json: return reject(*c, "bad_json", "the frame is not valid JSON", "");
  case protocol::EnvelopeStatus::bad_envelope:
    return reject(*c, "bad_envelope", "the frame needs a string op and an object data", env.id);
  case protocol::EnvelopeStatus::ok: break;
  }
  // Copy what outlives the next parse (the views point into the parser).
  const std::string id(env.id);
  const std::string_view reply_to = env.reply_to;
  auto kind = protocol::classify(env.op);
  if (kind == OpKind::unknown) return reject(*c, "unknown_op", "unknown op: " + std::string(env.op), id);
  if (c->proto == 2 && !env.has_nonce) return reject(*c, "missing_nonce", "every frame needs a nonce", id);
  if (env.has_nonce && !c->nonces.insert(env.nonce))
    return reject(*c, "replayed_nonce", "this nonce was already used on this connection", id);
  if (c->proto == 2) {
    double now = protocol::wall_seconds();
    if (!env.timestamp || std::fabs(now - *env.timestamp) > opt_.max_clock_skew_s)
      return reject(*c, "stale_timestamp", "timestamp missing or too far from the hub's clock", id);
  }
  if (env.has_source && env.source != c->name)
    return reject(*c, "bad_source", "source does not match the authenticated name", id);
  // Handled by the hub whatever `target` says, like hub_status_request.
  if (kind == OpKind::identify) return on_identify_request(c, id);
  if (kind == OpKind::session_report || kind == OpKind::session_lookup) return on_session_op(c, env.op, id);
  if (kind == OpKind::launch) return on_launch_request(*c, id);
  if (kind == OpKind::rest) return on_rest_op(c, env.op, id);
  if (!c->cluster()) {
    bool allowed = kind == OpKind::heartbeat || kind == OpKind::hub_status || kind == OpKind::broadcast ||
                   (kind == OpKind::request && !id.empty()) || !reply_to.empty();
    if (!allowed) return reject(*c, "forbidden", "admin connections may only send requests", id);
  }

  switch (kind) {
  case OpKind::heartbeat: return on_heartbeat(*c);
  case OpKind::hub_status: return send(*c, "hub_status_response", status(steady::now()), id);
  case OpKind::hub_only: return reject(*c, "forbidden", std::string(env.op) + " is sent by the hub only", id);
  case OpKind::stats:
    if (c->cluster()) keep_stats(*c);
    break;
  default: break;
  }
  // A v1 peer written in Python may send bare NaN/Infinity/-Infinity (§2). The hub read them as
  // null; it must forward them as null too, since "Shardline never emits them" and a v2 receiver
  // (a strict JSON parser) would otherwise drop the whole frame. Only v1 connections pay for
  // this, and only when one of the tokens appears at all.
  std::string sanitized_wire;
  if (c->proto == 1 &&
      (body.find("NaN") != std::string_view::npos || body.find("Infinity") != std::string_view::npos)) {
    std::string clean;
    if (protocol::replace_non_finite(body, clean)) {
      // "NaN" -> "null" grows the body: it must still fit the cap every peer enforces.
      if (clean.size() > protocol::kMaxFrameBytes)
        return reject(*c, "too_large", "with NaN/Infinity written as null the frame would pass 1,000,000 bytes", id);
      sanitized_wire = protocol::encode_frame(clean);
      wire = sanitized_wire;
    }
  }
  // A v1 peer's answer carries no reply_to: the hub tags it with the id of the request it
  // answers (hub/legacy_v1.hpp).
  std::string tagged_wire, answered_id;
  if (c->proto == 1 && env.reply_to.empty() && !c->v1_pending.empty() && !env.target.empty() && env.target != "all") {
    if (auto answered = c->v1_pending.answered(env.op, env.target)) {
      if (answered->eval_query) return answer_eval_from_stats(*c, env.target, answered->id, *answered->eval_query);
      answered_id = std::move(answered->id);
      auto field = json::serialize(json::string(answered_id));
      auto frame_body = wire.substr(protocol::kHeaderBytes);
      if (frame_body.size() + field.size() + 14 <= protocol::kMaxFrameBytes) {
        tagged_wire = protocol::encode_frame(with_first_field(frame_body, "reply_to", field));
        wire = tagged_wire;
        env.reply_to = answered_id;
      }
    }
  }
  route_frame(c, env, id, wire);
}

void Hub::Impl::route_frame(const ConnPtr& c, const protocol::Envelope& env, const std::string& id,
                            std::string_view wire) {
  // The hub forwards the bytes it received; it rewrites only to fill in a missing source.
  std::string rewritten;
  if (!env.has_source) {
    auto body = wire.substr(protocol::kHeaderBytes);
    // Filling in the source must not push a legal frame over the cap every peer enforces.
    if (body.size() + c->name.size() + 12 > protocol::kMaxFrameBytes)
      return reject(*c, "too_large", "with its source added the frame would pass 1,000,000 bytes; set source", id);
    rewritten = protocol::encode_frame(with_first_field(body, "source", "\"" + c->name + "\""));
    wire = rewritten;
  }
  const bool is_reply = !env.reply_to.empty();
  auto r = route(directory_, env.target, *c, is_reply);
  if (r.no_route) {
    ++unroutable_;
    std::string target(env.target.empty() ? "all" : env.target);
    if (c->proto == 2)
      send(*c, "error", protocol::ErrorMessage{"no_route", "no connected cluster for target " + target, target}, id);
    return;
  }
  for (auto* m : r.to) {
    auto& dest = static_cast<Connection&>(*m);
    if (dest.proto == 1 && !is_reply && !id.empty() && c->proto == 2 && env.op == "eval_request") {
      ask_v1_through_stats(*c, dest, id);
      continue;
    }
    deliver(dest, wire);
    if (!is_reply && dest.proto == 1) dest.v1_pending.remember(c->name, id, env.op);
  }
  if (r.fanout && !id.empty() && !is_reply && c->proto == 2) {
    protocol::Fanout f;
    for (auto* m : r.to) f.targets.push_back(m->name);
    send(*c, "fanout", f, id);
  }
}

void Hub::Impl::deliver(Connection& dest, std::string_view wire) {
  if (dest.state != Connection::State::authenticated || dest.overflowed) return;
  if (dest.writer.push_wire(wire, dest.shared_from_this())) {
    ++routed_;
    dest.last_sent_at = steady::now();
    return;
  }
  // Closed from a fresh handler: the caller may be iterating over the cluster list.
  dest.overflowed = true;
  asio::post(io_, [self = shared_from_this(), c = dest.shared_from_this()] { self->slow_consumer(*c); });
}

void Hub::Impl::slow_consumer(Connection& c) {
  if (c.state != Connection::State::authenticated) return;
  if (c.proto == 2)
    send(c, "error",
         protocol::ErrorMessage{"slow_consumer",
                                "output queue over " + std::to_string(opt_.max_outbuf_bytes / 1024) + " KiB", ""},
         {}, true);
  close_after_flush(c, "slow_consumer");
}

void Hub::Impl::on_heartbeat(Connection& c) {
  c.last_heartbeat = steady::now();
  simdjson::dom::element gc;
  if (!parser_.root().at_pointer("/data/guild_count").get(gc)) {
    std::uint64_t n = 0;
    if (!gc.get_uint64().get(n)) c.guild_count = n;
  }
  if (c.health != protocol::Health::green && c.cluster()) {
    spdlog::info("health {}: {} -> green", c.name, protocol::to_string(c.health));
    c.health = protocol::Health::green;
  }
  send(c, "heartbeat_ack", protocol::HeartbeatAck{protocol::wall_seconds()});
}

void Hub::Impl::keep_stats(Connection& c) {
  simdjson::dom::element data;
  if (!parser_.root()["data"].get(data)) {
    c.last_stats = simdjson::minify(data);
    c.last_stats_at = steady::now();
  }
}

// ---- sending -----------------------------------------------------------------------------------------

void Hub::Impl::send_data(Connection& c, std::string_view op, json::object data, std::string_view reply_to,
                          bool ignore_cap) {
  if (c.state == Connection::State::closed) return;
  if (c.proto == 1) reply_to = {}; // v1 peers get the seed's envelope: no request ids
  std::string_view target = c.name.empty() ? std::string_view("all") : std::string_view(c.name);
  auto body = protocol::build_body(protocol::OutFrame{op, std::move(data), opt_.name, target, "", reply_to}, nonces_);
  c.last_sent_at = steady::now();
  if (!c.writer.push_body(body, c.shared_from_this(), ignore_cap) && !c.overflowed) {
    c.overflowed = true;
    asio::post(io_, [self = shared_from_this(), conn = c.shared_from_this()] { self->slow_consumer(*conn); });
  }
}

void Hub::Impl::send_as(Connection& to, std::string_view source, std::string_view op, json::object data,
                         std::string_view reply_to) {
  if (to.state != Connection::State::authenticated) return;
  if (to.proto == 1) reply_to = {};
  auto body = protocol::build_body(protocol::OutFrame{op, std::move(data), source, to.name, "", reply_to}, nonces_);
  deliver(to, protocol::encode_frame(body));
}

void Hub::Impl::send_to_clusters(std::string_view op, json::object data, const Connection* except) {
  std::string body = protocol::build_body(protocol::OutFrame{op, std::move(data), opt_.name, "all", "", ""}, nonces_);
  std::string wire = protocol::encode_frame(body);
  for (auto* k : directory_.clusters())
    if (k != except) deliver(static_cast<Connection&>(*k), wire);
}

void Hub::Impl::reject(Connection& c, std::string_view code, std::string_view message, std::string_view reply_to) {
  spdlog::debug("rejected frame from {}: {} ({})", c.name, code, message);
  ++rejected_;
  send_error(c, code, message, reply_to);
}

void Hub::Impl::send_error(Connection& c, std::string_view code, std::string_view message,
                           std::string_view reply_to) {
  if (c.proto != 2) return; // a v1 peer does not know the frame
  send(c, "error", protocol::ErrorMessage{std::string(code), std::string(message), ""}, reply_to);
}

} // namespace shardline::hub
