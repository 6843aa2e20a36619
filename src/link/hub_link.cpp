// The link's lifecycle: connecting and authenticating (docs/protocol.md §3), the read, heartbeat
// and stats loops of a live link (§4), and reconnecting with backoff (§8).

#include "link/link_impl.hpp"

#include "core/crypto.hpp"
#include "net/connect.hpp"
#include "net/spawn_owned.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shardline::link {

using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t kLinkOutbufCap = 64u << 20; // a cluster's own queue: generous, still bounded

steady::duration to_steady(std::chrono::duration<double> d) { return std::chrono::duration_cast<steady::duration>(d); }

// What an operator reads when authentication fails.
Error auth_failed(const std::string& hub_said) {
  if (hub_said == "Invalid secret")
    return Error(Errc::refused, "Auth failed: check SHARD_IPC_SECRET (the hub said: Invalid secret)");
  return Error(Errc::refused, "Auth failed: " + hub_said);
}

} // namespace

HubLink::Impl::Impl(asio::io_context& io, LinkOptions opt, ClusterState* state)
    : io_(io), opt_(std::move(opt)), state_(state), backoff_(opt_.reconnect_min, opt_.reconnect_max) {
  if (opt_.instance.empty()) opt_.instance = random_hex(8);
}

// ---- lifecycle ---------------------------------------------------------------------------------

void HubLink::Impl::start() { net::spawn_owned(io_, run(shared_from_this()), "cluster link"); }

void HubLink::Impl::stop() {
  stopped_ = true;
  close_stream();
  if (wake_) wake_->cancel();
}

asio::awaitable<void> HubLink::Impl::run(std::shared_ptr<Impl> self) {
  asio::steady_timer wait(self->io_);
  self->wake_ = &wait;
  while (!self->stopped_) {
    auto linked = co_await self->connect_and_auth();
    std::string reason;
    if (linked) {
      self->backoff_.reset();
      reason = co_await self->session();
    } else {
      reason = linked.error().message;
    }
    self->last_error_ = reason;
    self->close_stream();
    if (self->stopped_ || self->superseded_ || !self->opt_.reconnect) break;
    auto delay = self->backoff_.next();
    spdlog::warn("link lost: {}; reconnecting in {:.1f}s", reason, delay.count());
    wait.expires_after(to_steady(delay));
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  self->wake_ = nullptr;
}

asio::awaitable<Result<void>> HubLink::Impl::connect_once() {
  auto linked = co_await connect_and_auth();
  if (!linked) co_return linked;
  // Replies to the tool's requests arrive on this link: read it until it closes.
  net::spawn_owned(
      io_, [](std::shared_ptr<Impl> s) -> asio::awaitable<void> { co_await s->read_loop(); }(shared_from_this()),
      "admin link");
  co_return linked;
}

void HubLink::Impl::set_linked(bool up) {
  linked_ = up;
  if (up) linked_event_.set();
  else linked_event_.reset();
}

void HubLink::Impl::close_stream() {
  set_linked(false);
  if (stream_) stream_->close();
}

// ---- connect and authenticate --------------------------------------------------------------------

asio::awaitable<Result<void>> HubLink::Impl::connect_and_auth() {
  set_linked(false);
  auto linked = co_await attempt(false);
  if (linked || !opt_.allow_v1 || !refused_before_challenge_) co_return linked;
  spdlog::info("the hub at {}:{} refused version 2 without a challenge ({}): authenticating with version 1, as "
               "SHARD_IPC_LEGACY_AUTH allows",
               opt_.host, opt_.port, linked.error().message);
  close_stream();
  auto v1 = co_await attempt(true);
  // A hub that refuses version 1 too: its first answer says more.
  co_return v1 ? v1 : linked;
}

asio::awaitable<Result<void>> HubLink::Impl::attempt(bool v1) {
  decoder_ = protocol::FrameDecoder(protocol::kMaxFrameBytes, 4096);
  refused_before_challenge_ = false;
  const auto deadline = steady::now() + to_steady(opt_.connect_timeout);
  auto connected = co_await net::connect(opt_.host, opt_.port, opt_.tls, deadline);
  if (!connected) {
    auto e = connected.error();
    co_return fail(e.is(Errc::timeout) ? Errc::timeout : Errc::connect_failed,
                   fmt::format("Can't connect to {}:{} ({})", opt_.host, opt_.port, e.message));
  }
  stream_.emplace(std::move(*connected));
  writer_ = std::make_unique<net::FrameWriter>(*stream_, kLinkOutbufCap);
  std::weak_ptr<Impl> weak = shared_from_this();
  writer_->on_error([weak](const boost::system::error_code& ec) {
    if (auto s = weak.lock()) {
      spdlog::debug("link write failed: {}", ec.message());
      s->close_stream();
    }
  });
  v1_ = v1;

  protocol::Auth auth;
  auth.shard_ids = opt_.shard_ids;
  auth.guild_count = state_ ? state_->guild_count() : 0;
  if (v1) {
    auth.proto = 1;
    auth.secret = opt_.secret;
    // A tool joins a version-1 network as a short-lived member: its name says what it is.
    auth.cluster_name = v1_name_ = opt_.admin ? "shardline-" + opt_.name : opt_.name;
    // The seed's server shows this in the cluster's row: its own shards, the truth there.
    auth.shard_count = static_cast<std::uint32_t>(opt_.shard_ids.size());
  } else {
    auth.proto = 2;
    auth.cluster_name = opt_.name;
    auth.shard_count = opt_.shard_count;
    auth.role = opt_.admin ? "admin" : "cluster";
    auth.instance = opt_.instance;
    auth.generation = opt_.generation;
    auth.client_nonce = random_hex(16);
  }
  push(protocol::build_body({"auth", protocol::to_data(auth), auth.cluster_name, "all", "", ""}, nonces_));

  std::string server_nonce;
  if (!v1) {
    auto challenge = co_await expect("auth_challenge", deadline);
    if (!challenge) co_return challenge.error();
    server_nonce = protocol::AuthChallenge::read(protocol::ObjectReader(json::value(*challenge))).server_nonce;
    protocol::AuthProof proof{protocol::client_mac(opt_.secret, opt_.name, auth.client_nonce, server_nonce)};
    push(protocol::build_body({"auth_proof", protocol::to_data(proof), opt_.name, "all", "", ""}, nonces_));
  }

  auto answer = co_await expect("auth_response", deadline);
  if (!answer) co_return answer.error();
  auto resp = protocol::AuthResponse::read(protocol::ObjectReader(json::value(*answer)));
  if (!resp.success) co_return auth_failed(resp.error);
  // Mutual authentication: the hub proves it knows the secret too.
  if (!v1 && !constant_time_equal(resp.server_mac,
                                  protocol::server_mac(opt_.secret, opt_.name, auth.client_nonce, server_nonce)))
    co_return fail(Errc::refused,
                   "Auth failed: the hub did not prove it knows SHARD_IPC_SECRET (wrong hub or wrong secret)");
  server_name_ = resp.server_cluster;
  clusters_ = {resp.connected_clients.begin(), resp.connected_clients.end()};
  linked_since_ = steady::now();
  last_ack_at_ = {};
  ++connects_;
  hub_lacks_sessions_ = false; // perhaps another hub now (failover, upgrade)
  last_frame_at_ = steady::now();
  set_linked(true);
  if (!opt_.admin) spdlog::info("linked to hub {} as {}{}", server_name_, auth.cluster_name, v1 ? " (version 1)" : "");
  if (linked_cb_ && !v1) linked_cb_();
  co_return Result<void>();
}

asio::awaitable<Result<json::object>> HubLink::Impl::expect(std::string_view op, steady::time_point deadline) {
  auto body = co_await read_frame(deadline);
  if (!body) {
    if (body.error().is(Errc::closed))
      co_return fail(Errc::refused, "Auth failed: the hub closed the connection without an answer (is TLS on at the "
                                    "hub and off here, or the reverse? see SHARD_IPC_TLS_CA)");
    co_return body.error();
  }
  json::value doc;
  if (!protocol::parse_body(*body, v1_, doc) || !doc.is_object())
    co_return fail(Errc::protocol, "Auth failed: bad frame from the hub");
  auto& o = doc.get_object();
  auto* got = o.if_contains("op");
  auto* data = o.if_contains("data");
  if (!got || !got->is_string() || !data || !data->is_object())
    co_return fail(Errc::protocol, fmt::format("Auth failed: expected {} from the hub", op));
  // Refused early (e.g. "Legacy auth disabled"): an auth_response instead of the challenge.
  if (got->get_string() == "auth_response" && op != "auth_response") {
    refused_before_challenge_ = true;
    co_return auth_failed(protocol::AuthResponse::read(protocol::ObjectReader(*data)).error);
  }
  if (got->get_string() != op) co_return fail(Errc::protocol, fmt::format("Auth failed: expected {} from the hub", op));
  co_return std::move(data->get_object());
}

asio::awaitable<Result<std::string>> HubLink::Impl::read_frame(steady::time_point deadline) {
  for (;;) {
    std::string_view b, wire;
    auto st = decoder_.next(b, wire);
    if (st == protocol::DecodeStatus::frame) co_return std::string(b);
    if (st != protocol::DecodeStatus::need_more) co_return fail(Errc::protocol, "bad frame length from the hub");
    if (!stream_) co_return fail(Errc::closed, "closed");
    std::size_t avail = 0;
    char* p = decoder_.prepare(avail, 4096);
    asio::steady_timer timer(io_, deadline);
    auto r = co_await (stream_->async_read_some(asio::buffer(p, avail), asio::as_tuple(asio::use_awaitable)) ||
                       timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (r.index() == 1) co_return fail(Errc::timeout, "timeout");
    auto [ec, n] = std::get<0>(r);
    if (ec) co_return fail(Errc::closed, ec == asio::error::eof ? std::string("closed") : ec.message());
    decoder_.commit(n);
  }
}

// ---- a live link -------------------------------------------------------------------------------------

asio::awaitable<std::string> HubLink::Impl::session() {
  auto r = co_await (read_loop() || heartbeat_loop() || stats_loop());
  set_linked(false);
  fail_pending();
  if (r.index() == 0) co_return std::get<0>(r);
  co_return std::string("link closed");
}

asio::awaitable<std::string> HubLink::Impl::read_loop() {
  for (;;) {
    auto body = co_await read_frame(steady::now() + to_steady(opt_.idle_timeout));
    if (!body) {
      set_linked(false);
      fail_pending();
      co_return body.error().is(Errc::timeout) ? std::string("no frame from the hub within the idle timeout")
                                               : body.error().message;
    }
    last_frame_at_ = steady::now();
    on_frame(*body);
    if (superseded_) co_return std::string("superseded");
  }
}

asio::awaitable<void> HubLink::Impl::heartbeat_loop() {
  asio::steady_timer t(io_);
  for (;;) {
    t.expires_after(to_steady(opt_.heartbeat));
    auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || !linked_) co_return;
    heartbeat_sent_ = steady::now();
    protocol::Heartbeat hb{protocol::wall_seconds(), state_ ? state_->guild_count() : 0};
    (void)send("heartbeat", protocol::to_data(hb), server_name_);
  }
}

asio::awaitable<void> HubLink::Impl::stats_loop() {
  if (opt_.admin || !state_) {
    // Nothing to publish: wait for cancellation by the other branches.
    asio::steady_timer t(io_, steady::time_point::max());
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return;
  }
  asio::steady_timer t(io_);
  for (;;) {
    // First stats right after linking, so operators do not wait a whole interval.
    (void)send("stats_broadcast", protocol::to_data(state_->stats()), "all");
    t.expires_after(to_steady(opt_.stats_interval));
    auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || !linked_) co_return;
  }
}

LinkStatus HubLink::Impl::status() const {
  auto now = steady::now();
  auto age = [&](steady::time_point t) -> std::optional<double> {
    if (t == steady::time_point{}) return std::nullopt;
    return std::chrono::duration<double>(now - t).count();
  };
  LinkStatus s;
  s.linked = linked_;
  s.hub = server_name_;
  s.host = opt_.host;
  s.port = opt_.port;
  s.tls = opt_.tls != nullptr;
  s.legacy = v1_;
  if (linked_) {
    s.linked_for_s = age(linked_since_);
    s.last_ack_age_s = age(last_ack_at_);
    if (s.last_ack_age_s) s.latency_s = ipc_latency_;
  }
  s.connects = connects_;
  s.last_error = last_error_;
  return s;
}

// ---- the public face -----------------------------------------------------------------------------------

std::string Reply::error_code() const {
  return is_error() ? protocol::ErrorMessage::read(protocol::ObjectReader(json::value(data))).code : std::string();
}

std::string Reply::error_message() const {
  return is_error() ? protocol::ErrorMessage::read(protocol::ObjectReader(json::value(data))).message : std::string();
}

std::shared_ptr<HubLink> HubLink::create(asio::io_context& io, LinkOptions options, ClusterState* state) {
  return std::shared_ptr<HubLink>(new HubLink(std::make_shared<Impl>(io, std::move(options), state)));
}
HubLink::~HubLink() { impl_->stop(); }
void HubLink::start() { impl_->start(); }
void HubLink::stop() { impl_->stop(); }
asio::awaitable<Result<void>> HubLink::connect_once() { return impl_->connect_once(); }
asio::awaitable<bool> HubLink::wait_linked(steady::time_point deadline) {
  auto impl = impl_; // the caller may drop its HubLink while this waits
  co_return co_await impl->linked_event_.wait_until(deadline);
}
asio::awaitable<Result<Reply>> HubLink::request(std::string op, json::object data, std::string target,
                                                std::chrono::milliseconds timeout) {
  return impl_->request(std::move(op), std::move(data), std::move(target), timeout);
}
asio::awaitable<FanoutResult> HubLink::request_all(std::string op, json::object data, std::chrono::milliseconds timeout) {
  return impl_->request_all(std::move(op), std::move(data), timeout);
}
asio::awaitable<Result<protocol::HubStatus>> HubLink::hub_status(std::chrono::milliseconds timeout) {
  auto impl = impl_;
  auto r = co_await impl->request("hub_status_request", {}, impl->server_name_, timeout);
  if (!r) co_return r.error();
  if (r->is_error()) co_return fail(Errc::refused, r->error_code() + ": " + r->error_message());
  co_return r->as<protocol::HubStatus>();
}
Result<void> HubLink::send(std::string_view op, json::object data, std::string_view target) {
  return impl_->send(op, std::move(data), target);
}
asio::awaitable<Result<protocol::IdentifyGrant>> HubLink::request_identify_slot(protocol::IdentifyRequest req,
                                                                                std::chrono::milliseconds timeout) {
  return impl_->request_identify_slot(std::move(req), timeout);
}
Result<void> HubLink::report_sessions(std::uint32_t shard_count, std::vector<protocol::ShardSession> sessions) {
  return impl_->report_sessions(shard_count, std::move(sessions));
}
asio::awaitable<Result<std::vector<protocol::ShardSession>>> HubLink::lookup_sessions(
    std::uint32_t shard_count, std::vector<std::uint32_t> shard_ids, std::chrono::milliseconds timeout) {
  return impl_->lookup_sessions(shard_count, std::move(shard_ids), timeout);
}
bool HubLink::linked() const { return impl_->linked_; }
bool HubLink::speaks_v1() const { return impl_->v1_; }
std::vector<std::string> HubLink::known_clusters() const {
  std::vector<std::string> out;
  const auto& own = impl_->v1_ ? impl_->v1_name_ : impl_->opt_.name;
  for (auto& n : impl_->clusters_)
    if (n != own) out.push_back(n);
  return out;
}
const std::string& HubLink::server_name() const { return impl_->server_name_; }
const std::string& HubLink::name() const { return impl_->opt_.name; }
LinkStatus HubLink::status() const { return impl_->status(); }
void HubLink::on_superseded(std::function<void()> f) { impl_->superseded_cb_ = std::move(f); }
void HubLink::on_broadcast(std::function<void(const BroadcastMessage&)> f) { impl_->broadcast_cb_ = std::move(f); }
void HubLink::on_layout(std::function<void(bool active)> f) { impl_->layout_cb_ = std::move(f); }
void HubLink::on_linked(std::function<void()> f) { impl_->linked_cb_ = std::move(f); }

void HubLink::on_membership(std::function<void(const protocol::ClusterJoin*, std::string_view)> f) {
  impl_->membership_cb_ = std::move(f);
}

} // namespace shardline::link
