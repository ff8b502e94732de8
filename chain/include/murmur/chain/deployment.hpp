// The deployment record written by contracts/scripts/deploy.js:
//   { "chainId", "network", "token", "allianceTask", "allianceTaskV2", "deployer", "blockNumber",
//     "deployedAt" }  ("allianceTaskV2" is optional: files written before issue 16 lack it)
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "murmur/chain/address.hpp"

namespace murmur::chain {

/// Where the contracts of one chain live.
struct Deployment {
  std::uint64_t chain_id = 0;
  std::string network;
  Address token;                            ///< the ERC-20 (MockToken on local chains)
  Address alliance_task;                    ///< the AllianceTask contract
  std::optional<Address> alliance_task_v2;  ///< the AllianceTaskV2 contract, when deployed
  Address deployer;
  std::uint64_t block_number = 0;  ///< block of the AllianceTask deployment (log scans start here)
};

/// Reads a deployment file; throws std::runtime_error naming the file and the missing or bad
/// field.
Deployment load_deployment(const std::filesystem::path& file);
/// Writes it atomically (temporary file + rename) in deploy.js's format.
void save_deployment(const std::filesystem::path& file, const Deployment& d);

}  // namespace murmur::chain
