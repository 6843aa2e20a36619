// shardline_ipc_bench: load generator for a running `shardline hub` (IPC protocol v2).
//
// The clients are raw v2 peers: they authenticate with the real challenge-response (HMAC
// from ipc/messages.hpp), then send real envelopes (source, target, current timestamp,
// unique nonce) so the hub does all of its per-frame work. Sockets are non-blocking and
// pipelined; everything runs on one thread (the machine has 2 cores: one for the hub, one
// for the load). Every loop is bounded in count and time.
//
//   shardline_ipc_bench throughput --port P --secret S [--senders 4 --receivers 4 --payload 256
//                                  --warmup 1 --duration 5 --window 2048 --batch 64 --hub-pid PID]
//   shardline_ipc_bench rtt        --port P --secret S --target NAME [--count 20000 --warmup 1000]
//   shardline_ipc_bench fanout     --port P --secret S --expect 16 [--count 2000 --warmup 100]
//   shardline_ipc_bench idle       --port P --secret S --hub-pid PID [--count 2000 --role cluster
//                                  --frames-each N (then each connection sends N frames: active memory)]
//   shardline_ipc_bench echo       --port P --secret S --name NAME [--seconds 600]
//
// Each scenario prints one JSON object on stdout (progress goes to stderr).

#include "bench_common.hpp"

#include "core/crypto.hpp"
#include "protocol/body.hpp"
#include "protocol/envelope.hpp"
#include "protocol/frame_codec.hpp"
#include "protocol/hub_messages.hpp"

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace protocol = shardline::protocol;
namespace json = boost::json;
using bench::steady;

namespace {

struct Target {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string secret;
};

// ---- one raw v2 connection ------------------------------------------------------------

struct Conn {
  explicit Conn(std::size_t decoder_capacity = 64 * 1024) : dec(protocol::kMaxFrameBytes, decoder_capacity) {}
  Conn(Conn&& o) noexcept
      : fd(std::exchange(o.fd, -1)), name(std::move(o.name)), dec(std::move(o.dec)), out(std::move(o.out)),
        out_off(o.out_off), nonces(std::move(o.nonces)) {}
  Conn(const Conn&) = delete;
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }

  int fd = -1;
  std::string name;
  protocol::FrameDecoder dec;
  std::string out;        // bytes queued for the socket
  std::size_t out_off = 0;
  protocol::NonceSource nonces;

  bool has_output() const { return out_off < out.size(); }

  // Non-blocking write of what is queued; false on a dead socket.
  bool flush() { return bench::send_queued(fd, out, out_off); }

  // One non-blocking read into the decoder: bytes read, 0 when nothing is there, -1 on close.
  long read_once(std::size_t want = 256 * 1024) {
    std::size_t avail = 0;
    char* p = dec.prepare(avail, want);
    for (;;) {
      ssize_t n = ::recv(fd, p, avail, 0);
      if (n > 0) {
        dec.commit(static_cast<std::size_t>(n));
        return n;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
      return -1;
    }
  }

  void queue_body(const protocol::OutFrame& f) { protocol::append_frame(out, protocol::build_body(f, nonces)); }
};

bool wait_fd(int fd, short events, steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  if (left < 0) return false;
  pollfd p{fd, events, 0};
  int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left + 1, 1000)));
  return r > 0;
}

// Writes everything queued, waiting for the socket at most until the deadline.
bool flush_blocking(Conn& c, steady::time_point deadline) {
  while (c.has_output()) {
    if (!c.flush()) return false;
    if (c.has_output() && !wait_fd(c.fd, POLLOUT, deadline) && steady::now() >= deadline) return false;
  }
  return true;
}

// Next whole frame body (copied), waiting at most until the deadline.
enum class ReadResult { frame, timeout, closed };
ReadResult read_frame(Conn& c, std::string& body, steady::time_point deadline) {
  for (;;) {
    std::string_view b, wire;
    auto st = c.dec.next(b, wire);
    if (st == protocol::DecodeStatus::frame) {
      body.assign(b);
      return ReadResult::frame;
    }
    if (st != protocol::DecodeStatus::need_more) return ReadResult::closed;
    long n = c.read_once(4096);
    if (n < 0) return ReadResult::closed;
    if (n == 0) {
      if (steady::now() >= deadline) return ReadResult::timeout;
      wait_fd(c.fd, POLLIN, deadline);
    }
  }
}

int tcp_connect(const Target& t) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(t.port));
  if (::inet_pton(AF_INET, t.host.c_str(), &sa.sin_addr) != 1) {
    ::close(fd);
    throw std::runtime_error("bad host " + t.host);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(std::string("connect: ") + std::strerror(e));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// The v2 handshake (docs/protocol.md §3), with mutual authentication. Throws on failure.
void handshake(Conn& c, const Target& t, const std::string& name, const char* role) {
  const auto deadline = steady::now() + std::chrono::seconds(10);
  c.fd = tcp_connect(t);
  c.name = name;
  protocol::Auth auth;
  auth.proto = 2;
  auth.cluster_name = name;
  auth.role = role;
  auth.instance = shardline::random_hex(8);
  auth.client_nonce = shardline::random_hex(16);
  const std::string client_nonce = auth.client_nonce;
  c.queue_body(protocol::OutFrame{"auth", protocol::to_data(auth), name, "all", "", ""});
  if (!flush_blocking(c, deadline)) throw std::runtime_error(name + ": cannot send auth");

  auto expect = [&](std::string_view op) {
    std::string body;
    if (read_frame(c, body, deadline) != ReadResult::frame)
      throw std::runtime_error(name + ": no " + std::string(op) + " from the hub");
    json::value doc;
    if (!protocol::parse_body(body, false, doc) || !doc.is_object()) throw std::runtime_error(name + ": bad frame");
    auto& o = doc.get_object();
    auto* got = o.if_contains("op");
    auto* d = o.if_contains("data");
    if (!got || !got->is_string() || got->get_string() != op || !d || !d->is_object())
      throw std::runtime_error(name + ": expected " + std::string(op) + ", got " + body);
    return json::value(d->get_object());
  };
  auto server_nonce = protocol::AuthChallenge::read(protocol::ObjectReader(expect("auth_challenge"))).server_nonce;
  protocol::AuthProof proof{protocol::client_mac(t.secret, name, client_nonce, server_nonce)};
  c.queue_body(protocol::OutFrame{"auth_proof", protocol::to_data(proof), name, "all", "", ""});
  if (!flush_blocking(c, deadline)) throw std::runtime_error(name + ": cannot send auth_proof");
  auto resp = protocol::AuthResponse::read(protocol::ObjectReader(expect("auth_response")));
  if (!resp.success) throw std::runtime_error(name + ": auth refused: " + resp.error);
  if (!shardline::constant_time_equal(resp.server_mac, protocol::server_mac(t.secret, name, client_nonce, server_nonce)))
    throw std::runtime_error(name + ": the hub's server_mac is wrong");
}

// ---- hot-path frames ------------------------------------------------------------------------

// `timestamp` with 6 decimals is 17 characters for any date between 2001 and 2286.
constexpr std::size_t kTsWidth = 17;
void wall_ts(char* out) {
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%.6f", protocol::wall_seconds());
  if (n != static_cast<int>(kTsWidth)) std::abort();
  std::memcpy(out, buf, kTsWidth);
}

// A frame built once and re-stamped per message: the fields that change (timestamp, the
// counter in nonce and id) have fixed widths, so stamping is two memcpy and 16 hex digits.
// The body is what protocol::build_body would produce (op, data, source, target, timestamp, nonce, id).
class StampedFrame {
public:
  StampedFrame(std::string_view op, std::string_view data_json, std::string_view source, std::string_view target,
               const std::string& nonce_prefix, bool with_id) {
    std::string body = "{\"op\":\"" + std::string(op) + "\",\"data\":" + std::string(data_json) +
                       ",\"source\":\"" + std::string(source) + "\",\"target\":\"" + std::string(target) +
                       "\",\"timestamp\":";
    ts_off_ = body.size();
    body.append(kTsWidth, '0');
    body += ",\"nonce\":\"" + nonce_prefix + "-";
    nonce_off_ = body.size();
    body.append(16, '0');
    body += "\"";
    if (with_id) {
      body += ",\"id\":\"" + nonce_prefix + "-";
      id_off_ = body.size();
      id_begin_ = id_off_ - nonce_prefix.size() - 1;
      body.append(16, '0');
      body += "\"";
    }
    body += "}";
    wire_ = protocol::encode_frame(body);
    ts_off_ += protocol::kHeaderBytes;
    nonce_off_ += protocol::kHeaderBytes;
    if (with_id) {
      id_off_ += protocol::kHeaderBytes;
      id_begin_ += protocol::kHeaderBytes;
    }
  }

  void stamp(const char* ts, std::uint64_t counter) {
    std::memcpy(wire_.data() + ts_off_, ts, kTsWidth);
    static const char hex[] = "0123456789abcdef";
    char digits[16];
    for (int i = 15; i >= 0; --i, counter >>= 4) digits[i] = hex[counter & 15];
    std::memcpy(wire_.data() + nonce_off_, digits, 16);
    if (id_off_) std::memcpy(wire_.data() + id_off_, digits, 16);
  }
  const std::string& wire() const { return wire_; }
  std::string_view id() const {
    return id_off_ ? std::string_view(wire_).substr(id_begin_, id_off_ + 16 - id_begin_) : std::string_view();
  }

private:
  std::string wire_;
  std::size_t ts_off_ = 0, nonce_off_ = 0, id_off_ = 0, id_begin_ = 0;
};

// ---- hub_status, to read the hub's own counters ----------------------------------------------

// The hub's status, or nullopt when it did not answer in time.
std::optional<protocol::HubStatus> hub_status(Conn& c, steady::time_point deadline) {
  c.queue_body(protocol::OutFrame{"hub_status_request", json::object{}, c.name, "hub", "bench-status", ""});
  if (!flush_blocking(c, deadline)) return std::nullopt;
  std::string body;
  while (read_frame(c, body, deadline) == ReadResult::frame) {
    json::value doc;
    if (!protocol::parse_body(body, false, doc) || !doc.is_object()) continue;
    auto& o = doc.get_object();
    auto* op = o.if_contains("op");
    if (!op || !op->is_string() || op->get_string() != "hub_status_response") continue;
    if (auto* d = o.if_contains("data")) {
      if (auto s = protocol::decode<protocol::HubStatus>(*d)) return *s;
    }
  }
  return std::nullopt;
}

// ---- throughput: S senders -> R receivers --------------------------------------------------

int throughput(const Target& t, const bench::Args& a) {
  const auto o = bench::ThroughputOptions::from(a, "senders", "receivers", "hub-pid");
  const int senders = o.senders, receivers = o.receivers;
  const std::size_t payload = o.payload;
  const double warmup = o.warmup, duration = o.duration;
  const std::uint64_t window = o.window, batch = o.batch;
  const long hub_pid = o.server_pid;

  std::vector<Conn> rx, tx;
  for (int i = 0; i < receivers; ++i) handshake(rx.emplace_back(), t, "bench-rx-" + std::to_string(i), "cluster");
  for (int i = 0; i < senders; ++i) handshake(tx.emplace_back(), t, "bench-tx-" + std::to_string(i), "cluster");

  // broadcast_message with a `payload`-byte message, addressed to one receiver by name.
  std::string data = "{\"message\":\"" + std::string(payload, 'x') + "\",\"author\":\"bench\",\"author_id\":\"0\"}";
  const std::string_view marker = "{\"op\":\"broadcast_message\"";
  std::vector<StampedFrame> frames;
  std::vector<int> dest(senders);
  for (int i = 0; i < senders; ++i) {
    dest[i] = i % receivers;
    frames.emplace_back("broadcast_message", data, tx[i].name, rx[dest[i]].name, shardline::random_hex(8), false);
  }
  const std::size_t wire_bytes = frames[0].wire().size();

  std::vector<std::uint64_t> sent(senders, 0), sent_to(receivers, 0), got(receivers, 0);
  std::uint64_t other_frames = 0, error_frames = 0;
  std::string first_error;
  char ts[kTsWidth];

  auto t0 = steady::now();
  const auto t_warm = t0 + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(warmup));
  const auto t_end = t_warm + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(duration));
  bool measuring = false;
  std::uint64_t got_at_warm = 0;
  double hub_cpu0 = 0, self_cpu0 = 0;
  steady::time_point warm_at{};
  std::vector<pollfd> pfds(senders + receivers);

  auto total_got = [&] {
    std::uint64_t s = 0;
    for (auto g : got) s += g;
    return s;
  };
  auto read_receiver = [&](int r) {
    for (int k = 0; k < 4; ++k) {
      long n = rx[r].read_once();
      if (n < 0) throw std::runtime_error(rx[r].name + ": the hub closed the connection");
      if (n == 0) break;
      std::string_view body, wire;
      while (rx[r].dec.next(body, wire) == protocol::DecodeStatus::frame) {
        if (body.substr(0, marker.size()) == marker) ++got[r];
        else ++other_frames;
      }
    }
  };
  auto read_sender = [&](int i) {
    long n = tx[i].read_once(4096);
    if (n < 0) throw std::runtime_error(tx[i].name + ": the hub closed the connection");
    std::string_view body, wire;
    while (tx[i].dec.next(body, wire) == protocol::DecodeStatus::frame) {
      if (body.substr(0, 12) == "{\"op\":\"error") {
        if (error_frames++ == 0) first_error = std::string(body.substr(0, 300));
      } else {
        ++other_frames;
      }
    }
  };

  while (steady::now() < t_end) {
    bool progress = false;
    wall_ts(ts);
    for (int i = 0; i < senders; ++i) {
      Conn& c = tx[i];
      const int r = dest[i];
      if (!c.has_output()) {
        std::uint64_t inflight = sent_to[r] - got[r];
        std::uint64_t k = inflight < window ? std::min(batch, window - inflight) : 0;
        c.out.reserve(k * wire_bytes);
        for (std::uint64_t j = 0; j < k; ++j) {
          frames[i].stamp(ts, ++sent[i]);
          c.out.append(frames[i].wire());
        }
        sent_to[r] += k;
      }
      if (c.has_output()) {
        auto before = c.out_off;
        if (!c.flush()) throw std::runtime_error(c.name + ": write failed");
        if (c.out_off != before || !c.has_output()) progress = true;
      }
    }
    for (int r = 0; r < receivers; ++r) {
      auto before = got[r];
      read_receiver(r);
      if (got[r] != before) progress = true;
    }
    for (int i = 0; i < senders; ++i) read_sender(i);

    if (!measuring && steady::now() >= t_warm) {
      measuring = true;
      warm_at = steady::now();
      got_at_warm = total_got();
      hub_cpu0 = bench::proc_cpu_s(hub_pid);
      self_cpu0 = bench::self_cpu_s();
    }
    if (!progress) {
      for (int i = 0; i < senders; ++i) pfds[i] = {tx[i].fd, short(POLLIN | (tx[i].has_output() ? POLLOUT : 0)), 0};
      for (int r = 0; r < receivers; ++r) pfds[senders + r] = {rx[r].fd, POLLIN, 0};
      ::poll(pfds.data(), pfds.size(), 1);
    }
  }
  const auto end_at = steady::now();
  const std::uint64_t got_at_end = total_got();
  const double hub_cpu1 = bench::proc_cpu_s(hub_pid), self_cpu1 = bench::self_cpu_s();
  const double secs = std::chrono::duration<double>(end_at - warm_at).count();

  // Drain: every message sent must arrive (bounded wait).
  std::uint64_t total_sent = 0;
  for (auto s : sent) total_sent += s;
  for (int i = 0; i < senders; ++i) flush_blocking(tx[i], steady::now() + std::chrono::seconds(2));
  const auto drain_deadline = steady::now() + std::chrono::seconds(5);
  while (total_got() < total_sent && steady::now() < drain_deadline) {
    for (int r = 0; r < receivers; ++r) read_receiver(r);
    for (int r = 0; r < receivers; ++r) pfds[r] = {rx[r].fd, POLLIN, 0};
    ::poll(pfds.data(), receivers, 5);
  }
  auto status = hub_status(tx[0], steady::now() + std::chrono::seconds(5));

  const double rate = static_cast<double>(got_at_end - got_at_warm) / secs;
  bench::Result res;
  res.str("scenario", "throughput")
      .str("system", "shardline")
      .num("senders", senders)
      .num("receivers", receivers)
      .num("payload_bytes", static_cast<double>(payload))
      .num("frame_wire_bytes", static_cast<double>(wire_bytes))
      .num("seconds", secs)
      .num("msgs_per_s", rate)
      .num("mib_per_s", rate * static_cast<double>(wire_bytes) / (1024.0 * 1024.0))
      .num("sent_total", static_cast<double>(total_sent))
      .num("received_total", static_cast<double>(total_got()))
      .num("lost", static_cast<double>(total_sent - std::min(total_sent, total_got())))
      .num("error_frames", static_cast<double>(error_frames))
      .num("other_frames", static_cast<double>(other_frames))
      .num("hub_routed", status ? static_cast<double>(status->routed) : -1)
      .num("hub_rejected", status ? static_cast<double>(status->rejected) : -1)
      .num("hub_cpu_pct", hub_pid > 0 ? 100.0 * (hub_cpu1 - hub_cpu0) / secs : -1)
      .num("driver_cpu_pct", 100.0 * (self_cpu1 - self_cpu0) / secs);
  if (!first_error.empty()) res.str("first_error", first_error);
  res.print();
  return error_frames == 0 && total_got() == total_sent ? 0 : 1;
}

// ---- request/reply: one requester, sequential requests ----------------------------------------

struct Exchange {
  bool ok = false;
  std::string error;
};

// Sends `req` (already stamped) and reads frames until `on_frame` returns true (done) or the
// deadline passes. `on_frame(env, parser)` sees every frame answering this request's id.
template <class F>
Exchange exchange(Conn& c, StampedFrame& req, protocol::EnvelopeParser& parser, double timeout_s, F&& on_frame) {
  Exchange ex;
  const auto deadline = steady::now() + std::chrono::microseconds(static_cast<long>(timeout_s * 1e6));
  c.out.append(req.wire());
  if (!flush_blocking(c, deadline)) {
    ex.error = "write_failed";
    return ex;
  }
  const std::string_view id = req.id();
  for (;;) {
    std::string_view body, wire;
    auto st = c.dec.next(body, wire);
    if (st == protocol::DecodeStatus::frame) {
      protocol::Envelope env;
      if (parser.parse(body, false, env) != protocol::EnvelopeStatus::ok || env.reply_to != id) continue;
      if (env.op == "error") {
        simdjson::dom::element code;
        std::string_view s;
        if (parser.root().at_pointer("/data/code").get(code) || code.get_string().get(s)) s = "error";
        ex.error = std::string(s);
        return ex;
      }
      if (on_frame(env, parser)) {
        ex.ok = true;
        return ex;
      }
      continue;
    }
    if (st != protocol::DecodeStatus::need_more) {
      ex.error = "bad_frame";
      return ex;
    }
    long n = c.read_once(64 * 1024);
    if (n < 0) {
      ex.error = "closed";
      return ex;
    }
    if (n == 0) {
      if (steady::now() >= deadline) {
        ex.error = "timeout";
        return ex;
      }
      wait_fd(c.fd, POLLIN, deadline);
    }
  }
}

// Retries until the target answers (the cluster processes may still be linking).
bool wait_ready(Conn& c, StampedFrame& req, protocol::EnvelopeParser& parser, std::uint64_t& counter, double seconds,
                const std::function<bool(const protocol::Envelope&, protocol::EnvelopeParser&)>& check) {
  const auto deadline = steady::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  char ts[kTsWidth];
  while (steady::now() < deadline) {
    wall_ts(ts);
    req.stamp(ts, ++counter);
    bool ready = false;
    auto ex = exchange(c, req, parser, 1.0, [&](const protocol::Envelope& env, protocol::EnvelopeParser& p) {
      ready = check(env, p);
      return true;
    });
    if (ex.ok && ready) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

int rtt(const Target& t, const bench::Args& a) {
  const std::string target = a.get("target", "echo-0");
  const long count = a.num("count", 20000), warmup = a.num("warmup", 1000);
  const std::string query = a.get("query", "guild_count");
  const double max_seconds = a.real("max-seconds", 60);
  Conn c;
  handshake(c, t, "bench-rtt", "admin");
  protocol::EnvelopeParser parser;
  StampedFrame req("eval_request", "{\"query\":\"" + query + "\"}", c.name, target, shardline::random_hex(8), true);
  std::uint64_t counter = 0;
  auto is_eval = [](const protocol::Envelope& env, protocol::EnvelopeParser&) { return env.op == "eval_response"; };
  if (!wait_ready(c, req, parser, counter, 20, is_eval)) throw std::runtime_error("target " + target + " never answered");

  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(count));
  long failures = 0;
  std::string first_failure;
  char ts[kTsWidth];
  const auto t0 = steady::now();
  for (long i = 0; i < warmup + count && bench::since_s(t0) < max_seconds; ++i) {
    wall_ts(ts);
    req.stamp(ts, ++counter);
    auto s = steady::now();
    auto ex = exchange(c, req, parser, 1.0, is_eval);
    double d = std::chrono::duration<double, std::micro>(steady::now() - s).count();
    if (!ex.ok) {
      if (failures++ == 0) first_failure = ex.error;
      continue;
    }
    if (i >= warmup) us.push_back(d);
  }
  bench::Result res;
  res.str("scenario", "rtt").str("system", "shardline").str("target", target).str("query", query)
      .num("request_wire_bytes", static_cast<double>(req.wire().size()));
  bench::add_latency(res, us);
  res.num("failures", static_cast<double>(failures));
  if (!first_failure.empty()) res.str("first_failure", first_failure);
  res.print();
  return failures == 0 && us.size() == static_cast<std::size_t>(count) ? 0 : 1;
}

// ---- fan-out: request to "all", wait for every cluster the hub delivered it to ----------------

int fanout(const Target& t, const bench::Args& a) {
  const long expect = a.num("expect", 16);
  const long count = a.num("count", 2000), warmup = a.num("warmup", 100);
  const std::string query = a.get("query", "guild_count");
  const double max_seconds = a.real("max-seconds", 60);
  Conn c;
  handshake(c, t, "bench-fanout", "admin");
  protocol::EnvelopeParser parser;
  StampedFrame req("eval_request", "{\"query\":\"" + query + "\"}", c.name, "all", shardline::random_hex(8), true);

  // Per request: the `fanout` frame's targets and the clusters that answered so far.
  std::set<std::string> targets, answered;
  bool have_fanout = false;
  auto on_frame = [&](const protocol::Envelope& env, protocol::EnvelopeParser& p) {
    if (env.op == "fanout") {
      have_fanout = true;
      simdjson::dom::array arr;
      if (!p.root().at_pointer("/data/targets").get(arr))
        for (auto v : arr) {
          std::string_view s;
          if (!v.get_string().get(s)) targets.emplace(s);
        }
    } else if (env.op == "eval_response") {
      answered.emplace(env.source);
    }
    if (!have_fanout) return false;
    for (auto& n : targets)
      if (!answered.count(n)) return false;
    return true;
  };
  auto reset = [&] {
    targets.clear();
    answered.clear();
    have_fanout = false;
  };

  // Ready when the hub delivers to `expect` clusters and all of them answer.
  std::uint64_t counter = 0;
  const auto ready_deadline = steady::now() + std::chrono::seconds(30);
  char ts[kTsWidth];
  bool ready = false;
  while (!ready && steady::now() < ready_deadline) {
    reset();
    wall_ts(ts);
    req.stamp(ts, ++counter);
    auto ex = exchange(c, req, parser, 1.0, on_frame);
    ready = ex.ok && static_cast<long>(targets.size()) == expect;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ready) throw std::runtime_error("the hub never delivered to " + std::to_string(expect) + " clusters");

  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(count));
  long failures = 0;
  std::string first_failure;
  const auto t0 = steady::now();
  for (long i = 0; i < warmup + count && bench::since_s(t0) < max_seconds; ++i) {
    reset();
    wall_ts(ts);
    req.stamp(ts, ++counter);
    auto s = steady::now();
    auto ex = exchange(c, req, parser, 2.0, on_frame);
    double d = std::chrono::duration<double, std::micro>(steady::now() - s).count();
    if (!ex.ok || static_cast<long>(targets.size()) != expect) {
      if (failures++ == 0) first_failure = ex.ok ? "targets=" + std::to_string(targets.size()) : ex.error;
      continue;
    }
    if (i >= warmup) us.push_back(d);
  }
  bench::Result res;
  res.str("scenario", "fanout").str("system", "shardline").num("clusters", static_cast<double>(expect)).str("query", query);
  bench::add_latency(res, us);
  res.num("failures", static_cast<double>(failures));
  if (!first_failure.empty()) res.str("first_failure", first_failure);
  res.print();
  return failures == 0 && us.size() == static_cast<std::size_t>(count) ? 0 : 1;
}

// ---- memory per idle authenticated connection ---------------------------------------------

// Reads and discards whatever the hub sent (cluster_join notices); false if the socket closed.
bool discard_input(Conn& c) {
  static char scratch[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(c.fd, scratch, sizeof scratch, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

int idle(const Target& t, const bench::Args& a) {
  const long count = a.num("count", 2000);
  const long hub_pid = a.num("hub-pid", 0);
  const std::string role = a.get("role", "cluster");
  const double settle = a.real("settle", 1.5);
  const long frames_each = a.num("frames-each", 0);
  if (hub_pid <= 0) throw std::runtime_error("idle needs --hub-pid");
  if (role != "cluster" && role != "admin") throw std::runtime_error("--role cluster|admin");

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long rss0 = bench::proc_status_kib(hub_pid, "VmRSS");
  std::vector<Conn> conns;
  conns.reserve(static_cast<std::size_t>(count));
  const auto t0 = steady::now();
  long dead = 0;
  auto drain_all = [&] {
    for (auto& c : conns)
      if (c.fd >= 0 && !discard_input(c)) {
        ::close(c.fd);
        c.fd = -1;
        ++dead;
      }
  };
  for (long i = 0; i < count && bench::since_s(t0) < 120; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "idle-%05ld", i);
    // Small decoders: the driver holds thousands of these.
    handshake(conns.emplace_back(1024), t, name, role.c_str());
    // Every cluster that joins is announced to every other one: keep reading so the
    // announcements leave the hub instead of piling up in its output queues.
    if (role == "cluster" && (i % 32 == 31)) drain_all();
  }
  const double connect_s = bench::since_s(t0);
  // Let the last announcements through, then let the hub settle.
  for (int k = 0; k < 10; ++k) {
    drain_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(settle * 1000)));
  drain_all();
  const long rss1 = bench::proc_status_kib(hub_pid, "VmRSS");
  const long hwm = bench::proc_status_kib(hub_pid, "VmHWM");
  Conn probe;
  handshake(probe, t, "bench-probe", "admin");
  auto status = hub_status(probe, steady::now() + std::chrono::seconds(10));
  const double authenticated = (status ? static_cast<double>(status->connections) : -1.0) - 1; // minus the probe
  const long live = count - dead;

  // Optionally make every connection active: each sends `frames_each` frames to itself (so
  // the hub's replay window fills up) and reads them back; then the same reading again.
  long rss_active = -1;
  double active_s = 0;
  if (frames_each > 0) {
    const auto ta = steady::now();
    const std::string data = "{\"message\":\"" + std::string(64, 'x') + "\",\"author\":\"bench\",\"author_id\":\"0\"}";
    const std::string_view marker = "{\"op\":\"broadcast_message\"";
    char ts[kTsWidth];
    for (auto& c : conns) {
      if (c.fd < 0 || bench::since_s(ta) > 120) continue;
      StampedFrame f("broadcast_message", data, c.name, c.name, shardline::random_hex(8), false);
      long sent = 0, back = 0;
      const auto deadline = steady::now() + std::chrono::seconds(20);
      while (back < frames_each && steady::now() < deadline) {
        if (!c.has_output() && sent < frames_each && sent - back < 1024) {
          wall_ts(ts);
          for (int j = 0; j < 256 && sent < frames_each; ++j) {
            f.stamp(ts, static_cast<std::uint64_t>(++sent));
            c.out.append(f.wire());
          }
        }
        if (!c.flush()) break;
        long n = c.read_once(64 * 1024);
        if (n < 0) break;
        std::string_view body, wire;
        while (c.dec.next(body, wire) == protocol::DecodeStatus::frame)
          if (body.substr(0, marker.size()) == marker) ++back;
        if (n == 0) wait_fd(c.fd, POLLIN | (c.has_output() ? POLLOUT : 0), deadline);
      }
      c.dec.shrink_if_idle(1024);
    }
    active_s = bench::since_s(ta);
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(settle * 1000)));
    rss_active = bench::proc_status_kib(hub_pid, "VmRSS");
  }

  conns.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const long rss2 = bench::proc_status_kib(hub_pid, "VmRSS");

  auto res = bench::idle_memory_result(
      "shardline", role, {live, static_cast<double>(authenticated), connect_s, rss0, rss1, hwm, rss2});
  if (frames_each > 0) {
    const double per_active = live > 0 ? static_cast<double>(rss_active - rss1) * 1024.0 / static_cast<double>(live) : 0;
    res.num("frames_each", static_cast<double>(frames_each))
        .num("active_seconds", active_s)
        .num("rss_active_kib", static_cast<double>(rss_active))
        .num("extra_kib_per_active_connection", per_active / 1024.0);
  }
  res.print();
  return live == count ? 0 : 1;
}

// ---- echo: a minimal responder, to separate the hub's share of a round trip ------------------

int echo(const Target& t, const bench::Args& a) {
  const std::string name = a.get("name", "echo-raw");
  const double seconds = a.real("seconds", 600);
  Conn c;
  handshake(c, t, name, "cluster");
  protocol::EnvelopeParser parser;
  const std::string prefix = shardline::random_hex(8);
  std::uint64_t counter = 0;
  char ts[kTsWidth];
  std::fprintf(stderr, "echo %s linked\n", name.c_str());
  const auto t0 = steady::now();
  while (bench::since_s(t0) < seconds) {
    std::string_view body, wire;
    auto st = c.dec.next(body, wire);
    if (st == protocol::DecodeStatus::frame) {
      protocol::Envelope env;
      if (parser.parse(body, false, env) != protocol::EnvelopeStatus::ok || env.op != "eval_request" || env.id.empty())
        continue;
      // The reply a cluster would send: eval_response to the requester with reply_to = id.
      std::string reply = "{\"op\":\"eval_response\",\"data\":{\"query\":\"guild_count\",\"result\":0},\"source\":\"" +
                          name + "\",\"target\":\"" + std::string(env.source) + "\",\"timestamp\":";
      wall_ts(ts);
      reply.append(ts, kTsWidth);
      char nonce[64];
      std::snprintf(nonce, sizeof nonce, ",\"nonce\":\"%s-%016llx\",\"reply_to\":\"", prefix.c_str(),
                    static_cast<unsigned long long>(++counter));
      reply += nonce;
      reply += std::string(env.id) + "\"}";
      protocol::append_frame(c.out, reply);
      continue;
    }
    if (st != protocol::DecodeStatus::need_more) return 1;
    if (c.has_output() && !flush_blocking(c, steady::now() + std::chrono::seconds(5))) return 1;
    long n = c.read_once(64 * 1024);
    if (n < 0) return 0; // the hub went away: done
    if (n == 0) wait_fd(c.fd, POLLIN, steady::now() + std::chrono::seconds(1));
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s throughput|rtt|fanout|idle|echo --port P --secret S [options]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  bench::Args a(argc, argv, 2);
  Target t;
  t.host = a.get("host", "127.0.0.1");
  t.port = static_cast<int>(a.num("port", 0));
  t.secret = a.get("secret", "");
  if (t.port <= 0 || t.secret.empty()) {
    std::fprintf(stderr, "--port and --secret are required\n");
    return 2;
  }
  try {
    if (mode == "throughput") return throughput(t, a);
    if (mode == "rtt") return rtt(t, a);
    if (mode == "fanout") return fanout(t, a);
    if (mode == "idle") return idle(t, a);
    if (mode == "echo") return echo(t, a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shardline_ipc_bench %s: %s\n", mode.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
