// redis_bench: the Redis pub/sub baseline for the IPC benchmarks, against a `redis-server` that
// bench/run.sh starts. The same shapes and load as shardline_ipc_bench and nats_bench's -raw
// modes:
//
//   redis_bench throughput --port P [--host 127.0.0.1 --publishers 4 --subscribers 4 --payload 256
//                          --warmup 1 --duration 5 --window 2048 --batch 64 --server-pid PID]
//   redis_bench responder  --port P [--channel bench.echo --seconds 900]   (a separate process)
//   redis_bench rtt        --port P [--channel bench.echo --count 20000 --warmup 1000 --request-bytes 180]
//   redis_bench idle       --port P --server-pid PID [--count 2000 --role client|subscriber]
//
// No client library: the clients speak RESP2 over plain non-blocking sockets from one thread,
// exactly like the Shardline driver and nats_bench's raw clients, so that the broker is what
// is compared.
//
// Throughput: each subscriber SUBSCRIBEs to its own channel; publisher i PUBLISHes pipelined to
// subscriber i % subscribers, with the same flow control as the other drivers (at most
// `window` messages in flight per subscriber, written in batches of `batch`). The window also
// keeps each subscriber's output buffer in the server far below Redis's default pub/sub limit
// (client-output-buffer-limit pubsub 32mb 8mb 60), past which Redis would drop the subscriber.
// Messages are counted at the subscribers; every PUBLISH reply (":<receivers>") is read.
//
// Request/reply: Redis pub/sub has no reply subject, so the request body starts with the
// requester's reply channel and a newline, padded to --request-bytes. Each side uses two RESP2
// connections, one subscribed and one that PUBLISHes: a RESP2 connection in subscribe mode
// accepts only (P)SUBSCRIBE, (P)UNSUBSCRIBE, PING and QUIT. That is what the usual clients do
// (redis-py, ioredis, node-redis and go-redis all give pub/sub a dedicated connection); RESP3's
// HELLO 3 would allow one connection, but it is not how pub/sub is commonly used.
//
// Idle: N connections, each PINGs (and with --role subscriber also SUBSCRIBEs to its own
// channel, like a Shardline cluster that is addressable by name), then the growth of the
// server's RSS per connection, measured like `shardline_ipc_bench idle`.
//
// Every loop is bounded in count and time. One JSON object on stdout.

#include "bench_common.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

using bench::steady;

namespace {

struct Target {
  std::string host = "127.0.0.1";
  int port = 0;
};

// ---- RESP2 ----------------------------------------------------------------------------------

// One reply: a simple string (+), an error (-), an integer (:), a bulk string ($) or a flat
// array (*) of those, of which the first kKept elements are kept (pub/sub messages and
// subscribe confirmations have three). Views point into the connection's buffer and stay valid
// until its next read.
struct Reply {
  static constexpr long long kKept = 4;
  char type = 0;
  bool null = false;      // $-1 or *-1
  long long integer = 0;  // ':' its value; '*' the element count
  std::string_view text;  // '+', '-', '$' the string; ':' the digits
  std::array<std::string_view, kKept> item{};
};

long long parse_int(std::string_view s) {
  std::size_t i = s.size() > 1 && s[0] == '-' ? 1 : 0;
  if (i == s.size() || s.size() > 19) throw std::runtime_error("redis: bad integer in reply");
  long long v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') throw std::runtime_error("redis: bad integer in reply");
    v = v * 10 + (s[i] - '0');
  }
  return s[0] == '-' ? -v : v;
}

// The line at in[pos] up to CRLF; false while the CRLF has not arrived.
bool take_line(std::string_view in, std::size_t& pos, std::string_view& line) {
  const auto eol = in.find("\r\n", pos);
  if (eol == std::string_view::npos) return false;
  line = in.substr(pos, eol - pos);
  pos = eol + 2;
  return true;
}

// A scalar at in[pos] into r (type, text, null); false while incomplete. Nested arrays are
// rejected: none of the commands used here can produce one.
bool take_scalar(std::string_view in, std::size_t& pos, Reply& r) {
  if (pos >= in.size()) return false;
  std::size_t p = pos + 1;
  std::string_view line;
  if (!take_line(in, p, line)) return false;
  r.type = in[pos];
  switch (r.type) {
  case '+':
  case '-':
  case ':':
    r.text = line;
    pos = p;
    return true;
  case '$': {
    const long long n = parse_int(line);
    if (n < 0) {
      r.null = true;
      pos = p;
      return true;
    }
    const auto len = static_cast<std::size_t>(n);
    if (in.size() - p < len + 2) return false; // the body is split across reads
    if (in.substr(p + len, 2) != "\r\n") throw std::runtime_error("redis: bulk string without CRLF");
    r.text = in.substr(p, len);
    pos = p + len + 2;
    return true;
  }
  default:
    throw std::runtime_error(std::string("redis: unexpected reply type '") + in[pos] + "'");
  }
}

// One whole reply at the start of `in`: its size in bytes, or 0 while incomplete.
std::size_t take_reply(std::string_view in, Reply& r) {
  r = Reply{};
  std::size_t pos = 0;
  if (in.empty()) return 0;
  if (in[0] != '*') {
    if (!take_scalar(in, pos, r)) return 0;
    if (r.type == ':') r.integer = parse_int(r.text);
    return pos;
  }
  pos = 1;
  std::string_view line;
  if (!take_line(in, pos, line)) return 0;
  r.type = '*';
  r.integer = parse_int(line);
  r.null = r.integer < 0;
  for (long long i = 0; i < r.integer; ++i) {
    Reply element;
    if (!take_scalar(in, pos, element)) return 0;
    if (i < Reply::kKept) r.item[static_cast<std::size_t>(i)] = element.text;
  }
  return pos;
}

// A command as a RESP array of bulk strings.
void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (auto a : args) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out.append(a);
    out += "\r\n";
  }
}

bool is_message(const Reply& r) { return r.type == '*' && r.integer == 3 && r.item[0] == "message"; }

// ---- one connection ---------------------------------------------------------------------------

class Conn {
public:
  explicit Conn(std::size_t buffer_bytes = 256 * 1024) : buf_(buffer_bytes) {}
  Conn(Conn&& o) noexcept
      : fd(std::exchange(o.fd, -1)), out(std::move(o.out)), out_off(o.out_off), errors(o.errors),
        first_error(std::move(o.first_error)), buf_(std::move(o.buf_)), b_(o.b_), e_(o.e_) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }

  int fd = -1;
  std::string out; // bytes queued for the socket
  std::size_t out_off = 0;
  std::uint64_t errors = 0; // error replies
  std::string first_error;

  void open(const Target& t) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("redis: socket: ") + std::strerror(errno));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(t.port));
    if (::inet_pton(AF_INET, t.host.c_str(), &sa.sin_addr) != 1)
      throw std::runtime_error("redis: bad host " + t.host + " (an IPv4 address)");
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      throw std::runtime_error("redis: connect to " + t.host + ":" + std::to_string(t.port) + ": " +
                               std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  void command(std::initializer_list<std::string_view> args) { append_command(out, args); }

  bool has_output() const { return out_off < out.size(); }

  // Non-blocking write of what is queued; false on a dead socket.
  bool flush() { return bench::send_queued(fd, out, out_off); }

  // One non-blocking read: bytes read, 0 if none, -1 on close.
  long read_once() {
    if (b_ == e_) {
      b_ = e_ = 0;
    } else if (buf_.size() - e_ < buf_.size() / 4) {
      // Little room left: move the partial reply to the front, and grow only when it fills
      // more than half the buffer (so the small buffers of idle connections stay small).
      std::memmove(buf_.data(), buf_.data() + b_, e_ - b_);
      e_ -= b_;
      b_ = 0;
      if (e_ > buf_.size() / 2) {
        if (buf_.size() >= kMaxBuffer) throw std::runtime_error("redis: reply larger than 64 MiB");
        buf_.resize(buf_.size() * 2);
      }
    }
    for (;;) {
      ssize_t n = ::recv(fd, buf_.data() + e_, buf_.size() - e_, 0);
      if (n > 0) {
        e_ += static_cast<std::size_t>(n);
        return n;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
      return -1;
    }
  }

  // Hands every whole reply buffered to on_reply(const Reply&), in order; error replies are
  // also counted here.
  template <class F>
  void parse(F&& on_reply) {
    Reply r;
    while (b_ < e_) {
      const std::size_t used = take_reply(std::string_view(buf_.data() + b_, e_ - b_), r);
      if (used == 0) return;
      b_ += used;
      if (r.type == '-' && errors++ == 0) first_error = std::string(r.text);
      on_reply(r);
    }
  }

  // Sends what is queued and reads until done(reply) holds for one reply; throws on an error
  // reply, a closed connection or after `seconds`. For set-up steps, where nothing else is
  // in flight on this connection.
  template <class F>
  void roundtrip(const char* what, double seconds, F&& done) {
    const auto deadline = steady::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    bool ok = false;
    while (!ok) {
      if (steady::now() > deadline) throw std::runtime_error(std::string("redis: no reply to ") + what);
      if (!flush()) throw std::runtime_error(std::string("redis: write failed (") + what + ")");
      const long n = read_once();
      if (n < 0) throw std::runtime_error(std::string("redis: connection closed (") + what + ")");
      parse([&](const Reply& r) {
        if (r.type == '-') throw std::runtime_error(std::string("redis: ") + what + ": " + std::string(r.text));
        if (!ok && done(r)) ok = true;
      });
      if (!ok && n == 0) wait_one(POLLIN | (has_output() ? POLLOUT : 0), 10);
    }
  }

  void ping(double seconds = 10) {
    command({"PING"});
    roundtrip("PING", seconds, [](const Reply& r) { return r.type == '+' && r.text == "PONG"; });
  }

  void subscribe(std::string_view channel, double seconds = 10) {
    command({"SUBSCRIBE", channel});
    roundtrip("SUBSCRIBE", seconds, [&](const Reply& r) {
      return r.type == '*' && r.integer == 3 && r.item[0] == "subscribe" && r.item[1] == channel;
    });
  }

  void wait_one(short events, int ms) const {
    pollfd p{fd, events, 0};
    ::poll(&p, 1, ms);
  }

private:
  static constexpr std::size_t kMaxBuffer = 64u << 20;
  std::vector<char> buf_;
  std::size_t b_ = 0, e_ = 0; // unparsed bytes are buf_[b_, e_)
};

// Waits (bounded) until one of two connections can make progress.
void wait_two(const Conn& a, const Conn& b, int ms) {
  pollfd p[2] = {{a.fd, short(POLLIN | (a.has_output() ? POLLOUT : 0)), 0},
                 {b.fd, short(POLLIN | (b.has_output() ? POLLOUT : 0)), 0}};
  ::poll(p, 2, ms);
}

// ---- throughput -------------------------------------------------------------------------------

int throughput(const Target& t, const bench::Args& a) {
  const auto o = bench::ThroughputOptions::from(a, "publishers", "subscribers", "server-pid");
  const int pubs = o.senders, subs = o.receivers;
  const std::uint64_t window = o.window, batch = o.batch;
  const std::string data(o.payload, 'x');

  std::vector<Conn> rx, tx;
  rx.reserve(static_cast<std::size_t>(subs));
  tx.reserve(static_cast<std::size_t>(pubs));
  std::vector<std::string> channel(static_cast<std::size_t>(subs));
  for (int r = 0; r < subs; ++r) {
    channel[r] = "bench.r" + std::to_string(r);
    rx.emplace_back(1 << 20).open(t);
    rx[r].subscribe(channel[r]);
  }
  std::vector<int> dest(static_cast<std::size_t>(pubs));
  std::vector<std::string> msg(static_cast<std::size_t>(pubs));
  for (int i = 0; i < pubs; ++i) {
    tx.emplace_back().open(t);
    tx[i].ping();
    dest[i] = i % subs;
    append_command(msg[i], {"PUBLISH", channel[dest[i]], data});
  }

  std::vector<std::uint64_t> sent_to(subs, 0), got(subs, 0);
  std::vector<std::uint64_t> unanswered(pubs, 0); // PUBLISHes whose reply has not been read
  std::uint64_t other = 0, unrouted = 0;          // non-message replies; PUBLISHes that reached nobody
  auto total_got = [&] {
    std::uint64_t s = 0;
    for (auto g : got) s += g;
    return s;
  };
  auto read_rx = [&](int r) {
    for (int k = 0; k < 4; ++k) {
      const long n = rx[r].read_once();
      if (n < 0) throw std::runtime_error("redis: subscriber closed");
      if (n == 0) break;
      rx[r].parse([&](const Reply& m) {
        if (is_message(m) && m.item[2].size() == data.size()) ++got[r];
        else ++other;
      });
    }
  };
  auto read_tx = [&](int i) {
    for (int k = 0; k < 4; ++k) {
      const long n = tx[i].read_once();
      if (n < 0) throw std::runtime_error("redis: publisher closed");
      if (n == 0) break;
      tx[i].parse([&](const Reply& m) {
        --unanswered[i];
        if (m.type == ':' && m.integer == 0) ++unrouted;
      });
    }
  };

  const auto t0 = steady::now();
  const auto t_warm = t0 + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.warmup));
  const auto t_end = t_warm + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.duration));
  bool measuring = false;
  std::uint64_t got_at_warm = 0;
  double srv_cpu0 = 0, self_cpu0 = 0;
  steady::time_point warm_at{};
  std::vector<pollfd> pfds(static_cast<std::size_t>(pubs + subs));
  while (steady::now() < t_end) {
    bool progress = false;
    for (int i = 0; i < pubs; ++i) {
      auto& c = tx[i];
      const int r = dest[i];
      if (!c.has_output()) {
        const std::uint64_t inflight = sent_to[r] - got[r];
        const std::uint64_t k = inflight < window ? std::min(batch, window - inflight) : 0;
        c.out.reserve(k * msg[i].size());
        for (std::uint64_t j = 0; j < k; ++j) c.out += msg[i];
        sent_to[r] += k;
        unanswered[i] += k;
      }
      if (c.has_output()) {
        const auto before = c.out_off;
        if (!c.flush()) throw std::runtime_error("redis: publisher write failed");
        if (c.out_off != before || !c.has_output()) progress = true;
      }
      read_tx(i);
    }
    for (int r = 0; r < subs; ++r) {
      const auto before = got[r];
      read_rx(r);
      if (got[r] != before) progress = true;
    }
    if (!measuring && steady::now() >= t_warm) {
      measuring = true;
      warm_at = steady::now();
      got_at_warm = total_got();
      srv_cpu0 = bench::proc_cpu_s(o.server_pid);
      self_cpu0 = bench::self_cpu_s();
    }
    if (!progress) {
      for (int i = 0; i < pubs; ++i) pfds[i] = {tx[i].fd, short(POLLIN | (tx[i].has_output() ? POLLOUT : 0)), 0};
      for (int r = 0; r < subs; ++r) pfds[pubs + r] = {rx[r].fd, POLLIN, 0};
      ::poll(pfds.data(), pfds.size(), 1);
    }
  }
  const auto end_at = steady::now();
  const std::uint64_t got_at_end = total_got();
  const double srv_cpu1 = bench::proc_cpu_s(o.server_pid), self_cpu1 = bench::self_cpu_s();
  const double secs = std::chrono::duration<double>(end_at - warm_at).count();

  // Drain: everything sent must arrive, and every PUBLISH must be answered.
  std::uint64_t total_sent = 0;
  for (auto s : sent_to) total_sent += s;
  auto all_answered = [&] {
    for (auto u : unanswered)
      if (u != 0) return false;
    return true;
  };
  const auto drain_deadline = steady::now() + std::chrono::seconds(5);
  while ((total_got() < total_sent || !all_answered()) && steady::now() < drain_deadline) {
    for (int i = 0; i < pubs; ++i) {
      if (!tx[i].flush()) throw std::runtime_error("redis: publisher write failed");
      read_tx(i);
    }
    for (int r = 0; r < subs; ++r) read_rx(r);
    for (int i = 0; i < pubs; ++i) pfds[i] = {tx[i].fd, short(POLLIN | (tx[i].has_output() ? POLLOUT : 0)), 0};
    for (int r = 0; r < subs; ++r) pfds[pubs + r] = {rx[r].fd, POLLIN, 0};
    ::poll(pfds.data(), pfds.size(), 5);
  }
  std::uint64_t errors = 0, missing_replies = 0;
  std::string first_error;
  for (auto* side : {&tx, &rx})
    for (auto& c : *side) {
      errors += c.errors;
      if (first_error.empty()) first_error = c.first_error;
    }
  for (auto u : unanswered) missing_replies += u;

  const std::uint64_t received = total_got();
  const double rate = static_cast<double>(got_at_end - got_at_warm) / secs;
  // Wire size of one message as the subscriber receives it:
  // *3\r\n$7\r\nmessage\r\n$<n>\r\n<channel>\r\n$<m>\r\n<payload>\r\n
  std::string one_message;
  append_command(one_message, {"message", channel[0], data});
  const double wire = static_cast<double>(one_message.size());
  bench::Result res;
  res.str("scenario", "throughput")
      .str("system", "redis")
      .num("senders", pubs)
      .num("receivers", subs)
      .num("payload_bytes", static_cast<double>(data.size()))
      .num("frame_wire_bytes", wire)
      .num("seconds", secs)
      .num("msgs_per_s", rate)
      .num("mib_per_s", rate * wire / (1024.0 * 1024.0))
      .num("sent_total", static_cast<double>(total_sent))
      .num("received_total", static_cast<double>(received))
      .num("lost", static_cast<double>(total_sent - std::min(total_sent, received)))
      .num("error_frames", static_cast<double>(errors))
      .num("other_frames", static_cast<double>(other))
      .num("unrouted", static_cast<double>(unrouted))
      .num("unanswered_publishes", static_cast<double>(missing_replies))
      .num("server_cpu_pct", o.server_pid > 0 ? 100.0 * (srv_cpu1 - srv_cpu0) / secs : -1)
      .num("driver_cpu_pct", 100.0 * (self_cpu1 - self_cpu0) / secs);
  if (!first_error.empty()) res.str("first_error", first_error);
  res.print();
  return errors == 0 && other == 0 && missing_replies == 0 && received == total_sent ? 0 : 1;
}

// ---- request/reply ----------------------------------------------------------------------------

// The reply a Shardline cluster sends to eval_request, byte for byte in size (as nats_bench's).
constexpr std::string_view kReply =
    "{\"op\":\"eval_response\",\"data\":{\"query\":\"guild_count\",\"result\":0},\"source\":\"echo-0\","
    "\"target\":\"bench-rtt\",\"timestamp\":1700000000.000000,\"nonce\":\"0123456789abcdef-0000000000000001\","
    "\"reply_to\":\"0123456789abcdef-0000000000000001\"}";

// Answers every request on `channel` with kReply, published to the channel the request names.
int responder(const Target& t, const bench::Args& a) {
  const std::string channel = a.get("channel", "bench.echo");
  const double seconds = a.real("seconds", 900);
  Conn sub, pub;
  sub.open(t);
  sub.subscribe(channel);
  pub.open(t);
  pub.ping();
  std::fprintf(stderr, "redis responder on %s ready\n", channel.c_str());
  std::uint64_t malformed = 0;
  bool error_reported = false;
  const auto t0 = steady::now();
  while (bench::since_s(t0) < seconds) {
    const long n = sub.read_once();
    if (n < 0) return 0; // the server went away (run.sh stops it): done
    sub.parse([&](const Reply& r) {
      if (!is_message(r)) return;
      const auto nl = r.item[2].find('\n');
      if (nl == std::string_view::npos) {
        if (malformed++ == 0) std::fprintf(stderr, "redis responder: a request without a reply channel\n");
        return;
      }
      append_command(pub.out, {"PUBLISH", r.item[2].substr(0, nl), kReply});
    });
    if (pub.has_output() && !pub.flush()) return 1;
    const long m = pub.read_once();
    if (m < 0) return 0;
    pub.parse([](const Reply&) {}); // receiver counts; errors are counted by the connection
    if (pub.errors > 0 && !error_reported) {
      std::fprintf(stderr, "redis responder: %s\n", pub.first_error.c_str());
      error_reported = true;
    }
    if (n == 0 && m == 0) wait_two(sub, pub, 1000);
  }
  return 0;
}

// Sequential requests, one at a time, each timed from its PUBLISH to the reply's arrival.
int rtt(const Target& t, const bench::Args& a) {
  const std::string channel = a.get("channel", "bench.echo");
  const long count = a.num("count", 20000), warmup = a.num("warmup", 1000);
  const long request_bytes = a.num("request-bytes", 180);
  const double max_seconds = a.real("max-seconds", 60);
  const std::string reply_channel = "bench.reply." + std::to_string(::getpid());
  Conn sub, pub;
  sub.open(t);
  sub.subscribe(reply_channel);
  pub.open(t);
  pub.ping();
  std::string body = reply_channel + "\n";
  if (body.size() < static_cast<std::size_t>(request_bytes)) body.resize(static_cast<std::size_t>(request_bytes), 'q');
  std::string req;
  append_command(req, {"PUBLISH", channel, body});

  std::string first_failure;
  // One request: true when the reply came before the timeout; false if it did not, or if the
  // PUBLISH reached no subscriber (no responder yet).
  auto one = [&](double timeout_s) {
    const auto deadline = steady::now() + std::chrono::microseconds(static_cast<long>(timeout_s * 1e6));
    pub.out += req;
    bool got = false, nobody = false;
    for (;;) {
      if (!pub.flush()) throw std::runtime_error("redis: write failed");
      const long n = sub.read_once();
      if (n < 0) throw std::runtime_error("redis: reply connection closed");
      sub.parse([&](const Reply& r) { got = got || is_message(r); });
      // The PUBLISH replies (this request's, or the previous one's if it came after its
      // message) say how many subscribers got the request.
      const long m = pub.read_once();
      if (m < 0) throw std::runtime_error("redis: request connection closed");
      std::string_view refused;
      pub.parse([&](const Reply& r) {
        if (r.type == ':' && r.integer == 0) nobody = true;
        if (r.type == '-') refused = r.text;
      });
      if (got) return true;
      if (nobody || !refused.empty()) {
        if (first_failure.empty()) first_failure = nobody ? "no subscriber on " + channel : std::string(refused);
        return false;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
      if (left < 0) {
        if (first_failure.empty()) first_failure = "timeout";
        return false;
      }
      if (n == 0 && m == 0) wait_two(sub, pub, static_cast<int>(std::min<long long>(left + 1, 1000)));
    }
  };
  bool ready = false;
  const auto ready_deadline = steady::now() + std::chrono::seconds(20);
  while (!ready && steady::now() < ready_deadline) {
    ready = one(1.0);
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ready) throw std::runtime_error("no responder on " + channel);
  first_failure.clear(); // failures while waiting for the responder do not count

  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(count));
  long failures = 0;
  const auto t0 = steady::now();
  for (long i = 0; i < warmup + count && bench::since_s(t0) < max_seconds; ++i) {
    const auto s = steady::now();
    const bool ok = one(1.0);
    const double d = std::chrono::duration<double, std::micro>(steady::now() - s).count();
    if (!ok) {
      ++failures;
      continue;
    }
    if (i >= warmup) us.push_back(d);
  }
  bench::Result res;
  res.str("scenario", "rtt")
      .str("system", "redis")
      .str("target", channel)
      .num("request_bytes", static_cast<double>(body.size()))
      .num("reply_bytes", static_cast<double>(kReply.size()));
  bench::add_latency(res, us);
  res.num("failures", static_cast<double>(failures));
  if (!first_failure.empty()) res.str("first_failure", first_failure);
  res.print();
  return failures == 0 && us.size() == static_cast<std::size_t>(count) ? 0 : 1;
}

// ---- memory per idle connection ---------------------------------------------------------------

// The number of clients the server counts (INFO clients) including this probe, or -1.
double server_clients(const Target& t) {
  Conn probe;
  probe.open(t);
  probe.command({"INFO", "clients"});
  double n = -1;
  probe.roundtrip("INFO", 10, [&](const Reply& r) {
    if (r.type != '$') return false;
    const auto at = r.text.find("connected_clients:");
    if (at != std::string_view::npos) n = std::strtod(std::string(r.text.substr(at + 18, 16)).c_str(), nullptr);
    return true;
  });
  return n;
}

int idle(const Target& t, const bench::Args& a) {
  const long count = a.num("count", 2000);
  const long server_pid = a.num("server-pid", 0);
  const std::string role = a.get("role", "client");
  const double settle = a.real("settle", 1.5);
  if (server_pid <= 0) throw std::runtime_error("idle needs --server-pid");
  if (role != "client" && role != "subscriber") throw std::runtime_error("--role client|subscriber");

  // The server's own count of clients before and after, so other clients do not count.
  const double clients0 = server_clients(t);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long rss0 = bench::proc_status_kib(server_pid, "VmRSS");
  std::vector<Conn> conns;
  conns.reserve(static_cast<std::size_t>(count));
  std::string first_failure;
  const auto t0 = steady::now();
  for (long i = 0; i < count && bench::since_s(t0) < 120; ++i) {
    try {
      auto& c = conns.emplace_back(1024); // small buffers: the driver holds thousands of these
      c.open(t);
      c.ping();
      if (role == "subscriber") c.subscribe("idle." + std::to_string(i));
    } catch (const std::exception& e) {
      // Most likely a server limit (maxclients, descriptors): the rest would fail the same way.
      first_failure = e.what();
      conns.pop_back();
      break;
    }
  }
  const double connect_s = bench::since_s(t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(settle * 1000)));
  // Still connected? The server sends nothing to an idle client, so any read end is a drop.
  long live = 0;
  for (auto& c : conns) {
    if (c.read_once() >= 0) ++live;
  }
  const long rss1 = bench::proc_status_kib(server_pid, "VmRSS");
  const long hwm = bench::proc_status_kib(server_pid, "VmHWM");
  const double clients1 = server_clients(t);
  const double seen = clients0 >= 0 && clients1 >= 0 ? clients1 - clients0 : -1;
  conns.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const long rss2 = bench::proc_status_kib(server_pid, "VmRSS");

  auto res = bench::idle_memory_result("redis", role, {live, seen, connect_s, rss0, rss1, hwm, rss2});
  if (!first_failure.empty()) res.str("first_failure", first_failure);
  res.print();
  return live == count ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s throughput|responder|rtt|idle --port P [--host 127.0.0.1] [options]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  bench::Args a(argc, argv, 2);
  Target t;
  t.host = a.get("host", "127.0.0.1");
  t.port = static_cast<int>(a.num("port", 0));
  if (t.port <= 0 || t.port > 65535) {
    std::fprintf(stderr, "--port is required\n");
    return 2;
  }
  try {
    if (mode == "throughput") return throughput(t, a);
    if (mode == "responder") return responder(t, a);
    if (mode == "rtt") return rtt(t, a);
    if (mode == "idle") return idle(t, a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redis_bench %s: %s\n", mode.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
