#include "core/crypto.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace shardline {
namespace {

// RFC 4231 HMAC-SHA256 test vectors.
TEST(Crypto, HmacSha256Rfc4231Case1) {
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(Crypto, HmacSha256Rfc4231Case2) {
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, HmacSha256Rfc4231Case6KeyLongerThanBlock) {
  EXPECT_EQ(hmac_sha256_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Crypto, HmacUsesWholeKeyAndMessageIncludingNulBytes) {
  using namespace std::string_literals;
  EXPECT_NE(hmac_sha256_hex("key\0a"s, "msg"), hmac_sha256_hex("key\0b"s, "msg"));
  EXPECT_NE(hmac_sha256_hex("key", "msg\0a"s), hmac_sha256_hex("key", "msg\0b"s));
  EXPECT_NE(hmac_sha256_hex("key", "msg"), hmac_sha256_hex("kez", "msg"));
}

TEST(Crypto, HmacHexIsLowercase64Chars) {
  auto mac = hmac_sha256_hex("k", "m");
  ASSERT_EQ(mac.size(), 64u);
  EXPECT_EQ(mac.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(Crypto, ConstantTimeEqualSemantics) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abcdef", "abcdef"));
  EXPECT_FALSE(constant_time_equal("abcdef", "Abcdef")); // first byte
  EXPECT_FALSE(constant_time_equal("abcdef", "abcdeF")); // last byte
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));      // prefix is not equal
  EXPECT_FALSE(constant_time_equal("abcd", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  using namespace std::string_literals;
  EXPECT_FALSE(constant_time_equal("a\0b"s, "a\0c"s)); // not a C-string compare
  EXPECT_TRUE(constant_time_equal("a\0b"s, "a\0b"s));
  // Case matters for hex MACs.
  EXPECT_FALSE(constant_time_equal("5bdcc146", "5BDCC146"));
}

TEST(Crypto, RandomHex) {
  auto a = random_hex(16);
  ASSERT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(random_hex(16));
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(random_hex(0), "");
  EXPECT_EQ(random_hex(4).size(), 8u);
}

} // namespace
} // namespace shardline
