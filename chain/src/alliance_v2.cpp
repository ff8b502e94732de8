// AllianceTaskV2's binding (alliance_v2.hpp).
#include "murmur/chain/alliance_v2.hpp"

#include <stdexcept>

#include "murmur/chain/contract_view.hpp"
#include "murmur/chain/errors.hpp"

namespace murmur::chain {
namespace {

using abi::Value;

constexpr const char* kWindowsTuple = "(uint64,uint64,uint64,uint64,uint64,uint64,uint64)";

std::string task_params_tuple() {
  return std::string(
             "(address,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,address,"
             "bytes32,bytes32,bytes32,") +
         kWindowsTuple + ")";
}

Bytes call(const std::string& signature, std::vector<Value> args) {
  return abi::encode_call(abi::Signature::parse(signature), args);
}

std::uint64_t small(const Value& v) {
  return v.word().to_u64();
}

/// An intN value that fits 64 bits (scores and medians are within ±10000).
std::int64_t small_signed(const U256& w) {
  if (!is_negative(w)) return static_cast<std::int64_t>(w.to_u64());
  return -static_cast<std::int64_t>(((U256::max() - w) + U256(1)).to_u64());
}

Value bitmap(std::span<const U256> words) {
  return Value(std::vector<Value>(words.begin(), words.end()));
}

V2Windows windows_of(const Value& v) {
  const auto& w = v.list();
  return V2Windows{small(w[0]), small(w[1]), small(w[2]), small(w[3]),
                   small(w[4]), small(w[5]), small(w[6])};
}

abi::Event make_event(const std::string& signature, std::vector<bool> indexed) {
  return abi::Event{abi::Signature::parse(signature), std::move(indexed)};
}

}  // namespace

const char* to_string(V2RoundState s) {
  switch (s) {
    case V2RoundState::None: return "none";
    case V2RoundState::Seeding: return "seeding";
    case V2RoundState::Proposing: return "proposing";
    case V2RoundState::Voting: return "voting";
    case V2RoundState::Finalized: return "finalized";
    case V2RoundState::Abandoned: return "abandoned";
  }
  return "unknown";
}

namespace alliance_v2 {

Bytes create_task(const V2TaskParams& p) {
  const auto& w = p.windows;
  std::vector<Value> windows{U256(w.propose),     U256(w.post), U256(w.commit),
                             U256(w.reveal),      U256(w.exit), U256(w.unbonding),
                             U256(w.task_timeout)};
  std::vector<Value> tuple{p.token,           p.reward_pool,
                           p.total_rounds,    p.min_stake,
                           p.max_members,     p.proposer_bps,
                           p.slash_bps,       p.quorum_bps,
                           p.tolerance_bps,   p.aggregator,
                           p.model_spec_hash, p.initial_model_hash,
                           p.rule_hash,       Value(std::move(windows))};
  return call("createTask(" + task_params_tuple() + ")", {Value(std::move(tuple))});
}
Bytes stake(const U256& task_id, const U256& amount) {
  return call("stake(uint256,uint256)", {task_id, amount});
}
Bytes unstake(const U256& task_id, const U256& amount) {
  return call("unstake(uint256,uint256)", {task_id, amount});
}
Bytes withdraw(const U256& task_id) {
  return call("withdraw(uint256)", {task_id});
}
Bytes join(const U256& task_id) {
  return call("join(uint256)", {task_id});
}
Bytes join_displacing(const U256& task_id, const Address& member) {
  return call("joinDisplacing(uint256,address)", {task_id, member});
}
Bytes leave(const U256& task_id) {
  return call("leave(uint256)", {task_id});
}
Bytes claim(const U256& task_id) {
  return call("claim(uint256)", {task_id});
}
Bytes set_aggregator(const U256& task_id, const Address& aggregator) {
  return call("setAggregator(uint256,address)", {task_id, aggregator});
}
Bytes cancel_task(const U256& task_id) {
  return call("cancelTask(uint256)", {task_id});
}
Bytes open_round(const U256& task_id) {
  return call("openRound(uint256)", {task_id});
}
Bytes draw_roles(const U256& task_id) {
  return call("drawRoles(uint256)", {task_id});
}
Bytes commit_update(const U256& task_id, const U256& round, const Hash32& update_hash) {
  return call("commitUpdate(uint256,uint256,bytes32)", {task_id, round, update_hash});
}
Bytes post_candidate(const U256& task_id, const U256& round, const Hash32& model_hash,
                     std::span<const U256> included) {
  return call("postCandidate(uint256,uint256,bytes32,uint256[])",
              {task_id, round, model_hash, bitmap(included)});
}
Bytes commit_vote(const U256& task_id, const U256& round, const Hash32& commitment) {
  return call("commitVote(uint256,uint256,bytes32)", {task_id, round, commitment});
}
Bytes reveal_vote(const U256& task_id, const U256& round, int score,
                  std::span<const U256> objections, const Hash32& salt) {
  return call("revealVote(uint256,uint256,int16,uint256[],bytes32)",
              {task_id, round, Value::int_(score), bitmap(objections), salt});
}
Bytes finalize_round(const U256& task_id) {
  return call("finalizeRound(uint256)", {task_id});
}
Bytes abandon_round(const U256& task_id) {
  return call("abandonRound(uint256)", {task_id});
}
Bytes report_equivocation(const U256& task_id, const U256& round, const Address& node,
                          const Hash32& update_hash, const U256& num_samples,
                          const Bytes& signature) {
  return call("reportEquivocation(uint256,uint256,address,bytes32,uint256,bytes)",
              {task_id, round, node, update_hash, num_samples, signature});
}

std::vector<std::string> function_signatures() {
  return {"createTask(" + task_params_tuple() + ")",
          "stake(uint256,uint256)",
          "unstake(uint256,uint256)",
          "withdraw(uint256)",
          "join(uint256)",
          "joinDisplacing(uint256,address)",
          "leave(uint256)",
          "claim(uint256)",
          "setAggregator(uint256,address)",
          "cancelTask(uint256)",
          "openRound(uint256)",
          "drawRoles(uint256)",
          "commitUpdate(uint256,uint256,bytes32)",
          "postCandidate(uint256,uint256,bytes32,uint256[])",
          "commitVote(uint256,uint256,bytes32)",
          "revealVote(uint256,uint256,int16,uint256[],bytes32)",
          "finalizeRound(uint256)",
          "abandonRound(uint256)",
          "reportEquivocation(uint256,uint256,address,bytes32,uint256,bytes)",
          "taskCount()",
          "getTask(uint256)",
          "getRound(uint256,uint256)",
          "participants(uint256)",
          "members(uint256)",
          "roleOf(uint256,uint256,address)",
          "entryOf(uint256,uint256,address)",
          "nodeInfo(uint256,address)",
          "includedOf(uint256,uint256)",
          "objectionStake(uint256,uint256,uint256)",
          "updateDigest(uint256,uint256,bytes32,uint256)",
          "voteCommitment(uint256,uint256,address,int16,uint256[],bytes32)",
          "DOMAIN_SEPARATOR()"};
}

const abi::Event& task_created_event() {
  static const abi::Event e =
      make_event("TaskCreated(uint256,address," + task_params_tuple() + ")", {true, true, false});
  return e;
}
const abi::Event& round_opened_event() {
  static const abi::Event e =
      make_event("RoundOpened(uint256,uint256,uint256,uint256)", {true, true, false, false});
  return e;
}
const abi::Event& roles_drawn_event() {
  static const abi::Event e = make_event("RolesDrawn(uint256,uint256,bytes32,uint256,uint256)",
                                         {true, true, false, false, false});
  return e;
}
const abi::Event& update_committed_event() {
  static const abi::Event e =
      make_event("UpdateCommitted(uint256,uint256,address,bytes32)", {true, true, true, false});
  return e;
}
const abi::Event& candidate_posted_event() {
  static const abi::Event e =
      make_event("CandidatePosted(uint256,uint256,bytes32,bytes32,bytes32,uint256)",
                 {true, true, false, false, false, false});
  return e;
}
const abi::Event& round_finalized_event() {
  static const abi::Event e =
      make_event("RoundFinalized(uint256,uint256,bytes32,bool,int256,uint256,uint256)",
                 {true, true, false, false, false, false, false});
  return e;
}
const abi::Event& round_abandoned_event() {
  static const abi::Event e =
      make_event("RoundAbandoned(uint256,uint256,uint8)", {true, true, false});
  return e;
}
const abi::Event& rewarded_event() {
  static const abi::Event e =
      make_event("Rewarded(uint256,uint256,address,uint256)", {true, true, true, false});
  return e;
}
const abi::Event& slashed_event() {
  static const abi::Event e =
      make_event("Slashed(uint256,uint256,address,uint256)", {true, true, true, false});
  return e;
}

std::vector<std::string> event_signatures() {
  std::vector<std::string> out;
  for (const abi::Event* e :
       {&task_created_event(), &round_opened_event(), &roles_drawn_event(),
        &update_committed_event(), &candidate_posted_event(), &round_finalized_event(),
        &round_abandoned_event(), &rewarded_event(), &slashed_event()})
    out.push_back(e->signature.canonical());
  return out;
}

const ErrorRegistry& errors() {
  static const ErrorRegistry reg = [] {
    ErrorRegistry r;
    r.add("AlreadyCommitted(address)", {"node"});
    r.add("AlreadyJoined(address)", {"node"});
    r.add("AlreadyRevealed(address)", {"node"});
    r.add("AmountTooLarge(uint256)", {"amount"});
    r.add("BadBitmap(uint256)", {"index"});
    r.add("BadReveal(address)", {"node"});
    r.add("BadScore(int256)", {"score"});
    r.add("BadSignature(address)", {"node"});
    r.add("BadTaskParams(string)", {"reason"});
    r.add("CannotDisplace(address,uint256,uint256)", {"member", "memberStake", "joinerStake"});
    r.add("ExitWindow(uint256)", {"opensAt"});
    r.add("InsufficientStake(uint256,uint256)", {"stake", "requested"});
    r.add("NoParticipants()");
    r.add("NoRoundInFlight()");
    r.add("NodeBound(address,uint256)", {"node", "round"});
    r.add("NotAggregator(address)", {"caller"});
    r.add("NotCommitted(address)", {"node"});
    r.add("NotCreator(address)", {"caller"});
    r.add("NotEquivocation(address)", {"node"});
    r.add("NotJoined(address)", {"node"});
    r.add("NotParticipant(address)", {"node"});
    r.add("NotUnlocked(uint256)", {"unlockAt"});
    r.add("NothingToClaim()");
    r.add("RoundInFlight(uint256)", {"round"});
    r.add("StakeTooSmall(uint256,uint256)", {"stake", "minStake"});
    r.add("TaskFull(uint256)", {"maxMembers"});
    r.add("TaskHasEnded(uint256)", {"taskId"});
    r.add("TaskNotIdle(uint256)", {"idleUntil"});
    r.add("TooEarly(uint256)", {"at"});
    r.add("TooLate(uint256)", {"deadline"});
    r.add("UnknownTask(uint256)", {"taskId"});
    r.add("UnsupportedToken(uint256,uint256)", {"requested", "received"});
    r.add("WrongRole(address,uint8)", {"node", "required"});
    r.add("WrongRound(uint256,uint256)", {"expected", "given"});
    r.add("WrongState(uint256,uint8)", {"round", "state"});
    r.add("ZeroAmount()");
    r.add("ReentrancyGuardReentrantCall()");
    r.add("SafeERC20FailedOperation(address)", {"token"});
    r.add("InvalidShortString()");
    r.add("StringTooLong(string)", {"str"});
    r.add("ERC20InsufficientBalance(address,uint256,uint256)", {"sender", "balance", "needed"});
    r.add("ERC20InsufficientAllowance(address,uint256,uint256)",
          {"spender", "allowance", "needed"});
    r.add("ERC20InvalidSender(address)", {"sender"});
    r.add("ERC20InvalidReceiver(address)", {"receiver"});
    r.add("ERC20InvalidApprover(address)", {"approver"});
    r.add("ERC20InvalidSpender(address)", {"spender"});
    return r;
  }();
  return reg;
}

U256 task_id_from_receipt(const Receipt& r, const Address& contract) {
  for (const auto& l : r.logs)
    if (l.address == contract && !l.topics.empty() && l.topics[0] == task_created_event().topic0())
      return task_created_event().decode_log(l.topics, l.data)[0].word();
  throw ChainError("no TaskCreated event in transaction " + to_hex(r.tx_hash));
}

std::pair<U256, std::uint64_t> opened_from_receipt(const Receipt& r, const Address& contract) {
  for (const auto& l : r.logs)
    if (l.address == contract && !l.topics.empty() &&
        l.topics[0] == round_opened_event().topic0()) {
      auto v = round_opened_event().decode_log(l.topics, l.data);
      return {v[1].word(), small(v[3])};
    }
  throw ChainError("no RoundOpened event in transaction " + to_hex(r.tx_hash));
}

}  // namespace alliance_v2

std::vector<Value> AllianceTaskV2Contract::view(const std::string& signature,
                                                const std::vector<Value>& args,
                                                const std::vector<std::string>& outputs) {
  return call_view(eth_, address_, signature, args, outputs,
                   "is the address (\"allianceTaskV2\" of the deployment file) an AllianceTaskV2 "
                   "on this chain?");
}

U256 AllianceTaskV2Contract::task_count() {
  return view("taskCount()", {}, {"uint256"})[0].word();
}

V2TaskInfo AllianceTaskV2Contract::get_task(const U256& task_id) {
  const std::vector<Value> decoded =
      view("getTask(uint256)", {task_id},
           {std::string("(address,address,address,uint32,uint32,uint32,uint32,bool,bool,uint16,"
                        "uint16,uint16,uint16,uint16,uint64,uint256,uint256,uint256,bytes32,"
                        "bytes32,bytes32,") +
            kWindowsTuple + ")"});
  const auto& v = decoded[0].list();
  V2TaskInfo t;
  t.creator = v[0].address();
  t.aggregator = v[1].address();
  t.token = v[2].address();
  t.total_rounds = static_cast<std::uint32_t>(small(v[3]));
  t.finalized_rounds = static_cast<std::uint32_t>(small(v[4]));
  t.current_round = static_cast<std::uint32_t>(small(v[5]));
  t.participant_count = static_cast<std::uint32_t>(small(v[6]));
  t.in_flight = v[7].boolean();
  t.ended = v[8].boolean();
  t.proposer_bps = static_cast<std::uint16_t>(small(v[9]));
  t.slash_bps = static_cast<std::uint16_t>(small(v[10]));
  t.quorum_bps = static_cast<std::uint16_t>(small(v[11]));
  t.tolerance_bps = static_cast<std::uint16_t>(small(v[12]));
  t.max_members = static_cast<std::uint16_t>(small(v[13]));
  t.last_closed_at = small(v[14]);
  t.min_stake = v[15].word();
  t.pool = v[16].word();
  t.creator_balance = v[17].word();
  t.model_spec_hash = v[18].bytes32();
  t.model_hash = v[19].bytes32();
  t.rule_hash = v[20].bytes32();
  t.windows = windows_of(v[21]);
  return t;
}

V2RoundInfo AllianceTaskV2Contract::get_round(const U256& task_id, const U256& round) {
  const std::vector<Value> decoded =
      view("getRound(uint256,uint256)", {task_id, round},
           {"(uint8,uint32,uint32,uint32,uint32,uint32,uint32,uint64,uint64,uint64,uint64,uint64,"
            "uint64,bytes32,bytes32,bytes32,bytes32,int256,bool,uint256,uint256,uint256,"
            "uint256)"});
  const auto& v = decoded[0].list();
  V2RoundInfo r;
  const auto state = small(v[0]);
  if (state > 5) throw ChainError("getRound: unknown round state " + std::to_string(state));
  r.state = static_cast<V2RoundState>(state);
  r.participant_count = static_cast<std::uint32_t>(small(v[1]));
  r.proposer_count = static_cast<std::uint32_t>(small(v[2]));
  r.voter_count = static_cast<std::uint32_t>(small(v[3]));
  r.update_commits = static_cast<std::uint32_t>(small(v[4]));
  r.vote_commits = static_cast<std::uint32_t>(small(v[5]));
  r.reveals = static_cast<std::uint32_t>(small(v[6]));
  r.seed_block = small(v[7]);
  r.propose_deadline = small(v[8]);
  r.post_deadline = small(v[9]);
  r.commit_deadline = small(v[10]);
  r.reveal_deadline = small(v[11]);
  r.closed_at = small(v[12]);
  r.seed = v[13].bytes32();
  r.model_hash = v[14].bytes32();
  r.included_hash = v[15].bytes32();
  r.rule_hash = v[16].bytes32();
  r.median = small_signed(v[17].word());
  r.accepted = v[18].boolean();
  r.revealed_stake = v[19].word();
  r.voter_stake = v[20].word();
  r.paid = v[21].word();
  r.slashed = v[22].word();
  return r;
}

std::vector<Address> AllianceTaskV2Contract::participants(const U256& task_id) {
  std::vector<Address> out;
  const std::vector<Value> decoded = view("participants(uint256)", {task_id}, {"address[]"});
  for (const auto& a : decoded[0].list()) out.push_back(a.address());
  return out;
}

std::vector<Address> AllianceTaskV2Contract::members(const U256& task_id) {
  std::vector<Address> out;
  const std::vector<Value> decoded = view("members(uint256)", {task_id}, {"address[]"});
  for (const auto& a : decoded[0].list()) out.push_back(a.address());
  return out;
}

Role AllianceTaskV2Contract::role_of(const U256& task_id, const U256& round, const Address& node) {
  return small(view("roleOf(uint256,uint256,address)", {task_id, round, node}, {"uint8"})[0]) == 1
             ? Role::Proposer
             : Role::Voter;
}

V2Entry AllianceTaskV2Contract::entry_of(const U256& task_id, const U256& round,
                                         const Address& node) {
  const std::vector<Value> decoded = view("entryOf(uint256,uint256,address)",
                                          {task_id, round, node}, {"(bytes32,int16,bool,bool)"});
  const auto& v = decoded[0].list();
  return V2Entry{v[0].bytes32(), static_cast<int>(small_signed(v[1].word())), v[2].boolean(),
                 v[3].boolean()};
}

V2NodeInfo AllianceTaskV2Contract::node_info(const U256& task_id, const Address& node) {
  const std::vector<Value> decoded = view("nodeInfo(uint256,address)", {task_id, node},
                                          {"(uint256,uint256,uint256,uint256,bool,bool)"});
  const auto& v = decoded[0].list();
  return V2NodeInfo{v[0].word(), v[1].word(),    v[2].word(),
                    v[3].word(), v[4].boolean(), v[5].boolean()};
}

std::vector<U256> AllianceTaskV2Contract::included_of(const U256& task_id, const U256& round) {
  std::vector<U256> out;
  const std::vector<Value> decoded =
      view("includedOf(uint256,uint256)", {task_id, round}, {"uint256[]"});
  for (const auto& w : decoded[0].list()) out.push_back(w.word());
  return out;
}

U256 AllianceTaskV2Contract::objection_stake(const U256& task_id, const U256& round,
                                             std::uint64_t index) {
  return view("objectionStake(uint256,uint256,uint256)", {task_id, round, U256(index)},
              {"uint256"})[0]
      .word();
}

Hash32 AllianceTaskV2Contract::update_digest(const U256& task_id, const U256& round,
                                             const Hash32& update_hash, const U256& num_samples) {
  return view("updateDigest(uint256,uint256,bytes32,uint256)",
              {task_id, round, update_hash, num_samples}, {"bytes32"})[0]
      .bytes32();
}

Hash32 AllianceTaskV2Contract::vote_commitment(const U256& task_id, const U256& round,
                                               const Address& voter, int score,
                                               std::span<const U256> objections,
                                               const Hash32& salt) {
  return view("voteCommitment(uint256,uint256,address,int16,uint256[],bytes32)",
              {task_id, round, voter, Value::int_(score), bitmap(objections), salt}, {"bytes32"})[0]
      .bytes32();
}

Hash32 AllianceTaskV2Contract::domain_separator() {
  return view("DOMAIN_SEPARATOR()", {}, {"bytes32"})[0].bytes32();
}

std::vector<Log> AllianceTaskV2Contract::round_logs(const abi::Event& e, const U256& task_id,
                                                    const U256& round, std::uint64_t from_block) {
  LogFilter f;
  f.address = address_;
  f.from_block = from_block;
  f.topics = {e.topic0(), Hash32(task_id.to_be_bytes()), Hash32(round.to_be_bytes())};
  return eth_.get_logs(f);
}

std::vector<V2RoundFinalizedEvent> AllianceTaskV2Contract::round_finalized_events(
    const U256& task_id, const U256& round, std::uint64_t from_block) {
  std::vector<V2RoundFinalizedEvent> out;
  const auto& e = alliance_v2::round_finalized_event();
  for (const auto& l : round_logs(e, task_id, round, from_block)) {
    const auto v = e.decode_log(l.topics, l.data);
    out.push_back({v[0].word(), v[1].word(), v[2].bytes32(), v[3].boolean(),
                   small_signed(v[4].word()), v[5].word(), v[6].word(), l.tx_hash, l.block_number});
  }
  return out;
}

std::vector<V2RoundAbandonedEvent> AllianceTaskV2Contract::round_abandoned_events(
    const U256& task_id, const U256& round, std::uint64_t from_block) {
  std::vector<V2RoundAbandonedEvent> out;
  const auto& e = alliance_v2::round_abandoned_event();
  for (const auto& l : round_logs(e, task_id, round, from_block)) {
    const auto v = e.decode_log(l.topics, l.data);
    out.push_back({v[0].word(), v[1].word(), static_cast<std::uint8_t>(small(v[2])), l.tx_hash,
                   l.block_number});
  }
  return out;
}

std::vector<V2Booking> AllianceTaskV2Contract::bookings(const U256& task_id, const U256& round,
                                                        bool slashed, std::uint64_t from_block) {
  std::vector<V2Booking> out;
  const auto& e = slashed ? alliance_v2::slashed_event() : alliance_v2::rewarded_event();
  for (const auto& l : round_logs(e, task_id, round, from_block)) {
    const auto v = e.decode_log(l.topics, l.data);
    out.push_back({v[2].address(), v[3].word()});
  }
  return out;
}

}  // namespace murmur::chain
