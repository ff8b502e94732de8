// BLAKE3 against the reference implementation: `b3sum` (the BLAKE3 team's Rust tool, Debian's
// b3sum package) hashes the same files, at lengths around every boundary of the tree (block,
// chunk, the 16 lanes, the 256-chunk subtrees), fed whole and in uneven pieces, on every
// backend this CPU has.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "murmur/chain/bytes.hpp"
#include "murmur/protocol/blake3.hpp"
#include "murmur/testing/process.hpp"
#include "murmur/testing/temp_dir.hpp"

namespace murmur::protocol {
namespace {

using testing::run_command;
using testing::TempDir;

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

/// b3sum's hash of `bytes`, through a file.
std::string reference(const TempDir& dir, const std::vector<std::uint8_t>& bytes) {
  const auto path = dir / "input.bin";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  const auto [rc, out] = run_command("b3sum --no-names '" + path.string() + "'");
  if (rc != 0) throw std::runtime_error("b3sum failed (scripts/setup.sh installs it): " + out);
  return out.substr(0, 64);
}

class Blake3Backends : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const auto have = blake3_detail::available_backends();
    if (std::find(have.begin(), have.end(), GetParam()) == have.end())
      GTEST_SKIP() << "this CPU has no " << GetParam();
    blake3_detail::use_backend(GetParam());
  }
  void TearDown() override { blake3_detail::use_backend(""); }
};

TEST_P(Blake3Backends, KnownAnswers) {
  const auto text = [](std::string_view t) {
    return std::span(reinterpret_cast<const std::uint8_t*>(t.data()), t.size());
  };
  EXPECT_EQ(chain::to_hex(blake3({}), false),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  EXPECT_EQ(chain::to_hex(blake3(text("abc")), false),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
}

TEST_P(Blake3Backends, MatchesB3sumAtEveryTreeBoundary) {
  TempDir dir("blake3");
  constexpr std::size_t K = 1024;
  const std::vector<std::size_t> lengths = {
      1,          63,          64,         65,          1023,       1024,
      1025,       2048,        2049,       3 * K + 5,   8 * K,      8 * K + 1,
      16 * K - 1, 16 * K,      16 * K + 1, 17 * K,      31 * K + 7, 256 * K - 1,
      256 * K,    256 * K + 1, 257 * K,    513 * K + 3, (4u << 20), (4u << 20) + 4099};
  std::mt19937_64 rng(7);
  for (std::size_t n : lengths) {
    const auto data = random_bytes(n, n);
    const std::string want = reference(dir, data);
    EXPECT_EQ(chain::to_hex(blake3(data), false), want) << n << " bytes whole";
    // In pieces of uneven sizes, small and large, so that chunk and subtree paths mix.
    Blake3 h;
    for (std::size_t at = 0; at < n;) {
      const std::size_t piece =
          std::min<std::size_t>(n - at, rng() % 3 == 0 ? rng() % 70 : rng() % (300 * K));
      h.update(std::span(data).subspan(at, piece));
      at += piece;
    }
    EXPECT_EQ(chain::to_hex(h.finish(), false), want) << n << " bytes in pieces";
  }
}

TEST_P(Blake3Backends, FinishDoesNotEndTheHash) {
  // Stops inside a chunk, on a chunk, on a subtree (where the stack ends with its two halves),
  // and at the end; each finish equals the hash of what was fed so far.
  const auto data = random_bytes(600 * 1024 + 5, 1);
  Blake3 h;
  std::size_t fed = 0;
  for (std::size_t stop : {30000u, 31744u, 65536u, 262144u, 524288u, 600u * 1024u + 5u}) {
    h.update(std::span(data).subspan(fed, stop - fed));
    fed = stop;
    EXPECT_EQ(h.finish(), blake3(std::span(data).first(stop))) << stop;
  }
  // The sizes murmurd and the node feed: 256 KiB pieces of 4 MiB chunks.
  TempDir dir("blake3");
  const auto chunk = random_bytes(4u << 20, 2);
  Blake3 pieces;
  for (std::size_t at = 0; at < chunk.size(); at += 256 * 1024)
    pieces.update(std::span(chunk).subspan(at, 256 * 1024));
  EXPECT_EQ(chain::to_hex(pieces.finish(), false), reference(dir, chunk));
}

INSTANTIATE_TEST_SUITE_P(Backends, Blake3Backends, ::testing::Values("portable", "avx2", "avx512"),
                         [](const auto& info) { return info.param; });

TEST(Blake3, BestBackendIsTheDefault) {
  EXPECT_EQ(blake3_detail::backend(), blake3_detail::available_backends().front());
  EXPECT_THROW(blake3_detail::use_backend("sse9"), std::invalid_argument);
}

}  // namespace
}  // namespace murmur::protocol
