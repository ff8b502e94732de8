// libFuzzer target for PEFT LoRA adapters (arena/src/adapter.cpp): adapter_config.json (peft
// type, r, lora_alpha, target_modules as a list, a regular expression or "all-linear",
// layers_to_transform, rank and alpha patterns) and adapter_model.safetensors, checked against
// a small base model. load_adapter promises never to throw: a bad adapter comes back with a
// reason. Any exception, sanitizer report or broken invariant below is a bug.
//
// Input layout: adapter_config.json, the separator "\n--safetensors--\n", then the
// safetensors file (without the separator: no safetensors file, "missing" is the reason).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "fuzz_input.hpp"
#include "murmur/arena/adapter.hpp"

namespace arena = murmur::arena;
using murmur::fuzz::invariant_broken;

namespace {

// A 2-layer base small enough that every factor is a few floats: head_dim 4, GQA 2:1. Read
// as a base model's config.json is, once.
arena::LlamaConfig base_model() {
  return arena::read_llama_config(murmur::fuzz::write_scratch(
      "config.json", R"({"model_type": "llama", "vocab_size": 32, "hidden_size": 8,
                         "intermediate_size": 12, "num_hidden_layers": 2,
                         "num_attention_heads": 2, "num_key_value_heads": 1,
                         "max_position_embeddings": 16, "_name_or_path": "tiny-llama"})"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const arena::LlamaConfig base = base_model();
  const std::filesystem::path dir = murmur::fuzz::scratch_dir() / "adapter";
  std::filesystem::create_directories(dir);
  constexpr std::string_view kSeparator = "\n--safetensors--\n";
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const std::size_t at = all.find(kSeparator);
  std::filesystem::remove(dir / "adapter_model.safetensors");
  murmur::fuzz::write_scratch("adapter/adapter_config.json", all.substr(0, at));
  if (at != std::string_view::npos)
    murmur::fuzz::write_scratch("adapter/adapter_model.safetensors",
                                all.substr(at + kSeparator.size()));

  const arena::AdapterLoad load = arena::load_adapter(dir, base, "tiny-llama");
  // Exactly one of an adapter and a reason.
  if (load.adapter.has_value() == !load.reason.empty()) invariant_broken();
  if (!load.adapter) return 0;
  const arena::LoraAdapter& a = *load.adapter;
  if (a.modules.empty() || a.rank == 0) invariant_broken();
  for (const arena::LoraModule& m : a.modules) {
    // Every module is a projection of the base, its factors exactly [r, in] and [out, r].
    if (m.layer >= base.layers || m.rank == 0) invariant_broken();
    if (m.a.size() != m.rank * base.in_features(m.projection) ||
        m.b.size() != m.rank * base.out_features(m.projection))
      invariant_broken();
    if (a.find(m.layer, m.projection) != &m) invariant_broken();
  }
  (void)a.describe();
  return 0;
}
