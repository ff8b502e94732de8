// `murmur validate`: AI Arena scoring of many LoRA adapters on one base model.
#pragma once

#include <CLI/CLI.hpp>

namespace murmur::cli {

/// Registers `murmur validate`: loads a LLaMA-style base model, every adapter under the given
/// directories (rejecting bad ones with a reason), the JSONL evaluation set, scores all
/// adapters in batched passes, prints a ranked table and writes the scores as JSON.
void add_validate_command(CLI::App& app);

}  // namespace murmur::cli
