// `murmur simulate` (and `murmur simulate setup-chain`) and `murmur bench robustness`.
#pragma once

#include <CLI/CLI.hpp>

namespace murmur::cli {

/// Registers `simulate` (N nodes training Fashion-MNIST through murmurd, optionally settling
/// every round on an AllianceTask), its `setup-chain` subcommand (task, stakes, participants
/// file) and `bench robustness` (attacks x rules x Byzantine fractions).
void add_simulate_commands(CLI::App& app);

}  // namespace murmur::cli
