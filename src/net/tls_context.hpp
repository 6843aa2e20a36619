#pragma once
// TLS contexts from the SHARD_IPC_TLS_* settings. The hub presents SHARD_IPC_TLS_CERT/KEY;
// clients verify the hub against SHARD_IPC_TLS_CA (or, for a self-signed hub certificate,
// against the certificate itself).

#include "core/config.hpp"
#include "net/stream.hpp"

#include <memory>

namespace shardline::net {

// Null when the hub does not serve TLS. Throws ConfigError with the setting at fault.
std::unique_ptr<ssl::context> make_server_tls(const Config& c);
// Null when clients connect in plain TCP.
std::unique_ptr<ssl::context> make_client_tls(const Config& c);

} // namespace shardline::net
