// 50 nodes upload 1M-parameter updates at once to a real murmurd (in process, CurveZMQ on
// loopback): the server's new model is bit for bit the kernel's aggregate of the same rows
// (sorted by address), and it is what every node downloads under the announced hash.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>
#include <thread>

#include "murmur/chain/keccak.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/server/server.hpp"
#include "network.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kNodes = 50;
constexpr std::uint64_t kParameters = 1'000'000;

TEST(Ingest, FiftyNodesUploadAndDownloadTheKernelsAggregate) {
  TempDir dir("murmur-ingest");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  server::Server srv(cfg);
  srv.start();
  const std::string key = srv.curve_public_key();
  ASSERT_EQ(key.size(), 40u);

  auto context = std::make_shared<zmq::context_t>(2);
  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;

  // Every node: register, check its round, upload its synthetic update; later download.
  std::vector<client::UploadResult> results(kNodes);
  std::vector<std::string> failures(kNodes);
  std::vector<std::unique_ptr<client::NodeClient>> clients(kNodes);
  {
    std::vector<std::thread> nodes;
    for (std::size_t i = 0; i < kNodes; ++i)
      nodes.emplace_back([&, i] {
        try {
          const auto chain_key = client::derive_node_key(kKeySeed, i);
          clients[i] = std::make_unique<client::NodeClient>(client_options(cfg, key, context));
          auto& c = *clients[i];
          c.register_node(chain_key, cfg.chain_id);
          const auto info = c.round_info();
          if (info.stage() != wire::STAGE_UPLOADING || info.role() != wire::ROLE_PROPOSER ||
              info.parameters() != kParameters)
            throw std::runtime_error("unexpected round info " + info.ShortDebugString());
          const client::SyntheticUpdate update(kKeySeed, i, kParameters, wire::DTYPE_F32);
          results[i] = c.upload_update(info.task_id(), info.round(), update, 1 + i % 7,
                                       {&chain_key, domain});
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
      });
    for (auto& t : nodes) t.join();
  }
  for (std::size_t i = 0; i < kNodes; ++i) ASSERT_EQ(failures[i], "") << "node " << i;
  for (const auto& r : results) {
    EXPECT_EQ(r.total_bytes, kParameters * 4);
    EXPECT_GE(r.max_in_flight, 1u);
    EXPECT_LE(r.max_in_flight, cfg.peer_credits);
    EXPECT_FALSE(r.already_committed);
  }

  // One round, every node a proposer, no voters: the round closes with the candidate accepted.
  const auto snap = wait_for_stage(srv, wire::STAGE_CLOSED, 40s);
  ASSERT_EQ(snap.stage, wire::STAGE_CLOSED) << "last outcome: " << snap.last_outcome;
  EXPECT_EQ(snap.committed_updates, kNodes);

  // The reference: the kernel over the same rows in address order, added to the zero model.
  const auto order = nodes_by_address(kNodes);
  std::vector<double> counts;
  for (auto i : order) counts.push_back(static_cast<double>(1 + i % 7));
  const SyntheticRows rows(order, kParameters);
  auto backend = kernels::make_cpu_backend();
  std::vector<float> expected(kParameters);
  kernels::aggregate(*backend, rows, counts, cfg.aggregation, expected);
  for (auto& v : expected)
    v = 0.0f + v;  // the server adds the aggregate to the global model (zeros)
  const chain::Hash32 expected_hash = chain::keccak256(
      {reinterpret_cast<const std::uint8_t*>(expected.data()), expected.size() * 4});
  EXPECT_EQ(chain::to_hex(snap.global_model), chain::to_hex(expected_hash));
  // Not a trivial model: the weighted mean of 50 rows in [-0.5, 0.5) is small but not zero.
  EXPECT_NE(expected[0], 0.0f);

  // Every node sees the new hash and downloads exactly those bits (fetch_model checks keccak).
  std::vector<std::string> download_failures(kNodes);
  {
    std::vector<std::thread> nodes;
    for (std::size_t i = 0; i < kNodes; ++i)
      nodes.emplace_back([&, i] {
        try {
          const auto info = clients[i]->round_info();
          if (info.global_model_hash() !=
              std::string(snap.global_model.begin(), snap.global_model.end()))
            throw std::runtime_error("round info announces another global model");
          const auto model = clients[i]->fetch_model(snap.global_model);
          if (model.size() != expected.size() ||
              std::memcmp(model.data(), expected.data(), expected.size() * 4) != 0)
            throw std::runtime_error("downloaded model differs from the kernel's aggregate");
        } catch (const std::exception& e) {
          download_failures[i] = e.what();
        }
      });
    for (auto& t : nodes) t.join();
  }
  for (std::size_t i = 0; i < kNodes; ++i) EXPECT_EQ(download_failures[i], "") << "node " << i;
  clients.clear();
  srv.stop();
}

/// Runs one round of murmurd (fresh data directory) in which `kNodesInOrder` nodes upload their
/// synthetic updates one after another in `arrival` order, and returns the new global model's hash.
chain::Hash32 round_with_arrival(const std::vector<std::size_t>& arrival,
                                 const kernels::AggregationSpec& rule, std::uint64_t parameters) {
  TempDir dir("murmur-arrival");
  server::Config cfg = test_config(dir.path() / "data", arrival.size(), parameters);
  cfg.aggregation = rule;
  server::Server srv(cfg);
  srv.start();
  auto context = std::make_shared<zmq::context_t>(1);
  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  for (std::size_t i : arrival) {
    const auto chain_key = client::derive_node_key(kKeySeed, i);
    client::NodeClient c(client_options(cfg, srv.curve_public_key(), context));
    c.register_node(chain_key, cfg.chain_id);
    const auto info = c.round_info();
    const client::SyntheticUpdate update(kKeySeed, i, parameters, wire::DTYPE_F32);
    const auto r =
        c.upload_update(info.task_id(), info.round(), update, 1 + i % 5, {&chain_key, domain});
    EXPECT_FALSE(r.already_committed);
  }
  const auto snap = wait_for_stage(srv, wire::STAGE_CLOSED, 40s);
  EXPECT_EQ(snap.stage, wire::STAGE_CLOSED) << "last outcome: " << snap.last_outcome;
  EXPECT_EQ(snap.committed_updates, arrival.size());
  srv.stop();
  return snap.global_model;
}

/// The same updates reaching murmurd in three different orders give the same model, bit for bit,
/// and it is the kernel's aggregate of the rows in address order: the spool's row order, not the
/// arrival order, is the only order the round has (FedAvg sums in row order; Multi-Krum's
/// selection and tie-breaks are by row).
TEST(Determinism, ArrivalOrderDoesNotChangeTheRoundsBits) {
  constexpr std::size_t n = 9;
  constexpr std::uint64_t parameters = 20'000;
  std::vector<std::size_t> forward(n);
  std::iota(forward.begin(), forward.end(), 0);
  std::vector<std::size_t> backward(forward.rbegin(), forward.rend());
  std::vector<std::size_t> shuffled = forward;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(5));
  ASSERT_NE(shuffled, forward);
  for (const kernels::AggregationSpec& rule :
       {kernels::AggregationSpec{{}, kernels::WeightedMean{}},
        kernels::AggregationSpec{{}, kernels::MultiKrum{2, 4}}}) {
    const auto a = round_with_arrival(forward, rule, parameters);
    const auto b = round_with_arrival(backward, rule, parameters);
    const auto c = round_with_arrival(shuffled, rule, parameters);
    EXPECT_EQ(chain::to_hex(a), chain::to_hex(b)) << kernels::describe(rule);
    EXPECT_EQ(chain::to_hex(a), chain::to_hex(c)) << kernels::describe(rule);
    // ... and that model is the kernel's aggregate over the rows sorted by address.
    const auto order = nodes_by_address(n);
    std::vector<double> counts;
    for (auto i : order) counts.push_back(static_cast<double>(1 + i % 5));
    auto backend = kernels::make_cpu_backend(1);
    std::vector<float> expected(parameters);
    kernels::aggregate(*backend, SyntheticRows(order, parameters), counts, rule, expected);
    for (auto& v : expected) v = 0.0f + v;
    const auto hash = chain::keccak256(
        {reinterpret_cast<const std::uint8_t*>(expected.data()), expected.size() * 4});
    EXPECT_EQ(chain::to_hex(a), chain::to_hex(hash)) << kernels::describe(rule);
  }
}

}  // namespace
}  // namespace murmur::testing
