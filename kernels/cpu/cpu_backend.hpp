#pragma once
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/coordinatewise.hpp"
#include "murmur/kernels/masks.hpp"
#include "murmur/kernels/row_source.hpp"
#include "murmur/kernels/row_stats.hpp"
#include "thread_pool.hpp"

namespace murmur::kernels::cpu {

/// A tile as CPU kernels see it: row i's slice [begin, end) starts at rows[i] (zero-copy into
/// the source when it is resident, else in scratch).
struct Tile {
  const float* const* rows;
  std::size_t n;
  std::size_t w;
  const float* row(std::size_t i) const { return rows[i]; }
};

/// Whether every row of `source` is resident in host memory.
bool all_resident(const RowSource& source);

/// Loads tile [begin, end) of `source`: pointers into it when `resident`, else a copy in `buf`.
Tile load_tile(const RowSource& source, std::size_t begin, std::size_t end, bool resident,
               std::vector<float>& buf, std::vector<const float*>& ptrs);

/// The CPU backend: a thread pool and per-worker scratch for tiles of non-resident sources.
class CpuBackend final : public Backend {
 public:
  /// `simd` must be supported here (cpu_simd_supported); kBest is resolved now.
  CpuBackend(unsigned threads, CpuSimd simd);

  BackendKind kind() const noexcept override { return BackendKind::kCpu; }
  std::string describe() const override;

  ThreadPool& pool() noexcept { return pool_; }
  /// The coordinate-wise kernels this backend runs (never kBest).
  CpuSimd simd() const noexcept { return simd_; }

  /// The workers' tile copies together never exceed this (kTileBudget): host_tile_bytes().
  std::size_t host_tile_bytes() const noexcept override { return kTileBudget; }
  /// Coordinates of a tile of `source` within the tile budget: `tile_cols` when the source is
  /// resident (zero-copy), else at most kTileBudget / (workers x N x 4) coordinates, a multiple
  /// of 64 and at least 64 (so that one worker's copy is at most N x 256 bytes beyond it).
  std::size_t tile_width(const RowSource& source, std::size_t tile_cols) const;

  /// Runs fn(begin, end, tile) for every coordinate tile [begin, end) of width
  /// tile_width(source, tile_cols) (the last one ragged), in parallel: callers must not depend
  /// on the width (each coordinate's result its own). The tile is zero-copy into the source
  /// when it is resident, else a per-worker scratch copy filled by source.read(), freed when
  /// the call returns.
  void for_each_tile(const RowSource& source, std::size_t tile_cols,
                     const std::function<void(std::size_t, std::size_t, Tile)>& fn);

  /// Host bytes of tile copies, all workers together, for non-resident sources (64 MiB).
  static constexpr std::size_t kTileBudget = std::size_t{64} << 20;

 private:
  ThreadPool pool_;
  CpuSimd simd_;
  std::vector<std::vector<float>> scratch_;          // one per worker
  std::vector<std::vector<const float*>> pointers_;  // one per worker
};

/// Checked downcast of a Backend known to be a CpuBackend.
CpuBackend& as_cpu(Backend& backend);

std::vector<RowStats> row_stats(CpuBackend& backend, const RowSource& rows);
std::vector<double> squared_distances(CpuBackend& backend, const RowSource& rows,
                                      std::span<const float> z);
/// With `finite`, also whether each row is finite, checked tile by tile on the way.
std::vector<double> gram(CpuBackend& backend, const RowSource& rows,
                         std::vector<bool>* finite = nullptr);
void coordinate_reduce(CpuBackend& backend, const RowSource& rows, ColumnReduce reduce,
                       std::span<float> out);
std::vector<bool> coordinate_reduce_checked(CpuBackend& backend, const RowSource& rows,
                                            ColumnReduce reduce, std::span<float> out);
void add_mask(CpuBackend& backend, const MaskSeed& seed, int sign, std::span<std::uint32_t> acc);
void weighted_sum(CpuBackend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out);
std::vector<bool> weighted_sum_checked(CpuBackend& backend, const RowSource& rows,
                                       std::span<const double> weights, std::span<float> out);

}  // namespace murmur::kernels::cpu
