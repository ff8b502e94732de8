#pragma once
// Test and benchmark models: random LLaMA-style decoders, adapters and evaluation sets, written
// as real files (config.json, safetensors, adapter_config.json, JSONL) through arena's writers.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "murmur/arena/adapter.hpp"
#include "murmur/arena/eval_data.hpp"
#include "murmur/arena/llama_config.hpp"
#include "murmur/testing/temp_dir.hpp"

namespace murmur::arena::testing {

/// A decoder's weights in host memory by Hugging Face name, as stored (rounded to the file's
/// dtype), so that a reference computed from them sees what the loader reads.
struct HostModel {
  LlamaConfig config;
  std::map<std::string, std::vector<float>> weights;
};

/// arena's tiny_llama_config() (llama_config.hpp): 2 layers, hidden 64, 4 query heads sharing 2
/// key/value heads (grouped-query attention), intermediate 176, vocabulary 256.
LlamaConfig tiny_config();

/// Weights drawn from N(0, 1/fan_in) (embeddings N(0, 1), norms 1 + N(0, 0.1)) with seed
/// `seed`, then rounded through `dtype`: logits of order one, so adapters move the loss.
HostModel random_llama(const LlamaConfig& config, std::uint64_t seed, Dtype dtype = Dtype::kF32);

/// Writes config.json and model.safetensors (in `dtype`) into `dir`.
void write_llama(const HostModel& model, const std::filesystem::path& dir,
                 Dtype dtype = Dtype::kF32);

/// What an adapter changes.
struct AdapterSpec {
  std::string name;
  std::size_t rank = 8;
  double alpha = 16;
  std::vector<Projection> targets;
  std::vector<std::size_t> layers;  ///< empty: every layer
  bool rslora = false;
};

/// An adapter with A ~ N(0, 1/in) and B ~ N(0, 1/rank) (PEFT starts B at zero; a trained one
/// is not), scaled so that scale * B A is of the order of the base weights; factors rounded
/// through `dtype`.
LoraAdapter random_adapter(const LlamaConfig& config, const AdapterSpec& spec, std::uint64_t seed,
                           Dtype dtype = Dtype::kF32);

/// `count` sequences of lengths in [min_len, max_len], random ids; the first third of each
/// sequence is a prompt (labels -100), the rest targets; bytes = 3 per target token.
EvalSet random_eval_set(const LlamaConfig& config, std::size_t count, std::size_t min_len,
                        std::size_t max_len, std::uint64_t seed);

using murmur::testing::TempDir;

}  // namespace murmur::arena::testing
