// One shard process of the sharded-aggregation tests (and of bench/shards' collective phase):
// joins the coordinator's store, forms the Gloo group, makes the test's rows (shard_rows.hpp),
// keeps its range of them and runs aggregate_shard for each rule, publishing its part of each
// aggregate and every row's verdict and weight in the store for the coordinator. Exit status:
// 0 done, 3 CollectiveError, 4 AggregationError, 2 anything else (the message under error/RANK).
//
//   shard_worker --port P --rank R --shards S --n N --d D --seed X [--timeout-ms T]
//                [--nan-row I --nan-col J] [--pause-before-group-ms M]
//                [--pause-before-collective-ms M]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/shard/sharded_aggregate.hpp"
#include "shard_rows.hpp"

namespace {

using namespace murmur;

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> arg;
  for (int i = 1; i + 1 < argc; i += 2) arg[argv[i]] = argv[i + 1];
  const auto num = [&](const std::string& k, long fallback) {
    return arg.count(k) ? std::stol(arg[k]) : fallback;
  };
  const std::size_t rank = num("--rank", 0), shards = num("--shards", 1);
  const std::size_t n = num("--n", 13), d = num("--d", 40000);
  const std::chrono::milliseconds timeout(num("--timeout-ms", 20000));
  std::unique_ptr<shard::Rendezvous> store;
  const std::string me = std::to_string(rank);
  try {
    store = shard::Rendezvous::connect("127.0.0.1", static_cast<std::uint16_t>(num("--port", 0)),
                                       timeout);
    store->set("started/" + me, bytes_of("1"));
    std::this_thread::sleep_for(std::chrono::milliseconds(num("--pause-before-group-ms", 0)));
    auto collective = shard::make_gloo_collective(*store, rank, shards, "127.0.0.1", timeout);
    store->set("joined/" + me, bytes_of("1"));
    std::this_thread::sleep_for(std::chrono::milliseconds(num("--pause-before-collective-ms", 0)));

    const auto rows =
        shard::test_rows::make(n, d, num("--seed", 1), num("--nan-row", -1), num("--nan-col", 0));
    const shard::CoordinateRange range = shard::partition(d, shards)[rank];
    const kernels::MemoryRowSource mine(
        kernels::RowsView{rows.data.data() + range.begin, n, range.size(), d});
    auto backend = kernels::make_cpu_backend(1);
    const auto rules = shard::test_rows::rules();
    for (std::size_t k = 0; k < rules.size(); ++k) {
      const kernels::AggregationSpec spec = kernels::parse_aggregation(rules[k]);
      std::vector<float> out(range.size());
      const shard::ShardOutcome o =
          shard::aggregate_shard(*backend, mine, range, rows.weights, spec, *collective, out);
      const std::string key = std::to_string(k) + "/" + me;
      store->set("result/" + key,
                 {reinterpret_cast<const std::uint8_t*>(out.data()), out.size() * sizeof(float)});
      std::string report;
      char line[128];
      for (const kernels::RowDiagnostic& row : o.report.rows) {
        std::snprintf(line, sizeof line, "%d %.17g\n", static_cast<int>(row.verdict), row.weight);
        report += line;
      }
      std::snprintf(line, sizeof line, "reductions %zu doubles %zu seconds %.6f\n", o.reductions,
                    o.doubles_sent, o.collective_seconds);
      store->set("report/" + key, bytes_of(report + line));
    }
    return 0;
  } catch (const shard::CollectiveError& e) {
    std::fprintf(stderr, "shard %zu: CollectiveError: %s\n", rank, e.what());
    if (store) try {
        store->set("error/" + me, bytes_of(std::string("CollectiveError: ") + e.what()));
      } catch (...) {
      }
    return 3;
  } catch (const kernels::AggregationError& e) {
    std::fprintf(stderr, "shard %zu: AggregationError: %s\n", rank, e.what());
    return 4;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shard %zu: %s\n", rank, e.what());
    return 2;
  }
}
