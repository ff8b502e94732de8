// `murmur verify --round N`: anyone recomputes a round of an AllianceTaskV2 task (issue 16) from
// its signed updates and checks it against what the aggregator posted on chain (cli/README.md,
// "murmur verify").
#pragma once

#include <CLI/CLI.hpp>

namespace murmur::cli {

/// Registers `murmur verify`.
void add_verify_command(CLI::App& app);

}  // namespace murmur::cli
