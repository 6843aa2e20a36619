#include "gateway/zlib_inflater.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace shardline::gateway {

namespace {
constexpr char kFlushMarker[4] = {'\x00', '\x00', '\xff', '\xff'};

bool ends_with_flush_marker(std::string_view s) {
  return s.size() >= 4 && std::memcmp(s.data() + s.size() - 4, kFlushMarker, 4) == 0;
}

// First guess at a payload's inflated size: JSON compresses to roughly a quarter to a tenth.
// Only this much of `out` is zero-filled up front, so a small payload costs little even when
// `out` kept a large capacity from an earlier GUILD_CREATE.
constexpr std::size_t kMinOutput = 16 * 1024;
} // namespace

struct ZlibInflater::State {
  z_stream z{};
  bool initialized = false;
  // Set on a corrupt stream or an oversized message: the context is unusable (its window may
  // hold garbage), so every later feed fails until reset().
  bool failed = false;

  State() { initialized = inflateInit(&z) == Z_OK; }
  ~State() {
    if (initialized) inflateEnd(&z);
  }
};

ZlibInflater::ZlibInflater(std::size_t max_message_bytes)
    : z_(std::make_unique<State>()), max_(max_message_bytes) {}

ZlibInflater::~ZlibInflater() = default;

void ZlibInflater::reset() {
  if (z_->initialized) {
    z_->initialized = inflateReset(&z_->z) == Z_OK; // keeps the window allocation
  } else {
    z_->initialized = inflateInit(&z_->z) == Z_OK;
  }
  z_->failed = false;
  pending_.clear();
}

ZlibInflater::Result ZlibInflater::feed(std::string_view compressed, std::string& out) {
  bytes_in_ += compressed.size();
  if (!z_->initialized || z_->failed) return Result::error;

  // Compressed data is never much larger than what it inflates to (stored blocks add 5 bytes
  // per 64 KiB, each flush a few bytes), so a buffered message beyond this bound cannot
  // inflate to an acceptable payload: fail now instead of buffering without end.
  const std::size_t max_pending = max_ + max_ / 1024 + 4096;
  // The marker may itself be split over two websocket messages: look at the buffered tail too.
  bool complete = ends_with_flush_marker(compressed);
  if (!complete && compressed.size() < 4 && pending_.size() + compressed.size() >= 4) {
    char tail[4];
    const std::size_t from_pending = 4 - compressed.size();
    std::memcpy(tail, pending_.data() + pending_.size() - from_pending, from_pending);
    std::memcpy(tail + from_pending, compressed.data(), compressed.size());
    complete = ends_with_flush_marker(std::string_view(tail, 4));
  }
  if (!complete) {
    if (pending_.size() + compressed.size() > max_pending) {
      z_->failed = true;
      pending_.clear();
      return Result::error;
    }
    pending_.append(compressed);
    return Result::need_more;
  }

  std::string_view input = compressed;
  if (!pending_.empty()) {
    pending_.append(compressed);
    input = pending_;
  }

  z_stream& z = z_->z;
  // One byte beyond max_ is room to notice that a payload is too large.
  const std::size_t out_limit = max_ == SIZE_MAX ? max_ : max_ + 1;
  std::size_t produced = 0;
  out.resize(std::min(out_limit, std::max(kMinOutput, input.size() * 4)));

  auto fail = [&] {
    z_->failed = true;
    pending_.clear();
    out.clear();
    return Result::error;
  };

  // A failed call may have left the previous input behind; never read it again.
  z.next_in = nullptr;
  z.avail_in = 0;
  const auto* next_in = reinterpret_cast<const Bytef*>(input.data());
  std::size_t remaining_in = input.size();
  for (;;) {
    if (z.avail_in == 0 && remaining_in > 0) { // avail_in is 32-bit: feed in chunks
      z.next_in = const_cast<Bytef*>(next_in);
      z.avail_in = static_cast<uInt>(std::min<std::size_t>(remaining_in, UINT_MAX));
      next_in += z.avail_in;
      remaining_in -= z.avail_in;
    }
    if (produced == out.size()) {
      if (out.size() >= out_limit) return fail(); // over max_message_bytes
      out.resize(std::min(out_limit, out.size() * 2));
    }
    const std::size_t room = std::min<std::size_t>(out.size() - produced, UINT_MAX);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    z.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&z, Z_SYNC_FLUSH);
    produced += room - z.avail_out;
    if (produced > max_) return fail();

    const bool input_done = z.avail_in == 0 && remaining_in == 0;
    if (rc == Z_STREAM_END) {
      // Discord never finishes the stream; a finished one with bytes left after it is corrupt.
      if (!input_done) return fail();
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return fail(); // Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR...
    // All input consumed and output space left over: the sync flush emitted everything.
    if (input_done && z.avail_out > 0) break;
    // No progress with both input and output available cannot happen on a sound stream.
    if (rc == Z_BUF_ERROR && z.avail_out > 0) return fail();
  }
  z.next_in = nullptr;
  z.avail_in = 0;
  out.resize(produced);
  pending_.clear();
  bytes_out_ += produced;
  return Result::message;
}

} // namespace shardline::gateway
