// bench/validate: scoring K = 32 candidate models on Fashion-MNIST's 10,000 test images.
// The batched pass (model::BatchedMlpEvaluator -> kernels::evaluate_mlp: one stacked GEMM for
// the first layer of all K, fused bias+ReLU, fused softmax-cross-entropy + argmax) against a
// loop of K plain libtorch evaluations (assign the flat vector, forward, cross_entropy,
// argmax: what a validator without the batched kernels does), measured in the same run, for
// logistic regression and two MLPs. Both sides use every hardware thread (OpenBLAS and our
// pool; libtorch's intra-op pool).
#include <cblas.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/torch_mlp.hpp"

namespace murmur::bench {
namespace {

constexpr std::size_t kCandidates = 32;
const char* const kShapes[] = {"784-10", "784-64-10", "784-128-10", "784-256-128-10"};

const model::LabelledSet& test_set() {
  static const model::LabelledSet set = model::load_fashion_mnist(model::FashionMnistSplit::kTest);
  return set;
}

/// Threads for both sides: $MURMUR_THREADS, else every hardware thread. For a comparison of
/// work rather than of wall time on a busy machine, run with MURMUR_THREADS=1 and
/// OPENBLAS_NUM_THREADS=1: the CPU column is then all of each side's work.
unsigned threads() {
  static const unsigned n = [] {
    const char* env = std::getenv("MURMUR_THREADS");
    const unsigned v = env != nullptr ? static_cast<unsigned>(std::atoi(env)) : 0;
    return v > 0 ? v : std::max(1u, std::thread::hardware_concurrency());
  }();
  return n;
}

/// K candidates of `shape`: libtorch's default initialisation plus per-candidate noise, so
/// that every candidate is a different model (values do not affect the speed).
std::vector<float> candidates(const model::MlpShape& shape) {
  torch::manual_seed(1);
  const std::vector<float> base = model::flatten_parameters(*model::make_mlp(shape));
  std::mt19937 rng(2);
  std::normal_distribution<float> noise(0.0f, 0.01f);
  std::vector<float> out(kCandidates * base.size());
  for (std::size_t k = 0; k < kCandidates; ++k)
    for (std::size_t j = 0; j < base.size(); ++j) out[k * base.size() + j] = base[j] + noise(rng);
  return out;
}

/// Multiply-adds of one forward of one image, times 2: the flops the GEMMs do.
double flops_per_image(const model::MlpShape& shape) {
  double f = 0;
  for (std::size_t l = 0; l < shape.layers(); ++l)
    f += 2.0 * static_cast<double>(shape.in(l)*shape.out(l));
  return f;
}

void report(benchmark::State& state, const model::MlpShape& shape) {
  const double images = static_cast<double>(kCandidates * test_set().rows());
  state.counters["cand_images/s"] =
      benchmark::Counter(images, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(images * flops_per_image(shape) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

/// The baseline: for each candidate, assign the flat vector to the Sequential, forward all
/// 10,000 images, cross_entropy (mean) and argmax accuracy. Returns the K mean losses.
std::vector<double> libtorch_scores(torch::nn::Sequential& net, const model::MlpShape& shape,
                                    const std::vector<float>& params) {
  const model::LabelledSet& data = test_set();
  const auto [x, y] = model::as_tensors(data);
  const std::size_t p = shape.parameters();
  std::vector<double> losses(kCandidates);
  for (std::size_t k = 0; k < kCandidates; ++k) {
    model::assign_parameters(*net, std::span<const float>(params).subspan(k * p, p));
    torch::InferenceMode inference;
    const torch::Tensor logits = net->forward(x);
    losses[k] = torch::nn::functional::cross_entropy(logits, y).item<double>();
    const auto correct = logits.argmax(1).eq(y).sum().item<std::int64_t>();
    benchmark::DoNotOptimize(correct);
  }
  return losses;
}

/// One shape's candidates and libtorch's losses for them (computed once, untimed), so that
/// both benchmarks can show they computed the same thing.
struct Workload {
  model::MlpShape shape;
  std::vector<float> params;
  std::vector<double> reference;
};

const Workload& workload(const std::string& spec) {
  static std::map<std::string, Workload> cache;
  auto it = cache.find(spec);
  if (it == cache.end()) {
    Workload w{model::parse_mlp_shape(spec), {}, {}};
    w.params = candidates(w.shape);
    torch::nn::Sequential net = model::make_mlp(w.shape);
    w.reference = libtorch_scores(net, w.shape, w.params);
    it = cache.emplace(spec, std::move(w)).first;
  }
  return it->second;
}

/// Largest relative difference of the K losses from the reference; fails the benchmark above
/// 1e-4 (the tests' tolerance is 1e-5; this only guards against timing a wrong result).
void check(benchmark::State& state, const std::vector<double>& losses, const Workload& w) {
  double worst = 0;
  for (std::size_t k = 0; k < kCandidates; ++k)
    worst = std::max(
        worst, std::abs(losses[k] - w.reference[k]) / std::max(1.0, std::abs(w.reference[k])));
  state.counters["max_rel_dloss"] = worst;
  if (!(worst <= 1e-4)) state.SkipWithError("scores disagree with libtorch's");
}

void batched(benchmark::State& state, const std::string& spec) {
  const Workload& w = workload(spec);
  static const auto backend = kernels::make_cpu_backend(threads());
  model::BatchedMlpEvaluator eval(*backend, w.shape, test_set());
  std::vector<model::CandidateScore> scores;
  for (auto _ : state) {
    scores = eval.evaluate(w.params);
    benchmark::DoNotOptimize(scores.data());
  }
  std::vector<double> losses;
  for (const auto& s : scores) losses.push_back(s.mean_loss);
  check(state, losses, w);
  report(state, w.shape);
}

void libtorch_loop(benchmark::State& state, const std::string& spec) {
  torch::set_num_threads(static_cast<int>(threads()));
  const Workload& w = workload(spec);
  torch::nn::Sequential net = model::make_mlp(w.shape);
  std::vector<double> losses;
  for (auto _ : state) {
    losses = libtorch_scores(net, w.shape, w.params);
    benchmark::DoNotOptimize(losses.data());
  }
  check(state, losses, w);
  report(state, w.shape);
}

const bool kRegistered = [] {
  // Both sides' GEMMs are OpenBLAS (libtorch's CPU BLAS is the same library), whose kernels
  // follow the core it detects: an unknown CPU model falls back to generic SSE3 kernels
  // ("Prescott"), several times slower than the AVX-512 ones (OPENBLAS_CORETYPE=SkylakeX).
  std::printf("OpenBLAS core: %s (%d threads); batched and libtorch threads: %u\n",
              openblas_get_corename(), openblas_get_num_threads(), threads());
  for (const char* spec : kShapes) {
    const std::string s = spec;
    benchmark::RegisterBenchmark(("BM_Batched/" + s).c_str(),
                                 [s](benchmark::State& st) { batched(st, s); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_LibtorchLoop/" + s).c_str(),
                                 [s](benchmark::State& st) { libtorch_loop(st, s); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    add_ratio("batched vs libtorch loop, " + s + ", K=32 x 10000 (target >= 3)",
              "BM_Batched/" + s + "/real_time", "BM_LibtorchLoop/" + s + "/real_time");
  }
  return true;
}();

}  // namespace
}  // namespace murmur::bench
