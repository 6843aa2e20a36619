#include "gateway/session_file.hpp"

#include "core/crypto.hpp"

#include <boost/json.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <limits>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace shardline::gateway {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Bumped if the layout changes incompatibly; a file of another version is ignored.
// Version 1 gained the optional binding fields without a bump: an older Shardline reading a
// newer file ignores them, and a file without them is refused as unbound (SessionBinding).
constexpr std::int64_t kFormatVersion = 1;
constexpr std::size_t kMaxDigestChars = 64; // a hex SHA-256
constexpr std::size_t kApiDigestChars = 16;

std::string errno_text(std::string_view what, const fs::path& p, int err) {
  std::string s(what);
  s += ' ';
  s += p.string();
  s += ": ";
  s += std::strerror(err);
  return s;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Makes a rename in `dir` durable: without it a crash can lose the new directory entry.
void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Non-negative integers: Boost.JSON stores them as int64 when they fit, else as uint64.
bool to_u64(const json::value& v, std::uint64_t& out) {
  if (const auto* i = v.if_int64()) {
    if (*i < 0) return false;
    out = static_cast<std::uint64_t>(*i);
    return true;
  }
  if (const auto* u = v.if_uint64()) {
    out = *u;
    return true;
  }
  return false;
}

bool to_u32(const json::value& v, std::uint32_t& out) {
  std::uint64_t wide = 0;
  if (!to_u64(v, wide) || wide > std::numeric_limits<std::uint32_t>::max()) return false;
  out = static_cast<std::uint32_t>(wide);
  return true;
}

// Parses a file's text; an empty string on success, else what is wrong with it.
std::string parse_session(std::string_view text, SavedSession& s) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return "not valid JSON (" + ec.message() + ")";
  const auto* root = doc.if_object();
  if (!root) return "not a JSON object";
  auto field = [root](std::string_view key) { return root->if_contains(key); };

  const auto* version = field("version");
  if (!version || !version->is_int64() || version->as_int64() != kFormatVersion) return "unknown format version";
  const auto* shard_id = field("shard_id");
  if (!shard_id || !to_u32(*shard_id, s.shard_id)) return "missing or invalid shard_id";
  const auto* shard_count = field("shard_count");
  if (!shard_count || !to_u32(*shard_count, s.shard_count)) return "missing or invalid shard_count";
  const auto* session_id = field("session_id");
  if (!session_id || !session_id->is_string() || session_id->get_string().empty())
    return "missing or invalid session_id";
  s.session_id = session_id->get_string();
  const auto* seq = field("seq");
  if (!seq || !to_u64(*seq, s.seq)) return "missing or invalid seq";
  const auto* resume_url = field("resume_url");
  if (!resume_url || !resume_url->is_string()) return "missing or invalid resume_url";
  s.resume_url = resume_url->get_string();
  const auto* saved_at = field("saved_at_unix_ms");
  if (!saved_at || !saved_at->is_int64()) return "missing or invalid saved_at_unix_ms";
  s.saved_at_unix_ms = saved_at->as_int64();
  // Optional: files of before bindings have neither (and are refused as unbound, by the
  // caller's SessionBinding, not here as malformed).
  for (auto [key, out] : {std::pair{"binding", &s.binding}, std::pair{"binding_api", &s.binding_api}}) {
    const auto* v = field(key);
    if (!v) continue;
    if (!v->is_string() || v->get_string().size() > kMaxDigestChars) return std::string("invalid ") + key;
    *out = v->get_string();
  }
  return {};
}

} // namespace

// ---- SessionBinding ---------------------------------------------------------------------------

SessionBinding::SessionBinding(std::string_view api_base, std::string_view token)
    : key_(hmac_sha256_hex(token, "shardline session binding")), api_base_(api_base) {
  while (!api_base_.empty() && api_base_.back() == '/') api_base_.pop_back();
  api_digest_ = hmac_sha256_hex("shardline session api", api_base_).substr(0, kApiDigestChars);
}

std::string SessionBinding::binding(std::uint32_t shard_count) const {
  return hmac_sha256_hex(key_, api_base_ + '\n' + std::to_string(shard_count));
}

void SessionBinding::bind(SavedSession& s) const {
  s.binding = binding(s.shard_count);
  s.binding_api = api_digest_;
}

std::optional<std::string> SessionBinding::refusal(const SavedSession& s, std::uint32_t shard_count) const {
  if (s.shard_count != shard_count)
    return "it belongs to a layout of " + std::to_string(s.shard_count) + " shards, not " + std::to_string(shard_count);
  if (s.binding.empty())
    return "it is not bound to a bot and an API (saved by an older Shardline, or not by Shardline), so it may "
           "belong to another environment";
  if (constant_time_equal(s.binding, binding(shard_count))) return std::nullopt;
  if (!s.binding_api.empty() && !constant_time_equal(s.binding_api, api_digest_))
    return "it was made with another DISCORD_API_URL (this process uses " + api_base_ + ")";
  if (!s.binding_api.empty()) return "it was made with another DISCORD_TOKEN";
  return "it was made with another DISCORD_API_URL or DISCORD_TOKEN";
}

// ---- SessionFileStore -------------------------------------------------------------------------

SessionFileStore::SessionFileStore(fs::path dir, SessionBinding binding)
    : dir_(std::move(dir)), binding_(std::move(binding)) {}

fs::path SessionFileStore::path_of(std::uint32_t shard_id, std::uint32_t shard_count) const {
  return dir_ / ("shard-" + std::to_string(shard_id) + "-of-" + std::to_string(shard_count) + ".json");
}

bool SessionFileStore::save(const SavedSession& s, std::string& error, bool durable) const {
  std::error_code fs_ec;
  fs::create_directories(dir_, fs_ec);
  if (fs_ec) {
    error = "cannot create " + dir_.string() + ": " + fs_ec.message();
    return false;
  }

  SavedSession bound = s;
  binding_.bind(bound);
  const json::object doc{
      {"version", kFormatVersion},
      {"shard_id", s.shard_id},
      {"shard_count", s.shard_count},
      {"session_id", s.session_id},
      {"seq", s.seq},
      {"resume_url", s.resume_url},
      {"saved_at_unix_ms", s.saved_at_unix_ms},
      {"binding", bound.binding},
      {"binding_api", bound.binding_api},
  };
  const std::string text = json::serialize(doc) + "\n";

  const fs::path target = path_of(s.shard_id, s.shard_count);
  // The temporary file sits in the same directory, so the rename stays on one file system
  // and is atomic; mkstemp makes its name unique and its mode 0600 (a session id is private).
  std::string tmp = target.string() + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    error = errno_text("cannot create a temporary file for", target, errno);
    return false;
  }
  if (!write_all(fd, text) || (durable && ::fsync(fd) != 0)) {
    error = errno_text("cannot write", tmp, errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::close(fd) != 0) {
    error = errno_text("cannot write", tmp, errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    error = errno_text("cannot replace", target, errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (durable) fsync_dir(dir_);
  return true;
}

std::optional<SavedSession> SessionFileStore::load(std::uint32_t shard_id, std::uint32_t shard_count,
                                                   std::string* error) const {
  if (error) error->clear();
  const fs::path p = path_of(shard_id, shard_count);
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    // Absent is the normal case for a shard that never had a session; only other errors
    // (permissions...) are worth reporting.
    if (error && errno != ENOENT) *error = errno_text("cannot read", p, errno);
    return std::nullopt;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    if (error) *error = "cannot read " + p.string();
    return std::nullopt;
  }

  SavedSession s;
  std::string problem = parse_session(buf.str(), s);
  if (problem.empty() && (s.shard_id != shard_id || s.shard_count != shard_count)) {
    // A copied or renamed file: resuming another shard's session would be refused at best.
    problem = "it holds shard " + std::to_string(s.shard_id) + " of " + std::to_string(s.shard_count);
  }
  if (problem.empty())
    if (auto refused = binding_.refusal(s, shard_count)) problem = *refused;
  if (!problem.empty()) {
    if (error) *error = "not resuming the session saved in " + p.string() + ": " + problem;
    return std::nullopt;
  }
  return s;
}

void SessionFileStore::remove(std::uint32_t shard_id, std::uint32_t shard_count) const {
  std::error_code ec;
  fs::remove(path_of(shard_id, shard_count), ec); // missing is fine; nothing else to do on error
}

} // namespace shardline::gateway
