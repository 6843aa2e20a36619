#include "rest/rest_cache.hpp"

#include "core/clock.hpp"
#include "core/crypto.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include <unistd.h>

namespace shardline::rest {

namespace json = boost::json;

namespace {
constexpr std::size_t kMaxBytes = 1u << 20;
} // namespace

RestCache::RestCache(std::filesystem::path dir, const std::string& api_url, const std::string& token)
    : dir_(std::move(dir)), key_(hmac_sha256_hex(token, api_url).substr(0, 16)) {}

std::filesystem::path RestCache::file(const std::string& name) const { return dir_ / (name + "-" + key_ + ".json"); }

std::optional<RestCache::Entry> RestCache::load(const std::string& name, std::chrono::milliseconds max_age) const {
  std::error_code size_ec;
  auto size = std::filesystem::file_size(file(name), size_ec);
  if (size_ec || size > kMaxBytes) return std::nullopt;
  std::ifstream in(file(name), std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream buf;
  buf << in.rdbuf();
  auto text = buf.str();
  if (text.size() > kMaxBytes) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto* at = v.as_object().if_contains("saved_at_ms");
  auto* body = v.as_object().if_contains("body");
  if (!at || !at->is_int64() || !body || !body->is_string()) return std::nullopt;
  auto age = std::chrono::milliseconds(wall_clock_ms() - at->as_int64());
  // A clock that went back makes a negative age: not to be trusted either.
  if (age.count() < 0 || age > max_age) return std::nullopt;
  return Entry{std::string(body->as_string()), age};
}

void RestCache::save(const std::string& name, const std::string& body) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  auto path = file(name);
  auto tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << json::serialize(json::object{{"saved_at_ms", wall_clock_ms()}, {"body", body}});
    if (!out) {
      spdlog::debug("cannot write {}", tmp.string());
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    spdlog::debug("cannot write {}: {}", path.string(), ec.message());
    std::filesystem::remove(tmp, ec);
  }
}

} // namespace shardline::rest
