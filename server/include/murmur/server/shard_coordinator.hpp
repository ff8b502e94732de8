#pragma once
// The records of a murmurd shard set's coordinator (docs/sharding.md): murmurd with [shard]
// role = "coordinator" runs the round engine (registration, roles, votes, validation, [chain])
// and serves the store its shards meet at (server/src/shard_coordinator.hpp); each round's parts
// are one line of <data_dir>/shard_rounds.jsonl.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace murmur::server {

/// `murmurd rounds` on a coordinator's configuration: the records of <data_dir>/shard_rounds.jsonl
/// as a JSON array (one object a round: round, outcome, reason, each shard's part, the shards
/// reported down meanwhile), or only `round`'s. The round's decision, votes, validation and
/// posting are in the coordinator's state.db (round_records_json).
std::string shard_rounds_json(const std::filesystem::path& data_dir,
                              std::optional<std::uint64_t> round);

}  // namespace murmur::server
