#pragma once
// The parity harness's list of ops, in the manner of llama.cpp's test-backend-ops: every op
// once, with a naive reference written plainly here and the tolerances it is held to.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "../support/compare.hpp"
#include "../support/rows.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/weighted_sum.hpp"

namespace murmur::test {

struct Op {
  std::string name;
  Tolerance cpu_vs_naive;  ///< the CPU backend against the naive reference
  Tolerance gpu_vs_cpu;    ///< the CUDA backend against the CPU backend
  /// The reference: plain loops, no cleverness.
  std::function<std::vector<float>(const Rows&)> naive;
  /// The op on a backend, with rows from `source` (which holds `rows`).
  std::function<std::vector<float>(kernels::Backend&, const kernels::RowSource&, const Rows&)> run;
};

inline std::vector<float> naive_weighted_sum(const Rows& r) {
  std::vector<float> out(r.d);
  for (std::size_t j = 0; j < r.d; ++j) {
    double acc = 0.0;
    for (std::size_t i = 0; i < r.n; ++i) acc = std::fma(r.weights[i], double{r.row(i)[j]}, acc);
    out[j] = static_cast<float>(acc);
  }
  return out;
}

inline const std::vector<Op>& all_ops() {
  static const std::vector<Op> ops = {
      {"weighted_sum", kExact, kExact, naive_weighted_sum,
       [](kernels::Backend& b, const kernels::RowSource& src, const Rows& r) {
         std::vector<float> out(r.d);
         kernels::weighted_sum(b, src, r.weights, out);
         return out;
       }},
  };
  return ops;
}

}  // namespace murmur::test
