#pragma once
// Sets of round stages, for the table of which stage accepts which message
// (Server::Impl::kRoutes, stage_table.cpp).
#include <bit>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "murmur.pb.h"
#include "murmur/chain/address.hpp"
#include "murmur/protocol/wire.hpp"
#include "state_store.hpp"

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

/// A reply's raw frame that references a shared buffer (a range of a model) instead of a copy.
struct SharedRange {
  std::shared_ptr<const std::vector<std::uint8_t>> bytes;
  std::size_t offset = 0, length = 0;
};

/// One request on its way from the dispatcher to its handler.
struct Request {
  const chain::Address& peer;  ///< the participant it is attributed to
  protocol::Message& message;
  std::vector<std::uint8_t>& payload;  ///< a raw frame for the reply (a model range)
  std::string identity;                ///< the node's routing id, for an answer sent later
  std::uint64_t request_id = 0;
  std::optional<Upload> upload;  ///< the open upload a chunk or commit names
  SharedRange shared_payload;    ///< set instead of `payload`: the reply's frame, not copied
};

/// The task and round a message names.
using TaskRound = std::pair<std::uint64_t, std::uint64_t>;

/// `(envelope.*Body)()`'s task_id and round, for a table row.
template <auto Body>
TaskRound named(const wire::Envelope& e) {
  const auto& m = (e.*Body)();
  return {m.task_id(), m.round()};
}

}  // namespace murmur::server
