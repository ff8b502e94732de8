// Binding of ArenaTask (contracts/contracts/ArenaTask.sol, issue 17): calldata encoders, views,
// the contract's error table. The reward rule itself is arena_settlement.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/revert.hpp"

namespace murmur::chain {

/// IArenaTask.Role: one per address and task.
enum class ArenaRole : std::uint8_t { None = 0, Node = 1, Validator = 2 };
/// IArenaTask.Phase.
enum class ArenaPhase : std::uint8_t { None = 0, Open, Sealing, Scoring, Finalized };

/// "node" / "validator" / "none"; "open" / "sealing" / "scoring" / "finalized" / "none".
std::string to_string(ArenaRole r);
std::string to_string(ArenaPhase p);

/// createTask's TaskParams, field for field (bounds: contracts/README.md, "ArenaTask").
struct ArenaTaskParams {
  Address token;
  U256 reward_pool, min_node_stake, min_validator_stake;
  std::uint64_t submit_window = 0, commit_window = 0, reveal_window = 0;  ///< seconds
  std::uint16_t validators_per_submission = 3, gamma_bps = 5000, rank_ratio_bps = 5000,
                tolerance_bps = 1000, slash_bps = 5000, max_commission_bps = 5000;
  Hash32 base_model_hash{}, eval_set_hash{};
};

/// getTask's result.
struct ArenaTaskInfo {
  Address creator, token;
  ArenaPhase phase = ArenaPhase::None;
  std::uint16_t validators_per_submission = 0, gamma_bps = 0, rank_ratio_bps = 0, tolerance_bps = 0,
                slash_bps = 0, max_commission_bps = 0, node_count = 0, validator_count = 0,
                submission_count = 0, delegation_count = 0;
  std::uint64_t submit_deadline = 0, commit_deadline = 0, reveal_deadline = 0, seed_block = 0,
                commit_window = 0, reveal_window = 0;
  Hash32 seed{}, base_model_hash{}, eval_set_hash{};
  U256 min_node_stake, min_validator_stake, pool, creator_balance, total_stake;
};

/// participant's result.
struct ArenaParticipant {
  ArenaRole role = ArenaRole::None;
  std::uint16_t index = 0, commission_bps = 0, submission = 0;
  bool submitted = false;
  U256 reward, stake, delegated;
  Hash32 adapter_hash{};
  std::string adapter_uri;
};

/// scoreOf's result: one validator's committed score for one submission.
struct ArenaScoreEntry {
  Hash32 commitment{};  ///< zero: not committed
  std::uint64_t score = 0;
  bool revealed = false;
};

/// resultOf's result: what finalize booked for one submission.
struct ArenaResult {
  std::optional<std::uint64_t> consensus;  ///< none: nobody revealed a score
  std::optional<std::uint32_t> rank;
  U256 reward;  ///< before the delegation split
};

namespace arena {

Bytes create_task(const ArenaTaskParams& p);
Bytes fund_pool(const U256& task_id, const U256& amount);
Bytes stake(const U256& task_id, ArenaRole role, const U256& amount, std::uint64_t commission_bps);
Bytes delegate(const U256& task_id, const Address& to, const U256& amount);
Bytes undelegate(const U256& task_id, const Address& to, const U256& amount);
Bytes submit(const U256& task_id, const Hash32& adapter_hash, const std::string& uri);
Bytes close_submissions(const U256& task_id);
Bytes draw_assignments(const U256& task_id);
Bytes commit_scores(const U256& task_id, const std::vector<std::uint64_t>& submissions,
                    const std::vector<Hash32>& commitments);
Bytes reveal_scores(const U256& task_id, const std::vector<std::uint64_t>& submissions,
                    const std::vector<std::uint64_t>& scores, const std::vector<Hash32>& salts);
Bytes finalize(const U256& task_id);
Bytes claim(const U256& task_id);
Bytes withdraw(const U256& task_id);

/// Every function signature this binding uses (checked against the artifact's ABI by the tests).
std::vector<std::string> function_signatures();
/// IArenaTask's custom errors (and the OpenZeppelin ones the contract can raise), with names.
const ErrorRegistry& errors();
/// The task id of the TaskCreated log in a createTask receipt; throws ChainError if absent.
U256 task_id_from_receipt(const Receipt& r, const Address& contract);

}  // namespace arena

/// Read-only views of a deployed ArenaTask.
class ArenaTaskContract {
 public:
  ArenaTaskContract(EthClient& eth, Address address) : eth_(eth), address_(address) {}
  const Address& address() const { return address_; }

  U256 task_count();
  /// Throws ChainError naming the task if it does not exist.
  ArenaTaskInfo get_task(const U256& task_id);
  ArenaParticipant participant(const U256& task_id, const Address& who);
  /// Claimable by `who` as node, validator and delegator together.
  U256 reward_of(const U256& task_id, const Address& who);
  U256 delegation_of(const U256& task_id, const Address& to, const Address& delegator);
  U256 task_stake(const U256& task_id);
  std::vector<Address> submissions(const U256& task_id);
  std::vector<Address> validators(const U256& task_id);
  ArenaResult result_of(const U256& task_id, std::uint64_t submission);
  /// The validators assigned to a submission (after drawAssignments).
  std::vector<Address> assignees(const U256& task_id, std::uint64_t submission);
  /// A validator's commitment and revealed score for a submission.
  ArenaScoreEntry score_of(const U256& task_id, std::uint64_t submission, const Address& validator);

 private:
  std::vector<abi::Value> view(const std::string& signature, const std::vector<abi::Value>& args,
                               const std::vector<std::string>& outputs);
  EthClient& eth_;
  Address address_;
};

}  // namespace murmur::chain
