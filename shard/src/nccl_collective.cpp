// The NCCL transport of a shard set: ncclAllGather on device buffers, the communicator made
// from an ncclUniqueId that shard 0 publishes in the coordinator's TCPStore. Non-blocking
// communicator, stream polled with ncclCommGetAsyncError, ncclCommAbort past the timeout: a dead
// peer becomes a CollectiveError, never a hang. The order of the sum is ShardReducer's
// (collective.cpp), shared with Gloo. Built only with the CUDA backend (MURMUR_HAVE_CUDA).
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "murmur/shard/collective.hpp"

namespace murmur::shard {
namespace {

using Clock = std::chrono::steady_clock;

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw CollectiveError(std::string("nccl: ") + what + ": " + cudaGetErrorString(e));
}

class NcclCollective final : public Collective {
 public:
  NcclCollective(Rendezvous& rendezvous, std::size_t rank, std::size_t size, int device,
                 std::chrono::milliseconds timeout)
      : rank_(rank), size_(size), timeout_(timeout) {
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    ncclUniqueId id;
    if (rank == 0) {
      check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
      rendezvous.set("nccl/id", std::span(reinterpret_cast<const std::uint8_t*>(&id), sizeof id));
    } else {
      const std::vector<std::uint8_t> bytes = rendezvous.get("nccl/id");
      if (bytes.size() != sizeof id)
        throw CollectiveError("nccl: the store's nccl/id has " + std::to_string(bytes.size()) +
                              " bytes, an ncclUniqueId " + std::to_string(sizeof id));
      std::memcpy(&id, bytes.data(), sizeof id);
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const ncclResult_t r =
        ncclCommInitRankConfig(&comm_, static_cast<int>(size), id, static_cast<int>(rank), &config);
    if (r != ncclSuccess && r != ncclInProgress) check_nccl(r, "ncclCommInitRankConfig");
    wait_comm("ncclCommInitRankConfig");
  }

  ~NcclCollective() override {
    if (comm_ != nullptr) (failed_ ? ncclCommAbort(comm_) : ncclCommDestroy(comm_));
    if (buffer_ != nullptr) cudaFree(buffer_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }
  std::string backend() const override { return "nccl"; }

  void allgather(std::span<const double> mine, std::span<double> all) override {
    const std::size_t len = mine.size();
    if (all.size() != len * size_)
      throw CollectiveError("allgather: output of " + std::to_string(all.size()) + " doubles for " +
                            std::to_string(size_) + " x " + std::to_string(len));
    // One device buffer, reused: [this shard's send | S received], grown only when a call is
    // longer than any before.
    const std::size_t need = len * (size_ + 1);
    if (need > capacity_) {
      if (buffer_ != nullptr) check_cuda(cudaFree(buffer_), "cudaFree");
      buffer_ = nullptr;
      check_cuda(cudaMalloc(reinterpret_cast<void**>(&buffer_), need * sizeof(double)),
                 "cudaMalloc");
      capacity_ = need;
    }
    check_cuda(cudaMemcpyAsync(buffer_, mine.data(), len * sizeof(double), cudaMemcpyHostToDevice,
                               stream_),
               "copy in");
    const ncclResult_t r = ncclAllGather(buffer_, buffer_ + len, len, ncclDouble, comm_, stream_);
    if (r != ncclSuccess && r != ncclInProgress) check_nccl(r, "ncclAllGather");
    wait_comm("ncclAllGather");
    check_cuda(cudaMemcpyAsync(all.data(), buffer_ + len, len * size_ * sizeof(double),
                               cudaMemcpyDeviceToHost, stream_),
               "copy out");
    const auto start = Clock::now();
    for (;;) {
      const cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) check_cuda(q, "allgather stream");
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) check_nccl(async, "ncclAllGather");
      if (Clock::now() - start > timeout_) {
        failed_ = true;
        throw CollectiveError("shard " + std::to_string(rank_) + " of " + std::to_string(size_) +
                              ": ncclAllGather of " + std::to_string(len) +
                              " doubles did not finish within " + std::to_string(timeout_.count()) +
                              " ms (a peer is gone?)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

 private:
  void check_nccl(ncclResult_t r, const char* what) {
    if (r == ncclSuccess) return;
    failed_ = true;
    throw CollectiveError("shard " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " +
                          what + ": " + ncclGetErrorString(r));
  }

  /// Waits for the non-blocking communicator's last call to leave ncclInProgress.
  void wait_comm(const char* what) {
    const auto start = Clock::now();
    for (;;) {
      ncclResult_t state = ncclSuccess;
      ncclCommGetAsyncError(comm_, &state);
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) check_nccl(state, what);
      if (Clock::now() - start > timeout_) {
        failed_ = true;
        throw CollectiveError("shard " + std::to_string(rank_) + " of " + std::to_string(size_) +
                              ": " + what + " did not finish within " +
                              std::to_string(timeout_.count()) + " ms");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  std::size_t rank_, size_;
  std::chrono::milliseconds timeout_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  double* buffer_ = nullptr;
  std::size_t capacity_ = 0;
  bool failed_ = false;
};

}  // namespace

bool nccl_compiled() noexcept {
  return true;
}

std::unique_ptr<Collective> make_nccl_collective(Rendezvous& rendezvous, std::size_t rank,
                                                 std::size_t size, int device,
                                                 std::chrono::milliseconds timeout) {
  if (size == 0 || rank >= size)
    throw CollectiveError("nccl: shard " + std::to_string(rank) + " of " + std::to_string(size));
  return std::make_unique<NcclCollective>(rendezvous, rank, size, device, timeout);
}

}  // namespace murmur::shard
