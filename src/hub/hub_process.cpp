#include "hub/hub_process.hpp"

#include "core/exit_codes.hpp"
#include "core/port_file.hpp"
#include "hub/hub.hpp"
#include "net/tls_context.hpp"

#include <spdlog/spdlog.h>

#include <csignal>

namespace shardline::hub {

int run_hub(const Config& cfg, const HubProcessOptions& opt) {
  asio::io_context io;
  auto tls = net::make_server_tls(cfg);
  auto options = HubOptions::from_config(cfg);
  options.name = opt.name;
  options.mode = "hub";
  options.tls = tls.get();
  Hub hub(io, options);
  auto port = hub.listen();
  if (!port) {
    spdlog::error("{}", port.error().message);
    return kExitFailure;
  }
  if (auto written = write_port_file(opt.port_file, *port); !written) {
    spdlog::error("{}", written.error().message);
    return kExitFailure;
  }
  hub.start();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping the hub", sig);
    hub.stop();
  });
  io.run();
  return kExitOk;
}

} // namespace shardline::hub
