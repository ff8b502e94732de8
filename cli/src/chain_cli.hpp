// `murmur chain ...`: task creators', node operators' and aggregators' chain commands.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace murmur::cli {

/// The development chains (Hardhat's 31337, Ganache's and geth --dev's 1337): the only ones on
/// which `murmur chain deploy` deploys MockToken, which anyone can mint.
inline bool is_development_chain(std::uint64_t chain_id) {
  return chain_id == 31337 || chain_id == 1337;
}

/// Which ERC-20 `murmur chain deploy` gives the task contracts.
enum class TokenChoice {
  kDeployMock,  ///< no --token on a development chain: MockToken
  kUseGiven,    ///< --token: an existing ERC-20 (checked to have code and a totalSupply())
};

/// The choice for `chain_id` with or without --token; throws std::runtime_error, saying why and
/// what to pass, for a chain that is not a development chain without --token.
inline TokenChoice choose_token(std::uint64_t chain_id, bool token_given) {
  if (token_given) return TokenChoice::kUseGiven;
  if (is_development_chain(chain_id)) return TokenChoice::kDeployMock;
  throw std::runtime_error(
      "chain " + std::to_string(chain_id) +
      " is not a development chain (31337, 1337): MockToken, which anyone can mint, is deployed "
      "only there. Pass --token <address> of the existing ERC-20 that tasks stake and pay in");
}

/// Registers the `chain` subcommand and its subcommands (deploy, mint, create-task, stake, join,
/// leave, unstake, status, claim, start-round, vote, finalize, resume, address) on `app`.
/// Keys come from --key-file or $MURMUR_CHAIN_KEY, never from the command line.
void add_chain_commands(CLI::App& app);

}  // namespace murmur::cli
