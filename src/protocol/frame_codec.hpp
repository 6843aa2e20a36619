#pragma once
// Length-prefixed framing (docs/protocol.md §1): uint32 big-endian N, then N bytes of JSON.
// Pure code, no I/O: the decoder is fed bytes and hands out whole frames, so it is shared by
// the hub, the cluster link and the fuzz target.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::protocol {

inline constexpr std::size_t kMaxFrameBytes = 1'000'000;
inline constexpr std::size_t kHeaderBytes = 4;

enum class DecodeStatus {
  frame,       // `next` filled a frame
  need_more,   // no whole frame buffered yet
  zero_length, // protocol violation: close the connection
  too_large,   // protocol violation: close the connection
};

class FrameDecoder {
public:
  explicit FrameDecoder(std::size_t max_frame = kMaxFrameBytes, std::size_t initial_capacity = 4096);

  // Room to read at least `min_bytes` into; call commit() with what was read.
  char* prepare(std::size_t& available, std::size_t min_bytes = 2048);
  void commit(std::size_t n) { end_ += n; }

  // Next whole frame. `body` (JSON) and `wire` (prefix + body) stay valid until the next
  // call to prepare() or next().
  DecodeStatus next(std::string_view& body, std::string_view& wire);

  // A length prefix (or part of one) has arrived but the body is not complete: the body
  // deadline applies.
  bool mid_frame() const { return end_ > begin_; }

  void set_max_frame(std::size_t max) { max_frame_ = max; }
  std::size_t max_frame() const { return max_frame_; }
  std::size_t capacity() const { return buf_.size(); }
  // Gives memory back after a large frame once the buffer is empty.
  void shrink_if_idle(std::size_t keep);

private:
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t max_frame_;
};

// Appends prefix + body to `out`.
void append_frame(std::string& out, std::string_view body);
std::string encode_frame(std::string_view body);

} // namespace shardline::protocol
