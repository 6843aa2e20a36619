#include "supervisor/command_words.hpp"

#include <fmt/format.h>

namespace shardline::supervisor {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

} // namespace

Result<std::vector<std::string>> split_command_words(std::string_view command, std::string_view setting) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false; // a word has begun (it may still be empty: '' or "")
  auto bad = [&](std::size_t at, std::string_view what) {
    return fail(Errc::bad_input, fmt::format("{}: {} (at character {} of `{}`); no shell reads this setting, only "
                                             "quotes and backslashes as a shell's word splitting has them",
                                             setting, what, at + 1, command));
  };
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (blank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      if (i + 1 == command.size()) return bad(i, "a backslash ends the command");
      word += command[++i];
    } else if (c == '\'') {
      auto end = command.find('\'', i + 1);
      if (end == std::string_view::npos) return bad(i, "a single quote is not closed");
      word.append(command.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '"') {
      const auto open = i;
      for (++i;; ++i) {
        if (i == command.size()) return bad(open, "a double quote is not closed");
        if (command[i] == '"') break;
        if (command[i] == '\\' && i + 1 < command.size() && (command[i + 1] == '"' || command[i + 1] == '\\')) ++i;
        word += command[i];
      }
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

} // namespace shardline::supervisor
