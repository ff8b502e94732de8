#pragma once
// A LLaMA-style decoder's shape, read from a Hugging Face config.json, and the names and
// shapes of its projections.
#include <array>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace murmur::arena {

/// The seven linear projections of a decoder layer that LoRA can target.
enum class Projection { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr std::size_t kProjections = 7;
inline constexpr std::array<Projection, kProjections> kAllProjections{
    Projection::kQ,    Projection::kK,  Projection::kV,   Projection::kO,
    Projection::kGate, Projection::kUp, Projection::kDown};

/// PEFT's module name: "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
/// "down_proj".
std::string_view module_name(Projection p);
/// The projection whose module name is `name`, or nothing.
std::optional<Projection> parse_module_name(std::string_view name);
/// "self_attn" for q/k/v/o, "mlp" for gate/up/down.
std::string_view block_name(Projection p);

/// LlamaForCausalLM's configuration (the fields the decoder reads).
///
/// Layer l computes, with RMSNorm n(x) = x / sqrt(mean(x^2) + eps) * w:
///   h   = x + o_proj(attn(rope(q_proj(n(x))), rope(k_proj(n(x))), v_proj(n(x))))
///   out = h + down_proj(silu(gate_proj(n(h))) * up_proj(n(h)))
/// with causal grouped-query attention: heads query heads, kv_heads key/value heads, each
/// key/value head shared by heads / kv_heads query heads, head_dim = hidden / heads.
struct LlamaConfig {
  std::size_t vocab = 0;
  std::size_t hidden = 0;
  std::size_t intermediate = 0;
  std::size_t layers = 0;
  std::size_t heads = 0;
  std::size_t kv_heads = 0;
  std::size_t max_positions = 2048;
  double rms_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_embeddings = false;
  std::string torch_dtype = "float32";  ///< as written; weights are converted on load
  std::string name;                     ///< "_name_or_path" when present, else ""

  std::size_t head_dim() const { return hidden / heads; }
  /// in_features of projection p: hidden, or intermediate for down_proj.
  std::size_t in_features(Projection p) const;
  /// out_features: heads*head_dim for q, kv_heads*head_dim for k and v, hidden for o and down,
  /// intermediate for gate and up.
  std::size_t out_features(Projection p) const;
  /// The base weight's name, e.g. "model.layers.3.self_attn.q_proj.weight".
  static std::string weight_name(std::size_t layer, Projection p);
  /// Throws FormatError unless every size is >= 1, hidden % heads == 0, heads % kv_heads == 0
  /// and head_dim is even (rotary embeddings rotate pairs).
  void check(const std::string& where) const;
};

/// Reads `path` (a config.json). Throws FormatError naming the file and the field for a
/// missing or wrong field, a model_type other than "llama"/"mistral"-style decoders without
/// extra features, rope_scaling, attention or MLP biases, or a non-SiLU activation.
LlamaConfig read_llama_config(const std::filesystem::path& path);

/// The JSON text of `config` as Hugging Face writes it (for tests and the benchmark's models).
std::string to_json(const LlamaConfig& config);

/// The tiny decoder of the arena tests and of `murmur arena train --synthetic`'s base model:
/// 2 layers, hidden 64, 4 query heads sharing 2 key/value heads (grouped-query attention),
/// intermediate 176, vocabulary 256, 128 positions, named "tiny-llama".
LlamaConfig tiny_llama_config();

}  // namespace murmur::arena
