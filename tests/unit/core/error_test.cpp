#include "core/error.hpp"

#include <gtest/gtest.h>

namespace shardline {
namespace {

Result<int> half(int n) {
  if (n % 2) return fail(Errc::bad_input, "odd: " + std::to_string(n));
  return n / 2;
}

TEST(Error, ResultCarriesTheValueOrACodeAndAMessage) {
  auto ok = half(8);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 4);
  auto bad = half(7);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().is(Errc::bad_input));
  EXPECT_FALSE(bad.error().is(Errc::timeout));
  EXPECT_EQ(bad.error().message, "odd: 7");
  EXPECT_EQ(bad.error().kind(), "bad_input");
}

TEST(Error, CodesCompareAsStdErrorCodes) {
  std::error_code ec = Errc::timeout;
  EXPECT_EQ(ec, make_error_code(Errc::timeout));
  EXPECT_EQ(ec.category().name(), std::string("shardline"));
  EXPECT_EQ(Error(Errc::closed, "x").kind(), "closed");
  // A foreign code keeps its own category; kind() does not pretend it is ours.
  EXPECT_EQ(Error(std::make_error_code(std::errc::io_error), "disk").kind(), "error");
}

TEST(Error, ValueOfAnErrorThrowsSystemErrorWithTheMessage) {
  auto bad = half(3);
  try {
    (void)bad.value();
    FAIL() << "value() of an error must throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), make_error_code(Errc::bad_input));
    EXPECT_NE(std::string(e.what()).find("odd: 3"), std::string::npos);
  }
}

TEST(Error, VoidResult) {
  Result<void> ok;
  EXPECT_TRUE(ok);
  Result<void> bad = fail(Errc::refused, "no");
  EXPECT_FALSE(bad);
  EXPECT_TRUE(bad.error().is(Errc::refused));
}

} // namespace
} // namespace shardline
