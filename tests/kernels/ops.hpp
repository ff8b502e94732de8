#pragma once
// The parity harness's list of ops, in the manner of llama.cpp's test-backend-ops: every op
// once, with a naive reference written plainly (naive.hpp) and the tolerance it is held to.
#include <functional>
#include <string>
#include <vector>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/weighted_sum.hpp"
#include "murmur/testing/compare.hpp"
#include "murmur/testing/naive.hpp"
#include "murmur/testing/rows.hpp"

namespace murmur::test {

/// Relative tolerance for results computed through the Gram matrix or through norms summed
/// in another order than the reference's (FP64 throughout, so far below float resolution).
inline constexpr Tolerance kGramTolerance{2e-5, "2e-5 relative (FP64 Gram vs direct distances)"};
inline constexpr Tolerance kNormTolerance{1e-6, "1e-6 relative (norm summation order)"};

struct Op {
  std::string name;
  Tolerance cpu_vs_naive;  ///< the CPU backend against the naive reference
  Tolerance gpu_vs_cpu;    ///< the CUDA backend against the CPU backend
  std::size_t max_n;       ///< larger cases are skipped (the reference is quadratic or worse)
  /// The reference: plain loops, no cleverness.
  std::function<std::vector<float>(const Rows&)> naive;
  /// The op on a backend, with rows from `source` (which holds `rows`).
  std::function<std::vector<float>(kernels::Backend&, const kernels::RowSource&, const Rows&)> run;
};

/// f for a case of n rows: as large as Bulyan allows (n >= 4f + 3).
inline std::size_t bulyan_f(std::size_t n) { return n >= 3 ? (n - 3) / 4 : 0; }

/// An op that runs aggregate() with the spec made for the case's finite row count.
inline Op rule_op(std::string name, Tolerance vs_naive, Tolerance vs_cpu, std::size_t max_n,
                  std::function<kernels::AggregationSpec(std::size_t)> spec,
                  std::function<std::vector<float>(const naive::Finite&)> reference) {
  return {std::move(name), vs_naive, vs_cpu, max_n,
          [reference](const Rows& r) { return reference(naive::finite_rows(r)); },
          [spec](kernels::Backend& b, const kernels::RowSource& src, const Rows& r) {
            std::vector<float> out(r.d);
            kernels::aggregate(b, src, r.weights, spec(naive::finite_rows(r).x.size()), out);
            return out;
          }};
}

inline const std::vector<Op>& all_ops() {
  namespace k = kernels;
  using Spec = k::AggregationSpec;
  static const std::vector<Op> ops = {
      {"weighted_sum", kExact, kExact, 100000,
       [](const Rows& r) {
         naive::Finite all{{}, r.weights, r.d};
         for (std::size_t i = 0; i < r.n; ++i) all.x.emplace_back(r.row(i), r.row(i) + r.d);
         return naive::combine(all, r.weights);
       },
       [](k::Backend& b, const k::RowSource& src, const Rows& r) {
         std::vector<float> out(r.d);
         k::weighted_sum(b, src, r.weights, out);
         return out;
       }},
      rule_op("fedavg", kExact, kExact, 100000, [](std::size_t) { return Spec{{}, k::WeightedMean{}}; },
              [](const naive::Finite& f) { return naive::weighted_mean(f, 1e300); }),
      rule_op("fedavg_clip", kNormTolerance, kNormTolerance, 100000,
              [](std::size_t) { return Spec{{}, k::WeightedMean{k::Clipping::kFixed, 20.0, 0}}; },
              [](const naive::Finite& f) { return naive::weighted_mean(f, 20.0); }),
      rule_op("median", kExact, kExact, 100000, [](std::size_t) { return Spec{{}, k::CoordinateMedian{}}; },
              naive::coordinate_median),
      rule_op("trimmed_mean", kExact, kExact, 100000, [](std::size_t) { return Spec{{}, k::TrimmedMean{0.2}}; },
              [](const naive::Finite& f) { return naive::trimmed_mean(f, 0.2); }),
      rule_op("meamed", kExact, kExact, 100000,
              [](std::size_t n) { return Spec{{}, k::MeaMed{n / 3}}; },
              [](const naive::Finite& f) { return naive::meamed(f, f.x.size() / 3); }),
      rule_op("multi_krum", kExact, kExact, 1000,
              [](std::size_t n) {
                const std::size_t f = n >= 3 ? (n - 3) / 2 : 0;
                return Spec{{}, k::MultiKrum{f, std::max<std::size_t>(1, n - f)}};
              },
              [](const naive::Finite& f) {
                const std::size_t n = f.x.size(), fby = n >= 3 ? (n - 3) / 2 : 0;
                return naive::multi_krum(f, fby, std::max<std::size_t>(1, n - fby));
              }),
      rule_op("krum", kExact, kExact, 1000,
              [](std::size_t n) { return Spec{{}, k::Krum{n >= 3 ? (n - 3) / 2 : 0}}; },
              [](const naive::Finite& f) {
                const std::size_t n = f.x.size();
                return naive::multi_krum(f, n >= 3 ? (n - 3) / 2 : 0, 1);
              }),
      rule_op("bulyan", kExact, kExact, 1000,
              [](std::size_t n) { return Spec{{}, k::Bulyan{bulyan_f(n)}}; },
              [](const naive::Finite& f) { return naive::bulyan(f, bulyan_f(f.x.size())); }),
      rule_op("geometric_median", kGramTolerance, kGramTolerance, 1000,
              [](std::size_t) { return Spec{{}, k::GeometricMedian{1e-6, 40, 0.0}}; },
              [](const naive::Finite& f) { return naive::geometric_median(f, 1e-6, 40); }),
      rule_op("centered_clipping", kGramTolerance, kGramTolerance, 1000,
              [](std::size_t) { return Spec{{}, k::CenteredClipping{5.0, 4}}; },
              [](const naive::Finite& f) { return naive::centered_clipping(f, 5.0, 4); }),
      rule_op("nnm_median", kExact, kExact, 1000,
              [](std::size_t n) { return Spec{{k::NearestNeighborMixing{n / 4}}, k::CoordinateMedian{}}; },
              [](const naive::Finite& f) {
                return naive::coordinate_median(naive::nearest_neighbor_mixing(f, f.x.size() / 4));
              }),
      rule_op("bucketing_trimmed_mean", kExact, kExact, 100000,
              [](std::size_t) { return Spec{{k::Bucketing{3, 42}}, k::TrimmedMean{0.2}}; },
              [](const naive::Finite& f) { return naive::trimmed_mean(naive::bucketing(f, 3, 42), 0.2); }),
  };
  return ops;
}

}  // namespace murmur::test
