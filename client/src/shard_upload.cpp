// upload_split and fetch_split_model (shard_upload.hpp).
#include "murmur/client/shard_upload.hpp"

#include <cstring>
#include <exception>
#include <thread>

#include "murmur/protocol/part_commitment.hpp"

namespace murmur::client {
namespace {

/// Part k of a split f32 update, lent in place; its digest is the whole update's hash (what the
/// commit names and the node signs) and it carries the split commitment.
class PartUpdate final : public UpdateSource {
 public:
  PartUpdate(std::span<const float> values, const chain::Hash32& whole, wire::SplitCommitment split)
      : values_(values), whole_(whole), split_(std::move(split)) {}
  std::uint64_t parameters() const override { return values_.size(); }
  wire::DType dtype() const override { return wire::DTYPE_F32; }
  void read(std::uint64_t offset, std::span<std::uint8_t> out) const override {
    std::memcpy(out.data(), in_place().data() + offset, out.size());
  }
  std::optional<chain::Hash32> digest() const override { return whole_; }
  std::span<const std::uint8_t> in_place() const override {
    return {reinterpret_cast<const std::uint8_t*>(values_.data()), values_.size() * 4};
  }
  const wire::SplitCommitment* split() const override { return &split_; }

 private:
  std::span<const float> values_;
  chain::Hash32 whole_;
  wire::SplitCommitment split_;
};

chain::Hash32 hash_of(const std::string& bytes) {
  if (bytes.size() != 32)
    throw ServerError(wire::ERR_MALFORMED,
                      "RoundInfo: a model hash of " + std::to_string(bytes.size()) + " bytes");
  chain::Hash32 h{};
  std::memcpy(h.data(), bytes.data(), 32);
  return h;
}

}  // namespace

SplitUploadResult upload_split(std::span<NodeClient* const> shards, std::uint64_t task_id,
                               std::uint64_t round, std::span<const float> values,
                               std::uint64_t num_samples, const Signer& signer) {
  if (shards.empty()) throw std::invalid_argument("upload_split: no shards");
  std::vector<std::uint64_t> boundaries{0};
  for (NodeClient* shard : shards) {
    const wire::RoundInfo info = shard->round_info();
    boundaries.push_back(boundaries.back() + info.parameters() * 4);
  }
  if (boundaries.back() != values.size() * 4)
    throw std::invalid_argument("upload_split: the shards hold " +
                                std::to_string(boundaries.back() / 4) +
                                " coordinates, the update " + std::to_string(values.size()));
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(values.data()),
                                            values.size() * 4);
  const protocol::SplitCommitment commitment = protocol::commit_parts(bytes, boundaries);
  SplitUploadResult out;
  out.update_hash = commitment.hash;
  out.parts.resize(shards.size());
  std::vector<std::exception_ptr> failures(shards.size());
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < shards.size(); ++k)
    threads.emplace_back([&, k] {
      try {
        wire::SplitCommitment split;
        protocol::to_wire(commitment, static_cast<std::uint32_t>(k), split);
        const PartUpdate part(
            values.subspan(boundaries[k] / 4, (boundaries[k + 1] - boundaries[k]) / 4),
            commitment.hash, std::move(split));
        out.parts[k] = shards[k]->upload_update(task_id, round, part, num_samples, signer);
      } catch (...) {
        failures[k] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& f : failures)
    if (f) std::rethrow_exception(f);
  return out;
}

std::vector<float> fetch_split_model(std::span<NodeClient* const> shards) {
  std::vector<float> model;
  for (NodeClient* shard : shards) {
    const auto part = shard->fetch_model(hash_of(shard->round_info().global_model_hash()));
    model.insert(model.end(), part.begin(), part.end());
  }
  return model;
}

}  // namespace murmur::client
