#include "gateway/state_writer.hpp"

#include <boost/asio/post.hpp>

#include <future>

namespace shardline::gateway {

StateWriter::~StateWriter() { pool_.join(); }

void StateWriter::post(std::function<void()> job) {
  boost::asio::post(pool_, [this, job = std::move(job)] {
    if (!discarded_) job();
  });
}

void StateWriter::flush() {
  std::promise<void> done;
  auto ran = done.get_future();
  boost::asio::post(pool_, [&done] { done.set_value(); });
  ran.wait();
}

} // namespace shardline::gateway
