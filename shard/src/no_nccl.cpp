// make_nccl_collective in a build without the CUDA backend: says so.
#include "murmur/shard/collective.hpp"

namespace murmur::shard {

bool nccl_compiled() noexcept {
  return false;
}

std::unique_ptr<Collective> make_nccl_collective(Rendezvous&, std::size_t, std::size_t, int,
                                                 std::chrono::milliseconds) {
  throw CollectiveError(
      "nccl: this build has no CUDA backend (configure with MURMUR_CUDA=ON where nvcc and NCCL "
      "are installed); use the Gloo collective");
}

}  // namespace murmur::shard
