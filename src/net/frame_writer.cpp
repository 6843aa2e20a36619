#include "net/frame_writer.hpp"

#include "protocol/frame_codec.hpp"

namespace shardline::net {

using protocol::kHeaderBytes;
using protocol::append_frame;
namespace {
// Buffers larger than this are released once drained, so a burst does not pin memory.
constexpr std::size_t kKeepCapacity = 64 * 1024;
} // namespace

bool FrameWriter::push_wire(std::string_view wire, const std::shared_ptr<void>& owner, bool ignore_cap) {
  if (!ignore_cap && queued() + wire.size() > max_queued_) return false;
  pending_.append(wire);
  schedule(owner);
  return true;
}

bool FrameWriter::push_body(std::string_view body, const std::shared_ptr<void>& owner, bool ignore_cap) {
  if (!ignore_cap && queued() + body.size() + kHeaderBytes > max_queued_) return false;
  append_frame(pending_, body);
  schedule(owner);
  return true;
}

void FrameWriter::schedule(const std::shared_ptr<void>& owner) {
  if (writing_ || posted_) return;
  posted_ = true;
  // Deferred to the end of this turn so everything routed now shares one write.
  asio::post(stream_.socket().get_executor(), [this, owner] {
    posted_ = false;
    start_write(owner);
  });
}

void FrameWriter::start_write(std::shared_ptr<void> owner) {
  if (writing_ || pending_.empty()) return;
  inflight_.swap(pending_);
  writing_ = true;
  write_started_ = std::chrono::steady_clock::now();
  auto done = [this, owner](const boost::system::error_code& ec, std::size_t) {
    writing_ = false;
    inflight_.clear();
    if (inflight_.capacity() > kKeepCapacity) std::string().swap(inflight_);
    if (ec) {
      if (on_error_) on_error_(ec);
      return;
    }
    if (!pending_.empty()) start_write(owner);
    else {
      if (pending_.capacity() > kKeepCapacity) std::string().swap(pending_);
      if (on_drained_) on_drained_();
    }
  };
  if (auto* tls = stream_.tls()) asio::async_write(*tls, asio::buffer(inflight_), std::move(done));
  else asio::async_write(stream_.socket(), asio::buffer(inflight_), std::move(done));
}

} // namespace shardline::net
