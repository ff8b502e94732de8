#include "murmur/chain/arena_task.hpp"

#include "murmur/chain/contract_view.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::chain {

namespace {

using abi::Value;

constexpr const char* kParamsTuple =
    "(address,uint256,uint256,uint256,uint64,uint64,uint64,uint16,uint16,uint16,uint16,uint16,"
    "uint16,bytes32,bytes32)";
constexpr const char* kTaskTuple =
    "(address,address,uint8,uint16,uint16,uint16,uint16,uint16,uint16,uint16,uint16,uint16,"
    "uint16,uint64,uint64,uint64,uint64,uint64,uint64,bytes32,bytes32,bytes32,uint256,uint256,"
    "uint256,uint256,uint256)";
constexpr const char* kParticipantTuple =
    "(uint8,uint16,uint16,bool,uint16,uint128,uint128,uint128,bytes32,string)";

Bytes call(const std::string& signature, std::vector<Value> args) {
  return abi::encode_call(abi::Signature::parse(signature), args);
}

std::uint64_t small(const Value& v) {
  return v.word().to_u64();
}

std::vector<Value> words(const std::vector<std::uint64_t>& xs) {
  return std::vector<Value>(xs.begin(), xs.end());
}

}  // namespace

std::string to_string(ArenaRole r) {
  switch (r) {
    case ArenaRole::Node: return "node";
    case ArenaRole::Validator: return "validator";
    default: return "none";
  }
}

std::string to_string(ArenaPhase p) {
  switch (p) {
    case ArenaPhase::Open: return "open";
    case ArenaPhase::Sealing: return "sealing";
    case ArenaPhase::Scoring: return "scoring";
    case ArenaPhase::Finalized: return "finalized";
    default: return "none";
  }
}

namespace arena {

Bytes create_task(const ArenaTaskParams& p) {
  std::vector<Value> t{p.token,
                       p.reward_pool,
                       p.min_node_stake,
                       p.min_validator_stake,
                       p.submit_window,
                       p.commit_window,
                       p.reveal_window,
                       p.validators_per_submission,
                       p.gamma_bps,
                       p.rank_ratio_bps,
                       p.tolerance_bps,
                       p.slash_bps,
                       p.max_commission_bps,
                       p.base_model_hash,
                       p.eval_set_hash};
  return call(std::string("createTask(") + kParamsTuple + ")", {Value(std::move(t))});
}

Bytes fund_pool(const U256& task_id, const U256& amount) {
  return call("fundPool(uint256,uint256)", {task_id, amount});
}

Bytes stake(const U256& task_id, ArenaRole role, const U256& amount, std::uint64_t commission_bps) {
  return call("stake(uint256,uint8,uint256,uint256)",
              {task_id, static_cast<std::uint8_t>(role), amount, commission_bps});
}

Bytes delegate(const U256& task_id, const Address& to, const U256& amount) {
  return call("delegate(uint256,address,uint256)", {task_id, to, amount});
}

Bytes undelegate(const U256& task_id, const Address& to, const U256& amount) {
  return call("undelegate(uint256,address,uint256)", {task_id, to, amount});
}

Bytes submit(const U256& task_id, const Hash32& adapter_hash, const std::string& uri) {
  return call("submit(uint256,bytes32,string)", {task_id, adapter_hash, uri});
}

Bytes close_submissions(const U256& task_id) {
  return call("closeSubmissions(uint256)", {task_id});
}

Bytes draw_assignments(const U256& task_id) {
  return call("drawAssignments(uint256)", {task_id});
}

Bytes commit_scores(const U256& task_id, const std::vector<std::uint64_t>& submissions,
                    const std::vector<Hash32>& commitments) {
  std::vector<Value> cs(commitments.begin(), commitments.end());
  return call("commitScores(uint256,uint256[],bytes32[])",
              {task_id, Value(words(submissions)), Value(std::move(cs))});
}

Bytes reveal_scores(const U256& task_id, const std::vector<std::uint64_t>& submissions,
                    const std::vector<std::uint64_t>& scores, const std::vector<Hash32>& salts) {
  std::vector<Value> ss(salts.begin(), salts.end());
  return call("revealScores(uint256,uint256[],uint64[],bytes32[])",
              {task_id, Value(words(submissions)), Value(words(scores)), Value(std::move(ss))});
}

Bytes finalize(const U256& task_id) {
  return call("finalize(uint256)", {task_id});
}
Bytes claim(const U256& task_id) {
  return call("claim(uint256)", {task_id});
}
Bytes withdraw(const U256& task_id) {
  return call("withdraw(uint256)", {task_id});
}

std::vector<std::string> function_signatures() {
  return {std::string("createTask(") + kParamsTuple + ")",
          "fundPool(uint256,uint256)",
          "stake(uint256,uint8,uint256,uint256)",
          "delegate(uint256,address,uint256)",
          "undelegate(uint256,address,uint256)",
          "submit(uint256,bytes32,string)",
          "closeSubmissions(uint256)",
          "drawAssignments(uint256)",
          "commitScores(uint256,uint256[],bytes32[])",
          "revealScores(uint256,uint256[],uint64[],bytes32[])",
          "finalize(uint256)",
          "claim(uint256)",
          "withdraw(uint256)",
          "taskCount()",
          "getTask(uint256)",
          "participant(uint256,address)",
          "rewardOf(uint256,address)",
          "delegationOf(uint256,address,address)",
          "taskStake(uint256)",
          "submissions(uint256)",
          "validators(uint256)",
          "resultOf(uint256,uint256)",
          "assignees(uint256,uint256)",
          "scoreOf(uint256,uint256,address)",
          "scoreCommitment(uint256,uint256,address,uint64,bytes32)"};
}

const ErrorRegistry& errors() {
  static const ErrorRegistry reg = [] {
    ErrorRegistry r;
    r.add("BadTaskParams(string)", {"what"});
    r.add("UnknownTask(uint256)", {"taskId"});
    r.add("ZeroAmount()");
    r.add("AmountTooLarge(uint256)", {"amount"});
    r.add("WrongPhase(uint8)", {"phase"});
    r.add("WrongRole(address,uint8)", {"who", "role"});
    r.add("StakeTooSmall(uint256,uint256)", {"stake", "minimum"});
    r.add("TaskFull(uint8,uint256)", {"role", "max"});
    r.add("CommissionTooHigh(uint256,uint256)", {"commissionBps", "maxBps"});
    r.add("NotDelegate(address)", {"delegate"});
    r.add("TooManyDelegators(address,uint256)", {"delegate", "max"});
    r.add("TooManyDelegations(uint256)", {"max"});
    r.add("InsufficientDelegation(uint256,uint256)", {"delegated", "requested"});
    r.add("WindowClosed(uint256)", {"deadline"});
    r.add("TooEarly(uint256)", {"at"});
    r.add("DuplicateAdapter(bytes32)", {"adapterHash"});
    r.add("BadSubmission(string)", {"what"});
    r.add("NotAssigned(address,uint256)", {"validator", "submission"});
    r.add("AlreadyCommitted(address,uint256)", {"validator", "submission"});
    r.add("NotCommitted(address,uint256)", {"validator", "submission"});
    r.add("AlreadyRevealed(address,uint256)", {"validator", "submission"});
    r.add("BadReveal(address,uint256)", {"validator", "submission"});
    r.add("BadScore(uint256)", {"score"});
    r.add("LengthMismatch()");
    r.add("NothingToClaim()");
    r.add("UnsupportedToken(uint256,uint256)", {"expected", "received"});
    r.add("ReentrancyGuardReentrantCall()");
    r.add("SafeERC20FailedOperation(address)", {"token"});
    r.add("ERC20InsufficientBalance(address,uint256,uint256)", {"sender", "balance", "needed"});
    r.add("ERC20InsufficientAllowance(address,uint256,uint256)",
          {"spender", "allowance", "needed"});
    return r;
  }();
  return reg;
}

U256 task_id_from_receipt(const Receipt& r, const Address& contract) {
  static const Hash32 topic0 =
      keccak256(std::string("TaskCreated(uint256,address,") + kParamsTuple + ")");
  for (const auto& l : r.logs)
    if (l.address == contract && l.topics.size() >= 2 && l.topics[0] == topic0)
      return U256::from_be_bytes(l.topics[1]);
  throw ChainError("no TaskCreated event in transaction " + to_hex(r.tx_hash));
}

}  // namespace arena

std::vector<Value> ArenaTaskContract::view(const std::string& signature,
                                           const std::vector<Value>& args,
                                           const std::vector<std::string>& outputs) {
  return call_view(eth_, address_, signature, args, outputs,
                   "is the deployment pointing at an ArenaTask on this chain?");
}

U256 ArenaTaskContract::task_count() {
  return view("taskCount()", {}, {"uint256"})[0].word();
}

ArenaTaskInfo ArenaTaskContract::get_task(const U256& task_id) {
  if (task_id.is_zero() || task_id > task_count())
    throw ChainError("task " + task_id.to_dec() + " does not exist on " + address_.to_checksum());
  auto v = view("getTask(uint256)", {task_id}, {kTaskTuple})[0].list();
  ArenaTaskInfo t;
  t.creator = v[0].address();
  t.token = v[1].address();
  t.phase = static_cast<ArenaPhase>(small(v[2]));
  std::uint16_t* u16[] = {&t.validators_per_submission,
                          &t.gamma_bps,
                          &t.rank_ratio_bps,
                          &t.tolerance_bps,
                          &t.slash_bps,
                          &t.max_commission_bps,
                          &t.node_count,
                          &t.validator_count,
                          &t.submission_count,
                          &t.delegation_count};
  for (std::size_t i = 0; i < 10; ++i) *u16[i] = static_cast<std::uint16_t>(small(v[3 + i]));
  std::uint64_t* u64[] = {&t.submit_deadline, &t.commit_deadline, &t.reveal_deadline,
                          &t.seed_block,      &t.commit_window,   &t.reveal_window};
  for (std::size_t i = 0; i < 6; ++i) *u64[i] = small(v[13 + i]);
  t.seed = v[19].bytes32();
  t.base_model_hash = v[20].bytes32();
  t.eval_set_hash = v[21].bytes32();
  t.min_node_stake = v[22].word();
  t.min_validator_stake = v[23].word();
  t.pool = v[24].word();
  t.creator_balance = v[25].word();
  t.total_stake = v[26].word();
  return t;
}

ArenaParticipant ArenaTaskContract::participant(const U256& task_id, const Address& who) {
  auto v = view("participant(uint256,address)", {task_id, who}, {kParticipantTuple})[0].list();
  ArenaParticipant p;
  p.role = static_cast<ArenaRole>(small(v[0]));
  p.index = static_cast<std::uint16_t>(small(v[1]));
  p.commission_bps = static_cast<std::uint16_t>(small(v[2]));
  p.submitted = v[3].boolean();
  p.submission = static_cast<std::uint16_t>(small(v[4]));
  p.reward = v[5].word();
  p.stake = v[6].word();
  p.delegated = v[7].word();
  p.adapter_hash = v[8].bytes32();
  p.adapter_uri = v[9].str();
  return p;
}

U256 ArenaTaskContract::reward_of(const U256& task_id, const Address& who) {
  return view("rewardOf(uint256,address)", {task_id, who}, {"uint256"})[0].word();
}

U256 ArenaTaskContract::delegation_of(const U256& task_id, const Address& to,
                                      const Address& delegator) {
  return view("delegationOf(uint256,address,address)", {task_id, to, delegator}, {"uint256"})[0]
      .word();
}

U256 ArenaTaskContract::task_stake(const U256& task_id) {
  return view("taskStake(uint256)", {task_id}, {"uint256"})[0].word();
}

namespace {
std::vector<Address> addresses(const Value& v) {
  std::vector<Address> out;
  for (const auto& a : v.list()) out.push_back(a.address());
  return out;
}
}  // namespace

std::vector<Address> ArenaTaskContract::submissions(const U256& task_id) {
  return addresses(view("submissions(uint256)", {task_id}, {"address[]"})[0]);
}

std::vector<Address> ArenaTaskContract::validators(const U256& task_id) {
  return addresses(view("validators(uint256)", {task_id}, {"address[]"})[0]);
}

ArenaResult ArenaTaskContract::result_of(const U256& task_id, std::uint64_t submission) {
  auto v =
      view("resultOf(uint256,uint256)", {task_id, submission}, {"(bool,uint64,uint32,uint128)"})[0]
          .list();
  ArenaResult r;
  if (v[0].boolean()) {
    r.consensus = small(v[1]);
    r.rank = static_cast<std::uint32_t>(small(v[2]));
  }
  r.reward = v[3].word();
  return r;
}

std::vector<Address> ArenaTaskContract::assignees(const U256& task_id, std::uint64_t submission) {
  return addresses(view("assignees(uint256,uint256)", {task_id, submission}, {"address[]"})[0]);
}

ArenaScoreEntry ArenaTaskContract::score_of(const U256& task_id, std::uint64_t submission,
                                            const Address& validator) {
  auto v = view("scoreOf(uint256,uint256,address)", {task_id, submission, validator},
                {"(bytes32,uint64,bool,uint32)"})[0]
               .list();
  ArenaScoreEntry e;
  e.commitment = v[0].bytes32();
  e.score = small(v[1]);
  e.revealed = v[2].boolean();
  return e;
}

}  // namespace murmur::chain
