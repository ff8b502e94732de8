// PEFT LoRA adapters: config and tensors checked against the base model's shapes.
#include "murmur/arena/adapter.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "json_depth.hpp"
#include "murmur/arena/errors.hpp"
#include "murmur/arena/safetensors.hpp"

namespace murmur::arena {
namespace {

using nlohmann::json;

/// Thrown inside load_adapter; its text becomes the rejection reason.
struct Rejected {
  std::string reason;
};

std::string module_path(std::size_t layer, Projection p) {
  return "model.layers." + std::to_string(layer) + "." + std::string(block_name(p)) + "." +
         std::string(module_name(p));
}

bool ends_with_module(const std::string& module, const std::string& key) {
  return module == key || (module.size() > key.size() &&
                           module.compare(module.size() - key.size(), key.size(), key) == 0 &&
                           module[module.size() - key.size() - 1] == '.');
}

std::string last_component(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  const auto slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

/// Which of the base's (layer, projection) pairs the config targets.
struct Targets {
  std::vector<std::string> list;  // or
  std::optional<std::regex> pattern;
  bool all_linear = false;
  std::optional<std::set<std::size_t>> layers;

  bool matches(std::size_t layer, Projection p) const {
    if (layers && !layers->count(layer)) return false;
    const std::string path = module_path(layer, p);
    if (all_linear) return true;
    if (pattern) return std::regex_match(path, *pattern);
    for (const std::string& t : list)
      if (ends_with_module(path, t)) return true;
    return false;
  }
};

Targets parse_targets(const json& config, const LlamaConfig& base, const std::string& where) {
  Targets t;
  const json& tm = config.value("target_modules", json());
  if (tm.is_string()) {
    const std::string s = tm.get<std::string>();
    if (s == "all-linear") {
      t.all_linear = true;
    } else {
      try {
        t.pattern = std::regex(s);
      } catch (const std::regex_error& e) {
        throw Rejected{where + "target_modules \"" + s +
                       "\" is not a regular expression: " + e.what()};
      }
    }
  } else if (tm.is_array() && !tm.empty()) {
    for (const json& m : tm) {
      if (!m.is_string()) throw Rejected{where + "target_modules holds a non-string " + m.dump()};
      const std::string name = m.get<std::string>();
      const std::string leaf =
          name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
      if (!parse_module_name(leaf))
        throw Rejected{where + "target module \"" + name +
                       "\" is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
                       "down_proj (embeddings and lm_head are not supported)"};
      t.list.push_back(name);
    }
  } else {
    throw Rejected{where + "target_modules is missing or empty"};
  }
  const json& ltt = config.value("layers_to_transform", json());
  if (ltt.is_number_integer()) {
    t.layers = std::set<std::size_t>{ltt.get<std::size_t>()};
  } else if (ltt.is_array()) {
    t.layers.emplace();
    for (const json& l : ltt) {
      if (!l.is_number_integer() || l.get<std::int64_t>() < 0)
        throw Rejected{where + "layers_to_transform holds " + l.dump()};
      t.layers->insert(l.get<std::size_t>());
    }
  } else if (!ltt.is_null()) {
    throw Rejected{where + "layers_to_transform is " + ltt.dump()};
  }
  if (t.layers)
    for (std::size_t l : *t.layers)
      if (l >= base.layers)
        throw Rejected{where + "layers_to_transform names layer " + std::to_string(l) +
                       ", the base model has " + std::to_string(base.layers) +
                       " layers: the adapter was made for a different base model"};
  return t;
}

/// The value of the first key of `pattern` (an object) that `module` ends with, else fallback.
double pattern_value(const json& pattern, const std::string& module, double fallback,
                     const std::string& where, const char* field) {
  if (pattern.is_null()) return fallback;
  if (!pattern.is_object()) throw Rejected{where + field + " is not an object"};
  for (const auto& [key, v] : pattern.items())
    if (ends_with_module(module, key)) {
      if (!v.is_number()) throw Rejected{where + field + "[\"" + key + "\"] is not a number"};
      return v.get<double>();
    }
  return fallback;
}

LoraAdapter load(const std::filesystem::path& dir, const LlamaConfig& base,
                 std::string_view base_name) {
  const std::filesystem::path config_path = dir / "adapter_config.json";
  const std::string cwhere = config_path.string() + ": ";
  std::ifstream in(config_path);
  if (!in) throw Rejected{cwhere + "cannot open (an adapter directory holds adapter_config.json)"};
  json config;
  try {
    config = parse_json_bounded(in, cwhere);
  } catch (const json::parse_error& e) {
    throw Rejected{cwhere + "not valid JSON: " + e.what()};
  }
  if (!config.is_object()) throw Rejected{cwhere + "not a JSON object"};
  const std::string peft_type = config.value("peft_type", std::string("LORA"));
  if (peft_type != "LORA") throw Rejected{cwhere + "peft_type " + peft_type + " is not LORA"};
  if (config.value("bias", std::string("none")) != "none")
    throw Rejected{cwhere + "bias \"" + config["bias"].get<std::string>() +
                   "\" is not supported (LoRA biases change the base model's biases)"};
  if (config.value("use_dora", false)) throw Rejected{cwhere + "DoRA adapters are not supported"};
  if (config.value("fan_in_fan_out", false))
    throw Rejected{cwhere + "fan_in_fan_out is for Conv1D models, not LLaMA"};
  if (config.contains("modules_to_save") && !config["modules_to_save"].is_null() &&
      !config["modules_to_save"].empty())
    throw Rejected{cwhere + "modules_to_save " + config["modules_to_save"].dump() +
                   " replaces whole modules; only LoRA factors are scored"};

  LoraAdapter adapter;
  adapter.name = dir.filename().string();
  if (adapter.name.empty()) adapter.name = dir.parent_path().filename().string();
  if (config.contains("base_model_name_or_path") && config["base_model_name_or_path"].is_string())
    adapter.base_model = config["base_model_name_or_path"].get<std::string>();
  if (!adapter.base_model.empty() && !base_name.empty() &&
      last_component(adapter.base_model) != last_component(std::string(base_name)))
    throw Rejected{cwhere + "the adapter was trained on base model '" + adapter.base_model +
                   "', this base model is '" + std::string(base_name) + "'"};
  if (!config.contains("r") || !config["r"].is_number_integer() ||
      config["r"].get<std::int64_t>() < 1)
    throw Rejected{cwhere + "r is missing or not a positive integer"};
  adapter.rank = config["r"].get<std::size_t>();
  adapter.alpha = config.contains("lora_alpha") && config["lora_alpha"].is_number()
                      ? config["lora_alpha"].get<double>()
                      : 8.0;  // PEFT's default
  adapter.rslora = config.value("use_rslora", false);
  const Targets targets = parse_targets(config, base, cwhere);
  const json rank_pattern = config.value("rank_pattern", json());
  const json alpha_pattern = config.value("alpha_pattern", json());

  const std::filesystem::path weights_path = dir / "adapter_model.safetensors";
  if (!std::filesystem::exists(weights_path))
    throw Rejected{weights_path.string() +
                   ": missing (adapter_model.bin is not read: convert "
                   "the adapter to safetensors)"};
  SafetensorsFile file = [&] {
    try {
      return SafetensorsFile::open(weights_path);
    } catch (const FormatError& e) {
      throw Rejected{e.what()};
    }
  }();
  const std::string fwhere = weights_path.string() + ": ";

  std::set<std::string> expected;
  for (std::size_t layer = 0; layer < base.layers; ++layer)
    for (Projection p : kAllProjections) {
      if (!targets.matches(layer, p)) continue;
      const std::string module = module_path(layer, p);
      LoraModule m;
      m.layer = layer;
      m.projection = p;
      const double r = pattern_value(rank_pattern, module, static_cast<double>(adapter.rank),
                                     cwhere, "rank_pattern");
      const double alpha =
          pattern_value(alpha_pattern, module, adapter.alpha, cwhere, "alpha_pattern");
      if (!(r >= 1) || r != std::floor(r))
        throw Rejected{cwhere + "rank " + std::to_string(r) + " for " + module +
                       " is not a positive integer"};
      m.rank = static_cast<std::size_t>(r);
      m.scale = static_cast<float>(adapter.rslora ? alpha / std::sqrt(r) : alpha / r);
      const std::size_t in_f = base.in_features(p), out_f = base.out_features(p);
      const auto read = [&](const char* which, std::size_t rows, std::size_t cols) {
        std::string name = "base_model.model." + module + "." + which + ".weight";
        const TensorInfo* t = file.find(name);
        if (t == nullptr) {
          // Some PEFT versions keep the adapter name: "lora_A.default.weight".
          const std::string named = "base_model.model." + module + "." + which + ".default.weight";
          t = file.find(named);
          if (t == nullptr)
            throw Rejected{fwhere + "missing tensor '" + name + "' (adapter_config targets " +
                           module + ")"};
          name = named;
        }
        expected.insert(name);
        if (!is_float(t->dtype))
          throw Rejected{fwhere + "tensor '" + name + "' is " + std::string(to_string(t->dtype)) +
                         ", LoRA factors must be F32, F16 or BF16"};
        if (t->shape.size() != 2)
          throw Rejected{fwhere + "tensor '" + name + "' has shape " + t->describe_shape() +
                         ", a LoRA factor is a matrix"};
        const bool is_a = std::string_view(which) == "lora_A";
        const std::size_t file_rank = is_a ? t->shape[0] : t->shape[1];
        const std::size_t file_dim = is_a ? t->shape[1] : t->shape[0];
        const std::size_t base_dim = is_a ? cols : rows;
        if (file_dim != base_dim)
          throw Rejected{fwhere + "tensor '" + name + "' has shape " + t->describe_shape() + ", " +
                         module + " has " + (is_a ? "in_features " : "out_features ") +
                         std::to_string(base_dim) +
                         " in this base model: the adapter was made for a different base model"};
        if (file_rank != m.rank)
          throw Rejected{fwhere + "tensor '" + name + "' has shape " + t->describe_shape() +
                         ", rank " + std::to_string(file_rank) +
                         "; adapter_config gives r = " + std::to_string(m.rank) + " for " + module};
        return file.read_float(*t);
      };
      m.a = read("lora_A", m.rank, in_f);
      m.b = read("lora_B", out_f, m.rank);
      adapter.modules.push_back(std::move(m));
    }
  if (adapter.modules.empty())
    throw Rejected{cwhere + "target_modules " + config["target_modules"].dump() +
                   " match no projection of this " + std::to_string(base.layers) +
                   "-layer base model"};
  for (const TensorInfo& t : file.tensors())
    if (!expected.count(t.name))
      throw Rejected{fwhere + "unexpected tensor '" + t.name + "' " + t.describe_shape() +
                     ": not a LoRA factor of a module adapter_config targets in this " +
                     std::to_string(base.layers) +
                     "-layer base model (a different base model, or a bias/embedding factor)"};
  return adapter;
}

}  // namespace

const LoraModule* LoraAdapter::find(std::size_t layer, Projection p) const {
  for (const LoraModule& m : modules)
    if (m.layer == layer && m.projection == p) return &m;
  return nullptr;
}

std::size_t LoraAdapter::parameters() const {
  std::size_t n = 0;
  for (const LoraModule& m : modules) n += m.a.size() + m.b.size();
  return n;
}

std::string LoraAdapter::describe() const {
  std::set<std::string> names;
  std::set<std::size_t> layers;
  for (const LoraModule& m : modules) {
    names.insert(std::string(module_name(m.projection)));
    layers.insert(m.layer);
  }
  std::string s = "r=" + std::to_string(rank) + " alpha=" + std::to_string(alpha);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  s += " ";
  bool first = true;
  for (const std::string& n : names) {
    s += (first ? "" : ",") + n;
    first = false;
  }
  return s + " x" + std::to_string(layers.size()) + " layers";
}

AdapterLoad load_adapter(const std::filesystem::path& dir, const LlamaConfig& base,
                         std::string_view base_name) {
  AdapterLoad result;
  result.dir = dir;
  result.name = dir.filename().string();
  try {
    result.adapter = load(dir, base, base_name);
  } catch (const Rejected& r) {
    result.reason = r.reason;
  } catch (const std::exception& e) {
    result.reason = dir.string() + ": " + e.what();
  }
  return result;
}

std::vector<std::filesystem::path> find_adapters(const std::vector<std::filesystem::path>& roots) {
  std::vector<std::filesystem::path> out;
  for (const auto& root : roots) {
    if (!std::filesystem::is_directory(root))
      throw FormatError(root.string() + ": not a directory of adapters");
    if (std::filesystem::exists(root / "adapter_config.json")) {
      out.push_back(root);
      continue;
    }
    std::vector<std::filesystem::path> found;
    for (const auto& entry : std::filesystem::directory_iterator(root))
      if (entry.is_directory() && std::filesystem::exists(entry.path() / "adapter_config.json"))
        found.push_back(entry.path());
    if (found.empty())
      throw FormatError(root.string() +
                        ": holds no adapter (no adapter_config.json in it or its subdirectories)");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

void write_adapter(const std::filesystem::path& dir, const LoraAdapter& adapter, Dtype dtype) {
  std::filesystem::create_directories(dir);
  std::set<std::string> targets;
  nlohmann::ordered_json rank_pattern = nlohmann::ordered_json::object();
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const LoraModule& m : adapter.modules) {
    targets.insert(std::string(module_name(m.projection)));
    const std::string module = module_path(m.layer, m.projection);
    if (m.rank != adapter.rank) rank_pattern[module] = m.rank;
    writer.add_float("base_model.model." + module + ".lora_A.weight", dtype,
                     {m.rank, m.a.size() / m.rank}, m.a);
    writer.add_float("base_model.model." + module + ".lora_B.weight", dtype,
                     {m.b.size() / m.rank, m.rank}, m.b);
  }
  nlohmann::ordered_json config;
  config["peft_type"] = "LORA";
  config["task_type"] = "CAUSAL_LM";
  config["base_model_name_or_path"] =
      adapter.base_model.empty() ? nullptr : nlohmann::ordered_json(adapter.base_model);
  config["r"] = adapter.rank;
  config["lora_alpha"] = adapter.alpha;
  config["lora_dropout"] = 0.0;
  // Names plus layers_to_transform when the modules are every target in every layer used,
  // else the full module paths (PEFT matches both).
  std::set<std::size_t> layers;
  for (const LoraModule& m : adapter.modules) layers.insert(m.layer);
  if (targets.size() * layers.size() == adapter.modules.size()) {
    config["target_modules"] = targets;
    config["layers_to_transform"] = layers;
  } else {
    std::vector<std::string> paths;
    for (const LoraModule& m : adapter.modules) paths.push_back(module_path(m.layer, m.projection));
    config["target_modules"] = paths;
  }
  config["bias"] = "none";
  config["fan_in_fan_out"] = false;
  config["use_rslora"] = adapter.rslora;
  config["rank_pattern"] = rank_pattern;
  config["alpha_pattern"] = nlohmann::ordered_json::object();
  config["modules_to_save"] = nullptr;
  std::ofstream(dir / "adapter_config.json") << config.dump(2) << "\n";
  writer.write(dir / "adapter_model.safetensors");
}

}  // namespace murmur::arena
