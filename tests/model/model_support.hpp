#pragma once
// Shared by the model/ tests: the real Fashion-MNIST sets (loaded once per process), a
// nearest-centroid classifier built from them (a real, non-trivial 784-10 model with no
// training loop), candidate perturbations, a temporary directory, and (from
// kernels/mlp_scores.hpp) the comparison of a candidate's score against a reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "kernels/mlp_scores.hpp"
#include "murmur/kernels/batched_mlp.hpp"
#include "murmur/kernels/row_source.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/testing/temp_dir.hpp"

namespace murmur::test {

/// Rows handed out only through read_row (like murmurd's spool), never resident; counts reads.
class StreamedRows final : public kernels::RowSource {
 public:
  StreamedRows(const std::vector<float>& data, std::size_t n, std::size_t d)
      : data_(data), n_(n), d_(d) {}
  std::size_t rows() const override { return n_; }
  std::size_t cols() const override { return d_; }
  void read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const override {
    ++reads;
    std::copy(data_.begin() + static_cast<std::ptrdiff_t>(i * d_ + begin),
              data_.begin() + static_cast<std::ptrdiff_t>(i * d_ + end), dst);
  }
  mutable std::size_t reads = 0;

 private:
  const std::vector<float>& data_;
  std::size_t n_, d_;
};

inline const model::LabelledSet& fashion_test() {
  static const model::LabelledSet set = model::load_fashion_mnist(model::FashionMnistSplit::kTest);
  return set;
}

inline const model::LabelledSet& fashion_train() {
  static const model::LabelledSet set = model::load_fashion_mnist(model::FashionMnistSplit::kTrain);
  return set;
}

/// Nearest class mean as a linear classifier (784-10 flat layout): argmin_c |x - mu_c|^2 =
/// argmax_c (mu_c . x - |mu_c|^2 / 2), so W_c = s mu_c and b_c = -s |mu_c|^2 / 2. About 68%
/// accurate on Fashion-MNIST; `scale` s sets how confident its softmax is.
inline std::vector<float> nearest_centroid(const model::LabelledSet& train, double scale) {
  const std::size_t d = train.cols(), c = 10;
  std::vector<double> mean(c * d, 0.0);
  std::vector<double> count(c, 0.0);
  for (std::size_t i = 0; i < train.rows(); ++i) {
    const auto y = static_cast<std::size_t>(train.labels[i]);
    count[y] += 1;
    for (std::size_t j = 0; j < d; ++j) mean[y * d + j] += train.features[i * d + j];
  }
  std::vector<float> params(c * d + c);
  for (std::size_t y = 0; y < c; ++y) {
    double norm = 0;
    for (std::size_t j = 0; j < d; ++j) {
      const double m = mean[y * d + j] / count[y];
      params[y * d + j] = static_cast<float>(scale * m);
      norm += m * m;
    }
    params[c * d + y] = static_cast<float>(-scale * norm / 2);
  }
  return params;
}

/// K candidates around `base`: candidate 0 is base itself, candidate k adds Gaussian noise of
/// standard deviation sigma0 * growth^k (a spread from near-identical to useless models).
inline std::vector<float> perturbed(const std::vector<float>& base, std::size_t k_count,
                                    std::uint64_t seed, double sigma0 = 2e-3, double growth = 1.3) {
  std::mt19937_64 rng(seed);
  std::vector<float> out(k_count * base.size());
  for (std::size_t k = 0; k < k_count; ++k) {
    std::normal_distribution<float> noise(
        0.0f, static_cast<float>(k == 0 ? 0.0 : sigma0 * std::pow(growth, k)));
    for (std::size_t j = 0; j < base.size(); ++j)
      out[k * base.size() + j] = base[j] + (k == 0 ? 0.0f : noise(rng));
  }
  return out;
}

using murmur::testing::TempDir;

}  // namespace murmur::test
