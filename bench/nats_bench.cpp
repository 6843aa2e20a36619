// nats_bench: the NATS baseline for the IPC benchmarks, with the nats.c client against a
// `nats-server` that bench/run.sh starts. The same shapes as shardline_ipc_bench:
//
//   nats_bench throughput --url nats://127.0.0.1:P [--publishers 4 --subscribers 4 --payload 256
//                         --warmup 1 --duration 5 --window 2048 --batch 64 --server-pid PID]
//   nats_bench responder  --url U [--subject bench.echo --seconds 600]   (a separate process)
//   nats_bench rtt        --url U [--subject bench.echo --count 20000 --warmup 1000 --request-bytes 180]
//   nats_bench throughput-raw | responder-raw | rtt-raw   (same options)
//   nats_bench idle       --url U --server-pid PID [--count 2000 --role client|subscriber]
//
// The -raw modes speak the NATS text protocol over plain non-blocking sockets from one thread,
// exactly like shardline_ipc_bench's clients, so that the broker can be compared with the hub
// without the difference between nats.c's client threads and the Shardline driver.
//
// Throughput uses the same flow control as the Shardline driver (at most `window` messages in
// flight per receiver), so neither side ever drops or overflows. Idle opens N raw connections
// (CONNECT, then PING/PONG; with --role subscriber also a SUB to its own subject) and reports
// the growth of the server's RSS per connection like `shardline_ipc_bench idle`. One JSON
// object on stdout.

#include "bench_common.hpp"

#include <nats/nats.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using bench::steady;

namespace {

void check(natsStatus s, const char* what) {
  if (s != NATS_OK) throw std::runtime_error(std::string(what) + ": " + natsStatus_GetText(s));
}

bool g_global_delivery = false; // --global-delivery 1: nats.c's shared delivery thread pool

natsConnection* connect(const std::string& url, bool send_asap) {
  natsOptions* opts = nullptr;
  check(natsOptions_Create(&opts), "natsOptions_Create");
  check(natsOptions_UseGlobalMessageDelivery(opts, g_global_delivery), "natsOptions_UseGlobalMessageDelivery");
  check(natsOptions_SetURL(opts, url.c_str()), "natsOptions_SetURL");
  check(natsOptions_SetSendAsap(opts, send_asap), "natsOptions_SetSendAsap");
  check(natsOptions_SetNoEcho(opts, true), "natsOptions_SetNoEcho");
  natsConnection* nc = nullptr;
  // The server may still be starting: retry for a few seconds.
  natsStatus s = NATS_NO_SERVER;
  for (int i = 0; i < 100 && s != NATS_OK; ++i) {
    s = natsConnection_Connect(&nc, opts);
    if (s != NATS_OK) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  natsOptions_Destroy(opts);
  check(s, "natsConnection_Connect");
  return nc;
}

struct Counter {
  alignas(64) std::atomic<std::uint64_t> n{0};
};

void on_count(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<Counter*>(closure)->n.fetch_add(1, std::memory_order_relaxed);
  natsMsg_Destroy(msg);
}

int throughput(const bench::Args& a) {
  const std::string url = a.get("url", "");
  const auto o = bench::ThroughputOptions::from(a, "publishers", "subscribers", "server-pid");
  const int pubs = o.senders, subs = o.receivers;
  const int payload = static_cast<int>(o.payload);
  const double warmup = o.warmup, duration = o.duration;
  const std::uint64_t window = o.window, batch = o.batch;
  const long server_pid = o.server_pid;

  std::vector<Counter> got(subs);
  std::vector<natsConnection*> sub_nc(subs), pub_nc(pubs);
  std::vector<natsSubscription*> sub(subs);
  std::vector<std::string> subject(subs);
  for (int r = 0; r < subs; ++r) {
    subject[r] = "bench.r" + std::to_string(r);
    sub_nc[r] = connect(url, false);
    check(natsConnection_Subscribe(&sub[r], sub_nc[r], subject[r].c_str(), on_count, &got[r]), "subscribe");
    check(natsConnection_Flush(sub_nc[r]), "flush");
  }
  for (int i = 0; i < pubs; ++i) pub_nc[i] = connect(url, false);
  const std::string data(static_cast<std::size_t>(payload), 'x');

  std::vector<std::uint64_t> sent_to(subs, 0);
  std::uint64_t total_sent = 0;
  auto total_got = [&] {
    std::uint64_t s = 0;
    for (auto& g : got) s += g.n.load(std::memory_order_relaxed);
    return s;
  };
  const auto t0 = steady::now();
  const auto t_warm = t0 + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(warmup));
  const auto t_end = t_warm + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(duration));
  bool measuring = false;
  std::uint64_t got_at_warm = 0;
  double srv_cpu0 = 0, self_cpu0 = 0;
  steady::time_point warm_at{};
  while (steady::now() < t_end) {
    bool progress = false;
    for (int i = 0; i < pubs; ++i) {
      const int r = i % subs;
      const std::uint64_t inflight = sent_to[r] - got[r].n.load(std::memory_order_relaxed);
      if (inflight >= window) continue;
      const std::uint64_t k = std::min(batch, window - inflight);
      for (std::uint64_t j = 0; j < k; ++j)
        check(natsConnection_Publish(pub_nc[i], subject[r].c_str(), data.data(), payload), "publish");
      sent_to[r] += k;
      total_sent += k;
      progress = true;
    }
    if (!measuring && steady::now() >= t_warm) {
      measuring = true;
      warm_at = steady::now();
      got_at_warm = total_got();
      srv_cpu0 = bench::proc_cpu_s(server_pid);
      self_cpu0 = bench::self_cpu_s();
    }
    if (!progress) std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  const auto end_at = steady::now();
  const std::uint64_t got_at_end = total_got();
  const double srv_cpu1 = bench::proc_cpu_s(server_pid), self_cpu1 = bench::self_cpu_s();
  const double secs = std::chrono::duration<double>(end_at - warm_at).count();

  for (int i = 0; i < pubs; ++i) natsConnection_Flush(pub_nc[i]);
  const auto drain_deadline = steady::now() + std::chrono::seconds(5);
  while (total_got() < total_sent && steady::now() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::int64_t dropped = 0;
  for (int r = 0; r < subs; ++r) {
    int64_t d = 0;
    natsSubscription_GetDropped(sub[r], &d);
    dropped += d;
  }
  const std::uint64_t received = total_got();
  for (int r = 0; r < subs; ++r) {
    natsSubscription_Unsubscribe(sub[r]);
    natsSubscription_Destroy(sub[r]);
    natsConnection_Destroy(sub_nc[r]);
  }
  for (int i = 0; i < pubs; ++i) natsConnection_Destroy(pub_nc[i]);

  const double rate = static_cast<double>(got_at_end - got_at_warm) / secs;
  // Wire size of one message as the subscriber receives it: "MSG <subject> <sid> <len>\r\n<payload>\r\n".
  const double wire = static_cast<double>(4 + subject[0].size() + 3 + std::to_string(payload).size() + 2 + payload + 2);
  bench::Result res;
  res.str("scenario", "throughput")
      .str("system", "nats")
      .num("senders", pubs)
      .num("receivers", subs)
      .num("payload_bytes", payload)
      .num("frame_wire_bytes", wire)
      .num("seconds", secs)
      .num("msgs_per_s", rate)
      .num("mib_per_s", rate * static_cast<double>(payload) / (1024.0 * 1024.0))
      .num("sent_total", static_cast<double>(total_sent))
      .num("received_total", static_cast<double>(received))
      .num("lost", static_cast<double>(total_sent - std::min(total_sent, received)))
      .num("dropped", static_cast<double>(dropped))
      .num("server_cpu_pct", server_pid > 0 ? 100.0 * (srv_cpu1 - srv_cpu0) / secs : -1)
      .num("driver_cpu_pct", 100.0 * (self_cpu1 - self_cpu0) / secs);
  res.print();
  return received == total_sent ? 0 : 1;
}

// The reply a Shardline cluster sends to eval_request, byte for byte in size.
const char kReply[] =
    "{\"op\":\"eval_response\",\"data\":{\"query\":\"guild_count\",\"result\":0},\"source\":\"echo-0\","
    "\"target\":\"bench-rtt\",\"timestamp\":1700000000.000000,\"nonce\":\"0123456789abcdef-0000000000000001\","
    "\"reply_to\":\"0123456789abcdef-0000000000000001\"}";

void on_request(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
  if (const char* reply = natsMsg_GetReply(msg)) natsConnection_Publish(nc, reply, kReply, sizeof kReply - 1);
  natsMsg_Destroy(msg);
}

int responder(const bench::Args& a) {
  const std::string url = a.get("url", ""), subject = a.get("subject", "bench.echo");
  const double seconds = a.real("seconds", 600);
  natsConnection* nc = connect(url, true); // replies leave at once
  natsSubscription* sub = nullptr;
  check(natsConnection_Subscribe(&sub, nc, subject.c_str(), on_request, nullptr), "subscribe");
  check(natsConnection_Flush(nc), "flush");
  std::fprintf(stderr, "responder on %s ready\n", subject.c_str());
  const auto t0 = steady::now();
  // Until the server goes away (run.sh stops it) or the time is up.
  while (bench::since_s(t0) < seconds && !natsConnection_IsClosed(nc))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
  return 0;
}

int rtt(const bench::Args& a) {
  const std::string url = a.get("url", ""), subject = a.get("subject", "bench.echo");
  const long count = a.num("count", 20000), warmup = a.num("warmup", 1000);
  const long request_bytes = a.num("request-bytes", 180);
  const double max_seconds = a.real("max-seconds", 60);
  natsConnection* nc = connect(url, false);
  const std::string data(static_cast<std::size_t>(request_bytes), 'q');

  bool ready = false;
  const auto ready_deadline = steady::now() + std::chrono::seconds(20);
  while (!ready && steady::now() < ready_deadline) {
    natsMsg* reply = nullptr;
    ready = natsConnection_Request(&reply, nc, subject.c_str(), data.data(), static_cast<int>(data.size()), 1000) ==
            NATS_OK;
    if (reply) natsMsg_Destroy(reply);
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ready) throw std::runtime_error("no responder on " + subject);

  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(count));
  long failures = 0;
  std::string first_failure;
  const auto t0 = steady::now();
  for (long i = 0; i < warmup + count && bench::since_s(t0) < max_seconds; ++i) {
    natsMsg* reply = nullptr;
    auto s = steady::now();
    natsStatus st =
        natsConnection_Request(&reply, nc, subject.c_str(), data.data(), static_cast<int>(data.size()), 1000);
    double d = std::chrono::duration<double, std::micro>(steady::now() - s).count();
    if (reply) natsMsg_Destroy(reply);
    if (st != NATS_OK) {
      if (failures++ == 0) first_failure = natsStatus_GetText(st);
      continue;
    }
    if (i >= warmup) us.push_back(d);
  }
  natsConnection_Destroy(nc);
  bench::Result res;
  res.str("scenario", "rtt").str("system", "nats").str("target", subject).num("request_bytes", request_bytes)
      .num("reply_bytes", sizeof kReply - 1);
  bench::add_latency(res, us);
  res.num("failures", static_cast<double>(failures));
  if (!first_failure.empty()) res.str("first_failure", first_failure);
  res.print();
  return failures == 0 && us.size() == static_cast<std::size_t>(count) ? 0 : 1;
}

// ---- raw NATS protocol client ------------------------------------------------------------
// The same design as shardline_ipc_bench's clients (one thread, non-blocking pipelined
// sockets), so the broker is compared with the hub and not nats.c's threads with Asio.

struct RawNats {
  explicit RawNats(std::size_t buffer_bytes = 1 << 20) : buf(buffer_bytes) {}
  RawNats(RawNats&& o) noexcept
      : fd(std::exchange(o.fd, -1)), buf(std::move(o.buf)), b(o.b), e(o.e), out(std::move(o.out)), out_off(o.out_off) {}
  RawNats(const RawNats&) = delete;
  ~RawNats() {
    if (fd >= 0) ::close(fd);
  }

  int fd = -1;
  std::vector<char> buf;
  std::size_t b = 0, e = 0;
  std::string out;
  std::size_t out_off = 0;
  std::uint64_t errors = 0;

  bool has_output() const { return out_off < out.size(); }

  // Non-blocking write of what is queued; false on a dead socket.
  bool flush() { return bench::send_queued(fd, out, out_off); }

  // One non-blocking read: bytes read, 0 if none, -1 on close.
  long read_once() {
    if (b == e) b = e = 0;
    // Room for a 64 KiB read, or a quarter of a small buffer: idle connections' stay small.
    const std::size_t room = std::min<std::size_t>(64 * 1024, buf.size() / 4);
    if (buf.size() - e < room) {
      std::memmove(buf.data(), buf.data() + b, e - b);
      e -= b;
      b = 0;
      if (buf.size() - e < room) buf.resize(buf.size() * 2);
    }
    for (;;) {
      ssize_t n = ::recv(fd, buf.data() + e, buf.size() - e, 0);
      if (n > 0) {
        e += static_cast<std::size_t>(n);
        return n;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
      return -1;
    }
  }

  // Handles every whole protocol message buffered: MSG goes to on_msg(subject, reply, payload),
  // PING is answered, PONG goes to on_pong.
  template <class F, class G>
  void parse(F&& on_msg, G&& on_pong) {
    for (;;) {
      std::string_view rest(buf.data() + b, e - b);
      auto eol = rest.find("\r\n");
      if (eol == std::string_view::npos) return;
      std::string_view line = rest.substr(0, eol);
      if (line.substr(0, 4) == "MSG ") {
        // MSG <subject> <sid> [reply-to] <#bytes>
        std::string_view tok[5];
        int nt = 0;
        std::size_t p = 0;
        while (p < line.size() && nt < 5) {
          auto q = line.find(' ', p);
          if (q == std::string_view::npos) q = line.size();
          if (q > p) tok[nt++] = line.substr(p, q - p);
          p = q + 1;
        }
        std::size_t len = std::strtoul(std::string(tok[nt - 1]).c_str(), nullptr, 10);
        if (rest.size() < eol + 2 + len + 2) return; // payload not complete yet
        on_msg(tok[1], nt == 5 ? tok[3] : std::string_view(), rest.substr(eol + 2, len));
        b += eol + 2 + len + 2;
        continue;
      }
      if (line == "PING") out += "PONG\r\n";
      else if (line == "PONG") on_pong();
      else if (line.substr(0, 4) == "-ERR") {
        if (errors++ == 0) std::fprintf(stderr, "nats: %.*s\n", int(line.size()), line.data());
      }
      b += eol + 2;
    }
  }

  void wait(short events, int ms) {
    pollfd p{fd, events, 0};
    ::poll(&p, 1, ms);
  }

  // Sends what is queued plus PING and reads until PONG (the server has processed it all).
  void sync(double seconds) {
    out += "PING\r\n";
    bool pong = false;
    const auto deadline = steady::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    while (!pong) {
      if (steady::now() > deadline) throw std::runtime_error("nats: no PONG");
      if (!flush()) throw std::runtime_error("nats: write failed");
      if (read_once() < 0) throw std::runtime_error("nats: connection closed");
      parse([](auto, auto, auto) {}, [&] { pong = true; });
      if (!pong) wait(POLLIN | (has_output() ? POLLOUT : 0), 10);
    }
  }

  void open(const std::string& host, int port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      throw std::runtime_error(std::string("nats connect: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    // The server speaks first (INFO); then CONNECT, and PING/PONG proves we are in.
    out += "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false,\"lang\":\"c++\",\"version\":\"bench\","
           "\"protocol\":1}\r\n";
    sync(10);
  }
};

// "nats://127.0.0.1:4222" -> host, port.
void split_url(const std::string& url, std::string& host, int& port) {
  auto s = url.substr(url.find("//") == std::string::npos ? 0 : url.find("//") + 2);
  auto colon = s.rfind(':');
  host = s.substr(0, colon);
  port = std::atoi(s.substr(colon + 1).c_str());
}

int throughput_raw(const bench::Args& a) {
  std::string host;
  int port = 0;
  split_url(a.get("url", ""), host, port);
  const auto o = bench::ThroughputOptions::from(a, "publishers", "subscribers", "server-pid");
  const int pubs = o.senders, subs = o.receivers;
  const int payload = static_cast<int>(o.payload);
  const double warmup = o.warmup, duration = o.duration;
  const std::uint64_t window = o.window, batch = o.batch;
  const long server_pid = o.server_pid;

  std::vector<RawNats> rx(subs), tx(pubs);
  std::vector<std::string> msg(pubs);
  for (int r = 0; r < subs; ++r) {
    rx[r].open(host, port);
    rx[r].out += "SUB bench.r" + std::to_string(r) + " 1\r\n";
    rx[r].sync(10);
  }
  std::vector<int> dest(pubs);
  for (int i = 0; i < pubs; ++i) {
    tx[i].open(host, port);
    dest[i] = i % subs;
    msg[i] = "PUB bench.r" + std::to_string(dest[i]) + " " + std::to_string(payload) + "\r\n" +
             std::string(static_cast<std::size_t>(payload), 'x') + "\r\n";
  }
  std::vector<std::uint64_t> sent_to(subs, 0), got(subs, 0);
  auto total_got = [&] {
    std::uint64_t s = 0;
    for (auto g : got) s += g;
    return s;
  };
  auto noop = [] {};
  auto read_rx = [&](int r) {
    for (int k = 0; k < 4; ++k) {
      long n = rx[r].read_once();
      if (n < 0) throw std::runtime_error("nats: subscriber closed");
      if (n == 0) break;
      rx[r].parse([&](std::string_view, std::string_view, std::string_view) { ++got[r]; }, noop);
      if (rx[r].has_output()) rx[r].flush(); // PONG
    }
  };
  const auto t0 = steady::now();
  const auto t_warm = t0 + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(warmup));
  const auto t_end = t_warm + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(duration));
  bool measuring = false;
  std::uint64_t got_at_warm = 0;
  double srv_cpu0 = 0, self_cpu0 = 0;
  steady::time_point warm_at{};
  std::vector<pollfd> pfds(pubs + subs);
  while (steady::now() < t_end) {
    bool progress = false;
    for (int i = 0; i < pubs; ++i) {
      auto& c = tx[i];
      const int r = dest[i];
      if (!c.has_output()) {
        std::uint64_t inflight = sent_to[r] - got[r];
        std::uint64_t k = inflight < window ? std::min(batch, window - inflight) : 0;
        c.out.reserve(k * msg[i].size());
        for (std::uint64_t j = 0; j < k; ++j) c.out += msg[i];
        sent_to[r] += k;
      }
      if (c.has_output()) {
        auto before = c.out_off;
        if (!c.flush()) throw std::runtime_error("nats: publisher write failed");
        if (c.out_off != before || !c.has_output()) progress = true;
      }
      // The server may PING an idle-reading client; answer so it is never dropped.
      if (c.read_once() > 0) c.parse([](auto, auto, auto) {}, noop);
    }
    for (int r = 0; r < subs; ++r) {
      auto before = got[r];
      read_rx(r);
      if (got[r] != before) progress = true;
    }
    if (!measuring && steady::now() >= t_warm) {
      measuring = true;
      warm_at = steady::now();
      got_at_warm = total_got();
      srv_cpu0 = bench::proc_cpu_s(server_pid);
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
  const double srv_cpu1 = bench::proc_cpu_s(server_pid), self_cpu1 = bench::self_cpu_s();
  const double secs = std::chrono::duration<double>(end_at - warm_at).count();
  std::uint64_t total_sent = 0;
  for (auto s : sent_to) total_sent += s;
  const auto drain_deadline = steady::now() + std::chrono::seconds(5);
  while (total_got() < total_sent && steady::now() < drain_deadline) {
    for (int i = 0; i < pubs; ++i) tx[i].flush();
    for (int r = 0; r < subs; ++r) read_rx(r);
    for (int r = 0; r < subs; ++r) pfds[r] = {rx[r].fd, POLLIN, 0};
    ::poll(pfds.data(), subs, 5);
  }
  std::uint64_t errors = 0;
  for (auto& c : tx) errors += c.errors;
  for (auto& c : rx) errors += c.errors;

  const double rate = static_cast<double>(got_at_end - got_at_warm) / secs;
  const std::string subj = "bench.r0";
  const double wire = static_cast<double>(4 + subj.size() + 3 + std::to_string(payload).size() + 2 + payload + 2);
  bench::Result res;
  res.str("scenario", "throughput")
      .str("system", "nats-raw")
      .num("senders", pubs)
      .num("receivers", subs)
      .num("payload_bytes", payload)
      .num("frame_wire_bytes", wire)
      .num("seconds", secs)
      .num("msgs_per_s", rate)
      .num("mib_per_s", rate * wire / (1024.0 * 1024.0))
      .num("sent_total", static_cast<double>(total_sent))
      .num("received_total", static_cast<double>(total_got()))
      .num("lost", static_cast<double>(total_sent - std::min(total_sent, total_got())))
      .num("error_frames", static_cast<double>(errors))
      .num("server_cpu_pct", server_pid > 0 ? 100.0 * (srv_cpu1 - srv_cpu0) / secs : -1)
      .num("driver_cpu_pct", 100.0 * (self_cpu1 - self_cpu0) / secs);
  res.print();
  return errors == 0 && total_got() == total_sent ? 0 : 1;
}

// Raw responder: answers every request on `subject` with kReply.
int responder_raw(const bench::Args& a) {
  std::string host;
  int port = 0;
  split_url(a.get("url", ""), host, port);
  const std::string subject = a.get("subject", "bench.echo");
  const double seconds = a.real("seconds", 600);
  RawNats c;
  c.open(host, port);
  c.out += "SUB " + subject + " 1\r\n";
  c.sync(10);
  std::fprintf(stderr, "raw responder on %s ready\n", subject.c_str());
  const std::string head_len = " " + std::to_string(sizeof kReply - 1) + "\r\n";
  const auto t0 = steady::now();
  while (bench::since_s(t0) < seconds) {
    long n = c.read_once();
    if (n < 0) return 0; // the server went away: done
    c.parse(
        [&](std::string_view, std::string_view reply, std::string_view) {
          if (reply.empty()) return;
          c.out += "PUB ";
          c.out += reply;
          c.out += head_len;
          c.out.append(kReply, sizeof kReply - 1);
          c.out += "\r\n";
        },
        [] {});
    if (c.has_output() && !c.flush()) return 1;
    if (n == 0) c.wait(POLLIN | (c.has_output() ? POLLOUT : 0), 1000);
  }
  return 0;
}

// Raw requester: sequential requests with a reply subject, as nats.c's Request does.
int rtt_raw(const bench::Args& a) {
  std::string host;
  int port = 0;
  split_url(a.get("url", ""), host, port);
  const std::string subject = a.get("subject", "bench.echo");
  const long count = a.num("count", 20000), warmup = a.num("warmup", 1000);
  const long request_bytes = a.num("request-bytes", 180);
  const double max_seconds = a.real("max-seconds", 60);
  RawNats c;
  c.open(host, port);
  const std::string inbox = "_INBOX.bench." + std::to_string(::getpid());
  c.out += "SUB " + inbox + " 1\r\n";
  c.sync(10);
  const std::string req = "PUB " + subject + " " + inbox + " " + std::to_string(request_bytes) + "\r\n" +
                          std::string(static_cast<std::size_t>(request_bytes), 'q') + "\r\n";
  // One request: true when the reply came before the timeout.
  auto one = [&](double timeout_s) {
    const auto deadline = steady::now() + std::chrono::microseconds(static_cast<long>(timeout_s * 1e6));
    c.out += req;
    bool got = false;
    while (!got) {
      if (!c.flush()) return false;
      long n = c.read_once();
      if (n < 0) return false;
      c.parse([&](std::string_view, std::string_view, std::string_view) { got = true; }, [] {});
      if (got) break;
      if (steady::now() >= deadline) return false;
      if (n == 0) c.wait(POLLIN | (c.has_output() ? POLLOUT : 0), 1000);
    }
    return true;
  };
  bool ready = false;
  const auto ready_deadline = steady::now() + std::chrono::seconds(20);
  while (!ready && steady::now() < ready_deadline) {
    ready = one(1.0);
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ready) throw std::runtime_error("no responder on " + subject);
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(count));
  long failures = 0;
  const auto t0 = steady::now();
  for (long i = 0; i < warmup + count && bench::since_s(t0) < max_seconds; ++i) {
    auto s = steady::now();
    bool ok = one(1.0);
    double d = std::chrono::duration<double, std::micro>(steady::now() - s).count();
    if (!ok) {
      ++failures;
      continue;
    }
    if (i >= warmup) us.push_back(d);
  }
  bench::Result res;
  res.str("scenario", "rtt").str("system", "nats-raw").str("target", subject).num("request_bytes", request_bytes)
      .num("reply_bytes", sizeof kReply - 1);
  bench::add_latency(res, us);
  res.num("failures", static_cast<double>(failures));
  res.print();
  return failures == 0 && us.size() == static_cast<std::size_t>(count) ? 0 : 1;
}

// Memory per idle connection, measured like `shardline_ipc_bench idle`.
int idle_raw(const bench::Args& a) {
  std::string host;
  int port = 0;
  split_url(a.get("url", ""), host, port);
  const long count = a.num("count", 2000);
  const long server_pid = a.num("server-pid", 0);
  const std::string role = a.get("role", "client");
  const double settle = a.real("settle", 1.5);
  if (server_pid <= 0) throw std::runtime_error("idle needs --server-pid");
  if (role != "client" && role != "subscriber") throw std::runtime_error("--role client|subscriber");

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long rss0 = bench::proc_status_kib(server_pid, "VmRSS");
  std::vector<RawNats> conns;
  conns.reserve(static_cast<std::size_t>(count));
  std::string first_failure;
  const auto t0 = steady::now();
  for (long i = 0; i < count && bench::since_s(t0) < 120; ++i) {
    try {
      auto& c = conns.emplace_back(1024); // small buffers: the driver holds thousands of these
      c.open(host, port);                 // INFO, CONNECT, PING -> PONG
      if (role == "subscriber") {
        c.out += "SUB idle." + std::to_string(i) + " 1\r\n";
        c.sync(10);
      }
    } catch (const std::exception& e) {
      // Most likely a server limit (max_connections, descriptors): the rest would fail too.
      first_failure = e.what();
      conns.pop_back();
      break;
    }
  }
  const double connect_s = bench::since_s(t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(settle * 1000)));
  // Still connected? Answer a server PING if one came, so that no connection is dropped.
  long live = 0;
  for (auto& c : conns) {
    if (c.read_once() < 0) continue;
    c.parse([](auto, auto, auto) {}, [] {});
    if (c.flush()) ++live;
  }
  const long rss1 = bench::proc_status_kib(server_pid, "VmRSS");
  const long hwm = bench::proc_status_kib(server_pid, "VmHWM");
  conns.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const long rss2 = bench::proc_status_kib(server_pid, "VmRSS");

  // -1: the server's count of connections needs its monitoring port.
  auto res = bench::idle_memory_result("nats", role, {live, -1.0, connect_s, rss0, rss1, hwm, rss2});
  if (!first_failure.empty()) res.str("first_failure", first_failure);
  res.print();
  return live == count ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s throughput|responder|rtt|throughput-raw|responder-raw|rtt-raw|idle --url nats://HOST:PORT [options]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  bench::Args a(argc, argv, 2);
  if (a.get("url", "").empty()) {
    std::fprintf(stderr, "--url is required\n");
    return 2;
  }
  g_global_delivery = a.num("global-delivery", 0) != 0;
  int rc = 2;
  try {
    if (mode == "throughput") rc = throughput(a);
    else if (mode == "responder") rc = responder(a);
    else if (mode == "rtt") rc = rtt(a);
    else if (mode == "throughput-raw") rc = throughput_raw(a);
    else if (mode == "responder-raw") rc = responder_raw(a);
    else if (mode == "rtt-raw") rc = rtt_raw(a);
    else if (mode == "idle") rc = idle_raw(a);
    else std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nats_bench %s: %s\n", mode.c_str(), e.what());
    rc = 1;
  }
  nats_CloseAndWait(2000);
  return rc;
}
