#include "sim/zlib_stream.hpp"

#include <zlib.h>

#include <stdexcept>

namespace shardline::sim {

struct ZlibStream::State {
  z_stream s{};
};

ZlibStream::ZlibStream(int level) : z_(new State) {
  if (deflateInit(&z_->s, level) != Z_OK) {
    delete z_;
    throw std::runtime_error("deflateInit failed");
  }
}

ZlibStream::~ZlibStream() {
  deflateEnd(&z_->s);
  delete z_;
}

std::string ZlibStream::compress(std::string_view message) {
  std::string out;
  compress_into(message, out);
  return out;
}

void ZlibStream::compress_into(std::string_view message, std::string& out) {
  out.resize(deflateBound(&z_->s, static_cast<uLong>(message.size())) + 16);
  z_->s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z_->s.avail_in = static_cast<uInt>(message.size());
  std::size_t used = 0;
  for (;;) {
    z_->s.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z_->s.avail_out = static_cast<uInt>(out.size() - used);
    int rc = deflate(&z_->s, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("deflate failed");
    used = out.size() - z_->s.avail_out;
    // Done when zlib had room to spare: all input consumed and the flush marker written.
    if (z_->s.avail_out != 0 && z_->s.avail_in == 0) break;
    out.resize(out.size() * 2);
  }
  out.resize(used);
}

} // namespace shardline::sim
