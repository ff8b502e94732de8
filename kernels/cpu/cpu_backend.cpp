#include "cpu_backend.hpp"

#include <fstream>
#include <stdexcept>
#include <thread>

#include <cblas.h>

#include "murmur/kernels/row_source.hpp"

#ifndef MURMUR_CPU_ISA
#define MURMUR_CPU_ISA ""
#endif

namespace murmur::kernels {

MemoryRowSource::MemoryRowSource(std::span<const float> data, std::size_t n, std::size_t d)
    : rows_{data.data(), n, d, d} {
  if (data.size() != n * d)
    throw std::invalid_argument("MemoryRowSource: " + std::to_string(data.size()) +
                                " floats given for " + std::to_string(n) + " rows of " +
                                std::to_string(d));
}

void MemoryRowSource::read_row(std::size_t i, std::size_t begin, std::size_t end,
                               float* dst) const {
  std::copy(rows_.row(i) + begin, rows_.row(i) + end, dst);
}

void RowSource::read(std::size_t begin, std::size_t end, float* dst, std::size_t ld_dst) const {
  for (std::size_t i = 0; i < rows(); ++i) read_row(i, begin, end, dst + i * ld_dst);
}

SubsetRowSource::SubsetRowSource(const RowSource& base, std::vector<std::size_t> index)
    : base_(base), index_(std::move(index)) {
  for (std::size_t i : index_)
    if (i >= base_.rows())
      throw std::invalid_argument("SubsetRowSource: row " + std::to_string(i) + " of " +
                                  std::to_string(base_.rows()));
}

const char* to_string(CpuSimd simd) {
  switch (simd) {
    case CpuSimd::kBest: return "best";
    case CpuSimd::kPortable: return "portable";
    case CpuSimd::kAvx2: return "avx2";
    case CpuSimd::kAvx512: return "avx512";
  }
  return "?";
}

bool cpu_simd_supported(CpuSimd simd) noexcept {
  switch (simd) {
    case CpuSimd::kBest:
    case CpuSimd::kPortable: return true;
#if MURMUR_CPU_X86_DISPATCH
    case CpuSimd::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuSimd::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    default: return false;
  }
}

CpuSimd best_cpu_simd() noexcept {
  for (CpuSimd s : {CpuSimd::kAvx512, CpuSimd::kAvx2})
    if (cpu_simd_supported(s)) return s;
  return CpuSimd::kPortable;
}

CpuStatus cpu_status() {
  CpuStatus s;
  s.simd = to_string(best_cpu_simd());
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      s.model = line.substr(line.find(':') + 2);
      break;
    }
  }
  if (s.model.empty()) s.model = "unknown (no model name in /proc/cpuinfo)";
  s.hardware_threads = std::max(1u, std::thread::hardware_concurrency());
  s.isa = MURMUR_CPU_ISA;
  s.blas = openblas_get_config();
  s.blas_threads = openblas_get_num_threads();
  return s;
}

}  // namespace murmur::kernels

namespace murmur::kernels::cpu {

CpuBackend::CpuBackend(unsigned threads, CpuSimd simd)
    : pool_(threads),
      simd_(simd == CpuSimd::kBest ? best_cpu_simd() : simd),
      scratch_(pool_.size()),
      pointers_(pool_.size()) {}

std::string CpuBackend::describe() const {
  std::string isa = MURMUR_CPU_ISA;
  return "cpu: " + std::to_string(pool_.size()) + " threads, kernels for " +
         (isa.empty() ? std::string("the compiler's default ISA") : isa) + ", " + to_string(simd_) +
         " coordinate-wise kernels";
}

CpuBackend& as_cpu(Backend& backend) {
  if (backend.kind() != BackendKind::kCpu)
    throw std::logic_error("as_cpu: backend is " + std::string(to_string(backend.kind())));
  return static_cast<CpuBackend&>(backend);
}

bool all_resident(const RowSource& source) {
  for (std::size_t i = 0; i < source.rows(); ++i)
    if (source.resident_row(i) == nullptr) return false;
  return true;
}

Tile load_tile(const RowSource& source, std::size_t begin, std::size_t end, bool resident,
               std::vector<float>& buf, std::vector<const float*>& ptrs) {
  const std::size_t n = source.rows(), w = end - begin;
  ptrs.resize(n);
  if (resident) {
    for (std::size_t i = 0; i < n; ++i) ptrs[i] = source.resident_row(i) + begin;
  } else {
    buf.resize(n * w);
    source.read(begin, end, buf.data(), w);
    for (std::size_t i = 0; i < n; ++i) ptrs[i] = buf.data() + i * w;
  }
  return Tile{ptrs.data(), n, w};
}

std::size_t CpuBackend::tile_width(const RowSource& source, std::size_t tile_cols) const {
  tile_cols = std::max<std::size_t>(1, tile_cols);
  if (all_resident(source)) return tile_cols;
  constexpr std::size_t kGranule = 64;
  const std::size_t per_worker = kTileBudget / pool_.size();
  const std::size_t n = std::max<std::size_t>(1, source.rows());
  const std::size_t fits = per_worker / (n * sizeof(float)) / kGranule * kGranule;
  return std::min(tile_cols, std::max(kGranule, fits));
}

void CpuBackend::for_each_tile(const RowSource& source, std::size_t tile_cols,
                               const std::function<void(std::size_t, std::size_t, Tile)>& fn) {
  const std::size_t d = source.cols();
  if (d == 0) return;
  const bool resident = all_resident(source);
  tile_cols = tile_width(source, tile_cols);
  const std::size_t tiles = (d + tile_cols - 1) / tile_cols;
  pool_.parallel_for(tiles, [&](std::size_t t, unsigned worker) {
    const std::size_t begin = t * tile_cols;
    const std::size_t end = std::min(d, begin + tile_cols);
    fn(begin, end, load_tile(source, begin, end, resident, scratch_[worker], pointers_[worker]));
  });
  if (!resident)  // the copies go back to the allocator: an idle backend holds no tile
    for (auto& s : scratch_) std::vector<float>().swap(s);
}

}  // namespace murmur::kernels::cpu
