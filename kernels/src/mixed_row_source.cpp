#include "mixed_row_source.hpp"

#include <array>
#include <cmath>
#include <vector>

namespace murmur::kernels {
namespace {
constexpr std::size_t kBlock = 1024;
}

void MixedRowSource::mix(std::size_t k, const float* const* base_rows, std::size_t w,
                         float* dst) const {
  std::array<double, kBlock> acc;
  for (std::size_t j0 = 0; j0 < w; j0 += kBlock) {
    const std::size_t bw = std::min(kBlock, w - j0);
    acc.fill(0.0);
    for (const auto& t : mixing_.rows[k]) {
      const float* x = base_rows[t.row] + j0;
      for (std::size_t j = 0; j < bw; ++j) acc[j] = std::fma(t.coef, double{x[j]}, acc[j]);
    }
    for (std::size_t j = 0; j < bw; ++j) dst[j0 + j] = static_cast<float>(acc[j]);
  }
}

void MixedRowSource::read_row(std::size_t k, std::size_t begin, std::size_t end, float* dst) const {
  const std::size_t w = end - begin;
  thread_local std::vector<const float*> ptrs;
  thread_local std::vector<float> buf;
  ptrs.assign(base_.rows(), nullptr);
  const auto& terms = mixing_.rows[k];
  buf.resize(terms.size() * w);
  for (std::size_t t = 0; t < terms.size(); ++t) {
    const std::size_t i = terms[t].row;
    if (const float* r = base_.resident_row(i)) {
      ptrs[i] = r + begin;
    } else {
      base_.read_row(i, begin, end, buf.data() + t * w);
      ptrs[i] = buf.data() + t * w;
    }
  }
  mix(k, ptrs.data(), w, dst);
}

void MixedRowSource::read(std::size_t begin, std::size_t end, float* dst,
                          std::size_t ld_dst) const {
  const std::size_t n = base_.rows(), w = end - begin;
  thread_local std::vector<const float*> ptrs;
  thread_local std::vector<float> buf;
  ptrs.resize(n);
  bool resident = true;
  for (std::size_t i = 0; i < n && resident; ++i) resident = base_.resident_row(i) != nullptr;
  if (resident) {
    for (std::size_t i = 0; i < n; ++i) ptrs[i] = base_.resident_row(i) + begin;
  } else {
    buf.resize(n * w);
    base_.read(begin, end, buf.data(), w);
    for (std::size_t i = 0; i < n; ++i) ptrs[i] = buf.data() + i * w;
  }
  for (std::size_t k = 0; k < rows(); ++k) mix(k, ptrs.data(), w, dst + k * ld_dst);
}

}  // namespace murmur::kernels
