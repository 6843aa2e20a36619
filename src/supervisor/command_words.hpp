#pragma once
// SHARD_CLUSTER_COMMAND and SHARD_BOT_COMMAND are a program and its arguments written the way an
// operator writes them in a shell (`node bot.js`, `python3 "my bot.py" --flag`), but no shell
// runs them: the supervisor splits them into words itself and execs the first (looked up in
// PATH). Only the quoting of a POSIX shell's word splitting is honoured, no expansion:
//
//   - blanks (space, tab, newline) separate words;
//   - '...' keeps everything inside literally;
//   - "..." keeps everything inside, except that \" and \\ stand for " and \;
//   - outside quotes, \ makes the next character literal (`my\ bot.py` is one word);
//   - quotes next to other characters join them into one word (`--name="a b"`), and '' or ""
//     alone is an empty word.
//
// An unterminated quote or a trailing backslash is an error naming the setting: a command that
// cannot be read as the operator meant it must not be run as something else.

#include "core/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace shardline::supervisor {

// The words of `command`; empty when it is empty or blank. bad_input naming `setting` (e.g.
// "SHARD_BOT_COMMAND") and what is wrong.
Result<std::vector<std::string>> split_command_words(std::string_view command, std::string_view setting);

} // namespace shardline::supervisor
