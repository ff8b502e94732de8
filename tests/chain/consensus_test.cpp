// Roles and settlement against the contracts' shared case table
// (contracts/test/consensus_cases.json, also run against AllianceTask by the Hardhat suite) and the
// README's fixed role vector.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "murmur/chain/consensus.hpp"
#include "murmur/testing/requirements.hpp"

using namespace murmur::chain;

TEST(Roles, ReadmeFixedVector) {
  // seed 0x11…11, node 0x22…22: keccak % 10000 = 9550 → proposer iff proposerBps > 9550.
  Hash32 seed;
  seed.fill(0x11);
  Address node;
  node.bytes.fill(0x22);
  EXPECT_FALSE(is_proposer(seed, node, 9550));
  EXPECT_TRUE(is_proposer(seed, node, 9551));
  EXPECT_EQ(role_of(seed, node, 10000), Role::Proposer);
  EXPECT_EQ(role_of(seed, node, 0), Role::Voter);
}

TEST(Settlement, SharedConsensusCases) {
  std::filesystem::path file =
      std::filesystem::path(MURMUR_SOURCE_DIR) / "contracts/test/consensus_cases.json";
  MURMUR_REQUIRE_OR_SKIP(std::filesystem::exists(file),
                         file.string() + " not present (contracts/ not checked out)");
  nlohmann::json table = nlohmann::json::parse(std::ifstream(file));
  const auto& cases = table.at("cases");
  ASSERT_GE(cases.size(), 5u);
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + c.at("name").get<std::string>());
    SettlementInput in;
    in.pool = U256::from_string(c.at("pool").get<std::string>());
    in.rounds_left = c.at("roundsLeft").get<std::uint64_t>();
    in.slash_bps = c.at("slashBps").get<std::uint64_t>();
    std::vector<std::string> ids;
    for (const auto& n : c.at("nodes")) {
      SettlementNode sn;
      sn.role = n.at("role") == "proposer" ? Role::Proposer : Role::Voter;
      sn.stake = U256::from_string(n.at("stake").get<std::string>());
      sn.flagged = n.value("flagged", false);
      sn.vote = n.value("vote", 0);
      in.nodes.push_back(sn);
      ids.push_back(n.at("id").get<std::string>());
    }
    const auto& ex = c.at("expected");
    Settlement s = settle_round(in);
    EXPECT_EQ(to_signed_dec(s.vote_sum), ex.at("voteSum").get<std::string>());
    EXPECT_EQ(s.accepted, ex.at("outcome") == "accepted");
    EXPECT_EQ(s.round_reward.to_dec(), ex.at("roundReward").get<std::string>());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(s.reward[i].to_dec(), ex.at("nodes").at(ids[i]).at("reward").get<std::string>())
          << ids[i];
      EXPECT_EQ(s.slash[i].to_dec(), ex.at("nodes").at(ids[i]).at("slash").get<std::string>())
          << ids[i];
    }
    EXPECT_EQ(s.paid.to_dec(), ex.at("paid").get<std::string>());
    EXPECT_EQ(s.slashed.to_dec(), ex.at("slashed").get<std::string>());
    EXPECT_EQ(s.to_pool.to_dec(), ex.at("toPool").get<std::string>());
    EXPECT_EQ(s.to_creator.to_dec(), ex.at("toCreator").get<std::string>());
    EXPECT_EQ(s.pool_after.to_dec(), ex.at("poolAfter").get<std::string>());
    EXPECT_EQ(s.creator_credit.to_dec(), ex.at("creatorCredit").get<std::string>());
  }
}

TEST(Settlement, RefusesWhatTheContractRefuses) {
  SettlementInput in;
  in.pool = U256(100);
  in.rounds_left = 1;
  in.nodes = {{Role::Proposer, U256(10), false, 1}};
  EXPECT_THROW(settle_round(in), std::invalid_argument);
  in.nodes = {{Role::Voter, U256(10), true, 0}};
  EXPECT_THROW(settle_round(in), std::invalid_argument);
  in.nodes = {{Role::Voter, U256(10), false, 2}};
  EXPECT_THROW(settle_round(in), std::invalid_argument);
  in.nodes = {};
  in.rounds_left = 0;
  EXPECT_THROW(settle_round(in), std::invalid_argument);
}
