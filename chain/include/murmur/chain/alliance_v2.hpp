// Binding of AllianceTaskV2 (contracts/contracts/AllianceTaskV2.sol, issue 16): calldata encoders
// of every call a creator, murmurd and a node make, the views, the events murmurd and the nodes
// read, and the contract's error table. The round's steps and their order are in
// contracts/README.md ("AllianceTaskV2", "Porting murmurd").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/consensus.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/revert.hpp"

namespace murmur::chain {

/// Durations in seconds, fixed at createTask (IAllianceTaskV2.Windows).
struct V2Windows {
  std::uint64_t propose = 0, post = 0, commit = 0, reveal = 0, exit = 0, unbonding = 0,
                task_timeout = 0;
};

/// createTask's TaskParams, field for field.
struct V2TaskParams {
  Address token;
  U256 reward_pool, total_rounds, min_stake, max_members, proposer_bps, slash_bps, quorum_bps,
      tolerance_bps;
  Address aggregator;
  Hash32 model_spec_hash{}, initial_model_hash{}, rule_hash{};
  V2Windows windows;
};

/// getTask's result (IAllianceTaskV2.Task).
struct V2TaskInfo {
  Address creator, aggregator, token;
  std::uint32_t total_rounds = 0, finalized_rounds = 0, current_round = 0, participant_count = 0;
  bool in_flight = false, ended = false;
  std::uint16_t proposer_bps = 0, slash_bps = 0, quorum_bps = 0, tolerance_bps = 0, max_members = 0;
  std::uint64_t last_closed_at = 0;
  U256 min_stake, pool, creator_balance;
  Hash32 model_spec_hash{}, model_hash{}, rule_hash{};
  V2Windows windows;
};

/// IAllianceTaskV2.RoundState.
enum class V2RoundState : std::uint8_t {
  None = 0,
  Seeding = 1,    ///< opened; roles not drawn yet
  Proposing = 2,  ///< roles drawn; proposers commit update hashes
  Voting = 3,     ///< candidate posted; voters commit, then reveal
  Finalized = 4,
  Abandoned = 5,
};
const char* to_string(V2RoundState s);

/// getRound's result (IAllianceTaskV2.Round). Deadlines are block timestamps (seconds).
struct V2RoundInfo {
  V2RoundState state = V2RoundState::None;
  std::uint32_t participant_count = 0, proposer_count = 0, voter_count = 0, update_commits = 0,
                vote_commits = 0, reveals = 0;
  std::uint64_t seed_block = 0, propose_deadline = 0, post_deadline = 0, commit_deadline = 0,
                reveal_deadline = 0, closed_at = 0;
  Hash32 seed{}, model_hash{}, included_hash{}, rule_hash{};
  std::int64_t median = 0;  ///< int256 on chain; always within ±10000
  bool accepted = false;
  U256 revealed_stake, voter_stake, paid, slashed;
};

/// entryOf's result: what the contract holds about one node of a round.
struct V2Entry {
  Hash32 commitment{};  ///< proposer: its update hash; voter: its vote commitment
  int score = 0;        ///< voter, once revealed
  bool revealed = false, reported = false;
};

/// nodeInfo's result.
struct V2NodeInfo {
  U256 stake, reward, pending, unlock_at;
  bool joined = false, bound = false;
};

/// RoundFinalized.
struct V2RoundFinalizedEvent {
  U256 task_id, round;
  Hash32 model_hash{};
  bool accepted = false;
  std::int64_t median = 0;
  U256 paid, slashed;
  Hash32 tx_hash{};
  std::uint64_t block_number = 0;
};

/// RoundAbandoned; reason 0 seed expired, 1 no candidate in time, 2 no quorum.
struct V2RoundAbandonedEvent {
  U256 task_id, round;
  std::uint8_t reason = 0;
  Hash32 tx_hash{};
  std::uint64_t block_number = 0;
};

/// Rewarded or Slashed: one node's booking in a finalized round.
struct V2Booking {
  Address node;
  U256 amount;
};

namespace alliance_v2 {

inline constexpr std::uint8_t kAbandonSeedExpired = 0;
inline constexpr std::uint8_t kAbandonNoCandidate = 1;
inline constexpr std::uint8_t kAbandonNoQuorum = 2;
inline constexpr std::uint64_t kSeedDelay = 2;  ///< SEED_DELAY: blocks between open and seed block

/// Calldata of the state-changing functions.
Bytes create_task(const V2TaskParams& p);
Bytes stake(const U256& task_id, const U256& amount);
Bytes unstake(const U256& task_id, const U256& amount);
Bytes withdraw(const U256& task_id);
Bytes join(const U256& task_id);
Bytes join_displacing(const U256& task_id, const Address& member);
Bytes leave(const U256& task_id);
Bytes claim(const U256& task_id);
Bytes set_aggregator(const U256& task_id, const Address& aggregator);
Bytes cancel_task(const U256& task_id);
Bytes open_round(const U256& task_id);
Bytes draw_roles(const U256& task_id);
Bytes commit_update(const U256& task_id, const U256& round, const Hash32& update_hash);
/// `included`: participant_bitmap (v2_commitments.hpp) of the included proposers.
Bytes post_candidate(const U256& task_id, const U256& round, const Hash32& model_hash,
                     std::span<const U256> included);
Bytes commit_vote(const U256& task_id, const U256& round, const Hash32& commitment);
/// `score` in [−10000, 10000]; `objections`: participant bitmap of the objected proposers.
Bytes reveal_vote(const U256& task_id, const U256& round, int score,
                  std::span<const U256> objections, const Hash32& salt);
Bytes finalize_round(const U256& task_id);
Bytes abandon_round(const U256& task_id);
Bytes report_equivocation(const U256& task_id, const U256& round, const Address& node,
                          const Hash32& update_hash, const U256& num_samples,
                          const Bytes& signature);

/// Every function and event signature this binding uses (checked against the artifact's ABI by
/// the tests).
std::vector<std::string> function_signatures();
std::vector<std::string> event_signatures();
/// AllianceTaskV2's custom errors (and the OpenZeppelin / ERC-20 ones it can raise).
const ErrorRegistry& errors();

const abi::Event& task_created_event();
const abi::Event& round_opened_event();
const abi::Event& roles_drawn_event();
const abi::Event& update_committed_event();
const abi::Event& candidate_posted_event();
const abi::Event& round_finalized_event();
const abi::Event& round_abandoned_event();
const abi::Event& rewarded_event();
const abi::Event& slashed_event();

/// The task id of the TaskCreated log in a createTask receipt; throws ChainError if absent.
U256 task_id_from_receipt(const Receipt& r, const Address& contract);
/// (round, seedBlock) of the RoundOpened log in an openRound receipt; throws ChainError if absent.
std::pair<U256, std::uint64_t> opened_from_receipt(const Receipt& r, const Address& contract);

}  // namespace alliance_v2

/// Views and log reads of a deployed AllianceTaskV2. Not thread-safe (the EthClient is not).
class AllianceTaskV2Contract {
 public:
  AllianceTaskV2Contract(EthClient& eth, Address address) : eth_(eth), address_(address) {}
  const Address& address() const { return address_; }
  EthClient& eth() { return eth_; }

  U256 task_count();
  V2TaskInfo get_task(const U256& task_id);
  V2RoundInfo get_round(const U256& task_id, const U256& round);
  /// The bound participants of the round in flight, in bitmap index order; empty between rounds.
  std::vector<Address> participants(const U256& task_id);
  std::vector<Address> members(const U256& task_id);
  /// By the drawn seed; throws RevertError (WrongState) before drawRoles.
  Role role_of(const U256& task_id, const U256& round, const Address& node);
  V2Entry entry_of(const U256& task_id, const U256& round, const Address& node);
  V2NodeInfo node_info(const U256& task_id, const Address& node);
  /// The included bitmap the aggregator posted.
  std::vector<U256> included_of(const U256& task_id, const U256& round);
  U256 objection_stake(const U256& task_id, const U256& round, std::uint64_t index);
  /// The EIP-712 Update digest the proposer signs (domain "Murmuration", "1", this contract).
  Hash32 update_digest(const U256& task_id, const U256& round, const Hash32& update_hash,
                       const U256& num_samples);
  Hash32 vote_commitment(const U256& task_id, const U256& round, const Address& voter, int score,
                         std::span<const U256> objections, const Hash32& salt);
  Hash32 domain_separator();

  /// Log reads for (task, round) from `from_block` on.
  std::vector<V2RoundFinalizedEvent> round_finalized_events(const U256& task_id, const U256& round,
                                                            std::uint64_t from_block = 0);
  std::vector<V2RoundAbandonedEvent> round_abandoned_events(const U256& task_id, const U256& round,
                                                            std::uint64_t from_block = 0);
  /// Rewarded (`slashed` false) or Slashed (true) logs of the round.
  std::vector<V2Booking> bookings(const U256& task_id, const U256& round, bool slashed,
                                  std::uint64_t from_block = 0);

 private:
  std::vector<abi::Value> view(const std::string& signature, const std::vector<abi::Value>& args,
                               const std::vector<std::string>& outputs);
  std::vector<Log> round_logs(const abi::Event& e, const U256& task_id, const U256& round,
                              std::uint64_t from_block);
  EthClient& eth_;
  Address address_;
};

}  // namespace murmur::chain
