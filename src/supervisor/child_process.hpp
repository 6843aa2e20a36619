#pragma once
// Child processes of the supervisor: started with fork and exec, told by the kernel to get
// SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), so no child outlives it, even after
// kill -9 of the supervisor.

#include "core/error.hpp"

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace shardline::supervisor {

struct ChildSpec {
  std::string exe;                          // absolute path
  std::vector<std::string> args;            // argv[1..]
  std::map<std::string, std::string> env;   // the whole environment of the child
};

// The supervisor's own environment, as a map to build a child's from.
std::map<std::string, std::string> own_environment();

// Returns the child's pid, or io when fork fails. A failed exec makes the child exit with code
// 127 (seen by the reaper like any other exit).
Result<pid_t> spawn_child(const ChildSpec& spec);

// Sends `sig` to a child's process group (each child leads its own: a wrapper's own children,
// SHARD_CLUSTER_COMMAND="sh -c ...", get it too), or to the process alone when that fails.
// Nothing for pid 0.
void signal_group(pid_t pid, int sig);

// One finished child, from waitpid(WNOHANG); pid 0 when none.
struct ChildExit {
  pid_t pid = 0;
  int status = 0; // as from waitpid
};
ChildExit reap_one();

// "exit code 1", "killed by signal 9 (Killed)".
std::string describe_exit(int status);

} // namespace shardline::supervisor
