// Loading a LLaMA-style decoder's safetensors weights into float32 torch tensors.
#include <torch/cuda.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "json_depth.hpp"
#include "murmur/arena/errors.hpp"
#include "murmur/arena/safetensors.hpp"
#include "murmur/kernels/backend.hpp"
#include "torch_llama.hpp"

namespace murmur::arena {
namespace {

/// The weights of a model directory: one file, or the shards an index names.
class WeightFiles {
 public:
  explicit WeightFiles(const std::filesystem::path& dir) {
    const auto single = dir / "model.safetensors";
    const auto index = dir / "model.safetensors.index.json";
    if (std::filesystem::exists(single)) {
      files_.emplace(single.filename().string(), SafetensorsFile::open(single));
      for (const TensorInfo& t : files_.begin()->second.tensors())
        where_[t.name] = single.filename().string();
      return;
    }
    if (!std::filesystem::exists(index))
      throw FormatError(dir.string() +
                        ": no model.safetensors or model.safetensors.index.json (a base model "
                        "directory holds config.json and safetensors weights)");
    std::ifstream in(index);
    nlohmann::json j;
    try {
      j = parse_json_bounded(in, index.string() + ": ");
    } catch (const nlohmann::json::exception& e) {  // also out_of_range: a number like 1e999
      throw FormatError(index.string() + ": not valid JSON: " + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw FormatError(index.string() + ": no \"weight_map\" object");
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string())
        throw FormatError(index.string() + ": weight_map[" + name + "] is not a file name");
      const std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos)
        throw FormatError(index.string() + ": shard \"" + f + "\" is not a plain file name");
      if (!files_.count(f)) files_.emplace(f, SafetensorsFile::open(dir / f));
      where_[name] = f;
    }
  }

  /// The tensor `name` as float32 [shape] on `device`.
  torch::Tensor load(const std::string& name, std::vector<std::size_t> shape,
                     torch::Device device) const {
    const auto it = where_.find(name);
    if (it == where_.end()) throw FormatError("base model: missing weight '" + name + "'");
    const SafetensorsFile& file = files_.at(it->second);
    std::vector<float> values = file.read_float(name, shape);
    std::vector<std::int64_t> sizes(shape.begin(), shape.end());
    return torch::from_blob(values.data(), sizes, torch::kFloat).clone().to(device);
  }

  const std::map<std::string, std::string>& names() const { return where_; }

 private:
  std::map<std::string, SafetensorsFile> files_;
  std::map<std::string, std::string> where_;  // tensor -> file
};

}  // namespace

ProjectionSlot projection_slot(const LlamaConfig& c, Projection p) {
  const auto q = static_cast<std::int64_t>(c.out_features(Projection::kQ));
  const auto kv = static_cast<std::int64_t>(c.out_features(Projection::kK));
  const auto inter = static_cast<std::int64_t>(c.intermediate);
  const auto hidden = static_cast<std::int64_t>(c.hidden);
  switch (p) {
    case Projection::kQ: return {&LayerWeights::qkv, 0, q};
    case Projection::kK: return {&LayerWeights::qkv, q, kv};
    case Projection::kV: return {&LayerWeights::qkv, q + kv, kv};
    case Projection::kO: return {&LayerWeights::o, 0, hidden};
    case Projection::kGate: return {&LayerWeights::gate_up, 0, inter};
    case Projection::kUp: return {&LayerWeights::gate_up, inter, inter};
    case Projection::kDown: return {&LayerWeights::down, 0, hidden};
  }
  throw std::logic_error("projection_slot: unknown projection");
}

bool cuda_available() {
  return torch::cuda::is_available() && kernels::cuda_compiled();
}

BaseModel BaseModel::load(const std::filesystem::path& dir, Device device) {
  if (device == Device::kCuda && !torch::cuda::is_available())
    throw std::runtime_error(
        "--device cuda: this libtorch has no CUDA or no device answers; use --device cpu");
  if (device == Device::kCuda && !kernels::cuda_compiled())
    throw std::runtime_error(
        "--device cuda: the kernels were built without CUDA (no nvcc at configure time), so "
        "sgmv cannot run on the device; use --device cpu");
  auto impl = std::make_shared<Impl>();
  impl->config = read_llama_config(dir / "config.json");
  const LlamaConfig& c = impl->config;
  std::filesystem::path clean = dir;
  if (clean.filename().empty()) clean = clean.parent_path();
  impl->name = c.name.empty() ? clean.filename().string() : c.name;
  impl->device = device;
  impl->torch_device =
      device == Device::kCuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  torch::NoGradGuard no_grad;
  const torch::Device dev = impl->torch_device;
  const WeightFiles files(dir);
  std::map<std::string, bool> used;
  const auto load = [&](const std::string& name, std::vector<std::size_t> shape) {
    used[name] = true;
    return files.load(name, std::move(shape), dev);
  };
  impl->embed = load("model.embed_tokens.weight", {c.vocab, c.hidden});
  impl->final_norm = load("model.norm.weight", {c.hidden});
  impl->lm_head = c.tie_embeddings ? impl->embed : load("lm_head.weight", {c.vocab, c.hidden});
  if (c.tie_embeddings) used["lm_head.weight"] = true;  // a tied copy, if saved, is ignored
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    LayerWeights w;
    w.input_norm = load(prefix + "input_layernorm.weight", {c.hidden});
    w.post_norm = load(prefix + "post_attention_layernorm.weight", {c.hidden});
    const auto proj = [&](Projection p) {
      return load(LlamaConfig::weight_name(l, p), {c.out_features(p), c.in_features(p)});
    };
    w.qkv = torch::cat({proj(Projection::kQ), proj(Projection::kK), proj(Projection::kV)}, 0);
    w.o = proj(Projection::kO);
    w.gate_up = torch::cat({proj(Projection::kGate), proj(Projection::kUp)}, 0);
    w.down = proj(Projection::kDown);
    impl->layers.push_back(std::move(w));
  }
  for (const auto& [name, file] : files.names())
    if (!used.count(name) && name.find("rotary_emb.inv_freq") == std::string::npos)
      throw FormatError(dir.string() + ": unexpected weight '" + name + "' in " + file +
                        ": not part of a " + std::to_string(c.layers) +
                        "-layer LlamaForCausalLM (a different architecture or config.json?)");
  std::size_t n = static_cast<std::size_t>(impl->embed.numel() + impl->final_norm.numel());
  if (!c.tie_embeddings) n += static_cast<std::size_t>(impl->lm_head.numel());
  for (const LayerWeights& w : impl->layers)
    n += static_cast<std::size_t>(w.input_norm.numel() + w.post_norm.numel() + w.qkv.numel() +
                                  w.o.numel() + w.gate_up.numel() + w.down.numel());
  impl->parameters = n;
  BaseModel model;
  model.impl_ = std::move(impl);
  return model;
}

const LlamaConfig& BaseModel::config() const {
  return impl_->config;
}
const std::string& BaseModel::name() const {
  return impl_->name;
}
Device BaseModel::device() const {
  return impl_->device;
}
std::size_t BaseModel::parameters() const {
  return impl_->parameters;
}

}  // namespace murmur::arena
