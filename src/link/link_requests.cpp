// Requests and their answers (docs/protocol.md §4-§5), and the frames a cluster answers
// itself: stats_request, guild_count_request and eval_request from its ClusterState,
// layout_request from the supervisor, broadcasts, membership, and the hub's errors.

#include "link/link_impl.hpp"

#include "core/text.hpp"

#include <spdlog/spdlog.h>

namespace shardline::link {

namespace {

std::string string_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

} // namespace

void HubLink::Impl::on_frame(const std::string& body) {
  json::value doc;
  if (!protocol::parse_body(body, v1_, doc) || !doc.is_object()) {
    spdlog::warn("ignored a frame from the hub that is not a JSON object");
    return;
  }
  auto& o = doc.get_object();
  auto op = string_field(o, "op");
  auto source = string_field(o, "source");
  auto id = string_field(o, "id");
  auto reply_to = string_field(o, "reply_to");
  static const json::object empty;
  auto* dv = o.if_contains("data");
  const json::object& data = dv && dv->is_object() ? dv->get_object() : empty;
  const json::value data_value(data);
  const protocol::ObjectReader fields(data_value);

  if (!reply_to.empty()) {
    if (auto it = pending_.find(reply_to); it != pending_.end()) on_reply(*it->second, op, source, data);
    return;
  }
  if (v1_ && !pending_.empty())
    if (auto* p = v1_pending_for(op, source)) {
      on_reply(*p, op, source, data);
      if (op != "stats_broadcast") return; // a stats answer is also the peer's stats broadcast
    }
  if (op == "heartbeat_ack") {
    last_ack_at_ = steady::now();
    ipc_latency_ = std::chrono::duration<double>(last_ack_at_ - heartbeat_sent_).count();
  } else if (op == "stats_request") {
    if (state_) answer(source, id, "stats_broadcast", protocol::to_data(state_->stats()));
  } else if (op == "guild_count_request") {
    if (state_) {
      auto s = state_->stats();
      answer(source, id, "guild_count_response",
             protocol::to_data(protocol::GuildCountResponse{s.guild_count, s.user_count, s.shard_count}));
    }
  } else if (op == "eval_request") {
    auto q = protocol::EvalRequest::read(fields);
    if (state_) answer(source, id, "eval_response", protocol::to_data(protocol::EvalResponse{q.query, state_->eval(q.query)}));
  } else if (op == "broadcast_message") {
    BroadcastMessage b;
    static_cast<protocol::Broadcast&>(b) = protocol::Broadcast::read(fields);
    b.source = source;
    if (b.message.empty()) {
      spdlog::warn("ignored a broadcast from {} with no message", source);
    } else {
      spdlog::info("broadcast from {} by {}: {}", b.source, one_log_line(b.author), one_log_line(b.message));
      if (broadcast_cb_) broadcast_cb_(b);
    }
  } else if (op == "layout_request") {
    // The supervisor switches a reshard's layouts over (docs/supervisor.md, "Resharding").
    auto layout = protocol::decode<protocol::Layout>(data_value);
    if (!layout || !layout_cb_) {
      auto why = !layout ? std::string("layout_request needs active: true|false")
                         : "cluster " + opt_.name + " runs no gateway shards: it has no layout to switch";
      if (!id.empty() && !v1_)
        answer(source, id, "error", protocol::to_data(protocol::ErrorMessage{"bad_request", why, ""}));
    } else {
      layout_cb_(layout->active);
      answer(source, id, "layout_response", protocol::to_data(*layout));
    }
  } else if (op == "cluster_join") {
    auto j = protocol::ClusterJoin::read(fields);
    clusters_.insert(j.cluster_name);
    spdlog::info("cluster joined: {}", j.cluster_name);
    if (membership_cb_) membership_cb_(&j, {});
  } else if (op == "cluster_leave") {
    auto l = protocol::ClusterLeave::read(fields);
    clusters_.erase(l.cluster_name);
    spdlog::info("cluster left: {}", l.cluster_name);
    if (membership_cb_) membership_cb_(nullptr, l.cluster_name);
  } else if (op == "stats_broadcast") {
    spdlog::debug("stats from {}", source);
  } else if (op == "error") {
    auto e = protocol::ErrorMessage::read(fields);
    if (e.code == "superseded") {
      spdlog::error("superseded by a newer generation of {}: this process gives up its shards", opt_.name);
      superseded_ = true;
      if (superseded_cb_) superseded_cb_();
    } else if (e.code == "unknown_op" && e.message == "unknown op: session_report") {
      // An older hub: stop reporting on this link rather than earn an error per report.
      if (!hub_lacks_sessions_)
        spdlog::warn("the hub does not keep shard sessions (older version): a process started elsewhere cannot "
                     "take this cluster's sessions over");
      hub_lacks_sessions_ = true;
    } else {
      spdlog::warn("hub error {}: {}", e.code, e.message);
    }
  } else if (!id.empty() && !v1_) {
    answer(source, id, "error", protocol::to_data(protocol::ErrorMessage{"unknown_op", "unknown op: " + op, ""}));
  }
}

void HubLink::Impl::on_reply(Pending& p, const std::string& op, const std::string& source, const json::object& data) {
  if (p.done.is_set()) return;
  if (op == "fanout") {
    auto f = protocol::Fanout::read(protocol::ObjectReader(json::value(data)));
    p.expected = std::set<std::string>(f.targets.begin(), f.targets.end());
  } else {
    p.replies[source] = Reply{source, op, data};
  }
  if (!p.fanout) {
    if (!p.replies.empty()) p.done.set();
  } else if (p.expected) {
    bool all = true;
    for (auto& name : *p.expected) all = all && p.replies.count(name);
    if (all) p.done.set();
  }
}

void HubLink::Impl::answer(const std::string& requester, const std::string& id, std::string_view op,
                           json::object data) {
  // v1 peers correlate by op and source; v2 by reply_to.
  auto body = protocol::build_body(protocol::OutFrame{op, std::move(data), opt_.name,
                                                      requester.empty() ? "all" : requester, "",
                                                      v1_ ? std::string_view() : std::string_view(id)},
                                   nonces_);
  push(body);
}

HubLink::Impl::Pending* HubLink::Impl::v1_pending_for(const std::string& op, const std::string& source) {
  for (auto& [id, p] : pending_)
    if (!p->done.is_set() && p->v1_reply_op == op && (p->target == "all" || p->target == source) &&
        !p->replies.count(source))
      return p.get();
  return nullptr;
}

void HubLink::Impl::fail_pending() {
  for (auto& [id, p] : pending_) {
    p->link_dropped = true;
    p->done.set();
  }
}

// ---- sending ---------------------------------------------------------------------------------------

void HubLink::Impl::push(const std::string& body) {
  if (stream_ && writer_) writer_->push_body(body, shared_from_this());
}

Result<void> HubLink::Impl::send(std::string_view op, json::object data, std::string_view target,
                                 std::string_view id) {
  if (!linked_) return fail(Errc::not_connected, "not linked to the hub");
  push(protocol::build_body(
      protocol::OutFrame{op, std::move(data), v1_ ? v1_name_ : opt_.name, target, v1_ ? "" : id, ""}, nonces_));
  return {};
}

asio::awaitable<Result<Reply>> HubLink::Impl::request(std::string op, json::object data, std::string target,
                                                      std::chrono::milliseconds timeout) {
  if (!linked_) co_return fail(Errc::not_connected, "not linked to the hub");
  // The caller may drop its HubLink while this waits (stop() then fails the request): the frame
  // must keep the Impl it resumes into alive.
  auto self = shared_from_this();
  auto id = nonces_.next();
  auto p = std::make_shared<Pending>(io_.get_executor());
  p->v1_reply_op = protocol::v1_reply_op(op);
  p->target = target;
  pending_[id] = p;
  (void)send(op, std::move(data), target, id);
  co_await p->done.wait_until(steady::now() + timeout);
  pending_.erase(id);
  if (!p->replies.empty()) co_return std::move(p->replies.begin()->second);
  if (p->link_dropped) co_return fail(Errc::not_connected, "the link to the hub dropped");
  co_return fail(Errc::timeout, op + " to " + target + ": no answer within " + std::to_string(timeout.count()) + " ms");
}

asio::awaitable<FanoutResult> HubLink::Impl::request_all(std::string op, json::object data,
                                                         std::chrono::milliseconds timeout) {
  FanoutResult out;
  if (!linked_) co_return out;
  auto self = shared_from_this(); // see request()
  auto id = nonces_.next();
  auto p = std::make_shared<Pending>(io_.get_executor());
  p->fanout = true;
  p->v1_reply_op = protocol::v1_reply_op(op);
  p->target = "all";
  if (v1_) {
    // No fanout frame in version 1: wait for every cluster the hub announced, and the hub itself
    // (the seed's server is a cluster too, and answers).
    std::set<std::string> everyone;
    for (auto& n : clusters_)
      if (n != v1_name_) everyone.insert(n);
    everyone.insert(server_name_);
    p->expected = std::move(everyone);
  }
  pending_[id] = p;
  (void)send(op, std::move(data), "all", id);
  co_await p->done.wait_until(steady::now() + timeout);
  pending_.erase(id);
  out.replies = std::move(p->replies);
  // Whom to wait for: the hub's list, or else every cluster this link knows of.
  std::set<std::string> expected = p->expected ? *p->expected : clusters_;
  if (!p->expected) expected.erase(opt_.name);
  for (auto& name : expected)
    if (!out.replies.count(name)) out.missing.push_back(name);
  co_return out;
}

} // namespace shardline::link
