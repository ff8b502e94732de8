// model/ TorchScript path: a module written here with torch::jit (the same 784-16-10 network
// as the MLP layout) loads, maps the flat vector in order, and scores candidates one at a time
// exactly as the batched MLP does; files that are not TorchScript are clear errors.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "model_support.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/model/errors.hpp"
#include "murmur/model/script_model.hpp"

namespace murmur::test {
namespace {

/// Rows of the 10,000 whose prediction may differ between libtorch's and the batched fp32
/// arithmetic (near ties of the untrained network; typically none).
constexpr std::int64_t kMaxFlips = 2;

/// Saves a scripted 784-16-10 ReLU network whose parameters are registered in the MLP's flat
/// order (w0 [16, 784], b0, w1 [10, 16], b1); forward flattens [batch, 28, 28] itself.
void save_script_mlp(const std::filesystem::path& path) {
  torch::jit::Module m("ScriptMlp");
  m.register_parameter("w0", torch::zeros({16, 784}), false);
  m.register_parameter("b0", torch::zeros({16}), false);
  m.register_parameter("w1", torch::zeros({10, 16}), false);
  m.register_parameter("b1", torch::zeros({10}), false);
  m.define(R"JIT(
def forward(self, x):
    h = torch.relu(torch.addmm(self.b0, x.reshape([x.size(0), -1]), self.w0.t()))
    return torch.addmm(self.b1, h, self.w1.t())
)JIT");
  m.save(path.string());
}

void expect_model_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "no ModelError; expected one mentioning '" << needles.front() << "'";
  } catch (const model::ModelError& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' lacks '" << n << "'";
  }
}

TEST(ScriptModel, CandidatesMatchTheBatchedMlp) {
  TempDir dir;
  save_script_mlp(dir / "mlp.pt");
  model::ScriptModel script = model::ScriptModel::load(dir / "mlp.pt");
  const model::MlpShape shape{{784, 16, 10}};
  ASSERT_EQ(script.parameters(), shape.parameters());
  EXPECT_EQ(script.describe_parameters(), "w0 [16, 784], b0 [16], w1 [10, 16], b1 [10]");

  torch::manual_seed(11);
  std::vector<float> base(shape.parameters());
  for (float& v : base) v = torch::randn({1}).item<float>() * 0.05f;
  std::vector<float> candidates = perturbed(base, 3, 12, 0.02, 2.0);
  candidates[2 * shape.parameters() + 9] = std::numeric_limits<float>::quiet_NaN();

  model::ScriptModelEvaluator one_at_a_time(script, fashion_test());
  const auto want = one_at_a_time.evaluate(candidates);
  auto cpu = kernels::make_cpu_backend(2);
  model::BatchedMlpEvaluator batched(*cpu, shape, fashion_test());
  const auto got = batched.evaluate(candidates);
  for (std::size_t k = 0; k < 2; ++k) {
    ASSERT_TRUE(want[k].valid());
    EXPECT_GT(want[k].mean_loss, 0.5);
    EXPECT_TRUE(score_matches(
        got[k], {want[k].mean_loss, static_cast<std::int64_t>(want[k].correct), kMaxFlips}, k,
        "batched vs TorchScript"));
  }
  EXPECT_EQ(want[2].status, model::CandidateStatus::kNonFiniteParameters);
  EXPECT_EQ(got[2].status, model::CandidateStatus::kNonFiniteParameters);
  // The flat vector went onto the module's parameters in order.
  script.assign(std::span<const float>(candidates).subspan(shape.parameters(), shape.parameters()));
  EXPECT_EQ(
      script.flatten(),
      std::vector<float>(candidates.begin() + static_cast<std::ptrdiff_t>(shape.parameters()),
                         candidates.begin() + static_cast<std::ptrdiff_t>(2 * shape.parameters())));
}

TEST(ScriptModel, WrongLengthIsAClearError) {
  TempDir dir;
  save_script_mlp(dir / "mlp.pt");
  model::ScriptModel script = model::ScriptModel::load(dir / "mlp.pt");
  expect_model_error([&] { script.assign(std::vector<float>(12719)); },
                     {"12719 floats", "has 12730", "w0 [16, 784]"});
  model::ScriptModelEvaluator eval(script, fashion_test());
  expect_model_error([&] { eval.evaluate(std::vector<float>(12730 + 1)); }, {"12731 floats"});
}

TEST(ScriptModel, FilesThatDoNotLoad) {
  TempDir dir;
  expect_model_error([&] { model::ScriptModel::load(dir / "absent.pt"); },
                     {"absent.pt", "no such file"});
  {
    std::ofstream junk(dir / "junk.pt", std::ios::binary);
    junk << "this is not a TorchScript archive\n";
  }
  expect_model_error([&] { model::ScriptModel::load(dir / "junk.pt"); },
                     {"junk.pt", "does not load", "torch.jit.save"});
  save_script_mlp(dir / "mlp.pt");
  std::ifstream in(dir / "mlp.pt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  {
    std::ofstream cut(dir / "cut.pt", std::ios::binary);
    cut.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  expect_model_error([&] { model::ScriptModel::load(dir / "cut.pt"); },
                     {"cut.pt", "does not load"});
}

TEST(ScriptModel, OutputThatIsNotLogits) {
  TempDir dir;
  torch::jit::Module m("Scalar");
  m.register_parameter("w", torch::ones({1}), false);
  m.define(R"JIT(
def forward(self, x):
    return (x * self.w).sum()
)JIT");
  m.save((dir / "scalar.pt").string());
  model::ScriptModel script = model::ScriptModel::load(dir / "scalar.pt");
  expect_model_error([&] { script.evaluate(fashion_test()); }, {"expected float logits"});
}

}  // namespace
}  // namespace murmur::test
