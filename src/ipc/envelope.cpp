#include "ipc/envelope.hpp"

namespace shardline::ipc {

bool replace_non_finite(std::string_view in, std::string& out) {
  out.clear();
  bool in_string = false, escaped = false, changed = false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (in_string) {
      out.push_back(c);
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (in.compare(i, 3, "NaN") == 0) {
      out += "null";
      i += 2;
      changed = true;
    } else if (in.compare(i, 8, "Infinity") == 0) {
      out += "null";
      i += 7;
      changed = true;
    } else if (in.compare(i, 9, "-Infinity") == 0) {
      out += "null";
      i += 8;
      changed = true;
    } else {
      out.push_back(c);
    }
  }
  return changed;
}

EnvelopeStatus EnvelopeParser::parse(std::string_view body, bool allow_non_finite, Envelope& out) {
  out = Envelope{};
  simdjson::dom::element doc;
  auto err = parser_.parse(body.data(), body.size(), true).get(doc);
  if (err && allow_non_finite && replace_non_finite(body, sanitized_))
    err = parser_.parse(sanitized_.data(), sanitized_.size(), true).get(doc);
  if (err) return EnvelopeStatus::bad_json;
  if (doc.get_object().get(root_)) return EnvelopeStatus::bad_envelope;

  // Duplicate keys: simdjson keeps them all; the first occurrence wins, consistently.
  bool have_op = false, have_target = false, have_id = false, have_reply = false, have_ts = false;
  for (auto field : root_) {
    auto key = field.key;
    auto v = field.value;
    if (key == "op") {
      if (have_op) continue;
      have_op = true;
      if (v.get_string().get(out.op)) return EnvelopeStatus::bad_envelope;
    } else if (key == "data") {
      if (out.has_data) continue;
      out.has_data = true;
      if (!v.is_object()) return EnvelopeStatus::bad_envelope;
    } else if (key == "source") {
      if (out.has_source) continue;
      out.has_source = true;
      if (v.get_string().get(out.source)) return EnvelopeStatus::bad_envelope;
    } else if (key == "target") {
      if (have_target) continue;
      have_target = true;
      if (v.is_null()) continue;
      if (v.get_string().get(out.target)) return EnvelopeStatus::bad_envelope;
    } else if (key == "nonce") {
      if (out.has_nonce) continue;
      out.has_nonce = true;
      if (v.get_string().get(out.nonce)) return EnvelopeStatus::bad_envelope;
    } else if (key == "id") {
      if (have_id) continue;
      have_id = true;
      if (v.is_null()) continue;
      if (v.get_string().get(out.id)) return EnvelopeStatus::bad_envelope;
    } else if (key == "reply_to") {
      if (have_reply) continue;
      have_reply = true;
      if (v.is_null()) continue;
      if (v.get_string().get(out.reply_to)) return EnvelopeStatus::bad_envelope;
    } else if (key == "timestamp") {
      if (have_ts) continue;
      have_ts = true;
      double ts = 0;
      if (v.is_number() && !v.get_double().get(ts)) out.timestamp = ts;
    }
  }
  if (!have_op || out.op.empty()) return EnvelopeStatus::bad_envelope;
  return EnvelopeStatus::ok;
}

} // namespace shardline::ipc
