#pragma once
// Outbound queue of one connection. Frames queued during one turn of the event loop leave in
// a single write (batching); while a write is in flight new frames wait in a second buffer.
// The queue is capped so that one slow reader cannot bloat the process: push() reports the
// overflow and the owner decides (the hub disconnects a slow consumer).

#include "net/stream.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace shardline::net {

class FrameWriter {
public:
  using ErrorHandler = std::function<void(const boost::system::error_code&)>;

  FrameWriter(IpcStream& stream, std::size_t max_queued) : stream_(stream), max_queued_(max_queued) {}

  // Queues already framed bytes (prefix included). `owner` keeps the connection alive until
  // the write completes. Returns false, queueing nothing, when the cap would be passed.
  bool push_wire(std::string_view wire, const std::shared_ptr<void>& owner, bool ignore_cap = false);
  // Frames `body` and queues it.
  bool push_body(std::string_view body, const std::shared_ptr<void>& owner, bool ignore_cap = false);

  void on_error(ErrorHandler h) { on_error_ = std::move(h); }
  // Called whenever the queue becomes empty after a write.
  void on_drained(std::function<void()> h) { on_drained_ = std::move(h); }

  std::size_t queued() const { return pending_.size() + inflight_.size(); }
  bool busy() const { return writing_ || posted_ || !pending_.empty(); }
  // When the write in flight started (for a write deadline); meaningful while writing().
  bool writing() const { return writing_; }
  std::chrono::steady_clock::time_point write_started() const { return write_started_; }

private:
  void schedule(const std::shared_ptr<void>& owner);
  void start_write(std::shared_ptr<void> owner);

  IpcStream& stream_;
  std::size_t max_queued_;
  std::string pending_;
  std::string inflight_;
  bool writing_ = false;
  bool posted_ = false;
  std::chrono::steady_clock::time_point write_started_{};
  ErrorHandler on_error_;
  std::function<void()> on_drained_;
};

} // namespace shardline::net
