#pragma once
// Sets of round stages, for the table of which stage accepts which message
// (Server::Impl::kRoutes, stage_table.cpp).
#include <bit>
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "murmur.pb.h"

namespace murmur::server {

/// A set of wire::Stage values, one bit each.
using StageSet = std::uint32_t;

constexpr StageSet stage_set(std::initializer_list<wire::Stage> stages) {
  StageSet out = 0;
  for (wire::Stage s : stages) out |= StageSet{1} << static_cast<int>(s);
  return out;
}

/// Not stage-bound: served in every stage.
inline constexpr StageSet kAnyStage = ~StageSet{0};

constexpr bool accepts(StageSet set, wire::Stage s) {
  return ((set >> static_cast<int>(s)) & 1u) != 0;
}

/// Order of stages within a round (SecAgg+ stages sit where UPLOADING would): a message for a
/// stage that ranks below the current one comes late (ERR_DEADLINE), else early
/// (ERR_WRONG_STAGE).
int stage_rank(wire::Stage s);

bool is_secagg_stage(wire::Stage s);

/// The task and round a message names.
using TaskRound = std::pair<std::uint64_t, std::uint64_t>;

/// `(envelope.*Body)()`'s task_id and round, for a table row.
template <auto Body>
TaskRound named(const wire::Envelope& e) {
  const auto& m = (e.*Body)();
  return {m.task_id(), m.round()};
}

}  // namespace murmur::server
