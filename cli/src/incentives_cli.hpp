#pragma once
#include <CLI/CLI.hpp>

namespace murmur::cli {

/// `murmur bench incentives` (sim/README.md, "Incentives"), under the `bench` command.
void add_incentives_bench(CLI::App* bench);

}  // namespace murmur::cli
