// `murmur chain ...`: task creators', node operators' and aggregators' chain commands.
#pragma once

#include <CLI/CLI.hpp>

namespace murmur::cli {

/// Registers the `chain` subcommand and its subcommands (deploy, mint, create-task, stake, join,
/// leave, unstake, status, claim, start-round, vote, finalize, resume, address) on `app`.
/// Keys come from --key-file or $MURMUR_CHAIN_KEY, never from the command line.
void add_chain_commands(CLI::App& app);

}  // namespace murmur::cli
