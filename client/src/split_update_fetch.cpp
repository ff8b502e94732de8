// fetch_split_update (split_update_fetch.hpp): a committed update read by parts from a shard set,
// each part checked on its own against the signed whole-update hash.
//
// Why one part's check suffices for that part: the split commitment lists, for every part, the
// BLAKE3 chaining values of the tree nodes covering it; protocol::check_part recomputes this
// part's from its bytes and combines all parts' into the root, which must be the signed hash.
// The root pins every node under it (BLAKE3's compression is collision resistant), so a shard
// cannot serve other bytes for its part, whatever commitment it serves with them.
#include "murmur/client/split_update_fetch.hpp"

#include <cstring>
#include <exception>
#include <stdexcept>
#include <thread>

#include "murmur/protocol/part_commitment.hpp"
#include "murmur/protocol/tensor.hpp"

namespace murmur::client {
namespace {

/// Part k of `update` from shard k, checked against the signed hash; written into `whole`.
void read_part(NodeClient& shard, std::size_t k, std::size_t S, std::uint64_t task_id,
               std::uint64_t round, const RoundUpdate& update, std::uint64_t begin,
               std::uint64_t end, std::uint8_t* whole) {
  const std::string who = "shard " + std::to_string(k) + " of " + std::to_string(S) + " (part [" +
                          std::to_string(begin) + ", " + std::to_string(end) + ") of " +
                          update.proposer.to_checksum() + "'s update)";
  NodeClient::UpdatePart part = shard.fetch_update_part(task_id, round, update, begin, end);
  if (!part.split)
    throw PartMismatchError(wire::ERR_MALFORMED, k, who + " served no split commitment");
  protocol::SplitCommitment c;
  try {
    c = protocol::from_wire(*part.split);
  } catch (const protocol::PartCommitmentError& e) {
    throw PartMismatchError(wire::ERR_MALFORMED, k, who + ": " + e.what());
  }
  if (part.split->part() != k || c.parts.size() != S || c.total != update.total_bytes ||
      c.parts[k].begin != begin || c.parts[k].end != end)
    throw PartMismatchError(
        wire::ERR_MALFORMED, k,
        who + " served a commitment to part " + std::to_string(part.split->part()) + " of " +
            std::to_string(c.parts.size()) + " of " + std::to_string(c.total) + " bytes");
  if (c.hash != update.update_hash)
    throw PartMismatchError(wire::ERR_HASH_MISMATCH, k,
                            who + " served a commitment to " + chain::to_hex(c.hash) +
                                ", not the signed update hash " +
                                chain::to_hex(update.update_hash));
  try {
    protocol::check_part(c, k, part.bytes);
  } catch (const protocol::PartCommitmentError& e) {
    throw PartMismatchError(wire::ERR_HASH_MISMATCH, k, who + ": " + e.what());
  }
  std::memcpy(whole + begin, part.bytes.data(), part.bytes.size());
}

}  // namespace

std::vector<std::uint8_t> fetch_split_update_bytes(std::span<NodeClient* const> shards,
                                                   std::uint64_t task_id, std::uint64_t round,
                                                   const RoundUpdate& update) {
  if (shards.empty()) throw std::invalid_argument("fetch_split_update: no shards");
  const std::size_t S = shards.size();
  const std::uint64_t element = protocol::element_bytes(update.dtype);
  std::vector<std::uint64_t> boundaries{0};
  for (NodeClient* shard : shards)
    boundaries.push_back(boundaries.back() + shard->round_info().parameters() * element);
  if (boundaries.back() != update.total_bytes)
    throw std::invalid_argument("fetch_split_update: the shards hold " +
                                std::to_string(boundaries.back()) + " bytes of each update, " +
                                update.proposer.to_checksum() + "'s has " +
                                std::to_string(update.total_bytes));
  std::vector<std::uint8_t> whole(static_cast<std::size_t>(update.total_bytes));
  // One thread a shard (each NodeClient is its shard's alone); the first failure in shard order
  // is rethrown once every part has ended.
  std::vector<std::exception_ptr> failed(S);
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < S; ++k)
    threads.emplace_back([&, k] {
      try {
        if (boundaries[k] < boundaries[k + 1])
          read_part(*shards[k], k, S, task_id, round, update, boundaries[k], boundaries[k + 1],
                    whole.data());
      } catch (...) {
        failed[k] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : failed)
    if (e) std::rethrow_exception(e);
  return whole;
}

std::vector<float> fetch_split_update(std::span<NodeClient* const> shards, std::uint64_t task_id,
                                      std::uint64_t round, const RoundUpdate& update) {
  const auto bytes = fetch_split_update_bytes(shards, task_id, round, update);
  std::vector<float> values(bytes.size() / protocol::element_bytes(update.dtype));
  protocol::to_float(update.dtype, bytes, values);
  return values;
}

}  // namespace murmur::client
