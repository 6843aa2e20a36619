// sim_bench: load client for a running `shardline sim` (the Discord simulator).
//
// Raw gateway clients on non-blocking sockets, all on one thread (the machine has 2 cores:
// one for the simulator, one for the load): websocket handshake, HELLO, IDENTIFY paced by
// the simulator's identify buckets (shard i waits (i / max_concurrency) windows), HEARTBEAT
// every interval with the last sequence, and zlib-stream inflated with one inflate context
// per connection (every message ends with 00 00 ff ff). Every dispatch's sequence is checked
// for continuity. Every loop is bounded in count and time.
//
//   sim_bench stream --port P [--shards 16 --zlib 1 --warmup 2 --duration 5 --sim-pid PID
//                    --max-concurrency 16 --identify-window-ms 100 --token sim-token]
//       after every shard's READY and guilds: dispatch events/s over the measured window,
//       their average decompressed size, wire bytes, client and simulator CPU%.
//   sim_bench scale  --port P --sim-pid PID [--shards 64 --zlib 1 --max-concurrency 16
//                    --identify-window-ms 100 --timeout 120]
//       every shard receives READY and every GUILD_CREATE; then the simulator's VmRSS/VmHWM
//       and the time it took.
//   sim_bench latency --port P [the stream options, --cluster-pid PID]
//       the stream's measurement, plus each MESSAGE_CREATE's latency from its send stamp
//       (`shardline sim --stamp-events` writes it as the nonce, CLOCK_REALTIME microseconds) to
//       the moment this client has it inflated: p50/p90/p99/p99.9/max over the window. P may be
//       the simulator's port or a Discord look-alike in front of it (`shardline run`'s bot
//       endpoint): the client is the same bot either way. --cluster-pid: that process's CPU
//       over the same window.
//
// Prints one JSON object on stdout (progress goes to stderr).

#include "bench_common.hpp"

#include <zlib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using bench::steady;

namespace {

constexpr std::string_view kSyncFlush("\x00\x00\xff\xff", 4);
// GUILDS | GUILD_MEMBERS | GUILD_PRESENCES | GUILD_MESSAGES | GUILD_MESSAGE_TYPING
constexpr unsigned kIntents = 1 | 2 | 256 | 512 | 2048;

struct Options {
  int port = 0;
  int shards = 16;
  bool zlib = true;
  int max_concurrency = 16;
  long identify_window_ms = 100;
  std::string token = "sim-token";
};

struct Conn {
  int shard = 0;
  int fd = -1;
  bool upgraded = false;
  bool identified = false;
  bool ready = false;
  bool closed = false;
  bool msg_binary = false; // the message being assembled came in a binary frame
  std::string in;      // raw bytes from the socket
  std::size_t in_off = 0;
  std::string msg;     // payload of the websocket message being assembled (compressed or not)
  std::string plain;   // one inflated message
  std::string out;     // bytes queued for the socket
  z_stream z{};
  bool z_init = false;
  long heartbeat_ms = 0;
  steady::time_point next_heartbeat{};
  steady::time_point identify_at{};
  std::uint64_t last_seq = 0;
  std::uint64_t gaps = 0;
  std::uint64_t dispatches = 0;      // all dispatches
  std::uint64_t events = 0;          // dispatches other than READY / GUILD_CREATE / GUILD_DELETE
  std::uint64_t event_bytes = 0;     // decompressed bytes of those
  std::uint64_t wire_bytes = 0;      // websocket payload bytes received (compressed if zlib)
  std::uint64_t acks = 0;
  std::uint64_t invalid_sessions = 0;
  std::uint64_t guilds_expected = 0; // entries of READY's guilds
  std::uint64_t guild_creates = 0;
  std::uint64_t guild_deletes = 0;
  int close_code = 0;
  bool record_latency = false;        // inside the measured window of `latency`
  std::vector<double> latencies_us;   // send stamp to inflated, per MESSAGE_CREATE
  std::uint64_t unstamped = 0;        // MESSAGE_CREATEs in the window without a stamp

  ~Conn() {
    if (z_init) inflateEnd(&z);
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void fail(const std::string& why) { throw std::runtime_error(why); }

int tcp_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    int e = errno;
    ::close(fd);
    fail(std::string("connect: ") + std::strerror(e));
  }
  return fd;
}

// A masked client text frame (mask key 0: the payload is unchanged, which RFC 6455 allows).
void queue_text(Conn& c, std::string_view payload) {
  std::string& o = c.out;
  o += static_cast<char>(0x81);
  if (payload.size() < 126) {
    o += static_cast<char>(0x80 | payload.size());
  } else {
    o += static_cast<char>(0x80 | 126);
    o += static_cast<char>((payload.size() >> 8) & 0xff);
    o += static_cast<char>(payload.size() & 0xff);
  }
  o.append(4, '\0');
  o += payload;
}

void flush_out(Conn& c) {
  while (!c.out.empty()) {
    auto n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    c.closed = true;
    return;
  }
}

std::uint64_t parse_u64(std::string_view s, std::size_t pos) {
  std::uint64_t v = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') v = v * 10 + static_cast<unsigned>(s[pos++] - '0');
  return v;
}

// CLOCK_REALTIME in microseconds, the clock of the simulator's send stamp.
double realtime_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// Skips one JSON value starting at `p` (after any whitespace); the position after it, or npos.
// Counts brackets outside strings, which is all a well-formed value needs.
std::size_t skip_value(std::string_view m, std::size_t p) {
  int depth = 0;
  bool in_string = false;
  for (; p < m.size(); ++p) {
    const char ch = m[p];
    if (in_string) {
      if (ch == '\\') ++p;
      else if (ch == '"') {
        in_string = false;
        if (depth == 0) return p + 1;
      }
      continue;
    }
    if (ch == '"') in_string = true;
    else if (ch == '{' || ch == '[') ++depth;
    else if (ch == '}' || ch == ']') {
      if (--depth <= 0) return depth < 0 ? p : p + 1;
    } else if (depth == 0 && (ch == ',')) return p;
  }
  return std::string_view::npos;
}

// The top-level fields of a gateway payload, in whatever order the server writes them (the
// simulator and Discord: t, s, op, d; Shardline's endpoint: op, s, t, d). `d` is not parsed,
// only located; a server that writes it before the others costs one pass over it.
struct Envelope {
  int op = -1;
  std::string_view t;
  std::uint64_t s = 0;
  std::string_view d;
};

Envelope read_envelope(std::string_view m) {
  Envelope e;
  std::size_t p = m.find('{');
  if (p == std::string_view::npos) fail("payload is not an object");
  ++p;
  for (int field = 0; field < 16 && p < m.size(); ++field) {
    while (p < m.size() && (m[p] == ' ' || m[p] == ',' || m[p] == '\n')) ++p;
    if (p >= m.size() || m[p] == '}') break;
    if (m[p] != '"') fail("payload key expected");
    auto key_end = m.find('"', p + 1);
    if (key_end == std::string_view::npos) fail("unterminated key");
    std::string_view key = m.substr(p + 1, key_end - p - 1);
    p = m.find(':', key_end);
    if (p == std::string_view::npos) fail("key without value");
    ++p;
    while (p < m.size() && m[p] == ' ') ++p;
    auto end = skip_value(m, p);
    if (end == std::string_view::npos) end = m.size();
    std::string_view value = m.substr(p, end - p);
    if (key == "op") e.op = static_cast<int>(parse_u64(value, 0));
    else if (key == "s") e.s = parse_u64(value, 0);
    else if (key == "t" && value.size() >= 2 && value[0] == '"') e.t = value.substr(1, value.size() - 2);
    else if (key == "d") e.d = value;
    p = end;
  }
  return e;
}

std::size_t count_of(std::string_view hay, std::string_view needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string_view::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

void send_heartbeat(Conn& c) {
  queue_text(c, "{\"op\":1,\"d\":" + (c.last_seq ? std::to_string(c.last_seq) : std::string("null")) + "}");
}

// A MESSAGE_CREATE in the measured window: its latency from the nonce's send stamp.
void record_latency(Conn& c, std::string_view d, double received_us) {
  constexpr std::string_view kNonce = "\"nonce\":\"";
  auto n = d.find(kNonce);
  if (n == std::string_view::npos) {
    ++c.unstamped;
    return;
  }
  if (c.latencies_us.size() < 20'000'000) // bounded: 20 M samples is 2,000 s at 10,000/s
    c.latencies_us.push_back(received_us - static_cast<double>(parse_u64(d, n + kNonce.size())));
}

// One complete gateway message (JSON text), its fields in any order.
void on_message(Conn& c, std::string_view m, const Options& o) {
  const double received_us = c.record_latency ? realtime_us() : 0;
  auto env = read_envelope(m);
  if (env.op == 0) { // a dispatch
    std::string_view type = env.t;
    if (type.empty()) fail("dispatch without t");
    std::uint64_t seq = env.s;
    if (seq != c.last_seq + 1) ++c.gaps;
    c.last_seq = seq;
    ++c.dispatches;
    if (type == "READY") {
      c.ready = true;
      c.guilds_expected = count_of(m, "\"unavailable\":true");
    } else if (type == "GUILD_CREATE") {
      ++c.guild_creates;
    } else if (type == "GUILD_DELETE") {
      ++c.guild_deletes;
    } else {
      ++c.events;
      c.event_bytes += m.size();
      if (c.record_latency && type == "MESSAGE_CREATE") record_latency(c, env.d, received_us);
    }
    return;
  }
  if (env.op < 0) fail("message without op");
  switch (env.op) {
  case 10: { // HELLO
    auto h = m.find("\"heartbeat_interval\":");
    c.heartbeat_ms = h == std::string_view::npos ? 41250 : static_cast<long>(parse_u64(m, h + 21));
    c.next_heartbeat = steady::now() + std::chrono::milliseconds(c.heartbeat_ms / 2);
    // Bucket shard % max_concurrency; the k-th shard of a bucket waits k windows (+ margin).
    const int wave = c.shard / o.max_concurrency;
    c.identify_at = steady::now() + std::chrono::milliseconds(wave * (o.identify_window_ms + 50));
    break;
  }
  case 11: ++c.acks; break;
  case 1: send_heartbeat(c); break; // the server asks for one now
  case 9: // INVALID_SESSION: identify again after a window
    ++c.invalid_sessions;
    c.identified = false;
    c.identify_at = steady::now() + std::chrono::milliseconds(o.identify_window_ms + 50);
    break;
  case 7: fail("shard " + std::to_string(c.shard) + ": unexpected RECONNECT");
  default: break;
  }
}

void on_ws_message(Conn& c, bool binary, const Options& o) {
  c.wire_bytes += c.msg.size();
  if (!binary) return on_message(c, c.msg, o);
  if (!c.z_init) fail("binary frame without zlib-stream");
  if (c.msg.size() < 4 || std::string_view(c.msg).substr(c.msg.size() - 4) != kSyncFlush)
    fail("zlib-stream message without 00 00 ff ff");
  c.z.next_in = reinterpret_cast<Bytef*>(c.msg.data());
  c.z.avail_in = static_cast<uInt>(c.msg.size());
  std::size_t used = 0;
  if (c.plain.size() < c.msg.size() * 4 + 1024) c.plain.resize(c.msg.size() * 4 + 1024);
  for (int guard = 0; guard < 64; ++guard) {
    c.z.next_out = reinterpret_cast<Bytef*>(c.plain.data() + used);
    c.z.avail_out = static_cast<uInt>(c.plain.size() - used);
    int rc = inflate(&c.z, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR) fail("inflate failed: " + std::to_string(rc));
    used = c.plain.size() - c.z.avail_out;
    if (c.z.avail_in == 0 && c.z.avail_out != 0) break;
    c.plain.resize(c.plain.size() * 2);
  }
  on_message(c, std::string_view(c.plain.data(), used), o);
}

// Parses every complete websocket frame in c.in; false if the connection closed.
bool parse_frames(Conn& c, const Options& o) {
  std::string_view b(c.in);
  std::size_t p = c.in_off;
  for (;;) {
    if (b.size() - p < 2) break;
    auto b0 = static_cast<unsigned char>(b[p]), b1 = static_cast<unsigned char>(b[p + 1]);
    std::size_t hdr = 2;
    std::uint64_t len = b1 & 0x7f;
    if (len == 126) {
      if (b.size() - p < 4) break;
      len = (static_cast<std::uint64_t>(static_cast<unsigned char>(b[p + 2])) << 8) |
            static_cast<unsigned char>(b[p + 3]);
      hdr = 4;
    } else if (len == 127) {
      if (b.size() - p < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(b[p + 2 + i]);
      hdr = 10;
    }
    if (b1 & 0x80) fail("masked server frame");
    if (b.size() - p < hdr + len) break;
    std::string_view payload = b.substr(p + hdr, len);
    p += hdr + len;
    const int opcode = b0 & 0x0f;
    const bool fin = b0 & 0x80;
    if (opcode == 8) { // close
      c.close_code = payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                               static_cast<unsigned char>(payload[1])
                                         : 1005;
      c.closed = true;
      break;
    }
    if (opcode == 9) { // ping: pong with the same payload
      c.out += static_cast<char>(0x8a);
      c.out += static_cast<char>(0x80 | payload.size());
      c.out.append(4, '\0');
      c.out += payload;
      continue;
    }
    if (opcode == 10) continue;
    if (opcode == 1 || opcode == 2) {
      c.msg.assign(payload);
      c.msg_binary = opcode == 2;
    } else if (opcode == 0) {
      c.msg += payload;
    } else {
      fail("unknown websocket opcode " + std::to_string(opcode));
    }
    if (fin) on_ws_message(c, c.msg_binary, o);
  }
  c.in_off = p;
  if (c.in_off > 1 << 20 || c.in_off == c.in.size()) {
    c.in.erase(0, c.in_off);
    c.in_off = 0;
  }
  return !c.closed;
}

// Reads what is there (bounded per call, so one busy shard cannot starve the others).
void on_readable(Conn& c, const Options& o) {
  char buf[256 * 1024];
  for (int i = 0; i < 4; ++i) {
    auto n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.in.append(buf, static_cast<std::size_t>(n));
      if (n < static_cast<long>(sizeof buf)) break;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    c.closed = true;
    return;
  }
  if (!c.upgraded) {
    auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    if (c.in.rfind("HTTP/1.1 101", 0) != 0) fail("handshake refused: " + c.in.substr(0, c.in.find("\r\n")));
    c.upgraded = true;
    c.in.erase(0, end + 4);
  }
  parse_frames(c, o);
}

std::vector<std::unique_ptr<Conn>> open_shards(const Options& o) {
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < o.shards; ++i) {
    auto c = std::make_unique<Conn>();
    c->shard = i;
    c->fd = tcp_connect(o.port);
    int rcv = 4 << 20;
    ::setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    if (o.zlib) {
      if (inflateInit(&c->z) != Z_OK) fail("inflateInit");
      c->z_init = true;
    }
    c->out = "GET /?v=10&encoding=json" + std::string(o.zlib ? "&compress=zlib-stream" : "") +
             " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(o.port) +
             "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n";
    conns.push_back(std::move(c));
  }
  return conns;
}

// One pass of the event loop: poll every shard (at most 5 ms), read, identify, heartbeat, write.
void pump(std::vector<std::unique_ptr<Conn>>& conns, const Options& o) {
  std::vector<pollfd> pfds(conns.size());
  for (std::size_t i = 0; i < conns.size(); ++i)
    pfds[i] = {conns[i]->fd, static_cast<short>(POLLIN | (conns[i]->out.empty() ? 0 : POLLOUT)), 0};
  int r = ::poll(pfds.data(), pfds.size(), 5);
  if (r < 0 && errno != EINTR) fail(std::string("poll: ") + std::strerror(errno));
  auto now = steady::now();
  for (std::size_t i = 0; i < conns.size(); ++i) {
    auto& c = *conns[i];
    if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) on_readable(c, o);
    if (c.closed)
      fail("shard " + std::to_string(c.shard) + " closed by the simulator (code " + std::to_string(c.close_code) +
           ")");
    if (c.heartbeat_ms > 0 && !c.identified && !c.ready && now >= c.identify_at) {
      queue_text(c, "{\"op\":2,\"d\":{\"token\":\"" + o.token + "\",\"intents\":" + std::to_string(kIntents) +
                        ",\"properties\":{\"os\":\"linux\",\"browser\":\"sim_bench\",\"device\":\"sim_bench\"}"
                        ",\"shard\":[" + std::to_string(c.shard) + "," + std::to_string(o.shards) + "]}}");
      c.identified = true;
    }
    if (c.heartbeat_ms > 0 && now >= c.next_heartbeat) {
      send_heartbeat(c);
      c.next_heartbeat = now + std::chrono::milliseconds(c.heartbeat_ms);
    }
    if (!c.out.empty()) flush_out(c);
  }
}

struct Totals {
  std::uint64_t events = 0, event_bytes = 0, wire_bytes = 0, dispatches = 0, gaps = 0, acks = 0, invalid = 0;
  std::uint64_t guilds_expected = 0, guild_creates = 0;
  int ready = 0, all_guilds = 0;
};

Totals totals(const std::vector<std::unique_ptr<Conn>>& conns) {
  Totals t;
  for (auto& c : conns) {
    t.events += c->events;
    t.event_bytes += c->event_bytes;
    t.wire_bytes += c->wire_bytes;
    t.dispatches += c->dispatches;
    t.gaps += c->gaps;
    t.acks += c->acks;
    t.invalid += c->invalid_sessions;
    t.guilds_expected += c->guilds_expected;
    t.guild_creates += c->guild_creates;
    t.ready += c->ready;
    t.all_guilds += c->ready && c->guild_creates >= c->guilds_expected;
  }
  return t;
}

// Pumps until every shard has READY and all its GUILD_CREATEs; the seconds it took.
double wait_guilds(std::vector<std::unique_ptr<Conn>>& conns, const Options& o, double timeout_s) {
  auto t0 = steady::now();
  for (long i = 0; i < 100'000'000; ++i) {
    pump(conns, o);
    auto t = totals(conns);
    if (t.all_guilds == static_cast<int>(conns.size())) return bench::since_s(t0);
    if (bench::since_s(t0) > timeout_s)
      fail("timed out: " + std::to_string(t.ready) + " shards ready, " + std::to_string(t.guild_creates) + "/" +
           std::to_string(t.guilds_expected) + " guilds");
  }
  fail("wait_guilds: too many passes");
}

Options options(const bench::Args& a) {
  Options o;
  o.port = static_cast<int>(a.num("port", 0));
  o.shards = static_cast<int>(a.num("shards", 16));
  o.zlib = a.num("zlib", 1) != 0;
  o.max_concurrency = static_cast<int>(std::max(1L, a.num("max-concurrency", 16)));
  o.identify_window_ms = a.num("identify-window-ms", 100);
  o.token = a.get("token", "sim-token");
  if (o.port <= 0) fail("--port is required");
  if (o.shards < 1 || o.shards > 1024) fail("--shards: 1-1024");
  return o;
}

int run_stream(const bench::Args& a) {
  auto o = options(a);
  const double warmup = a.real("warmup", 2), duration = a.real("duration", 5);
  const long sim_pid = a.num("sim-pid", 0);
  auto conns = open_shards(o);
  const double ready_s = wait_guilds(conns, o, a.real("timeout", 60));
  std::fprintf(stderr, "sim_bench: %d shards ready with their guilds in %.2f s\n", o.shards, ready_s);
  auto t0 = steady::now();
  while (bench::since_s(t0) < warmup) pump(conns, o);
  auto before = totals(conns);
  const double cpu0 = bench::self_cpu_s(), sim0 = bench::proc_cpu_s(sim_pid);
  auto t1 = steady::now();
  while (bench::since_s(t1) < duration) pump(conns, o);
  const double secs = bench::since_s(t1);
  const double cpu1 = bench::self_cpu_s(), sim1 = bench::proc_cpu_s(sim_pid);
  auto after = totals(conns);
  const double events = static_cast<double>(after.events - before.events);
  bench::Result r;
  r.str("scenario", "sim_stream")
      .str("compress", o.zlib ? "zlib-stream" : "none")
      .num("shards", o.shards)
      .num("seconds", secs)
      .num("events", events)
      .num("events_per_sec", events / secs)
      .num("avg_event_bytes", events > 0 ? static_cast<double>(after.event_bytes - before.event_bytes) / events : 0)
      .num("wire_mib_per_sec", static_cast<double>(after.wire_bytes - before.wire_bytes) / secs / 1048576.0)
      .num("plain_mib_per_sec", static_cast<double>(after.event_bytes - before.event_bytes) / secs / 1048576.0)
      .num("seq_gaps", static_cast<double>(after.gaps))
      .num("heartbeat_acks", static_cast<double>(after.acks))
      .num("identify_refused", static_cast<double>(after.invalid))
      .num("ready_seconds", ready_s)
      .num("client_cpu_pct", (cpu1 - cpu0) / secs * 100.0)
      .num("sim_cpu_pct", sim_pid > 0 ? (sim1 - sim0) / secs * 100.0 : -1);
  r.print();
  return after.gaps == 0 ? 0 : 1;
}

// `latency`: the stream's figures, each MESSAGE_CREATE's send-to-receive latency, and the CPU
// of the process in between (--cluster-pid), all over the same window.
int run_latency(const bench::Args& a) {
  auto o = options(a);
  const double warmup = a.real("warmup", 2), duration = a.real("duration", 10);
  const long sim_pid = a.num("sim-pid", 0), cluster_pid = a.num("cluster-pid", 0);
  auto conns = open_shards(o);
  const double ready_s = wait_guilds(conns, o, a.real("timeout", 60));
  std::fprintf(stderr, "sim_bench: %d shards ready with their guilds in %.2f s\n", o.shards, ready_s);
  auto t0 = steady::now();
  while (bench::since_s(t0) < warmup) pump(conns, o);
  for (auto& c : conns) c->record_latency = true;
  auto before = totals(conns);
  const double cpu0 = bench::self_cpu_s(), sim0 = bench::proc_cpu_s(sim_pid), cl0 = bench::proc_cpu_s(cluster_pid);
  auto t1 = steady::now();
  while (bench::since_s(t1) < duration) pump(conns, o);
  const double secs = bench::since_s(t1);
  const double cpu1 = bench::self_cpu_s(), sim1 = bench::proc_cpu_s(sim_pid), cl1 = bench::proc_cpu_s(cluster_pid);
  auto after = totals(conns);
  std::vector<double> lat;
  std::uint64_t unstamped = 0;
  for (auto& c : conns) {
    lat.insert(lat.end(), c->latencies_us.begin(), c->latencies_us.end());
    unstamped += c->unstamped;
  }
  const double events = static_cast<double>(after.events - before.events);
  const double cluster_cpu = cluster_pid > 0 ? cl1 - cl0 : -1;
  bench::Result r;
  r.str("scenario", "gateway_latency")
      .str("compress", o.zlib ? "zlib-stream" : "none")
      .num("shards", o.shards)
      .num("seconds", secs)
      .num("events", events)
      .num("events_per_sec", events / secs)
      .num("seq_gaps", static_cast<double>(after.gaps))
      .num("unstamped", static_cast<double>(unstamped))
      .num("ready_seconds", ready_s)
      .num("client_cpu_cores", (cpu1 - cpu0) / secs)
      .num("sim_cpu_cores", sim_pid > 0 ? (sim1 - sim0) / secs : -1)
      .num("cluster_cpu_s", cluster_cpu)
      .num("cluster_cpu_cores", cluster_pid > 0 ? cluster_cpu / secs : -1)
      .num("events_per_cluster_core", cluster_cpu > 0 ? events / cluster_cpu : -1);
  bench::add_latency(r, std::move(lat));
  r.print();
  return after.gaps == 0 ? 0 : 1;
}

int run_scale(const bench::Args& a) {
  auto o = options(a);
  const long sim_pid = a.num("sim-pid", 0);
  const long rss0 = sim_pid > 0 ? bench::proc_status_kib(sim_pid, "VmRSS") : -1;
  const double sim0 = bench::proc_cpu_s(sim_pid);
  auto conns = open_shards(o);
  const double secs = wait_guilds(conns, o, a.real("timeout", 180));
  const double sim1 = bench::proc_cpu_s(sim_pid);
  auto t = totals(conns);
  std::uint64_t min_g = ~0ULL, max_g = 0;
  for (auto& c : conns) {
    min_g = std::min(min_g, c->guild_creates);
    max_g = std::max(max_g, c->guild_creates);
  }
  bench::Result r;
  r.str("scenario", "sim_scale")
      .str("compress", o.zlib ? "zlib-stream" : "none")
      .num("shards", o.shards)
      .num("guilds", static_cast<double>(t.guild_creates))
      .num("guilds_per_shard_min", static_cast<double>(min_g))
      .num("guilds_per_shard_max", static_cast<double>(max_g))
      .num("seconds_to_all_guilds", secs)
      .num("seq_gaps", static_cast<double>(t.gaps))
      .num("identify_refused", static_cast<double>(t.invalid))
      .num("sim_cpu_s", sim_pid > 0 ? sim1 - sim0 : -1)
      .num("sim_rss_before_kib", static_cast<double>(rss0))
      .num("sim_rss_kib", static_cast<double>(sim_pid > 0 ? bench::proc_status_kib(sim_pid, "VmRSS") : -1))
      .num("sim_hwm_kib", static_cast<double>(sim_pid > 0 ? bench::proc_status_kib(sim_pid, "VmHWM") : -1));
  r.print();
  return t.gaps == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    std::fprintf(stderr, "usage: sim_bench stream|scale|latency --port P [options] (see the top of bench/sim_bench.cpp)\n");
    return 2;
  }
  std::string mode = argv[1];
  bench::Args a(argc, argv, 2);
  try {
    if (mode == "stream") return run_stream(a);
    if (mode == "scale") return run_scale(a);
    if (mode == "latency") return run_latency(a);
    std::fprintf(stderr, "sim_bench: unknown mode %s\n", mode.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sim_bench: %s\n", e.what());
    return 1;
  }
}
