#include "protocol/envelope.hpp"

#include <utility>

namespace shardline::protocol {

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

  // Duplicate keys: simdjson keeps them all and the first occurrence is read here, but
  // Boost.JSON (the clusters' parse_body) and Python keep the last. A frame that repeats an
  // envelope key would mean one thing to the hub's checks (source, op) and another to the
  // receiver, so it is refused as bad_envelope.
  // A bad field does not stop the scan, so the request id is known for the error's reply_to.
  bool bad = false;
  bool have_op = false, have_target = false, have_id = false, have_reply = false, have_ts = false;
  auto read_string = [&bad](simdjson::dom::element v, std::string_view& into, bool nullable) {
    if (nullable && v.is_null()) return;
    if (v.get_string().get(into)) bad = true;
  };
  // True the first time a key is seen; a repeat marks the envelope bad.
  auto first = [&bad](bool& seen) {
    if (seen) bad = true;
    return !std::exchange(seen, true);
  };
  for (auto field : root_) {
    auto key = field.key;
    auto v = field.value;
    if (key == "op") {
      if (first(have_op)) read_string(v, out.op, false);
    } else if (key == "data") {
      if (first(out.has_data) && !v.is_object()) bad = true;
    } else if (key == "source") {
      if (first(out.has_source)) read_string(v, out.source, false);
    } else if (key == "target") {
      if (first(have_target)) read_string(v, out.target, true);
    } else if (key == "nonce") {
      if (first(out.has_nonce)) read_string(v, out.nonce, false);
    } else if (key == "id") {
      if (first(have_id)) read_string(v, out.id, true);
    } else if (key == "reply_to") {
      if (first(have_reply)) read_string(v, out.reply_to, true);
    } else if (key == "timestamp") {
      double ts = 0;
      if (first(have_ts) && v.is_number() && !v.get_double().get(ts)) out.timestamp = ts;
    }
  }
  if (bad || !have_op || out.op.empty()) return EnvelopeStatus::bad_envelope;
  return EnvelopeStatus::ok;
}

} // namespace shardline::protocol
