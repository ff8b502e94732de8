#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <array>
#include <cstddef>
#include <string>

#include "murmur/kernels/backend.hpp"

namespace murmur::kernels::cuda {

/// A device allocation that grows on demand and is reused across calls, so that no op calls
/// cudaMalloc on its hot path after the first round.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  /// At least `bytes` bytes of device memory; contents are not preserved when it grows.
  void* get(std::size_t bytes);

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

/// Page-locked host memory, grown on demand: the staging area of host<->device copies.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* get(std::size_t bytes);

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

/// The CUDA backend: one device, two streams (double-buffered tile pipeline), a lazily made
/// cuBLAS handle, and the scratch and staging memory of every op.
class CudaBackend final : public Backend {
 public:
  /// Scratch slots; an op uses each for one purpose during a call.
  enum Slot : int {
    kTileIn0,
    kTileIn1,
    kTileOut0,
    kTileOut1,
    kParams,
    kWork,
    kSortOut,
    kSortTemp,
    kOffsets,
    kSlots
  };

  explicit CudaBackend(int device);
  ~CudaBackend() override;

  BackendKind kind() const noexcept override { return BackendKind::kCuda; }
  std::string describe() const override;
  /// Two pinned staging tiles (double buffering), each within tile_budget().
  std::size_t host_tile_bytes() const noexcept override { return 2 * tile_budget_; }

  int device() const noexcept { return device_; }
  cudaStream_t stream(int i) const noexcept { return streams_[i]; }
  cudaEvent_t event(int i) const noexcept { return events_[i]; }
  cublasHandle_t cublas();
  void* scratch(Slot slot, std::size_t bytes) { return scratch_[slot].get(bytes); }
  void* pinned(Slot slot, std::size_t bytes) { return pinned_[slot].get(bytes); }
  /// Bytes of device memory one staged tile may use (per buffer).
  std::size_t tile_budget() const noexcept { return tile_budget_; }

 private:
  int device_;
  cudaDeviceProp props_{};
  std::array<cudaStream_t, 2> streams_{};
  std::array<cudaEvent_t, 2> events_{};
  cublasHandle_t cublas_ = nullptr;
  std::array<DeviceBuffer, kSlots> scratch_;
  std::array<PinnedBuffer, kSlots> pinned_;
  std::size_t tile_budget_ = 64u << 20;
};

/// Checked downcast of a Backend known to be a CudaBackend; makes its device current.
CudaBackend& as_cuda(Backend& backend);

}  // namespace murmur::kernels::cuda
