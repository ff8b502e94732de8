#pragma once
// Tests that need a tool outside the build (Node's node_modules, a Hardhat node, ethers, the
// contracts' shared cases) skip with the reason on a developer's machine that lacks it, and
// fail under CI (CI=true), so a green CI run cannot silently leave them out.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string_view>

namespace murmur::testing {

/// True when a missing requirement must fail the test rather than skip it: CI=true.
inline bool missing_requirements_fail() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

}  // namespace murmur::testing

/// Skips the test with `why` unless `cond` holds; under CI=true fails it instead. Use in a test
/// body or SetUp (it returns from the enclosing void function).
#define MURMUR_REQUIRE_OR_SKIP(cond, why)                                                 \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      if (::murmur::testing::missing_requirements_fail())                                 \
        FAIL() << (why) << " (CI=true: a missing requirement fails instead of skipping)"; \
      GTEST_SKIP() << (why);                                                              \
    }                                                                                     \
  } while (0)
