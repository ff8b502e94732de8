// config.json of a LLaMA-style decoder: parsed and checked with nlohmann-json.
#include "murmur/arena/llama_config.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "json_depth.hpp"
#include "murmur/arena/errors.hpp"

namespace murmur::arena {

namespace {
constexpr std::array<std::string_view, kProjections> kModuleNames{
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
}  // namespace

std::string_view module_name(Projection p) {
  return kModuleNames[static_cast<std::size_t>(p)];
}

std::optional<Projection> parse_module_name(std::string_view name) {
  for (Projection p : kAllProjections)
    if (module_name(p) == name) return p;
  return std::nullopt;
}

std::string_view block_name(Projection p) {
  return static_cast<int>(p) <= static_cast<int>(Projection::kO) ? "self_attn" : "mlp";
}

std::size_t LlamaConfig::in_features(Projection p) const {
  return p == Projection::kDown ? intermediate
                                : (p == Projection::kO ? heads * head_dim() : hidden);
}

std::size_t LlamaConfig::out_features(Projection p) const {
  switch (p) {
    case Projection::kQ: return heads * head_dim();
    case Projection::kK:
    case Projection::kV: return kv_heads * head_dim();
    case Projection::kO:
    case Projection::kDown: return hidden;
    case Projection::kGate:
    case Projection::kUp: return intermediate;
  }
  return 0;
}

std::string LlamaConfig::weight_name(std::size_t layer, Projection p) {
  return "model.layers." + std::to_string(layer) + "." + std::string(block_name(p)) + "." +
         std::string(module_name(p)) + ".weight";
}

void LlamaConfig::check(const std::string& where) const {
  const auto need = [&](std::size_t v, const char* field) {
    if (v == 0) throw FormatError(where + ": " + field + " must be >= 1");
  };
  need(vocab, "vocab_size");
  need(hidden, "hidden_size");
  need(intermediate, "intermediate_size");
  need(layers, "num_hidden_layers");
  need(heads, "num_attention_heads");
  need(kv_heads, "num_key_value_heads");
  need(max_positions, "max_position_embeddings");
  if (hidden % heads != 0)
    throw FormatError(where + ": hidden_size " + std::to_string(hidden) +
                      " is not a multiple of num_attention_heads " + std::to_string(heads));
  if (heads % kv_heads != 0)
    throw FormatError(where + ": num_attention_heads " + std::to_string(heads) +
                      " is not a multiple of num_key_value_heads " + std::to_string(kv_heads));
  if (head_dim() % 2 != 0)
    throw FormatError(where + ": head_dim " + std::to_string(head_dim()) +
                      " is odd; rotary embeddings rotate pairs of dimensions");
  if (!(rms_eps > 0)) throw FormatError(where + ": rms_norm_eps must be > 0");
  if (!(rope_theta > 0)) throw FormatError(where + ": rope_theta must be > 0");
}

LlamaConfig read_llama_config(const std::filesystem::path& path) {
  using nlohmann::json;
  const std::string where = path.string();
  std::ifstream in(path);
  if (!in) throw FormatError(where + ": cannot open; a base model directory holds config.json");
  json j;
  try {
    j = parse_json_bounded(in, where + ": ");
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw FormatError(where + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FormatError(where + ": not a JSON object");
  const auto size = [&](const char* key, std::optional<std::size_t> fallback) -> std::size_t {
    if (!j.contains(key) || j[key].is_null()) {
      if (fallback) return *fallback;
      throw FormatError(where + ": no \"" + key + "\"");
    }
    if (!j[key].is_number_integer() || j[key].get<std::int64_t>() < 0)
      throw FormatError(where + ": \"" + key + "\" is " + j[key].dump() +
                        ", not a non-negative integer");
    return j[key].get<std::size_t>();
  };
  const auto number = [&](const char* key, double fallback) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number()) throw FormatError(where + ": \"" + key + "\" is not a number");
    return j[key].get<double>();
  };
  const auto flag = [&](const char* key) {
    return j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
  };
  if (j.contains("model_type") && j["model_type"].is_string()) {
    const std::string type = j["model_type"].get<std::string>();
    if (type != "llama" && type != "mistral")
      throw FormatError(where + ": model_type \"" + type +
                        "\" is not a LLaMA-style decoder (llama, mistral)");
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    throw FormatError(where + ": rope_scaling " + j["rope_scaling"].dump() +
                      " is not supported; use a base model with plain rotary embeddings");
  if (flag("attention_bias") || flag("mlp_bias"))
    throw FormatError(where + ": attention_bias/mlp_bias are not supported (LLaMA has none)");
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    throw FormatError(where + ": hidden_act " + j["hidden_act"].dump() +
                      " is not supported; LLaMA's MLP is SwiGLU (silu)");
  if (j.contains("sliding_window") && !j["sliding_window"].is_null())
    throw FormatError(where + ": sliding_window attention is not supported");

  LlamaConfig c;
  c.vocab = size("vocab_size", std::nullopt);
  c.hidden = size("hidden_size", std::nullopt);
  c.intermediate = size("intermediate_size", std::nullopt);
  c.layers = size("num_hidden_layers", std::nullopt);
  c.heads = size("num_attention_heads", std::nullopt);
  c.kv_heads = size("num_key_value_heads", c.heads);
  c.max_positions = size("max_position_embeddings", std::size_t{2048});
  c.rms_eps = number("rms_norm_eps", 1e-6);
  c.rope_theta = number("rope_theta", 10000.0);
  c.tie_embeddings = flag("tie_word_embeddings");
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string())
    c.torch_dtype = j["torch_dtype"].get<std::string>();
  if (j.contains("_name_or_path") && j["_name_or_path"].is_string())
    c.name = j["_name_or_path"].get<std::string>();
  if (j.contains("head_dim") && !j["head_dim"].is_null() &&
      size("head_dim", std::nullopt) != (c.heads ? c.hidden / c.heads : 0))
    throw FormatError(where + ": head_dim " + j["head_dim"].dump() +
                      " differs from hidden_size / num_attention_heads; not supported");
  c.check(where);
  return c;
}

std::string to_json(const LlamaConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {"LlamaForCausalLM"};
  j["model_type"] = "llama";
  if (!c.name.empty()) j["_name_or_path"] = c.name;
  j["vocab_size"] = c.vocab;
  j["hidden_size"] = c.hidden;
  j["intermediate_size"] = c.intermediate;
  j["num_hidden_layers"] = c.layers;
  j["num_attention_heads"] = c.heads;
  j["num_key_value_heads"] = c.kv_heads;
  j["max_position_embeddings"] = c.max_positions;
  j["rms_norm_eps"] = c.rms_eps;
  j["rope_theta"] = c.rope_theta;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = c.tie_embeddings;
  j["torch_dtype"] = c.torch_dtype;
  return j.dump(2);
}

LlamaConfig tiny_llama_config() {
  LlamaConfig c;
  c.vocab = 256;
  c.hidden = 64;
  c.intermediate = 176;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.max_positions = 128;
  c.rms_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.name = "tiny-llama";
  return c;
}

}  // namespace murmur::arena
