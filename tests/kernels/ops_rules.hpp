#pragma once
// The parity table's row ops: weighted_sum and every aggregation rule and pre-aggregation step
// through aggregate(), each over the same row shapes, against the naive references of
// murmur/testing/naive.hpp.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/weighted_sum.hpp"
#include "murmur/testing/compare.hpp"
#include "murmur/testing/naive.hpp"
#include "murmur/testing/rows.hpp"
#include "ops.hpp"

namespace murmur::test {

/// Relative tolerance for results computed through the Gram matrix or through norms summed
/// in another order than the reference's (FP64 throughout, so far below float resolution).
inline constexpr Tolerance kGramTolerance{2e-5, "2e-5 relative (FP64 Gram vs direct distances)"};
inline constexpr Tolerance kNormTolerance{1e-6, "1e-6 relative (norm summation order)"};

/// A row case: N rows of D floats filled as named, from a fixed seed.
struct RowShape {
  std::size_t n, d;
  Fill fill;
  std::uint64_t seed;
  Rows rows() const { return make_rows(n, d, fill, seed); }
};

/// N = 1, 2, 3, odd/even, 1000; D of 1, below a vector width, not a multiple of any tile, and
/// across several CPU tiles (65536 coordinates each); all-equal, duplicated, NaN and Inf rows.
inline std::vector<RowShape> row_shapes() {
  const RowShape shapes[] = {
      {1, 1, Fill::kNormal, 0},       {1, 1000, Fill::kNormal, 0},    {2, 17, Fill::kNormal, 0},
      {3, 200003, Fill::kNormal, 0},  {7, 1031, Fill::kNormal, 0},    {32, 4099, Fill::kNormal, 0},
      {33, 65537, Fill::kNormal, 0},  {1000, 1031, Fill::kNormal, 0}, {10, 513, Fill::kAllEqual, 0},
      {9, 513, Fill::kDuplicated, 0}, {8, 257, Fill::kNanRow, 0},     {8, 257, Fill::kInfRow, 0},
  };
  std::vector<RowShape> out;
  for (std::size_t i = 0; i < std::size(shapes); ++i) {
    out.push_back(shapes[i]);
    out.back().seed = 1000 + i;
  }
  return out;
}

/// An op over rows: `naive` on the rows, `run` on a backend reading them from `source`.
inline Op row_op(
    std::string name, Tolerance vs_naive, Tolerance vs_cpu,
    std::size_t max_n,  ///< larger cases are skipped (the reference is quadratic or worse)
    std::function<std::vector<float>(const Rows&)> naive,
    std::function<std::vector<float>(kernels::Backend&, const kernels::RowSource&, const Rows&)>
        run) {
  using Out = std::vector<float>;
  const auto compare = [](const Out& got, const Out& want, const RowShape& c, Tolerance tol,
                          const std::string& label) {
    return outputs_match(got, want, tol, c.rows(), label);
  };
  OpSpec<RowShape, Out, Out> s;
  s.name = std::move(name);
  s.shapes = row_shapes();
  s.describe = [](const RowShape& c) {
    std::string fill = to_string(c.fill);
    std::replace(fill.begin(), fill.end(), '-', '_');
    return "n" + std::to_string(c.n) + "_d" + std::to_string(c.d) + "_" + fill;
  };
  s.skip = [max_n](const RowShape& c) {
    return c.n > max_n ? "reference too slow beyond n = " + std::to_string(max_n) : std::string();
  };
  s.naive = [naive](const RowShape& c) { return naive(c.rows()); };
  s.run = [run](kernels::Backend& b, const RowShape& c, InputPath path) {
    const Rows r = c.rows();
    if (path == InputPath::kCopying) return run(b, CopyingRowSource(r), r);
    return run(b, kernels::MemoryRowSource(r.view()), r);
  };
  s.paths = {InputPath::kPlain, InputPath::kCopying};
  s.cpu_vs_naive = vs_naive;
  s.gpu_vs_cpu = vs_cpu;
  s.vs_naive = [compare](const Out& got, const Out& want, const RowShape& c, Tolerance tol,
                         const std::string& label) {
    // Not trivially zero, so that a kernel writing nothing cannot pass.
    if (std::none_of(want.begin(), want.end(), [](float v) { return v != 0.0f; }))
      return ::testing::AssertionFailure() << label << ": the reference is all zeros";
    return compare(got, want, c, tol, label);
  };
  s.vs_out = compare;
  return make_op(std::move(s));
}

/// f for a case of n rows: as large as Bulyan allows (n >= 4f + 3).
inline std::size_t bulyan_f(std::size_t n) {
  return n >= 3 ? (n - 3) / 4 : 0;
}

/// An op that runs aggregate() with the spec made for the case's finite row count.
inline Op rule_op(std::string name, Tolerance vs_naive, Tolerance vs_cpu, std::size_t max_n,
                  std::function<kernels::AggregationSpec(std::size_t)> spec,
                  std::function<std::vector<float>(const naive::Finite&)> reference) {
  return row_op(
      std::move(name), vs_naive, vs_cpu, max_n,
      [reference](const Rows& r) { return reference(naive::finite_rows(r)); },
      [spec](kernels::Backend& b, const kernels::RowSource& src, const Rows& r) {
        std::vector<float> out(r.d);
        kernels::aggregate(b, src, r.weights, spec(naive::finite_rows(r).x.size()), out);
        return out;
      });
}

/// weighted_sum, then every rule and pre-aggregation step the parity table holds.
inline std::vector<Op> rule_ops() {
  namespace k = kernels;
  using Spec = k::AggregationSpec;
  return {
      row_op(
          "weighted_sum", kExact, kExact, 100000,
          [](const Rows& r) {
            naive::Finite all{{}, r.weights, r.d};
            for (std::size_t i = 0; i < r.n; ++i) all.x.emplace_back(r.row(i), r.row(i) + r.d);
            return naive::combine(all, r.weights);
          },
          [](k::Backend& b, const k::RowSource& src, const Rows& r) {
            std::vector<float> out(r.d);
            k::weighted_sum(b, src, r.weights, out);
            return out;
          }),
      rule_op(
          "fedavg", kExact, kExact, 100000,
          [](std::size_t) {
            return Spec{{}, k::WeightedMean{}};
          },
          [](const naive::Finite& f) { return naive::weighted_mean(f, 1e300); }),
      rule_op(
          "fedavg_clip", kNormTolerance, kNormTolerance, 100000,
          [](std::size_t) {
            return Spec{{}, k::WeightedMean{k::Clipping::kFixed, 20.0, 0}};
          },
          [](const naive::Finite& f) { return naive::weighted_mean(f, 20.0); }),
      rule_op(
          "median", kExact, kExact, 100000,
          [](std::size_t) {
            return Spec{{}, k::CoordinateMedian{}};
          },
          naive::coordinate_median),
      rule_op(
          "trimmed_mean", kExact, kExact, 100000,
          [](std::size_t) {
            return Spec{{}, k::TrimmedMean{0.2}};
          },
          [](const naive::Finite& f) { return naive::trimmed_mean(f, 0.2); }),
      rule_op(
          "meamed", kExact, kExact, 100000,
          [](std::size_t n) {
            return Spec{{}, k::MeaMed{n / 3}};
          },
          [](const naive::Finite& f) { return naive::meamed(f, f.x.size() / 3); }),
      rule_op(
          "multi_krum", kExact, kExact, 1000,
          [](std::size_t n) {
            const std::size_t f = n >= 3 ? (n - 3) / 2 : 0;
            return Spec{{}, k::MultiKrum{f, std::max<std::size_t>(1, n - f)}};
          },
          [](const naive::Finite& f) {
            const std::size_t n = f.x.size(), fby = n >= 3 ? (n - 3) / 2 : 0;
            return naive::multi_krum(f, fby, std::max<std::size_t>(1, n - fby));
          }),
      rule_op(
          "krum", kExact, kExact, 1000,
          [](std::size_t n) {
            return Spec{{}, k::Krum{n >= 3 ? (n - 3) / 2 : 0}};
          },
          [](const naive::Finite& f) {
            const std::size_t n = f.x.size();
            return naive::multi_krum(f, n >= 3 ? (n - 3) / 2 : 0, 1);
          }),
      rule_op(
          "bulyan", kExact, kExact, 1000,
          [](std::size_t n) {
            return Spec{{}, k::Bulyan{bulyan_f(n)}};
          },
          [](const naive::Finite& f) { return naive::bulyan(f, bulyan_f(f.x.size())); }),
      rule_op(
          "geometric_median", kGramTolerance, kGramTolerance, 1000,
          [](std::size_t) {
            return Spec{{}, k::GeometricMedian{1e-6, 40, 0.0}};
          },
          [](const naive::Finite& f) { return naive::geometric_median(f, 1e-6, 40); }),
      rule_op(
          "centered_clipping", kGramTolerance, kGramTolerance, 1000,
          [](std::size_t) {
            return Spec{{}, k::CenteredClipping{5.0, 4}};
          },
          [](const naive::Finite& f) { return naive::centered_clipping(f, 5.0, 4); }),
      rule_op(
          "nnm_median", kExact, kExact, 1000,
          [](std::size_t n) {
            return Spec{{k::NearestNeighborMixing{n / 4}}, k::CoordinateMedian{}};
          },
          [](const naive::Finite& f) {
            return naive::coordinate_median(naive::nearest_neighbor_mixing(f, f.x.size() / 4));
          }),
      rule_op(
          "bucketing_trimmed_mean", kExact, kExact, 100000,
          [](std::size_t) {
            return Spec{{k::Bucketing{3, 42}}, k::TrimmedMean{0.2}};
          },
          [](const naive::Finite& f) {
            return naive::trimmed_mean(naive::bucketing(f, 3, 42), 0.2);
          }),
  };
}

}  // namespace murmur::test
