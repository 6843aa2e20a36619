#include "proxy/client_session.hpp"

#include "proxy/endpoint.hpp"
#include "proxy/gateway_frames.hpp"
#include "proxy/resumable_session.hpp"

#include "core/crypto.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shardline::proxy {

namespace json = boost::json;

namespace {

// Codes after which the session cannot be resumed (gateway.md's table: "new session" or "stop").
bool ends_session(std::uint16_t code) {
  return code == 1000 || code == 1001 || code == close_code::authentication_failed ||
         code == close_code::session_timed_out || code == close_code::invalid_shard;
}

std::string shard_list(const std::map<std::uint32_t, std::unique_ptr<ShardFeed>>& feeds) {
  std::string out;
  for (auto& [id, f] : feeds) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
    if (out.size() > 100) break; // the reason is cut at 123 bytes anyway
  }
  return out.empty() ? "none" : out;
}

} // namespace

ClientSession::ClientSession(Endpoint& endpoint, ClientOutput& out) : endpoint_(endpoint), out_(out) {}

ClientSession::~ClientSession() {
  if (session_) session_->detach(endpoint_.now());
}

void ClientSession::start() {
  connected_at_ = last_heartbeat_ = endpoint_.now();
  send(hello_frame(static_cast<std::uint32_t>(endpoint_.settings().limits.heartbeat_interval.count())));
}

void ClientSession::on_text(std::string_view text) {
  if (closed_) return;
  const auto& limits = endpoint_.settings().limits;
  if (text.size() > limits.max_payload_bytes) return on_oversize();
  const auto now = endpoint_.now();
  while (!commands_.empty() && now - commands_.front() >= limits.command_window) commands_.pop_front();
  if (commands_.size() >= limits.max_commands) return close(close_code::rate_limited, "You are being rate limited.");
  commands_.push_back(now);
  Refusal refusal;
  auto frame = parse_client_frame(text, refusal);
  if (!frame) return close(refusal.code, refusal.reason);
  on_frame(frame->op, frame->d);
}

void ClientSession::on_binary() {
  if (!closed_) close(close_code::decode_error, "Error while decoding payload.");
}

void ClientSession::on_oversize() {
  if (!closed_) close(close_code::decode_error, "Payload too large.");
}

void ClientSession::on_frame(int op, json::value& d) {
  switch (op) {
  case op::heartbeat:
    last_heartbeat_ = endpoint_.now();
    send(heartbeat_ack_frame());
    return;
  case op::identify: return on_identify(d);
  case op::resume: return on_resume(d);
  default: return on_command(op, d);
  }
}

bool ClientSession::token_ok(std::string_view token) const {
  return constant_time_equal(bare_token(token), bare_token(endpoint_.settings().token));
}

void ClientSession::on_identify(const json::value& d) {
  if (session_) return close(close_code::already_authenticated, "You sent more than one identify payload.");
  Refusal refusal;
  auto id = parse_identify(d, refusal);
  if (!id) return close(refusal.code, refusal.reason);
  if (!token_ok(id->token)) return close(close_code::authentication_failed, "Authentication failed.");
  const auto count = endpoint_.settings().shard_count;
  auto* feed = id->shard_count == count ? endpoint_.feed(id->shard_id) : nullptr;
  if (!feed) {
    std::string why;
    if (id->shard_count != count)
      why = fmt::format("Invalid shard: this bot runs {} shards, not {}.", count, id->shard_count);
    else if (auto holder = endpoint_.holder_of(id->shard_id, id->shard_count))
      why = fmt::format("Invalid shard: shard [{}, {}] is held by cluster {}.", id->shard_id, id->shard_count, *holder);
    else
      why = fmt::format("Invalid shard: shard [{}, {}] is not held here; this cluster holds {}.", id->shard_id,
                        id->shard_count, shard_list(endpoint_.feeds()));
    return close(close_code::invalid_shard, std::move(why));
  }
  session_ = &endpoint_.create_session(*feed);
  spdlog::info("bot endpoint: IDENTIFY shard [{}, {}]: session {}...", id->shard_id, id->shard_count,
               session_->id().substr(0, 8));
  session_->identify(*this);
}

void ClientSession::on_resume(const json::value& d) {
  if (session_) return close(close_code::already_authenticated, "Already authenticated.");
  Refusal refusal;
  auto r = parse_resume(d, refusal);
  if (!r) return close(refusal.code, refusal.reason);
  if (!token_ok(r->token)) return close(close_code::authentication_failed, "Authentication failed.");
  auto* s = endpoint_.find_session(r->session_id);
  if (s) {
    // A client resuming while its old connection still looks alive (it gave up on it): the old
    // one goes, the session comes here.
    if (auto* old = s->connection(); old && old != this) old->taken_over();
    s->detach(endpoint_.now());
    if (s->resume(*this, r->seq)) {
      session_ = s;
      spdlog::info("bot endpoint: RESUME session {}... at {} (shard {})", s->id().substr(0, 8), r->seq,
                   s->feed().shard_id());
      return;
    }
    endpoint_.end_session(*s);
  }
  // Unknown, expired, or too far behind the buffer: a new session (the peer's id is not logged).
  spdlog::info("bot endpoint: RESUME at {} refused: session unknown or too old", r->seq);
  connected_at_ = endpoint_.now(); // the IDENTIFY deadline starts again
  send(invalid_session_frame(false));
}

void ClientSession::on_command(int op, json::value& d) {
  if (!session_) return close(close_code::not_authenticated, "Not authenticated.");
  if (op == op::request_guild_members) {
    auto* o = d.if_object();
    if (!o) return close(close_code::decode_error, "Error while decoding payload.");
    session_->feed().route_member_request(session_->id(), *o, endpoint_.next_member_nonce());
  }
  auto payload = json::serialize(d);
  if (!endpoint_.send_command(session_->feed(), op, payload))
    spdlog::debug("bot endpoint: op {} for shard {} not sent (shard not ready or its queue is full)", op,
                  session_->feed().shard_id());
}

void ClientSession::tick() {
  if (closed_) return;
  const auto now = endpoint_.now();
  const auto& limits = endpoint_.settings().limits;
  if (!session_ && now - connected_at_ > limits.identify_timeout)
    return close(close_code::not_authenticated, "Not authenticated.");
  const auto heartbeat_timeout = std::chrono::duration_cast<steady::duration>(
      std::chrono::duration<double, std::milli>(limits.heartbeat_interval.count() * limits.heartbeat_grace));
  if (now - last_heartbeat_ > heartbeat_timeout) close(close_code::session_timed_out, "Session timed out.");
}

void ClientSession::close(std::uint16_t code, std::string reason) {
  if (closed_) return;
  closed_ = true;
  out_.close(code, close_reason(std::move(reason)));
  if (auto* s = std::exchange(session_, nullptr)) {
    if (ends_session(code)) endpoint_.end_session(*s);
    else s->detach(endpoint_.now());
  }
}

void ClientSession::taken_over() {
  if (closed_) return;
  closed_ = true;
  session_ = nullptr; // the session is the new connection's now
  out_.close(close_code::unknown_error, "Session resumed elsewhere.");
}

void ClientSession::on_disconnected(std::optional<std::uint16_t> client_code) {
  if (closed_) return;
  closed_ = true;
  if (auto* s = std::exchange(session_, nullptr)) {
    if (client_code && (*client_code == 1000 || *client_code == 1001)) endpoint_.end_session(*s);
    else s->detach(endpoint_.now());
  }
}

void ClientSession::send(std::string frame) {
  if (closed_) return;
  if (!out_.send(std::move(frame))) close(close_code::unknown_error, "Slow consumer.");
}

} // namespace shardline::proxy
