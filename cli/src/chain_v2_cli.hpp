// `murmur chain-v2 ...`: the creator's and the nodes' calls on AllianceTaskV2 (issue 16).
#pragma once

#include <CLI/CLI.hpp>

namespace murmur::cli {

/// Registers `murmur chain-v2` (create-task, join, status, claim).
void add_chain_v2_commands(CLI::App& app);

}  // namespace murmur::cli
