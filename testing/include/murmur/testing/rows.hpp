#pragma once
// Test inputs for kernel tests: seeded rows with named shapes, printable for failure reports.
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "murmur/kernels/row_source.hpp"

namespace murmur::test {

/// How a case's rows are filled.
enum class Fill { kNormal, kAllEqual, kDuplicated, kNanRow, kInfRow };

inline const char* to_string(Fill f) {
  switch (f) {
    case Fill::kNormal: return "normal";
    case Fill::kAllEqual: return "all-equal";
    case Fill::kDuplicated: return "duplicated";
    case Fill::kNanRow: return "nan-row";
    case Fill::kInfRow: return "inf-row";
  }
  return "?";
}

/// N rows of D floats (packed), their weights, and how they were made.
struct Rows {
  std::size_t n = 0, d = 0;
  Fill fill = Fill::kNormal;
  std::uint64_t seed = 0;
  std::vector<float> data;
  std::vector<double> weights;

  const float* row(std::size_t i) const { return data.data() + i * d; }
  kernels::RowsView view() const { return {data.data(), n, d, d}; }
  std::string describe() const {
    std::ostringstream s;
    s << "n=" << n << " d=" << d << " fill=" << to_string(fill) << " seed=" << seed;
    return s.str();
  }
};

/// Rows drawn from N(0, 1) (row i shifted by i/n so rows differ in location), with positive
/// weights in [1, 100) like sample counts. Deterministic in `seed`.
inline Rows make_rows(std::size_t n, std::size_t d, Fill fill, std::uint64_t seed) {
  Rows r{n, d, fill, seed, std::vector<float>(n * d), std::vector<double>(n)};
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> count(1, 99);
  for (std::size_t i = 0; i < n; ++i) {
    r.weights[i] = count(gen);
    for (std::size_t j = 0; j < d; ++j)
      r.data[i * d + j] = normal(gen) + static_cast<float>(i) / static_cast<float>(n);
  }
  switch (fill) {
    case Fill::kNormal: break;
    case Fill::kAllEqual:
      for (std::size_t i = 1; i < n; ++i) std::copy(r.row(0), r.row(0) + d, r.data.begin() + i * d);
      break;
    case Fill::kDuplicated:  // every odd row repeats the row before it
      for (std::size_t i = 1; i < n; i += 2)
        std::copy(r.row(i - 1), r.row(i - 1) + d, r.data.begin() + i * d);
      break;
    case Fill::kNanRow:
      r.data[(n / 2) * d + d / 2] = std::numeric_limits<float>::quiet_NaN();
      break;
    case Fill::kInfRow: r.data[(n / 2) * d] = std::numeric_limits<float>::infinity(); break;
  }
  return r;
}

/// A RowSource over packed rows that never offers a resident view, so backends take the
/// copy path that the on-disk spool will take.
class CopyingRowSource final : public kernels::RowSource {
 public:
  explicit CopyingRowSource(const Rows& rows) : inner_(rows.view()) {}
  std::size_t rows() const override { return inner_.rows(); }
  std::size_t cols() const override { return inner_.cols(); }
  void read_row(std::size_t i, std::size_t b, std::size_t e, float* dst) const override {
    inner_.read_row(i, b, e, dst);
  }

 private:
  kernels::MemoryRowSource inner_;
};

}  // namespace murmur::test
