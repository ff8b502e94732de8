#include "murmur/testing/tiny_llama.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "murmur/arena/safetensors.hpp"

namespace murmur::arena::testing {
namespace {

std::vector<float> normal(std::size_t n, double mean, double stddev, std::mt19937_64& rng,
                          Dtype dtype) {
  std::normal_distribution<double> dist(mean, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(dist(rng));
  if (dtype != Dtype::kF32) {
    std::vector<std::byte> bytes(n * element_bytes(dtype));
    from_float(dtype, v, bytes);
    to_float(dtype, bytes, v);
  }
  return v;
}

}  // namespace

LlamaConfig tiny_config() {
  return tiny_llama_config();
}

HostModel random_llama(const LlamaConfig& c, std::uint64_t seed, Dtype dtype) {
  std::mt19937_64 rng(seed);
  HostModel m;
  m.config = c;
  m.config.torch_dtype = dtype == Dtype::kF32   ? "float32"
                         : dtype == Dtype::kF16 ? "float16"
                                                : "bfloat16";
  m.weights["model.embed_tokens.weight"] = normal(c.vocab * c.hidden, 0, 1, rng, dtype);
  m.weights["model.norm.weight"] = normal(c.hidden, 1, 0.1, rng, dtype);
  if (!c.tie_embeddings)
    m.weights["lm_head.weight"] =
        normal(c.vocab * c.hidden, 0, 1 / std::sqrt(double(c.hidden)), rng, dtype);
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    m.weights[prefix + "input_layernorm.weight"] = normal(c.hidden, 1, 0.1, rng, dtype);
    m.weights[prefix + "post_attention_layernorm.weight"] = normal(c.hidden, 1, 0.1, rng, dtype);
    for (Projection p : kAllProjections)
      m.weights[LlamaConfig::weight_name(l, p)] =
          normal(c.out_features(p) * c.in_features(p), 0, 1 / std::sqrt(double(c.in_features(p))),
                 rng, dtype);
  }
  return m;
}

void write_llama(const HostModel& m, const std::filesystem::path& dir, Dtype dtype) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << to_json(m.config) << "\n";
  const LlamaConfig& c = m.config;
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const auto& [name, values] : m.weights) {
    std::vector<std::size_t> shape;
    if (name == "model.embed_tokens.weight" || name == "lm_head.weight") {
      shape = {c.vocab, c.hidden};
    } else if (name.ends_with("norm.weight")) {
      shape = {c.hidden};
    } else {
      const auto proj_name = name.substr(0, name.size() - std::string(".weight").size());
      const auto p = parse_module_name(proj_name.substr(proj_name.rfind('.') + 1));
      shape = {c.out_features(*p), c.in_features(*p)};
    }
    w.add_float(name, dtype, shape, values);
  }
  w.write(dir / "model.safetensors");
}

LoraAdapter random_adapter(const LlamaConfig& c, const AdapterSpec& spec, std::uint64_t seed,
                           Dtype dtype) {
  std::mt19937_64 rng(seed);
  LoraAdapter a;
  a.name = spec.name;
  a.base_model = c.name;
  a.rank = spec.rank;
  a.alpha = spec.alpha;
  a.rslora = spec.rslora;
  const double r = static_cast<double>(spec.rank);
  const float scale = static_cast<float>(spec.rslora ? spec.alpha / std::sqrt(r) : spec.alpha / r);
  for (std::size_t l = 0; l < c.layers; ++l) {
    if (!spec.layers.empty() &&
        std::find(spec.layers.begin(), spec.layers.end(), l) == spec.layers.end())
      continue;
    for (Projection p : kAllProjections) {
      if (std::find(spec.targets.begin(), spec.targets.end(), p) == spec.targets.end()) continue;
      LoraModule m;
      m.layer = l;
      m.projection = p;
      m.rank = spec.rank;
      m.scale = scale;
      // scale * B A has entries of order 0.5 / sqrt(in): half the base weights' size.
      m.a = normal(spec.rank * c.in_features(p), 0, 1 / std::sqrt(double(c.in_features(p))), rng,
                   dtype);
      m.b = normal(c.out_features(p) * spec.rank, 0, 0.5 / (scale * std::sqrt(r)), rng, dtype);
      a.modules.push_back(std::move(m));
    }
  }
  return a;
}

EvalSet random_eval_set(const LlamaConfig& c, std::size_t count, std::size_t min_len,
                        std::size_t max_len, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> token(0, static_cast<std::int64_t>(c.vocab) - 1);
  std::uniform_int_distribution<std::size_t> length(min_len, max_len);
  EvalSet set;
  for (std::size_t i = 0; i < count; ++i) {
    EvalSequence s;
    const std::size_t n = length(rng);
    for (std::size_t t = 0; t < n; ++t) {
      s.tokens.push_back(token(rng));
      s.labels.push_back(t < n / 3 ? kIgnoreLabel : s.tokens.back());
    }
    s.bytes = 3 * s.targets();
    set.sequences.push_back(std::move(s));
  }
  return set;
}

}  // namespace murmur::arena::testing
