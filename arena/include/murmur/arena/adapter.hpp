#pragma once
// PEFT LoRA adapters: adapter_config.json + adapter_model.safetensors, checked against the base
// model they are to be evaluated on. A bad adapter is rejected with a reason, never fatal.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "murmur/arena/dtype.hpp"
#include "murmur/arena/llama_config.hpp"

namespace murmur::arena {

/// One projection an adapter changes: W' = W + scale * B A.
struct LoraModule {
  std::size_t layer = 0;
  Projection projection = Projection::kQ;
  std::size_t rank = 0;
  float scale = 0;       ///< lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora
  std::vector<float> a;  ///< A [rank, in_features], row-major
  std::vector<float> b;  ///< B [out_features, rank], row-major
};

/// A loaded, checked adapter.
struct LoraAdapter {
  std::string name;        ///< the directory's name
  std::string base_model;  ///< base_model_name_or_path ("" when the config gives none)
  std::size_t rank = 0;    ///< r
  double alpha = 0;        ///< lora_alpha
  bool rslora = false;
  std::vector<LoraModule> modules;  ///< sorted by (layer, projection)

  /// The module for (layer, p), or nullptr when the adapter leaves that projection alone.
  const LoraModule* find(std::size_t layer, Projection p) const;
  /// Floats in all factors.
  std::size_t parameters() const;
  /// e.g. "r=8 alpha=16 q_proj,v_proj x2 layers".
  std::string describe() const;
};

/// The result of loading one adapter: the adapter, or why it was rejected.
struct AdapterLoad {
  std::string name;
  std::filesystem::path dir;
  std::optional<LoraAdapter> adapter;
  std::string reason;  ///< empty when loaded
};

/// Loads `dir` (adapter_config.json + adapter_model.safetensors) for a base of shape `base`
/// named `base_name`. Follows PEFT: peft_type LORA; target_modules a list (a module matches a
/// target equal to its name or ending in "." + target), a regular expression (full match) or
/// "all-linear"; layers_to_transform; rank_pattern and alpha_pattern (keys matched as name
/// suffixes); scale = alpha / r, or alpha / sqrt(r) with use_rslora; tensors named
/// "base_model.model.<module>.lora_{A,B}.weight". Rejected, with a reason naming the file and
/// the tensor: a base_model_name_or_path whose last path component differs from base_name's
/// (when both are given); a missing, unexpected or non-float tensor; an A or B whose shape is not
/// [r, in] / [out, r]; a rank that disagrees with the config; bias, DoRA, modules_to_save or
/// targets outside the seven projections; a config or file that does not parse.
AdapterLoad load_adapter(const std::filesystem::path& dir, const LlamaConfig& base,
                         std::string_view base_name);

/// The adapter directories under each of `roots`: a root that holds adapter_config.json is
/// one adapter, else each immediate subdirectory that holds one (sorted by name). Throws
/// FormatError when a root does not exist or holds no adapter.
std::vector<std::filesystem::path> find_adapters(const std::vector<std::filesystem::path>& roots);

/// Writes `adapter` as PEFT does (adapter_config.json listing its target modules, r, alpha,
/// rank_pattern for modules whose rank differs from r; adapter_model.safetensors in `dtype`).
void write_adapter(const std::filesystem::path& dir, const LoraAdapter& adapter,
                   Dtype dtype = Dtype::kF32);

}  // namespace murmur::arena
