#include "murmur/chain/consensus.hpp"

#include <stdexcept>

#include "murmur/chain/keccak.hpp"

namespace murmur::chain {

namespace {
constexpr std::uint64_t kBps = 10'000;
constexpr std::uint64_t kCreatorSlashBps = 1'000;
}  // namespace

bool is_proposer(const Hash32& seed, const Address& node, std::uint64_t proposer_bps) {
  Bytes buf(seed.begin(), seed.end());
  append(buf, node.bytes);
  U256 h = U256::from_be_bytes(keccak256(buf));
  return h % U256(kBps) < U256(proposer_bps);
}

Hash32 round_seed(const U256& prevrandao, const Hash32& parent_hash, const U256& task_id,
                  const U256& round) {
  Bytes buf;
  append(buf, prevrandao.to_be_bytes());
  append(buf, parent_hash);
  append(buf, task_id.to_be_bytes());
  append(buf, round.to_be_bytes());
  return keccak256(buf);
}

Settlement settle_round(const SettlementInput& in) {
  if (in.rounds_left == 0) throw std::invalid_argument("settle_round: rounds_left must be >= 1");
  if (in.slash_bps > kBps) throw std::invalid_argument("settle_round: slash_bps must be <= 10000");
  U256 up, down;
  for (std::size_t i = 0; i < in.nodes.size(); ++i) {
    const auto& n = in.nodes[i];
    bool voter = n.role == Role::Voter;
    if (n.vote < -1 || n.vote > 1)
      throw std::invalid_argument("settle_round: node " + std::to_string(i) +
                                  " vote must be -1, 0 or 1");
    if (!voter && n.vote != 0)
      throw std::invalid_argument("settle_round: node " + std::to_string(i) +
                                  " is a proposer and cannot vote");
    if (voter && n.flagged)
      throw std::invalid_argument("settle_round: node " + std::to_string(i) +
                                  " is a voter and cannot be flagged");
    if (n.vote > 0) up += n.stake;
    if (n.vote < 0) down += n.stake;
  }
  Settlement s;
  s.accepted = up >= down;
  s.vote_sum = s.accepted ? up - down : (down - up).wrapping_neg();
  s.round_reward = in.pool / U256(in.rounds_left);
  auto winner = [&](const SettlementNode& n) {
    if (s.accepted) return (n.role == Role::Proposer && !n.flagged) || n.vote > 0;
    return n.vote < 0;
  };
  auto loser = [&](const SettlementNode& n) {
    if (s.accepted) return n.vote < 0;
    return n.role == Role::Proposer || n.vote > 0;
  };
  for (const auto& n : in.nodes)
    if (winner(n)) s.winner_stake += n.stake;
  for (const auto& n : in.nodes) {
    U256 r, x;
    if (winner(n) && !s.winner_stake.is_zero())
      r = mul_div(s.round_reward, n.stake, s.winner_stake);
    if (loser(n)) x = n.stake * U256(in.slash_bps) / U256(kBps);
    s.paid += r;
    s.slashed += x;
    s.reward.push_back(r);
    s.slash.push_back(x);
  }
  s.to_creator = s.slashed * U256(kCreatorSlashBps) / U256(kBps);
  s.to_pool = s.slashed - s.to_creator;
  s.pool_after = in.pool - s.paid + s.to_pool;
  s.creator_credit = s.to_creator;
  if (in.rounds_left == 1) {
    s.creator_credit += s.pool_after;
    s.pool_after = U256();
  }
  return s;
}

}  // namespace murmur::chain
