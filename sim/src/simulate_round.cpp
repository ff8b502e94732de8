// One round of a simulation, stage by stage: roles (and the chain's startRound), local training
// and uploads, the attackers' uploads, votes, what the server recorded, the chain's finalize.
#include <algorithm>
#include <cmath>
#include <set>

#include "murmur/chain/errors.hpp"
#include "murmur/model/evaluator.hpp"
#include "simulate_impl.hpp"

namespace murmur::sim {
namespace {

bool is_stage(const wire::RoundInfo& i, std::uint64_t round, wire::Stage s) {
  return i.round() == round && i.stage() == s;
}
bool ended(const wire::RoundInfo& i, std::uint64_t round) {
  return i.round() > round || i.stage() == wire::STAGE_CLOSED;
}

}  // namespace

void Simulation::play_round(RoundRecord& rec, const wire::RoundInfo& start) {
  const auto t0 = Clock::now();
  const std::uint64_t r = rec.round;
  rec.nodes.resize(o_.nodes);
  std::vector<bool> proposer(o_.nodes);
  for (std::size_t i = 0; i < o_.nodes; ++i) {
    auto& n = rec.nodes[i];
    n.proposer = proposer[i] = clients_[i]->round_info().role() == wire::ROLE_PROPOSER;
    n.byzantine = node_attack_[i] != Attack::kNone;
    rec.proposers += n.proposer;
    rec.byzantine_proposers += n.proposer && n.byzantine;
  }
  // v2: murmurd opened the round on chain and drew the roles (RoundInfo's roles are the chain's).
  std::vector<NodeBalance> balances_before;
  chain::U256 pool_before;
  std::uint64_t rounds_left = 0;
  if (v2_) {
    const auto tc = Clock::now();
    balances_before = v2_->balances();
    const auto task = v2_->task();
    pool_before = task.pool;
    rounds_left = task.total_rounds - task.finalized_rounds;
    participant_node_ = v2_->participants();
    rec.chain_seconds += since(tc);
  }
  if (chain_) {
    const auto tc = Clock::now();
    try {
      rec.chain_start = chain_->start_round(r, proposer);
    } catch (const std::exception& e) {
      throw std::runtime_error("round " + std::to_string(r) +
                               ": startRound on chain failed: " + e.what());
    }
    rec.chain_seconds += since(tc);
  }

  const auto t_train = Clock::now();
  train_and_upload(rec, start);
  rec.train_seconds = since(t_train);

  const auto t_agg = Clock::now();
  auto info = wait_for(
      [r](const wire::RoundInfo& i) { return is_stage(i, r, wire::STAGE_VOTING) || ended(i, r); },
      "round " + std::to_string(r) + "'s aggregation");
  rec.aggregate_seconds = since(t_agg);
  std::optional<chain::Hash32> candidate;
  if (is_stage(info, r, wire::STAGE_VOTING)) {
    candidate = hash_of(info.candidate_model_hash());
    if (candidate) rec.candidate_accuracy = score_on_test(*candidate).first;
    const auto t_vote = Clock::now();
    if (v2_)
      vote_v2(rec, info);
    else
      vote(rec, info);
    info = wait_for([r](const wire::RoundInfo& i) { return ended(i, r); },
                    "round " + std::to_string(r) + "'s votes");
    rec.vote_seconds = since(t_vote);
  }
  const auto before = hash_of(start.global_model_hash());
  const auto after = hash_of(info.global_model_hash());
  if (!after)
    throw std::runtime_error("the server announced no global model after round " +
                             std::to_string(r));
  rec.global = chain::to_hex(*after);
  if (candidate) rec.candidate = chain::to_hex(*candidate);
  rec.accepted = candidate ? *after == *candidate : (before && *after != *before);
  collect(rec, candidate);
  std::tie(rec.accuracy, rec.loss) = score_on_test(*after);
  if (chain_) {
    const auto tc = Clock::now();
    post_on_chain(rec, candidate);
    rec.chain_seconds += since(tc);
  }
  if (v2_) {
    const auto tc = Clock::now();
    try {
      settle_v2(rec, balances_before, pool_before, rounds_left);
    } catch (const chain::ChainError& e) {
      throw std::runtime_error("round " + std::to_string(r) +
                               ": reading the settlement on chain failed: " + e.what());
    }
    rec.chain_seconds += since(tc);
  }
  rec.seconds = since(t0);
}

void Simulation::train_and_upload(RoundRecord& rec, const wire::RoundInfo& info) {
  const std::uint64_t r = rec.round;
  const auto global_hash = hash_of(info.global_model_hash());
  if (!global_hash) throw std::runtime_error("round " + std::to_string(r) + " has no global model");
  std::vector<std::size_t> proposers, byzantine, local;
  for (std::size_t i = 0; i < o_.nodes; ++i) {
    if (!rec.nodes[i].proposer) continue;
    proposers.push_back(i);
    if (node_attack_[i] != Attack::kNone) byzantine.push_back(i);
    if (trains_locally(node_attack_[i])) local.push_back(i);
  }
  // Every proposer downloads the global model through its own connection (keccak-checked); the
  // bytes are the same, so one copy is kept.
  std::vector<float> global;
  for (std::size_t i : proposers) {
    auto m = clients_[i]->fetch_model(*global_hash);
    if (global.empty()) global = std::move(m);
  }
  const auto upload = [&](std::size_t i, const std::vector<float>& values) {
    this->upload(rec, i, values);
  };
  // Honest nodes (and attackers that start from real training) train on the workers; honest
  // ones upload as soon as they are done.
  LocalTraining training = o_.training;
  training.lr *= std::pow(o_.training.lr_decay, static_cast<double>(r - 1));
  std::vector<std::vector<float>> deltas(o_.nodes);
  parallel_for(local.size(), workers_, [&](std::size_t k) {
    const std::size_t i = local[k];
    deltas[i] =
        train_local(shape_, global, data_.train, shares_[i].train, training,
                    mix(o_.seed, kTrain, i * 1'000'003 + r), node_attack_[i] == Attack::kLabelFlip);
    if (node_attack_[i] == Attack::kNone) upload(i, deltas[i]);
  });
  // Then the attackers, who (omniscient) see the honest deltas of the round.
  std::vector<std::vector<float>> honest;
  for (std::size_t i : proposers)
    if (node_attack_[i] == Attack::kNone) honest.push_back(deltas[i]);
  for (std::size_t i : byzantine) {
    const auto update = byzantine_update(node_attack_[i], o_.attack_params, shape_.parameters(),
                                         deltas[i], honest, proposers.size(), byzantine.size(),
                                         mix(o_.seed, kAttack, i * 1'000'003 + r));
    upload(i, update);
  }
  for (const auto& n : rec.nodes) rec.refused += n.proposer && !n.refusal.empty();
}

void Simulation::vote(RoundRecord& rec, const wire::RoundInfo& info) {
  const std::uint64_t r = rec.round;
  const auto candidate = hash_of(info.candidate_model_hash());
  const auto global = hash_of(info.global_model_hash());
  if (!candidate || !global)
    throw std::runtime_error("round " + std::to_string(r) + " votes without a candidate");
  for (std::size_t i = 0; i < o_.nodes; ++i) {
    auto& n = rec.nodes[i];
    if (n.proposer) continue;
    try {
      // Each voter downloads both models and scores them on its own held-out rows in one pass.
      std::vector<float> packed = clients_[i]->fetch_model(*global);
      const auto cand = clients_[i]->fetch_model(*candidate);
      packed.insert(packed.end(), cand.begin(), cand.end());
      int honest = 1;
      if (holdout_[i].rows() > 0) {
        model::BatchedMlpEvaluator evaluator(*backend_, shape_, holdout_[i], 2);
        const auto s = evaluator.evaluate(packed);
        n.holdout_loss_global = s[0].valid() ? s[0].mean_loss : std::nan("");
        n.holdout_loss_candidate = s[1].valid() ? s[1].mean_loss : std::nan("");
        honest = s[1].valid() && (!s[0].valid() || s[1].mean_loss <= s[0].mean_loss) ? 1 : -1;
      }
      n.vote = n.byzantine && o_.byzantine_votes_inverted ? -honest : honest;
      clients_[i]->vote(task_id_, r, *candidate, n.vote, n.holdout_loss_candidate, signer(i));
    } catch (const std::exception& e) {
      n.refusal = describe_error(e);
      n.vote = 0;
    }
  }
}

void Simulation::collect(RoundRecord& rec, const std::optional<chain::Hash32>& candidate) {
  const std::uint64_t r = rec.round;
  std::map<chain::Address, server::DiagnosticRecord> diagnostics;
  if (records_) {
    rec.outcome = records_->outcome(r).value_or("");
    diagnostics = records_->diagnostics(r);
    const auto committed = records_->committed(r);
    const std::set<chain::Address> done(committed.begin(), committed.end());
    for (std::size_t i = 0; i < o_.nodes; ++i)
      rec.nodes[i].committed = done.count(addresses_[i]) > 0;
    for (const auto& v : records_->votes(r)) {  // v1: the votes went through murmurd
      if (candidate && v.model_hash != *candidate) continue;
      (v.score > 0 ? rec.votes_for : rec.votes_against) += 1;
    }
  }
  if (!records_ || v2_) {  // v2: the votes are the nodes' own, on chain
    if (!records_) rec.outcome = rec.accepted ? "accepted" : "not accepted";
    for (const auto& n : rec.nodes) (n.vote > 0 ? rec.votes_for : rec.votes_against) += n.vote != 0;
  }
  for (std::size_t i = 0; i < o_.nodes; ++i) {
    auto& n = rec.nodes[i];
    if (!n.proposer) continue;
    rec.committed += n.committed;
    if (auto it = diagnostics.find(addresses_[i]); it != diagnostics.end()) {
      n.verdict = it->second.verdict;
      n.weight = it->second.weight;
      n.score = it->second.score;
      n.distance = it->second.distance;
    }
    // Absent proposers are flagged (they did no work); kept rows of coordinate-wise rules (no
    // weight) are flagged when far from the aggregate; other rules flag what they reject.
    n.flagged = !n.committed || (!n.verdict.empty() && n.verdict != "kept") ||
                (!n.verdict.empty() && std::isnan(n.weight) && n.score > o_.flag_ratio);
    if (n.flagged) rec.flagged.push_back(i);
  }
}

void Simulation::post_on_chain(RoundRecord& rec, const std::optional<chain::Hash32>& candidate) {
  const std::uint64_t r = rec.round;
  try {
    std::vector<chain::SignedVote> votes;
    if (candidate)
      for (const auto& v : records_->votes(r))
        if (v.model_hash == *candidate)
          votes.push_back({v.voter, static_cast<std::int8_t>(v.score), v.signature});
    if (!candidate || votes.empty()) {
      // No candidate (no quorum, a failed aggregation) or nobody judged it: nothing to settle.
      rec.chain_post = chain_->abandon(r);
      return;
    }
    std::vector<chain::Address> flagged;
    for (std::size_t i : rec.flagged) flagged.push_back(addresses_[i]);
    rec.chain_post = chain_->finalize(r, *candidate, votes, flagged);
    if (rec.chain_post->event && rec.chain_post->event->accepted != rec.accepted)
      rec.chain_error = std::string("the chain settled the round as ") +
                        (rec.chain_post->event->accepted ? "accepted" : "rejected") +
                        " but murmurd " + (rec.accepted ? "accepted" : "rejected") +
                        " it: its participants file's stakes differ from the chain's";
  } catch (const std::exception& e) {
    throw std::runtime_error("round " + std::to_string(r) +
                             ": posting on chain failed: " + e.what());
  }
}

}  // namespace murmur::sim
