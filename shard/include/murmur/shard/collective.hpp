#pragma once
// The collectives of a sharded round, and the reduction every shard gets the same bits from:
// each shard's partial FP64 statistics (Gram matrix, squared norms, finiteness counts,
// distances) are allgathered, then summed in shard order 0, 1, ..., S-1 by every shard alike.
// An allreduce would leave the order to the transport (ring or tree, chunked by size); summing an
// allgather in a fixed order makes the result a pure function of the partials, on Gloo and
// NCCL alike. The transport only moves bytes (Collective); the order, the call numbering and
// the shape checks are ShardReducer's, shared by both.
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/shard/rendezvous.hpp"

namespace murmur::shard {

/// Moves equal-length buffers of doubles among the S shards of a set.
class Collective {
 public:
  virtual ~Collective() = default;
  virtual std::size_t rank() const = 0;
  virtual std::size_t size() const = 0;
  /// "gloo" or "nccl".
  virtual std::string backend() const = 0;
  /// all[r * mine.size() + j] = shard r's mine[j]. Every shard calls it with the same length.
  /// Throws CollectiveError when a peer is gone or the timeout passes.
  virtual void allgather(std::span<const double> mine, std::span<double> all) = 0;
};

/// Gloo (libtorch's c10d::ProcessGroupGloo) over TCP: shard `rank` of `size`, its transport
/// bound to `host` (the address its peers reach it at), the group's rendezvous under the
/// store's prefix `prefix` + "/" (a fresh prefix per group: murmurd's shards form one per
/// round). Every collective gives up after `timeout`.
std::unique_ptr<Collective> make_gloo_collective(Rendezvous& rendezvous, std::size_t rank,
                                                 std::size_t size, const std::string& host,
                                                 std::chrono::milliseconds timeout,
                                                 const std::string& prefix = "gloo");

/// NCCL on CUDA device `device`: the ncclUniqueId made by shard 0 and passed through the store
/// (key "nccl/id"), ncclAllGather on device buffers (the host's partials are staged in), the
/// stream polled with ncclCommGetAsyncError so that a dead peer aborts the communicator after
/// `timeout` instead of hanging. Throws CollectiveError when this build has no CUDA backend.
std::unique_ptr<Collective> make_nccl_collective(Rendezvous& rendezvous, std::size_t rank,
                                                 std::size_t size, int device,
                                                 std::chrono::milliseconds timeout);

/// Whether make_nccl_collective is compiled in.
bool nccl_compiled() noexcept;

/// out[j] = all[0 * len + j] + all[1 * len + j] + ... + all[(S-1) * len + j], left to right:
/// the sum every shard computes alike (with one shard, the partial's own bits).
void sum_in_shard_order(std::span<const double> all, std::size_t shards, std::span<double> out);

/// The kernels' RangeReducer over a Collective: each sum() is one allgather of
/// [call number, length, values...] and a sum in shard order. The call number and length are
/// checked on every shard, so shards that got out of step fail with CollectiveError rather
/// than summing unrelated numbers.
class ShardReducer final : public kernels::RangeReducer {
 public:
  explicit ShardReducer(Collective& collective) : collective_(collective) {}
  void sum(std::span<double> values) override;
  /// Reductions made so far and the doubles each shard sent in them (headers included).
  std::size_t calls() const { return calls_; }
  std::size_t doubles_sent() const { return doubles_sent_; }
  /// Seconds spent inside Collective::allgather.
  double seconds() const { return seconds_; }

 private:
  Collective& collective_;
  std::vector<double> send_, all_;
  std::size_t calls_ = 0, doubles_sent_ = 0;
  double seconds_ = 0;
};

}  // namespace murmur::shard
