#pragma once
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace murmur::kernels {

enum class BackendKind { kCpu, kCuda };

/// "cpu" or "cuda".
const char* to_string(BackendKind kind);

/// Thrown when a backend is asked for that this build or this machine cannot provide; the
/// message says why (e.g. "CUDA backend compiled, no device: no CUDA-capable device is
/// detected") and what to do.
class BackendUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A handle on the resources an op runs with, in the manner of faiss's GpuResources: on the
/// CPU a thread pool; on CUDA a device, its streams, the cuBLAS handle, and scratch and pinned
/// staging memory reused across calls. Ops are free functions, one header per family
/// (weighted_sum.hpp, ...), that take a Backend& and dispatch on kind().
///
/// A Backend is not thread-safe: use one per thread that launches work.
class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual BackendKind kind() const noexcept = 0;
  /// One line for logs and `murmur info`, e.g. "cpu: 2 threads, x86-64-v3".
  virtual std::string describe() const = 0;
  /// The most host memory the backend's tiles of a non-resident RowSource (the spool, mixed
  /// rows) hold at once, all workers together: what an aggregation over N rows of D adds to
  /// the process at most, whatever N and D (CPU: the workers' tile copies; CUDA: the two pinned
  /// staging tiles). Tiles of a resident source are zero-copy and use none of it.
  virtual std::size_t host_tile_bytes() const noexcept = 0;
};

/// The CPU backend with `threads` workers (0: one per hardware thread). Always available.
std::unique_ptr<Backend> make_cpu_backend(unsigned threads = 0);

/// Which SIMD kernels the CPU backend's coordinate-wise rules run. Every choice gives the same
/// bits; they differ in speed only.
enum class CpuSimd {
  kBest,      ///< the widest this CPU has, found at run time (AVX-512, else AVX2, else portable)
  kPortable,  ///< GCC vector code compiled for the build's ISA (MURMUR_CPU_ISA), 4 lanes
  kAvx2,      ///< AVX2 + FMA (x86-64-v3), 8 lanes a register
  kAvx512,    ///< AVX-512 F/BW/DQ/VL (x86-64-v4), 16 lanes a register
};
/// "best", "portable", "avx2", "avx512".
const char* to_string(CpuSimd simd);
/// Whether this build has `simd`'s kernels and this CPU can run them (kBest and kPortable:
/// always).
bool cpu_simd_supported(CpuSimd simd) noexcept;
/// What kBest resolves to on this machine.
CpuSimd best_cpu_simd() noexcept;
/// The CPU backend running `simd`'s kernels (kBest: best_cpu_simd()). Throws
/// BackendUnavailable, saying why, when !cpu_simd_supported(simd).
std::unique_ptr<Backend> make_cpu_backend(unsigned threads, CpuSimd simd);

/// The CUDA backend on device `device`. Throws BackendUnavailable when CUDA was not compiled
/// in or no device answers, with the CUDA runtime's error text.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

/// CUDA on device 0 when one answers, else the CPU backend.
std::unique_ptr<Backend> make_default_backend();

/// Whether this build contains the CUDA backend.
bool cuda_compiled() noexcept;

/// One CUDA device as the runtime reports it.
struct CudaDevice {
  int index = 0;
  std::string name;
  int sm_major = 0;
  int sm_minor = 0;
  std::size_t memory_bytes = 0;
  int multiprocessors = 0;
};

/// What the CUDA runtime says about this machine; every field is filled even with no device.
struct CudaStatus {
  bool compiled = false;            ///< the CUDA backend is in this build
  std::string architectures;        ///< SM architectures compiled, e.g. "80;90"
  int runtime_version = 0;          ///< e.g. 13000
  int driver_version = 0;           ///< 0 when no driver is installed
  std::vector<CudaDevice> devices;  ///< empty when none answers
  std::string error;                ///< the runtime's error text when no device answers
  std::string cublas_version;       ///< e.g. "13.0.2"
  std::string nccl_version;         ///< e.g. "2.27.7"
};

/// Queries the CUDA runtime, driver, cuBLAS and NCCL; never throws.
CudaStatus cuda_status();

/// What the CPU side of this machine looks like.
struct CpuStatus {
  std::string model;          ///< from /proc/cpuinfo
  unsigned hardware_threads;  ///< std::thread::hardware_concurrency()
  std::string isa;            ///< -march the kernels were built for ("" = compiler default)
  std::string simd;           ///< the coordinate-wise kernels kBest picks here (to_string)
  std::string blas;           ///< BLAS library and its configuration
  int blas_threads = 0;
};

CpuStatus cpu_status();

}  // namespace murmur::kernels
