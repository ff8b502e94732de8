#pragma once
// Reads of state.db shared by the state store (read-write, under its mutex) and the read-only
// state view (murmur/server/state_view.hpp): each query is written once, beside the schema's
// other reader.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/sqlite.hpp"
#include "murmur/server/state_view.hpp"
#include "round_record.hpp"

namespace murmur::server::state_reads {

std::optional<std::string> outcome(const chain::sqlite::Database& db, std::uint64_t round);
std::vector<VoteRecord> votes(const chain::sqlite::Database& db, std::uint64_t round);
std::vector<std::uint64_t> recorded_rounds(const chain::sqlite::Database& db);
std::optional<RoundRecord> round_record(const chain::sqlite::Database& db, std::uint64_t round);

}  // namespace murmur::server::state_reads
