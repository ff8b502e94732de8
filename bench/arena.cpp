// bench/arena: scoring M = 16 LoRA adapters on a held-out set, batched (one forward per batch
// serves all 16: base GEMMs once over 16x the rows, deltas by kernels::sgmv) against the
// reference one at a time (each adapter merged into a copy of the base weights, then evaluated
// alone), in the same run, on two random LLaMA-style models read from real files:
//   tiny   hidden 64, 2 layers, 4/2 heads, intermediate 176, vocabulary 256 (the tests' model)
//   large  hidden 512, 4 layers, 8/2 heads, intermediate 1376, vocabulary 4096
// (vocabularies in proportion to the width: the LM head runs once per adapter and target token
// on both paths, so a vocabulary far wider than the model makes both LM-head bound, see
// arena/README.md). Baselines:
//   Merged         merge + evaluate one adapter at a time, the same batch size, base in memory
//   UsualValidator what a validator does today: reload the base from disk, merge, batch size 1
// and a third workload, tiny/screen: the tiny model on a 2-sequence probe set, where one adapter's
// evaluation is a few small ops and one-at-a-time evaluation is bound by per-op overhead.
// Ratios are printed at the end (target >= 4x on CPU, issue 9).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>

#include "common.hpp"
#include "murmur/arena/base_model.hpp"
#include "murmur/arena/evaluate.hpp"
#include "murmur/testing/tiny_llama.hpp"

namespace murmur::bench {
namespace {

using arena::Projection;
constexpr std::size_t kAdapters = 16;
constexpr std::size_t kBatch = 8;  // sequences per forward (per adapter)

struct Workload {
  std::unique_ptr<arena::testing::TempDir> dir;
  arena::BaseModel base;
  std::vector<arena::LoraAdapter> adapters;
  std::vector<const arena::LoraAdapter*> pointers;
  arena::EvalSet data;
};

arena::LlamaConfig config_for(const std::string& size) {
  arena::LlamaConfig c = arena::testing::tiny_config();
  c.name = "bench-" + size.substr(0, size.find('/'));
  if (size == "large") {
    c.vocab = 4096;
    c.hidden = 512;
    c.layers = 4;
    c.heads = 8;
    c.kv_heads = 2;
    c.intermediate = 1376;
  }
  return c;
}

/// Built on first use: the model written to and loaded from disk, 16 adapters of ranks 4..64
/// over four target sets, and the evaluation set (16 sequences of 48..64 tokens for tiny, 8 for
/// large; the first third of each a prompt outside the loss).
Workload& workload(const std::string& size) {
  static std::map<std::string, Workload> cache;
  auto it = cache.find(size);
  if (it != cache.end()) return it->second;
  Workload w;
  const arena::LlamaConfig c = config_for(size);
  std::string tag = "bench_arena_" + size;
  std::replace(tag.begin(), tag.end(), '/', '_');
  w.dir = std::make_unique<arena::testing::TempDir>(tag);
  arena::testing::write_llama(arena::testing::random_llama(c, 1), w.dir->path() / "base",
                              arena::Dtype::kBF16);
  w.base = arena::BaseModel::load(w.dir->path() / "base");
  using P = Projection;
  const std::vector<std::vector<P>> targets{
      {P::kQ, P::kV},
      {P::kQ, P::kK, P::kV, P::kO},
      {P::kGate, P::kUp, P::kDown},
      {P::kQ, P::kK, P::kV, P::kO, P::kGate, P::kUp, P::kDown}};
  const std::vector<std::size_t> ranks{4, 8, 16, 32, 64, 8, 16, 4};
  for (std::size_t i = 0; i < kAdapters; ++i) {
    arena::testing::AdapterSpec spec{"adapter" + std::to_string(i),
                                     ranks[i % ranks.size()],
                                     2.0 * static_cast<double>(ranks[i % ranks.size()]),
                                     targets[i % targets.size()],
                                     {},
                                     false};
    w.adapters.push_back(arena::testing::random_adapter(c, spec, 100 + i));
  }
  for (const auto& a : w.adapters) w.pointers.push_back(&a);
  w.data = arena::testing::random_eval_set(c,
                                           size == "large"         ? 8
                                           : size == "tiny/screen" ? 2
                                                                   : 16,
                                           48, 64, 7);
  return cache.emplace(size, std::move(w)).first->second;
}

void BM_Batched(benchmark::State& state, const std::string& size) {
  Workload& w = workload(size);
  double loss = 0;
  for (auto _ : state) {
    const auto scores = arena::evaluate_batched(w.base, w.pointers, w.data, {kBatch, kAdapters});
    loss = scores[0].mean_loss;
    if (!scores[0].valid) state.SkipWithError(("adapter 0 invalid: " + scores[0].reason).c_str());
    benchmark::DoNotOptimize(loss);
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(kAdapters * w.data.target_tokens()),
                         benchmark::Counter::kIsIterationInvariantRate);
  state.counters["loss0"] = loss;
}

void BM_Merged(benchmark::State& state, const std::string& size) {
  Workload& w = workload(size);
  double loss = 0;
  for (auto _ : state)
    for (const auto& a : w.adapters) {
      loss = arena::evaluate_merged(w.base, a, w.data, kBatch).mean_loss;
      benchmark::DoNotOptimize(loss);
    }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(kAdapters * w.data.target_tokens()),
                         benchmark::Counter::kIsIterationInvariantRate);
}

void BM_UsualValidator(benchmark::State& state, const std::string& size) {
  Workload& w = workload(size);
  double loss = 0;
  for (auto _ : state)
    for (const auto& a : w.adapters) {
      const arena::BaseModel fresh = arena::BaseModel::load(w.dir->path() / "base");
      loss = arena::evaluate_merged(fresh, a, w.data, 1).mean_loss;
      benchmark::DoNotOptimize(loss);
    }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(kAdapters * w.data.target_tokens()),
                         benchmark::Counter::kIsIterationInvariantRate);
}

const bool kRegistered = [] {
  // Each iteration scores all 16 adapters: seconds on "large", so few iterations.
  const std::map<std::string, int> iterations{{"tiny", 3}, {"tiny/screen", 10}, {"large", 1}};
  for (const auto& [size, n] : iterations) {
    const std::string suffix = "/" + size + "/iterations:" + std::to_string(n) + "/real_time";
    const auto reg = [&](const char* name, void (*fn)(benchmark::State&, const std::string&)) {
      benchmark::RegisterBenchmark((std::string(name) + "/" + size).c_str(),
                                   [fn, size = size](benchmark::State& s) { fn(s, size); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Iterations(n);
    };
    reg("BM_Batched", BM_Batched);
    reg("BM_Merged", BM_Merged);
    reg("BM_UsualValidator", BM_UsualValidator);
    // What `murmur arena validate --strategy auto` follows (arena/README.md): above 1 the batched
    // SGMV pass is the faster strategy on this backend, below 1 merging each adapter is.
    add_ratio(size +
                  ": batched vs merged one at a time (target >= 4; > 1: --strategy batched "
                  "is faster here, < 1: merged)",
              "BM_Batched" + suffix, "BM_Merged" + suffix);
    add_ratio(size + ": batched vs reload + merge, batch 1", "BM_Batched" + suffix,
              "BM_UsualValidator" + suffix);
  }
  return true;
}();

}  // namespace
}  // namespace murmur::bench
