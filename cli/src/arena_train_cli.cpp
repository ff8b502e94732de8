#include "arena_train_cli.hpp"

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "murmur/arena/adapter.hpp"
#include "murmur/arena/base_model.hpp"
#include "murmur/arena/eval_data.hpp"
#include "murmur/arena/llama_config.hpp"
#include "murmur/arena/safetensors.hpp"
#include "murmur/arena/train.hpp"

namespace murmur::cli {
namespace {

using namespace murmur::arena;
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<Projection> parse_targets(const std::string& list) {
  std::vector<Projection> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "all") return {kAllProjections.begin(), kAllProjections.end()};
    auto p = parse_module_name(item);
    if (!p) p = parse_module_name(item + "_proj");
    if (!p)
      throw std::runtime_error("--targets: unknown projection '" + item +
                               "' (q, k, v, o, gate, up, down, their *_proj names, or all)");
    out.push_back(*p);
  }
  if (out.empty()) throw std::runtime_error("--targets: empty");
  return out;
}

std::vector<float> normal(std::size_t n, double stddev, double mean, std::mt19937_64& rng) {
  std::normal_distribution<double> dist(mean, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(dist(rng));
  return v;
}

/// The arena tests' tiny model (tiny_llama_config(), arena/include/murmur/arena/llama_config.hpp;
/// weights as testing/src/tiny_llama.cpp's random_llama draws them): N(0, 1/fan_in), embeddings
/// N(0, 1), norms 1 + N(0, 0.1), in F32.
void write_tiny_llama(const fs::path& dir, std::uint64_t seed) {
  const LlamaConfig c = tiny_llama_config();
  std::mt19937_64 rng(seed);
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << to_json(c) << "\n";
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.add_float("model.embed_tokens.weight", Dtype::kF32, {c.vocab, c.hidden},
              normal(c.vocab * c.hidden, 1, 0, rng));
  w.add_float("model.norm.weight", Dtype::kF32, {c.hidden}, normal(c.hidden, 0.1, 1, rng));
  w.add_float("lm_head.weight", Dtype::kF32, {c.vocab, c.hidden},
              normal(c.vocab * c.hidden, 1 / std::sqrt(double(c.hidden)), 0, rng));
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    w.add_float(prefix + "input_layernorm.weight", Dtype::kF32, {c.hidden},
                normal(c.hidden, 0.1, 1, rng));
    w.add_float(prefix + "post_attention_layernorm.weight", Dtype::kF32, {c.hidden},
                normal(c.hidden, 0.1, 1, rng));
    for (Projection p : kAllProjections)
      w.add_float(LlamaConfig::weight_name(l, p), Dtype::kF32,
                  {c.out_features(p), c.in_features(p)},
                  normal(c.out_features(p) * c.in_features(p),
                         1 / std::sqrt(double(c.in_features(p))), 0, rng));
  }
  w.write(dir / "model.safetensors");
}

/// Sequences of `length` tokens from a Markov chain over the first `alphabet` ids: the next
/// token is the previous + 1 (mod alphabet) with probability `follow`, else uniform over the
/// alphabet. The first quarter of each sequence is a prompt (labels -100); bytes = 1 per target.
EvalSet chain_set(std::size_t count, std::size_t length, std::int64_t alphabet, double follow,
                  std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> any(0, alphabet - 1);
  std::bernoulli_distribution keep(follow);
  EvalSet set;
  for (std::size_t i = 0; i < count; ++i) {
    EvalSequence s;
    std::int64_t t = any(rng);
    for (std::size_t j = 0; j < length; ++j) {
      if (j > 0) t = keep(rng) ? (t + 1) % alphabet : any(rng);
      s.tokens.push_back(t);
      s.labels.push_back(j < length / 4 ? kIgnoreLabel : t);
    }
    s.bytes = s.targets();
    set.sequences.push_back(std::move(s));
  }
  return set;
}

}  // namespace

void add_arena_train_commands(CLI::App& arena) {
  {
    struct Args {
      std::string base, data, out, targets = "q,v", eval;
      std::size_t rank = 8, steps = 20, batch = 8;
      double alpha = 16, lr = 1e-2;
      std::uint64_t seed = 1;
      bool json_out = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = arena.add_subcommand(
        "train", "Training node: fine-tune a LoRA adapter of --base on --data (libtorch, Adam)");
    cmd->add_option("--base", a->base, "base model directory")
        ->required()
        ->check(CLI::ExistingDirectory);
    cmd->add_option("--data", a->data, "training set, JSONL as `murmur validate --data`")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--out", a->out, "adapter directory to write (PEFT files)")->required();
    cmd->add_option("--rank", a->rank, "LoRA rank")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    cmd->add_option("--alpha", a->alpha, "lora_alpha (scale alpha/rank)")->capture_default_str();
    cmd->add_option("--targets", a->targets, "projections: q,k,v,o,gate,up,down or all")
        ->capture_default_str();
    cmd->add_option("--steps", a->steps, "optimizer steps")->capture_default_str();
    cmd->add_option("--batch", a->batch, "sequences per step")
        ->check(CLI::Range(1, 1 << 16))
        ->capture_default_str();
    cmd->add_option("--lr", a->lr, "Adam's learning rate")->capture_default_str();
    cmd->add_option("--seed", a->seed, "initialisation and batch order")->capture_default_str();
    cmd->add_option("--eval", a->eval, "also report the adapter's loss on this set");
    cmd->add_flag("--json", a->json_out, "print one JSON object");
    cmd->callback([a] {
      const auto t0 = std::chrono::steady_clock::now();
      const BaseModel base = BaseModel::load(a->base, Device::kCpu);
      const LlamaConfig& c = base.config();
      const EvalSet data = read_eval_jsonl(a->data, c.vocab, c.max_positions);
      TrainOptions o;
      o.name = fs::path(a->out).filename().string();
      o.rank = a->rank;
      o.alpha = a->alpha;
      o.targets = parse_targets(a->targets);
      o.steps = a->steps;
      o.batch_sequences = a->batch;
      o.learning_rate = a->lr;
      o.seed = a->seed;
      const TrainResult r = train_lora(base, data, o);
      write_adapter(a->out, r.adapter);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      json j = {{"out", a->out},
                {"steps", r.step_losses.size()},
                {"firstLoss", r.step_losses.empty() ? json(nullptr) : json(r.step_losses.front())},
                {"lastLoss", r.step_losses.empty() ? json(nullptr) : json(r.step_losses.back())},
                {"adapter", r.adapter.describe()},
                {"seconds", seconds}};
      if (!a->eval.empty())
        j["evalLoss"] =
            lora_mean_loss(base, r.adapter, read_eval_jsonl(a->eval, c.vocab, c.max_positions));
      if (a->json_out) {
        std::cout << j.dump() << "\n";
      } else {
        std::cout << "trained " << r.adapter.describe() << " on " << a->data << ": "
                  << r.step_losses.size() << " steps, batch loss " << j["firstLoss"] << " -> "
                  << j["lastLoss"] << " nats/token";
        if (j.contains("evalLoss")) std::cout << ", held-out " << j["evalLoss"];
        std::cout << " (" << seconds << " s); wrote " << a->out << "\n";
      }
    });
  }
  {
    auto out = std::make_shared<std::string>();
    auto seed = std::make_shared<std::uint64_t>(7);
    auto sets = std::make_shared<std::size_t>(6);
    auto* cmd = arena.add_subcommand(
        "demo-kit",
        "Write the demo's files: a tiny random LLaMA (base/), a held-out set (heldout.jsonl), "
        "training sets like it (train-<i>.jsonl), an unrelated one (offtopic.jsonl) and a random "
        "adapter (random-adapter/)");
    cmd->add_option("--out", *out, "directory")->required();
    cmd->add_option("--seed", *seed, "seed of everything written")->capture_default_str();
    cmd->add_option("--train-sets", *sets, "training sets to write")->capture_default_str();
    cmd->callback([out, seed, sets] {
      const fs::path dir = *out;
      fs::create_directories(dir);
      write_tiny_llama(dir / "base", *seed);
      // The task's data: a Markov chain over 32 ids (next = previous + 1 with probability 0.7).
      constexpr std::int64_t kAlphabet = 32;
      constexpr double kFollow = 0.7;
      write_eval_jsonl(dir / "heldout.jsonl", chain_set(24, 40, kAlphabet, kFollow, *seed + 1));
      for (std::size_t i = 0; i < *sets; ++i)
        write_eval_jsonl(dir / ("train-" + std::to_string(i) + ".jsonl"),
                         chain_set(64, 40, kAlphabet, kFollow, *seed + 100 + i));
      // Unrelated data: uniform over the whole vocabulary.
      write_eval_jsonl(dir / "offtopic.jsonl", chain_set(64, 40, 256, 0.0, *seed + 50));
      // A random adapter: every projection, scale * B A twice the size of the base weights
      // (four times the size of testing/src/tiny_llama.cpp's random_adapter).
      const BaseModel base = BaseModel::load(dir / "base", Device::kCpu);
      const LlamaConfig& c = base.config();
      std::mt19937_64 rng(*seed + 99);
      LoraAdapter a;
      a.name = "random-adapter";
      a.base_model = base.name();
      a.rank = 8;
      a.alpha = 16;
      for (std::size_t l = 0; l < c.layers; ++l)
        for (Projection p : kAllProjections) {
          LoraModule m;
          m.layer = l;
          m.projection = p;
          m.rank = 8;
          m.scale = 2;
          m.a = normal(8 * c.in_features(p), 1 / std::sqrt(double(c.in_features(p))), 0, rng);
          m.b = normal(c.out_features(p) * 8, 2.0 / (2 * std::sqrt(8.0)), 0, rng);
          a.modules.push_back(std::move(m));
        }
      write_adapter(dir / "random-adapter", a);
      std::cout << "wrote " << (dir / "base").string() << " (" << base.parameters()
                << " parameters), heldout.jsonl, " << *sets
                << " training sets, offtopic.jsonl, random-adapter/ in " << dir.string() << "\n";
    });
  }
}

}  // namespace murmur::cli
