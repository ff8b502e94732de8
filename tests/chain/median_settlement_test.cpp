// AllianceTaskV2's settlement rule in C++ against the shared table
// contracts/test/median_cases.json, which the Hardhat suite runs against the Solidity library; and
// the client-side hashes (v2_commitments.hpp) against contracts/test/v2_vectors.json, which
// contracts/test/v2_vectors.test.js checks against the contract.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "murmur/chain/median_settlement.hpp"
#include "murmur/chain/v2_commitments.hpp"
#include "murmur/testing/requirements.hpp"

using namespace murmur::chain;

namespace {

MedianRoundInput input_of(const nlohmann::json& c, std::vector<std::string>& ids) {
  MedianRoundInput in;
  in.pool = U256::from_string(c.at("pool").get<std::string>());
  in.rounds_left = c.at("roundsLeft").get<std::uint64_t>();
  in.slash_bps = c.at("slashBps").get<std::uint64_t>();
  in.quorum_bps = c.at("quorumBps").get<std::uint64_t>();
  in.tolerance_bps = c.at("toleranceBps").get<std::uint64_t>();
  std::map<std::string, std::size_t> index;
  for (const auto& n : c.at("nodes")) {
    index[n.at("id").get<std::string>()] = ids.size();
    ids.push_back(n.at("id").get<std::string>());
  }
  for (const auto& n : c.at("nodes")) {
    MedianNode node;
    const std::string status = n.at("status").get<std::string>();
    node.stake = U256::from_string(n.at("stake").get<std::string>());
    if (n.at("role") == "proposer") {
      node.role = Role::Proposer;
      node.proposer = status == "absent"     ? ProposerStatus::Absent
                      : status == "excluded" ? ProposerStatus::Excluded
                                             : ProposerStatus::Included;
    } else {
      node.role = Role::Voter;
      node.voter = status == "absent"       ? VoterStatus::Absent
                   : status == "unrevealed" ? VoterStatus::Unrevealed
                                            : VoterStatus::Revealed;
      if (node.voter == VoterStatus::Revealed) node.score = n.at("score").get<int>();
      for (const auto& id : n.value("objects", nlohmann::json::array()))
        node.objects.push_back(index.at(id.get<std::string>()));
    }
    in.nodes.push_back(std::move(node));
  }
  return in;
}

}  // namespace

TEST(MedianSettlement, SharedCases) {
  std::filesystem::path file =
      std::filesystem::path(MURMUR_SOURCE_DIR) / "contracts/test/median_cases.json";
  MURMUR_REQUIRE_OR_SKIP(std::filesystem::exists(file),
                         file.string() + " not present (contracts/ not checked out)");
  nlohmann::json table = nlohmann::json::parse(std::ifstream(file));
  ASSERT_EQ(table.at("format"), "murmuration-median-cases/1");
  const auto& cases = table.at("cases");
  ASSERT_GE(cases.size(), 40u);
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + c.at("name").get<std::string>());
    std::vector<std::string> ids;
    MedianRoundSettlement s = settle_median_round(input_of(c, ids));
    const auto& ex = c.at("expected");
    EXPECT_EQ(s.quorum, ex.at("quorum").get<bool>());
    EXPECT_EQ(std::to_string(s.median), ex.at("median").get<std::string>());
    EXPECT_EQ(s.accepted, ex.at("accepted").get<bool>());
    EXPECT_EQ(s.revealed_stake.to_dec(), ex.at("revealedStake").get<std::string>());
    EXPECT_EQ(s.voter_stake.to_dec(), ex.at("voterStake").get<std::string>());
    EXPECT_EQ(s.winner_stake.to_dec(), ex.at("winnerStake").get<std::string>());
    EXPECT_EQ(s.pot.to_dec(), ex.at("pot").get<std::string>());
    EXPECT_EQ(s.paid.to_dec(), ex.at("paid").get<std::string>());
    EXPECT_EQ(s.slashed.to_dec(), ex.at("slashed").get<std::string>());
    EXPECT_EQ(s.pool_after.to_dec(), ex.at("poolAfter").get<std::string>());
    EXPECT_EQ(s.creator_credit.to_dec(), ex.at("creatorCredit").get<std::string>());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(s.reward[i].to_dec(), ex.at("nodes").at(ids[i]).at("reward").get<std::string>())
          << ids[i];
      EXPECT_EQ(s.slash[i].to_dec(), ex.at("nodes").at(ids[i]).at("slash").get<std::string>())
          << ids[i];
      if (ex.at("nodes").at(ids[i]).contains("disagreements")) {
        EXPECT_EQ(s.objection_disagreements[i],
                  ex.at("nodes").at(ids[i]).at("disagreements").get<std::size_t>())
            << ids[i];
      }
    }
  }
}

TEST(MedianSettlement, NarrowMinorityIsNotSlashedButFarVotersAre) {
  MedianRoundInput in;
  in.pool = U256(1000);
  in.rounds_left = 2;
  in.slash_bps = 1000;
  in.quorum_bps = 5000;
  in.tolerance_bps = 2000;
  in.nodes = {{Role::Voter, U256(600), ProposerStatus::Absent, VoterStatus::Revealed, 400, {}},
              {Role::Voter, U256(450), ProposerStatus::Absent, VoterStatus::Revealed, -1500, {}},
              {Role::Voter, U256(100), ProposerStatus::Absent, VoterStatus::Revealed, -9000, {}}};
  MedianRoundSettlement s = settle_median_round(in);
  ASSERT_TRUE(s.quorum);
  EXPECT_EQ(s.median,
            400);  // 2·600 ≥ 1200 only once the +400 voter is counted (sorted: −9000, −1500, 400)
  EXPECT_TRUE(s.slash[1].is_zero());
  EXPECT_FALSE(s.reward[1].is_zero());
  EXPECT_EQ(s.slash[2], U256(10));
  // Conservation: pool + slashed = paid + poolAfter + creatorCredit.
  EXPECT_EQ(in.pool + s.slashed, s.paid + s.pool_after + s.creator_credit);
}

TEST(MedianSettlement, ObjectionsCountOnceAndIgnoreAbsentProposers) {
  MedianRoundInput in;
  in.pool = U256(100);
  in.rounds_left = 1;
  in.slash_bps = 5000;
  in.quorum_bps = 1;
  in.nodes = {
      {Role::Proposer, U256(100), ProposerStatus::Included, VoterStatus::Absent, 0, {}},
      {Role::Proposer, U256(100), ProposerStatus::Absent, VoterStatus::Absent, 0, {}},
      {Role::Voter, U256(300), ProposerStatus::Absent, VoterStatus::Revealed, 10, {0, 0, 1}},
      {Role::Voter, U256(400), ProposerStatus::Absent, VoterStatus::Revealed, 10, {2}}};
  MedianRoundSettlement s = settle_median_round(in);
  EXPECT_EQ(s.objection_stake[0], U256(300));   // not 600: a bitmap bit
  EXPECT_TRUE(s.objection_stake[1].is_zero());  // absent: ignored (it is slashed as absent anyway)
  EXPECT_TRUE(s.slash[0].is_zero());            // 2·300 ≤ 700: no majority
  EXPECT_EQ(s.slash[1], U256(50));
  EXPECT_TRUE(s.pool_after.is_zero());
  EXPECT_EQ(in.pool + s.slashed, s.paid + s.creator_credit);
}

// A contrarian voter (the complement of the honest objections, its score within tolerance) is
// far from the objection consensus and slashed; a voter in the objecting minority on one or two
// of four updates is not; included updates are paid although the candidate is rejected.
TEST(MedianSettlement, ObjectionConsensusSlashesTheContrarianNotTheNarrowMinority) {
  MedianRoundInput in;
  in.pool = U256(10'000);
  in.rounds_left = 2;
  in.slash_bps = 1000;
  in.quorum_bps = 5000;
  in.tolerance_bps = 2000;
  const auto proposer = [](ProposerStatus st) {
    return MedianNode{Role::Proposer, U256(100), st, VoterStatus::Absent, 0, {}};
  };
  const auto voter = [](std::uint64_t stake, int score, std::vector<std::size_t> objects) {
    return MedianNode{Role::Voter,           U256(stake), ProposerStatus::Absent,
                      VoterStatus::Revealed, score,       std::move(objects)};
  };
  in.nodes = {proposer(ProposerStatus::Included),
              proposer(ProposerStatus::Included),
              proposer(ProposerStatus::Included),
              proposer(ProposerStatus::Excluded),
              voter(500, -300, {3}),        // honest
              voter(400, -200, {3}),        // honest
              voter(300, -100, {0, 3}),     // the objecting minority on update 0: 1 of 4
              voter(200, -600, {0}),        // minority on 0 and 3: 2 of 4, not more than half
              voter(300, 200, {0, 1, 2})};  // contrarian: 4 of 4
  const MedianRoundSettlement s = settle_median_round(in);
  ASSERT_TRUE(s.quorum);
  EXPECT_EQ(s.median, -200);
  EXPECT_FALSE(s.accepted);
  const std::vector<std::size_t> d(s.objection_disagreements.begin() + 4,
                                   s.objection_disagreements.end());
  EXPECT_EQ(d, (std::vector<std::size_t>{0, 0, 1, 2, 4}));
  for (std::size_t i : {4, 5, 6, 7}) {
    EXPECT_TRUE(s.slash[i].is_zero()) << i;
    EXPECT_FALSE(s.reward[i].is_zero()) << i;
  }
  EXPECT_EQ(s.slash[8], U256(30));  // within tolerance (400 from the median), far in objections
  EXPECT_TRUE(s.reward[8].is_zero());
  for (std::size_t i : {0, 1, 2}) EXPECT_FALSE(s.reward[i].is_zero()) << i;  // rejected, paid
  EXPECT_EQ(s.slash[3], U256(10));  // 1200 of 1700 object to update 3
  EXPECT_EQ(in.pool + s.slashed, s.paid + s.pool_after + s.creator_credit);
}

TEST(MedianSettlement, RefusesWhatTheContractCannotProduce) {
  MedianRoundInput in;
  in.pool = U256(1);
  in.quorum_bps = 5000;
  in.nodes = {{Role::Voter, U256(1), ProposerStatus::Absent, VoterStatus::Revealed, 10'001, {}}};
  EXPECT_THROW(settle_median_round(in), std::invalid_argument);
  in.nodes = {{Role::Voter, U256(1), ProposerStatus::Absent, VoterStatus::Revealed, 0, {7}}};
  EXPECT_THROW(settle_median_round(in), std::invalid_argument);
  in.nodes = {{Role::Proposer, U256(1), ProposerStatus::Included, VoterStatus::Revealed, 0, {}}};
  EXPECT_THROW(settle_median_round(in), std::invalid_argument);
  in.nodes = {{Role::Voter, U256(1), ProposerStatus::Included, VoterStatus::Absent, 0, {}}};
  EXPECT_THROW(settle_median_round(in), std::invalid_argument);
  in.nodes = {{Role::Voter, U256(1), ProposerStatus::Absent, VoterStatus::Unrevealed, 5, {}}};
  EXPECT_THROW(settle_median_round(in), std::invalid_argument);
  in.nodes.clear();
  in.quorum_bps = 0;
  EXPECT_THROW(settle_median_round(in), std::invalid_argument);
  in.quorum_bps = 1;
  in.rounds_left = 0;
  EXPECT_THROW(settle_median_round(in), std::invalid_argument);
  in.rounds_left = 1;
  in.tolerance_bps = 20'001;
  EXPECT_THROW(settle_median_round(in), std::invalid_argument);
}

TEST(V2Commitments, SharedVectors) {
  std::filesystem::path file =
      std::filesystem::path(MURMUR_SOURCE_DIR) / "contracts/test/v2_vectors.json";
  MURMUR_REQUIRE_OR_SKIP(std::filesystem::exists(file),
                         file.string() + " not present (contracts/ not checked out)");
  nlohmann::json vec = nlohmann::json::parse(std::ifstream(file));
  ASSERT_EQ(vec.at("format"), "murmuration-v2-vectors/1");
  auto u256 = [](const nlohmann::json& j) { return U256::from_string(j.get<std::string>()); };
  auto hash = [](const nlohmann::json& j) { return hash_from_hex(j.get<std::string>()); };
  ASSERT_GE(vec.at("voteCommitment").size(), 4u);
  for (const auto& v : vec.at("voteCommitment")) {
    std::vector<U256> objections;
    for (const auto& w : v.at("objections")) objections.push_back(u256(w));
    Hash32 c = vote_commitment(u256(v.at("taskId")), u256(v.at("round")),
                               Address::from_hex(v.at("voter").get<std::string>()),
                               v.at("score").get<int>(), objections, hash(v.at("salt")));
    EXPECT_EQ(to_hex(c), v.at("commitment").get<std::string>());
  }
  for (const auto& s : vec.at("seed"))
    EXPECT_EQ(
        to_hex(v2_round_seed(hash(s.at("blockHash")), u256(s.at("taskId")), u256(s.at("round")))),
        s.at("seed").get<std::string>());
  ASSERT_GE(vec.at("rolesSeed").size(), 5u);
  for (const auto& v : vec.at("rolesSeed")) {
    std::vector<Address> parts;
    for (const auto& a : v.at("participants"))
      parts.push_back(Address::from_hex(a.get<std::string>()));
    const std::uint64_t bps = std::stoull(v.at("proposerBps").get<std::string>());
    EXPECT_EQ(to_hex(v2_roles_seed(hash(v.at("first")), parts, bps)),
              v.at("seed").get<std::string>());
  }
  for (const auto& i : vec.at("includedHash")) {
    std::vector<Hash32> hs;
    for (const auto& h : i.at("updateHashes")) hs.push_back(hash(h));
    EXPECT_EQ(to_hex(included_hash(hs)), i.at("includedHash").get<std::string>());
  }
  for (const auto& b : vec.at("bitmap")) {
    std::vector<std::size_t> idx = b.at("indices").get<std::vector<std::size_t>>();
    std::vector<U256> words = participant_bitmap(idx, b.at("count").get<std::size_t>());
    ASSERT_EQ(words.size(), b.at("words").size());
    for (std::size_t k = 0; k < words.size(); ++k)
      EXPECT_EQ(words[k].to_dec(), b.at("words")[k].get<std::string>());
  }
}

TEST(V2Commitments, RefusesWhatTheContractCannotTake) {
  Hash32 salt{};
  EXPECT_THROW(vote_commitment(U256(1), U256(1), Address{}, 40'000, {}, salt),
               std::invalid_argument);
  std::vector<std::size_t> idx = {3};
  EXPECT_THROW(participant_bitmap(idx, 3), std::invalid_argument);
  idx = {2, 2};  // a repeated index is one bit
  EXPECT_EQ(participant_bitmap(idx, 3).at(0), U256(4));
}

TEST(GradedScore, ClippedRelativeLossChangeInBps) {
  EXPECT_EQ(graded_score(2.0, 1.0), 5000);    // loss halved: +50 %
  EXPECT_EQ(graded_score(2.0, 2.0), 0);       // unchanged
  EXPECT_EQ(graded_score(1.0, 1.25), -2500);  // 25 % worse
  EXPECT_EQ(graded_score(1.0, 0.0), kMaxScore);
  EXPECT_EQ(graded_score(1.0, 5.0), kMinScore);  // clipped at -100 %
  EXPECT_EQ(graded_score(0.3, 0.2998), 7);       // 6.67 bps, rounded to the nearest
  EXPECT_EQ(graded_score(0.3, 0.3002), -7);      // symmetric rounding
  EXPECT_EQ(graded_score(1.0, std::nan("")), kMinScore);
  EXPECT_EQ(graded_score(1.0, INFINITY), kMinScore);
  EXPECT_EQ(graded_score(std::nan(""), 1.0), kMaxScore);
  EXPECT_EQ(graded_score(0.0, 0.0), 0);
  EXPECT_EQ(graded_score(0.0, 0.1), kMinScore);
  EXPECT_THROW(graded_score(-1.0, 1.0), std::invalid_argument);
  EXPECT_THROW(graded_score(1.0, -0.5), std::invalid_argument);
  // The score is within the contract's range for any pair of non-negative losses.
  for (double before : {1e-9, 0.01, 1.0, 1e6})
    for (double after : {0.0, 1e-9, 0.5, 3.0, 1e9}) {
      const int s = graded_score(before, after);
      EXPECT_GE(s, kMinScore);
      EXPECT_LE(s, kMaxScore);
      EXPECT_EQ(s > 0, after < before) << before << " -> " << after;
    }
}
