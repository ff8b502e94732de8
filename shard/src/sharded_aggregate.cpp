#include "murmur/shard/sharded_aggregate.hpp"

#include <cstring>
#include <string>
#include <string_view>

namespace murmur::shard {
namespace {

/// A 52-bit digest of `bytes` (FNV-1a, 64-bit, top bits dropped), exact in a double: what the
/// shards compare of their sample counts and rule.
double digest(std::string_view bytes) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return static_cast<double>(h >> 12);
}

/// A count or coordinate carried as a double, as text.
std::string count(double x) {
  return std::to_string(static_cast<long long>(x));
}

/// One allgather of what every shard must agree on: N, its range, the sample counts and the rule.
void check_shape(Collective& collective, std::size_t n, std::size_t cols, CoordinateRange range,
                 std::span<const double> counts, const kernels::AggregationSpec& spec) {
  constexpr std::size_t kFields = 6;
  const std::string rule = kernels::describe(spec) + (spec.distances ? "" : " (no distances)");
  const double mine[kFields] = {
      static_cast<double>(n),
      static_cast<double>(range.begin),
      static_cast<double>(range.end),
      static_cast<double>(cols),
      digest({reinterpret_cast<const char*>(counts.data()), counts.size() * sizeof(double)}),
      digest(rule)};
  const std::size_t shards = collective.size(), me = collective.rank();
  std::vector<double> all(shards * kFields);
  collective.allgather(mine, all);
  const auto field = [&](std::size_t r, std::size_t f) { return all[r * kFields + f]; };
  const auto why = [&](std::size_t r, const std::string& what) {
    return CollectiveError("shard " + std::to_string(me) + ": shard " + std::to_string(r) + " " +
                           what);
  };
  for (std::size_t r = 0; r < shards; ++r) {
    if (field(r, 0) != mine[0])
      throw why(r, "has " + count(field(r, 0)) + " rows, this shard " + std::to_string(n) +
                       ": the shards hold different rounds");
    if (field(r, 4) != mine[4]) throw why(r, "has other sample counts than this shard");
    if (field(r, 5) != mine[5]) throw why(r, "runs another rule than " + rule);
    if (field(r, 3) != field(r, 2) - field(r, 1))
      throw why(r, "holds " + count(field(r, 3)) + " columns for its range [" + count(field(r, 1)) +
                       ", " + count(field(r, 2)) + ")");
    const double expected_begin = r == 0 ? 0.0 : field(r - 1, 2);
    if (field(r, 1) != expected_begin || !(field(r, 2) > field(r, 1)))
      throw why(r, "has range [" + count(field(r, 1)) + ", " + count(field(r, 2)) +
                       "): the ranges must tile the update in "
                       "shard order");
  }
}

}  // namespace

ShardOutcome aggregate_shard(kernels::Backend& backend, const kernels::RowSource& rows,
                             CoordinateRange range, std::span<const double> sample_counts,
                             const kernels::AggregationSpec& spec, Collective& collective,
                             std::span<float> out) {
  if (rows.cols() != range.size())
    throw CollectiveError("shard " + std::to_string(collective.rank()) + ": rows of " +
                          std::to_string(rows.cols()) + " columns for a range of " +
                          std::to_string(range.size()));
  ShardOutcome outcome;
  const auto start = std::chrono::steady_clock::now();
  check_shape(collective, rows.rows(), rows.cols(), range, sample_counts, spec);
  outcome.collective_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ShardReducer reducer(collective);
  outcome.report = kernels::aggregate_range(backend, rows, sample_counts, spec, reducer, out);
  outcome.reductions = 1 + reducer.calls();
  outcome.doubles_sent = 6 + reducer.doubles_sent();
  outcome.collective_seconds += reducer.seconds();
  return outcome;
}

}  // namespace murmur::shard
