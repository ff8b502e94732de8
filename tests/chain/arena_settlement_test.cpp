// ArenaTask's reward rule in C++ (chain/src/arena_settlement.cpp) against the shared table
// contracts/test/arena_cases.json, which contracts/test/arena_cases.test.js runs against the
// Solidity library ArenaSettlement; plus the assignment and score-commitment vectors of the same
// file (the JS model of assignees is checked against the contract in arena_attacks.test.js).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "murmur/chain/arena_settlement.hpp"
#include "murmur/testing/requirements.hpp"

using namespace murmur::chain;

namespace {

U256 u256(const nlohmann::json& j) {
  return U256::from_string(j.get<std::string>());
}

nlohmann::json load_table() {
  const std::filesystem::path file =
      std::filesystem::path(MURMUR_SOURCE_DIR) / "contracts/test/arena_cases.json";
  if (!std::filesystem::exists(file)) return {};
  return nlohmann::json::parse(std::ifstream(file));
}

ArenaInput input_of(const nlohmann::json& c) {
  ArenaInput in;
  in.pot = u256(c.at("pot"));
  in.gamma_bps = c.at("gammaBps").get<std::uint64_t>();
  in.rank_ratio_bps = c.at("rankRatioBps").get<std::uint64_t>();
  in.tolerance_bps = c.at("toleranceBps").get<std::uint64_t>();
  in.slash_bps = c.at("slashBps").get<std::uint64_t>();
  std::map<std::string, std::size_t> nodes, validators;
  for (const auto& n : c.at("nodes")) {
    nodes[n.at("id").get<std::string>()] = in.node_stake.size();
    in.node_stake.push_back(u256(n.at("stake")));
  }
  for (const auto& v : c.at("validators")) {
    validators[v.at("id").get<std::string>()] = in.validator_stake.size();
    in.validator_stake.push_back(u256(v.at("stake")));
    in.validator_own_stake.push_back(u256(v.at("own")));
  }
  for (const auto& e : c.at("entries")) {
    ArenaEntry x;
    x.submission = nodes.at(e.at("node").get<std::string>());
    x.validator = validators.at(e.at("validator").get<std::string>());
    x.revealed = e.at("revealed").get<bool>();
    if (x.revealed) x.score = std::stoull(e.at("score").get<std::string>());
    in.entries.push_back(x);
  }
  return in;
}

#define MURMUR_ARENA_TABLE(table)                                                   \
  const nlohmann::json table = load_table();                                        \
  MURMUR_REQUIRE_OR_SKIP(!table.is_null(),                                          \
                         "contracts/test/arena_cases.json not present (contracts/ " \
                         "not checked out)");                                       \
  ASSERT_EQ(table.at("format"), "murmuration-arena-cases/1")

}  // namespace

TEST(ArenaSettlement, SharedCases) {
  MURMUR_ARENA_TABLE(table);
  const auto& cases = table.at("cases");
  ASSERT_GE(cases.size(), 50u);
  std::size_t unranked = 0, slashed = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + c.at("name").get<std::string>());
    const ArenaSettlement o = settle_arena(input_of(c));
    const auto& ex = c.at("expected");
    EXPECT_EQ(o.node_pot.to_dec(), ex.at("nodePot").get<std::string>());
    EXPECT_EQ(o.validator_pot.to_dec(), ex.at("validatorPot").get<std::string>());
    EXPECT_EQ(o.slashed.to_dec(), ex.at("slashed").get<std::string>());
    EXPECT_EQ(o.paid.to_dec(), ex.at("paid").get<std::string>());
    EXPECT_EQ(o.creator_credit.to_dec(), ex.at("creatorCredit").get<std::string>());
    // Conservation: pot + slashed = paid + creator credit, paid = Σ rewards.
    EXPECT_EQ(u256(c.at("pot")) + o.slashed, o.paid + o.creator_credit);
    U256 sum;
    for (std::size_t i = 0; i < c.at("nodes").size(); ++i) {
      const std::string id = c.at("nodes")[i].at("id").get<std::string>();
      const auto& n = ex.at("nodes").at(id);
      SCOPED_TRACE("node " + id);
      EXPECT_EQ(o.consensus[i].has_value(), n.at("hasConsensus").get<bool>());
      EXPECT_EQ(std::to_string(o.consensus[i].value_or(0)), n.at("consensus").get<std::string>());
      if (n.at("rank").is_null()) {
        EXPECT_FALSE(o.rank[i].has_value());
        ++unranked;
      } else {
        EXPECT_EQ(o.rank[i].value_or(~0ull), n.at("rank").get<std::uint64_t>());
      }
      EXPECT_EQ(o.node_reward[i].to_dec(), n.at("reward").get<std::string>());
      sum += o.node_reward[i];
    }
    for (std::size_t v = 0; v < c.at("validators").size(); ++v) {
      const std::string id = c.at("validators")[v].at("id").get<std::string>();
      const auto& x = ex.at("validators").at(id);
      SCOPED_TRACE("validator " + id);
      EXPECT_EQ(o.validator_weight[v].to_dec(), x.at("weight").get<std::string>());
      EXPECT_EQ(o.validator_reward[v].to_dec(), x.at("reward").get<std::string>());
      EXPECT_EQ(o.validator_slash[v].to_dec(), x.at("slash").get<std::string>());
      sum += o.validator_reward[v];
      if (!o.validator_slash[v].is_zero()) ++slashed;
    }
    EXPECT_EQ(sum, o.paid);
  }
  // The table exercises unranked submissions and slashes (not only the happy path).
  EXPECT_GT(unranked, 0u);
  EXPECT_GT(slashed, 0u);
}

TEST(ArenaSettlement, DelegationCases) {
  MURMUR_ARENA_TABLE(table);
  const auto& cases = table.at("delegationCases");
  ASSERT_GE(cases.size(), 20u);
  for (const auto& d : cases) {
    SCOPED_TRACE("delegation case " + d.at("name").get<std::string>());
    std::vector<U256> delegations;
    for (const auto& x : d.at("delegations")) delegations.push_back(u256(x));
    const DelegationSplit s =
        split_delegation(u256(d.at("reward")), u256(d.at("own")),
                         d.at("commissionBps").get<std::uint64_t>(), delegations);
    EXPECT_EQ(s.delegate.to_dec(), d.at("expected").at("delegate").get<std::string>());
    ASSERT_EQ(s.delegators.size(), d.at("expected").at("delegators").size());
    U256 sum = s.delegate;
    for (std::size_t i = 0; i < s.delegators.size(); ++i) {
      EXPECT_EQ(s.delegators[i].to_dec(), d.at("expected").at("delegators")[i].get<std::string>());
      sum += s.delegators[i];
    }
    EXPECT_EQ(sum, u256(d.at("reward")));  // a delegator never receives more than the reward
  }
}

TEST(ArenaSettlement, AssignmentAndCommitmentVectors) {
  MURMUR_ARENA_TABLE(table);
  ASSERT_GE(table.at("assignmentCases").size(), 20u);
  for (const auto& a : table.at("assignmentCases")) {
    SCOPED_TRACE("assignment case " + a.at("name").get<std::string>());
    std::vector<U256> stakes;
    for (const auto& x : a.at("stakes")) stakes.push_back(u256(x));
    const auto picks = arena_assignees(hash_from_hex(a.at("seed").get<std::string>()),
                                       a.at("submission").get<std::uint64_t>(), stakes,
                                       a.at("k").get<std::size_t>());
    EXPECT_EQ(picks, a.at("expected").get<std::vector<std::size_t>>());
    std::set<std::size_t> distinct(picks.begin(), picks.end());
    EXPECT_EQ(distinct.size(), picks.size());
  }
  ASSERT_GE(table.at("commitmentCases").size(), 4u);
  for (const auto& c : table.at("commitmentCases")) {
    const Hash32 h =
        arena_score_commitment(u256(c.at("taskId")), c.at("submission").get<std::uint64_t>(),
                               Address::from_hex(c.at("validator").get<std::string>()),
                               std::stoull(c.at("score").get<std::string>()),
                               hash_from_hex(c.at("salt").get<std::string>()));
    EXPECT_EQ(to_hex(h), c.at("expected").get<std::string>());
  }
}

TEST(ArenaSettlement, RefusesInputsTheContractCannotProduce) {
  ArenaInput in;
  in.pot = U256(1000);
  in.rank_ratio_bps = 5000;
  in.tolerance_bps = 1000;
  in.node_stake = {U256(10)};
  in.validator_stake = {U256(10)};
  in.validator_own_stake = {U256(10)};
  in.entries = {{0, 0, true, 5}};
  EXPECT_NO_THROW(settle_arena(in));
  auto bad = in;
  bad.rank_ratio_bps = 10000;
  EXPECT_THROW(settle_arena(bad), std::invalid_argument);
  bad = in;
  bad.entries.push_back({0, 0, true, 6});
  EXPECT_THROW(settle_arena(bad), std::invalid_argument);  // one pair twice
  bad = in;
  bad.entries[0].validator = 1;
  EXPECT_THROW(settle_arena(bad), std::invalid_argument);
  bad = in;
  bad.entries[0].score = kArenaMaxScore + 1;
  EXPECT_THROW(settle_arena(bad), std::invalid_argument);
  EXPECT_THROW(arena_assignees(Hash32{}, 0, in.validator_stake, 2), std::invalid_argument);
  EXPECT_THROW(split_delegation(U256(1), U256(1), 10001, {}), std::invalid_argument);
  // Agreement: 10000 at the consensus, half way at half the tolerance, 0 at the tolerance.
  EXPECT_EQ(arena_agreement(1'000'000, 1'000'000, 1000), 10000u);
  EXPECT_EQ(arena_agreement(1'050'000, 1'000'000, 1000), 5000u);
  EXPECT_EQ(arena_agreement(900'000, 1'000'000, 1000), 0u);
  EXPECT_EQ(arena_agreement(0, 0, 1), 10000u);
  EXPECT_EQ(arena_agreement(1, 0, 10000), 0u);
}
