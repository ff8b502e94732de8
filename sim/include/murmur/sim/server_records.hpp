#pragma once
// The names the simulator's readers of murmurd's state.db had before murmur::server::StateView
// (murmur/server/state_view.hpp), which opens it read-only and owns the reading of its schema.
// Kept for bench/round.cpp; new code uses StateView.
#include "murmur/server/state_view.hpp"

namespace murmur::sim {

using DiagnosticRow = server::DiagnosticRecord;
using VoteRow = server::VoteRecord;
using ServerRecords = server::StateView;

}  // namespace murmur::sim
