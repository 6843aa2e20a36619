#pragma once
// The few cryptographic primitives the IPC auth needs, over OpenSSL.

#include <cstddef>
#include <string>
#include <string_view>

namespace shardline {

// Lowercase hex of HMAC-SHA256(key, message).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// Compares in time that depends only on the lengths, never on where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// `bytes` bytes from the OS CSPRNG, as lowercase hex.
std::string random_hex(std::size_t bytes);

} // namespace shardline
