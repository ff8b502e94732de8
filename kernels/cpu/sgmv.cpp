// SGMV on the CPU: per segment, the two thin GEMMs of LoRA through OpenBLAS,
//   shrink  V = X_s A^T          [n_s, r] = [n_s, d_in] x [d_in, r]
//   expand  Y_s += scale V B^T   [n_s, d_out] += [n_s, r] x [r, d_out]
// V is per-call scratch of n_s * r floats (a few hundred KiB for a batch of 2k rows at r = 64),
// so it stays in cache between the two. OpenBLAS threads each GEMM; segments run in order, so
// the result does not depend on the thread count beyond OpenBLAS's own blocking.
#include "sgmv.hpp"

#include <cblas.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace murmur::kernels::cpu {
namespace {

int as_int(std::size_t v, const char* what) {
  if (v > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::invalid_argument(std::string("sgmv: ") + what + " = " + std::to_string(v) +
                                " exceeds the BLAS int range; split the batch");
  return static_cast<int>(v);
}

}  // namespace

void sgmv(CpuBackend& /*backend*/, const SgmvProblem& p) {
  thread_local std::vector<float> v;
  for (const SgmvSegment& seg : p.segments) {
    if (seg.adapter < 0 || seg.begin == seg.end) continue;
    const LoraFactors& f = p.factors[static_cast<std::size_t>(seg.adapter)];
    const std::size_t n = seg.end - seg.begin;
    v.resize(n * f.rank);
    const int in = as_int(n, "segment rows"), r = as_int(f.rank, "rank");
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, in, r, as_int(p.d_in, "d_in"), 1.0f,
                p.x + seg.begin * p.ldx, as_int(p.ldx, "ldx"), f.a, as_int(p.d_in, "d_in"), 0.0f,
                v.data(), r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, in, as_int(p.d_out, "d_out"), r, f.scale,
                v.data(), r, f.b, r, 1.0f, p.y + seg.begin * p.ldy, as_int(p.ldy, "ldy"));
  }
}

}  // namespace murmur::kernels::cpu
