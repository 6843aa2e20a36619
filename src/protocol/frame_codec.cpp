#include "protocol/frame_codec.hpp"

#include <cstring>

namespace shardline::protocol {

FrameDecoder::FrameDecoder(std::size_t max_frame, std::size_t initial_capacity)
    : buf_(initial_capacity), max_frame_(max_frame) {}

char* FrameDecoder::prepare(std::size_t& available, std::size_t min_bytes) {
  if (begin_ == end_) begin_ = end_ = 0;
  if (buf_.size() - end_ < min_bytes) {
    // Compact first; grow only if the pending bytes plus the request do not fit.
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < min_bytes) buf_.resize(end_ + min_bytes);
  }
  available = buf_.size() - end_;
  return buf_.data() + end_;
}

DecodeStatus FrameDecoder::next(std::string_view& body, std::string_view& wire) {
  std::size_t have = end_ - begin_;
  if (have < kHeaderBytes) return DecodeStatus::need_more;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + begin_);
  std::uint32_t n = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) |
                    (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
  if (n == 0) return DecodeStatus::zero_length;
  if (n > max_frame_) return DecodeStatus::too_large;
  if (have < kHeaderBytes + n) {
    // Make sure the whole frame will fit without another round of growth per read.
    if (buf_.size() - begin_ < kHeaderBytes + n) {
      std::memmove(buf_.data(), buf_.data() + begin_, have);
      begin_ = 0;
      end_ = have;
      if (buf_.size() < kHeaderBytes + n) buf_.resize(kHeaderBytes + n);
    }
    return DecodeStatus::need_more;
  }
  wire = std::string_view(buf_.data() + begin_, kHeaderBytes + n);
  body = wire.substr(kHeaderBytes);
  begin_ += kHeaderBytes + n;
  return DecodeStatus::frame;
}

void FrameDecoder::shrink_if_idle(std::size_t keep) {
  if (begin_ == end_ && buf_.size() > keep) {
    std::vector<char>(keep).swap(buf_);
    begin_ = end_ = 0;
  }
}

void append_frame(std::string& out, std::string_view body) {
  auto n = static_cast<std::uint32_t>(body.size());
  char hdr[4] = {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
  out.append(hdr, 4);
  out.append(body);
}

std::string encode_frame(std::string_view body) {
  std::string out;
  out.reserve(body.size() + 4);
  append_frame(out, body);
  return out;
}

} // namespace shardline::protocol
