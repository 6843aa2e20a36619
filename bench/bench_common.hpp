#pragma once
// Small helpers shared by the benchmark drivers: clocks, percentiles, /proc readings and a
// flat JSON result line (the driver prints one object on stdout; bench/run.sh collects them).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <cerrno>

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

namespace bench {

using steady = std::chrono::steady_clock;

inline double since_s(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

// Nearest-rank percentile of already sorted samples.
inline double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// CPU seconds (user + system) a process has used, from /proc/PID/stat; -1 if unknown.
inline double proc_cpu_s(long pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  auto close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields after the command: state(3) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

inline double self_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// A /proc/PID/status field in KiB (VmRSS, VmHWM...); -1 if unknown.
inline long proc_status_kib(long pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}

// One flat JSON object, keys in insertion order.
class Result {
public:
  Result& num(const std::string& k, double v) {
    char buf[64];
    if (v == static_cast<double>(static_cast<long long>(v)) && v > -1e15 && v < 1e15)
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else
      std::snprintf(buf, sizeof buf, "%.6g", v);
    fields_.emplace_back(k, buf);
    return *this;
  }
  Result& str(const std::string& k, const std::string& v) {
    std::string q = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') q += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) q += c;
    }
    fields_.emplace_back(k, q + "\"");
    return *this;
  }
  std::string json() const {
    std::string out = "{";
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (i) out += ",";
      out += "\"" + fields_[i].first + "\":" + fields_[i].second;
    }
    return out + "}";
  }
  void print() const {
    std::printf("%s\n", json().c_str());
    std::fflush(stdout);
  }

private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// Latency samples in microseconds: count, p50, p90, p99, p99.9, max, mean.
inline void add_latency(Result& r, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  r.num("samples", static_cast<double>(us.size()))
      .num("p50_us", percentile(us, 50))
      .num("p90_us", percentile(us, 90))
      .num("p99_us", percentile(us, 99))
      .num("p999_us", percentile(us, 99.9))
      .num("max_us", us.empty() ? 0 : us.back())
      .num("mean_us", us.empty() ? 0 : sum / static_cast<double>(us.size()));
}

// Tiny "--key value" argument reader; every driver option has a default.
class Args {
public:
  Args(int argc, char** argv, int first) {
    for (int i = first; i + 1 < argc; i += 2) kv_.emplace_back(argv[i], argv[i + 1]);
  }
  std::string get(const std::string& k, const std::string& def) const {
    for (auto& [key, v] : kv_)
      if (key == "--" + k) return v;
    return def;
  }
  long num(const std::string& k, long def) const { return std::strtol(get(k, std::to_string(def)).c_str(), nullptr, 10); }
  double real(const std::string& k, double def) const {
    return std::strtod(get(k, std::to_string(def)).c_str(), nullptr);
  }

private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

// Options every throughput driver shares, so each system gets the same load and flow
// control; the keys name senders, receivers and the server's pid in that system's terms.
struct ThroughputOptions {
  int senders = 4, receivers = 4;
  std::size_t payload = 256;
  double warmup = 1.0, duration = 5.0;
  std::uint64_t window = 2048, batch = 64;
  long server_pid = 0;

  static ThroughputOptions from(const Args& a, const char* senders_key, const char* receivers_key,
                                const char* pid_key) {
    ThroughputOptions o;
    o.senders = static_cast<int>(a.num(senders_key, o.senders));
    o.receivers = static_cast<int>(a.num(receivers_key, o.receivers));
    o.payload = static_cast<std::size_t>(a.num("payload", static_cast<long>(o.payload)));
    o.warmup = a.real("warmup", o.warmup);
    o.duration = a.real("duration", o.duration);
    o.window = static_cast<std::uint64_t>(a.num("window", static_cast<long>(o.window)));
    o.batch = static_cast<std::uint64_t>(a.num("batch", static_cast<long>(o.batch)));
    o.server_pid = a.num(pid_key, 0);
    if (o.senders < 1 || o.receivers < 1 || o.senders > 256 || o.receivers > 256)
      throw std::runtime_error("bad counts: 1 to 256 senders and receivers");
    return o;
  }
};

// Writes what `out` holds past `off` to a non-blocking socket, as far as it takes it; the
// buffer empties once all is written. False on a dead socket. Every raw driver's flush().
inline bool send_queued(int fd, std::string& out, std::size_t& off) {
  while (off < out.size()) {
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
  out.clear();
  off = 0;
  return true;
}

// The row every idle-memory driver prints: the server's RSS growth per idle connection that
// was still open when it was measured.
struct IdleMemory {
  long live = 0;        // connections open at the measurement
  double seen = -1;     // connections the server counted (-1: it cannot tell)
  double connect_s = 0; // time to open them all
  long rss_before_kib = 0, rss_after_kib = 0, hwm_kib = 0, rss_after_close_kib = 0;
};

inline Result idle_memory_result(const std::string& system, const std::string& role, const IdleMemory& m) {
  const double per_conn =
      m.live > 0 ? static_cast<double>(m.rss_after_kib - m.rss_before_kib) * 1024.0 / static_cast<double>(m.live) : 0;
  Result res;
  res.str("scenario", "idle_memory")
      .str("system", system)
      .str("role", role)
      .num("connections", static_cast<double>(m.live))
      .num("hub_connections_seen", m.seen)
      .num("connect_seconds", m.connect_s)
      .num("rss_before_kib", static_cast<double>(m.rss_before_kib))
      .num("rss_after_kib", static_cast<double>(m.rss_after_kib))
      .num("rss_hwm_kib", static_cast<double>(m.hwm_kib))
      .num("rss_after_close_kib", static_cast<double>(m.rss_after_close_kib))
      .num("bytes_per_connection", per_conn)
      .num("kib_per_connection", per_conn / 1024.0);
  return res;
}

} // namespace bench
