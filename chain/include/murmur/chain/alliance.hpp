// Binding of the AllianceTask contract (contracts/contracts/AllianceTask.sol) and of the ERC-20
// calls around it: calldata encoders, view calls, event decoders, the contract's error table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/consensus.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/revert.hpp"

namespace murmur::chain {

/// createTask's TaskParams, field for field.
struct TaskParams {
  Address token;
  U256 reward_pool;
  U256 total_rounds;
  U256 min_stake;
  U256 proposer_bps;
  U256 slash_bps;
  Address aggregator;
  Hash32 model_spec_hash{};
  Hash32 initial_model_hash{};
};

/// getTask's result.
struct TaskInfo {
  Address creator;
  std::uint32_t total_rounds = 0, finalized_rounds = 0, current_round = 0;
  Address token;
  std::uint16_t proposer_bps = 0, slash_bps = 0;
  bool round_open = false;
  std::uint32_t participant_count = 0;
  Address aggregator;
  U256 min_stake, pool, creator_balance;
  Hash32 model_spec_hash{}, model_hash{};
};

/// getRound's result; state: 0 None, 1 Open, 2 Finalized, 3 Abandoned.
struct RoundInfo {
  Hash32 seed{}, model_hash{};
  std::uint64_t started_at = 0;
  std::uint32_t participant_count = 0;
  std::uint8_t state = 0;
  bool accepted = false;
  U256 vote_sum;  ///< int256 two's complement
  U256 reward_paid, slashed;
};

/// nodeInfo's result.
struct NodeInfo {
  U256 stake, reward;
  bool joined = false, bound = false;
};

/// A voter's signed vote as finalizeRound takes it.
struct SignedVote {
  Address voter;
  std::int8_t score = 1;
  Bytes signature;  ///< 65 bytes r ‖ s ‖ v
};

/// The RoundFinalized event.
struct RoundFinalizedEvent {
  U256 task_id, round;
  Hash32 model_hash{};
  bool accepted = false;
  U256 vote_sum;  ///< int256 two's complement
  U256 reward_paid, slashed, to_pool, to_creator;
  Hash32 tx_hash{};
  std::uint64_t block_number = 0;
};

namespace alliance {

/// Calldata of the state-changing functions.
Bytes create_task(const TaskParams& p);
Bytes stake(const U256& task_id, const U256& amount);
Bytes unstake(const U256& task_id, const U256& amount);
Bytes join(const U256& task_id);
Bytes leave(const U256& task_id);
Bytes claim(const U256& task_id);
Bytes start_round(const U256& task_id);
Bytes abandon_round(const U256& task_id);
Bytes finalize_round(const U256& task_id, const U256& round, const Hash32& model_hash,
                     const std::vector<SignedVote>& votes,
                     const std::vector<Address>& flagged_proposers);

/// Every function, event and error signature this binding uses (checked against the artifact's
/// ABI by the tests).
std::vector<std::string> function_signatures();
std::vector<std::string> event_signatures();
/// The contract's custom errors (and the OpenZeppelin ones it can raise), with parameter names.
const ErrorRegistry& errors();

/// Event decoders for logs of the contract; each throws std::invalid_argument for another event.
RoundFinalizedEvent decode_round_finalized(const Log& log);
const abi::Event& round_finalized_event();
const abi::Event& round_started_event();
const abi::Event& task_created_event();

/// The task id of the TaskCreated log in a createTask receipt; throws ChainError if absent.
U256 task_id_from_receipt(const Receipt& r, const Address& contract);
/// (round, seed) of the RoundStarted log in a startRound receipt; throws ChainError if absent.
std::pair<U256, Hash32> round_from_receipt(const Receipt& r, const Address& contract);

}  // namespace alliance

/// Read-only views of a deployed AllianceTask.
class AllianceTaskContract {
 public:
  AllianceTaskContract(EthClient& eth, Address address) : eth_(eth), address_(address) {}
  const Address& address() const { return address_; }

  U256 task_count();
  TaskInfo get_task(const U256& task_id);
  RoundInfo get_round(const U256& task_id, const U256& round);
  NodeInfo node_info(const U256& task_id, const Address& node);
  Role role_of(const U256& task_id, const U256& round, const Address& node);
  Hash32 vote_digest(const U256& task_id, const U256& round, const Hash32& model_hash,
                     std::int8_t score);
  Hash32 domain_separator();
  U256 round_reward(const U256& task_id);
  std::vector<Address> participants(const U256& task_id);
  std::vector<Address> members(const U256& task_id);
  /// RoundFinalized logs for (task, round) from `from_block` on.
  std::vector<RoundFinalizedEvent> round_finalized_events(const U256& task_id, const U256& round,
                                                          std::uint64_t from_block = 0);

 private:
  std::vector<abi::Value> view(const std::string& signature, const std::vector<abi::Value>& args,
                               const std::vector<std::string>& outputs);
  EthClient& eth_;
  Address address_;
};

namespace erc20 {
Bytes approve(const Address& spender, const U256& amount);
Bytes transfer(const Address& to, const U256& amount);
/// MockToken.mint(to, amount): local test token only.
Bytes mint(const Address& to, const U256& amount);
U256 balance_of(EthClient& eth, const Address& token, const Address& owner);
U256 allowance(EthClient& eth, const Address& token, const Address& owner, const Address& spender);
}  // namespace erc20

}  // namespace murmur::chain
