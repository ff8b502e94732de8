// `murmur validate` end to end: files written by the test, the CLI run as a process, its JSON
// read back.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "murmur/arena/adapter.hpp"
#include "murmur/testing/process.hpp"
#include "murmur/testing/tiny_llama.hpp"

namespace murmur::arena {
namespace {

std::pair<int, std::string> run(const std::string& command) {
  return murmur::testing::run_command(command);
}

TEST(ValidateCli, ScoresRanksAndRejects) {
  testing::TempDir dir("validate_cli");
  const LlamaConfig config = testing::tiny_config();
  testing::write_llama(testing::random_llama(config, 5), dir.path() / "base");
  using P = Projection;
  const std::vector<testing::AdapterSpec> specs{
      {"qv", 4, 8, {P::kQ, P::kV}, {}, false},
      {"mlp", 8, 8, {P::kGate, P::kUp, P::kDown}, {}, false},
      {"o", 2, 4, {P::kO}, {}, false}};
  for (std::size_t i = 0; i < specs.size(); ++i)
    write_adapter(dir.path() / "adapters" / specs[i].name,
                  testing::random_adapter(config, specs[i], 50 + i));
  testing::AdapterSpec wrong{"wrong-base", 2, 4, {P::kQ}, {}, false};
  LoraAdapter other = testing::random_adapter(config, wrong, 60);
  other.base_model = "meta-llama/Llama-2-7b-hf";
  write_adapter(dir.path() / "more" / "wrong-base", other);
  write_eval_jsonl(dir.path() / "data.jsonl", testing::random_eval_set(config, 6, 6, 20, 70));

  const auto out = dir.path() / "scores.json";
  const std::string cmd =
      std::string(MURMUR_CLI) + " validate --base " + (dir.path() / "base").string() +
      " --adapters " + (dir.path() / "adapters").string() + " " + (dir.path() / "more").string() +
      " --data " + (dir.path() / "data.jsonl").string() +
      " --batch 4 --adapters-per-pass 2 --device cpu --check-merged --out " + out.string();
  const auto [status, output] = run(cmd);
  ASSERT_EQ(status, 0) << output;
  EXPECT_NE(output.find("4 adapters, 3 loaded, 1 rejected"), std::string::npos) << output;
  EXPECT_NE(output.find("INVALID: rejected:"), std::string::npos) << output;

  std::ifstream in(out);
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["base_model"], "tiny-llama");
  EXPECT_EQ(j["sequences"], 6);
  ASSERT_TRUE(j["target_bytes"].is_number());
  ASSERT_TRUE(j["base"]["mean_loss"].is_number());
  const auto& adapters = j["adapters"];
  ASSERT_EQ(adapters.size(), 4u);
  double previous = -1;
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(adapters[i]["rank"], i + 1);
    EXPECT_TRUE(adapters[i]["valid"].get<bool>());
    EXPECT_GT(adapters[i]["mean_loss"].get<double>(), previous);  // ranked by loss
    previous = adapters[i]["mean_loss"].get<double>();
    EXPECT_TRUE(adapters[i]["bits_per_byte"].is_number());
    EXPECT_TRUE(adapters[i]["reason"].is_null());
  }
  EXPECT_EQ(adapters[3]["name"], "wrong-base");
  EXPECT_FALSE(adapters[3]["valid"].get<bool>());
  EXPECT_TRUE(adapters[3]["rank"].is_null());
  EXPECT_NE(adapters[3]["reason"].get<std::string>().find(
                "trained on base model 'meta-llama/Llama-2-7b-hf'"),
            std::string::npos);
}

TEST(ValidateCli, FatalInputsExitNonZeroWithTheReason) {
  testing::TempDir dir("validate_cli_bad");
  const LlamaConfig config = testing::tiny_config();
  testing::write_llama(testing::random_llama(config, 5), dir.path() / "base");
  write_adapter(dir.path() / "a",
                testing::random_adapter(config, {"a", 2, 4, {Projection::kQ}, {}, false}, 1));
  std::ofstream(dir.path() / "data.jsonl") << R"({"input_ids": [1, 2, 999]})"
                                           << "\n";
  const auto [status, output] =
      run(std::string(MURMUR_CLI) + " validate --base " + (dir.path() / "base").string() +
          " --adapters " + (dir.path() / "a").string() + " --data " +
          (dir.path() / "data.jsonl").string() + " --out " + (dir.path() / "s.json").string());
  EXPECT_EQ(status, 1) << output;
  EXPECT_NE(
      output.find("data.jsonl:1: token id 999 is outside the base model's vocabulary [0, 256)"),
      std::string::npos)
      << output;
}

// --strategy merged scores each adapter merged into the base, alone; batched in one SGMV pass.
// The two agree within kBatchedVsMerged = 1e-6 relative (batched_eval_test.cpp) and rank alike.
TEST(ValidateCli, MergedAndBatchedStrategiesAgree) {
  testing::TempDir dir("validate_cli_strategy");
  const LlamaConfig config = testing::tiny_config();
  testing::write_llama(testing::random_llama(config, 7), dir.path() / "base");
  using P = Projection;
  const std::vector<testing::AdapterSpec> specs{{"qv", 4, 8, {P::kQ, P::kV}, {}, false},
                                                {"mlp", 8, 8, {P::kGate, P::kUp}, {}, false},
                                                {"o", 2, 4, {P::kO}, {}, false}};
  for (std::size_t i = 0; i < specs.size(); ++i)
    write_adapter(dir.path() / "adapters" / specs[i].name,
                  testing::random_adapter(config, specs[i], 80 + i));
  write_eval_jsonl(dir.path() / "data.jsonl", testing::random_eval_set(config, 5, 6, 20, 90));
  std::map<std::string, std::map<std::string, double>> loss;  // strategy -> name -> loss
  for (const std::string strategy : {"batched", "merged"}) {
    const auto out = dir.path() / (strategy + ".json");
    const auto [status, output] =
        run(std::string(MURMUR_CLI) + " validate --base " + (dir.path() / "base").string() +
            " --adapters " + (dir.path() / "adapters").string() + " --data " +
            (dir.path() / "data.jsonl").string() + " --batch 2 --device cpu --strategy " +
            strategy + " --check-merged --out " + out.string());
    ASSERT_EQ(status, 0) << output;
    std::ifstream in(out);
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const auto& a : j.at("adapters"))
      loss[strategy][a.at("name").get<std::string>()] = a.at("mean_loss").get<double>();
  }
  ASSERT_EQ(loss["batched"].size(), 3u);
  ASSERT_EQ(loss["merged"].size(), 3u);
  for (const auto& [name, b] : loss["batched"]) {
    const double m = loss["merged"].at(name);
    EXPECT_LE(std::abs(b - m), 1e-6 * std::abs(m)) << name << ": batched " << b << ", merged " << m;
  }
}

}  // namespace
}  // namespace murmur::arena
