#pragma once
// A shard's part of a round's aggregate: its coordinate range of every row, the rule, and the
// statistics the rule needs summed over all shards through a Collective.
#include <span>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/row_source.hpp"
#include "murmur/kernels/rules.hpp"
#include "murmur/shard/collective.hpp"
#include "murmur/shard/partition.hpp"

namespace murmur::shard {

/// What a shard's aggregation did, beyond the kernels' report (same on every shard but for
/// the collective figures, which are this shard's).
struct ShardOutcome {
  kernels::AggregationReport report;  ///< every row's verdict, weight, score, distance
  std::size_t reductions = 0;         ///< allgathers made (the shape check included)
  std::size_t doubles_sent = 0;       ///< doubles this shard sent in them
  double collective_seconds = 0;      ///< time inside the allgathers
};

/// Shard collective.rank()'s part of the aggregate: `rows` are the round's N rows (in the
/// round's order, the same on every shard) restricted to `range`, `out` (range.size() floats)
/// receives the aggregate's coordinates in `range`. First one allgather checks that every shard
/// has the same N, the same sample counts and rule, and that the ranges tile [0, D) in shard
/// order; then kernels::aggregate_range with a ShardReducer. Concatenated in shard order, the
/// outputs are kernels::aggregate's bits over the whole rows for the unclipped weighted mean
/// and the coordinate-wise rules; Gram- and norm-based rules take their decisions from FP64
/// statistics summed by range (docs/sharding.md: what differs and by how much). Throws
/// CollectiveError (shape mismatch, a peer gone, timeout) or kernels::AggregationError (the
/// rule cannot apply; every shard throws it alike).
ShardOutcome aggregate_shard(kernels::Backend& backend, const kernels::RowSource& rows,
                             CoordinateRange range, std::span<const double> sample_counts,
                             const kernels::AggregationSpec& spec, Collective& collective,
                             std::span<float> out);

}  // namespace murmur::shard
