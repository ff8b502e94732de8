// The host side every transport shares: the reduction in shard order with its call numbering
// and shape checks (ShardReducer), and the shape handshake of a sharded aggregation.
#include "murmur/shard/collective.hpp"

#include <chrono>
#include <string>

namespace murmur::shard {
namespace {

/// out[j] = sum over r in 0..S-1, in that order, of all[r * stride + offset + j].
void ordered_sum(std::span<const double> all, std::size_t shards, std::size_t stride,
                 std::size_t offset, std::span<double> out) {
  for (std::size_t j = 0; j < out.size(); ++j) out[j] = all[offset + j];
  for (std::size_t r = 1; r < shards; ++r) {
    const double* p = all.data() + r * stride + offset;
    for (std::size_t j = 0; j < out.size(); ++j) out[j] += p[j];
  }
}

}  // namespace

void sum_in_shard_order(std::span<const double> all, std::size_t shards, std::span<double> out) {
  if (shards == 0 || all.size() != shards * out.size())
    throw CollectiveError("sum_in_shard_order: " + std::to_string(all.size()) +
                          " doubles are not " + std::to_string(shards) + " shards of " +
                          std::to_string(out.size()));
  ordered_sum(all, shards, out.size(), 0, out);
}

void ShardReducer::sum(std::span<double> values) {
  const std::size_t shards = collective_.size(), len = values.size(), stride = len + 2;
  send_.resize(stride);
  send_[0] = static_cast<double>(calls_);
  send_[1] = static_cast<double>(len);
  std::copy(values.begin(), values.end(), send_.begin() + 2);
  all_.resize(shards * stride);
  const auto start = std::chrono::steady_clock::now();
  collective_.allgather(send_, all_);
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  doubles_sent_ += stride;
  for (std::size_t r = 0; r < shards; ++r)
    if (all_[r * stride] != send_[0] || all_[r * stride + 1] != send_[1])
      throw CollectiveError("shard " + std::to_string(r) + " sent reduction " +
                            std::to_string(static_cast<long long>(all_[r * stride])) + " of " +
                            std::to_string(static_cast<long long>(all_[r * stride + 1])) +
                            " values; shard " + std::to_string(collective_.rank()) +
                            " is at reduction " + std::to_string(calls_) + " of " +
                            std::to_string(len) + ": the shards are out of step");
  ++calls_;
  ordered_sum(all_, shards, stride, 2, values);
}

}  // namespace murmur::shard
