#pragma once
// Output comparison for kernel tests: exact (bitwise, NaN equal to NaN) or within a named
// relative tolerance; failing inputs are dumped to a file for replay.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include "murmur/testing/rows.hpp"

namespace murmur::test {

/// Tolerance of a comparison: 0 means bit-exact.
struct Tolerance {
  double relative = 0.0;
  const char* name = "exact";
};
inline constexpr Tolerance kExact{};

/// Writes the case's rows and weights to $TMPDIR/murmur-failure-<label>-<seed>.bin and
/// returns the path (a header line, then raw float rows and double weights).
inline std::string dump_case(const Rows& rows, const std::string& label) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = dir / ("murmur-failure-" + label + "-" + std::to_string(rows.seed) + ".bin");
  std::ofstream f(path, std::ios::binary);
  const std::string header = rows.describe() + "\n";
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(rows.data.data()),
          static_cast<std::streamsize>(rows.data.size() * sizeof(float)));
  f.write(reinterpret_cast<const char*>(rows.weights.data()),
          static_cast<std::streamsize>(rows.weights.size() * sizeof(double)));
  return path.string();
}

inline bool same(float got, float want, Tolerance tol) {
  if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want);
  if (tol.relative == 0.0)
    return std::bit_cast<std::uint32_t>(got) == std::bit_cast<std::uint32_t>(want);
  if (std::isinf(got) || std::isinf(want)) return got == want;
  return std::abs(static_cast<double>(got) - want) <= tol.relative * (1.0 + std::abs(want));
}

/// Checks got == want element-wise under `tol`; on the first mismatch reports the case, the
/// index and both values, and dumps the inputs.
inline ::testing::AssertionResult outputs_match(std::span<const float> got,
                                                std::span<const float> want, Tolerance tol,
                                                const Rows& rows, const std::string& label) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure()
           << label << ": size " << got.size() << " vs " << want.size();
  for (std::size_t j = 0; j < got.size(); ++j) {
    if (!same(got[j], want[j], tol)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "got %.9g want %.9g (tolerance %s)", got[j], want[j],
                    tol.name);
      return ::testing::AssertionFailure()
             << label << " [" << rows.describe() << "] differs at coordinate " << j << ": " << buf
             << "; inputs dumped to " << dump_case(rows, label);
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace murmur::test
