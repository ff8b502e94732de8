// `murmur node` and `murmur load`: a node's loop against murmurd, and many synthetic nodes.
#pragma once

#include <CLI/CLI.hpp>

namespace murmur::cli {

/// Registers `murmur node`: register, then per round upload an update (files) as a proposer and
/// vote (RMS-step rule) as a voter, until the task closes or --rounds have ended.
void add_node_command(CLI::App& app);

/// Registers `murmur load`: N synthetic nodes upload at once; prints throughput and latency.
void add_load_command(CLI::App& app);

}  // namespace murmur::cli
