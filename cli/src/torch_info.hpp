#pragma once
#include <string>

namespace murmur::cli {

/// libtorch's version and what it found ("1.13.0, CPU build, 2 intra-op threads").
/// Kept in its own translation unit: only it includes torch headers.
std::string torch_summary();

}  // namespace murmur::cli
