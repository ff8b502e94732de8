#pragma once
// A node's own calls on AllianceTaskV2 (node_loop.hpp, ChainCalls): commitUpdate before an
// upload, commitVote then revealVote for a vote, finalizeRound as a fallback. What must survive a
// restart is written to ChainCalls::state_dir before the call that depends on it: the update
// (so a restarted proposer never signs a second Update for a round: the contract slashes that
// as equivocation) and the vote's score and salt (so a restarted voter still reveals).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/alliance_v2.hpp"
#include "murmur/chain/eth.hpp"
#include "murmur/chain/rpc.hpp"
#include "murmur/chain/wallet.hpp"
#include "murmur/client/node_loop.hpp"

namespace murmur::client {

class ChainParticipant {
 public:
  /// Connects to `calls.rpc_url`; the contract is `contract`. Reads the votes of earlier runs
  /// from the state directory (those committed and not yet revealed are revealed by `tick`).
  ChainParticipant(const ChainCalls& calls, const chain::PrivateKey& key,
                   const chain::Address& contract, std::uint64_t task_id);

  /// The update this node proposes in `round`: the one persisted by an earlier run, else
  /// `train()` (persisted before it is returned); nullopt when train() gives none.
  std::optional<TrainedUpdate> update_for(
      std::uint64_t round, const std::function<std::optional<TrainedUpdate>()>& train,
      std::uint64_t parameters);
  /// commitUpdate(hash) unless this node committed it already. Throws std::runtime_error when
  /// the chain holds another hash for the node (it must not upload) or refuses the commit.
  void commit_update(std::uint64_t round, const chain::Hash32& hash);

  /// A voter's vote: its graded score and the participant indices (bit i of the bitmap) of the
  /// proposers whose updates it objects to, among `participants`.
  struct Vote {
    int score = 0;
    std::vector<std::size_t> objections;
    std::size_t participants = 0;
  };
  /// An update of the round as a voter judges it: what murmurd listed, and its values.
  using FetchUpdate = std::function<std::vector<float>(const RoundUpdate&)>;

  /// The voter's vote on `candidate`: nullopt while murmurd has not posted a candidate on chain
  /// yet (ask again later); score −10000 and no objection when the posted candidate is another
  /// model or a parameter is not finite; else score graded_score(loss(global), loss(candidate))
  /// by `calls.evaluator`, and the objections of judge_updates (objections.hpp, the simulator's
  /// rule, `calls.objections`) over the listed updates whose hash is their proposer's commitment
  /// on chain (the others are not judged; `fetch` gives each one's values, and an update it
  /// cannot fetch is not judged either). A listed update whose hash is not its proposer's
  /// non-zero commitment (an equivocation a shard set could not refuse at upload) is objected to
  /// and reported with reportEquivocation and its signed Update, unless the contract shows it
  /// reported already; a report that reverts (another voter's landed first) is logged, not
  /// thrown. `say` logs what was left out, objected to and reported, and why.
  std::optional<Vote> judge(std::uint64_t round, const chain::Hash32& candidate_hash,
                            std::span<const float> candidate, RoundContext& ctx,
                            const std::vector<RoundUpdate>& updates, const FetchUpdate& fetch,
                            const std::function<void(const std::string&)>& say);
  /// Whether the round's candidate is posted on chain (the round is past Proposing).
  bool candidate_posted(std::uint64_t round);
  /// Persists (score, objections, salt) and commits the hidden vote, unless committed already
  /// (an earlier run's persisted vote is kept, whatever `vote` says).
  void commit_vote(std::uint64_t round, const Vote& vote);
  void commit_vote(std::uint64_t round, int score) { commit_vote(round, Vote{score, {}, 0}); }
  /// Reveals every committed vote whose reveal window is open and closes rounds nobody closed
  /// (after ChainCalls::finalize_after). Returns (reveals, finalizations) made now.
  std::pair<std::uint64_t, std::uint64_t> tick(const std::function<void(const std::string&)>& say);
  /// Whether a vote of this node still waits to be revealed.
  bool revealing() const { return !pending_.empty(); }

 private:
  struct PendingVote {
    int score = 0;
    std::vector<chain::U256> objections;  ///< the bitmap, as committed
    chain::Hash32 salt{};
    std::optional<std::chrono::steady_clock::time_point> closable_since;
  };
  std::filesystem::path vote_file(std::uint64_t round) const;
  std::filesystem::path update_file(std::uint64_t round) const;
  std::uint64_t next_block_time();
  /// reportEquivocation of `u` (not sent when `reported`); a ChainError is logged through `say`.
  void report_equivocation(std::uint64_t round, const RoundUpdate& u, bool reported,
                           const std::function<void(const std::string&)>& say);

  ChainCalls calls_;
  chain::RpcClient rpc_;
  chain::EthClient eth_;
  chain::Wallet wallet_;
  chain::AllianceTaskV2Contract contract_;
  chain::U256 task_;
  std::map<std::uint64_t, PendingVote> pending_;  ///< committed, not yet revealed
};

}  // namespace murmur::client
