#include "murmur/sim/simulate_chain.hpp"

#include <chrono>
#include <cstdio>

#include "murmur/chain/consensus.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/poster.hpp"
#include "murmur/client/node_keys.hpp"

namespace murmur::sim {

using client::derive_node_key;
namespace {

using chain::U256;
using Clock = std::chrono::steady_clock;

std::optional<std::filesystem::path> key_path(const std::filesystem::path& p) {
  return p.empty() ? std::nullopt : std::optional<std::filesystem::path>(p);
}

/// keccak256(seed ‖ node) mod 10000 < bps, with the 256-bit remainder taken limb by limb
/// (chain::is_proposer's arithmetic without U256 division: this runs 10^6 times per round).
bool proposer_fast(const chain::Hash32& seed, const chain::Address& node, std::uint64_t bps) {
  std::uint8_t buf[52];
  std::copy(seed.begin(), seed.end(), buf);
  std::copy(node.bytes.begin(), node.bytes.end(), buf + 32);
  const chain::Hash32 h = chain::keccak256(std::span<const std::uint8_t>(buf, 52));
  unsigned __int128 rem = 0;
  for (int limb = 0; limb < 4; ++limb) {
    std::uint64_t v = 0;
    for (int b = 0; b < 8; ++b) v = v << 8 | h[static_cast<std::size_t>(limb * 8 + b)];
    rem = ((rem << 64) | v) % 10000;
  }
  return static_cast<std::uint64_t>(rem) < bps;
}

}  // namespace

U256 token_units(std::uint64_t tokens) {
  return U256(tokens) * U256(1'000'000'000'000'000'000ull);
}

std::string format_tokens(const U256& wei) {
  const U256 unit(1'000'000'000'000'000'000ull);
  const U256 whole = wei / unit;
  const std::uint64_t cents = ((wei % unit) / U256(10'000'000'000'000'000ull)).to_u64();
  char buf[8];
  std::snprintf(buf, sizeof buf, ".%02llu", static_cast<unsigned long long>(cents));
  return whole.to_dec() + buf;
}

const char* task_contract_name(TaskContract c) {
  return c == TaskContract::kV2 ? "v2" : "v1";
}

TaskContract parse_task_contract(const std::string& name) {
  if (name == "v2" || name == "AllianceTaskV2") return TaskContract::kV2;
  if (name == "v1" || name == "AllianceTask") return TaskContract::kV1;
  throw std::invalid_argument("unknown task contract '" + name + "' (v2 or v1)");
}

namespace {

/// createTask on AllianceTaskV2 with `s`'s parameters; the task id.
U256 create_v2_task(chain::Wallet& creator, const chain::Deployment& dep, const ChainTaskSetup& s,
                    const chain::Address& aggregator) {
  chain::V2TaskParams p;
  p.token = dep.token;
  p.reward_pool = s.reward_pool;
  p.total_rounds = U256(s.rounds);
  p.min_stake = s.stake;
  p.max_members = U256(s.max_members ? s.max_members : std::max<std::size_t>(s.nodes, 2));
  p.proposer_bps = U256(s.proposer_bps);
  p.slash_bps = U256(s.slash_bps);
  p.quorum_bps = U256(s.quorum_bps);
  p.tolerance_bps = U256(s.tolerance_bps);
  p.aggregator = aggregator;
  p.model_spec_hash = s.model_spec_hash;
  p.initial_model_hash = s.initial_model_hash;
  p.rule_hash = chain::keccak256(s.rule);
  p.windows = s.windows;
  const auto receipt = creator.transact(*dep.alliance_task_v2, chain::alliance_v2::create_task(p));
  return chain::alliance_v2::task_id_from_receipt(receipt, *dep.alliance_task_v2);
}

}  // namespace

ChainTask create_simulation_task(const ChainTaskSetup& s, std::ostream* log) {
  const auto say = [&](const std::string& line) {
    if (log) *log << line << std::endl;
  };
  const bool v2 = s.contract == TaskContract::kV2;
  chain::RpcClient rpc(s.rpc);
  chain::EthClient eth(rpc, v2 ? &chain::alliance_v2::errors() : &chain::alliance::errors());
  ChainTask out;
  out.deployment = chain::load_deployment(s.deployment);
  if (v2 && !out.deployment.alliance_task_v2)
    throw std::runtime_error(s.deployment.string() +
                             " has no \"allianceTaskV2\" (deploy with scripts/chain.sh deploy)");
  out.contract = v2 ? *out.deployment.alliance_task_v2 : out.deployment.alliance_task;
  if (eth.chain_id() != out.deployment.chain_id)
    throw std::runtime_error("the node at " + s.rpc + " is not the chain of " +
                             s.deployment.string());
  const auto& dep = out.deployment;
  chain::Wallet creator(eth, chain::load_key(key_path(s.creator_key_file)));
  const chain::Address aggregator = s.aggregator.is_zero() ? creator.address() : s.aggregator;

  creator.transact(dep.token, chain::erc20::mint(creator.address(), s.reward_pool));
  creator.transact(dep.token, chain::erc20::approve(out.contract, s.reward_pool));
  if (v2) {
    out.task_id = create_v2_task(creator, dep, s, aggregator);
  } else {
    const chain::TaskParams params{dep.token,  s.reward_pool,        U256(s.rounds),
                                   s.stake,    U256(s.proposer_bps), U256(s.slash_bps),
                                   aggregator, s.model_spec_hash,    s.initial_model_hash};
    const auto receipt = creator.transact(dep.alliance_task, chain::alliance::create_task(params));
    out.task_id = chain::alliance::task_id_from_receipt(receipt, dep.alliance_task);
  }
  say("chain: task " + out.task_id.to_dec() + " on " + (v2 ? "AllianceTaskV2 " : "AllianceTask ") +
      out.contract.to_checksum() + " created by " + creator.address().to_checksum() + ": pool " +
      format_tokens(s.reward_pool) + ", " + std::to_string(s.rounds) + " rounds, proposers " +
      std::to_string(s.proposer_bps / 100) + "%, slash " + std::to_string(s.slash_bps / 100) + "%" +
      (v2 ? ", quorum " + std::to_string(s.quorum_bps / 100) + "%, tolerance " +
                std::to_string(s.tolerance_bps) + " bps, rule \"" + s.rule + "\""
          : std::string()) +
      ", aggregator " + aggregator.to_checksum());
  for (std::size_t i = 0; i < s.nodes; ++i) {
    const chain::PrivateKey key = derive_node_key(s.seed, i);
    out.nodes.push_back(key.address());
    creator.transact(key.address(), {}, s.gas_allowance);
    creator.transact(dep.token, chain::erc20::mint(key.address(), s.stake));
    chain::Wallet node(eth, key);
    node.transact(dep.token, chain::erc20::approve(out.contract, s.stake));
    if (v2) {
      node.transact(out.contract, chain::alliance_v2::stake(out.task_id, s.stake));
      node.transact(out.contract, chain::alliance_v2::join(out.task_id));
    } else {
      node.transact(dep.alliance_task, chain::alliance::stake(out.task_id, s.stake));
      node.transact(dep.alliance_task, chain::alliance::join(out.task_id));
    }
    if ((i + 1) % 5 == 0 || i + 1 == s.nodes)
      say("chain: " + std::to_string(i + 1) + "/" + std::to_string(s.nodes) + " nodes staked " +
          format_tokens(s.stake) + " and joined");
  }
  return out;
}

std::optional<std::pair<std::uint64_t, chain::Hash32>> find_prevrandao(
    const chain::Hash32& parent, const U256& task, const U256& round,
    const std::vector<chain::Address>& nodes, const std::vector<bool>& proposer,
    std::uint64_t proposer_bps, std::uint64_t max_tries) {
  for (std::uint64_t k = 1; k <= max_tries; ++k) {
    const chain::Hash32 seed = chain::round_seed(U256(k), parent, task, round);
    bool all = true;
    for (std::size_t i = 0; i < nodes.size() && all; ++i)
      all = proposer_fast(seed, nodes[i], proposer_bps) == proposer[i];
    if (all) return std::pair{k, seed};
  }
  return std::nullopt;
}

struct ChainRounds::Impl {
  Impl(const ChainRoundOptions& o, std::vector<chain::Address> n)
      : options(o),
        rpc(o.rpc),
        eth(rpc, &chain::alliance::errors()),
        deployment(chain::load_deployment(o.deployment)),
        wallet(eth, chain::load_key(key_path(o.aggregator_key_file))),
        contract(eth, deployment.alliance_task),
        outbox(o.outbox),
        poster(wallet, deployment.alliance_task, outbox),
        nodes(std::move(n)) {}

  ChainPosting finish(ChainPosting p, Clock::time_point t0) {
    p.after = balances();
    p.pool_after = contract.get_task(options.task_id).pool;
    p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return p;
  }
  std::vector<NodeBalance> balances() {
    std::vector<NodeBalance> out;
    for (const auto& a : nodes) {
      const auto info = contract.node_info(options.task_id, a);
      out.push_back({info.stake, info.reward});
    }
    return out;
  }

  ChainRoundOptions options;
  chain::RpcClient rpc;
  chain::EthClient eth;
  chain::Deployment deployment;
  chain::Wallet wallet;
  chain::AllianceTaskContract contract;
  chain::Outbox outbox;
  chain::Poster poster;
  std::vector<chain::Address> nodes;
};

ChainRounds::ChainRounds(const ChainRoundOptions& options, std::vector<chain::Address> nodes) {
  impl_ = std::make_unique<Impl>(options, std::move(nodes));
  Impl& s = *impl_;
  if (s.eth.chain_id() != s.deployment.chain_id)
    throw std::runtime_error("the node at " + options.rpc + " is not the chain of " +
                             options.deployment.string());
  const auto task = s.contract.get_task(options.task_id);
  if (task.aggregator != s.wallet.address())
    throw std::runtime_error("task " + options.task_id.to_dec() + "'s aggregator is " +
                             task.aggregator.to_checksum() + ", not the key given (" +
                             s.wallet.address().to_checksum() + ")");
  for (const auto& a : s.nodes)
    if (!s.contract.node_info(options.task_id, a).joined)
      throw std::runtime_error("node " + a.to_checksum() + " has not joined task " +
                               options.task_id.to_dec() +
                               " (murmur simulate setup-chain stakes the nodes)");
}

ChainRounds::~ChainRounds() = default;

ChainRoundStart ChainRounds::start_round(std::uint64_t round, const std::vector<bool>& proposer) {
  Impl& s = *impl_;
  const auto t0 = Clock::now();
  const auto task = s.contract.get_task(s.options.task_id);
  if (task.current_round + 1 != round || task.round_open)
    throw std::runtime_error("the chain's task is at round " + std::to_string(task.current_round) +
                             (task.round_open ? " (open)" : "") + ", murmurd at round " +
                             std::to_string(round) + ": use a fresh task for a fresh murmurd");
  const auto parent_block =
      s.eth.raw("eth_getBlockByNumber", nlohmann::json::array({"latest", false}));
  const chain::Hash32 parent = chain::hash_from_hex(parent_block.at("hash").get<std::string>());
  const auto found = find_prevrandao(parent, s.options.task_id, U256(round), s.nodes, proposer,
                                     task.proposer_bps, s.options.max_tries);
  if (!found)
    throw std::runtime_error("no prevrandao within " + std::to_string(s.options.max_tries) +
                             " tries gives the chain murmurd's roles");
  for (std::size_t i = 0; i < s.nodes.size(); ++i)  // the slow, reference formula agrees
    if (chain::is_proposer(found->second, s.nodes[i], task.proposer_bps) != proposer[i])
      throw std::logic_error("find_prevrandao disagrees with chain::is_proposer");
  try {
    s.eth.raw("hardhat_setPrevRandao",
              nlohmann::json::array({chain::to_hex(U256(found->first).to_be_bytes())}));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("hardhat_setPrevRandao failed (") + e.what() +
                             "): matching murmurd's local roles needs a Hardhat node");
  }
  const auto receipt = s.wallet.transact(s.deployment.alliance_task,
                                         chain::alliance::start_round(s.options.task_id));
  const auto [got_round, got_seed] =
      chain::alliance::round_from_receipt(receipt, s.deployment.alliance_task);
  if (got_round != U256(round) || got_seed != found->second)
    throw std::runtime_error("startRound mined seed " + chain::to_hex(got_seed) + ", predicted " +
                             chain::to_hex(found->second) +
                             " (was another block mined in between?)");
  ChainRoundStart out;
  out.round = got_round;
  out.seed = got_seed;
  out.tx = receipt.tx_hash;
  out.prevrandao = found->first;
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

ChainPosting ChainRounds::finalize(std::uint64_t round, const chain::Hash32& model_hash,
                                   const std::vector<chain::SignedVote>& votes,
                                   const std::vector<chain::Address>& flagged) {
  Impl& s = *impl_;
  const auto t0 = Clock::now();
  ChainPosting p;
  p.before = s.balances();
  p.pool_before = s.contract.get_task(s.options.task_id).pool;
  const auto r =
      s.poster.finalize_round({s.options.task_id, U256(round), model_hash, votes, flagged});
  if (!r.success) throw std::runtime_error("finalizeRound reverted: " + r.error);
  p.already_done = r.already_done;
  p.tx = r.tx_hash;
  p.block = r.block_number;
  p.gas = r.gas_used;
  p.event = r.event;
  return s.finish(std::move(p), t0);
}

ChainPosting ChainRounds::abandon(std::uint64_t round) {
  Impl& s = *impl_;
  const auto t0 = Clock::now();
  ChainPosting p;
  p.abandoned = true;
  p.before = s.balances();
  p.pool_before = s.contract.get_task(s.options.task_id).pool;
  const auto task = s.contract.get_task(s.options.task_id);
  if (task.current_round != round || !task.round_open)
    throw std::runtime_error("round " + std::to_string(round) + " is not open on chain");
  const auto receipt = s.wallet.transact(s.deployment.alliance_task,
                                         chain::alliance::abandon_round(s.options.task_id));
  p.tx = receipt.tx_hash;
  p.block = receipt.block_number;
  p.gas = receipt.gas_used;
  return s.finish(std::move(p), t0);
}

std::vector<NodeBalance> ChainRounds::balances() {
  return impl_->balances();
}
chain::TaskInfo ChainRounds::task() {
  return impl_->contract.get_task(impl_->options.task_id);
}
std::uint64_t ChainRounds::slash_bps() {
  return task().slash_bps;
}

}  // namespace murmur::sim
