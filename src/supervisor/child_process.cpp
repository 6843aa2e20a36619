#include "supervisor/child_process.hpp"

#include <fmt/format.h>

#include <csignal>
#include <pthread.h>
#include <cstring>
#include <string_view>
#include <system_error>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace shardline::supervisor {

std::map<std::string, std::string> own_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  return env;
}

Result<pid_t> spawn_child(const ChildSpec& spec) {
  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> argv{const_cast<char*>(spec.exe.c_str())};
  for (auto& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = getpid();

  // Signals stay blocked from before fork until the child has reset them: the parent's
  // handlers (Asio's, for SIGCHLD, SIGTERM...) must never run in the child, and a SIGTERM from
  // PR_SET_PDEATHSIG must not be swallowed by one.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return fail(Errc::io, fmt::format("fork: {}", std::generic_category().message(err)));
  }
  if (pid == 0) {
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    // SIGTERM (not SIGKILL): a cluster whose supervisor died still saves its sessions.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1); // the supervisor died before prctl took effect
    // Its own process group: a terminal's Ctrl-C or hangup reaches the supervisor, which
    // stops its clusters in order, not every process at once.
    setpgid(0, 0);
    // The hub's sockets (listening and accepted) and the supervisor's link stay with the
    // supervisor: a child holding them would keep the port busy and connections half-open.
    close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // execvpe: a bare program name (SHARD_CLUSTER_COMMAND="node bot.js") is found in PATH.
    execvpe(spec.exe.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

void signal_group(pid_t pid, int sig) {
  if (pid <= 0) return;
  if (::kill(-pid, sig) != 0) ::kill(pid, sig);
}

ChildExit reap_one() {
  int status = 0;
  pid_t pid = waitpid(-1, &status, WNOHANG);
  if (pid <= 0) return {};
  return {pid, status};
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return fmt::format("exit code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("status {}", status);
}

} // namespace shardline::supervisor
