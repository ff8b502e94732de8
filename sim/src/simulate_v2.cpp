// A simulation on AllianceTaskV2 (issue 16): the nodes' own chain calls through
// client::ChainParticipant (what `murmur node --rpc` does), the block ticker, and the settlement
// read back from the contract after murmurd closed each round.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "chain_participant.hpp"  // client/src: the node's calls on AllianceTaskV2
#include "murmur/chain/errors.hpp"
#include "murmur/model/evaluator.hpp"
#include "simulate_impl.hpp"

namespace murmur::sim {

using chain::U256;
using chain::V2RoundState;

struct V2Nodes::Impl {
  Impl(const ChainRoundOptions& o, const std::vector<chain::PrivateKey>& keys)
      : options(o),
        rpc(o.rpc),
        eth(rpc, &chain::alliance_v2::errors()),
        deployment(chain::load_deployment(o.deployment)),
        contract(eth, deployment.alliance_task_v2.value_or(chain::Address{})) {
    if (!deployment.alliance_task_v2)
      throw std::runtime_error(o.deployment.string() + " has no \"allianceTaskV2\"");
    if (eth.chain_id() != deployment.chain_id)
      throw std::runtime_error("the node at " + o.rpc + " is not the chain of " +
                               o.deployment.string());
    for (const auto& k : keys) {
      addresses.push_back(k.address());
      index_of[k.address()] = addresses.size() - 1;
    }
    if (o.block_ms > 0)
      miner = std::thread([this] {
        chain::RpcClient r(options.rpc);
        while (!stop) {
          try {
            r.call("evm_mine", nlohmann::json::array());
          } catch (const std::exception&) {  // the next tick tries again
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(options.block_ms));
        }
      });
  }
  ~Impl() {
    stop = true;
    if (miner.joinable()) miner.join();
  }
  U256 task_id() const { return options.task_id; }

  ChainRoundOptions options;
  chain::RpcClient rpc;
  chain::EthClient eth;
  chain::Deployment deployment;
  chain::AllianceTaskV2Contract contract;
  std::vector<chain::Address> addresses;
  std::map<chain::Address, std::size_t> index_of;
  std::vector<chain::PrivateKey> keys;
  std::vector<std::unique_ptr<client::ChainParticipant>> nodes;
  std::atomic<bool> stop{false};
  std::thread miner;
};

V2Nodes::V2Nodes(const ChainRoundOptions& options, const std::vector<chain::PrivateKey>& keys,
                 const std::filesystem::path& state_dir,
                 std::vector<client::Evaluator> evaluators) {
  impl_ = std::make_unique<Impl>(options, keys);
  Impl& s = *impl_;
  s.keys = keys;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!s.contract.node_info(options.task_id, s.addresses[i]).joined)
      throw std::runtime_error("node " + s.addresses[i].to_checksum() + " has not joined task " +
                               options.task_id.to_dec() +
                               " (murmur simulate setup-chain stakes the nodes)");
    client::ChainCalls calls;
    calls.rpc_url = options.rpc;
    calls.state_dir = state_dir / ("node-" + std::to_string(i));
    calls.evaluator = evaluators.at(i);
    calls.object = true;  // the simulator's rule, ObjectionRule's defaults (objections.hpp)
    calls.finalize_after = std::chrono::milliseconds(5000);  // murmur node's fallback close
    s.nodes.push_back(std::make_unique<client::ChainParticipant>(
        calls, keys[i], s.contract.address(), options.task_id.to_u64()));
  }
}

V2Nodes::~V2Nodes() = default;

const chain::Address& V2Nodes::contract() const {
  return impl_->contract.address();
}

std::vector<NodeBalance> V2Nodes::balances() {
  std::vector<NodeBalance> out;
  for (const auto& a : impl_->addresses) {
    const auto info = impl_->contract.node_info(impl_->task_id(), a);
    out.push_back({info.stake, info.reward});
  }
  return out;
}

chain::V2TaskInfo V2Nodes::task() {
  return impl_->contract.get_task(impl_->task_id());
}

chain::V2RoundInfo V2Nodes::round(std::uint64_t round) {
  return impl_->contract.get_round(impl_->task_id(), U256(round));
}

std::vector<std::size_t> V2Nodes::participants() {
  std::vector<std::size_t> out;
  for (const auto& a : impl_->contract.participants(impl_->task_id())) {
    const auto it = impl_->index_of.find(a);
    if (it == impl_->index_of.end())
      throw std::runtime_error("participant " + a.to_checksum() + " of task " +
                               impl_->task_id().to_dec() + " is not a simulated node");
    out.push_back(it->second);
  }
  return out;
}

void V2Nodes::commit_update(std::size_t node, std::uint64_t round, const chain::Hash32& hash) {
  impl_->nodes.at(node)->commit_update(round, hash);
}

bool V2Nodes::candidate_posted(std::uint64_t round) {
  return impl_->nodes.front()->candidate_posted(round);
}

std::optional<V2Nodes::Vote> V2Nodes::judge(
    std::size_t node, std::uint64_t round, const chain::Hash32& candidate,
    std::span<const float> values, client::RoundContext& ctx,
    const std::vector<client::RoundUpdate>& updates,
    const std::function<std::vector<float>(const client::RoundUpdate&)>& fetch,
    const std::function<void(const std::string&)>& say) {
  const auto v = impl_->nodes.at(node)->judge(round, candidate, values, ctx, updates, fetch, say);
  if (!v) return std::nullopt;
  return Vote{v->score, v->objections, v->participants};
}

void V2Nodes::commit_vote(std::size_t node, std::uint64_t round, const Vote& vote) {
  impl_->nodes.at(node)->commit_vote(round, {vote.score, vote.objections, vote.participants});
}

std::size_t V2Nodes::tick(const std::function<void(const std::string&)>& say) {
  std::size_t reveals = 0;
  for (auto& n : impl_->nodes)
    if (n->revealing()) reveals += n->tick(say).first;
  return reveals;
}

bool V2Nodes::revealing() const {
  for (const auto& n : impl_->nodes)
    if (n->revealing()) return true;
  return false;
}

ChainV2Round V2Nodes::read_round(std::uint64_t round,
                                 const std::vector<std::size_t>& participant_node,
                                 std::size_t nodes) {
  Impl& s = *impl_;
  const U256 r(round);
  const auto info = s.contract.get_round(s.task_id(), r);
  ChainV2Round out;
  out.state = info.state;
  out.median = info.median;
  out.accepted = info.accepted;
  out.revealed_stake = info.revealed_stake;
  out.voter_stake = info.voter_stake;
  out.paid = info.paid;
  out.slashed = info.slashed;
  out.participant_node = participant_node;
  out.objection_stake.assign(nodes, U256());
  out.reward.assign(nodes, U256());
  out.slash.assign(nodes, U256());
  if (info.state == V2RoundState::Abandoned) {
    const auto ev = s.contract.round_abandoned_events(s.task_id(), r);
    if (!ev.empty()) out.abandon_reason = ev.back().reason;
    return out;
  }
  for (std::size_t p = 0; p < participant_node.size(); ++p)
    out.objection_stake[participant_node[p]] = s.contract.objection_stake(s.task_id(), r, p);
  for (const auto& b : s.contract.bookings(s.task_id(), r, false))
    if (auto it = s.index_of.find(b.node); it != s.index_of.end())
      out.reward[it->second] += b.amount;
  for (const auto& b : s.contract.bookings(s.task_id(), r, true))
    if (auto it = s.index_of.find(b.node); it != s.index_of.end())
      out.slash[it->second] += b.amount;
  return out;
}

void V2Nodes::closing_tx(std::uint64_t round, ChainPosting& p) {
  Impl& s = *impl_;
  const U256 r(round);
  chain::Hash32 tx{};
  if (p.abandoned) {
    const auto ev = s.contract.round_abandoned_events(s.task_id(), r);
    if (!ev.empty()) tx = ev.back().tx_hash, p.block = ev.back().block_number;
  } else {
    const auto ev = s.contract.round_finalized_events(s.task_id(), r);
    if (!ev.empty()) tx = ev.back().tx_hash, p.block = ev.back().block_number;
  }
  p.tx = tx;
  if (tx != chain::Hash32{})
    if (const auto receipt = s.eth.get_receipt(tx)) p.gas = receipt->gas_used;
}

std::vector<U256> V2Nodes::claim_all() {
  Impl& s = *impl_;
  std::vector<U256> out;
  for (std::size_t i = 0; i < s.keys.size(); ++i) {
    const auto info = s.contract.node_info(s.task_id(), s.addresses[i]);
    out.push_back(info.reward);
    if (info.reward.is_zero()) continue;
    chain::Wallet w(s.eth, s.keys[i]);
    w.transact(s.contract.address(), chain::alliance_v2::claim(s.task_id()));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The simulation's stages on v2.

void Simulation::start_v2() {
  std::vector<client::Evaluator> evaluators;
  for (std::size_t i = 0; i < o_.nodes; ++i)
    evaluators.push_back([this, i](client::RoundContext&, std::span<const float> model) {
      if (holdout_[i].rows() == 0) return 0.0;  // no rows: no evidence either way (score 0)
      model::BatchedMlpEvaluator evaluator(*backend_, shape_, holdout_[i], 1);
      const auto s = evaluator.evaluate(model).at(0);
      return s.valid() ? s.mean_loss : std::nan("");
    });
  v2_ = std::make_unique<V2Nodes>(*o_.chain, keys_, o_.work_dir / "nodes", std::move(evaluators));
}

void Simulation::tick_v2() {
  if (!v2_ || Clock::now() - last_tick_ < std::chrono::milliseconds(200)) return;
  last_tick_ = Clock::now();
  if (v2_->revealing()) v2_->tick([](const std::string&) {});
}

void Simulation::upload(RoundRecord& rec, std::size_t i, const std::vector<float>& values) {
  const std::uint64_t r = rec.round;
  try {
    const client::FloatUpdate floats(values, wire::DTYPE_F32);
    const client::DigestedUpdate source(floats);
    if (v2_) v2_->commit_update(i, r, *source.digest());  // murmurd refuses any other hash
    clients_[i]->upload_update(task_id_, r, source, shares_[i].train.size(), signer(i));
    rec.nodes[i].committed = true;
  } catch (const std::exception& e) {
    rec.nodes[i].refusal = describe_error(e);
  }
}

void Simulation::vote_v2(RoundRecord& rec, const wire::RoundInfo& info) {
  const std::uint64_t r = rec.round;
  const auto candidate = hash_of(info.candidate_model_hash());
  if (!candidate)
    throw std::runtime_error("round " + std::to_string(r) + " votes without a candidate");
  // murmurd posts the candidate on chain (postCandidate) around the time it opens VOTING.
  const auto give_up = Clock::now() + o_.stage_timeout;
  while (!v2_->candidate_posted(r)) {
    if (Clock::now() > give_up)
      throw std::runtime_error("round " + std::to_string(r) + ": no candidate posted on chain in " +
                               std::to_string(o_.stage_timeout.count()) + " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::map<chain::Address, std::size_t> participant_of;
  for (std::size_t p = 0; p < participant_node_.size(); ++p)
    participant_of[addresses_[participant_node_[p]]] = p;
  for (std::size_t i = 0; i < o_.nodes; ++i) {
    auto& n = rec.nodes[i];
    if (n.proposer) continue;
    try {
      client::RoundContext ctx(*clients_[i], clients_[i]->round_info());
      const auto model = clients_[i]->fetch_model(*candidate);
      std::vector<client::RoundUpdate> updates;
      try {
        updates = clients_[i]->round_updates(task_id_, r, domain_).updates;
      } catch (const ServerError&) {  // murmurd withheld them: the vote carries no objection
      }
      const auto fetch = [&](const client::RoundUpdate& u) {
        return clients_[i]->fetch_update(task_id_, r, u);
      };
      auto vote =
          v2_->judge(i, r, *candidate, model, ctx, updates, fetch, [](const std::string&) {});
      if (!vote) throw std::runtime_error("the candidate is not posted on chain");
      if (n.byzantine && o_.byzantine_votes_inverted) {
        // The incentive bench's contrarian: the negated score, the complement of its objections
        // among the listed updates.
        vote->score = -vote->score;
        std::vector<std::size_t> others;
        for (const auto& u : updates)
          if (auto it = participant_of.find(u.proposer); it != participant_of.end())
            if (!std::binary_search(vote->objections.begin(), vote->objections.end(), it->second))
              others.push_back(it->second);
        std::sort(others.begin(), others.end());
        vote->objections = std::move(others);
        vote->participants = participant_node_.size();
      }
      v2_->commit_vote(i, r, *vote);
      n.vote_score = vote->score;
      n.vote = vote->score >= 0 ? 1 : -1;
      n.objects = vote->objections;
    } catch (const std::exception& e) {
      n.refusal = describe_error(e);
      n.vote = 0;
    }
  }
}

void Simulation::settle_v2(RoundRecord& rec, const std::vector<NodeBalance>& before,
                           const U256& pool_before, std::uint64_t rounds_left) {
  const std::uint64_t r = rec.round;
  const auto t0 = Clock::now();
  const auto give_up = t0 + o_.stage_timeout;
  for (;;) {  // murmurd closes the round (a node would after 5 s of nobody doing it)
    tick_v2();
    const auto state = v2_->round(r).state;
    if (state == V2RoundState::Finalized || state == V2RoundState::Abandoned) break;
    if (Clock::now() > give_up)
      throw std::runtime_error("round " + std::to_string(r) + " was not closed on chain within " +
                               std::to_string(o_.stage_timeout.count()) + " s (it is " +
                               chain::to_string(state) + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ChainPosting p;
  p.before = before;
  p.pool_before = pool_before;
  p.v2 = v2_->read_round(r, participant_node_, o_.nodes);
  p.abandoned = p.v2->state == V2RoundState::Abandoned;
  v2_->closing_tx(r, p);
  p.after = v2_->balances();
  p.pool_after = v2_->task().pool;
  p.v2->rounds_left = rounds_left;
  p.seconds = since(t0);
  // What the chain holds about each node of the round.
  chain::RpcClient rpc(o_.chain->rpc);
  chain::EthClient eth(rpc, &chain::alliance_v2::errors());
  chain::AllianceTaskV2Contract c(eth, v2_->contract());
  const auto included = c.included_of(o_.chain->task_id, U256(r));
  for (std::size_t k = 0; k < participant_node_.size(); ++k) {
    const std::size_t i = participant_node_[k];
    auto& n = rec.nodes[i];
    const auto e = c.entry_of(o_.chain->task_id, U256(r), addresses_[i]);
    n.chain_committed = e.commitment != chain::Hash32{};
    if (n.proposer) {
      p.v2->update_commits += e.commitment != chain::Hash32{};
      n.included =
          k / 256 < included.size() && (included[k / 256] >> static_cast<unsigned>(k % 256)).bit(0);
      n.objected = !p.v2->revealed_stake.is_zero() &&
                   p.v2->objection_stake[i] * U256(2) > p.v2->revealed_stake;
    } else {
      p.v2->vote_commits += e.commitment != chain::Hash32{};
      n.revealed = e.revealed;
      if (e.revealed) {
        ++p.v2->reveals;
        if (e.score != n.vote_score)
          rec.chain_error = "node " + std::to_string(i) + " revealed score " +
                            std::to_string(e.score) + ", it committed " +
                            std::to_string(n.vote_score);
      }
    }
  }
  rec.chain_post = std::move(p);
  const auto& v = *rec.chain_post->v2;
  if (v.state == V2RoundState::Finalized && v.accepted != rec.accepted)
    rec.chain_error = std::string("the chain settled the round as ") +
                      (v.accepted ? "accepted" : "rejected") + " but murmurd " +
                      (rec.accepted ? "accepted" : "rejected") + " it";
}

}  // namespace murmur::sim
