#include "chain/chain_fixture.hpp"

#include <fstream>
#include <thread>

#include "murmur/testing/requirements.hpp"

namespace murmur::chain::testing {

HardhatNode* LocalChainTest::node_ = nullptr;
std::string LocalChainTest::start_error_;

void LocalChainTest::SetUpTestSuite() {
  if (!std::filesystem::exists(repo() / "contracts/node_modules/.bin/hardhat"))
    return;  // SetUp skips
  try {
    node_ = new HardhatNode(repo() / "contracts", std::chrono::seconds(120));
    std::cout << "hardhat node on " << node_->url() << ", key seed " << kKeySeed << "\n";
  } catch (const std::exception& e) {
    start_error_ = e.what();
  }
}

void LocalChainTest::TearDownTestSuite() {
  delete node_;
  node_ = nullptr;
}

void LocalChainTest::SetUp() {
  MURMUR_REQUIRE_OR_SKIP(
      std::filesystem::exists(repo() / "contracts/node_modules/.bin/hardhat"),
      "contracts/node_modules is missing: run `npm ci` in contracts/ (scripts/setup.sh does)");
  ASSERT_NE(node_, nullptr) << "hardhat node did not start: " << start_error_;
  rpc_ = std::make_unique<RpcClient>(node_->url());
  eth_ = std::make_unique<EthClient>(*rpc_, &alliance::errors());
}

void fund(EthClient& eth, const Address& a) {
  eth.raw("hardhat_setBalance",
          nlohmann::json::array(
              {a.to_lower_hex(), U256::from_string("1000000000000000000000").to_quantity()}));
}

U256 create_task(Wallet& creator, const Deployment& d, const TaskParams& params) {
  creator.transact(d.token, erc20::mint(creator.address(), params.reward_pool));
  creator.transact(d.token, erc20::approve(d.alliance_task, params.reward_pool));
  return alliance::task_id_from_receipt(
      creator.transact(d.alliance_task, alliance::create_task(params)), d.alliance_task);
}

U256 create_task(Wallet& creator, const Deployment& d, const V2TaskParams& params) {
  const Address v2 = d.alliance_task_v2.value();
  creator.transact(d.token, erc20::mint(creator.address(), params.reward_pool));
  creator.transact(d.token, erc20::approve(v2, params.reward_pool));
  return alliance_v2::task_id_from_receipt(creator.transact(v2, alliance_v2::create_task(params)),
                                           v2);
}

void fund_stake_join(EthClient& eth, Wallet& minter, const Deployment& d, TaskContract contract,
                     const U256& task, const PrivateKey& node, const U256& stake) {
  fund(eth, node.address());
  Wallet w(eth, node);
  minter.transact(d.token, erc20::mint(node.address(), stake));
  if (contract == TaskContract::alliance) {
    w.transact(d.token, erc20::approve(d.alliance_task, stake));
    w.transact(d.alliance_task, alliance::stake(task, stake));
    w.transact(d.alliance_task, alliance::join(task));
  } else {
    const Address v2 = d.alliance_task_v2.value();
    w.transact(d.token, erc20::approve(v2, stake));
    w.transact(v2, alliance_v2::stake(task, stake));
    w.transact(v2, alliance_v2::join(task));
  }
}

PrivateKey LocalChainTest::funded_key(std::mt19937_64& rng) {
  while (true) {
    Hash32 secret;
    for (auto& b : secret) b = static_cast<std::uint8_t>(rng());
    try {
      PrivateKey k(secret);
      fund(*eth_, k.address());
      return k;
    } catch (const std::invalid_argument&) {
    }
  }
}

namespace {

Bytes artifact_bytecode(const std::filesystem::path& repo, const std::string& name) {
  // Another Hardhat process (the contracts' own ctest) may be rewriting the artifacts while we
  // read them: retry a truncated file a few times before failing.
  auto file = repo / "contracts/artifacts/contracts" / (name + ".sol") / (name + ".json");
  for (int attempt = 0;; ++attempt) {
    std::ifstream in(file);
    if (!in)
      throw std::runtime_error("missing artifact " + file.string() +
                               " (hardhat node compiles on start)");
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded() && j.contains("bytecode"))
      return from_hex(j["bytecode"].get<std::string>());
    if (attempt == 20) throw std::runtime_error("artifact " + file.string() + " is not valid JSON");
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace

Address LocalChainTest::deploy_artifact(Wallet& deployer, const std::string& name) {
  Receipt r = deployer.transact(std::nullopt, artifact_bytecode(repo(), name));
  if (!r.contract_address)
    throw std::runtime_error("deployment receipt of " + name + " without address");
  return *r.contract_address;
}

Deployment LocalChainTest::deploy(Wallet& deployer) {
  Receipt token = deployer.transact(std::nullopt, artifact_bytecode(repo(), "MockToken"));
  Receipt alliance = deployer.transact(std::nullopt, artifact_bytecode(repo(), "AllianceTask"));
  if (!token.contract_address || !alliance.contract_address)
    throw std::runtime_error("deployment receipt without address");
  return Deployment{deployer.chain_id(),        "hardhat-test", *token.contract_address,
                    *alliance.contract_address, std::nullopt,   deployer.address(),
                    alliance.block_number};
}

Deployment LocalChainTest::deploy_with_v2(Wallet& deployer) {
  Deployment d = deploy(deployer);
  d.alliance_task_v2 = deploy_artifact(deployer, "AllianceTaskV2");
  return d;
}

std::pair<U256, Hash32> LocalChainTest::start_round_with_roles(
    Wallet& aggregator, const Address& contract, const U256& task,
    const std::vector<Address>& nodes, const std::vector<Role>& roles, std::uint64_t proposer_bps) {
  AllianceTaskContract alliance(*eth_, contract);
  U256 round = U256(alliance.get_task(task).current_round) + U256(1);
  nlohmann::json parent =
      eth_->raw("eth_getBlockByNumber", nlohmann::json::array({"latest", false}));
  Hash32 parent_hash = hash_from_hex(parent.at("hash").get<std::string>());
  for (std::uint64_t k = 1; k <= 200'000; ++k) {
    Hash32 seed = round_seed(U256(k), parent_hash, task, round);
    bool all = true;
    for (std::size_t i = 0; i < nodes.size() && all; ++i)
      all = role_of(seed, nodes[i], proposer_bps) == roles[i];
    if (!all) continue;
    eth_->raw("hardhat_setPrevRandao", nlohmann::json::array({to_hex(U256(k).to_be_bytes())}));
    Receipt r = aggregator.transact(contract, alliance::start_round(task));
    auto [got_round, got_seed] = alliance::round_from_receipt(r, contract);
    if (got_round != round || got_seed != seed)
      throw std::runtime_error("seed prediction failed: chain seed " + to_hex(got_seed) +
                               " != predicted " + to_hex(seed) +
                               " (another block was mined in between?)");
    return {round, seed};
  }
  throw std::runtime_error("no prevrandao below 200000 gives the wanted roles");
}

}  // namespace murmur::chain::testing
