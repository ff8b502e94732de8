#include "murmur/chain/arena_settlement.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "murmur/chain/keccak.hpp"

namespace murmur::chain {

namespace {

constexpr std::uint64_t kBps = 10'000;

U256 geometric(std::uint64_t ratio_bps, std::uint64_t rank) {
  U256 g = U256::from_string("1000000000000000000");
  for (std::uint64_t i = 0; i < rank && !g.is_zero(); ++i) g = g * U256(ratio_bps) / U256(kBps);
  return g;
}

void validate(const ArenaInput& in) {
  if (in.gamma_bps > kBps) throw std::invalid_argument("settle_arena: gamma_bps must be <= 10000");
  if (in.rank_ratio_bps == 0 || in.rank_ratio_bps >= kBps)
    throw std::invalid_argument("settle_arena: rank_ratio_bps must be in 1..9999");
  if (in.tolerance_bps == 0 || in.tolerance_bps > kBps)
    throw std::invalid_argument("settle_arena: tolerance_bps must be in 1..10000");
  if (in.slash_bps > kBps) throw std::invalid_argument("settle_arena: slash_bps must be <= 10000");
  if (in.validator_own_stake.size() != in.validator_stake.size())
    throw std::invalid_argument(
        "settle_arena: validator_own_stake and validator_stake differ in length");
  std::set<std::pair<std::size_t, std::size_t>> seen;
  for (std::size_t e = 0; e < in.entries.size(); ++e) {
    const ArenaEntry& x = in.entries[e];
    const std::string where = "settle_arena: entry " + std::to_string(e);
    if (x.submission >= in.node_stake.size())
      throw std::invalid_argument(where + " names a submission past the list");
    if (x.validator >= in.validator_stake.size())
      throw std::invalid_argument(where + " names a validator past the list");
    if (x.revealed && x.score > kArenaMaxScore)
      throw std::invalid_argument(where + " has a score above kArenaMaxScore");
    if (!x.revealed && x.score != 0)
      throw std::invalid_argument(where + " has a score but was not revealed");
    if (!seen.emplace(x.submission, x.validator).second)
      throw std::invalid_argument(where + " repeats a (validator, submission) pair");
  }
}

}  // namespace

std::uint64_t arena_agreement(std::uint64_t score, std::uint64_t consensus,
                              std::uint64_t tolerance_bps) {
  // c < 2^64 and tolerance ≤ 10^4: the product fits in 128 bits.
  const auto tol_wide = static_cast<unsigned __int128>(consensus) * tolerance_bps / kBps;
  const std::uint64_t tol = tol_wide == 0 ? 1 : static_cast<std::uint64_t>(tol_wide);
  const std::uint64_t d = score >= consensus ? score - consensus : consensus - score;
  if (d >= tol) return 0;
  return static_cast<std::uint64_t>(static_cast<unsigned __int128>(tol - d) * kBps / tol);
}

ArenaSettlement settle_arena(const ArenaInput& in) {
  validate(in);
  const std::size_t n = in.node_stake.size();
  const std::size_t m = in.validator_stake.size();
  ArenaSettlement o;
  o.consensus.assign(n, std::nullopt);
  o.rank.assign(n, std::nullopt);
  o.node_reward.assign(n, U256());
  o.validator_reward.assign(m, U256());
  o.validator_slash.assign(m, U256());
  o.validator_weight.assign(m, U256());

  // Consensus: revealed entries ordered by (submission, score, entry), walked per submission.
  std::vector<std::tuple<std::size_t, std::uint64_t, std::size_t>> keys;
  std::vector<U256> total(n);
  for (std::size_t e = 0; e < in.entries.size(); ++e) {
    const ArenaEntry& x = in.entries[e];
    if (!x.revealed) continue;
    keys.emplace_back(x.submission, x.score, e);
    total[x.submission] += in.validator_stake[x.validator];
  }
  std::sort(keys.begin(), keys.end());
  U256 cum;
  std::size_t cur = n;
  for (const auto& [sub, score, e] : keys) {
    if (sub != cur) {
      cur = sub;
      cum = U256();
    }
    if (o.consensus[sub]) continue;
    cum += in.validator_stake[in.entries[e].validator];
    if (cum + cum >= total[sub]) o.consensus[sub] = score;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!o.consensus[i]) continue;
    std::uint64_t r = 0;
    for (std::size_t k = 0; k < n; ++k)
      if (o.consensus[k] && *o.consensus[k] < *o.consensus[i]) ++r;
    o.rank[i] = r;
  }

  U256 t, s;
  for (const U256& x : in.node_stake) t += x;
  for (const U256& x : in.validator_stake) s += x;
  if (!(t + s).is_zero()) {
    const U256 num = U256(in.gamma_bps) * (t + s) + U256(2 * (kBps - in.gamma_bps)) * t;
    o.node_pot = mul_div(in.pot, num, U256(2 * kBps) * (t + s));
  }

  std::vector<U256> w(n);
  U256 w_sum;
  for (std::size_t i = 0; i < n; ++i) {
    if (!o.rank[i]) continue;
    w[i] = geometric(in.rank_ratio_bps, *o.rank[i]) * in.node_stake[i];
    w_sum += w[i];
  }
  if (!w_sum.is_zero())
    for (std::size_t i = 0; i < n; ++i) {
      if (w[i].is_zero()) continue;
      o.node_reward[i] = mul_div(o.node_pot, w[i], w_sum);
      o.paid += o.node_reward[i];
    }

  std::vector<bool> silent(m, false);
  for (const ArenaEntry& x : in.entries)
    if (!x.revealed) silent[x.validator] = true;
  for (std::size_t v = 0; v < m; ++v)
    if (silent[v] && in.slash_bps > 0) {
      o.validator_slash[v] = in.validator_own_stake[v] * U256(in.slash_bps) / U256(kBps);
      o.slashed += o.validator_slash[v];
    }
  std::vector<std::uint64_t> agree(m, 0);
  for (const ArenaEntry& x : in.entries)
    if (x.revealed)
      agree[x.validator] += arena_agreement(x.score, *o.consensus[x.submission], in.tolerance_bps);
  U256 q_sum;
  for (std::size_t v = 0; v < m; ++v) {
    if (silent[v]) continue;
    o.validator_weight[v] = in.validator_stake[v] * U256(agree[v]);
    q_sum += o.validator_weight[v];
  }
  o.validator_pot = in.pot - o.node_pot + o.slashed;
  if (!q_sum.is_zero())
    for (std::size_t v = 0; v < m; ++v) {
      if (o.validator_weight[v].is_zero()) continue;
      o.validator_reward[v] = mul_div(o.validator_pot, o.validator_weight[v], q_sum);
      o.paid += o.validator_reward[v];
    }
  o.creator_credit = in.pot + o.slashed - o.paid;
  return o;
}

DelegationSplit split_delegation(const U256& reward, const U256& own, std::uint64_t commission_bps,
                                 std::span<const U256> delegations) {
  if (commission_bps > kBps)
    throw std::invalid_argument("split_delegation: commission_bps must be <= 10000");
  DelegationSplit out{reward, std::vector<U256>(delegations.size())};
  U256 d;
  for (const U256& x : delegations) d += x;
  if (d.is_zero() || reward.is_zero()) return out;
  const U256 gross = mul_div(reward, d, own + d);
  const U256 net = gross - gross * U256(commission_bps) / U256(kBps);
  for (std::size_t i = 0; i < delegations.size(); ++i) {
    out.delegators[i] = mul_div(net, delegations[i], d);
    out.delegate -= out.delegators[i];
  }
  return out;
}

std::vector<std::size_t> arena_assignees(const Hash32& seed, std::uint64_t submission,
                                         std::span<const U256> effective_stakes, std::size_t k) {
  const std::size_t m = effective_stakes.size();
  if (k == 0 || k > m)
    throw std::invalid_argument("arena_assignees: k must be in 1..number of validators");
  std::vector<U256> cum(m);
  U256 c;
  for (std::size_t i = 0; i < m; ++i) cum[i] = c += effective_stakes[i];
  const U256 w = cum.back();
  if (w.is_zero()) throw std::invalid_argument("arena_assignees: validators have no stake");
  const U256 step = w / U256(k);
  Bytes buf(seed.begin(), seed.end());
  append(buf, U256(submission).to_be_bytes());
  const Hash32 h = keccak256(buf);
  const U256 u = U256::from_be_bytes(h) % w;
  const auto upper = [&](const U256& x) {
    return static_cast<std::size_t>(std::upper_bound(cum.begin(), cum.end(), x) - cum.begin());
  };
  std::vector<std::size_t> picks(k);
  std::size_t first = 0, prev = 0;
  for (std::size_t j = 0; j < k; ++j) {
    const U256 pt = u + U256(j) * step;  // < 2W
    std::size_t idx = pt < w ? upper(pt) : m + upper(pt - w);
    if (j == 0)
      first = idx;
    else if (idx <= prev || idx > first + m - k + j)
      idx = prev + 1;
    prev = idx;
    picks[j] = idx % m;
  }
  return picks;
}

Hash32 arena_score_commitment(const U256& task_id, std::uint64_t submission,
                              const Address& validator, std::uint64_t score, const Hash32& salt) {
  Bytes buf;
  buf.reserve(5 * 32);
  append(buf, task_id.to_be_bytes());
  append(buf, U256(submission).to_be_bytes());
  buf.insert(buf.end(), 12, 0);
  append(buf, validator.bytes);
  append(buf, U256(score).to_be_bytes());
  append(buf, salt);
  return keccak256(buf);
}

}  // namespace murmur::chain
