#include "supervisor/bot_process.hpp"

#include "supervisor/command_words.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace shardline::supervisor {

Result<BotSettings> BotSettings::from_config(const Config& cfg) {
  BotSettings s;
  auto words = split_command_words(cfg.launch.bot_command, "SHARD_BOT_COMMAND");
  if (!words) return words.error();
  s.words = std::move(*words);
  s.endpoint = s.enabled() || cfg.proxy.enabled();
  s.host = cfg.proxy.host;
  s.base_port = cfg.proxy.port_auto ? 0 : cfg.proxy.port;
  s.limits = RestartLimits::from_config(cfg);
  s.settle = std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(cfg.launch.bot_settle_s));
  return s;
}

std::optional<std::uint16_t> next_endpoint_port(std::uint16_t base, std::span<const std::uint16_t> taken) {
  for (std::uint32_t port = base; port <= 65535; ++port)
    if (std::find(taken.begin(), taken.end(), port) == taken.end()) return static_cast<std::uint16_t>(port);
  return std::nullopt;
}

std::string BotEndpoint::url_host() const {
  if (host == "0.0.0.0" || host.empty()) return "127.0.0.1";
  if (host == "::") return "[::1]";
  if (host.find(':') != std::string::npos && !host.starts_with('[')) return "[" + host + "]";
  return host;
}

std::string BotEndpoint::api_url() const { return fmt::format("http://{}:{}/api/v10", url_host(), port); }
std::string BotEndpoint::gateway_url() const { return fmt::format("ws://{}:{}", url_host(), port); }

std::map<std::string, std::string> bot_environment(std::map<std::string, std::string> env, const BotContext& ctx) {
  for (auto* own : {"SHARD_CLUSTER_GENERATION", "SHARD_STANDBY", "ENABLE_SHARD_MANAGER"}) env.erase(own);
  env["SHARD_CLUSTER_NAME"] = ctx.cluster;
  env["SHARD_IDS"] = format_shard_ids(ctx.shard_ids);
  env["SHARD_COUNT"] = std::to_string(ctx.shard_count);
  env["DISCORD_API_URL"] = ctx.endpoint.api_url();
  env["SHARD_PROXY_URL"] = ctx.endpoint.gateway_url();
  env["SHARD_PROXY_HOST"] = ctx.endpoint.url_host();
  env["SHARD_PROXY_PORT"] = std::to_string(ctx.endpoint.port);
  env["SHARD_IPC_MODE"] = "client";
  env["SHARD_IPC_HOST"] = ctx.ipc_host;
  env["SHARD_IPC_PORT"] = std::to_string(ctx.ipc_port);
  env["SHARD_IPC_SECRET"] = ctx.ipc_secret;
  if (!ctx.ipc_tls_ca.empty()) env["SHARD_IPC_TLS_CA"] = ctx.ipc_tls_ca;
  if (!ctx.token.empty()) env["DISCORD_TOKEN"] = ctx.token;
  return env;
}

std::optional<std::uint16_t> read_port_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text;
  std::getline(in, text, '\0');
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  unsigned port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || port == 0 || port > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

std::string_view to_string(BotProcess::State s) {
  switch (s) {
  case BotProcess::State::waiting: return "waiting";
  case BotProcess::State::running: return "running";
  case BotProcess::State::restarting: return "restarting";
  case BotProcess::State::given_up: return "given_up";
  case BotProcess::State::no_endpoint: return "no_endpoint";
  }
  return "waiting";
}

protocol::SupervisedBot BotProcess::status(steady::time_point now) const {
  protocol::SupervisedBot b;
  b.pid = pid;
  if (pid) b.uptime = std::chrono::duration<double>(now - started_at).count();
  b.restarts = restarts;
  b.state = std::string(to_string(state));
  b.error = error;
  if (endpoint) b.api_url = endpoint->api_url();
  return b;
}

} // namespace shardline::supervisor
