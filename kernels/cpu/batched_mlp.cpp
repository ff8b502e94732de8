// Batched MLP evaluation on the CPU: K candidates over blocks of rows, activations laid out
// [rows, K, width] so that every layer of every candidate is a GEMM with a leading dimension.
//
//   layer 0   Z = X W0s^T, one GEMM [r, in] x [in, K*out_0] against the stacked first layers
//             (X is read once for all K; a wide N keeps OpenBLAS near its peak even when one
//             candidate's out_0 is as small as 10 classes);
//   layer l   Z_k = H_k W_l,k^T for each k, reading H_k in place (lda = K*in_l);
//   pointwise bias + ReLU in place, and the last layer's bias + softmax-cross-entropy + argmax
//             (detail::softmax_xent), each one pass over the block.
//
// A block holds r rows of the two activation buffers (a few MiB), so activations are written
// and read back from cache, not memory. Loss partials are kept per 256 rows of the set
// (absolute row index) and summed in row order, so the result does not depend on the thread
// count or the block size.
#include "batched_mlp.hpp"

#include <cblas.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace murmur::kernels::cpu {
namespace {

constexpr std::size_t kSumRows = 256;             // rows per loss partial
constexpr std::size_t kBiasReluRows = 32;         // rows per bias+ReLU task
constexpr std::size_t kActivationBytes = 8u << 20;  // both activation buffers of one block

int as_int(std::size_t v, const char* what) {
  if (v > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::invalid_argument(std::string("evaluate_mlp: ") + what + " = " + std::to_string(v) +
                                " exceeds the BLAS int range; evaluate fewer candidates per call");
  return static_cast<int>(v);
}

/// Rows per block: as many as keep both activation buffers within kActivationBytes, a
/// multiple of kSumRows, at least kSumRows, no more than the set (rounded up).
std::size_t block_rows(std::size_t n, std::size_t kv, std::size_t max_width) {
  const std::size_t per_row = 2 * kv * max_width * sizeof(float);
  std::size_t r = std::max<std::size_t>(kActivationBytes / per_row, 1);
  r = std::max(kSumRows, r - r % kSumRows);
  return std::min(r, (n + kSumRows - 1) / kSumRows * kSumRows);
}

}  // namespace

void evaluate_mlp(CpuBackend& backend, const MlpShape& shape, CandidateRows candidates,
                  LabelledRows data, std::span<const std::uint8_t> evaluate,
                  std::span<detail::XentTotals> totals) {
  std::vector<std::size_t> index;  // the candidates evaluated, in order
  for (std::size_t k = 0; k < candidates.count; ++k)
    if (evaluate[k]) index.push_back(k);
  const std::size_t kv = index.size();
  if (kv == 0) return;
  const std::size_t n = data.rows, in = shape.inputs(), layers = shape.layers();
  const std::size_t classes = shape.classes();
  const auto params = [&](std::size_t j) { return candidates.data + index[j] * candidates.ld; };
  ThreadPool& pool = backend.pool();

  // Stacked first layers: rows j*out_0 .. (j+1)*out_0 of w0 are candidate j's W_0.
  const std::size_t o0 = shape.out(0);
  std::vector<float> w0(kv * o0 * in);
  pool.parallel_for(kv, [&](std::size_t j, unsigned) {
    const float* src = params(j) + shape.weight_offset(0);
    std::copy(src, src + o0 * in, w0.data() + j * o0 * in);
  });

  std::size_t max_width = 0;
  for (std::size_t l = 0; l < layers; ++l) max_width = std::max(max_width, shape.out(l));
  const std::size_t block = block_rows(n, kv, max_width);
  std::vector<float> a(block * kv * max_width), b(block * kv * max_width);
  const std::size_t sums = (n + kSumRows - 1) / kSumRows;
  std::vector<detail::XentTotals> partial(kv * sums);
  const int i_in = as_int(in, "inputs"), i_kv_o0 = as_int(kv * o0, "K * out_0");

  for (std::size_t r0 = 0; r0 < n; r0 += block) {
    const std::size_t r = std::min(block, n - r0);
    const int i_r = as_int(r, "rows");
    // Layer 0 for all candidates: A[r, K*out_0] = X[r0:r0+r] W0s^T.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i_r, i_kv_o0, i_in, 1.0f,
                data.features + r0 * in, i_in, w0.data(), i_in, 0.0f, a.data(), i_kv_o0);
    for (std::size_t l = 0; l + 1 < layers; ++l) {
      const std::size_t o = shape.out(l), o2 = shape.out(l + 1);
      // H = relu(Z + b_l), in place over [r, K, o].
      pool.parallel_for((r + kBiasReluRows - 1) / kBiasReluRows, [&](std::size_t t, unsigned) {
        const std::size_t i_end = std::min(r, (t + 1) * kBiasReluRows);
        for (std::size_t i = t * kBiasReluRows; i < i_end; ++i)
          for (std::size_t j = 0; j < kv; ++j) {
            float* z = a.data() + (i * kv + j) * o;
            const float* bias = params(j) + shape.bias_offset(l);
            for (std::size_t c = 0; c < o; ++c) z[c] = detail::bias_relu(z[c], bias[c]);
          }
      });
      // Z_k[r, o2] = H_k W_{l+1,k}^T, candidate by candidate, H_k read in place.
      const int i_o = as_int(o, "width"), i_o2 = as_int(o2, "width");
      const int lda = as_int(kv * o, "K * width"), ldc = as_int(kv * o2, "K * width");
      for (std::size_t j = 0; j < kv; ++j)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i_r, i_o2, i_o, 1.0f,
                    a.data() + j * o, lda, params(j) + shape.weight_offset(l + 1), i_o, 0.0f,
                    b.data() + j * o2, ldc);
      std::swap(a, b);
    }
    // Last layer's bias + softmax cross-entropy + argmax, one partial per (candidate, 256 rows).
    const std::size_t blocks = (r + kSumRows - 1) / kSumRows;
    pool.parallel_for(kv * blocks, [&](std::size_t t, unsigned) {
      const std::size_t j = t / blocks, s = t % blocks;
      const float* bias = params(j) + shape.bias_offset(layers - 1);
      detail::XentTotals acc;
      const std::size_t i_end = std::min(r, (s + 1) * kSumRows);
      for (std::size_t i = s * kSumRows; i < i_end; ++i) {
        const auto label = static_cast<std::size_t>(data.labels[r0 + i]);
        const detail::XentTerm term =
            detail::softmax_xent(a.data() + (i * kv + j) * classes, bias, classes, label);
        acc.loss_sum += term.loss;
        acc.correct += static_cast<std::size_t>(term.argmax) == label;
      }
      partial[j * sums + r0 / kSumRows + s] = acc;
    });
  }
  for (std::size_t j = 0; j < kv; ++j) {
    detail::XentTotals total;
    for (std::size_t s = 0; s < sums; ++s) {
      total.loss_sum += partial[j * sums + s].loss_sum;
      total.correct += partial[j * sums + s].correct;
    }
    totals[index[j]] = total;
  }
}

}  // namespace murmur::kernels::cpu
