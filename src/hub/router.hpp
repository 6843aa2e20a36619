#pragma once
// Where a routed frame goes (docs/protocol.md §5), decided from the directory and the target
// alone. Pure: the hub delivers the bytes to what this returns.

#include "hub/directory.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace shardline::hub {

struct Route {
  std::vector<Member*> to; // the receivers; empty with a fan-out to nobody, or no route
  bool fanout = false;     // target "all": every other cluster
  bool no_route = false;   // nobody holds the target: the sender gets error no_route
};

// `target` as the envelope has it (empty means "all"); `is_reply`: the frame has reply_to, so
// it may go to an admin connection (nothing else ever does).
Route route(const Directory& d, std::string_view target, const Member& sender, bool is_reply);

} // namespace shardline::hub
