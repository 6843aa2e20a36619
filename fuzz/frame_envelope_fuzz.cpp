// libFuzzer target for the IPC read path (docs/protocol.md §1 and §2): the length-prefixed
// frame decoder (ipc/frame_codec) and the envelope parser (ipc/envelope), as the hub and the
// cluster link use them. The input is a byte stream as it could arrive on a socket.
//
// 1. Frames. The stream is fed to FrameDecoder five times, each with its own chunking (whole,
//    byte by byte, chunk sizes taken from the input, thirds, 7 bytes) and set-up: the hub's
//    (512-byte buffer, 65,536-byte limit before the first frame and 1,000,000 after, adaptive
//    read sizes, shrink_if_idle when idle, to 256 bytes rather than the hub's 4096 so short
//    inputs get there); the cluster link's; tiny or empty buffers; a limit lowered after the
//    first frame; tiny limits taken from the input so `too_large` is reached by short inputs.
//    Every run must agree exactly with a straightforward model of section 1: the same frames
//    (offset, length, bytes; each 1..=limit long, never beyond what was fed) and the same
//    ending (need more / zero length / too large) at the same place. Zero and too-large are
//    final: asking again gives the same answer. Memory stays bounded by one frame + one read.
// 2. Envelopes. Every decoded body, and the whole input taken as one body, is parsed in
//    strict mode and in legacy mode (NaN/Infinity read as null), and run through
//    replace_non_finite; see check_envelope() and check_replace() for the invariants.
//
// A broken invariant calls abort() after printing which one, so libFuzzer saves the input.

#include "protocol/envelope.hpp"
#include "protocol/frame_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace shardline::protocol;

#define CHECK(cond)                                                                              \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "\nINVARIANT FAILED: %s  (%s:%d)\n", #cond, __FILE__, __LINE__);     \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)

namespace {

std::uint32_t be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t(u[0]) << 24) | (std::uint32_t(u[1]) << 16) | (std::uint32_t(u[2]) << 8) |
         std::uint32_t(u[3]);
}

// ---- model of section 1 ------------------------------------------------------------------

struct Model {
  std::vector<std::pair<std::size_t, std::size_t>> frames; // body offset, body length
  DecodeStatus end = DecodeStatus::need_more;              // what follows the last frame
  std::size_t consumed = 0;                                // bytes taken by the frames
};

// `max_first` applies to the first frame, `max_rest` to the others (the hub raises its
// limit once the first frame, `auth`, has been read).
Model model(std::string_view in, std::size_t max_first, std::size_t max_rest) {
  Model m;
  std::size_t off = 0;
  for (;;) {
    if (in.size() - off < kHeaderBytes) break;
    std::size_t n = be32(in.data() + off);
    std::size_t max = m.frames.empty() ? max_first : max_rest;
    if (n == 0) {
      m.end = DecodeStatus::zero_length;
      break;
    }
    if (n > max) {
      m.end = DecodeStatus::too_large;
      break;
    }
    if (in.size() - off - kHeaderBytes < n) break;
    m.frames.emplace_back(off + kHeaderBytes, n);
    off += kHeaderBytes + n;
  }
  m.consumed = off;
  return m;
}

// ---- decoder runs ------------------------------------------------------------------------

enum class Chunks { whole, bytes_then_whole, fixed, thirds, from_input };

struct Run {
  std::size_t initial_capacity;
  std::size_t max_first, max_rest;
  Chunks chunks;
  std::size_t fixed;     // Chunks::fixed
  std::size_t min_bytes; // prepare(); ignored when hub_reads
  bool hub_reads;        // the hub's adaptive read size, and shrink_if_idle when idle
};

void run_decoder(std::string_view in, const Run& r, const Model& m) {
  FrameDecoder dec(r.max_first, r.initial_capacity);
  CHECK(dec.max_frame() == r.max_first);
  CHECK(!dec.mid_frame());
  const std::size_t max_limit = std::max(r.max_first, r.max_rest);
  std::size_t fed = 0, frames = 0, k = 0, want = 512, max_min_bytes = 1;
  for (;;) {
    std::string_view body, wire;
    DecodeStatus st;
    while ((st = dec.next(body, wire)) == DecodeStatus::frame) {
      CHECK(frames < m.frames.size());
      auto [off, len] = m.frames[frames];
      std::size_t limit = frames == 0 ? r.max_first : r.max_rest;
      CHECK(body.size() == len);
      CHECK(len >= 1 && len <= limit);
      CHECK(off + len <= fed); // only bytes that were fed
      CHECK(wire.size() == kHeaderBytes + len && wire.data() + kHeaderBytes == body.data());
      CHECK(std::memcmp(wire.data(), in.data() + off - kHeaderBytes, wire.size()) == 0);
      ++frames;
      if (frames == 1) {
        dec.set_max_frame(r.max_rest);
        CHECK(dec.max_frame() == r.max_rest);
      }
    }
    if (st == DecodeStatus::zero_length || st == DecodeStatus::too_large) {
      CHECK(frames == m.frames.size());
      CHECK(st == m.end);
      CHECK(fed >= m.consumed + kHeaderBytes);
      // Final: the receiver closes the connection; the decoder keeps saying so.
      CHECK(dec.next(body, wire) == st);
      CHECK(dec.next(body, wire) == st);
      return;
    }
    CHECK(st == DecodeStatus::need_more);
    // Every whole frame within the bytes fed so far has been handed out, and nothing else.
    std::size_t taken = frames == 0 ? 0 : m.frames[frames - 1].first + m.frames[frames - 1].second;
    if (frames < m.frames.size()) CHECK(m.frames[frames].first + m.frames[frames].second > fed);
    if (frames == m.frames.size() && m.end != DecodeStatus::need_more)
      CHECK(fed < m.consumed + kHeaderBytes); // the bad prefix has not fully arrived yet
    CHECK(dec.mid_frame() == (fed > taken));
    // Bounded memory: at most one pending frame (prefix + limit) plus one read.
    CHECK(dec.capacity() <= std::max(r.initial_capacity, kHeaderBytes + max_limit) + max_min_bytes);

    if (fed == in.size()) {
      CHECK(frames == m.frames.size());
      CHECK(m.end == DecodeStatus::need_more);
      CHECK(taken == m.consumed);
      return;
    }

    if (r.hub_reads && !dec.mid_frame()) {
      // The hub keeps 4096 bytes; 256 here so that inputs of a few hundred bytes shrink too.
      dec.shrink_if_idle(256);
      CHECK(dec.capacity() <= 256);
    }
    std::size_t chunk = in.size();
    switch (r.chunks) {
    case Chunks::whole: break;
    case Chunks::bytes_then_whole: chunk = fed < 1024 ? 1 : in.size(); break;
    case Chunks::fixed: chunk = r.fixed; break;
    case Chunks::thirds: chunk = in.size() / 3 + 1; break;
    case Chunks::from_input: chunk = 1 + (static_cast<unsigned char>(in[k % in.size()]) & 63); break;
    }
    ++k;
    std::size_t min_bytes = r.hub_reads ? want : r.min_bytes;
    max_min_bytes = std::max(max_min_bytes, min_bytes);
    std::size_t avail = 0;
    char* p = dec.prepare(avail, min_bytes);
    CHECK(p != nullptr && avail >= min_bytes);
    std::size_t n = std::min({chunk, avail, in.size() - fed});
    std::memcpy(p, in.data() + fed, n);
    dec.commit(n);
    fed += n;
    if (r.hub_reads) want = n == avail ? std::min<std::size_t>(avail * 2, 256 * 1024) : 512;
  }
}

// ---- replace_non_finite ------------------------------------------------------------------

// Independent model: split the text into JSON string literals (a '"' outside a string opens
// one, an unescaped '"' closes it) and the text between them; in the text between, replace
// the leftmost occurrences of NaN, Infinity and -Infinity with null.
std::string model_replace(std::string_view in) {
  static constexpr std::string_view toks[] = {"-Infinity", "Infinity", "NaN"};
  std::string out;
  std::size_t i = 0;
  while (i < in.size()) {
    // Text outside strings: up to the next '"'.
    std::size_t q = in.find('"', i);
    std::string_view seg = in.substr(i, q == std::string_view::npos ? std::string_view::npos : q - i);
    std::size_t next[3];
    for (int t = 0; t < 3; ++t) next[t] = seg.find(toks[t]);
    std::size_t j = 0;
    for (;;) {
      int best = -1;
      for (int t = 0; t < 3; ++t) {
        if (next[t] != std::string_view::npos && next[t] < j) next[t] = seg.find(toks[t], j);
        if (next[t] != std::string_view::npos && (best < 0 || next[t] < next[best])) best = t;
      }
      if (best < 0) break;
      out.append(seg.substr(j, next[best] - j));
      out += "null";
      j = next[best] + toks[best].size();
    }
    out.append(seg.substr(j));
    if (q == std::string_view::npos) break;
    // A string literal, copied as is (unterminated: to the end).
    std::size_t e = q + 1;
    while (e < in.size() && in[e] != '"') e += in[e] == '\\' ? 2 : 1;
    e = std::min(e + 1, in.size());
    out.append(in.substr(q, e - q));
    i = e;
  }
  return out;
}

void check_replace(std::string_view in, const std::string& out, bool changed) {
  // Reports exactly whether it changed anything; strings are left alone and every bare
  // NaN / Infinity / -Infinity outside them becomes null.
  CHECK(changed == (std::string_view(out) != in));
  CHECK(out == model_replace(in));
  // Nothing is left to replace: a second pass is a no-op.
  static std::string again;
  CHECK(!replace_non_finite(out, again));
  CHECK(again == out);
}

// ---- envelope ----------------------------------------------------------------------------

bool same(const Envelope& a, const Envelope& b) {
  return a.op == b.op && a.source == b.source && a.target == b.target && a.nonce == b.nonce &&
         a.id == b.id && a.reply_to == b.reply_to && a.has_source == b.has_source &&
         a.has_nonce == b.has_nonce && a.has_data == b.has_data &&
         a.timestamp.has_value() == b.timestamp.has_value() &&
         (!a.timestamp || *a.timestamp == *b.timestamp);
}

void check_ok(const Envelope& e, EnvelopeStatus st, const EnvelopeParser& p) {
  if (st != EnvelopeStatus::ok) return;
  CHECK(!e.op.empty());
  if (e.timestamp) CHECK(std::isfinite(*e.timestamp));
  if (!e.has_source) CHECK(e.source.empty());
  if (!e.has_nonce) CHECK(e.nonce.empty());
  // The fields are the first occurrence of each key in the parsed object.
  simdjson::dom::object root = p.root();
  std::string_view op;
  CHECK(!root["op"].get_string().get(op) && op == e.op);
  if (e.has_data) CHECK(root["data"].is_object());
  else CHECK(root["data"].error() == simdjson::NO_SUCH_FIELD);
  if (e.has_source) {
    std::string_view s;
    CHECK(!root["source"].get_string().get(s) && s == e.source);
  }
  if (e.has_nonce) {
    std::string_view s;
    CHECK(!root["nonce"].get_string().get(s) && s == e.nonce);
  }
}

void check_envelope(std::string_view body) {
  // Long-lived parsers, as in the hub: state left by earlier inputs must not leak through.
  static EnvelopeParser strict, legacy, sanitized_p;
  static std::string sanitized;
  Envelope s, l;
  EnvelopeStatus ss = strict.parse(body, false, s);
  EnvelopeStatus ls = legacy.parse(body, true, l);
  bool changed = replace_non_finite(body, sanitized);
  check_replace(body, sanitized, changed);
  check_ok(s, ss, strict);
  check_ok(l, ls, legacy);
  if (ss != EnvelopeStatus::bad_json) {
    // Valid JSON has no bare NaN/Infinity outside strings, and legacy mode reads it the same.
    CHECK(!changed);
    CHECK(ls == ss);
    if (ss == EnvelopeStatus::ok) CHECK(same(s, l));
  } else if (ls != EnvelopeStatus::bad_json) {
    // Legacy mode accepted it only by reading the non-finite tokens as null.
    CHECK(changed);
    Envelope z;
    CHECK(sanitized_p.parse(sanitized, false, z) == ls);
    if (ls == EnvelopeStatus::ok) CHECK(same(z, l));
  } else if (changed) {
    Envelope z;
    CHECK(sanitized_p.parse(sanitized, false, z) == EnvelopeStatus::bad_json);
  }
}

void check_encode(std::string_view body) {
  std::string w = encode_frame(body);
  CHECK(w.size() == kHeaderBytes + body.size());
  CHECK(be32(w.data()) == body.size());
  CHECK(std::string_view(w).substr(kHeaderBytes) == body);
  std::string two = "x";
  append_frame(two, body);
  CHECK(two.size() == 1 + w.size() && std::string_view(two).substr(1) == w);

  FrameDecoder dec(kMaxFrameBytes, 64);
  std::size_t avail = 0;
  char* p = dec.prepare(avail, w.size());
  CHECK(avail >= w.size());
  std::memcpy(p, w.data(), w.size());
  dec.commit(w.size());
  std::string_view b, wire;
  CHECK(dec.next(b, wire) == DecodeStatus::frame);
  CHECK(b == body && wire == w);
  CHECK(dec.next(b, wire) == DecodeStatus::need_more);
  CHECK(!dec.mid_frame());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  // Frames. Limits: production (1,000,000), the hub's (65,536 until the first frame), and a
  // tiny one taken from the last byte so short inputs reach `too_large` both before and after
  // the first frame. Only two runs use the 1,000,000 limit: a prefix announcing up to that
  // makes the decoder allocate (and zero) a buffer that size, about 1 ms under ASan, and the
  // other runs exercise the same code with smaller limits at a fraction of the cost.
  const Model prod = model(in, kMaxFrameBytes, kMaxFrameBytes);
  const Model hub = model(in, 65'536, kMaxFrameBytes);
  const Model small = model(in, 65'536, 65'536);
  const Model lowered = model(in, 65'536, 4'096);
  std::size_t tiny_first = 1, tiny_rest = 1;
  if (size > 0) {
    tiny_first = 1 + static_cast<unsigned char>(in.back());
    tiny_rest = 1 + 2 * static_cast<unsigned char>(in.back());
  }
  const Model tiny = model(in, tiny_first, tiny_rest);

  // Cluster link: one 4096-byte buffer, everything that arrived at once.
  run_decoder(in, {4096, kMaxFrameBytes, kMaxFrameBytes, Chunks::whole, 0, 4096, false}, prod);
  // Byte by byte (first 1 KiB) into a buffer that starts at one byte and grows.
  run_decoder(in, {1, 65'536, 65'536, Chunks::bytes_then_whole, 0, 1, false}, small);
  // Hub: adaptive reads, chunk sizes 1..64 taken from the input, shrink when idle.
  run_decoder(in, {512, 65'536, kMaxFrameBytes, Chunks::from_input, 0, 0, true}, hub);
  // Empty initial buffer, three reads, limit lowered after the first frame.
  run_decoder(in, {0, 65'536, 4'096, Chunks::thirds, 0, 2048, false}, lowered);
  // Tiny limits, 7-byte reads.
  run_decoder(in, {16, tiny_first, tiny_rest, Chunks::fixed, 7, 3, false}, tiny);

  // Envelopes: every decoded body (at most 256 per input, to bound the time per input).
  std::size_t parsed = 0;
  for (auto [off, len] : prod.frames) {
    if (++parsed > 256) break;
    check_envelope(in.substr(off, len));
  }
  // And the whole input as one body, so JSON mutations need no matching length prefix.
  if (size >= 1 && size <= kMaxFrameBytes) {
    check_envelope(in);
    check_encode(in);
  }
  return 0;
}
