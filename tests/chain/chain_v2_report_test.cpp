// `murmur chain-v2 report-equivocation` (issue 16): anyone holding a proposer's signed EIP-712
// Update whose hash is not the one it committed on chain slashes it through AllianceTaskV2's
// reportEquivocation. Against a real Hardhat node (free loopback port): a proposer commits one
// hash and signs an Update for another; a third party reports it; its stake drops by slashBps;
// a second report, a report of the committed hash and a signature by someone else are refused.
#include <gtest/gtest.h>

#include <random>

#include "chain/chain_fixture.hpp"
#include "chain/v2_fixture.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/key_source.hpp"

namespace murmur::chain {
namespace {

using testing::kKeySeed;
using testing::LocalChainTest;

testing::ProcessResult chain_v2(const std::string& url, const std::filesystem::path& dir,
                                const std::string& key, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      MURMUR_CLI,   "chain-v2",           "--rpc",
      url,          "--deployment",       (dir / "deployment.json").string(),
      "--key-file", (dir / key).string(), "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_process(argv, {}, std::chrono::seconds(90));
}

TEST_F(LocalChainTest, ChainV2CliReportsAnEquivocatingProposer) {
  EthClient eth(*rpc_, &alliance_v2::errors());
  std::mt19937_64 rng(kKeySeed + 31);
  const PrivateKey creator_key = funded_key(rng), reporter_key = funded_key(rng);
  Wallet creator(eth, creator_key);
  const Deployment dep = deploy_with_v2(creator);
  const Address v2 = *dep.alliance_task_v2;
  AllianceTaskV2Contract c(eth, v2);
  testing::V2TaskSpec spec;  // slashBps 1000
  const U256 task = testing::create_v2_task(creator, dep, creator.address(), spec);
  std::vector<PrivateKey> keys;
  for (std::size_t i = 0; i < 4; ++i) {
    keys.push_back(funded_key(rng));
    Wallet w(eth, keys.back());
    testing::stake_and_join(creator, w, dep, task, U256(1000));
  }
  eth.raw("evm_increaseTime", nlohmann::json::array({spec.windows.exit + 1}));
  testing::mine(eth, 1);
  const U256 round =
      alliance_v2::opened_from_receipt(creator.transact(v2, alliance_v2::open_round(task)), v2)
          .first;
  testing::mine(eth, 3);
  creator.transact(v2, alliance_v2::draw_roles(task));
  // drawRoles redraws a one-role draw, so four nodes have a proposer.
  std::optional<PrivateKey> proposer;
  for (const auto& k : keys)
    if (c.role_of(task, round, k.address()) == Role::Proposer) proposer = k;
  ASSERT_TRUE(proposer);
  const Address node = proposer->address();
  const Hash32 committed = keccak256(std::string_view("the committed update"));
  const Hash32 other = keccak256(std::string_view("another update"));
  Wallet pw(eth, *proposer);
  pw.transact(v2, alliance_v2::commit_update(task, round, committed));

  Eip712Domain domain;
  domain.chain_id = creator.chain_id();
  domain.verifying_contract = v2;
  const Bytes signed_other =
      sign_update(*proposer, domain, {task, round, other, U256(7)});  // the evidence
  const Bytes signed_committed = sign_update(*proposer, domain, {task, round, committed, U256(7)});
  const Bytes by_someone_else = sign_update(keys[0].address() == node ? keys[1] : keys[0], domain,
                                            {task, round, other, U256(7)});
  const auto dir = testing::make_temp_dir("chain-v2-report");
  save_deployment(dir / "deployment.json", dep);
  write_key_file(dir / "reporter.key", reporter_key);
  const auto report = [&](const Hash32& hash, const Bytes& signature) {
    return chain_v2(url(), dir, "reporter.key",
                    {"report-equivocation", "--task", task.to_dec(), "--round", round.to_dec(),
                     "--node", node.to_checksum(), "--update-hash", to_hex(hash), "--num-samples",
                     "7", "--signature", to_hex(signature)});
  };

  // Refused before any transaction: another signer, or the hash it committed.
  auto r = report(other, by_someone_else);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("is not " + node.to_checksum()), std::string::npos) << r.out << r.err;
  r = report(committed, signed_committed);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no equivocation"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(c.node_info(task, node).stake, U256(1000));

  // The evidence: slashBps (10 %) of the stake, once.
  r = report(other, signed_other);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string last = r.out;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  const auto j = nlohmann::json::parse(last.substr(last.rfind('\n') + 1));
  EXPECT_EQ(j.at("stakeBefore").get<std::string>(), "1000");
  EXPECT_EQ(j.at("stake").get<std::string>(), "900");
  EXPECT_EQ(j.at("committed").get<std::string>(), to_hex(committed));
  EXPECT_EQ(c.node_info(task, node).stake, U256(900));
  r = report(other, signed_other);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("NotEquivocation"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(c.node_info(task, node).stake, U256(900));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace murmur::chain
