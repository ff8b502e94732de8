// Batched MLP evaluation on the CPU: K candidates over blocks of rows, activations laid out
// [rows, K, width] so that every layer of every candidate is a GEMM with a leading dimension.
//
//   layer 0   Z = X W0s^T, one GEMM [r, in] x [in, K*out_0] against the stacked first layers
//             (X is read once for all K; a wide N keeps OpenBLAS near its peak even when one
//             candidate's out_0 is as small as 10 classes);
//   layer l   Z_k = H_k W_l,k^T for each k, reading H_k in place (lda = K*in_l), for every
//             layer but the last, after bias + ReLU in place;
//   last      bias + ReLU of the last hidden layer, the last layer (C columns, small), its
//             bias, softmax-cross-entropy and argmax fused in one pass over 16-row tiles
//             (detail::softmax_xent's arithmetic, vectorised across the rows).
//
// A block holds r rows of the activation buffers, at most 32 MiB: large enough that
// OpenBLAS packs the stacked weights once per ~2048 rows, small enough to stay in L3. Loss
// partials are kept per 256 rows of the set (absolute row index) and summed in row order, so
// the result does not depend on the thread count or the block size.
#include "batched_mlp.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace murmur::kernels::cpu {
namespace {

constexpr std::size_t kSumRows = 256;      // rows per loss partial
constexpr std::size_t kBiasReluRows = 32;  // rows per bias+ReLU task
constexpr std::size_t kTileRows = 16;      // rows per vectorised loss tile
// The activation buffers of one block. Measured on 784-{10,64,128}-10 with K = 32: 2048-row
// blocks run the first-layer GEMM ~1.6x faster than 512-row ones (OpenBLAS repacks the stacked
// weights for every block), and larger ones gain nothing.
constexpr std::size_t kActivationBytes = 32u << 20;

int as_int(std::size_t v, const char* what) {
  if (v > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::invalid_argument(std::string("evaluate_mlp: ") + what + " = " + std::to_string(v) +
                                " exceeds the BLAS int range; evaluate fewer candidates per call");
  return static_cast<int>(v);
}

/// Rows per block: as many as keep the activation buffers within kActivationBytes, a
/// multiple of kSumRows, at least kSumRows, no more than the set (rounded up).
std::size_t block_rows(std::size_t n, std::size_t kv, std::size_t max_width, std::size_t buffers) {
  const std::size_t per_row = buffers * kv * max_width * sizeof(float);
  std::size_t r = std::max<std::size_t>(kActivationBytes / per_row, 1);
  r = std::max(kSumRows, r - r % kSumRows);
  return std::min(r, (n + kSumRows - 1) / kSumRows * kSumRows);
}

// The tile loops below are written over __restrict pointers with a constant trip count and
// unrolling held back, the shape in which GCC vectorises them (checked with -fopt-info-vec;
// exp_nonpositive's select before an integer conversion also needs -fno-trapping-math, set
// for this file in kernels/CMakeLists.txt).

/// m[t] = max_c v[c][t] and arg[t] = the first c attaining it.
void tile_max(const float* __restrict v, std::size_t classes, float* __restrict m,
              int* __restrict arg) {
  for (std::size_t t = 0; t < kTileRows; ++t) {
    m[t] = v[t];
    arg[t] = 0;
  }
  for (std::size_t c = 1; c < classes; ++c) {
    const float* __restrict vc = v + c * kTileRows;
    const int ci = static_cast<int>(c);
#pragma GCC unroll 1
    for (std::size_t t = 0; t < kTileRows; ++t) {
      const bool greater = vc[t] > m[t];
      m[t] = greater ? vc[t] : m[t];
      arg[t] = greater ? ci : arg[t];
    }
  }
}

/// sum[t] = sum_c exp(v[c][t] - m[t]), classes in order.
void tile_exp_sum(const float* __restrict v, std::size_t classes, const float* __restrict m,
                  float* __restrict sum) {
  for (std::size_t t = 0; t < kTileRows; ++t) sum[t] = 0.0f;
  for (std::size_t c = 0; c < classes; ++c) {
    const float* __restrict vc = v + c * kTileRows;
#pragma GCC unroll 1
    for (std::size_t t = 0; t < kTileRows; ++t) sum[t] += detail::exp_nonpositive(vc[t] - m[t]);
  }
}

/// v[c][t] = bias[c] + sum_q w[c][q] ht[q][t] (q in order, one fma each): 16 rows at once
/// against one broadcast weight. Not inlined: inlined into its caller, GCC 12 loses the
/// restrict qualifiers and leaves the loop scalar.
[[gnu::noinline]] void tile_dense(const float* __restrict ht, const float* __restrict w,
                                  const float* __restrict bias, float* __restrict v, std::size_t o,
                                  std::size_t classes) {
  for (std::size_t c = 0; c < classes; ++c) {
    float acc[kTileRows] = {};
    const float* __restrict wc = w + c * o;
    for (std::size_t q = 0; q < o; ++q) {
      const float wq = wc[q];
      const float* __restrict h = ht + q * kTileRows;
      for (std::size_t t = 0; t < kTileRows; ++t) acc[t] = std::fma(wq, h[t], acc[t]);
    }
    for (std::size_t t = 0; t < kTileRows; ++t) v[c * kTileRows + t] = acc[t] + bias[c];
  }
}

/// Adds the softmax cross-entropy and correct predictions of a tile of `rows` examples to acc,
/// the tile holding their logits (bias included) transposed: v[c * kTileRows + t] (lanes
/// t >= rows are padding). detail::softmax_xent's arithmetic in its order, each step a loop
/// over the tile's rows; rows enter acc in order.
void xent_tile(const float* v, std::size_t classes, std::size_t rows, const std::int32_t* labels,
               detail::XentTotals& acc) {
  alignas(64) float m[kTileRows], sum[kTileRows];
  alignas(64) int arg[kTileRows];
  tile_max(v, classes, m, arg);
  tile_exp_sum(v, classes, m, sum);
  for (std::size_t t = 0; t < rows; ++t) {
    const auto y = static_cast<std::size_t>(labels[t]);
    acc.loss_sum += (m[t] - v[y * kTileRows + t]) + logf(sum[t]);
    acc.correct += static_cast<std::size_t>(arg[t]) == y;
  }
}

/// Rows [i0, i1) of one candidate whose logits (bias not yet added) are logits + i * ld.
detail::XentTotals xent_rows(const float* logits, std::size_t ld, std::size_t classes,
                             const float* bias, const std::int32_t* labels, std::size_t i0,
                             std::size_t i1, std::vector<float>& scratch) {
  constexpr std::size_t T = kTileRows;
  scratch.resize(classes * T);
  float* v = scratch.data();
  detail::XentTotals acc;
  for (std::size_t base = i0; base < i1; base += T) {
    const std::size_t rows = std::min(T, i1 - base);
    for (std::size_t c = 0; c < classes; ++c) {
      for (std::size_t t = 0; t < rows; ++t) v[c * T + t] = logits[(base + t) * ld + c] + bias[c];
      for (std::size_t t = rows; t < T; ++t) v[c * T + t] = 0.0f;
    }
    xent_tile(v, classes, rows, labels + base, acc);
  }
  return acc;
}

/// The last dense layer fused with the loss, for rows [i0, i1) of one candidate: from the
/// previous layer's pre-activations z + i * ld (width o, its bias hb not yet added),
///   h = relu(z + hb),  logits_c = b_c + sum_q W[c, q] h_q  (q in order, one fma each),
/// then xent_tile. Per tile of 16 rows, h is transposed into ht[q][t] so that the class sums
/// are 16-lane vector fmas against a broadcast weight: the logits never leave L1, and the
/// C-column GEMM that BLAS runs at a fraction of its peak (C = 10) is not needed.
/// Cost: C * o fmas per row, one read of z.
detail::XentTotals dense_xent_rows(const float* z, std::size_t ld, std::size_t o, const float* hb,
                                   const float* w, const float* bias, std::size_t classes,
                                   const std::int32_t* labels, std::size_t i0, std::size_t i1,
                                   std::vector<float>& scratch) {
  constexpr std::size_t T = kTileRows;
  scratch.resize((o + classes) * T);
  float* ht = scratch.data();
  float* v = scratch.data() + o * T;
  detail::XentTotals acc;
  for (std::size_t base = i0; base < i1; base += T) {
    const std::size_t rows = std::min(T, i1 - base);
    for (std::size_t t = 0; t < rows; ++t) {
      const float* zr = z + (base + t) * ld;
      for (std::size_t q = 0; q < o; ++q) ht[q * T + t] = detail::bias_relu(zr[q], hb[q]);
    }
    for (std::size_t q = 0; q < o; ++q)
      for (std::size_t t = rows; t < T; ++t) ht[q * T + t] = 0.0f;
    tile_dense(ht, w, bias, v, o, classes);
    xent_tile(v, classes, rows, labels + base, acc);
  }
  return acc;
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

  std::size_t max_width = 0;  // of the activations stored: every layer's but the last
  for (std::size_t l = 0; l + 1 < std::max<std::size_t>(layers, 2); ++l)
    max_width = std::max(max_width, shape.out(l));
  // Ping-pong buffers only when a hidden layer feeds another (three layers or more).
  const std::size_t buffers = layers > 2 ? 2 : 1;
  const std::size_t block = block_rows(n, kv, max_width, buffers);
  std::vector<float> a(block * kv * max_width), b(buffers > 1 ? block * kv * max_width : 0);
  const std::size_t sums = (n + kSumRows - 1) / kSumRows;
  std::vector<detail::XentTotals> partial(kv * sums);
  std::vector<std::vector<float>> scratch(pool.size());  // per-worker loss tiles
  const int i_in = as_int(in, "inputs"), i_kv_o0 = as_int(kv * o0, "K * out_0");

  for (std::size_t r0 = 0; r0 < n; r0 += block) {
    const std::size_t r = std::min(block, n - r0);
    const int i_r = as_int(r, "rows");
    // Layer 0 for all candidates: A[r, K*out_0] = X[r0:r0+r] W0s^T.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i_r, i_kv_o0, i_in, 1.0f,
                data.features + r0 * in, i_in, w0.data(), i_in, 0.0f, a.data(), i_kv_o0);
    // Hidden layers but the last: H = relu(Z + b_l) in place, then Z_k = H_k W_{l+1,k}^T
    // candidate by candidate, H_k read in place. The last layer is fused with the loss below.
    for (std::size_t l = 0; l + 2 < layers; ++l) {
      const std::size_t o = shape.out(l), o2 = shape.out(l + 1);
      pool.parallel_for((r + kBiasReluRows - 1) / kBiasReluRows, [&](std::size_t t, unsigned) {
        const std::size_t i_end = std::min(r, (t + 1) * kBiasReluRows);
        for (std::size_t i = t * kBiasReluRows; i < i_end; ++i)
          for (std::size_t j = 0; j < kv; ++j) {
            float* z = a.data() + (i * kv + j) * o;
            const float* bias = params(j) + shape.bias_offset(l);
            for (std::size_t c = 0; c < o; ++c) z[c] = detail::bias_relu(z[c], bias[c]);
          }
      });
      const int i_o = as_int(o, "width"), i_o2 = as_int(o2, "width");
      const int lda = as_int(kv * o, "K * width"), ldc = as_int(kv * o2, "K * width");
      for (std::size_t j = 0; j < kv; ++j)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i_r, i_o2, i_o, 1.0f, a.data() + j * o,
                    lda, params(j) + shape.weight_offset(l + 1), i_o, 0.0f, b.data() + j * o2, ldc);
      std::swap(a, b);
    }
    // Loss, one partial per (candidate, 256 rows): from the logits (one layer) or through the
    // fused last layer from the last hidden layer's pre-activations.
    const std::size_t blocks = (r + kSumRows - 1) / kSumRows;
    const std::size_t width = layers == 1 ? classes : shape.out(layers - 2);
    pool.parallel_for(kv * blocks, [&](std::size_t t, unsigned worker) {
      const std::size_t j = t / blocks, s = t % blocks;
      const std::size_t i0 = s * kSumRows, i1 = std::min(r, (s + 1) * kSumRows);
      const float* z = a.data() + j * width;
      const float* theta = params(j);
      partial[j * sums + r0 / kSumRows + s] =
          layers == 1 ? xent_rows(z, kv * classes, classes, theta + shape.bias_offset(0),
                                  data.labels + r0, i0, i1, scratch[worker])
                      : dense_xent_rows(z, kv * width, width, theta + shape.bias_offset(layers - 2),
                                        theta + shape.weight_offset(layers - 1),
                                        theta + shape.bias_offset(layers - 1), classes,
                                        data.labels + r0, i0, i1, scratch[worker]);
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
