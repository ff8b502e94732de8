#pragma once
// A shard set at the end of a round, for the tests that check its model bit for bit: every shard
// closed, the single FedAvg pass over the uploads of upload_all_split that the model read back
// from the shards must equal, and the coordinator's record of the round.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>
#include <vector>

#include "murmur/client/shard_upload.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "shard_set.hpp"

namespace murmur::testing {

/// Waits (at most `limit` for each) until every shard `c` is a client of has closed the round.
/// A shard that does not close is a fatal failure with its log and the coordinator's: call under
/// ASSERT_NO_FATAL_FAILURE.
inline void wait_closed(ShardSetFixture& set, const ShardClients& c, std::chrono::seconds limit) {
  for (std::size_t k = 0; k < c.own.size(); ++k) {
    const auto info = wait_round(
        *c.own[k], [](const wire::RoundInfo& i) { return i.stage() == wire::STAGE_CLOSED; }, limit);
    ASSERT_EQ(info.stage(), wire::STAGE_CLOSED)
        << "shard " << k << " did not close the round:\n"
        << set.shard(k).process->log_text() << "the coordinator's log:\n"
        << set.coordinator().process->log_text();
  }
}

/// `set`'s initial model plus one FedAvg pass (kernels::aggregate on the CPU) over every node's
/// node_update, the rows in address order and node i counting 1 + i % 3 samples, as
/// upload_all_split uploads them.
inline std::vector<float> single_pass_fedavg(const ShardSetFixture& set) {
  const ShardTask& task = set.task();
  std::vector<std::pair<chain::Address, std::size_t>> order;
  for (std::size_t i = 0; i < task.nodes; ++i)
    order.emplace_back(client::derive_node_key(kShardKeySeed, i).address(), i);
  std::sort(order.begin(), order.end());
  std::vector<float> rows;
  std::vector<double> counts;
  for (const auto& [a, i] : order) {
    const auto u = node_update(i, task.parameters);
    rows.insert(rows.end(), u.begin(), u.end());
    counts.push_back(static_cast<double>(1 + i % 3));
  }
  auto backend = kernels::make_cpu_backend();
  std::vector<float> want(task.parameters);
  kernels::aggregate(*backend, kernels::MemoryRowSource(rows, order.size(), task.parameters),
                     counts, kernels::parse_aggregation("fedavg"), want);
  for (std::size_t j = 0; j < want.size(); ++j) want[j] = set.initial()[j] + want[j];
  return want;
}

/// The coordinator's round records (`murmurd rounds`), read every 50 ms until there is one (at
/// most 300 reads); the last read, empty if none came.
inline nlohmann::json coordinator_rounds(ShardSetFixture& set) {
  nlohmann::json coord = nlohmann::json::array();
  for (int i = 0; i < 300 && coord.empty(); ++i) {
    coord = nlohmann::json::parse(murmurd_rounds(set.coordinator().config));
    if (coord.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return coord;
}

}  // namespace murmur::testing
