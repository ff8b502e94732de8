// Batched MLP evaluation on CUDA: the CPU backend's algorithm (kernels/cpu/batched_mlp.cpp)
// with cuBLAS strided-batched GEMMs and two kernels.
//
// Activations are [rows, K, width] row-major. cuBLAS is column-major, so a row-major
// Z[r, out] = H[r, in] W^T is computed as the column-major Z^T[out, r] = W[out, in] H^T, where
// the row-major W and H, read column-major, are W^T (lda = in, so op = T) and H^T (op = N):
//   layer 0:  A = W_0,k (stride p), B = X (stride 0: one copy of the data for every k),
//             C = Z_k at column offset k*out_0 (ldc = K*out_0, stride out_0);
//   layer l:  A = W_l,k (stride p), B = H_k (ldb = K*in_l, stride in_l), C likewise.
// bias_relu_kernel makes Z into H in place; softmax_xent_kernel adds the last bias and reduces
// loss and correct predictions over 256 rows per block in a fixed tree, one partial per
// (candidate, 256 rows of the set); the host sums the partials in row order.
//
// Traffic per call: features, labels and K*p parameters up once; per block of rows the
// GEMMs read and write the activations (at most a few hundred MiB, reused across blocks);
// K * ceil(n/256) partials down.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "batched_mlp.hpp"
#include "check.cuh"
#include "cuda_backend.cuh"
#include "tile_pipeline.cuh"

namespace murmur::kernels::cuda {
namespace {

constexpr unsigned kSumRows = 256;                    // rows per loss partial, threads per block
constexpr std::size_t kActivationBytes = 256u << 20;  // both activation buffers of one block

/// z[e] = relu(z[e] + b_k[c]) over z = [r, K, o] (e = (i*K + k)*o + c); b_k at
/// params + k*p + bias_offset. One read and one write per activation.
__global__ void bias_relu_kernel(float* __restrict__ z, std::size_t count, std::size_t k_count,
                                 std::size_t o, const float* __restrict__ params, std::size_t p,
                                 std::size_t bias_offset) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += stride) {
    const std::size_t c = e % o, k = (e / o) % k_count;
    z[e] = detail::bias_relu(z[e], __ldg(params + k * p + bias_offset + c));
  }
}

/// Block (s, k) scores rows s*256 + t (t = threadIdx.x) of the current block of r rows for
/// candidate k and writes the sums of loss (double) and of correct predictions to partial
/// first_sum + s of candidate k. The tree order is fixed, so the sums are reproducible.
__global__ void softmax_xent_kernel(
    const float* __restrict__ logits, std::size_t r, std::size_t k_count, std::size_t classes,
    const float* __restrict__ params, std::size_t p, std::size_t bias_offset,
    const std::int32_t* __restrict__ labels, double* __restrict__ loss_out,
    unsigned long long* __restrict__ correct_out, std::size_t sums, std::size_t first_sum) {
  __shared__ double loss[kSumRows];
  __shared__ unsigned correct[kSumRows];
  const unsigned t = threadIdx.x;
  const std::size_t k = blockIdx.y;
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * kSumRows + t;
  double l = 0.0;
  unsigned c = 0;
  if (i < r) {
    const int label = labels[i];
    const detail::XentTerm term =
        detail::softmax_xent(logits + (i * k_count + k) * classes, params + k * p + bias_offset,
                             classes, static_cast<std::size_t>(label));
    l = term.loss;
    c = term.argmax == label ? 1u : 0u;
  }
  loss[t] = l;
  correct[t] = c;
  __syncthreads();
  for (unsigned half = kSumRows / 2; half > 0; half >>= 1) {
    if (t < half) {
      loss[t] += loss[t + half];
      correct[t] += correct[t + half];
    }
    __syncthreads();
  }
  if (t == 0) {
    loss_out[k * sums + first_sum + blockIdx.x] = loss[0];
    correct_out[k * sums + first_sum + blockIdx.x] = correct[0];
  }
}

int as_int(std::size_t v, const char* what) {
  if (v > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::invalid_argument(std::string("evaluate_mlp (cuda): ") + what + " = " +
                                std::to_string(v) +
                                " exceeds cuBLAS's int range; evaluate fewer candidates per call");
  return static_cast<int>(v);
}

}  // namespace

void evaluate_mlp(Backend& backend, const MlpShape& shape, CandidateRows candidates,
                  LabelledRows data, std::span<const std::uint8_t> evaluate,
                  std::span<detail::XentTotals> totals) {
  CudaBackend& cuda = as_cuda(backend);
  const std::size_t kc = candidates.count, n = data.rows, in = shape.inputs();
  const std::size_t p = shape.parameters(), layers = shape.layers(), classes = shape.classes();
  if (kc > 65535)
    throw std::invalid_argument("evaluate_mlp (cuda): " + std::to_string(kc) +
                                " candidates in one call, at most 65535");
  const cudaStream_t stream = cuda.stream(0);

  // Up once: candidates packed to [K, p] (non-finite ones zeroed, their results ignored),
  // features [n, in], labels [n].
  auto* d_params = static_cast<float*>(cuda.scratch(CudaBackend::kParams, kc * p * sizeof(float)));
  MURMUR_CUDA_CHECK(cudaMemcpy2DAsync(d_params, p * sizeof(float), candidates.data,
                                      candidates.ld * sizeof(float), p * sizeof(float), kc,
                                      cudaMemcpyHostToDevice, stream));
  for (std::size_t k = 0; k < kc; ++k)
    if (!evaluate[k])
      MURMUR_CUDA_CHECK(cudaMemsetAsync(d_params + k * p, 0, p * sizeof(float), stream));
  auto* d_x = static_cast<float*>(cuda.scratch(CudaBackend::kTileIn0, n * in * sizeof(float)));
  MURMUR_CUDA_CHECK(
      cudaMemcpyAsync(d_x, data.features, n * in * sizeof(float), cudaMemcpyHostToDevice, stream));
  auto* d_labels =
      static_cast<std::int32_t*>(cuda.scratch(CudaBackend::kOffsets, n * sizeof(std::int32_t)));
  MURMUR_CUDA_CHECK(cudaMemcpyAsync(d_labels, data.labels, n * sizeof(std::int32_t),
                                    cudaMemcpyHostToDevice, stream));

  std::size_t max_width = 0;
  for (std::size_t l = 0; l < layers; ++l) max_width = std::max(max_width, shape.out(l));
  std::size_t block =
      std::max<std::size_t>(kActivationBytes / (2 * kc * max_width * sizeof(float)), 1);
  block = std::max<std::size_t>(kSumRows, block - block % kSumRows);
  block = std::min(block, (n + kSumRows - 1) / kSumRows * kSumRows);
  const std::size_t act_bytes = block * kc * max_width * sizeof(float);
  auto* d_a = static_cast<float*>(cuda.scratch(CudaBackend::kTileOut0, act_bytes));
  auto* d_b = static_cast<float*>(cuda.scratch(CudaBackend::kTileOut1, act_bytes));
  const std::size_t sums = (n + kSumRows - 1) / kSumRows;
  auto* d_loss = static_cast<double*>(cuda.scratch(CudaBackend::kWork, kc * sums * sizeof(double)));
  auto* d_correct = static_cast<unsigned long long*>(
      cuda.scratch(CudaBackend::kSortOut, kc * sums * sizeof(unsigned long long)));

  cublasHandle_t handle = cuda.cublas();
  MURMUR_CUDA_CHECK(cublasSetStream(handle, stream));
  const float one = 1.0f, zero = 0.0f;
  const auto stride_p = static_cast<long long>(p);
  const int i_in = as_int(in, "inputs"), i_kc = as_int(kc, "K");

  for (std::size_t r0 = 0; r0 < n; r0 += block) {
    const std::size_t r = std::min(block, n - r0);
    const int i_r = as_int(r, "rows");
    // Layer 0: Z_k = X W_0,k^T for every k, the data shared (stride 0).
    const int o0 = as_int(shape.out(0), "width");
    MURMUR_CUDA_CHECK(cublasSgemmStridedBatched(handle, CUBLAS_OP_T, CUBLAS_OP_N, o0, i_r, i_in,
                                                &one, d_params + shape.weight_offset(0), i_in,
                                                stride_p, d_x + r0 * in, i_in, 0, &zero, d_a,
                                                as_int(kc * shape.out(0), "K*width"), o0, i_kc));
    for (std::size_t l = 0; l + 1 < layers; ++l) {
      const std::size_t o = shape.out(l), o2 = shape.out(l + 1), count = r * kc * o;
      bias_relu_kernel<<<grid_for(count, 256), 256, 0, stream>>>(d_a, count, kc, o, d_params, p,
                                                                 shape.bias_offset(l));
      MURMUR_CUDA_CHECK(cudaGetLastError());
      MURMUR_CUDA_CHECK(cublasSgemmStridedBatched(
          handle, CUBLAS_OP_T, CUBLAS_OP_N, as_int(o2, "width"), i_r, as_int(o, "width"), &one,
          d_params + shape.weight_offset(l + 1), as_int(o, "width"), stride_p, d_a,
          as_int(kc * o, "K*width"), static_cast<long long>(o), &zero, d_b,
          as_int(kc * o2, "K*width"), static_cast<long long>(o2), i_kc));
      std::swap(d_a, d_b);
    }
    const dim3 grid(static_cast<unsigned>((r + kSumRows - 1) / kSumRows),
                    static_cast<unsigned>(kc));
    softmax_xent_kernel<<<grid, kSumRows, 0, stream>>>(d_a, r, kc, classes, d_params, p,
                                                       shape.bias_offset(layers - 1), d_labels + r0,
                                                       d_loss, d_correct, sums, r0 / kSumRows);
    MURMUR_CUDA_CHECK(cudaGetLastError());
  }

  std::vector<double> loss(kc * sums);
  std::vector<unsigned long long> correct(kc * sums);
  MURMUR_CUDA_CHECK(cudaMemcpyAsync(loss.data(), d_loss, loss.size() * sizeof(double),
                                    cudaMemcpyDeviceToHost, stream));
  MURMUR_CUDA_CHECK(cudaMemcpyAsync(correct.data(), d_correct,
                                    correct.size() * sizeof(unsigned long long),
                                    cudaMemcpyDeviceToHost, stream));
  MURMUR_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (std::size_t k = 0; k < kc; ++k) {
    if (!evaluate[k]) continue;
    detail::XentTotals total;
    for (std::size_t s = 0; s < sums; ++s) {
      total.loss_sum += loss[k * sums + s];
      total.correct += correct[k * sums + s];
    }
    totals[k] = total;
  }
}

}  // namespace murmur::kernels::cuda
