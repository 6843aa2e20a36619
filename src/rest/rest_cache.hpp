#pragma once
// Answers of slow-changing REST routes (GET /gateway/bot, GET /oauth2/applications/@me) kept
// for a short while in SHARD_DATA_DIR, shared by the cluster processes of one machine: a
// rolling restart or a respawn then costs no request, and the route's rate limit (a few per
// 5 s) is not spent by every process start.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace shardline::rest {

class RestCache {
public:
  // Entries are per bot and per API: `api_url` and `token` pick the files (through a keyed
  // hash; neither is written), so a shared directory, a new token or a switch between the
  // simulator and Discord never hands one bot another's answers.
  RestCache(std::filesystem::path dir, const std::string& api_url, const std::string& token);

  // The body saved under `name` at most `max_age` ago (by the wall clock), with its age.
  struct Entry {
    std::string body;
    std::chrono::milliseconds age{0};
  };
  std::optional<Entry> load(const std::string& name, std::chrono::milliseconds max_age) const;
  // Written atomically (a reader never sees half a file); failures are logged, not thrown.
  void save(const std::string& name, const std::string& body) const;

private:
  std::filesystem::path file(const std::string& name) const;

  std::filesystem::path dir_;
  std::string key_;
};

} // namespace shardline::rest
