#include "hub/admission.hpp"

#include "core/crypto.hpp"
#include "protocol/body.hpp"

namespace shardline::hub {

namespace json = boost::json;

FirstFrame judge_first_frame(std::string_view body, bool legacy_auth, std::string_view secret) {
  using Next = FirstFrame::Next;
  FirstFrame f;
  json::value doc;
  if (!protocol::parse_body(body, legacy_auth, doc) || !doc.is_object()) {
    f.reason = "first frame is not JSON";
    return f;
  }
  auto& o = doc.get_object();
  auto* op = o.if_contains("op");
  auto* data = o.if_contains("data");
  if (!op || !op->is_string() || op->get_string() != "auth" || !data || !data->is_object()) {
    f.reason = "first frame is not an auth frame";
    return f;
  }
  // Ill-typed fields are refused rather than guessed at: a cluster with a wrong shard list
  // would receive wrong traffic. The peer learns only "Invalid auth", as the seed answers.
  auto auth = protocol::decode<protocol::Auth>(*data);
  if (!auth) {
    f.next = Next::refuse;
    f.reason = "Invalid auth";
    return f;
  }
  f.auth = std::move(*auth);
  if (f.auth.proto == 2) {
    f.next = Next::challenge;
    return f;
  }
  f.next = Next::refuse;
  if (!legacy_auth) f.reason = "Legacy auth disabled";
  else if (!constant_time_equal(f.auth.secret.value_or(""), secret)) f.reason = "Invalid secret";
  else f.next = Next::accept;
  return f;
}

bool proof_ok(std::string_view secret, std::string_view name, std::string_view client_nonce,
              std::string_view server_nonce, std::string_view mac) {
  return constant_time_equal(mac, protocol::client_mac(secret, name, client_nonce, server_nonce));
}

Admission judge_name(const Directory& d, const Member& candidate, std::string_view hub_name,
                std::string_view local_instance) {
  using Kind = Admission::Kind;
  // The hub's own name belongs to the cluster it runs inside (server mode), identified by that
  // process's instance; nobody else may take it, not even with a higher generation.
  if (candidate.name == hub_name && (local_instance.empty() || candidate.instance != local_instance))
    return {Kind::refuse, nullptr};
  Member* old = d.find(candidate.name);
  if (!old) return {Kind::accept, nullptr};
  // The same process reconnecting: the old link is dead or dying.
  if (!candidate.instance.empty() && candidate.instance == old->instance) return {Kind::replace, old};
  // A newer spawn of this cluster slot: the old process is fenced.
  if (candidate.proto == 2 && candidate.generation > old->generation) return {Kind::supersede, old};
  if (old->proto == 1) return {Kind::probe, old};
  return {Kind::refuse, old};
}

} // namespace shardline::hub
