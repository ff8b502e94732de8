// Helpers for tests against AllianceTaskV2 on a Hardhat node (chain_fixture.hpp starts it): a task
// with chosen parameters, staked and joined nodes, mined blocks.
#pragma once

#include <cstdint>
#include <vector>

#include "murmur/chain/alliance_v2.hpp"
#include "murmur/chain/deployment.hpp"
#include "murmur/chain/wallet.hpp"

namespace murmur::chain::testing {

/// Parameters a test usually varies; the rest are fixed (minStake 100, maxMembers 50, the task's
/// rule "trimmed-mean(beta=0.2)").
struct V2TaskSpec {
  U256 pool = U256(1'000'000);
  std::uint64_t rounds = 2, proposer_bps = 5000, slash_bps = 1000, quorum_bps = 5000,
                tolerance_bps = 2000;
  V2Windows windows{600, 600, 600, 600, 12, 60, 100'000};
  Hash32 initial_model{};
};

/// Mints the pool to `creator`, approves and creates the task; returns its id.
U256 create_v2_task(Wallet& creator, const Deployment& d, const Address& aggregator,
                    const V2TaskSpec& spec);
/// Mints `stake` to `node` (from `minter`, MockToken's open mint), approves, stakes and joins.
void stake_and_join(Wallet& minter, Wallet& node, const Deployment& d, const U256& task,
                    const U256& stake);
/// evm_mine `blocks` times.
void mine(EthClient& eth, std::uint64_t blocks);
/// The latest block's timestamp.
std::uint64_t chain_time(EthClient& eth);
/// The hash of block `number`.
Hash32 block_hash(EthClient& eth, std::uint64_t number);

}  // namespace murmur::chain::testing
