#include "ratelimit/rest_route.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <cctype>
#include <vector>

namespace shardline::ratelimit {

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

} // namespace

RestRoute classify_rest_route(std::string_view method, std::string_view path) {
  if (auto q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
  auto seg = split_path(path);
  RestRoute r;
  std::string upper(method);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  r.route = upper + " ";
  const std::string_view first = seg.empty() ? std::string_view() : seg[0];
  const bool major_kind = first == "channels" || first == "guilds" || first == "webhooks" || first == "interactions";
  for (std::size_t i = 0; i < seg.size(); ++i) {
    r.route += '/';
    auto s = seg[i];
    if (i == 1 && major_kind && all_digits(s)) {
      // The major parameter: kept apart, so the route is the same for every channel.
      std::string kind = first == "channels"   ? "channel"
                         : first == "guilds"   ? "guild"
                         : first == "webhooks" ? "webhook"
                                               : "interaction";
      r.major = kind + ":" + std::string(s);
      r.route += "{" + kind + "}";
    } else if (i == 2 && (first == "webhooks" || first == "interactions")) {
      // The webhook's or interaction's token: a secret, never kept. A webhook's bucket is per
      // token (each interaction's follow-ups have their own): the major keeps a hash of it.
      r.route += "{token}";
      if (first == "webhooks" && !r.major.empty()) {
        char h[17];
        std::snprintf(h, sizeof h, "%016zx", std::hash<std::string_view>{}(s));
        r.major += ":";
        r.major += h;
      }
    } else if (i >= 1 && seg[i - 1] == "reactions") {
      r.route += "{emoji}";
    } else if (all_digits(s)) {
      r.route += "{id}";
    } else {
      r.route.append(s.data(), s.size());
    }
  }
  if (seg.empty()) r.route += '/';
  // Discord: "Interaction endpoints are not bound to the bot's Global Rate Limit", and
  // neither are the webhook routes a token authorizes.
  r.global_exempt = (first == "interactions" && seg.size() >= 3) || (first == "webhooks" && seg.size() >= 3);
  return r;
}

} // namespace shardline::ratelimit
