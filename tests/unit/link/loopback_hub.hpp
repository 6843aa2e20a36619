#pragma once
// A real hub on a free loopback port and links to it, for the link's tests: everything runs on
// one io_context that the test drives with run_for(), so every wait is bounded.

#include "hub/hub.hpp"
#include "link/hub_link.hpp"

#include <memory>
#include <string>

namespace shardline::link::testing {

struct LoopbackHub {
  asio::io_context io;
  hub::HubOptions options;
  std::unique_ptr<hub::Hub> hub;
  std::uint16_t port = 0;

  explicit LoopbackHub(hub::HubOptions o = {}) : options(std::move(o)) {
    options.port = 0;
    if (options.secret.empty()) options.secret = "unit-test-secret-0123456789abcdef";
    hub = std::make_unique<hub::Hub>(io, options);
    port = hub->listen().value(); // throws (failing the test) when it cannot listen
    hub->start();
  }

  // A cluster (or admin) link to this hub that does not reconnect on its own.
  LinkOptions link_options(std::string name, bool admin = false) const {
    LinkOptions lo;
    lo.port = port;
    lo.secret = options.secret;
    lo.name = std::move(name);
    lo.admin = admin;
    lo.reconnect = false;
    return lo;
  }

  std::shared_ptr<HubLink> link(std::string name, bool admin = false) {
    return HubLink::create(io, link_options(std::move(name), admin), nullptr);
  }
};

} // namespace shardline::link::testing
