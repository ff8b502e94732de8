#include "torch_info.hpp"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

namespace murmur::cli {

std::string torch_summary() {
  std::string s = TORCH_VERSION;
  s += torch::cuda::is_available()
           ? ", CUDA build, " + std::to_string(torch::cuda::device_count()) + " device(s)"
           : std::string(", no CUDA device visible to it");
  s += ", " + std::to_string(at::get_num_threads()) + " intra-op threads";
  return s;
}

}  // namespace murmur::cli
