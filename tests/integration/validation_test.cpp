// murmurd's round validation and round record against a real server on loopback: nodes train
// softmax regression on real Fashion-MNIST rows (plain gradient descent written out here),
// one node uploads a poisoned update (its own step, sign-flipped and scaled), one a NaN
// update. After aggregation murmurd scores the candidates on the real test set and records, per
// update, loss alone / without / contribution beside the rule's verdict, and per round the
// previous and new model's loss and accuracy, the vote's tally, the outcome and the flags.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "murmur/chain/keccak.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/labelled_tensor_file.hpp"
#include "murmur/server/server.hpp"
#include "network.hpp"
#include "state_store.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kFeatures = 784, kClasses = 10;
constexpr std::uint64_t kParameters = kClasses * kFeatures + kClasses;  // logistic regression
constexpr std::size_t kValidationRows = 2000;
/// Two fp32 GEMM evaluations of the same model whose kernels or batch positions differ agree to
/// about 1e-7 relative in each logit; the mean loss over the rows to well within this.
constexpr double kGemmLossTolerance = 1e-6;
constexpr std::size_t kRowsPerNode = 400;

const model::LabelledSet& training_set() {
  static const model::LabelledSet set = model::load_fashion_mnist(model::FashionMnistSplit::kTrain);
  return set;
}

/// Node `node`'s update: 20 steps of full-batch gradient descent (lr 0.02) on softmax
/// regression from the zero model over its own kRowsPerNode training rows, as a delta in
/// libtorch's Linear(784, 10) layout [W (10 x 784) | b (10)]:
///   dL/dW_cj = mean_x (p_c(x) - [y = c]) x_j,   dL/db_c = mean_x (p_c(x) - [y = c]).
std::vector<float> honest_update(std::size_t node) {
  const auto& data = training_set();
  std::vector<double> w(kParameters, 0.0);
  for (int step = 0; step < 20; ++step) {
    std::vector<double> grad(kParameters, 0.0);
    for (std::size_t r = 0; r < kRowsPerNode; ++r) {
      const std::size_t row = node * kRowsPerNode + r;
      const float* x = data.features.data() + row * kFeatures;
      double logits[kClasses], top = -1e300, z = 0;
      for (std::size_t c = 0; c < kClasses; ++c) {
        double v = w[kClasses * kFeatures + c];
        for (std::size_t j = 0; j < kFeatures; ++j) v += w[c * kFeatures + j] * x[j];
        logits[c] = v;
        top = std::max(top, v);
      }
      for (double& v : logits) z += (v = std::exp(v - top));
      for (std::size_t c = 0; c < kClasses; ++c) {
        const double g = (logits[c] / z - (static_cast<std::size_t>(data.labels[row]) == c)) /
                         static_cast<double>(kRowsPerNode);
        for (std::size_t j = 0; j < kFeatures; ++j) grad[c * kFeatures + j] += g * x[j];
        grad[kClasses * kFeatures + c] += g;
      }
    }
    for (std::size_t k = 0; k < kParameters; ++k) w[k] -= 0.02 * grad[k];
  }
  return std::vector<float>(w.begin(), w.end());
}

server::ValidationConfig fashion_mnist_validation() {
  server::ValidationConfig v;
  v.mlp = {kFeatures, kClasses};
  v.fashion_mnist = "test";
  v.max_rows = kValidationRows;
  v.max_batch = 8;
  return v;
}

struct Nodes {
  Nodes(const server::Config& cfg, const std::string& server_key, std::size_t n) : cfg(cfg) {
    domain.chain_id = cfg.chain_id;
    domain.verifying_contract = cfg.contract;
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(client::derive_node_key(kKeySeed, i));
      clients.push_back(std::make_unique<client::NodeClient>(client_options(cfg, server_key)));
      clients.back()->register_node(keys.back(), cfg.chain_id);
    }
  }
  void upload(std::size_t i, const std::vector<float>& update) {
    const auto info = clients[i]->round_info();
    clients[i]->upload_update(info.task_id(), info.round(), update, wire::DTYPE_F32, kRowsPerNode,
                              {&keys[i], domain});
  }
  const server::Config& cfg;
  chain::Eip712Domain domain;
  std::vector<chain::PrivateKey> keys;
  std::vector<std::unique_ptr<client::NodeClient>> clients;
};

const server::UpdateRecord& row_of(const server::RoundRecord& r, const chain::Address& a) {
  for (const auto& u : r.updates)
    if (u.address == a) return u;
  throw std::runtime_error("no diagnostics row for " + a.to_checksum());
}

TEST(RoundValidation, FedAvgRoundRecordsContributionsVotesAndTheOutcome) {
  TempDir dir("murmur-validation");
  constexpr std::size_t kNodes = 10;
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.proposer_bps = 6000;
  cfg.validation = fashion_mnist_validation();
  cfg.quorum = 1;       // uploading ends when every proposer drawn has committed,
  cfg.vote_quorum = 1;  // voting when every voter has voted
  cfg.vote_window = 20s;
  std::vector<std::vector<float>> honest;
  for (std::size_t i = 0; i < kNodes; ++i) honest.push_back(honest_update(i));
  server::Server server(cfg);
  server.start();
  Nodes nodes(cfg, server.curve_public_key(), kNodes);

  std::vector<std::size_t> proposers, voters;
  for (std::size_t i = 0; i < kNodes; ++i)
    (nodes.clients[i]->round_info().role() == wire::ROLE_PROPOSER ? proposers : voters)
        .push_back(i);
  ASSERT_GE(proposers.size(), 3u) << "the local seed drew too few proposers";
  ASSERT_GE(voters.size(), 2u) << "the local seed drew too few voters";

  const std::size_t attacker = proposers.front();
  for (std::size_t i : proposers) {
    if (i != attacker) {
      nodes.upload(i, honest[i]);
      continue;
    }
    std::vector<float> poisoned = honest[i];  // its own step, reversed and scaled
    for (float& x : poisoned) x *= -3.0f;
    nodes.upload(i, poisoned);
  }
  const auto voting = wait_for_stage(server, wire::STAGE_VOTING, 60s);
  ASSERT_EQ(voting.stage, wire::STAGE_VOTING) << voting.last_outcome;
  // One voter against, the others for: accepted by stake 1 x (voters - 1) to 1.
  for (std::size_t k = 0; k < voters.size(); ++k) {
    const std::size_t i = voters[k];
    nodes.clients[i]->vote(cfg.task_id, 1, voting.candidate_model, k == 0 ? -1 : 1, 0.5,
                           {&nodes.keys[i], nodes.domain});
  }
  const auto closed = wait_for_stage(server, wire::STAGE_CLOSED, 30s);
  ASSERT_EQ(closed.stage, wire::STAGE_CLOSED);
  const auto global = nodes.clients[voters[0]]->fetch_model(closed.global_model);
  nodes.clients.clear();
  server.stop();

  server::StateStore store(cfg.data_dir);
  const auto record = store.round_record(1);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->update_count, proposers.size());
  EXPECT_EQ(record->candidate_model, voting.candidate_model);
  ASSERT_TRUE(record->decision.has_value());
  const auto& d = *record->decision;
  EXPECT_EQ(d.outcome, server::RoundOutcome::kAccepted);
  EXPECT_EQ(d.reason, store.outcome(1));
  EXPECT_EQ(d.votes, voters.size());
  EXPECT_EQ(d.votes_for, voters.size() - 1);
  EXPECT_EQ(d.votes_against, 1u);
  EXPECT_EQ(d.stake_for, chain::U256(voters.size() - 1));
  EXPECT_EQ(d.stake_against, chain::U256(1));
  EXPECT_TRUE(record->flagged().empty()) << "FedAvg rejects nothing";
  EXPECT_FALSE(record->posting.has_value()) << "no [chain] configured";

  ASSERT_TRUE(record->validation.has_value());
  const auto& v = *record->validation;
  EXPECT_EQ(v.rows, kValidationRows);
  EXPECT_EQ(v.weights, "rule");
  EXPECT_EQ(v.candidates, 2 * proposers.size() + 2);
  // The zero model predicts uniformly: loss ln 10 on every example.
  EXPECT_NEAR(v.previous_loss, std::log(10.0), 1e-5);
  // The recorded figures are the new global model's, as a separate evaluator scores it.
  const auto test_set = [] {
    auto s = model::load_fashion_mnist(model::FashionMnistSplit::kTest);
    s.features.resize(kValidationRows * kFeatures);
    s.labels.resize(kValidationRows);
    return s;
  }();
  auto backend = kernels::make_cpu_backend();
  model::BatchedMlpEvaluator check(*backend, {{kFeatures, kClasses}}, test_set);
  const auto own = check.evaluate(global).at(0);
  ASSERT_TRUE(own.valid());
  // murmurd scored the model inside a batch of candidates, this evaluator alone: OpenBLAS may
  // round each logit differently by kernel family and batch position (2^-24 relative), which
  // moves the mean loss in its last digits and can flip a prediction whose top two logits tie.
  EXPECT_NEAR(v.candidate_loss, own.mean_loss, kGemmLossTolerance * std::max(1.0, own.mean_loss));
  EXPECT_NEAR(v.candidate_accuracy, own.accuracy, 2.0 / kValidationRows);

  // The same record as `murmurd rounds` prints it.
  const auto json = nlohmann::json::parse(server::round_records_json(cfg.data_dir));
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["round"], 1);
  EXPECT_EQ(json[0]["outcome"], "accepted");
  EXPECT_EQ(json[0]["votes_for"], voters.size() - 1);
  EXPECT_EQ(json[0]["stake_against"], "1");
  EXPECT_EQ(json[0]["flagged"], nlohmann::json::array());
  EXPECT_DOUBLE_EQ(json[0]["validation"]["candidate_loss"].get<double>(), v.candidate_loss);
  ASSERT_EQ(json[0]["update_rows"].size(), proposers.size());
  std::size_t negative = 0;
  for (const auto& row : json[0]["update_rows"]) {
    const bool is_attacker = row["address"] == nodes.keys[attacker].address().to_checksum();
    negative += row["validation"]["contribution"].get<double>() < 0;
    if (is_attacker) {
      EXPECT_LT(row["validation"]["contribution"].get<double>(), 0.0);
    }
  }
  EXPECT_EQ(negative, 1u) << "only the attacker makes the round's model worse";

  ASSERT_EQ(record->updates.size(), proposers.size());
  for (std::size_t i : proposers) {
    const auto& u = row_of(*record, nodes.keys[i].address());
    SCOPED_TRACE("node " + std::to_string(i) + (i == attacker ? " (attacker)" : ""));
    EXPECT_EQ(u.verdict, "kept");
    EXPECT_EQ(u.flag, "");
    EXPECT_EQ(u.validation.alone_status, "scored");
    ASSERT_TRUE(std::isfinite(u.validation.contribution));
    EXPECT_DOUBLE_EQ(u.validation.contribution, u.validation.without_loss - v.candidate_loss);
    if (i == attacker) {
      // The round's model is worse with it than without it, and it alone is worse than nothing.
      EXPECT_LT(u.validation.contribution, -0.05);
      EXPECT_GT(u.validation.alone_loss, v.previous_loss);
    } else {
      EXPECT_LT(u.validation.alone_loss, v.previous_loss - 0.3);
      EXPECT_GT(u.validation.alone_accuracy, 0.5);
    }
  }
}

TEST(RoundValidation, MultiKrumFlagsThePoisonedUpdateAndANaNUpdateNeverArrives) {
  TempDir dir("murmur-validation-krum");
  constexpr std::size_t kNodes = 6;  // 4 honest, 1 poisoned, 1 NaN
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.validation = fashion_mnist_validation();
  cfg.aggregation = {{}, kernels::MultiKrum{1, 4}, true};
  cfg.quorum = kNodes - 1;
  cfg.upload_window = 6s;  // the NaN node never commits: the round waits for the deadline
  const std::size_t attacker = 4, nan_node = 5;
  std::vector<std::vector<float>> updates;
  for (std::size_t i = 0; i < kNodes; ++i) updates.push_back(honest_update(i));
  for (float& x : updates[attacker]) x *= -5.0f;
  updates[nan_node][1234] = std::nanf("");
  server::Server srv(cfg);
  srv.start();
  Nodes nodes(cfg, srv.curve_public_key(), kNodes);
  for (std::size_t i = 0; i < nan_node; ++i) nodes.upload(i, updates[i]);
  std::vector<float>& bad = updates[nan_node];
  try {
    nodes.upload(nan_node, bad);
    ADD_FAILURE() << "a NaN update was accepted";
  } catch (const client::ServerError& e) {
    EXPECT_EQ(e.code(), wire::ERR_NON_FINITE) << e.what();
  }
  const auto closed = wait_for_stage(srv, wire::STAGE_CLOSED, 60s);
  ASSERT_EQ(closed.stage, wire::STAGE_CLOSED) << closed.last_outcome;
  nodes.clients.clear();
  srv.stop();

  server::StateStore store(cfg.data_dir);
  const auto record = store.round_record(1);
  ASSERT_TRUE(record.has_value());
  ASSERT_TRUE(record->decision.has_value());
  EXPECT_EQ(record->decision->outcome, server::RoundOutcome::kAccepted);  // no voters: 0 >= 0
  EXPECT_EQ(record->decision->votes, 0u);
  EXPECT_EQ(record->update_count, kNodes - 1);
  ASSERT_EQ(record->updates.size(), kNodes - 1);  // the NaN node has no row
  EXPECT_EQ(record->flagged(), std::vector<chain::Address>{nodes.keys[attacker].address()});
  ASSERT_TRUE(record->validation.has_value());
  const auto& v = *record->validation;
  EXPECT_EQ(v.weights, "rule");
  EXPECT_LT(v.candidate_loss, v.previous_loss - 0.3);  // the rule kept the honest updates

  const auto& poisoned = row_of(*record, nodes.keys[attacker].address());
  EXPECT_EQ(poisoned.verdict, "rejected by rule");
  EXPECT_EQ(poisoned.flag, "rejected");
  EXPECT_EQ(poisoned.weight, 0.0);
  // Weight 0: the round's model is the same with or without it.
  EXPECT_EQ(poisoned.validation.contribution, 0.0);
  EXPECT_GT(poisoned.validation.alone_loss, v.previous_loss);
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& u = row_of(*record, nodes.keys[i].address());
    EXPECT_EQ(u.verdict, "kept") << "node " << i;
    EXPECT_DOUBLE_EQ(u.weight, 0.25) << "node " << i;
    EXPECT_TRUE(std::isfinite(u.validation.contribution)) << "node " << i;
    EXPECT_LT(u.validation.alone_loss, v.previous_loss) << "node " << i;
  }
}

TEST(RoundValidation, ConfigurationErrorsNameTheProblem) {
  TempDir dir("murmur-validation-config");
  // A model that is not the task's: refused at startup, before anything is served.
  server::Config cfg = test_config(dir.path() / "data", 2, kParameters + 1);
  cfg.validation = fashion_mnist_validation();
  try {
    server::Server srv(cfg);
    ADD_FAILURE() << "a 784-10 model was accepted for a task of " << kParameters + 1;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("task.parameters"), std::string::npos) << e.what();
  }
  // A corrupt labelled-tensor file: the reader's error, naming the file.
  cfg.parameters = kParameters;
  cfg.validation->fashion_mnist.clear();
  cfg.validation->labelled_tensors = dir.path() / "broken.mlt";
  std::ofstream(cfg.validation->labelled_tensors) << "MURMURLT but not really";
  try {
    server::Server srv(cfg);
    ADD_FAILURE() << "a corrupt validation set was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.mlt"), std::string::npos) << e.what();
  }

  // The TOML section: read back as written; contradictions refused with the key named.
  const auto toml = dir.path() / "murmurd.toml";
  const auto write = [&](const std::string& validation) {
    write_murmurd_config(test_config(dir.path() / "data", 2, kParameters), toml);
    std::ofstream(toml, std::ios::app) << "[validation]\n" << validation;
  };
  write(
      "mlp = [784, 10]\nlabelled_tensors = \"set.mlt\"\nmax_batch = 4\nfeature_mean = 0.25\n"
      "feature_std = 0.5\nmax_rows = 100\n");
  const server::Config read = server::load_config(toml);
  ASSERT_TRUE(read.validation.has_value());
  EXPECT_EQ(read.validation->mlp, (std::vector<std::size_t>{784, 10}));
  EXPECT_EQ(read.validation->labelled_tensors, dir.path() / "set.mlt");
  EXPECT_EQ(read.validation->max_batch, 4u);
  EXPECT_EQ(read.validation->max_rows, 100u);
  EXPECT_EQ(read.validation->feature_mean, 0.25);
  EXPECT_EQ(read.validation->feature_std, 0.5);
  EXPECT_FALSE(read.chain.has_value());
  const auto refused = [&](const std::string& validation, const std::string& key) {
    write(validation);
    try {
      server::load_config(toml);
      ADD_FAILURE() << "accepted: " << validation;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  refused("labelled_tensors = \"set.mlt\"\n", "validation");  // no model
  refused("mlp = [784, 10]\ntorchscript = \"m.pt\"\nfashion_mnist = \"test\"\n", "validation");
  refused("mlp = [784, 10]\n", "validation");  // no set
  refused("mlp = [784, 10]\nfashion_mnist = \"valid\"\n", "validation.fashion_mnist");
  refused("mlp = [784, -10]\nfashion_mnist = \"test\"\n", "validation.mlp");
  refused("mlp = [784, 10]\nfashion_mnist = \"test\"\nfeature_std = 0\n", "validation.feature_std");
}

}  // namespace
}  // namespace murmur::testing
