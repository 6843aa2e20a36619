// The plain request and reply the simulator's handlers share: Discord's error shape, JSON
// bodies with a depth limit, and ids in JSON bodies.

#include "sim/http_exchange.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>

using namespace shardline::sim;
namespace json = boost::json;

TEST(SimHttpExchange, ErrorsHaveDiscordsShape) {
  auto r = error_reply(HttpStatus::not_found, "404: Not Found");
  EXPECT_EQ(r.status, HttpStatus::not_found);
  EXPECT_EQ(r.body, R"({"message":"404: Not Found","code":0})");
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_TRUE(r.headers.empty());
  EXPECT_EQ(error_reply(HttpStatus::forbidden, "Missing Access", 50001).body,
            R"({"message":"Missing Access","code":50001})");
}

TEST(SimHttpExchange, JsonBodiesAreNestedAtMostSixteenDeep) {
  auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_TRUE(parse_json_body(nested(16)));
  EXPECT_FALSE(parse_json_body(nested(17)));
  EXPECT_FALSE(parse_json_body(nested(9), 8));
  EXPECT_FALSE(parse_json_body("{\"a\": 1"));
  EXPECT_FALSE(parse_json_body(""));
}

TEST(SimHttpExchange, IdFieldsAreSnowflakeStringsOrPositiveNumbers) {
  auto o = json::parse(R"({"s": "175928847299117063", "n": 42, "big": 18446744073709551615, "zero": 0,
                           "neg": -3, "bad": "12ab", "b": true, "null": null})")
               .as_object();
  EXPECT_EQ(id_field(o, "s"), 175928847299117063u);
  EXPECT_EQ(id_field(o, "n"), 42u);
  EXPECT_EQ(id_field(o, "big"), 18446744073709551615u);
  for (const char* key : {"zero", "neg", "bad", "b", "null", "absent"}) EXPECT_EQ(id_field(o, key), std::nullopt) << key;
}
