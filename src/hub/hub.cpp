// The hub's connections: listening, reading frames, deadlines, health, closing. Frames are
// handled in hub_frames.cpp, the hub's own answers in hub_services.cpp.

#include "hub/hub_impl.hpp"

#include "net/spawn_owned.hpp"

#include <spdlog/spdlog.h>

namespace shardline::hub {

namespace {

double seconds_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

} // namespace

Hub::Impl::Impl(asio::io_context& io, HubOptions opt)
    : io_(io), opt_(std::move(opt)), acceptor_(io), sweeper_(io), started_at_(steady::now()),
      identify_(real_clock(), IdentifySchedulerOptions{opt_.identify_reserve}), identify_timer_(io),
      rest_(opt_.rest, real_clock()), rest_timer_(io),
      sessions_(real_clock(), SessionRegistryOptions{opt_.max_sessions, opt_.session_max_age}) {}

Result<std::uint16_t> Hub::Impl::listen() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(opt_.host, ec);
  if (ec) return fail(Errc::bad_input, "SHARD_IPC_HOST: '" + opt_.host + "' is not an IP address");
  tcp::endpoint ep(addr, opt_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (ec == asio::error::address_in_use)
    return fail(Errc::io, "Port already in use: " + opt_.host + ":" + std::to_string(opt_.port) +
                              " (change SHARD_IPC_PORT or stop the process using it)");
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(Errc::io, "cannot listen on " + opt_.host + ":" + std::to_string(opt_.port) + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  spdlog::info("hub listening on {}:{}", opt_.host, port_);
  return port_;
}

void Hub::Impl::start() {
  net::spawn_owned(io_, accept_loop(shared_from_this()), "hub accept loop");
  net::spawn_owned(io_, sweep_loop(shared_from_this()), "hub sweeper");
}

void Hub::Impl::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  sweeper_.cancel();
  identify_timer_.cancel();
  rest_timer_.cancel();
  auto all = all_;
  for (auto& c : all) close(*c, "hub stopping", false);
}

// ---- accept and read -------------------------------------------------------------------------

asio::awaitable<void> Hub::Impl::accept_loop(std::shared_ptr<Impl> self) {
  while (!self->stopped_) {
    auto [ec, sock] = co_await self->acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (self->stopped_ || ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: log, breathe, keep serving.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer t(self->io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    auto& o = self->opt_;
    auto stream = o.tls ? net::IpcStream(std::move(sock), *o.tls) : net::IpcStream(std::move(sock));
    auto conn = std::make_shared<Connection>(std::move(stream), o.max_preauth_frame, o.max_outbuf_bytes, o.nonce_window);
    conn->address = conn->stream.remote_address();
    conn->serial = ++self->next_serial_;
    self->admit(conn);
    net::spawn_owned(self->io_, read_loop(self, conn), "hub connection");
  }
}

void Hub::Impl::admit(const ConnPtr& c) {
  // Over the cap, the oldest unauthenticated connection makes room: a flood of idle sockets
  // then costs bounded memory and can never lock an honest client out.
  while (pending_.size() >= opt_.max_pending) {
    auto victim = pending_.front().lock();
    pending_.pop_front();
    if (victim) {
      victim->in_pending = false;
      close(*victim, "too many unauthenticated connections", true);
    }
  }
  pending_.push_back(c);
  c->pending_it = std::prev(pending_.end());
  c->in_pending = true;
  all_.insert(c);
  // Weak captures: a write may complete after the hub or the connection is gone.
  std::weak_ptr<Impl> weak_hub = shared_from_this();
  std::weak_ptr<Connection> weak_conn = c;
  c->writer.on_error([weak_hub, weak_conn](const boost::system::error_code& ec) {
    auto h = weak_hub.lock();
    auto conn = weak_conn.lock();
    if (h && conn) h->close(*conn, "write failed: " + ec.message(), false);
  });
  c->writer.on_drained([weak_hub, weak_conn] {
    auto h = weak_hub.lock();
    auto conn = weak_conn.lock();
    if (h && conn && conn->state == Connection::State::closing) h->finish_close(*conn);
  });
  if (c->stream.is_tls()) c->state = Connection::State::tls_handshake;
}

asio::awaitable<void> Hub::Impl::read_loop(std::shared_ptr<Impl> self, ConnPtr c) {
  if (auto* tls = c->stream.tls()) {
    auto [ec] = co_await tls->async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      self->close(*c, "TLS handshake failed: " + ec.message(), true);
      co_return;
    }
    if (c->state == Connection::State::tls_handshake) c->state = Connection::State::awaiting_auth;
  }
  // Read size adapts: a busy connection gets large reads (fewer syscalls, more frames per turn
  // and so larger write batches), a quiet one gives its memory back.
  constexpr std::size_t kMinRead = 512, kMaxRead = 256 * 1024;
  std::size_t want = kMinRead;
  while (c->open()) {
    std::size_t avail = 0;
    char* p = c->decoder.prepare(avail, want);
    auto [ec, n] = co_await c->stream.async_read_some(asio::buffer(p, avail), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      self->close(*c, ec == asio::error::eof ? "peer closed" : ec.message(), false);
      co_return;
    }
    c->decoder.commit(n);
    auto now = steady::now();
    bool completed = false; // a frame ended in this read: a partial one after it is a new body
    for (;;) {
      std::string_view body, wire;
      auto st = c->decoder.next(body, wire);
      if (st == protocol::DecodeStatus::need_more) break;
      if (st == protocol::DecodeStatus::zero_length) {
        self->close(*c, "zero-length frame", true);
        co_return;
      }
      if (st == protocol::DecodeStatus::too_large) {
        self->close(*c, "frame too large", true);
        co_return;
      }
      c->last_frame_at = now;
      completed = true;
      self->on_frame(c, body, wire);
      if (c->state == Connection::State::closing || c->state == Connection::State::closed) co_return;
    }
    // The body deadline runs from the start of the frame that is still incomplete, not from the
    // first partial frame of a busy stream: a peer that keeps sending is never timed out.
    if (c->decoder.mid_frame()) {
      if (completed || c->body_started_at == steady::time_point{}) c->body_started_at = now;
    } else {
      c->body_started_at = {};
      if (n < avail / 8) c->decoder.shrink_if_idle(4096);
    }
    want = n == avail ? std::min(avail * 2, kMaxRead) : kMinRead;
  }
}

// ---- deadlines and health ----------------------------------------------------------------------

asio::awaitable<void> Hub::Impl::sweep_loop(std::shared_ptr<Impl> self) {
  auto last_health = steady::now();
  while (!self->stopped_) {
    self->sweeper_.expires_after(std::chrono::milliseconds(100));
    co_await self->sweeper_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (self->stopped_) co_return;
    auto now = steady::now();
    self->sweep(now);
    self->settle_probes(now);
    if (now - last_health >= std::chrono::seconds(1)) {
      last_health = now;
      self->update_health(now);
      self->keep_v1_alive(now);
      // Expired sessions give their memory back even when nobody looks them up.
      if (auto n = self->sessions_.expire(); n > 0) spdlog::debug("sessions: {} expired", n);
    }
  }
}

void Hub::Impl::sweep(steady::time_point now) {
  std::vector<std::pair<ConnPtr, const char*>> expired;
  for (auto& c : all_) {
    using S = Connection::State;
    if (c->state == S::closing) {
      if (now >= c->close_by) expired.emplace_back(c, nullptr);
      continue;
    }
    if (c->state != S::authenticated) {
      if (now - c->accepted_at >= opt_.auth_timeout) expired.emplace_back(c, "auth timeout");
    } else if (now - c->last_frame_at >= opt_.idle_timeout) {
      expired.emplace_back(c, "idle timeout");
    }
    if (c->body_started_at != steady::time_point{} && now - c->body_started_at >= opt_.body_timeout)
      expired.emplace_back(c, "frame body timeout");
    else if (c->writer.writing() && now - c->writer.write_started() >= opt_.idle_timeout)
      expired.emplace_back(c, "write timeout");
  }
  for (auto& [c, why] : expired) {
    if (why) close(*c, why, true);
    else finish_close(*c);
  }
}

void Hub::Impl::update_health(steady::time_point now) {
  directory_.for_each([&](Member& m) {
    if (!m.cluster()) return;
    auto& c = static_cast<Connection&>(m);
    auto h = protocol::health_from_heartbeat(seconds_between(c.last_heartbeat, now), opt_.health);
    if (h == c.health) return;
    spdlog::log(h == protocol::Health::green ? spdlog::level::info : spdlog::level::warn, "health {}: {} -> {}",
                c.name, protocol::to_string(c.health), protocol::to_string(h));
    c.health = h;
  });
}

// ---- closing -------------------------------------------------------------------------------------

void Hub::Impl::close(Connection& c, const std::string& why, bool log_it) {
  if (c.state == Connection::State::closed) return;
  if (log_it) spdlog::warn("closed {}: {}", c.address, why);
  else spdlog::debug("connection {} ended: {}", c.address, why);
  unregister(c, why);
  forget_identify(c);
  forget_rest(c);
  c.state = Connection::State::closed;
  c.stream.close();
  release(c);
}

void Hub::Impl::close_after_flush(Connection& c, const std::string& why) {
  if (c.state == Connection::State::closed || c.state == Connection::State::closing) return;
  spdlog::warn("closed {}: {}", c.address, why);
  unregister(c, why);
  forget_identify(c);
  forget_rest(c);
  c.state = Connection::State::closing;
  c.close_by = steady::now() + std::chrono::seconds(1);
  if (!c.writer.busy()) finish_close(c);
}

void Hub::Impl::finish_close(Connection& c) {
  if (c.state == Connection::State::closed) return;
  c.state = Connection::State::closed;
  c.stream.close();
  release(c);
}

void Hub::Impl::release(Connection& c) {
  if (c.in_pending) {
    pending_.erase(c.pending_it);
    c.in_pending = false;
  }
  all_.erase(c.shared_from_this());
}

void Hub::Impl::unregister(Connection& c, const std::string& why) {
  if (!c.registered) return;
  c.registered = false;
  if (!directory_.remove(c) || !c.cluster()) return;
  spdlog::info("cluster left: {} ({})", c.name, why);
  send_to_clusters("cluster_leave", protocol::to_data(protocol::ClusterLeave{c.name}), nullptr);
}

// ---- the public face -----------------------------------------------------------------------------

HubOptions HubOptions::from_config(const Config& c) {
  HubOptions o;
  o.name = c.cluster_name;
  o.host = c.ipc_host;
  o.port = c.ipc_port;
  o.secret = c.ipc_secret;
  o.legacy_auth = c.legacy_auth;
  o.auth_timeout = std::chrono::duration<double>(c.auth_timeout_s);
  o.body_timeout = std::chrono::duration<double>(c.body_timeout_s);
  o.idle_timeout = std::chrono::duration<double>(c.idle_timeout_s);
  o.max_pending = c.max_pending;
  o.max_outbuf_bytes = c.max_outbuf_bytes;
  o.health = c.health;
  o.v1_keepalive = std::chrono::duration<double>(c.stats_interval_s);
  o.identify_reserve = c.identify_reserve;
  o.rest.global_per_sec = c.rest.global_per_sec;
  o.rest.max_wait = millis(c.rest.max_wait_ms);
  o.rest.invalid_limit = c.rest.invalid_limit;
  o.rest.route_invalid_limit = c.rest.route_invalid_limit;
  return o;
}

Hub::Hub(asio::io_context& io, HubOptions options) : impl_(std::make_shared<Impl>(io, std::move(options))) {}
Hub::~Hub() { impl_->stop(); }
Result<std::uint16_t> Hub::listen() { return impl_->listen(); }
void Hub::start() { impl_->start(); }
void Hub::stop() { impl_->stop(); }
std::uint16_t Hub::port() const { return impl_->port(); }
std::size_t Hub::connection_count() const { return impl_->connection_count(); }
std::size_t Hub::authenticated_count() const { return impl_->authenticated_count(); }

} // namespace shardline::hub
