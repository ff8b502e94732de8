#pragma once
// The parity harness's table of ops, in the manner of llama.cpp's test-backend-ops: every op of
// kernels/ once — the aggregation rules and primitives (ops_rules.hpp), the secure-aggregation
// masks (ops_masks.hpp), the batched MLP (ops_mlp.hpp) and SGMV (ops_sgmv.hpp) — each with its
// shapes, a naive reference written plainly, its run on a backend and the tolerances it is held
// to. parity_test.cpp runs every case of every op on every backend present.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/testing/compare.hpp"

namespace murmur::test {

/// How a run reads its inputs: as they are, or through another path that must give the same
/// bits (the rules read their rows through a CopyingRowSource; other ops have one path).
enum class InputPath { kPlain, kCopying };

/// One op of the table, as parity_test.cpp runs it: for each case (a shape), the CPU backend
/// against the naive reference (CpuVsNaive, label unit), the CPU backend with 1 and 3 threads
/// and through every input path against itself with 2 (same bits), and the CUDA backend
/// against the CPU (GpuVsCpu, label gpu; skipped with the CUDA runtime's text when no device
/// answers). `make_op` builds these from an OpSpec.
struct Op {
  std::string name;
  std::vector<std::string> cases;  ///< each case's shape, as it appears in the test's name
  /// Why case c is not run (its reference is too slow at its size), or "" to run it.
  std::function<std::string(std::size_t c)> skip;
  std::function<::testing::AssertionResult(std::size_t c)> cpu_vs_naive;
  std::function<::testing::AssertionResult(std::size_t c)> same_bits;
  std::function<::testing::AssertionResult(kernels::Backend& gpu, std::size_t c)> gpu_vs_cpu;
};

/// An op's parts: name, shapes, naive reference, run on a backend, tolerances and how an output
/// is compared with the reference and with another backend's output.
template <class Case, class Out, class Ref>
struct OpSpec {
  std::string name;
  std::vector<Case> shapes;
  std::function<std::string(const Case&)> describe;  ///< the shape in a test name
  std::function<std::string(const Case&)> skip = [](const Case&) { return std::string(); };
  std::function<Ref(const Case&)> naive;                              ///< plain loops
  std::function<Out(kernels::Backend&, const Case&, InputPath)> run;  ///< the op on a backend
  std::vector<InputPath> paths{InputPath::kPlain};  ///< the input paths run() takes
  Tolerance cpu_vs_naive;                           ///< the CPU backend against the reference
  Tolerance gpu_vs_cpu;  ///< the CUDA backend against the CPU (or the reference, below)
  /// The CUDA backend is held to the reference rather than to the CPU's output (the batched
  /// MLP: two fp32 evaluations may each be within tolerance of the reference, not of each other).
  bool gpu_against_naive = false;
  /// An output against the reference; also checks the case is not trivial (a kernel that
  /// writes nothing cannot pass).
  std::function<::testing::AssertionResult(const Out&, const Ref&, const Case&, Tolerance,
                                           const std::string& label)>
      vs_naive;
  /// An output against another backend's or thread count's output.
  std::function<::testing::AssertionResult(const Out&, const Out&, const Case&, Tolerance,
                                           const std::string& label)>
      vs_out;
};

template <class Case, class Out, class Ref>
Op make_op(OpSpec<Case, Out, Ref> spec) {
  const auto s = std::make_shared<const OpSpec<Case, Out, Ref>>(std::move(spec));
  Op op;
  op.name = s->name;
  for (const Case& c : s->shapes) op.cases.push_back(s->describe(c));
  op.skip = [s](std::size_t c) { return s->skip(s->shapes[c]); };
  op.cpu_vs_naive = [s](std::size_t c) {
    const Case& cs = s->shapes[c];
    auto cpu = kernels::make_cpu_backend(2);
    return s->vs_naive(s->run(*cpu, cs, InputPath::kPlain), s->naive(cs), cs, s->cpu_vs_naive,
                       s->name + "-cpu");
  };
  op.same_bits = [s](std::size_t c) {
    const Case& cs = s->shapes[c];
    auto two = kernels::make_cpu_backend(2);
    const Out want = s->run(*two, cs, InputPath::kPlain);
    for (unsigned threads : {1u, 3u}) {
      auto cpu = kernels::make_cpu_backend(threads);
      for (InputPath path : s->paths) {
        auto r = s->vs_out(s->run(*cpu, cs, path), want, cs, kExact,
                           s->name + "-threads" + std::to_string(threads) +
                               (path == InputPath::kCopying ? "-copying" : ""));
        if (!r) return r;
      }
    }
    return ::testing::AssertionSuccess();
  };
  op.gpu_vs_cpu = [s](kernels::Backend& gpu, std::size_t c) {
    const Case& cs = s->shapes[c];
    for (InputPath path : s->paths) {
      const std::string label = s->name + "-cuda" + (path == InputPath::kCopying ? "-copying" : "");
      ::testing::AssertionResult r = ::testing::AssertionSuccess();
      if (s->gpu_against_naive) {
        r = s->vs_naive(s->run(gpu, cs, path), s->naive(cs), cs, s->gpu_vs_cpu, label);
      } else {
        auto cpu = kernels::make_cpu_backend(2);
        r = s->vs_out(s->run(gpu, cs, path), s->run(*cpu, cs, InputPath::kPlain), cs, s->gpu_vs_cpu,
                      label);
      }
      if (!r) return r;
    }
    return ::testing::AssertionSuccess();
  };
  return op;
}

/// Every op of the table, family by family (rule_ops(), mask_ops(), mlp_ops(), sgmv_ops());
/// defined in parity_test.cpp.
const std::vector<Op>& all_ops();

}  // namespace murmur::test
