#include "protocol/rest_messages.hpp"

#include <cmath>

namespace shardline::protocol {

namespace {

std::string bounded(const ObjectReader& r, std::string_view key, std::size_t max, bool required) {
  auto s = required ? r.required<std::string>(key) : r.get_or<std::string>(key, "");
  if (s.size() > max) r.fail(key, "is longer than " + std::to_string(max) + " characters");
  return s;
}

double seconds(const ObjectReader& r, std::string_view key) {
  auto v = r.get_or<double>(key, 0);
  if (!std::isfinite(v) || v < 0 || v > 7 * 86'400.0) r.fail(key, "must be 0..604800 seconds");
  return v;
}

} // namespace

RestAcquire RestAcquire::read(const ObjectReader& r) {
  RestAcquire a;
  a.route = bounded(r, "route", kMaxRestRouteChars, true);
  if (a.route.empty()) r.fail("route", "must not be empty");
  a.major = bounded(r, "major", kMaxRestMajorChars, false);
  a.exempt = r.get_or<bool>("exempt", false);
  a.retry = r.get_or<bool>("retry", false);
  return a;
}
void RestAcquire::write(json::object& o) const {
  o["route"] = route;
  o["major"] = major;
  o["exempt"] = exempt;
  if (retry) o["retry"] = true;
}

RestGrant RestGrant::read(const ObjectReader& r) {
  RestGrant g;
  g.granted = r.required<bool>("granted");
  g.grant = r.get_or<std::uint64_t>("grant", 0);
  g.reason = r.get_or<std::string>("reason", "");
  g.retry_after = seconds(r, "retry_after");
  g.message = r.get_or<std::string>("message", "");
  return g;
}
void RestGrant::write(json::object& o) const {
  o["granted"] = granted;
  if (granted) {
    o["grant"] = grant;
    return;
  }
  o["reason"] = reason;
  o["retry_after"] = retry_after;
  o["message"] = message;
}

RestReport RestReport::read(const ObjectReader& r) {
  RestReport p;
  p.grant = r.get_or<std::uint64_t>("grant", 0);
  p.route = bounded(r, "route", kMaxRestRouteChars, true);
  p.major = bounded(r, "major", kMaxRestMajorChars, false);
  p.exempt = r.get_or<bool>("exempt", false);
  p.unused = r.get_or<bool>("unused", false);
  p.status = r.get_or<std::uint32_t>("status", 0);
  if (p.status > 599) r.fail("status", "must be an HTTP status");
  p.bucket = bounded(r, "bucket", kMaxRestBucketChars, false);
  p.limit = r.optional<std::uint32_t>("limit");
  p.remaining = r.optional<std::uint32_t>("remaining");
  if (r.has("reset_after")) p.reset_after = seconds(r, "reset_after");
  p.scope = r.get_or<std::string>("scope", "");
  if (!p.scope.empty() && p.scope != "user" && p.scope != "global" && p.scope != "shared")
    r.fail("scope", "must be user, global or shared");
  p.global = r.get_or<bool>("global", false);
  p.retry_after = seconds(r, "retry_after");
  return p;
}
void RestReport::write(json::object& o) const {
  o["grant"] = grant;
  o["route"] = route;
  o["major"] = major;
  if (exempt) o["exempt"] = true;
  if (unused) o["unused"] = true;
  o["status"] = status;
  if (!bucket.empty()) o["bucket"] = bucket;
  if (limit) o["limit"] = *limit;
  if (remaining) o["remaining"] = *remaining;
  if (reset_after) o["reset_after"] = *reset_after;
  if (!scope.empty()) o["scope"] = scope;
  if (global) o["global"] = true;
  if (retry_after > 0) o["retry_after"] = retry_after;
}

RestSyncItem RestSyncItem::read(const ObjectReader& r) {
  RestSyncItem i;
  i.route = bounded(r, "route", kMaxRestRouteChars, true);
  i.major = bounded(r, "major", kMaxRestMajorChars, false);
  i.bucket = bounded(r, "bucket", kMaxRestBucketChars, false);
  i.limit = r.required<std::uint32_t>("limit");
  i.remaining = r.required<std::uint32_t>("remaining");
  i.reset_after = seconds(r, "reset_after");
  return i;
}
void RestSyncItem::write(json::object& o) const {
  o["route"] = route;
  o["major"] = major;
  o["bucket"] = bucket;
  o["limit"] = limit;
  o["remaining"] = remaining;
  o["reset_after"] = reset_after;
}

RestSync RestSync::read(const ObjectReader& r) {
  RestSync s;
  s.buckets = r.array<RestSyncItem>("buckets", kMaxRestSyncItems, false);
  s.global_releases_ms = r.array<std::uint32_t>("global_releases_ms", kMaxRestSyncReleases, false);
  return s;
}
void RestSync::write(json::object& o) const {
  json::array b;
  for (auto& i : buckets) {
    json::object x;
    i.write(x);
    b.push_back(std::move(x));
  }
  o["buckets"] = std::move(b);
  json::array g;
  for (auto ms : global_releases_ms) g.push_back(ms);
  o["global_releases_ms"] = std::move(g);
}

} // namespace shardline::protocol
