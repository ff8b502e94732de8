// SGMV on CUDA: Punica-style shrink and expand kernels over (segment, row tile) work items.
//
// The host turns the segments into work items of at most kTileRows rows, each naming its rows
// and its adapter (BGMV's one-row-per-request case is a tile with one row), and uploads them
// with a table of the adapters' factors. Then
//   shrink  grid (items, ceil(r_max / kShrinkRanks)):  v[i, r0:r0+32] = A_a[r0:r0+32, :] x_i
//           X and A stream through shared memory in kKChunk-column slabs; a block computes a
//           16 x 32 tile of v, two outputs per thread; blocks past their adapter's rank exit.
//   expand  grid (items, ceil(d_out / kExpandCols)):   y_i[c0:c0+64] += scale_a B_a[c0:c0+64, :]
//   v_i
//           v and B stream through shared memory in kRankChunk-rank slabs; a block updates a
//           16 x 64 tile of Y, four outputs per thread, coalesced along the columns.
// Segments are disjoint, so every element of Y has one writer: no atomics, and the result is
// deterministic. Shared arrays are padded by one column against bank conflicts.
//
// Traffic: X read once per 32 ranks of the adapter, Y read and written once, v (rows x r_max
// floats) written and read once; A and B are read once per tile and stay in L2 across the tiles
// of a segment. With Residence::kHost, X and Y go up and Y comes down once per call.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.cuh"
#include "cuda_backend.cuh"
#include "sgmv.hpp"

namespace murmur::kernels::cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kTileRows = 16;     // rows per work item
constexpr unsigned kShrinkRanks = 32;  // ranks of v per shrink block
constexpr unsigned kKChunk = 64;       // d_in columns per shrink slab
constexpr unsigned kExpandCols = 64;   // Y columns per expand block
constexpr unsigned kRankChunk = 64;    // ranks per expand slab

/// A tile of rows [begin, end) (end - begin <= kTileRows) that uses factor table entry adapter.
struct WorkItem {
  unsigned long long begin;
  unsigned long long end;
  int adapter;
  int pad;
};

/// One adapter's factors as the kernels read them.
struct DeviceFactors {
  const float* a;
  const float* b;
  unsigned long long rank;
  float scale;
  float pad;
};

__global__ void shrink_kernel(const WorkItem* __restrict__ items,
                              const DeviceFactors* __restrict__ factors,
                              const float* __restrict__ x, std::size_t ldx, std::size_t d_in,
                              float* __restrict__ v, std::size_t ldv) {
  __shared__ float xs[kTileRows][kKChunk + 1];
  __shared__ float as[kShrinkRanks][kKChunk + 1];
  const WorkItem item = items[blockIdx.x];
  const DeviceFactors f = factors[item.adapter];
  const std::size_t r0 = static_cast<std::size_t>(blockIdx.y) * kShrinkRanks;
  if (r0 >= f.rank) return;  // uniform over the block
  const std::size_t n = item.end - item.begin;
  const unsigned t = threadIdx.x;
  const unsigned rank_lane = t % kShrinkRanks, row_lane = t / kShrinkRanks;  // 32 x 8
  float acc[kTileRows / (kThreads / kShrinkRanks)] = {};
  for (std::size_t k0 = 0; k0 < d_in; k0 += kKChunk) {
    for (unsigned e = t; e < kTileRows * kKChunk; e += kThreads) {
      const unsigned row = e / kKChunk, col = e % kKChunk;
      xs[row][col] = (row < n && k0 + col < d_in) ? x[(item.begin + row) * ldx + k0 + col] : 0.0f;
    }
    for (unsigned e = t; e < kShrinkRanks * kKChunk; e += kThreads) {
      const unsigned r = e / kKChunk, col = e % kKChunk;
      as[r][col] = (r0 + r < f.rank && k0 + col < d_in) ? f.a[(r0 + r) * d_in + k0 + col] : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (unsigned col = 0; col < kKChunk; ++col) {
      const float a = as[rank_lane][col];
#pragma unroll
      for (unsigned i = 0; i < kTileRows / (kThreads / kShrinkRanks); ++i)
        acc[i] = fmaf(xs[row_lane + i * (kThreads / kShrinkRanks)][col], a, acc[i]);
    }
    __syncthreads();
  }
  if (r0 + rank_lane < f.rank) {
#pragma unroll
    for (unsigned i = 0; i < kTileRows / (kThreads / kShrinkRanks); ++i) {
      const unsigned row = row_lane + i * (kThreads / kShrinkRanks);
      if (row < n) v[(item.begin + row) * ldv + r0 + rank_lane] = acc[i];
    }
  }
}

__global__ void expand_kernel(const WorkItem* __restrict__ items,
                              const DeviceFactors* __restrict__ factors,
                              const float* __restrict__ v, std::size_t ldv, float* __restrict__ y,
                              std::size_t ldy, std::size_t d_out) {
  __shared__ float vs[kTileRows][kRankChunk + 1];
  __shared__ float bs[kExpandCols][kRankChunk + 1];
  const WorkItem item = items[blockIdx.x];
  const DeviceFactors f = factors[item.adapter];
  const std::size_t c0 = static_cast<std::size_t>(blockIdx.y) * kExpandCols;
  const std::size_t n = item.end - item.begin;
  const unsigned t = threadIdx.x;
  const unsigned col_lane = t % kExpandCols, row_lane = t / kExpandCols;  // 64 x 4
  constexpr unsigned kRowsPerThread = kTileRows / (kThreads / kExpandCols);
  float acc[kRowsPerThread] = {};
  for (std::size_t q0 = 0; q0 < f.rank; q0 += kRankChunk) {
    for (unsigned e = t; e < kTileRows * kRankChunk; e += kThreads) {
      const unsigned row = e / kRankChunk, q = e % kRankChunk;
      vs[row][q] = (row < n && q0 + q < f.rank) ? v[(item.begin + row) * ldv + q0 + q] : 0.0f;
    }
    for (unsigned e = t; e < kExpandCols * kRankChunk; e += kThreads) {
      const unsigned c = e / kRankChunk, q = e % kRankChunk;
      bs[c][q] = (c0 + c < d_out && q0 + q < f.rank) ? f.b[(c0 + c) * f.rank + q0 + q] : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (unsigned q = 0; q < kRankChunk; ++q) {
      const float b = bs[col_lane][q];
#pragma unroll
      for (unsigned i = 0; i < kRowsPerThread; ++i)
        acc[i] = fmaf(vs[row_lane + i * (kThreads / kExpandCols)][q], b, acc[i]);
    }
    __syncthreads();
  }
  if (c0 + col_lane < d_out) {
#pragma unroll
    for (unsigned i = 0; i < kRowsPerThread; ++i) {
      const unsigned row = row_lane + i * (kThreads / kExpandCols);
      if (row < n) {
        float& out = y[(item.begin + row) * ldy + c0 + col_lane];
        out = fmaf(f.scale, acc[i], out);
      }
    }
  }
}

/// Bytes rounded up to 256 so that sub-buffers carved from one scratch slot stay aligned.
std::size_t aligned(std::size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

}  // namespace

void sgmv(Backend& backend, const SgmvProblem& p) {
  CudaBackend& cuda = as_cuda(backend);
  const cudaStream_t stream = cuda.stream(0);

  // Work items and the factors they use; host-resident factors are packed for upload.
  std::vector<WorkItem> items;
  std::size_t r_max = 0, first_row = p.rows, last_row = 0;
  for (const SgmvSegment& seg : p.segments) {
    if (seg.adapter < 0 || seg.begin == seg.end) continue;
    r_max = std::max(r_max, p.factors[static_cast<std::size_t>(seg.adapter)].rank);
    first_row = std::min(first_row, seg.begin);
    last_row = std::max(last_row, seg.end);
    for (std::size_t b = seg.begin; b < seg.end; b += kTileRows)
      items.push_back({b, std::min<std::size_t>(b + kTileRows, seg.end), seg.adapter, 0});
  }
  if (items.empty()) return;
  if (items.size() > 0x7fffffffu)
    throw std::invalid_argument("sgmv (cuda): " + std::to_string(items.size()) +
                                " row tiles in one call; split the batch");

  // Only the factors some segment uses are read: the others may be empty or null.
  std::vector<char> used(p.factors.size(), 0);
  for (const WorkItem& item : items) used[static_cast<std::size_t>(item.adapter)] = 1;
  std::vector<DeviceFactors> table(p.factors.size());
  std::size_t factor_floats = 0;
  for (std::size_t a = 0; a < p.factors.size(); ++a) {
    const LoraFactors& f = p.factors[a];
    table[a] = {f.a, f.b, f.rank, f.scale, 0.0f};
    if (p.residence == Residence::kHost && used[a]) factor_floats += f.rank * (p.d_in + p.d_out);
  }

  // One pinned staging block and one device block for the metadata (and host factors).
  const std::size_t items_bytes = aligned(items.size() * sizeof(WorkItem));
  const std::size_t table_bytes = aligned(table.size() * sizeof(DeviceFactors));
  const std::size_t meta_bytes = items_bytes + table_bytes;
  auto* d_meta = static_cast<char*>(cuda.scratch(CudaBackend::kOffsets, meta_bytes));
  auto* h_meta = static_cast<char*>(cuda.pinned(CudaBackend::kOffsets, meta_bytes));

  const float* x = p.x;
  float* y = p.y;
  std::size_t ldx = p.ldx, ldy = p.ldy;
  float* d_y_staged = nullptr;
  const std::size_t rows = last_row - first_row;
  if (p.residence == Residence::kHost) {
    // Up: the rows that some segment touches, X packed to d_in and Y to d_out columns, and
    // the factors used; table pointers rewritten to their device copies.
    auto* d_x = static_cast<float*>(cuda.scratch(CudaBackend::kTileIn0, rows * p.d_in * 4));
    d_y_staged = static_cast<float*>(cuda.scratch(CudaBackend::kTileOut0, rows * p.d_out * 4));
    auto* d_f = static_cast<float*>(cuda.scratch(CudaBackend::kParams, factor_floats * 4));
    MURMUR_CUDA_CHECK(cudaMemcpy2DAsync(d_x, p.d_in * 4, p.x + first_row * p.ldx, p.ldx * 4,
                                        p.d_in * 4, rows, cudaMemcpyHostToDevice, stream));
    MURMUR_CUDA_CHECK(cudaMemcpy2DAsync(d_y_staged, p.d_out * 4, p.y + first_row * p.ldy, p.ldy * 4,
                                        p.d_out * 4, rows, cudaMemcpyHostToDevice, stream));
    std::size_t offset = 0;
    for (std::size_t a = 0; a < p.factors.size(); ++a) {
      const LoraFactors& f = p.factors[a];
      if (!used[a]) continue;
      MURMUR_CUDA_CHECK(
          cudaMemcpyAsync(d_f + offset, f.a, f.rank * p.d_in * 4, cudaMemcpyHostToDevice, stream));
      table[a].a = d_f + offset;
      offset += f.rank * p.d_in;
      MURMUR_CUDA_CHECK(
          cudaMemcpyAsync(d_f + offset, f.b, f.rank * p.d_out * 4, cudaMemcpyHostToDevice, stream));
      table[a].b = d_f + offset;
      offset += f.rank * p.d_out;
    }
    for (WorkItem& item : items) {
      item.begin -= first_row;
      item.end -= first_row;
    }
    x = d_x;
    y = d_y_staged;
    ldx = p.d_in;
    ldy = p.d_out;
  }
  std::copy(items.begin(), items.end(), reinterpret_cast<WorkItem*>(h_meta));
  std::copy(table.begin(), table.end(), reinterpret_cast<DeviceFactors*>(h_meta + items_bytes));
  MURMUR_CUDA_CHECK(cudaMemcpyAsync(d_meta, h_meta, meta_bytes, cudaMemcpyHostToDevice, stream));
  const auto* d_items = reinterpret_cast<const WorkItem*>(d_meta);
  const auto* d_table = reinterpret_cast<const DeviceFactors*>(d_meta + items_bytes);

  // v is indexed by the (possibly rebased) row, r_max floats per row.
  const std::size_t v_rows = p.residence == Residence::kHost ? rows : last_row;
  auto* d_v = static_cast<float*>(cuda.scratch(CudaBackend::kWork, v_rows * r_max * 4));
  const auto n_items = static_cast<unsigned>(items.size());
  const dim3 shrink_grid(n_items, static_cast<unsigned>((r_max + kShrinkRanks - 1) / kShrinkRanks));
  shrink_kernel<<<shrink_grid, kThreads, 0, stream>>>(d_items, d_table, x, ldx, p.d_in, d_v, r_max);
  MURMUR_CUDA_CHECK(cudaGetLastError());
  const dim3 expand_grid(n_items, static_cast<unsigned>((p.d_out + kExpandCols - 1) / kExpandCols));
  expand_kernel<<<expand_grid, kThreads, 0, stream>>>(d_items, d_table, d_v, r_max, y, ldy,
                                                      p.d_out);
  MURMUR_CUDA_CHECK(cudaGetLastError());

  if (p.residence == Residence::kHost)
    MURMUR_CUDA_CHECK(cudaMemcpy2DAsync(p.y + first_row * p.ldy, p.ldy * 4, d_y_staged, p.d_out * 4,
                                        p.d_out * 4, rows, cudaMemcpyDeviceToHost, stream));
  MURMUR_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace murmur::kernels::cuda
