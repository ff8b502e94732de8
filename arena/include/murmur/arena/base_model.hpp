#pragma once
// A LLaMA-style base model loaded for evaluation (libtorch behind a torch-free face).
#include <filesystem>
#include <memory>
#include <string>

#include "murmur/arena/llama_config.hpp"

namespace murmur::arena {

/// Where the decoder runs.
enum class Device {
  kCpu,
  kCuda,  ///< needs a CUDA build of libtorch and a device; load() says so otherwise
};

/// A decoder's weights as float32 tensors on one device, read from a directory holding
/// config.json and model.safetensors (or model.safetensors.index.json and its shards), in F32,
/// F16 or BF16. Names are Hugging Face's LlamaForCausalLM's ("model.embed_tokens.weight",
/// "model.layers.{i}.self_attn.q_proj.weight", ..., "model.norm.weight", "lm_head.weight"
/// unless tie_word_embeddings). Copies share the weights; a BaseModel is read-only.
class BaseModel {
 public:
  /// Loads and checks every weight's shape against config.json. Throws FormatError naming the
  /// file and tensor (missing, wrong shape, non-float), or std::runtime_error when kCuda is
  /// asked of a build or machine without CUDA.
  static BaseModel load(const std::filesystem::path& dir, Device device = Device::kCpu);

  const LlamaConfig& config() const;
  /// config.json's _name_or_path, else the directory's name: what adapters' base_model_name_or_path
  /// is compared with.
  const std::string& name() const;
  Device device() const;
  /// Floats in all weights.
  std::size_t parameters() const;

  struct Impl;
  /// For the evaluator (arena/src/): the torch tensors.
  const Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const Impl> impl_;
};

/// Whether the decoder can run on a CUDA device now: libtorch has CUDA and a device, and the
/// kernels (sgmv) were built with CUDA.
bool cuda_available();

}  // namespace murmur::arena
