#pragma once
// Who may join the network (docs/protocol.md §3): the first frame judged, the version-2 proof
// checked, and the name rule when a name is already connected. Pure, no sockets: the hub acts
// on the verdicts, and unit tests reach every rule.

#include "hub/directory.hpp"
#include "protocol/messages.hpp"

#include <string>
#include <string_view>

namespace shardline::hub {

// The verdict on a connection's first frame.
struct FirstFrame {
  enum class Next {
    close,     // not an auth frame at all: closed without an answer (`reason` is for the log)
    refuse,    // auth_response {success: false, error: reason}, then close
    challenge, // version 2: send auth_challenge and wait for the proof
    accept,    // version 1 with the right secret: authenticated
  } next = Next::close;
  std::string reason;
  protocol::Auth auth; // challenge and accept: what the peer announced
};

// `legacy_auth`: SHARD_IPC_LEGACY_AUTH (version 1 accepted, and bare NaN/Infinity read as null).
FirstFrame judge_first_frame(std::string_view body, bool legacy_auth, std::string_view secret);

// The version-2 proof, compared in constant time.
bool proof_ok(std::string_view secret, std::string_view name, std::string_view client_nonce,
              std::string_view server_nonce, std::string_view mac);

// What to do when `candidate` has authenticated.
struct Admission {
  enum class Kind {
    accept,    // the name is free
    replace,   // the same process (same instance) reconnecting: close `old`
    supersede, // a newer generation of the cluster slot: fence `old` (error superseded)
    probe,     // the holder speaks version 1 (no instance, no generation): ask it, and let the
               // newcomer in if it does not answer (as the seed's server lets a newcomer in)
    refuse,    // "Cluster name already connected"
  } kind = Kind::accept;
  Member* old = nullptr;
};

// `hub_name`: the hub's own name, which only the cluster it runs inside may take, identified by
// `local_instance` (server mode; empty for a standalone hub, whose name nobody may take).
Admission judge_name(const Directory& d, const Member& candidate, std::string_view hub_name,
                std::string_view local_instance);

} // namespace shardline::hub
