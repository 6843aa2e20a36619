#include "proxy/gateway_frames.hpp"

#include <fmt/format.h>

namespace shardline::proxy {

namespace json = boost::json;

namespace {

std::optional<std::uint64_t> as_count(const json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
  return std::nullopt;
}

const json::object* object_of(const json::value& d, Refusal& refusal) {
  if (!d.is_object()) {
    refusal = {close_code::decode_error, "Error while decoding payload."};
    return nullptr;
  }
  return &d.get_object();
}

} // namespace

std::optional<ClientFrame> parse_client_frame(std::string_view text, Refusal& refusal) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    refusal = {close_code::decode_error, "Error while decoding payload."};
    return std::nullopt;
  }
  auto& o = v.get_object();
  auto* opv = o.if_contains("op");
  auto opn = opv ? as_count(*opv) : std::nullopt;
  if (!opn) {
    refusal = {close_code::decode_error, "Error while decoding payload."};
    return std::nullopt;
  }
  if (!op::sent_by_client(*opn)) {
    refusal = {close_code::unknown_opcode, "Unknown opcode."};
    return std::nullopt;
  }
  ClientFrame f;
  f.op = static_cast<int>(*opn);
  if (auto* d = o.if_contains("d")) f.d = std::move(*d);
  return f;
}

std::optional<IdentifyRequest> parse_identify(const json::value& d, Refusal& refusal) {
  auto* o = object_of(d, refusal);
  if (!o) return std::nullopt;
  IdentifyRequest r;
  auto* token = o->if_contains("token");
  if (!token || !token->is_string()) {
    refusal = {close_code::decode_error, "Error while decoding payload."};
    return std::nullopt;
  }
  r.token = std::string(token->get_string());
  if (auto* sh = o->if_contains("shard"); sh && !sh->is_null()) {
    const auto* a = sh->if_array();
    auto id = a && a->size() == 2 ? as_count((*a)[0]) : std::nullopt;
    auto count = a && a->size() == 2 ? as_count((*a)[1]) : std::nullopt;
    if (!id || !count || *count == 0 || *id >= *count || *count > 1'000'000) {
      refusal = {close_code::invalid_shard, "Invalid shard."};
      return std::nullopt;
    }
    r.shard_id = static_cast<std::uint32_t>(*id);
    r.shard_count = static_cast<std::uint32_t>(*count);
  }
  return r;
}

std::optional<ResumeRequest> parse_resume(const json::value& d, Refusal& refusal) {
  auto* o = object_of(d, refusal);
  if (!o) return std::nullopt;
  auto* token = o->if_contains("token");
  auto* sid = o->if_contains("session_id");
  auto* seq = o->if_contains("seq");
  std::optional<std::uint64_t> n = 0;
  if (seq && !seq->is_null()) n = as_count(*seq);
  if (!token || !token->is_string() || !sid || !sid->is_string() || !n) {
    refusal = {close_code::decode_error, "Error while decoding payload."};
    return std::nullopt;
  }
  return ResumeRequest{std::string(token->get_string()), std::string(sid->get_string()), *n};
}

std::string_view bare_token(std::string_view token) {
  if (token.size() > 4 && (token.substr(0, 4) == "Bot " || token.substr(0, 4) == "bot ")) token.remove_prefix(4);
  return token;
}

std::string hello_frame(std::uint32_t heartbeat_interval_ms) {
  return fmt::format(R"({{"t":null,"s":null,"op":10,"d":{{"heartbeat_interval":{}}}}})", heartbeat_interval_ms);
}

std::string heartbeat_ack_frame() { return R"({"t":null,"s":null,"op":11,"d":null})"; }

std::string invalid_session_frame(bool resumable) {
  return resumable ? R"({"t":null,"s":null,"op":9,"d":true})" : R"({"t":null,"s":null,"op":9,"d":false})";
}

std::string dispatch_frame(std::string_view type, std::uint64_t seq, std::string_view d_json) {
  std::string out;
  out.reserve(d_json.size() + type.size() + 40);
  out += R"({"t":")";
  out += type; // a dispatch type from the shard: upper-case letters and underscores
  out += R"(","s":)";
  out += std::to_string(seq);
  out += R"(,"op":0,"d":)";
  out += d_json;
  out += '}';
  return out;
}

std::string close_reason(std::string reason) {
  constexpr std::size_t kMax = 123;
  if (reason.size() <= kMax) return reason;
  std::size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n; // not inside a character
  reason.resize(n);
  return reason;
}

} // namespace shardline::proxy
