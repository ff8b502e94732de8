// `murmur arena ...`: AI Arena on chain (issue 17) for task creators, training nodes, validators
// and delegators, against a deployed ArenaTask (contracts/contracts/ArenaTask.sol).
#pragma once

#include <CLI/CLI.hpp>

namespace murmur::cli {

/// Registers `arena` and its subcommands (deploy, mint, create-task, stake, submit, delegate,
/// undelegate, close, draw, commit, reveal, finalize, claim, withdraw, status) on `app`. Keys come
/// from --key-file or $MURMUR_CHAIN_KEY, never from the command line. arena/README.md, "On chain".
void add_arena_commands(CLI::App& app);

}  // namespace murmur::cli
