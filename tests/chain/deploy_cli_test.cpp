// `murmur chain deploy` and the token it gives the task contracts: the mintable MockToken only
// on a development chain (Hardhat's 31337 here), an existing ERC-20 passed as --token (checked to
// have code and a totalSupply()) anywhere, and a refusal, before any transaction, on a chain
// that is not a development chain without --token (a second Hardhat node run as chain 4242).
#include <gtest/gtest.h>

#include <random>

#include "chain/chain_fixture.hpp"
#include "chain_cli.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/testing/local_chain.hpp"

namespace murmur::chain {
namespace {

using nlohmann::json;
using testing::LocalChainTest;
using testing::ProcessResult;

TEST(DeployTokenChoice, MockTokenOnlyOnDevelopmentChains) {
  EXPECT_EQ(cli::choose_token(31337, false), cli::TokenChoice::kDeployMock);
  EXPECT_EQ(cli::choose_token(1337, false), cli::TokenChoice::kDeployMock);
  for (std::uint64_t id : {1ull, 10ull, 8453ull, 11155111ull, 4242ull}) {
    EXPECT_EQ(cli::choose_token(id, true), cli::TokenChoice::kUseGiven) << id;
    try {
      cli::choose_token(id, false);
      ADD_FAILURE() << "chain " << id << ": MockToken chosen outside a development chain";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("--token"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(cli::choose_token(31337, true), cli::TokenChoice::kUseGiven);
}

/// `murmur chain deploy` against the node at `url`; the JSON it printed last, or null.
struct Deploy {
  ProcessResult run;
  json out;
};
Deploy run_deploy(const std::string& url, const std::filesystem::path& dir,
                  const std::filesystem::path& key, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {
      MURMUR_CLI,     "chain",
      "--rpc",        url,
      "--deployment", (dir / "deployment.json").string(),
      "--key-file",   key.string(),
      "--json",       "deploy",
      "--artifacts",  std::string(MURMUR_SOURCE_DIR) + "/contracts/artifacts/contracts"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Deploy d{testing::run_process(argv, {}, std::chrono::seconds(90)), nullptr};
  if (d.run.exit_code == 0 && !d.run.out.empty()) {
    const auto last = d.run.out.substr(d.run.out.find_last_of('\n', d.run.out.size() - 2) + 1);
    d.out = json::parse(last, nullptr, false);
  }
  return d;
}

std::string code_at(EthClient& eth, const Address& a) {
  return eth.raw("eth_getCode", json::array({a.to_lower_hex(), "latest"})).get<std::string>();
}

class DeployCli : public LocalChainTest {};

TEST_F(DeployCli, DevelopmentChainDeploysMockTokenOrUsesTheGivenOne) {
  ASSERT_EQ(eth_->chain_id(), 31337u);
  std::mt19937_64 rng(20261203);
  const auto dir = testing::make_temp_dir("deploy-dev");
  const auto key = dir / "deployer.key";
  write_key_file(key, funded_key(rng));

  const Deploy mock = run_deploy(url(), dir, key);
  ASSERT_EQ(mock.run.exit_code, 0) << mock.run.out << mock.run.err;
  ASSERT_TRUE(mock.out.is_object()) << mock.run.out;
  EXPECT_TRUE(mock.out.at("mockToken").get<bool>());
  const Deployment first = load_deployment(dir / "deployment.json");
  EXPECT_EQ(first.chain_id, 31337u);
  EXPECT_EQ(first.network, "development");
  EXPECT_GT(code_at(*eth_, first.token).size(), 2u)
      << "no MockToken at " << first.token.to_checksum();
  ASSERT_TRUE(first.alliance_task_v2);
  EXPECT_GT(code_at(*eth_, *first.alliance_task_v2).size(), 2u);

  // With --token the given ERC-20 is used, and no new token is deployed.
  const Deploy given = run_deploy(url(), dir, key, {"--token", first.token.to_checksum()});
  ASSERT_EQ(given.run.exit_code, 0) << given.run.out << given.run.err;
  EXPECT_FALSE(given.out.at("mockToken").get<bool>());
  const Deployment second = load_deployment(dir / "deployment.json");
  EXPECT_EQ(second.token, first.token);
  EXPECT_EQ(second.network, "custom");
  EXPECT_NE(second.alliance_task, first.alliance_task);

  // An address without code is not a token: refused before anything is sent.
  const Address nobody = funded_key(rng).address();
  const Deploy empty = run_deploy(url(), dir, key, {"--token", nobody.to_checksum()});
  EXPECT_NE(empty.run.exit_code, 0);
  EXPECT_NE(empty.run.err.find("has no code"), std::string::npos) << empty.run.err;
  std::filesystem::remove_all(dir);
}

TEST(DeployOnAnotherChain, WithoutTokenIsRefusedBeforeAnyTransaction) {
  const std::filesystem::path repo = MURMUR_SOURCE_DIR;
  if (!std::filesystem::exists(repo / "contracts/node_modules/.bin/hardhat"))
    GTEST_SKIP() << "contracts/node_modules is missing: run `npm ci` in contracts/";
  testing::HardhatNode node(repo / "contracts", std::chrono::seconds(120), 4242);
  RpcClient rpc(node.url());
  EthClient eth(rpc, &alliance::errors());
  ASSERT_EQ(eth.chain_id(), 4242u);
  const auto dir = testing::make_temp_dir("deploy-other");
  std::mt19937_64 rng(20261204);
  Hash32 secret{};
  for (auto& b : secret) b = static_cast<std::uint8_t>(rng());
  const PrivateKey deployer(secret);
  eth.raw("hardhat_setBalance",
          json::array({deployer.address().to_lower_hex(),
                       U256::from_string("1000000000000000000000").to_quantity()}));
  const auto key = dir / "deployer.key";
  write_key_file(key, deployer);

  const Deploy refused = run_deploy(node.url(), dir, key);
  EXPECT_NE(refused.run.exit_code, 0);
  EXPECT_NE(refused.run.err.find("chain 4242 is not a development chain"), std::string::npos)
      << refused.run.err;
  EXPECT_NE(refused.run.err.find("--token"), std::string::npos) << refused.run.err;
  EXPECT_EQ(eth.pending_nonce(deployer.address()), 0u) << "a refused deploy sent a transaction";
  EXPECT_FALSE(std::filesystem::exists(dir / "deployment.json"));

  // An ERC-20 already on that chain (here: one the test deploys itself) is taken as --token.
  Wallet w(eth, deployer);
  const auto bytecode = [&] {
    std::ifstream in(repo / "contracts/artifacts/contracts/MockToken.sol/MockToken.json");
    return from_hex(json::parse(in).at("bytecode").get<std::string>());
  }();
  const Address token = *w.transact(std::nullopt, bytecode).contract_address;
  const Deploy used = run_deploy(node.url(), dir, key, {"--token", token.to_checksum()});
  ASSERT_EQ(used.run.exit_code, 0) << used.run.out << used.run.err;
  EXPECT_FALSE(used.out.at("mockToken").get<bool>());
  const Deployment d = load_deployment(dir / "deployment.json");
  EXPECT_EQ(d.chain_id, 4242u);
  EXPECT_EQ(d.token, token);
  EXPECT_GT(code_at(eth, d.alliance_task).size(), 2u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace murmur::chain
