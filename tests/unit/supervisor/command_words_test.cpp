// SHARD_CLUSTER_COMMAND and SHARD_BOT_COMMAND split like a shell's word list, without a shell.
#include "supervisor/command_words.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace shardline::supervisor {
namespace {

using ::testing::HasSubstr;
using Words = std::vector<std::string>;

Words words(std::string_view command) {
  auto r = split_command_words(command, "SHARD_BOT_COMMAND");
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : Words{"(error)"};
}

std::string refusal(std::string_view command) {
  auto r = split_command_words(command, "SHARD_BOT_COMMAND");
  EXPECT_FALSE(r) << "accepted: " << command;
  return r ? std::string() : r.error().message;
}

TEST(SupervisorCommandWords, BlanksSeparateWords) {
  EXPECT_EQ(words("node bot.js"), (Words{"node", "bot.js"}));
  EXPECT_EQ(words("  python3\t-u   bot.py \n"), (Words{"python3", "-u", "bot.py"}));
}

TEST(SupervisorCommandWords, AnEmptyOrBlankCommandHasNoWords) {
  EXPECT_EQ(words(""), Words{});
  EXPECT_EQ(words(" \t "), Words{});
}

TEST(SupervisorCommandWords, QuotesKeepBlanksInsideOneWord) {
  EXPECT_EQ(words("python3 'my bot.py'"), (Words{"python3", "my bot.py"}));
  EXPECT_EQ(words("python3 \"my bot.py\" --name=\"a b\""), (Words{"python3", "my bot.py", "--name=a b"}));
  // Next to other characters, quoted parts join the word.
  EXPECT_EQ(words("a'b c'\"d e\"f"), (Words{"ab cd ef"}));
}

TEST(SupervisorCommandWords, SingleQuotesAreLiteralAndDoubleQuotesKeepOnlyTheirEscapes) {
  EXPECT_EQ(words(R"('a\b $HOME "x"')"), (Words{R"(a\b $HOME "x")"}));
  EXPECT_EQ(words(R"("say \"hi\" \\ \n $HOME")"), (Words{R"(say "hi" \ \n $HOME)"}));
}

TEST(SupervisorCommandWords, ABackslashOutsideQuotesMakesTheNextCharacterLiteral) {
  EXPECT_EQ(words(R"(node my\ bot.js)"), (Words{"node", "my bot.js"}));
  EXPECT_EQ(words(R"(echo \'x\')"), (Words{"echo", "'x'"}));
}

TEST(SupervisorCommandWords, EmptyQuotesAreAnEmptyWord) {
  EXPECT_EQ(words("bot '' \"\" x"), (Words{"bot", "", "", "x"}));
}

TEST(SupervisorCommandWords, NoExpansionHappens) {
  EXPECT_EQ(words("bot $HOME *.js ~ `id` a;b |c"), (Words{"bot", "$HOME", "*.js", "~", "`id`", "a;b", "|c"}));
}

TEST(SupervisorCommandWords, AnUnterminatedQuoteOrATrailingBackslashIsAClearError) {
  auto single = refusal("python3 'my bot.py");
  EXPECT_THAT(single, HasSubstr("SHARD_BOT_COMMAND"));
  EXPECT_THAT(single, HasSubstr("a single quote is not closed (at character 9"));
  EXPECT_THAT(refusal("node \"bot.js"), HasSubstr("a double quote is not closed (at character 6"));
  // An escaped quote does not close the string.
  EXPECT_THAT(refusal(R"(node "bot.js\")"), HasSubstr("a double quote is not closed"));
  EXPECT_THAT(refusal("node bot.js \\"), HasSubstr("a backslash ends the command"));
  auto r = split_command_words("x 'y", "SHARD_CLUSTER_COMMAND");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("SHARD_CLUSTER_COMMAND"));
  EXPECT_TRUE(r.error().is(Errc::bad_input));
}

} // namespace
} // namespace shardline::supervisor
