#pragma once
// UTF-8 text limits: Discord and the IPC contract count characters (code points), not bytes,
// so a limit must neither count continuation bytes nor cut a character in half.

#include <cstddef>
#include <string>
#include <string_view>

namespace shardline {

// Code points in a UTF-8 string (lead bytes; a malformed string is counted the same way).
inline std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// The first `max_chars` characters of `s`, never ending inside a character.
inline std::string cap_characters(std::string s, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (chars++ == max_chars) {
      s.resize(i);
      break;
    }
  }
  return s;
}

// `s` with control characters (newlines included) shown as spaces: text from a peer written
// to a log line cannot forge the lines after it.
inline std::string one_log_line(std::string s) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return s;
}

} // namespace shardline
