// PEFT adapters: what loads, and every way an adapter is rejected (with its reason) while the
// caller goes on.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "murmur/arena/adapter.hpp"
#include "murmur/arena/errors.hpp"
#include "murmur/arena/safetensors.hpp"
#include "murmur/testing/tiny_llama.hpp"

namespace murmur::arena {
namespace {

using testing::AdapterSpec;
using testing::TempDir;

class AdapterTest : public ::testing::Test {
 protected:
  LlamaConfig base = testing::tiny_config();
  TempDir dir{"adapter"};

  std::filesystem::path write(const AdapterSpec& spec, std::uint64_t seed = 1) {
    const LoraAdapter a = testing::random_adapter(base, spec, seed);
    write_adapter(dir.path() / spec.name, a);
    return dir.path() / spec.name;
  }
  nlohmann::json config(const std::filesystem::path& d) {
    std::ifstream in(d / "adapter_config.json");
    return nlohmann::json::parse(in);
  }
  void set_config(const std::filesystem::path& d, const nlohmann::json& j) {
    std::ofstream(d / "adapter_config.json") << j.dump(2);
  }
  /// Rewrites the adapter's safetensors with `edit` applied to a writer holding its tensors.
  template <typename Edit>
  void rewrite_tensors(const std::filesystem::path& d, Edit edit) {
    const SafetensorsFile f = SafetensorsFile::open(d / "adapter_model.safetensors");
    std::map<std::string, std::pair<TensorInfo, std::vector<std::byte>>> tensors;
    for (const TensorInfo& t : f.tensors())
      tensors[t.name] = {t, {f.bytes(t).begin(), f.bytes(t).end()}};
    edit(tensors);
    SafetensorsWriter w;
    for (const auto& [name, entry] : tensors)
      w.add(name, entry.first.dtype, entry.first.shape, entry.second);
    w.write(d / "adapter_model.safetensors");
  }
  void expect_rejected(const std::filesystem::path& d, const std::string& fragment,
                       std::string_view base_name = "tiny-llama") {
    const AdapterLoad load = load_adapter(d, base, base_name);
    EXPECT_FALSE(load.adapter.has_value()) << "accepted; expected: " << fragment;
    EXPECT_NE(load.reason.find(fragment), std::string::npos) << load.reason;
    EXPECT_EQ(load.name, d.filename().string());
  }
};

TEST_F(AdapterTest, LoadsWhatWasWritten) {
  const LoraAdapter written =
      testing::random_adapter(base, {"qv", 8, 16, {Projection::kQ, Projection::kV}, {}, false}, 7);
  write_adapter(dir.path() / "qv", written);
  const AdapterLoad load = load_adapter(dir.path() / "qv", base, "tiny-llama");
  ASSERT_TRUE(load.adapter) << load.reason;
  const LoraAdapter& a = *load.adapter;
  EXPECT_EQ(a.name, "qv");
  EXPECT_EQ(a.rank, 8u);
  ASSERT_EQ(a.modules.size(), 4u);  // q, v in both layers
  for (std::size_t i = 0; i < a.modules.size(); ++i) {
    EXPECT_EQ(a.modules[i].layer, written.modules[i].layer);
    EXPECT_EQ(a.modules[i].projection, written.modules[i].projection);
    EXPECT_EQ(a.modules[i].scale, 2.0f);  // 16 / 8
    EXPECT_EQ(a.modules[i].a, written.modules[i].a);
    EXPECT_EQ(a.modules[i].b, written.modules[i].b);
  }
  EXPECT_NE(a.find(1, Projection::kV), nullptr);
  EXPECT_EQ(a.find(1, Projection::kK), nullptr);
  EXPECT_EQ(a.describe(), "r=8 alpha=16 q_proj,v_proj x2 layers");
}

TEST_F(AdapterTest, PerModuleRanksLayersAndRsLora) {
  // Different targets per layer are written as full module paths, a rank_pattern for the odd
  // module; rsLoRA scales by alpha / sqrt(r).
  LoraAdapter a = testing::random_adapter(
      base, {"mixed", 4, 8, {Projection::kO, Projection::kDown}, {1}, true}, 3);
  LoraAdapter extra = testing::random_adapter(base, {"x", 2, 8, {Projection::kK}, {0}, true}, 4);
  a.modules.insert(a.modules.begin(), extra.modules.begin(), extra.modules.end());
  write_adapter(dir.path() / "mixed", a);
  const AdapterLoad load = load_adapter(dir.path() / "mixed", base, "");
  ASSERT_TRUE(load.adapter) << load.reason;
  ASSERT_EQ(load.adapter->modules.size(), 3u);
  const LoraModule* k = load.adapter->find(0, Projection::kK);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->rank, 2u);
  EXPECT_FLOAT_EQ(k->scale, static_cast<float>(8 / std::sqrt(2.0)));
  EXPECT_EQ(load.adapter->find(1, Projection::kDown)->rank, 4u);
  EXPECT_FLOAT_EQ(load.adapter->find(1, Projection::kDown)->scale, 4.0f);
  EXPECT_EQ(load.adapter->find(0, Projection::kDown), nullptr);
}

TEST_F(AdapterTest, RegexAndAllLinearTargets) {
  const auto d = write({"all", 2, 4, {kAllProjections.begin(), kAllProjections.end()}, {}, false});
  nlohmann::json j = config(d);
  j["target_modules"] = "all-linear";
  j.erase("layers_to_transform");
  set_config(d, j);
  const AdapterLoad all = load_adapter(d, base, "tiny-llama");
  ASSERT_TRUE(all.adapter) << all.reason;
  EXPECT_EQ(all.adapter->modules.size(), 14u);
  j["target_modules"] = R"(.*\.(q|k|v|o|gate|up|down)_proj)";
  set_config(d, j);
  EXPECT_TRUE(load_adapter(d, base, "tiny-llama").adapter);
  j["target_modules"] = R"(.*\.q_proj)";  // the file also holds k..down factors
  set_config(d, j);
  expect_rejected(
      d, "unexpected tensor 'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight'");
}

TEST_F(AdapterTest, BaseModelMismatch) {
  const auto d = write({"other", 4, 8, {Projection::kQ}, {}, false});
  expect_rejected(d, "trained on base model 'tiny-llama', this base model is 'llama-7b'",
                  "llama-7b");
  // Hub ids and local paths are compared by their last component.
  EXPECT_TRUE(load_adapter(d, base, "/models/tiny-llama/").adapter);
  nlohmann::json j = config(d);
  j["base_model_name_or_path"] = "org/tiny-llama";
  set_config(d, j);
  EXPECT_TRUE(load_adapter(d, base, "tiny-llama").adapter);
}

TEST_F(AdapterTest, DifferentBaseShapes) {
  const auto d = write({"shape", 4, 8, {Projection::kQ, Projection::kGate}, {}, false});
  LlamaConfig wider = base;
  wider.hidden = 128;
  wider.intermediate = 256;
  const AdapterLoad load = load_adapter(d, wider, "tiny-llama");
  ASSERT_FALSE(load.adapter);
  EXPECT_NE(load.reason.find("in_features 128 in this base model: the adapter was made for a "
                             "different base model"),
            std::string::npos)
      << load.reason;
  LlamaConfig deeper = base;
  deeper.layers = 1;  // the file holds layer-1 factors
  const AdapterLoad shallow = load_adapter(d, deeper, "tiny-llama");
  ASSERT_FALSE(shallow.adapter);
  EXPECT_NE(shallow.reason.find("layers_to_transform names layer 1, the base model has 1 layers"),
            std::string::npos)
      << shallow.reason;
}

TEST_F(AdapterTest, MissingTensor) {
  const auto d = write({"missing", 4, 8, {Projection::kV}, {}, false});
  rewrite_tensors(d, [](auto& t) {
    t.erase("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
  });
  expect_rejected(
      d, "missing tensor 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight'");
}

TEST_F(AdapterTest, RankDisagreesWithConfig) {
  const auto d = write({"rank", 4, 8, {Projection::kUp}, {}, false});
  nlohmann::json j = config(d);
  j["r"] = 8;
  set_config(d, j);
  expect_rejected(d, "rank 4; adapter_config gives r = 8 for model.layers.0.mlp.up_proj");
}

TEST_F(AdapterTest, WrongShapeAndType) {
  const auto d = write({"bad", 2, 4, {Projection::kO}, {}, false});
  rewrite_tensors(d, [](auto& t) {
    auto& [info, bytes] = t.at("base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight");
    info.shape = {2, 32, 2};  // same bytes, a 3-d shape
  });
  expect_rejected(d, "has shape [2, 32, 2], a LoRA factor is a matrix");
  const auto e = write({"ints", 2, 4, {Projection::kO}, {}, false});
  rewrite_tensors(e, [](auto& t) {
    auto& [info, bytes] = t.at("base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight");
    info.dtype = Dtype::kI32;
  });
  expect_rejected(e, "is I32, LoRA factors must be F32, F16 or BF16");
}

TEST_F(AdapterTest, UnsupportedConfigurations) {
  const auto d = write({"cfg", 2, 4, {Projection::kQ}, {}, false});
  const nlohmann::json good = config(d);
  const auto with = [&](const char* key, nlohmann::json value, const std::string& fragment) {
    nlohmann::json j = good;
    j[key] = std::move(value);
    set_config(d, j);
    expect_rejected(d, fragment);
  };
  with("bias", "all", "bias \"all\" is not supported");
  with("use_dora", true, "DoRA adapters are not supported");
  with("modules_to_save", {"lm_head"}, "modules_to_save [\"lm_head\"] replaces whole modules");
  with("peft_type", "IA3", "peft_type IA3 is not LORA");
  with("target_modules", {"embed_tokens"}, "target module \"embed_tokens\" is not one of");
  with("target_modules", nlohmann::json::array(), "target_modules is missing or empty");
  with("r", 0, "r is missing or not a positive integer");
  with("target_modules", "(unclosed", "is not a regular expression");
  std::ofstream(d / "adapter_config.json") << "{not json";
  expect_rejected(d, "not valid JSON");
  set_config(d, good);
  std::filesystem::remove(d / "adapter_model.safetensors");
  expect_rejected(d, "adapter_model.safetensors: missing");
  std::ofstream(d / "adapter_model.safetensors") << "garbage!";
  expect_rejected(d, "header length");
}

TEST_F(AdapterTest, FindAdapters) {
  write({"b", 2, 4, {Projection::kQ}, {}, false});
  write({"a", 2, 4, {Projection::kQ}, {}, false});
  std::filesystem::create_directories(dir.path() / "not_an_adapter");
  const auto found = find_adapters({dir.path()});
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].filename(), "a");
  EXPECT_EQ(found[1].filename(), "b");
  EXPECT_EQ(find_adapters({dir.path() / "b"}).size(), 1u);  // an adapter directory itself
  EXPECT_THROW(find_adapters({dir.path() / "not_an_adapter"}), FormatError);
  EXPECT_THROW(find_adapters({dir.path() / "nope"}), FormatError);
}

}  // namespace
}  // namespace murmur::arena
