#pragma once
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/row_source.hpp"
#include "thread_pool.hpp"

namespace murmur::kernels::cpu {

/// The CPU backend: a thread pool and per-worker scratch for tiles of non-resident sources.
class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(unsigned threads);

  BackendKind kind() const noexcept override { return BackendKind::kCpu; }
  std::string describe() const override;

  ThreadPool& pool() noexcept { return pool_; }

  /// Runs fn(begin, end, tile) for every coordinate tile [begin, end) of width `tile_cols`
  /// (the last one ragged), in parallel. The tile view is zero-copy into the source when it
  /// is resident, else a per-worker scratch copy filled by source.read().
  void for_each_tile(const RowSource& source, std::size_t tile_cols,
                     const std::function<void(std::size_t, std::size_t, RowsView)>& fn);

 private:
  ThreadPool pool_;
  std::vector<std::vector<float>> scratch_;  // one per worker
};

/// Checked downcast of a Backend known to be a CpuBackend.
CpuBackend& as_cpu(Backend& backend);

void weighted_sum(CpuBackend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out);

}  // namespace murmur::kernels::cpu
