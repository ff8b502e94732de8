// `murmur arena train` (a training node's LoRA fine-tuning) and `murmur arena demo-kit` (the files
// of scripts/demo_arena.sh: a tiny random LLaMA, structured training and held-out sets, a random
// adapter). Neither talks to a chain.
#pragma once

#include <CLI/CLI.hpp>

namespace murmur::cli {

/// Registers `train` and `demo-kit` under `arena`.
void add_arena_train_commands(CLI::App& arena);

}  // namespace murmur::cli
