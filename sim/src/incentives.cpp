// One run of the incentives bench: the demo's scenario played in process and settled each round
// by chain::settle_median_round (AllianceTaskV2's rule).
#include "murmur/sim/incentives.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <thread>

#include "murmur/chain/consensus.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/median_settlement.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/objections.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/mlp_spec.hpp"
#include "simulate_impl.hpp"

namespace murmur::sim {

namespace {

using chain::U256;

const std::vector<NodeKind>& kinds_table() {
  static const std::vector<NodeKind> kinds = {
      {"sign-flip", Attack::kSignFlip, VoteBehaviour::kHonest},
      {"alie", Attack::kAlie, VoteBehaviour::kHonest},
      {"ipm", Attack::kIpm, VoteBehaviour::kHonest},
      {"label-flip", Attack::kLabelFlip, VoteBehaviour::kHonest},
      {"free-ride", Attack::kFreeRide, VoteBehaviour::kAbstain},
      {"always-up", Attack::kNone, VoteBehaviour::kAlwaysUp},
      {"contrarian", Attack::kNone, VoteBehaviour::kContrarian},
  };
  return kinds;
}

/// The round's role seed: keccak256("murmur.incentives.v1" ‖ seed ‖ round), 8-byte big-endian.
chain::Hash32 role_seed(std::uint64_t seed, std::uint64_t round) {
  std::vector<std::uint8_t> bytes;
  for (char c : std::string_view("murmur.incentives.v1"))
    bytes.push_back(static_cast<std::uint8_t>(c));
  for (std::uint64_t v : {seed, round})
    for (int b = 7; b >= 0; --b) bytes.push_back(static_cast<std::uint8_t>(v >> (8 * b)));
  return chain::keccak256(bytes);
}

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

/// Mean losses on `rows` of the packed models (NaN for a model that produced a non-finite loss).
std::vector<double> losses(kernels::Backend& backend, const kernels::MlpShape& shape,
                           const model::LabelledSet& rows, const std::vector<float>& packed,
                           std::size_t models) {
  model::BatchedMlpEvaluator evaluator(backend, shape, rows, std::max<std::size_t>(models, 1));
  std::vector<double> out;
  for (const auto& s : evaluator.evaluate(packed))
    out.push_back(s.valid() ? s.mean_loss : std::nan(""));
  return out;
}

}  // namespace

std::vector<NodeKind> incentive_kinds() {
  return kinds_table();
}

NodeKind parse_incentive_kind(std::string_view name) {
  if (name == "honest") return NodeKind{};
  std::string names = "honest";
  for (const auto& k : kinds_table()) {
    if (k.name == name) return k;
    names += ", " + k.name;
  }
  throw std::invalid_argument("unknown node kind '" + std::string(name) + "' (one of: " + names +
                              ")");
}

double IncentiveNode::net_tokens() const {
  const U256 end = stake_end + rewards;
  const bool negative = end < stake_start;
  const U256 diff = negative ? stake_start - end : end - stake_start;
  const double tokens = std::stod(diff.to_dec()) / 1e18;
  return negative ? -tokens : tokens;
}

IncentiveRun run_incentives(const IncentiveRunOptions& o, const SimulationData& data) {
  const auto t0 = Clock::now();
  use_single_threaded_torch();
  const kernels::MlpShape shape = model::parse_mlp_shape(o.shape);
  const std::size_t n = o.nodes, d = shape.parameters();
  if (data.train.cols() != shape.inputs() || data.train.classes > shape.classes())
    throw std::runtime_error("model " + shape.describe() + " does not fit the data (" +
                             data.train.describe() + ")");
  if (n < 2) throw std::runtime_error("the incentives bench needs at least 2 nodes");
  const SettlementKnobs& k = o.settlement;
  // The contract's bounds (AllianceTaskV2 refuses a task outside them) and the bench's own.
  const auto refuse = [](const std::string& what) {
    throw std::invalid_argument("incentives: " + what);
  };
  if (k.proposer_bps == 0 || k.proposer_bps >= 10'000)
    refuse("proposer_bps must be in 1..9999 (AllianceTaskV2 refuses 0 and 10000)");
  if (k.slash_bps > 10'000) refuse("slash_bps must be <= 10000");
  if (k.quorum_bps == 0 || k.quorum_bps > 10'000) refuse("quorum_bps must be in 1..10000");
  if (k.tolerance_bps > 20'000) refuse("tolerance_bps must be <= 20000");
  if (k.objection_bps < 0) refuse("objection_bps must be >= 0");
  if (!(k.objection_scale > 0)) refuse("objection_scale must be > 0");
  if (!(k.min_norm_ratio >= 0 && k.min_norm_ratio <= k.max_norm_ratio))
    refuse("the norm screen needs 0 <= min_norm_ratio <= max_norm_ratio");
  if (!(o.byzantine_fraction >= 0 && o.byzantine_fraction <= 1))
    refuse("byzantine_fraction must be in [0, 1]");
  if (o.rounds == 0) refuse("rounds must be >= 1");
  const U256 stake0 = k.stake.is_zero() ? token_units(1000) : k.stake;
  const kernels::AggregationSpec spec = kernels::parse_aggregation(o.rule);
  const unsigned workers =
      o.workers ? o.workers : std::max(1u, std::thread::hardware_concurrency());
  auto backend = kernels::make_cpu_backend();

  // Data: the same split, pool and test rows as `murmur simulate` with these options.
  const auto pool_rows = sample_rows(
      data.train.rows(), o.train_rows ? o.train_rows : data.train.rows(), mix(o.seed, kPool));
  const auto shares = dirichlet_split(data.train.labels, pool_rows, data.train.classes, n, o.alpha,
                                      o.holdout, o.min_node_rows, mix(o.seed, kSplit));
  std::vector<model::LabelledSet> holdout;
  for (const auto& s : shares) holdout.push_back(subset(data.train, s.holdout));
  const model::LabelledSet test =
      o.test_rows && o.test_rows < data.test.rows()
          ? subset(data.test, sample_rows(data.test.rows(), o.test_rows, mix(o.seed, kTestRows)))
          : data.test;

  // Byzantine nodes: the first round(fraction n) of a seeded permutation, as the simulator.
  const auto byzantine_count =
      static_cast<std::size_t>(std::lround(o.byzantine_fraction * static_cast<double>(n)));
  if (byzantine_count > n) throw std::runtime_error("more Byzantine nodes than nodes");
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(mix(o.seed, kByzantine));
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<NodeKind> kind(n);
  for (std::size_t j = 0; j < byzantine_count; ++j) kind[perm[j]] = o.kind;
  std::vector<chain::Address> address;
  for (std::size_t i = 0; i < n; ++i)
    address.push_back(client::derive_node_key(o.seed, i).address());

  IncentiveRun run;
  run.seed = o.seed;
  run.alpha = o.alpha;
  run.kind = o.kind.name;
  run.nodes.resize(n);
  std::vector<U256> stake(n, stake0);
  for (std::size_t i = 0; i < n; ++i) {
    run.nodes[i].kind = kind[i].name;
    run.nodes[i].byzantine = kind[i].name != "honest";
    run.nodes[i].stake_start = stake0;
  }
  U256 pool = k.pool.is_zero() ? token_units(10000) : k.pool, creator;
  std::uint64_t finalized = 0;

  std::vector<float> global = simulation_initial_model(shape, o.seed);
  const auto accuracy = [&](const std::vector<float>& m) {
    model::BatchedMlpEvaluator evaluator(*backend, shape, test, 1);
    const auto s = evaluator.evaluate(m).at(0);
    return s.valid() ? s.accuracy : 0.0;
  };
  run.initial_accuracy = accuracy(global);

  for (std::uint64_t r = 1; r <= o.rounds; ++r) {
    IncentiveRound rec;
    rec.round = r;
    const chain::Hash32 seed = role_seed(o.seed, r);
    std::vector<bool> proposer(n);
    std::vector<std::size_t> proposers, voters;
    for (std::size_t i = 0; i < n; ++i) {
      proposer[i] = chain::is_proposer(seed, address[i], k.proposer_bps);
      (proposer[i] ? proposers : voters).push_back(i);
      (proposer[i] ? run.nodes[i].proposer_rounds : run.nodes[i].voter_rounds) += 1;
    }
    rec.proposers = proposers.size();
    rec.voters = voters.size();

    // Proposers: local training (honest, sign flip, label flip), then the attackers' updates.
    LocalTraining training = o.training;
    training.lr *= std::pow(o.training.lr_decay, static_cast<double>(r - 1));
    std::vector<std::vector<float>> delta(n);
    std::vector<std::size_t> local;
    for (std::size_t i : proposers)
      if (trains_locally(kind[i].update)) local.push_back(i);
    parallel_for(local.size(), workers, [&](std::size_t j) {
      const std::size_t i = local[j];
      delta[i] =
          train_local(shape, global, data.train, shares[i].train, training,
                      mix(o.seed, kTrain, i * 1'000'003 + r), kind[i].update == Attack::kLabelFlip);
    });
    std::vector<std::vector<float>> honest;
    std::size_t byzantine_proposers = 0;
    for (std::size_t i : proposers) {
      if (kind[i].update == Attack::kNone) honest.push_back(delta[i]);
      byzantine_proposers += kind[i].update != Attack::kNone;
    }
    for (std::size_t i : proposers)
      if (kind[i].update != Attack::kNone)
        delta[i] =
            byzantine_update(kind[i].update, o.attack_params, d, delta[i], honest, proposers.size(),
                             byzantine_proposers, mix(o.seed, kAttack, i * 1'000'003 + r));

    // The aggregator: screening by norm, then the rule over the included updates.
    std::vector<double> norms;
    for (std::size_t i : proposers) norms.push_back(norm(delta[i]));
    std::vector<double> sorted = norms;
    std::sort(sorted.begin(), sorted.end());
    const double median_norm = sorted.empty() ? 0 : sorted[(sorted.size() - 1) / 2];
    std::vector<std::size_t> included;
    for (std::size_t j = 0; j < proposers.size(); ++j)
      if (norms[j] > 0 && norms[j] >= k.min_norm_ratio * median_norm &&
          norms[j] <= k.max_norm_ratio * median_norm)
        included.push_back(proposers[j]);
    if (k.exclude_copies) {
      std::vector<bool> copy(included.size(), false);
      for (std::size_t a = 0; a < included.size(); ++a)
        for (std::size_t b = a + 1; b < included.size(); ++b) {
          const auto& x = delta[included[a]];
          const auto& y = delta[included[b]];
          double dist = 0;
          for (std::size_t j = 0; j < d; ++j) {
            const double e = static_cast<double>(x[j]) - y[j];
            dist += e * e;
          }
          if (std::sqrt(dist) <= 1e-6 * std::max(norm(x), norm(y))) copy[a] = copy[b] = true;
        }
      std::vector<std::size_t> kept;
      for (std::size_t a = 0; a < included.size(); ++a)
        if (!copy[a]) kept.push_back(included[a]);
      included.swap(kept);
    }
    std::vector<float> candidate;
    if (!included.empty()) {
      std::vector<float> rows;
      std::vector<double> counts;
      for (std::size_t i : included) {
        rows.insert(rows.end(), delta[i].begin(), delta[i].end());
        counts.push_back(static_cast<double>(shares[i].train.size()));
      }
      std::vector<float> aggregate(d);
      try {
        kernels::MemoryRowSource source(rows, included.size(), d);
        kernels::aggregate(*backend, source, counts, spec, aggregate);
        candidate = global;
        for (std::size_t j = 0; j < d; ++j) candidate[j] += aggregate[j];
      } catch (const kernels::AggregationError&) {
        candidate.clear();  // the rule cannot apply: no candidate, the round is abandoned
      }
    }
    rec.included = included.size();
    rec.candidate = !candidate.empty();

    // Voters: global, candidate and every proposer's update alone on their held-out rows.
    std::vector<chain::MedianNode> nodes(n);
    for (std::size_t i = 0; i < n; ++i) {
      nodes[i].role = proposer[i] ? chain::Role::Proposer : chain::Role::Voter;
      nodes[i].stake = stake[i];
      if (proposer[i])
        nodes[i].proposer = std::find(included.begin(), included.end(), i) != included.end()
                                ? chain::ProposerStatus::Included
                                : chain::ProposerStatus::Excluded;
    }
    // A proposer's update that repeats an earlier proposer's (identical vectors count once).
    std::vector<bool> duplicate(proposers.size(), false);
    if (k.objection_median_distinct)
      for (std::size_t b = 1; b < proposers.size(); ++b)
        for (std::size_t a = 0; a < b && !duplicate[b]; ++a)
          duplicate[b] = delta[proposers[a]] == delta[proposers[b]];
    std::vector<int> honest_score(n, 0);
    std::vector<std::vector<int>> voter_alone(n);
    std::vector<std::pair<double, double>> voter_loss(n, {std::nan(""), std::nan("")});
    std::vector<std::vector<int>> alone_scores(proposers.size());
    if (rec.candidate) {
      rec.candidate_accuracy = accuracy(candidate);
      std::vector<float> packed = global;
      packed.insert(packed.end(), candidate.begin(), candidate.end());
      // Each update at its share of a plain mean of the round's updates (client/objections.hpp,
      // the rule murmur node's voters share): global + objection_scale · update / P.
      const client::ObjectionRule objection_rule{k.objection_bps, k.objection_relative,
                                                 k.objection_scale, k.objection_median_distinct};
      for (std::size_t i : proposers) {
        const auto probe =
            client::objection_probe(global, delta[i], k.objection_scale, proposers.size());
        packed.insert(packed.end(), probe.begin(), probe.end());
      }
      const std::size_t models = 2 + proposers.size();
      for (std::size_t v : voters) {
        const VoteBehaviour b = kind[v].vote;
        if (b == VoteBehaviour::kAbstain || holdout[v].rows() == 0) continue;
        auto& node = nodes[v];
        node.voter = chain::VoterStatus::Revealed;
        if (b == VoteBehaviour::kAlwaysUp) {
          node.score = honest_score[v] = chain::kMaxScore;
          continue;
        }
        const auto loss = losses(*backend, shape, holdout[v], packed, models);
        int score = chain::graded_score(loss[0], loss[1]);
        honest_score[v] = score;
        voter_loss[v] = {loss[0], loss[1]};
        // Each update against no change, or (objection_relative) this voter's median update.
        const auto judged = client::judge_updates(loss[0], std::span<const double>(loss).subspan(2),
                                                  duplicate, objection_rule);
        std::vector<int> alone = judged.scores;
        for (std::size_t j = 0; j < proposers.size(); ++j) alone_scores[j].push_back(alone[j]);
        std::vector<std::size_t> objects, others;
        for (std::size_t j = 0; j < proposers.size(); ++j)
          (judged.objects[j] ? objects : others).push_back(proposers[j]);
        if (b == VoteBehaviour::kContrarian) {
          score = -score;
          objects.swap(others);
        }
        node.score = score;
        node.objects = std::move(objects);
        voter_alone[v] = std::move(alone);
      }
    }

    const auto total = [&] {
      U256 t = pool + creator;
      for (std::size_t i = 0; i < n; ++i) t += stake[i] + run.nodes[i].rewards;
      return t;
    };
    rec.total_before = total();
    if (rec.candidate) {
      chain::MedianRoundInput in;
      in.pool = pool;
      in.rounds_left = o.rounds - finalized;
      in.slash_bps = k.slash_bps;
      in.quorum_bps = k.quorum_bps;
      in.tolerance_bps = k.tolerance_bps;
      in.nodes = nodes;
      const chain::MedianRoundSettlement s = chain::settle_median_round(in);
      rec.quorum = s.quorum;
      if (s.quorum) {
        ++finalized;
        rec.accepted = s.accepted;
        rec.median = s.median;
        rec.pot = s.pot;
        rec.paid = s.paid;
        rec.slashed = s.slashed;
        rec.creator_credit = s.creator_credit;
        for (std::size_t i = 0; i < n; ++i) {
          auto& node = run.nodes[i];
          stake[i] -= s.slash[i];
          node.slashes += s.slash[i];
          node.rewards += s.reward[i];
          node.paid_rounds += !s.reward[i].is_zero();
          node.slashed_rounds += !s.slash[i].is_zero();
          if (proposer[i] && U256(2) * s.objection_stake[i] > s.revealed_stake) ++rec.objected;
          if (!proposer[i] && !s.slash[i].is_zero()) ++rec.voters_slashed;
        }
        for (std::size_t v : voters) {
          if (nodes[v].voter != chain::VoterStatus::Revealed) continue;
          IncentiveVote vote;
          vote.voter = v;
          vote.score = nodes[v].score;
          vote.honest_score = honest_score[v];
          vote.objections = nodes[v].objects.size();
          vote.disagreements = s.objection_disagreements[v];
          vote.far_objections = vote.disagreements >= chain::kMinDisagreements &&
                                2 * vote.disagreements > proposers.size();
          vote.paid = !s.reward[v].is_zero();
          vote.slashed = !s.slash[v].is_zero();
          vote.loss_before = voter_loss[v].first;
          vote.loss_after = voter_loss[v].second;
          vote.update_scores = voter_alone[v];
          for (std::size_t i : proposers)
            vote.objects_to.push_back(std::find(nodes[v].objects.begin(), nodes[v].objects.end(),
                                                i) != nodes[v].objects.end());
          rec.votes.push_back(std::move(vote));
        }
        for (std::size_t j = 0; j < proposers.size(); ++j) {
          const std::size_t i = proposers[j];
          IncentiveProposal p;
          p.proposer = i;
          p.norm_ratio = median_norm > 0 ? norms[j] / median_norm : 0;
          p.included = nodes[i].proposer == chain::ProposerStatus::Included;
          auto a = alone_scores[j];
          if (!a.empty()) {
            std::nth_element(a.begin(), a.begin() + static_cast<long>(a.size() / 2), a.end());
            p.median_alone_score = a[a.size() / 2];
          }
          p.objection_share = std::stod(s.objection_stake[i].to_dec()) /
                              std::max(1.0, std::stod(s.revealed_stake.to_dec()));
          p.paid = !s.reward[i].is_zero();
          p.slashed = !s.slash[i].is_zero();
          rec.proposals.push_back(p);
        }
        pool = s.pool_after;
        creator += s.creator_credit;
        if (s.accepted) global = std::move(candidate);
      }
    }
    rec.total_after = total();
    if (rec.total_after != rec.total_before)
      throw std::logic_error("incentives: round " + std::to_string(r) +
                             " did not conserve tokens (" + rec.total_before.to_dec() + " -> " +
                             rec.total_after.to_dec() + ")");
    rec.accuracy = accuracy(global);
    run.rounds.push_back(rec);
  }
  for (std::size_t i = 0; i < n; ++i) run.nodes[i].stake_end = stake[i];
  run.pool_end = pool;
  run.creator_end = creator;
  run.final_accuracy = run.rounds.empty() ? run.initial_accuracy : run.rounds.back().accuracy;
  run.seconds = since(t0);
  return run;
}

}  // namespace murmur::sim
