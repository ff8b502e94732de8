#include <nccl.h>

#include <algorithm>
#include <stdexcept>

#include "check.cuh"
#include "cuda_backend.cuh"
#include "cuda_ops.hpp"

#ifndef MURMUR_CUDA_ARCHITECTURES
#define MURMUR_CUDA_ARCHITECTURES ""
#endif

namespace murmur::kernels::cuda {

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

void* DeviceBuffer::get(std::size_t bytes) {
  if (bytes > bytes_) {
    if (ptr_ != nullptr) MURMUR_CUDA_CHECK(cudaFree(ptr_));
    ptr_ = nullptr;
    bytes_ = 0;
    MURMUR_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
    bytes_ = bytes;
  }
  return ptr_;
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_ != nullptr) cudaFreeHost(ptr_);
}

void* PinnedBuffer::get(std::size_t bytes) {
  if (bytes > bytes_) {
    if (ptr_ != nullptr) MURMUR_CUDA_CHECK(cudaFreeHost(ptr_));
    ptr_ = nullptr;
    bytes_ = 0;
    MURMUR_CUDA_CHECK(cudaHostAlloc(&ptr_, bytes, cudaHostAllocDefault));
    bytes_ = bytes;
  }
  return ptr_;
}

CudaBackend::CudaBackend(int device) : device_(device) {
  MURMUR_CUDA_CHECK(cudaSetDevice(device_));
  MURMUR_CUDA_CHECK(cudaGetDeviceProperties(&props_, device_));
  for (int i = 0; i < 2; ++i) {
    MURMUR_CUDA_CHECK(cudaStreamCreateWithFlags(&streams_[i], cudaStreamNonBlocking));
    MURMUR_CUDA_CHECK(cudaEventCreateWithFlags(&events_[i], cudaEventDisableTiming));
  }
  // Two staged tiles in and out must fit comfortably beside everything else.
  tile_budget_ = std::clamp<std::size_t>(props_.totalGlobalMem / 32, 16u << 20, 256u << 20);
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_);
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  for (int i = 0; i < 2; ++i) {
    if (streams_[i] != nullptr) cudaStreamDestroy(streams_[i]);
    if (events_[i] != nullptr) cudaEventDestroy(events_[i]);
  }
}

cublasHandle_t CudaBackend::cublas() {
  if (cublas_ == nullptr) {
    check(cublasCreate(&cublas_), "cublasCreate", __FILE__, __LINE__);
    check(cublasSetMathMode(cublas_, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode", __FILE__,
          __LINE__);
  }
  return cublas_;
}

std::string CudaBackend::describe() const {
  return "cuda:" + std::to_string(device_) + " " + props_.name + " (sm_" +
         std::to_string(props_.major) + std::to_string(props_.minor) + ", " +
         std::to_string(props_.totalGlobalMem >> 30) + " GiB, " +
         std::to_string(props_.multiProcessorCount) + " SMs)";
}

CudaBackend& as_cuda(Backend& backend) {
  if (backend.kind() != BackendKind::kCuda)
    throw std::logic_error("as_cuda: backend is " + std::string(to_string(backend.kind())));
  auto& cuda = static_cast<CudaBackend&>(backend);
  MURMUR_CUDA_CHECK(cudaSetDevice(cuda.device()));
  return cuda;
}

std::unique_ptr<Backend> make_backend(int device) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess)
    throw BackendUnavailable(std::string("CUDA backend compiled, no device: ") +
                             cudaGetErrorString(err));
  if (device < 0 || device >= count)
    throw BackendUnavailable("CUDA device " + std::to_string(device) + " requested, " +
                             std::to_string(count) + " present");
  return std::make_unique<CudaBackend>(device);
}

CudaStatus status() {
  CudaStatus s;
  s.compiled = true;
  s.architectures = MURMUR_CUDA_ARCHITECTURES;
  cudaRuntimeGetVersion(&s.runtime_version);
  cudaDriverGetVersion(&s.driver_version);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    s.error = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    s.devices.push_back({i, p.name, p.major, p.minor, p.totalGlobalMem, p.multiProcessorCount});
  }
  int major = 0, minor = 0, patch = 0;
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  s.cublas_version =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  int nccl = 0;
  if (ncclGetVersion(&nccl) == ncclSuccess) {
    // NCCL encodes 2.x.y as major*10000 + minor*100 + patch since 2.9.
    s.nccl_version = std::to_string(nccl / 10000) + "." + std::to_string(nccl / 100 % 100) + "." +
                     std::to_string(nccl % 100);
  } else {
    s.nccl_version = "unavailable";
  }
  return s;
}

}  // namespace murmur::kernels::cuda
