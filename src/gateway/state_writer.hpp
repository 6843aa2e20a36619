// The shards' saved state (session files, guild snapshots) written off the io thread.
//
// Every shard saves its session once a second while events flow: a temporary file and a rename,
// which took 0.2 to 27 ms each on the CI-sized machine (docs/benchmark-notes.md, "The bot
// endpoint's added latency"). On the io thread that time stalls every shard's reads, heartbeats
// and the bot endpoint's writes. One writer thread takes the jobs in the order they were posted,
// so a removal posted after a save is never overtaken by it.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <functional>

namespace shardline::gateway {

class StateWriter {
public:
  StateWriter() = default;
  // Runs what is still queued (unless discarded), then joins the thread.
  ~StateWriter();
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // `job` runs on the writer thread after every job posted before it. It must not touch what
  // the io thread changes: give it copies.
  void post(std::function<void()> job);
  // Blocks until every job posted so far has run (or was discarded): a durable save done on the
  // caller's thread afterwards is the last word.
  void flush();
  // Jobs not yet started are dropped, and so are later ones: a process superseded by a newer one
  // must not write over the files that are the newer one's now.
  void discard() { discarded_ = true; }

private:
  boost::asio::thread_pool pool_{1};
  std::atomic<bool> discarded_{false};
};

} // namespace shardline::gateway
