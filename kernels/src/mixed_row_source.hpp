#pragma once
#include "murmur/kernels/row_source.hpp"
#include "robust_math.hpp"

namespace murmur::kernels {

/// The rows of a pre-aggregation step, computed tile by tile and never materialised: row k is
/// sum_i C_ki x_i over the base rows, in double with one fma per term in ascending i, rounded
/// once to float (so it is the same on every thread count and backend).
class MixedRowSource final : public RowSource {
 public:
  MixedRowSource(const RowSource& base, const robust::Mixing& mixing)
      : base_(base), mixing_(mixing) {}

  std::size_t rows() const override { return mixing_.rows.size(); }
  std::size_t cols() const override { return base_.cols(); }
  void read_row(std::size_t k, std::size_t begin, std::size_t end, float* dst) const override;
  /// Reads the base tile once, then mixes every row from it.
  void read(std::size_t begin, std::size_t end, float* dst, std::size_t ld_dst) const override;

 private:
  void mix(std::size_t k, const float* const* base_rows, std::size_t w, float* dst) const;

  const RowSource& base_;
  const robust::Mixing& mixing_;
};

}  // namespace murmur::kernels
