#include "net/zlib_stream.hpp"

#include <isa-l/igzip_lib.h>
#include <zlib.h>

#include <stdexcept>

namespace shardline::net {

struct ZlibStream::State {
  DeflateEngine engine = DeflateEngine::zlib;
  z_stream z{};
  isal_zstream isal{};
};

ZlibStream::ZlibStream(int level) : z_(std::make_unique<State>()) {
  if (deflateInit(&z_->z, level) != Z_OK) throw std::runtime_error("deflateInit failed");
}

ZlibStream::ZlibStream(DeflateEngine engine) : z_(std::make_unique<State>()) {
  z_->engine = engine;
  if (engine == DeflateEngine::zlib) {
    if (deflateInit(&z_->z, 1) != Z_OK) throw std::runtime_error("deflateInit failed");
    return;
  }
  isal_deflate_init(&z_->isal);
  z_->isal.level = 0; // the fastest: LZ77 with one set of Huffman codes, no level buffer
  z_->isal.gzip_flag = IGZIP_ZLIB;
  z_->isal.flush = SYNC_FLUSH;
  // Deflate's fixed codes (BTYPE 01): no code table in each flushed block for the client to
  // read and build, unlike ISA-L's default or trained tables (5 us of inflate per message
  // instead of 1 in the measurement).
  isal_deflate_set_hufftables(&z_->isal, nullptr, IGZIP_HUFFTABLE_STATIC);
}

ZlibStream::~ZlibStream() {
  if (z_->engine == DeflateEngine::zlib) deflateEnd(&z_->z);
}

std::string ZlibStream::compress(std::string_view message) {
  std::string out;
  compress_into(message, out);
  return out;
}

void ZlibStream::compress_into(std::string_view message, std::string& out) {
  if (message.empty()) throw std::invalid_argument("zlib-stream: an empty message cannot be flushed");
  std::size_t used = 0;
  if (z_->engine == DeflateEngine::zlib) {
    auto& z = z_->z;
    out.resize(deflateBound(&z, static_cast<uLong>(message.size())) + 16);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
    z.avail_in = static_cast<uInt>(message.size());
    for (;;) {
      z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
      z.avail_out = static_cast<uInt>(out.size() - used);
      int rc = deflate(&z, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("deflate failed");
      used = out.size() - z.avail_out;
      // Done when zlib had room to spare: all input consumed and the flush marker written.
      if (z.avail_out != 0 && z.avail_in == 0) break;
      out.resize(out.size() * 2);
    }
  } else {
    auto& z = z_->isal;
    // Static tables can expand incompressible bytes a little; the loop grows the buffer.
    out.resize(message.size() + message.size() / 4 + 64);
    z.next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(message.data()));
    z.avail_in = static_cast<std::uint32_t>(message.size());
    for (;;) {
      z.next_out = reinterpret_cast<std::uint8_t*>(out.data() + used);
      z.avail_out = static_cast<std::uint32_t>(out.size() - used);
      if (isal_deflate(&z) != COMP_OK) throw std::runtime_error("isal_deflate failed");
      used = out.size() - z.avail_out;
      // As with zlib: with output room left over, all input is in and the flush is written.
      if (z.avail_out != 0 && z.avail_in == 0) break;
      out.resize(out.size() * 2);
    }
  }
  out.resize(used);
}

} // namespace shardline::net
