// The evaluation set's JSONL: labels, loss masks, byte counts, and malformed lines.
#include <gtest/gtest.h>

#include <fstream>

#include "murmur/arena/errors.hpp"
#include "murmur/arena/eval_data.hpp"
#include "murmur/testing/tiny_llama.hpp"

namespace murmur::arena {
namespace {

class EvalDataTest : public ::testing::Test {
 protected:
  testing::TempDir dir{"evaldata"};
  std::filesystem::path write(const std::string& text) {
    const auto p = dir.path() / "data.jsonl";
    std::ofstream(p) << text;
    return p;
  }
  void expect_rejected(const std::string& text, const std::string& fragment) {
    try {
      read_eval_jsonl(write(text), 100, 8);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
};

TEST_F(EvalDataTest, LabelsMasksAndBytes) {
  const EvalSet set =
      read_eval_jsonl(write(R"({"input_ids": [1, 2, 3, 4], "labels": [-100, -100, 3, 4], "bytes": 7}

{"input_ids": [5, 6, 7], "loss_mask": [0, 1, 1]}
{"input_ids": [9, 8, 7, 6, 5]}
)"),
                      100, 8);
  ASSERT_EQ(set.sequences.size(), 3u);
  EXPECT_EQ(set.sequences[0].labels, (std::vector<std::int64_t>{-100, -100, 3, 4}));
  EXPECT_EQ(set.sequences[0].targets(), 2u);
  EXPECT_EQ(set.sequences[0].bytes, 7u);
  EXPECT_EQ(set.sequences[1].labels, (std::vector<std::int64_t>{-100, 6, 7}));
  EXPECT_EQ(set.sequences[2].labels, set.sequences[2].tokens);
  EXPECT_EQ(set.sequences[2].targets(), 4u);  // every token after the first
  EXPECT_EQ(set.target_tokens(), 8u);
  EXPECT_FALSE(set.target_bytes());  // not every line gives bytes
}

TEST_F(EvalDataTest, WriterRoundTrips) {
  const EvalSet set = testing::random_eval_set(testing::tiny_config(), 5, 4, 9, 11);
  write_eval_jsonl(dir.path() / "rt.jsonl", set);
  const EvalSet back = read_eval_jsonl(dir.path() / "rt.jsonl", 256, 128);
  ASSERT_EQ(back.sequences.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(back.sequences[i].tokens, set.sequences[i].tokens);
    EXPECT_EQ(back.sequences[i].labels, set.sequences[i].labels);
    EXPECT_EQ(back.sequences[i].bytes, set.sequences[i].bytes);
  }
  EXPECT_EQ(back.target_bytes(), set.target_bytes());
  EXPECT_TRUE(back.target_bytes());
}

TEST_F(EvalDataTest, MalformedLines) {
  expect_rejected("{\"input_ids\": [1, 2]\n", ":1: not valid JSON");
  expect_rejected("{\"input_ids\": [1, 2]}\n{\"tokens\": [1]}\n",
                  ":2: needs an object with an \"input_ids\"");
  expect_rejected(R"({"input_ids": [1, 100]})",
                  "token id 100 is outside the base model's vocabulary [0, 100)");
  expect_rejected(R"({"input_ids": [1, -1]})", "token id -1");
  expect_rejected(R"({"input_ids": [1, 2], "labels": [2]})", "as long as input_ids (2)");
  expect_rejected(R"({"input_ids": [1, 2], "labels": [-100, 500]})",
                  "label 500 is neither -100 nor a token id");
  expect_rejected(R"({"input_ids": [1, 2], "loss_mask": [0, 2]})", "loss_mask holds 2");
  expect_rejected(R"({"input_ids": [1, 2], "labels": [1, 2], "loss_mask": [0, 1]})", "not both");
  expect_rejected(R"({"input_ids": [1, 2], "labels": [1, -100]})", "no target token");
  expect_rejected(R"({"input_ids": [1, 2, 3, 4, 5, 6, 7, 8, 9]})", "max_position_embeddings is 8");
  expect_rejected(R"({"input_ids": [1]})", "at least 2 tokens");
  expect_rejected(R"({"input_ids": [1, 2], "bytes": 0})", "\"bytes\" is 0");
  expect_rejected("\n\n", "the evaluation set is empty");
  EXPECT_THROW(read_eval_jsonl(dir.path() / "missing.jsonl", 100, 8), FormatError);
  // Found by the safetensors fuzzer in the same JSON parse (tests/fuzz): a number too large for a
  // double is nlohmann's out_of_range, not its parse_error, and escaped the reader.
  expect_rejected(R"({"input_ids": [1, 2], "bytes": 1e999})", ":1: not valid JSON");
  // Found with the fuzz targets' input on a larger scale: 200,000 nested brackets overflowed
  // the stack in dump() (the error message); nesting is now bounded as the line is read.
  const std::string deep(200000, '[');
  expect_rejected("{\"input_ids\": [1, " + deep + "]}", ":1: JSON nested deeper than 128 levels");
}

}  // namespace
}  // namespace murmur::arena
