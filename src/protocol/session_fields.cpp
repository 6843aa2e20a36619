#include "protocol/session_fields.hpp"

#include <algorithm>

namespace shardline::protocol {

bool valid_session_id(std::string_view s) {
  return !s.empty() && s.size() <= kMaxSessionIdChars && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-';
         });
}

bool valid_session_binding(std::string_view s) { return s.size() <= kMaxBindingChars && valid_session_id(s); }

bool valid_resume_url(std::string_view s) {
  if (s.size() > kMaxResumeUrlChars) return false;
  const std::size_t scheme = s.starts_with("ws://") ? 5 : s.starts_with("wss://") ? 6 : 0;
  if (scheme == 0 || s.size() == scheme) return false; // no scheme, or no host
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return c > 0x20 && c < 0x7f && c != '"' && c != '\\'; });
}

} // namespace shardline::protocol
