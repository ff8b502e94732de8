// libFuzzer target for murmurd's configuration (server/src/config.cpp, config_schema.cpp): the
// TOML parse, the check against the declared schema (unknown tables and keys, types, bounds,
// choices), then every table read into a Config, the aggregation rule through the rule
// registry. load_config documents std::runtime_error (ConfigError names the key); anything
// else escaping, a sanitizer report or a broken invariant below is a bug. The input is the
// file; a participants file "participants.csv" lies beside it.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "fuzz_input.hpp"
#include "murmur/server/config.hpp"

namespace server = murmur::server;
using murmur::fuzz::invariant_broken;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool participants = [] {
    murmur::fuzz::write_scratch("participants.csv",
                                "0x1111111111111111111111111111111111111111,100\n"
                                "0x2222222222222222222222222222222222222222,50\n");
    return true;
  }();
  (void)participants;
  const auto path = murmur::fuzz::write_scratch(
      "murmurd.toml", std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    const server::Config c = server::load_config(path);
    // Accepted: the bounds load_config states hold.
    if (c.parameters == 0 || c.peer_credits == 0 || c.chunk_bytes < 1024 ||
        c.chunk_bytes % 4 != 0 || c.inflight_budget_bytes < c.chunk_bytes)
      invariant_broken();
    if (!(c.flag_ratio > 1) || c.secagg.group_size == 0 || !(c.secagg.clip > 0)) invariant_broken();
    if (c.participants.empty() && !c.chain) invariant_broken();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
