// murmur-tokenize and `murmur validate --tokenizer`: a real sentencepiece model, trained by the
// test with Debian's spm_train on a generated corpus, checked against spm_encode's ids.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "murmur/arena/adapter.hpp"
#include "murmur/testing/process.hpp"
#include "murmur/testing/tiny_llama.hpp"

namespace murmur::arena {
namespace {

std::pair<int, std::string> run(const std::string& command) {
  return murmur::testing::run_command(command);
}

std::string quoted(const std::filesystem::path& p) {
  std::string q(1, '\'');  // built in steps: GCC 12's -Wrestrict misfires on "'" + s + "'"
  q += p.string();
  q += '\'';
  return q;
}

/// A unigram model of at most 120 pieces (unk 0, bos 1, eos 2) trained on a few hundred generated
/// sentences: built once for the suite.
class Tokenize : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("tokenize");
    std::ofstream corpus(dir_->path() / "corpus.txt");
    const char* words[] = {"the",    "murmuration", "of",     "starlings", "turns",   "over",
                           "fields", "and",         "rivers", "at",        "dusk",    "while",
                           "nodes",  "train",       "models", "aggregate", "updates", "vote",
                           "on",     "candidates",  "rewards"};
    for (int i = 0; i < 400; ++i) {
      for (int k = 0; k < 9; ++k) corpus << (k ? " " : "") << words[(i * 7 + k * 5 + k * k) % 21];
      corpus << ".\n";
    }
    corpus.close();
    const auto [status, output] = run("spm_train --input=" + quoted(dir_->path() / "corpus.txt") +
                                      " --model_prefix=" + quoted(dir_->path() / "tok") +
                                      " --vocab_size=120 --hard_vocab_limit=false "
                                      "--model_type=unigram --character_coverage=1.0 --unk_id=0"
                                      " --bos_id=1 --eos_id=2 --pad_id=-1 --minloglevel=2");
    ASSERT_EQ(status, 0) << "spm_train (Debian package sentencepiece) failed:\n" << output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::filesystem::path model() { return dir_->path() / "tok.model"; }
  static const std::filesystem::path& dir() { return dir_->path(); }

  /// spm_encode's ids for one line of text.
  static std::vector<long long> encode(const std::string& text) {
    std::ofstream(dir() / "one.txt") << text << "\n";
    const auto [status, output] = run("spm_encode --model=" + quoted(model()) +
                                      " --output_format=id < " + quoted(dir() / "one.txt"));
    EXPECT_EQ(status, 0) << output;
    std::istringstream in(output);
    std::vector<long long> ids;
    for (long long id; in >> id;) ids.push_back(id);
    return ids;
  }

  static std::pair<int, std::string> tokenize(const std::string& jsonl,
                                              const std::string& flags = "") {
    std::ofstream(dir() / "text.jsonl") << jsonl;
    return run(std::string(MURMUR_TOKENIZE) + " --model " + quoted(model()) + " --in " +
               quoted(dir() / "text.jsonl") + " --out " + quoted(dir() / "ids.jsonl") + " " +
               flags);
  }

  static std::vector<nlohmann::json> output_lines() {
    std::ifstream in(dir() / "ids.jsonl");
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }

  static testing::TempDir* dir_;
};

testing::TempDir* Tokenize::dir_ = nullptr;

TEST_F(Tokenize, PromptAndCompletionAreSpmEncodeIdsWithOnlyTheCompletionAsTarget) {
  const std::string prompt = "the starlings turns over", completion = "fields and rivers at dusk";
  const auto [status, output] =
      tokenize(nlohmann::json{{"prompt", prompt}, {"completion", completion}}.dump() + "\n");
  ASSERT_EQ(status, 0) << output;
  const auto lines = output_lines();
  ASSERT_EQ(lines.size(), 1u);
  const auto p = encode(prompt), c = encode(completion);
  ASSERT_FALSE(p.empty());
  ASSERT_FALSE(c.empty());
  std::vector<long long> ids{1}, labels{-100};  // BOS, not a target
  for (auto id : p) ids.push_back(id), labels.push_back(-100);
  for (auto id : c) ids.push_back(id), labels.push_back(id);
  EXPECT_EQ(lines[0]["input_ids"].get<std::vector<long long>>(), ids);
  EXPECT_EQ(lines[0]["labels"].get<std::vector<long long>>(), labels);
  EXPECT_EQ(lines[0]["bytes"], completion.size());
}

TEST_F(Tokenize, MessagesTargetEveryAssistantTurnAndEosEndsEachTarget) {
  const nlohmann::json line{{"messages",
                             {{{"role", "system"}, {"content", "nodes train models"}},
                              {{"role", "user"}, {"content", "vote on candidates"}},
                              {{"role", "assistant"}, {"content", "rewards"}},
                              {{"role", "user"}, {"content", "aggregate updates"}},
                              {{"role", "assistant"}, {"content", "the murmuration turns"}}}}};
  const auto [status, output] = tokenize(line.dump() + "\n" + line.dump() + "\n", "--eos --no-bos");
  ASSERT_EQ(status, 0) << output;
  const auto lines = output_lines();
  ASSERT_EQ(lines.size(), 2u);
  std::vector<long long> ids, labels;
  for (const auto& m : line["messages"]) {
    const bool target = m["role"] == "assistant";
    for (auto id : encode(m["content"])) ids.push_back(id), labels.push_back(target ? id : -100);
    if (target) ids.push_back(2), labels.push_back(2);  // EOS after each assistant turn
  }
  EXPECT_EQ(lines[0]["input_ids"].get<std::vector<long long>>(), ids);
  EXPECT_EQ(lines[0]["labels"].get<std::vector<long long>>(), labels);
  EXPECT_EQ(lines[0]["bytes"],
            std::string("rewards").size() + std::string("the murmuration turns").size());
  EXPECT_EQ(lines[1], lines[0]);
}

TEST_F(Tokenize, BadInputIsAClearErrorWithFileAndLine) {
  {
    std::ofstream(dir() / "bad.model") << "not a model";
    const auto [status, output] =
        run(std::string(MURMUR_TOKENIZE) + " --model " + quoted(dir() / "bad.model") + " --in " +
            quoted(model()) + " --out " + quoted(dir() / "x.jsonl"));
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("not a sentencepiece model"), std::string::npos) << output;
  }
  {
    const auto [status, output] =
        tokenize("{\"prompt\": \"a\", \"completion\": \"dusk\"}\n{\"prompt\": 3\n");
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("text.jsonl:2: "), std::string::npos) << output;
  }
  {
    const auto [status, output] =
        tokenize("{\"prompt\": \"the starlings\", \"completion\": \"\"}\n");
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("text.jsonl:1: no target tokens"), std::string::npos) << output;
  }
  {
    const auto [status, output] = tokenize("{\"text\": \"dusk\"}\n");
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("expected \"prompt\" and \"completion\", or \"messages\""),
              std::string::npos)
        << output;
  }
  {
    const auto [status, output] = tokenize(
        "{\"prompt\": \"the starlings turns\", \"completion\": \"over fields and rivers\"}\n",
        "--max-positions 4");
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("positions"), std::string::npos) << output;
  }
}

TEST_F(Tokenize, MurmurValidateScoresAdaptersOnPlainText) {
  const LlamaConfig config = testing::tiny_config();  // vocabulary 256 > the model's 120 pieces
  testing::write_llama(testing::random_llama(config, 5), dir() / "base");
  write_adapter(dir() / "adapters" / "qv",
                testing::random_adapter(
                    config, {"qv", 4, 8, {Projection::kQ, Projection::kV}, {}, false}, 9));
  std::ofstream text(dir() / "chat.jsonl");
  text << nlohmann::json{{"prompt", "the starlings turns over"},
                         {"completion", "fields and rivers at dusk"}}
              .dump()
       << "\n"
       << nlohmann::json{{"messages",
                          {{{"role", "user"}, {"content", "nodes train models"}},
                           {{"role", "assistant"}, {"content", "and vote on candidates"}}}}}
              .dump()
       << "\n";
  text.close();
  const auto out = dir() / "scores.json";
  const auto [status, output] =
      run(std::string(MURMUR_CLI) + " validate --base " + quoted(dir() / "base") + " --adapters " +
          quoted(dir() / "adapters") + " --data " + quoted(dir() / "chat.jsonl") + " --tokenizer " +
          quoted(model()) + " --device cpu --check-merged --out " + quoted(out));
  ASSERT_EQ(status, 0) << output;
  std::ifstream in(out);
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["sequences"], 2);
  EXPECT_EQ(j["target_bytes"], std::string("fields and rivers at dusk").size() +
                                   std::string("and vote on candidates").size());
  ASSERT_EQ(j["adapters"].size(), 1u);
  EXPECT_TRUE(j["adapters"][0]["valid"].get<bool>());
  EXPECT_TRUE(j["adapters"][0]["bits_per_byte"].is_number());
}

}  // namespace
}  // namespace murmur::arena
