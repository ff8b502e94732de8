#include "chain/v2_fixture.hpp"

#include "murmur/chain/alliance.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::chain::testing {

U256 create_v2_task(Wallet& creator, const Deployment& d, const Address& aggregator,
                    const V2TaskSpec& spec) {
  const Address v2 = d.alliance_task_v2.value();
  V2TaskParams p;
  p.token = d.token;
  p.reward_pool = spec.pool;
  p.total_rounds = U256(spec.rounds);
  p.min_stake = U256(100);
  p.max_members = U256(50);
  p.proposer_bps = U256(spec.proposer_bps);
  p.slash_bps = U256(spec.slash_bps);
  p.quorum_bps = U256(spec.quorum_bps);
  p.tolerance_bps = U256(spec.tolerance_bps);
  p.aggregator = aggregator;
  p.model_spec_hash = keccak256(std::string_view("spec: tests"));
  p.initial_model_hash = spec.initial_model;
  p.rule_hash = keccak256(std::string_view("trimmed-mean(beta=0.2)"));
  p.windows = spec.windows;
  creator.transact(d.token, erc20::mint(creator.address(), spec.pool));
  creator.transact(d.token, erc20::approve(v2, spec.pool));
  return alliance_v2::task_id_from_receipt(creator.transact(v2, alliance_v2::create_task(p)), v2);
}

void stake_and_join(Wallet& minter, Wallet& node, const Deployment& d, const U256& task,
                    const U256& stake) {
  const Address v2 = d.alliance_task_v2.value();
  minter.transact(d.token, erc20::mint(node.address(), stake));
  node.transact(d.token, erc20::approve(v2, stake));
  node.transact(v2, alliance_v2::stake(task, stake));
  node.transact(v2, alliance_v2::join(task));
}

void mine(EthClient& eth, std::uint64_t blocks) {
  for (std::uint64_t i = 0; i < blocks; ++i) eth.raw("evm_mine", nlohmann::json::array());
}

std::uint64_t chain_time(EthClient& eth) {
  const auto b = eth.raw("eth_getBlockByNumber", nlohmann::json::array({"latest", false}));
  return quantity_u64(b.at("timestamp"));
}

Hash32 block_hash(EthClient& eth, std::uint64_t number) {
  const auto b =
      eth.raw("eth_getBlockByNumber", nlohmann::json::array({U256(number).to_quantity(), false}));
  return hash_from_hex(b.at("hash").get<std::string>());
}

}  // namespace murmur::chain::testing
