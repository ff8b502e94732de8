// The acceptance test of issue 9: a tiny random LLaMA (2 layers, hidden 64, grouped-query
// attention) and 8 adapters of different ranks and targets, written as real safetensors files;
// the batched loss of every adapter equals the loss of that adapter merged into the base
// weights and evaluated alone. The decoder itself is checked against a plain double-precision
// reference, so that a bug shared by both torch paths cannot pass.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "murmur/arena/base_model.hpp"
#include "murmur/arena/errors.hpp"
#include "murmur/arena/evaluate.hpp"
#include "murmur/arena/safetensors.hpp"
#include "murmur/testing/naive_llama.hpp"
#include "murmur/testing/tiny_llama.hpp"

namespace murmur::arena {
namespace {

using testing::AdapterSpec;
constexpr std::uint64_t kSeed = 20261122;

/// |batched - merged| <= this * max(1, |merged|) in mean loss (nats per token). Both are fp32:
/// x W^T + s (x A^T) B^T against x (W + s B A)^T differ by rounding only; the mean over the
/// set's tokens averages it out (measured 9e-9 here, so this leaves a 100x margin).
constexpr double kBatchedVsMerged = 1e-6;
/// The fp32 torch decoder against the double-precision loops, mean over three sequences
/// (measured 8e-9 relative).
constexpr double kTorchVsNaive = 1e-6;

std::vector<AdapterSpec> eight_adapters() {
  using P = Projection;
  return {
      {"a0-qv-r8", 8, 16, {P::kQ, P::kV}, {}, false},
      {"a1-all-r4", 4, 8, {P::kQ, P::kK, P::kV, P::kO, P::kGate, P::kUp, P::kDown}, {}, false},
      {"a2-mlp-r16", 16, 32, {P::kGate, P::kUp, P::kDown}, {}, false},
      {"a3-o-r1", 1, 2, {P::kO}, {}, false},
      {"a4-k-layer1-r2", 2, 4, {P::kK}, {1}, false},
      {"a5-qkvo-r6-rslora", 6, 6, {P::kQ, P::kK, P::kV, P::kO}, {}, true},
      {"a6-down-layer0-r3", 3, 9, {P::kDown}, {0}, false},
      {"a7-gateup-r12", 12, 12, {P::kGate, P::kUp}, {}, false},
  };
}

class BatchedEval : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("arena_eval");
    const LlamaConfig config = testing::tiny_config();
    host_ = new testing::HostModel(testing::random_llama(config, kSeed));
    testing::write_llama(*host_, dir_->path() / "base");
    const auto specs = eight_adapters();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      // Factors on disk in all three float types.
      const Dtype dtype = i % 3 == 0 ? Dtype::kF32 : i % 3 == 1 ? Dtype::kBF16 : Dtype::kF16;
      write_adapter(dir_->path() / "adapters" / specs[i].name,
                    testing::random_adapter(config, specs[i], kSeed + 1 + i, dtype), dtype);
    }
    data_ = new EvalSet(testing::random_eval_set(config, 12, 8, 40, kSeed + 100));
    write_eval_jsonl(dir_->path() / "data.jsonl", *data_);
  }
  static void TearDownTestSuite() {
    delete data_;
    delete host_;
    delete dir_;
  }

  /// Everything as `murmur validate` reads it: from the files.
  static BaseModel base() { return BaseModel::load(dir_->path() / "base"); }
  static std::vector<LoraAdapter> adapters(const BaseModel& b) {
    std::vector<LoraAdapter> out;
    for (const auto& d : find_adapters({dir_->path() / "adapters"})) {
      AdapterLoad load = load_adapter(d, b.config(), b.name());
      EXPECT_TRUE(load.adapter) << load.reason;
      if (load.adapter) out.push_back(std::move(*load.adapter));
    }
    return out;
  }
  static std::vector<const LoraAdapter*> pointers(const std::vector<LoraAdapter>& v) {
    std::vector<const LoraAdapter*> p;
    for (const auto& a : v) p.push_back(&a);
    return p;
  }
  static double tolerance(double tol, double value) { return tol * std::max(1.0, std::abs(value)); }

  static testing::TempDir* dir_;
  static testing::HostModel* host_;
  static EvalSet* data_;
};
testing::TempDir* BatchedEval::dir_ = nullptr;
testing::HostModel* BatchedEval::host_ = nullptr;
EvalSet* BatchedEval::data_ = nullptr;

TEST_F(BatchedEval, EveryAdapterMatchesItsMergedReference) {
  const BaseModel b = base();
  const std::vector<LoraAdapter> list = adapters(b);
  ASSERT_EQ(list.size(), 8u);
  const auto ptrs = pointers(list);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<AdapterScore> batched = evaluate_batched(b, ptrs, *data_, {5, 8});
  const double batched_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const AdapterScore base_score = evaluate_base(b, *data_, 5);
  ASSERT_TRUE(base_score.valid);
  ASSERT_EQ(batched.size(), 8u);
  double worst = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    SCOPED_TRACE(list[i].name + " (seed " + std::to_string(kSeed) + ")");
    const AdapterScore merged = evaluate_merged(b, list[i], *data_, 5);
    ASSERT_TRUE(batched[i].valid) << batched[i].reason;
    ASSERT_TRUE(merged.valid);
    EXPECT_EQ(batched[i].name, list[i].name);
    EXPECT_EQ(batched[i].tokens, data_->target_tokens());
    const double diff = std::abs(batched[i].mean_loss - merged.mean_loss);
    worst = std::max(worst, diff / std::max(1.0, std::abs(merged.mean_loss)));
    EXPECT_LE(diff, tolerance(kBatchedVsMerged, merged.mean_loss))
        << "batched " << batched[i].mean_loss << " merged " << merged.mean_loss;
    // Cannot pass by accident: the adapter moved the loss far beyond the tolerance.
    EXPECT_GT(std::abs(merged.mean_loss - base_score.mean_loss),
              100 * tolerance(kBatchedVsMerged, merged.mean_loss))
        << "adapter barely changes the loss: base " << base_score.mean_loss;
    ASSERT_TRUE(batched[i].bits_per_byte);
    EXPECT_NEAR(*batched[i].bits_per_byte,
                batched[i].total_loss / std::log(2.0) / static_cast<double>(*data_->target_bytes()),
                1e-12);
    for (std::size_t j = 0; j < i; ++j)
      EXPECT_GT(std::abs(batched[i].mean_loss - batched[j].mean_loss),
                10 * tolerance(kBatchedVsMerged, 6.0))
          << "same as " << list[j].name;
  }
  std::printf(
      "[ batched ] 8 adapters, %zu target tokens in %.3f s; worst relative |batched - merged| = "
      "%.3g (tolerance %.1g)\n",
      data_->target_tokens(), batched_s, worst, kBatchedVsMerged);
}

TEST_F(BatchedEval, GroupsAndBatchSizesDoNotChangeScores) {
  const BaseModel b = base();
  const std::vector<LoraAdapter> list = adapters(b);
  const auto ptrs = pointers(list);
  const std::vector<AdapterScore> all = evaluate_batched(b, ptrs, *data_, {12, 8});
  const std::vector<AdapterScore> grouped = evaluate_batched(b, ptrs, *data_, {1, 3});  // 3+3+2
  // A memory budget of two adapters' rows of the longest batch: passes of 2 adapters.
  const std::size_t two = pass_bytes(b.config(), 2 * 5 * 40);
  ASSERT_LT(pass_bytes(b.config(), 8 * 5 * 40), std::size_t{64} << 20);  // tiny: tens of MiB
  const std::vector<AdapterScore> budgeted = evaluate_batched(b, ptrs, *data_, {5, 8, two});
  ASSERT_EQ(grouped.size(), all.size());
  ASSERT_EQ(budgeted.size(), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(grouped[i].name, all[i].name);
    EXPECT_EQ(budgeted[i].name, all[i].name);
    EXPECT_NEAR(budgeted[i].mean_loss, all[i].mean_loss,
                tolerance(kBatchedVsMerged, all[i].mean_loss));
    EXPECT_NEAR(grouped[i].mean_loss, all[i].mean_loss,
                tolerance(kBatchedVsMerged, all[i].mean_loss));
  }
}

TEST_F(BatchedEval, LongSequencesAttendInChunks) {
  // 6 sequences of 100..128 tokens: 8 adapters x 6 sequences' attention scores (256 KiB each)
  // exceed the 4 MiB chunk, so the batched forward attends in chunks of 16 sequences; the
  // merged path (6 sequences) in one. Both must agree.
  const BaseModel b = base();
  const std::vector<LoraAdapter> list = adapters(b);
  const EvalSet long_data = testing::random_eval_set(b.config(), 6, 100, 128, kSeed + 200);
  const std::vector<AdapterScore> batched = evaluate_batched(b, pointers(list), long_data, {6, 8});
  for (std::size_t i = 0; i < list.size(); i += 3) {
    const AdapterScore merged = evaluate_merged(b, list[i], long_data, 6);
    EXPECT_NEAR(batched[i].mean_loss, merged.mean_loss,
                tolerance(kBatchedVsMerged, merged.mean_loss))
        << list[i].name;
  }
}

TEST_F(BatchedEval, TorchDecoderMatchesPlainLoopsInDouble) {
  const BaseModel b = base();
  const std::vector<LoraAdapter> list = adapters(b);
  EvalSet few;  // three sequences keep the double loops fast
  few.sequences.assign(data_->sequences.begin(), data_->sequences.begin() + 3);
  double naive_base = 0, naive_all = 0;
  for (const EvalSequence& s : few.sequences) {
    naive_base += testing::naive_total_loss(*host_, nullptr, s);
    naive_all += testing::naive_total_loss(*host_, &list[1], s);  // a1: every projection
  }
  const double tokens = static_cast<double>(few.target_tokens());
  const AdapterScore torch_base = evaluate_base(b, few, 2);
  const AdapterScore torch_all = evaluate_merged(b, list[1], few, 2);
  const std::vector<const LoraAdapter*> one{&list[1]};
  const AdapterScore batched_all = evaluate_batched(b, one, few, {2, 1})[0];
  EXPECT_NEAR(torch_base.mean_loss, naive_base / tokens,
              tolerance(kTorchVsNaive, naive_base / tokens));
  EXPECT_NEAR(torch_all.mean_loss, naive_all / tokens,
              tolerance(kTorchVsNaive, naive_all / tokens));
  EXPECT_NEAR(batched_all.mean_loss, naive_all / tokens,
              tolerance(kTorchVsNaive, naive_all / tokens));
  EXPECT_GT(std::abs(naive_all - naive_base) / tokens,
            100 * tolerance(kTorchVsNaive, naive_base / tokens));
  std::printf("[ naive   ] torch base %.9f naive %.9f; merged a1 %.9f batched %.9f naive %.9f\n",
              torch_base.mean_loss, naive_base / tokens, torch_all.mean_loss, batched_all.mean_loss,
              naive_all / tokens);
}

TEST_F(BatchedEval, NonFiniteLossMarksOnlyThatAdapterInvalid) {
  const BaseModel b = base();
  std::vector<LoraAdapter> list = adapters(b);
  const auto ptrs = pointers(list);
  const std::vector<AdapterScore> clean = evaluate_batched(b, ptrs, *data_, {5, 8});
  list[2].modules[0].b[5] = std::nanf("");                           // NaN factor
  list[5].modules[0].a[0] = std::numeric_limits<float>::infinity();  // Inf factor
  const std::vector<AdapterScore> scores = evaluate_batched(b, ptrs, *data_, {5, 8});
  for (std::size_t i = 0; i < list.size(); ++i) {
    SCOPED_TRACE(list[i].name);
    if (i == 2 || i == 5) {
      EXPECT_FALSE(scores[i].valid);
      EXPECT_EQ(scores[i].reason, "non-finite loss");
    } else {
      ASSERT_TRUE(scores[i].valid);
      EXPECT_NEAR(scores[i].mean_loss, clean[i].mean_loss,
                  tolerance(kBatchedVsMerged, clean[i].mean_loss));
    }
  }
}

TEST_F(BatchedEval, HalfAndBfloatFilesLoadTheSameFloats) {
  // The base stored as BF16 and as F32 holding the same (bf16-rounded) values: identical
  // weights, identical losses, bit for bit.
  const LlamaConfig config = testing::tiny_config();
  const testing::HostModel rounded = testing::random_llama(config, kSeed + 7, Dtype::kBF16);
  testing::write_llama(rounded, dir_->path() / "bf16", Dtype::kBF16);
  testing::write_llama(rounded, dir_->path() / "f32", Dtype::kF32);
  testing::write_llama(rounded, dir_->path() / "f16", Dtype::kF16);  // bf16 values need not fit f16
  const AdapterScore from_bf16 = evaluate_base(BaseModel::load(dir_->path() / "bf16"), *data_, 6);
  const AdapterScore from_f32 = evaluate_base(BaseModel::load(dir_->path() / "f32"), *data_, 6);
  const AdapterScore from_f16 = evaluate_base(BaseModel::load(dir_->path() / "f16"), *data_, 6);
  EXPECT_EQ(from_bf16.total_loss, from_f32.total_loss);
  EXPECT_NEAR(from_f16.mean_loss, from_f32.mean_loss, 0.05);  // f16 rounds the bf16 values again
  EXPECT_TRUE(SafetensorsFile::open(dir_->path() / "bf16" / "model.safetensors")
                  .at("lm_head.weight")
                  .dtype == Dtype::kBF16);
}

TEST_F(BatchedEval, ShardedAndTiedModelsLoad) {
  // The base split into two shards with model.safetensors.index.json: bit-identical losses.
  const auto sharded = dir_->path() / "sharded";
  testing::write_llama(*host_, sharded);
  const SafetensorsFile whole = SafetensorsFile::open(sharded / "model.safetensors");
  SafetensorsWriter first, second;
  nlohmann::json index;
  for (const TensorInfo& t : whole.tensors()) {
    const bool in_first = t.name.find("layers.1.") == std::string::npos;
    (in_first ? first : second).add(t.name, t.dtype, t.shape, whole.bytes(t));
    index["weight_map"][t.name] =
        in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  first.write(sharded / "model-00001-of-00002.safetensors");
  second.write(sharded / "model-00002-of-00002.safetensors");
  std::ofstream(sharded / "model.safetensors.index.json") << index.dump();
  const AdapterScore from_one = evaluate_base(BaseModel::load(sharded), *data_, 6);
  std::filesystem::remove(sharded / "model.safetensors");
  const AdapterScore from_shards = evaluate_base(BaseModel::load(sharded), *data_, 6);
  EXPECT_EQ(from_shards.total_loss, from_one.total_loss);

  // tie_word_embeddings: no lm_head.weight, the embedding is the head; against the loops.
  LlamaConfig tied_config = testing::tiny_config();
  tied_config.tie_embeddings = true;
  const testing::HostModel tied = testing::random_llama(tied_config, kSeed + 9);
  ASSERT_EQ(tied.weights.count("lm_head.weight"), 0u);
  testing::write_llama(tied, dir_->path() / "tied");
  EvalSet few;
  few.sequences.assign(data_->sequences.begin(), data_->sequences.begin() + 2);
  double naive = 0;
  for (const EvalSequence& s : few.sequences) naive += testing::naive_total_loss(tied, nullptr, s);
  const double want = naive / static_cast<double>(few.target_tokens());
  EXPECT_NEAR(evaluate_base(BaseModel::load(dir_->path() / "tied"), few, 2).mean_loss, want,
              tolerance(kTorchVsNaive, want));
}

TEST_F(BatchedEval, BaseModelErrorsNameTheFileAndTensor) {
  const auto broken = dir_->path() / "broken";
  testing::HostModel m = *host_;
  m.weights.erase("model.layers.1.mlp.up_proj.weight");
  testing::write_llama(m, broken);
  try {
    BaseModel::load(broken);
    ADD_FAILURE() << "a model without up_proj loaded";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("missing weight 'model.layers.1.mlp.up_proj.weight'"),
              std::string::npos)
        << e.what();
  }
  testing::write_llama(*host_, broken);
  LlamaConfig narrower = host_->config;
  narrower.intermediate = 160;  // config.json no longer matches the tensors
  std::ofstream(broken / "config.json") << to_json(narrower);
  try {
    BaseModel::load(broken);
    ADD_FAILURE() << "a config.json that disagrees with the weights loaded";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("has shape [176, 64], expected [160, 64]"),
              std::string::npos)
        << e.what();
  }
  std::ofstream(broken / "config.json")
      << R"({"vocab_size": 256, "hidden_size": 64, "intermediate_size": 176,
    "num_hidden_layers": 2, "num_attention_heads": 4, "rope_scaling": {"type": "linear", "factor": 2.0}})";
  try {
    BaseModel::load(broken);
    ADD_FAILURE() << "rope_scaling accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("rope_scaling"), std::string::npos) << e.what();
  }
  std::filesystem::remove(broken / "model.safetensors");
  EXPECT_THROW(BaseModel::load(dir_->path() / "nowhere"), FormatError);
}

}  // namespace
}  // namespace murmur::arena
