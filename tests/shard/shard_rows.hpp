#pragma once
// The rows a sharded-aggregation test aggregates, made alike by the test (the coordinator, for
// its reference) and by every shard process: N seeded rows of D floats with two attackers (rows
// 0 and 1 scaled by 30, so the robust rules have something to reject), optionally a NaN in one
// row at a coordinate of a chosen shard's range. And the rules the test runs, by name.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "murmur/testing/rows.hpp"

namespace murmur::shard::test_rows {

inline murmur::test::Rows make(std::size_t n, std::size_t d, std::uint64_t seed, long nan_row = -1,
                               std::size_t nan_col = 0) {
  murmur::test::Rows r = murmur::test::make_rows(n, d, murmur::test::Fill::kNormal, seed);
  for (std::size_t i = 0; i < 2 && i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) r.data[i * d + j] *= 30.0f;
  if (nan_row >= 0)
    r.data[static_cast<std::size_t>(nan_row) * d + nan_col] =
        std::numeric_limits<float>::quiet_NaN();
  return r;
}

/// Every rule family, as murmurd's [aggregation] writes them (rule_registry.hpp's grammar).
inline std::vector<std::string> rules() {
  return {"weighted-mean",
          "median",
          "trimmed-mean(beta=0.2)",
          "meamed(f=2)",
          "bucketing(s=2, seed=3) + median",
          "weighted-mean(clip=fixed, bound=150)",
          "weighted-mean(clip=arc, f=2)",
          "krum(f=2)",
          "multi-krum(f=2, m=5)",
          "bulyan(f=2)",
          "geometric-median",
          "centered-clipping(tau=100, iters=5)",
          "nnm(f=2) + trimmed-mean(beta=0.2)"};
}

}  // namespace murmur::shard::test_rows
