// The CPU backend's tile budget (kernels/cpu/cpu_backend.hpp): rows that are not resident (the
// spool, mixed rows) are copied in tiles narrow enough that the workers' copies together stay
// within Backend::host_tile_bytes() at any N, and every rule gives the same bits as over the
// same rows in memory (zero-copy tiles of the full width).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"

namespace murmur::test {
namespace {

namespace k = kernels;

/// The rows of a MemoryRowSource, not resident (as the spool's): every tile is a copy. Records
/// the widest tile read at once and the widest single-row read.
class StreamedRows final : public k::RowSource {
 public:
  explicit StreamedRows(const k::MemoryRowSource& rows) : rows_(rows) {}
  std::size_t rows() const override { return rows_.rows(); }
  std::size_t cols() const override { return rows_.cols(); }
  void read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const override {
    raise(widest_row_, end - begin);
    rows_.read_row(i, begin, end, dst);
  }
  void read(std::size_t begin, std::size_t end, float* dst, std::size_t ld) const override {
    raise(widest_tile_, end - begin);
    for (std::size_t i = 0; i < rows(); ++i) rows_.read_row(i, begin, end, dst + i * ld);
  }
  std::size_t widest_tile() const { return widest_tile_.load(); }
  std::size_t widest_row() const { return widest_row_.load(); }

 private:
  static void raise(std::atomic<std::size_t>& at, std::size_t w) {
    for (std::size_t seen = at.load(); w > seen && !at.compare_exchange_weak(seen, w);) {
    }
  }
  const k::MemoryRowSource& rows_;
  mutable std::atomic<std::size_t> widest_tile_{0}, widest_row_{0};
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

TEST(TileBudget, StreamedRowsStayWithinTheBudgetAndGiveTheBitsOfResidentOnes) {
  // N x 64k floats (75 MiB at N = 300) is over the 64 MiB budget: the tiles must narrow.
  constexpr std::size_t n = 300, d = 70001;
  constexpr unsigned kWorkers = 2;
  std::mt19937_64 gen(21);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n * d);
  for (float& v : x) v = normal(gen);
  std::vector<double> counts(n);
  for (std::size_t i = 0; i < n; ++i) counts[i] = 1.0 + static_cast<double>(i % 7);
  const k::MemoryRowSource memory(x, n, d);

  const std::vector<std::pair<const char*, k::AggregationSpec>> specs = {
      {"fedavg", {{}, k::WeightedMean{}, true}},
      {"median", {{}, k::CoordinateMedian{}, true}},
      {"trimmed-mean", {{}, k::TrimmedMean{0.2}, true}},
      {"meamed", {{}, k::MeaMed{30}, true}},
      {"multi-krum", {{}, k::MultiKrum{30, 100}, true}},
      {"centered-clipping", {{}, k::CenteredClipping{1.0, 3}, true}},
      {"nnm+trimmed-mean", {{k::NearestNeighborMixing{30}}, k::TrimmedMean{0.2}, true}},
  };
  for (const auto& [name, spec] : specs) {
    auto backend = k::make_cpu_backend(kWorkers);
    const StreamedRows streamed(memory);
    std::vector<float> want(d), got(d);
    const auto a = k::aggregate(*backend, memory, counts, spec, want);
    const auto b = k::aggregate(*backend, streamed, counts, spec, got);
    EXPECT_TRUE(same_bits(want, got)) << name;
    ASSERT_EQ(a.rows.size(), b.rows.size());
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_TRUE(same_bits(a.rows[i].weight, b.rows[i].weight) || std::isnan(a.rows[i].weight))
          << name << " row " << i;
      EXPECT_TRUE(same_bits(a.rows[i].distance, b.rows[i].distance)) << name << " row " << i;
    }
    // Every tile copy of N rows, one per worker at once, within the budget; a row read alone
    // (row sums) at most one 64k tile of it.
    EXPECT_GT(streamed.widest_tile() + streamed.widest_row(), 0u) << name;
    EXPECT_LE(kWorkers * n * streamed.widest_tile() * sizeof(float), backend->host_tile_bytes())
        << name << ": widest tile " << streamed.widest_tile() << " coordinates";
    EXPECT_LE(streamed.widest_row(), std::size_t{64} << 10) << name;
  }
}

}  // namespace
}  // namespace murmur::test
