#pragma once
// The parity table's batched-MLP op: K candidate MLPs scored on one labelled set, against a
// naive double-precision forward pass, on synthetic shapes (ragged row blocks, 1 to 4 layers,
// K up to 40) and on candidates with non-finite parameters or logits. The CUDA backend is held
// to the reference as the CPU is. Fashion-MNIST itself needs model/'s reader:
// tests/model/batched_mlp_kernel_test.cpp.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mlp_scores.hpp"
#include "murmur/kernels/batched_mlp.hpp"
#include "ops.hpp"

namespace murmur::test {

namespace k = murmur::kernels;

struct MlpCase {
  std::vector<std::size_t> widths;
  std::size_t n;      // rows
  std::size_t count;  // candidates K
  std::uint64_t seed;
  bool poisoned = false;  ///< candidates 1, 2 and 4 made non-finite (poison())
};

// One row, one candidate; ragged sum blocks (257, 513 rows); 3 and 4 layers; K = 33 and 40;
// 3000 rows of a 33-candidate 64-32-10 net cross several CPU row blocks (768 rows each).
inline const MlpCase kMlpCases[] = {
    {{5, 3}, 1, 1, 11},           {{7, 5, 2}, 257, 3, 12},  {{33, 17, 9, 4}, 513, 5, 13},
    {{64, 32, 10}, 3000, 33, 14}, {{20, 10}, 1000, 40, 15}, {{1, 1, 2}, 300, 2, 16},
    {{784, 64, 10}, 300, 32, 17},
};

/// A case's data and candidates: features uniform in [0, 1), labels uniform, weights normal
/// with standard deviation scale_k / sqrt(in) (scale_k from 0.5 to ~4, so candidates differ),
/// biases normal(0, 0.1).
struct Problem {
  k::MlpShape shape;
  std::size_t n, count;
  std::vector<float> features, params;
  std::vector<std::int32_t> labels;
  std::uint64_t seed;

  explicit Problem(const MlpCase& c) : shape{c.widths}, n(c.n), count(c.count), seed(c.seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    features.resize(n * shape.inputs());
    for (float& x : features) x = unit(rng);
    labels.resize(n);
    std::uniform_int_distribution<std::int32_t> label(
        0, static_cast<std::int32_t>(shape.classes()) - 1);
    for (auto& y : labels) y = label(rng);
    const std::size_t p = shape.parameters();
    params.resize(count * p);
    for (std::size_t kk = 0; kk < count; ++kk) {
      const float scale = 0.5f * std::pow(1.07f, static_cast<float>(kk));
      for (std::size_t l = 0; l < shape.layers(); ++l) {
        std::normal_distribution<float> w(0.0f, scale / std::sqrt(static_cast<float>(shape.in(l))));
        std::normal_distribution<float> b(0.0f, 0.1f);
        float* wl = params.data() + kk * p + shape.weight_offset(l);
        for (std::size_t j = 0; j < shape.out(l) * shape.in(l); ++j) wl[j] = w(rng);
        float* bl = params.data() + kk * p + shape.bias_offset(l);
        for (std::size_t j = 0; j < shape.out(l); ++j) bl[j] = b(rng);
      }
    }
  }
  k::CandidateRows candidates() const { return {params.data(), count, shape.parameters()}; }
  k::LabelledRows data() const { return {features.data(), labels.data(), n, shape.inputs()}; }
  std::string describe() const {
    return shape.describe() + " n=" + std::to_string(n) + " K=" + std::to_string(count) +
           " seed=" + std::to_string(seed);
  }
};

/// The naive reference: every candidate and row in double, layer by layer, straight from the
/// flat layout.
inline ReferenceScore naive_mlp(const Problem& pb, std::size_t kk) {
  const k::MlpShape& s = pb.shape;
  const float* theta = pb.params.data() + kk * s.parameters();
  ReferenceScore ref;
  double loss = 0;
  for (std::size_t i = 0; i < pb.n; ++i) {
    std::vector<double> h(pb.features.begin() + static_cast<std::ptrdiff_t>(i * s.inputs()),
                          pb.features.begin() + static_cast<std::ptrdiff_t>((i + 1) * s.inputs()));
    for (std::size_t l = 0; l < s.layers(); ++l) {
      std::vector<double> z(s.out(l));
      for (std::size_t o = 0; o < s.out(l); ++o) {
        double acc = theta[s.bias_offset(l) + o];
        for (std::size_t j = 0; j < s.in(l); ++j)
          acc += static_cast<double>(theta[s.weight_offset(l) + o * s.in(l) + j]) * h[j];
        z[o] = (l + 1 < s.layers() && acc < 0) ? 0.0 : acc;
      }
      h = std::move(z);
    }
    std::size_t arg = 0;
    for (std::size_t c = 1; c < h.size(); ++c)
      if (h[c] > h[arg]) arg = c;
    double second = -std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < h.size(); ++c)
      if (c != arg) second = std::max(second, h[c]);
    double sum = 0;
    for (double v : h) sum += std::exp(v - h[arg]);
    const auto y = static_cast<std::size_t>(pb.labels[i]);
    loss += h[arg] + std::log(sum) - h[y];
    ref.correct += arg == y;
    ref.near_ties += h[arg] - second <= kNearTieRelative * std::max(1.0, std::abs(h[arg]));
  }
  ref.mean_loss = loss / static_cast<double>(pb.n);
  return ref;
}

/// Candidate 1 gets a NaN weight and candidate 4 an -Inf bias (not evaluated:
/// kNonFiniteParameters); candidate 2's finite weights overflow to Inf logits (kNonFiniteLoss).
inline void poison(Problem& pb) {
  const std::size_t p = pb.shape.parameters();
  pb.params[1 * p + 17] = std::numeric_limits<float>::quiet_NaN();
  pb.params[4 * p + pb.shape.bias_offset(1) + 2] = -std::numeric_limits<float>::infinity();
  for (std::size_t j = 0; j < 6 * 7; ++j) pb.params[2 * p + j] = 3e38f;
}

inline Problem make_problem(const MlpCase& c) {
  Problem pb(c);
  if (c.poisoned) poison(pb);
  return pb;
}

/// A candidate's expected status and, when it is scored, its reference score.
struct MlpReference {
  k::CandidateStatus status = k::CandidateStatus::kScored;
  ReferenceScore score;
};

inline std::vector<Op> mlp_ops() {
  using Out = std::vector<k::CandidateScore>;
  using Ref = std::vector<MlpReference>;
  OpSpec<MlpCase, Out, Ref> s;
  s.name = "batched_mlp";
  s.shapes.assign(std::begin(kMlpCases), std::end(kMlpCases));
  s.shapes.push_back({{7, 6, 3}, 500, 6, 21, /*poisoned=*/true});
  s.describe = [](const MlpCase& c) {
    std::string name = "w";
    for (std::size_t w : c.widths) name.append("_").append(std::to_string(w));
    return name + "_n" + std::to_string(c.n) + "_k" + std::to_string(c.count) +
           (c.poisoned ? "_non_finite" : "");
  };
  s.naive = [](const MlpCase& c) {
    const Problem pb = make_problem(c);
    Ref ref(pb.count);
    for (std::size_t kk = 0; kk < pb.count; ++kk) {
      if (c.poisoned && (kk == 1 || kk == 4)) {
        ref[kk].status = k::CandidateStatus::kNonFiniteParameters;
      } else if (c.poisoned && kk == 2) {
        ref[kk].status = k::CandidateStatus::kNonFiniteLoss;
      } else {
        ref[kk].score = naive_mlp(pb, kk);
      }
    }
    return ref;
  };
  s.run = [](k::Backend& b, const MlpCase& c, InputPath) {
    const Problem pb = make_problem(c);
    return k::evaluate_mlp(b, pb.shape, pb.candidates(), pb.data());
  };
  s.cpu_vs_naive = s.gpu_vs_cpu = {kLossRelTolerance,
                                   "1e-5 relative on the mean loss, correct counts within the "
                                   "reference's near ties"};
  s.gpu_against_naive = true;
  s.vs_naive = [](const Out& got, const Ref& want, const MlpCase& c, Tolerance,
                  const std::string& label) -> ::testing::AssertionResult {
    const std::string what = label + " " + make_problem(c).describe();
    if (got.size() != want.size())
      return ::testing::AssertionFailure()
             << what << ": " << got.size() << " scores for " << want.size() << " candidates";
    for (std::size_t kk = 0; kk < want.size(); ++kk) {
      const k::CandidateScore& g = got[kk];
      if (want[kk].status != k::CandidateStatus::kScored) {
        if (g.status != want[kk].status)
          return ::testing::AssertionFailure()
                 << what << " candidate " << kk << ": status " << k::to_string(g.status)
                 << ", want " << k::to_string(want[kk].status);
        if (g.status == k::CandidateStatus::kNonFiniteParameters &&
            (g.valid() || !std::isnan(g.mean_loss) || g.correct != 0))
          return ::testing::AssertionFailure()
                 << what << " candidate " << kk << ": not evaluated, yet loss " << g.mean_loss
                 << " correct " << g.correct;
        continue;
      }
      // A trivial case proves nothing (the poisoned case is about its statuses).
      if (!c.poisoned && !(want[kk].score.mean_loss > 0.01))
        return ::testing::AssertionFailure()
               << what << " candidate " << kk << ": reference loss " << want[kk].score.mean_loss;
      auto r = score_matches(g, want[kk].score, kk, what);
      if (!r) return r;
      if (g.rows != c.n || g.accuracy != static_cast<double>(g.correct) / static_cast<double>(c.n))
        return ::testing::AssertionFailure()
               << what << " candidate " << kk << ": rows " << g.rows << " accuracy " << g.accuracy;
    }
    return ::testing::AssertionSuccess();
  };
  s.vs_out = [](const Out& got, const Out& want, const MlpCase&, Tolerance,
                const std::string& label) -> ::testing::AssertionResult {
    for (std::size_t kk = 0; kk < want.size(); ++kk)
      if (got[kk].status != want[kk].status ||
          std::bit_cast<std::uint64_t>(got[kk].mean_loss) !=
              std::bit_cast<std::uint64_t>(want[kk].mean_loss) ||
          got[kk].correct != want[kk].correct)
        return ::testing::AssertionFailure()
               << label << " candidate " << kk << ": loss " << got[kk].mean_loss << " correct "
               << got[kk].correct << ", want loss " << want[kk].mean_loss << " correct "
               << want[kk].correct;
    return ::testing::AssertionSuccess();
  };
  return {make_op(std::move(s))};
}

}  // namespace murmur::test
