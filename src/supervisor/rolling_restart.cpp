// The rolling restart (`shardline restart --rolling`, SIGHUP): one cluster at a time, the old
// process saves its sessions and exits, the new generation resumes them; the next cluster only
// once every shard of this one is READY again. No other cluster is touched meanwhile.
#include "supervisor/supervisor_impl.hpp"

#include "net/spawn_owned.hpp"
#include "supervisor/child_process.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>

namespace shardline::supervisor {

namespace {

// The cluster closes its shards resumably and exits within 3 s of SIGTERM; then it is killed,
// and given as long again to be reaped.
constexpr auto kExitWait = std::chrono::seconds(5);
constexpr auto kReadyWait = std::chrono::minutes(10);

} // namespace

void Supervisor::start_rolling() {
  const auto now = activity();
  if (now.rolling || now.resharding || now.bots || now.stopping || slots_.empty()) return;
  rolling_ = {};
  rolling_.running = true;
  net::spawn_owned(io_, rolling_restart(), "rolling restart");
}

asio::awaitable<void> Supervisor::rolling_restart() {
  const auto began = steady::now();
  for (auto& sp : slots_) {
    auto& s = *sp;
    if (stopping_) break;
    rolling_.current = s.spec.name;
    if (s.given_up || !s.pid || s.restart_pending) {
      spdlog::warn("launch: rolling restart skips {} (not running)", s.spec.name);
      ++rolling_.skipped;
      continue;
    }
    const auto t0 = steady::now();
    s.replacing = true;
    signal_group(s.pid, SIGTERM);
    if (!co_await wait_exited(&s, kExitWait)) {
      signal_group(s.pid, SIGKILL);
      co_await wait_exited(&s, kExitWait);
    }
    if (s.pid) {
      s.replacing = false; // its exit, whenever it comes, is a death again
      rolling_.error = s.spec.name + " did not exit";
      break;
    }
    if (stopping_) break;
    spawn(s);
    if (!co_await wait_ready(&s, kReadyWait)) {
      rolling_.error = fmt::format("{}'s shards were not all READY within 10 minutes", s.spec.name);
      spdlog::error("launch: rolling restart stopped: {}", rolling_.error);
      break;
    }
    ++rolling_.done;
    spdlog::info("launch: rolling restart: {} replaced in {:.2f} s ({}/{})", s.spec.name,
                 std::chrono::duration<double>(steady::now() - t0).count(), rolling_.done, slots_.size());
  }
  if (stopping_ && rolling_.error.empty()) rolling_.error = "the supervisor is stopping";
  if (rolling_.error.empty())
    spdlog::info("launch: rolling restart done: {} clusters in {:.1f} s", slots_.size(),
                 std::chrono::duration<double>(steady::now() - began).count());
  rolling_.current.clear();
  rolling_.running = false;
}

} // namespace shardline::supervisor
