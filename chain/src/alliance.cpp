#include "murmur/chain/alliance.hpp"

#include "murmur/chain/contract_view.hpp"
#include "murmur/chain/errors.hpp"

namespace murmur::chain {
namespace {

using abi::Value;

constexpr const char* kTaskParamsTuple =
    "(address,uint256,uint256,uint256,uint256,uint256,address,bytes32,bytes32)";

// Parsing a signature costs about a microsecond: no cache, so the binding stays thread-safe.
Bytes call(const std::string& signature, std::vector<Value> args) {
  return abi::encode_call(abi::Signature::parse(signature), args);
}

std::uint64_t small(const Value& v) {
  return v.word().to_u64();
}

abi::Event make_event(const std::string& signature, std::vector<bool> indexed) {
  return abi::Event{abi::Signature::parse(signature), std::move(indexed)};
}

}  // namespace

namespace alliance {

Bytes create_task(const TaskParams& p) {
  std::vector<Value> tuple{p.token,      p.reward_pool,     p.total_rounds,
                           p.min_stake,  p.proposer_bps,    p.slash_bps,
                           p.aggregator, p.model_spec_hash, p.initial_model_hash};
  return call(std::string("createTask(") + kTaskParamsTuple + ")", {Value(std::move(tuple))});
}
Bytes stake(const U256& task_id, const U256& amount) {
  return call("stake(uint256,uint256)", {task_id, amount});
}
Bytes unstake(const U256& task_id, const U256& amount) {
  return call("unstake(uint256,uint256)", {task_id, amount});
}
Bytes join(const U256& task_id) {
  return call("join(uint256)", {task_id});
}
Bytes leave(const U256& task_id) {
  return call("leave(uint256)", {task_id});
}
Bytes claim(const U256& task_id) {
  return call("claim(uint256)", {task_id});
}
Bytes start_round(const U256& task_id) {
  return call("startRound(uint256)", {task_id});
}
Bytes abandon_round(const U256& task_id) {
  return call("abandonRound(uint256)", {task_id});
}

Bytes finalize_round(const U256& task_id, const U256& round, const Hash32& model_hash,
                     const std::vector<SignedVote>& votes,
                     const std::vector<Address>& flagged_proposers) {
  std::vector<Value> vs;
  for (const auto& v : votes)
    vs.push_back(Value(std::vector<Value>{v.voter, Value::int_(v.score), v.signature}));
  std::vector<Value> fs(flagged_proposers.begin(), flagged_proposers.end());
  return call("finalizeRound(uint256,uint256,bytes32,(address,int8,bytes)[],address[])",
              {task_id, round, model_hash, Value(std::move(vs)), Value(std::move(fs))});
}

std::vector<std::string> function_signatures() {
  return {std::string("createTask(") + kTaskParamsTuple + ")",
          "stake(uint256,uint256)",
          "unstake(uint256,uint256)",
          "join(uint256)",
          "leave(uint256)",
          "claim(uint256)",
          "startRound(uint256)",
          "abandonRound(uint256)",
          "finalizeRound(uint256,uint256,bytes32,(address,int8,bytes)[],address[])",
          "taskCount()",
          "getTask(uint256)",
          "getRound(uint256,uint256)",
          "nodeInfo(uint256,address)",
          "roleOf(uint256,uint256,address)",
          "voteDigest(uint256,uint256,bytes32,int8)",
          "DOMAIN_SEPARATOR()",
          "roundReward(uint256)",
          "participants(uint256)",
          "members(uint256)"};
}

const abi::Event& round_finalized_event() {
  static const abi::Event e = make_event(
      "RoundFinalized(uint256,uint256,bytes32,bool,int256,uint256,uint256,uint256,uint256)",
      {true, true, false, false, false, false, false, false, false});
  return e;
}
const abi::Event& round_started_event() {
  static const abi::Event e =
      make_event("RoundStarted(uint256,uint256,bytes32,uint256)", {true, true, false, false});
  return e;
}
const abi::Event& task_created_event() {
  static const abi::Event e = make_event(
      std::string("TaskCreated(uint256,address,") + kTaskParamsTuple + ")", {true, true, false});
  return e;
}

std::vector<std::string> event_signatures() {
  return {round_finalized_event().signature.canonical(),
          round_started_event().signature.canonical(), task_created_event().signature.canonical()};
}

const ErrorRegistry& errors() {
  static const ErrorRegistry reg = [] {
    ErrorRegistry r;
    r.add("BadTaskParams(string)", {"reason"});
    r.add("UnknownTask(uint256)", {"taskId"});
    r.add("UnknownRound(uint256,uint256)", {"taskId", "round"});
    r.add("TaskHasEnded(uint256)", {"taskId"});
    r.add("NotAggregator(address)", {"caller"});
    r.add("ZeroAmount()");
    r.add("UnsupportedToken(uint256,uint256)", {"requested", "received"});
    r.add("StakeTooSmall(uint256,uint256)", {"stake", "minStake"});
    r.add("InsufficientStake(uint256,uint256)", {"stake", "requested"});
    r.add("AlreadyJoined(address)", {"node"});
    r.add("NotJoined(address)", {"node"});
    r.add("TaskFull(uint256)", {"maxMembers"});
    r.add("NodeBound(address,uint256)", {"node", "round"});
    r.add("RoundStillOpen(uint256)", {"round"});
    r.add("RoundNotOpen(uint256)", {"round"});
    r.add("WrongRound(uint256,uint256)", {"expected", "given"});
    r.add("NoParticipants()");
    r.add("BadScore(address,int8)", {"voter", "score"});
    r.add("BadSignature(address)", {"voter"});
    r.add("NotParticipant(address)", {"node"});
    r.add("WrongRole(address,uint8)", {"node", "required"});
    r.add("DuplicateVote(address)", {"voter"});
    r.add("DuplicateFlag(address)", {"proposer"});
    r.add("RoundNotExpired(uint256)", {"deadline"});
    r.add("NothingToClaim()");
    // OpenZeppelin errors the contract can raise.
    r.add("ReentrancyGuardReentrantCall()");
    r.add("SafeCastOverflowedUintDowncast(uint8,uint256)", {"bits", "value"});
    r.add("SafeERC20FailedOperation(address)", {"token"});
    r.add("InvalidShortString()");
    r.add("StringTooLong(string)", {"str"});
    // ERC-20 (OpenZeppelin 5) errors surfacing from token transfers.
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

RoundFinalizedEvent decode_round_finalized(const Log& log) {
  auto v = round_finalized_event().decode_log(log.topics, log.data);
  RoundFinalizedEvent e;
  e.task_id = v[0].word();
  e.round = v[1].word();
  e.model_hash = v[2].bytes32();
  e.accepted = v[3].boolean();
  e.vote_sum = v[4].word();
  e.reward_paid = v[5].word();
  e.slashed = v[6].word();
  e.to_pool = v[7].word();
  e.to_creator = v[8].word();
  e.tx_hash = log.tx_hash;
  e.block_number = log.block_number;
  return e;
}

U256 task_id_from_receipt(const Receipt& r, const Address& contract) {
  for (const auto& l : r.logs)
    if (l.address == contract && !l.topics.empty() && l.topics[0] == task_created_event().topic0())
      return task_created_event().decode_log(l.topics, l.data)[0].word();
  throw ChainError("no TaskCreated event in transaction " + to_hex(r.tx_hash));
}

std::pair<U256, Hash32> round_from_receipt(const Receipt& r, const Address& contract) {
  for (const auto& l : r.logs)
    if (l.address == contract && !l.topics.empty() &&
        l.topics[0] == round_started_event().topic0()) {
      auto v = round_started_event().decode_log(l.topics, l.data);
      return {v[1].word(), v[2].bytes32()};
    }
  throw ChainError("no RoundStarted event in transaction " + to_hex(r.tx_hash));
}

}  // namespace alliance

std::vector<Value> AllianceTaskContract::view(const std::string& signature,
                                              const std::vector<Value>& args,
                                              const std::vector<std::string>& outputs) {
  return call_view(eth_, address_, signature, args, outputs,
                   "is --deployment pointing at an AllianceTask on this chain?");
}

U256 AllianceTaskContract::task_count() {
  return view("taskCount()", {}, {"uint256"})[0].word();
}

TaskInfo AllianceTaskContract::get_task(const U256& task_id) {
  auto v = view("getTask(uint256)", {task_id},
                {"(address,uint32,uint32,uint32,address,uint16,uint16,bool,uint32,address,uint256,"
                 "uint256,uint256,"
                 "bytes32,bytes32)"})[0]
               .list();
  TaskInfo t;
  t.creator = v[0].address();
  t.total_rounds = static_cast<std::uint32_t>(small(v[1]));
  t.finalized_rounds = static_cast<std::uint32_t>(small(v[2]));
  t.current_round = static_cast<std::uint32_t>(small(v[3]));
  t.token = v[4].address();
  t.proposer_bps = static_cast<std::uint16_t>(small(v[5]));
  t.slash_bps = static_cast<std::uint16_t>(small(v[6]));
  t.round_open = v[7].boolean();
  t.participant_count = static_cast<std::uint32_t>(small(v[8]));
  t.aggregator = v[9].address();
  t.min_stake = v[10].word();
  t.pool = v[11].word();
  t.creator_balance = v[12].word();
  t.model_spec_hash = v[13].bytes32();
  t.model_hash = v[14].bytes32();
  return t;
}

RoundInfo AllianceTaskContract::get_round(const U256& task_id, const U256& round) {
  auto v = view("getRound(uint256,uint256)", {task_id, round},
                {"(bytes32,bytes32,uint64,uint32,uint8,bool,int256,uint256,uint256)"})[0]
               .list();
  RoundInfo r;
  r.seed = v[0].bytes32();
  r.model_hash = v[1].bytes32();
  r.started_at = small(v[2]);
  r.participant_count = static_cast<std::uint32_t>(small(v[3]));
  r.state = static_cast<std::uint8_t>(small(v[4]));
  r.accepted = v[5].boolean();
  r.vote_sum = v[6].word();
  r.reward_paid = v[7].word();
  r.slashed = v[8].word();
  return r;
}

NodeInfo AllianceTaskContract::node_info(const U256& task_id, const Address& node) {
  auto v =
      view("nodeInfo(uint256,address)", {task_id, node}, {"uint256", "uint256", "bool", "bool"});
  return NodeInfo{v[0].word(), v[1].word(), v[2].boolean(), v[3].boolean()};
}

Role AllianceTaskContract::role_of(const U256& task_id, const U256& round, const Address& node) {
  return small(view("roleOf(uint256,uint256,address)", {task_id, round, node}, {"uint8"})[0]) == 1
             ? Role::Proposer
             : Role::Voter;
}

Hash32 AllianceTaskContract::vote_digest(const U256& task_id, const U256& round,
                                         const Hash32& model_hash, std::int8_t score) {
  return view("voteDigest(uint256,uint256,bytes32,int8)",
              {task_id, round, model_hash, Value::int_(score)}, {"bytes32"})[0]
      .bytes32();
}

Hash32 AllianceTaskContract::domain_separator() {
  return view("DOMAIN_SEPARATOR()", {}, {"bytes32"})[0].bytes32();
}

U256 AllianceTaskContract::round_reward(const U256& task_id) {
  return view("roundReward(uint256)", {task_id}, {"uint256"})[0].word();
}

std::vector<Address> AllianceTaskContract::participants(const U256& task_id) {
  std::vector<Address> out;
  // Keep the decoded values alive: a range-for over view(...)[0].list() would dangle (pre-C++23).
  std::vector<Value> decoded = view("participants(uint256)", {task_id}, {"address[]"});
  for (const auto& a : decoded[0].list()) out.push_back(a.address());
  return out;
}

std::vector<Address> AllianceTaskContract::members(const U256& task_id) {
  std::vector<Address> out;
  // Keep the decoded values alive: a range-for over view(...)[0].list() would dangle (pre-C++23).
  std::vector<Value> decoded = view("members(uint256)", {task_id}, {"address[]"});
  for (const auto& a : decoded[0].list()) out.push_back(a.address());
  return out;
}

std::vector<RoundFinalizedEvent> AllianceTaskContract::round_finalized_events(
    const U256& task_id, const U256& round, std::uint64_t from_block) {
  LogFilter f;
  f.address = address_;
  f.from_block = from_block;
  f.topics = {alliance::round_finalized_event().topic0(), Hash32(task_id.to_be_bytes()),
              Hash32(round.to_be_bytes())};
  std::vector<RoundFinalizedEvent> out;
  for (const auto& l : eth_.get_logs(f)) out.push_back(alliance::decode_round_finalized(l));
  return out;
}

namespace erc20 {
Bytes approve(const Address& spender, const U256& amount) {
  return call("approve(address,uint256)", {spender, amount});
}
Bytes transfer(const Address& to, const U256& amount) {
  return call("transfer(address,uint256)", {to, amount});
}
Bytes mint(const Address& to, const U256& amount) {
  return call("mint(address,uint256)", {to, amount});
}
U256 balance_of(EthClient& eth, const Address& token, const Address& owner) {
  Bytes out = eth.call(CallRequest{std::nullopt, token, call("balanceOf(address)", {owner}), {}});
  abi::Type t = abi::Type::parse("uint256");
  return abi::decode({&t, 1}, out)[0].word();
}
U256 allowance(EthClient& eth, const Address& token, const Address& owner, const Address& spender) {
  Bytes out = eth.call(
      CallRequest{std::nullopt, token, call("allowance(address,address)", {owner, spender}), {}});
  abi::Type t = abi::Type::parse("uint256");
  return abi::decode({&t, 1}, out)[0].word();
}
}  // namespace erc20

}  // namespace murmur::chain
