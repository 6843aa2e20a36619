#include "net/tls_context.hpp"

namespace shardline::net {

std::unique_ptr<ssl::context> make_server_tls(const Config& c) {
  if (c.tls_cert.empty()) return nullptr;
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(c.tls_cert, ec);
  if (ec) throw ConfigError("SHARD_IPC_TLS_CERT: cannot load '" + c.tls_cert + "': " + ec.message());
  ctx->use_private_key_file(c.tls_key, ssl::context::pem, ec);
  if (ec) throw ConfigError("SHARD_IPC_TLS_KEY: cannot load '" + c.tls_key + "': " + ec.message());
  return ctx;
}

std::unique_ptr<ssl::context> make_client_tls(const Config& c) {
  if (!c.tls_enabled()) return nullptr;
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  const std::string& trust = c.tls_ca.empty() ? c.tls_cert : c.tls_ca;
  ctx->load_verify_file(trust, ec);
  if (ec)
    throw ConfigError(std::string(c.tls_ca.empty() ? "SHARD_IPC_TLS_CERT" : "SHARD_IPC_TLS_CA") + ": cannot load '" +
                      trust + "': " + ec.message());
  return ctx;
}

} // namespace shardline::net
