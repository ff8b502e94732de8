// check_shard_set, plan_split / upload_split, fetch_split_model and fetch_split_candidate
// (shard_upload.hpp).
#include "murmur/client/shard_upload.hpp"

#include <cstring>
#include <exception>
#include <thread>

#include "murmur/chain/keccak.hpp"

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

chain::Hash32 keccak_of(const std::vector<float>& model) {
  return chain::keccak256(
      {reinterpret_cast<const std::uint8_t*>(model.data()), model.size() * sizeof(float)});
}

/// "shard k of S" and its name when one was given.
std::string shard_label(std::size_t k, std::size_t count, std::span<const std::string> names) {
  std::string s = "shard " + std::to_string(k) + " of " + std::to_string(count);
  if (k < names.size() && !names[k].empty()) s += " (" + names[k] + ")";
  return s;
}

/// Shard k's RoundInfo once it has reached `round` (asked every `poll`, at most `patience`).
wire::RoundInfo shard_at_round(NodeClient& shard, std::size_t k, std::uint64_t round,
                               std::chrono::milliseconds patience, std::chrono::milliseconds poll) {
  const auto give_up = std::chrono::steady_clock::now() + patience;
  wire::RoundInfo info = shard.round_info();
  while (info.round() < round && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(poll);
    info = shard.round_info();
  }
  if (info.round() != round)
    throw ServerError(wire::ERR_WRONG_ROUND, "shard " + std::to_string(k) + " is at round " +
                                                 std::to_string(info.round()) + ", not round " +
                                                 std::to_string(round));
  return info;
}

}  // namespace

void check_shard_set(NodeClient& coordinator, std::span<NodeClient* const> shards,
                     std::span<const std::string> names) {
  if (shards.empty()) throw ShardSetError("a shard set needs at least one shard");
  const std::size_t count = shards.size();
  for (int attempt = 0;; ++attempt) {
    const wire::RoundInfo c = coordinator.round_info();
    std::vector<wire::RoundInfo> infos;
    std::uint64_t sum = 0;
    std::string sizes;
    for (std::size_t k = 0; k < count; ++k) {
      try {
        infos.push_back(shards[k]->round_info());
      } catch (const TimeoutError& e) {
        throw ShardSetError(shard_label(k, count, names) + " does not answer: " + e.what() +
                            "; check its endpoint and Curve key");
      } catch (const ServerError& e) {
        throw ShardSetError(shard_label(k, count, names) + " refused RoundInfo: " + e.what());
      }
      const wire::RoundInfo& s = infos.back();
      if (s.task_id() != c.task_id())
        throw ShardSetError(shard_label(k, count, names) + " serves task " +
                            std::to_string(s.task_id()) + ", the coordinator task " +
                            std::to_string(c.task_id()) + ": it belongs to another shard set");
      sum += s.parameters();
      sizes += (k ? " + " : "") + std::to_string(s.parameters());
    }
    if (sum != c.parameters())
      throw ShardSetError((count == 1 ? std::string("the 1 shard given holds ")
                                      : "the " + std::to_string(count) + " shards given hold ") +
                          sizes + " = " + std::to_string(sum) +
                          " coordinates, the coordinator's model " +
                          std::to_string(c.parameters()) +
                          ": a shard is missing, extra or of another set; give every shard of "
                          "the set, shard 0 first");
    if (c.global_model_hash().size() != 32) return;  // no global model yet: nothing to compare
    try {
      fetch_split_model(shards, hash_of(c.global_model_hash()), c.round(),
                        std::chrono::seconds(10));
      return;
    } catch (const ServerError& e) {
      // The coordinator may have moved on while the shards were read: read it again.
      if (attempt < 2 && coordinator.round_info().round() != c.round()) continue;
      if (e.code() != wire::ERR_HASH_MISMATCH && e.code() != wire::ERR_WRONG_ROUND) throw;
      throw ShardSetError(
          "the shards' parts of the global model, concatenated in the order given, are not the "
          "coordinator's global model " +
          chain::to_hex(hash_of(c.global_model_hash())) + " of round " + std::to_string(c.round()) +
          " (" + e.what() +
          "): the shards are given in the wrong order or belong to another set; give them in "
          "shard order, shard 0 first (each shard's [shard] index)");
    }
  }
}

void wait_for_round(std::span<NodeClient* const> shards, std::uint64_t round,
                    std::chrono::milliseconds patience, std::chrono::milliseconds poll) {
  for (std::size_t k = 0; k < shards.size(); ++k)
    shard_at_round(*shards[k], k, round, patience, poll);
}

SplitPlan plan_split(std::span<NodeClient* const> shards, std::span<const float> values) {
  if (shards.empty()) throw std::invalid_argument("upload_split: no shards");
  SplitPlan plan;
  plan.boundaries.push_back(0);
  for (NodeClient* shard : shards) {
    const wire::RoundInfo info = shard->round_info();
    plan.boundaries.push_back(plan.boundaries.back() + info.parameters() * 4);
  }
  if (plan.boundaries.back() != values.size() * 4)
    throw std::invalid_argument("upload_split: the shards hold " +
                                std::to_string(plan.boundaries.back() / 4) +
                                " coordinates, the update " + std::to_string(values.size()));
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(values.data()),
                                            values.size() * 4);
  plan.commitment = protocol::commit_parts(bytes, plan.boundaries);
  return plan;
}

SplitUploadResult upload_split(std::span<NodeClient* const> shards, std::uint64_t task_id,
                               std::uint64_t round, std::span<const float> values,
                               const SplitPlan& plan, std::uint64_t num_samples,
                               const Signer& signer) {
  if (plan.boundaries.size() != shards.size() + 1 || plan.boundaries.back() != values.size() * 4 ||
      plan.commitment.parts.size() != shards.size())
    throw std::invalid_argument("upload_split: the plan is of another update or shard set");
  SplitUploadResult out;
  out.update_hash = plan.commitment.hash;
  out.parts.resize(shards.size());
  std::vector<std::exception_ptr> failures(shards.size());
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < shards.size(); ++k)
    threads.emplace_back([&, k] {
      try {
        wire::SplitCommitment split;
        protocol::to_wire(plan.commitment, static_cast<std::uint32_t>(k), split);
        const PartUpdate part(values.subspan(plan.boundaries[k] / 4,
                                             (plan.boundaries[k + 1] - plan.boundaries[k]) / 4),
                              plan.commitment.hash, std::move(split));
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

SplitUploadResult upload_split(std::span<NodeClient* const> shards, std::uint64_t task_id,
                               std::uint64_t round, std::span<const float> values,
                               std::uint64_t num_samples, const Signer& signer) {
  return upload_split(shards, task_id, round, values, plan_split(shards, values), num_samples,
                      signer);
}

std::vector<float> fetch_split_model(std::span<NodeClient* const> shards) {
  std::vector<float> model;
  for (NodeClient* shard : shards) {
    const auto part = shard->fetch_model(hash_of(shard->round_info().global_model_hash()));
    model.insert(model.end(), part.begin(), part.end());
  }
  return model;
}

std::vector<float> fetch_split_model(std::span<NodeClient* const> shards,
                                     const chain::Hash32& whole, std::uint64_t round,
                                     std::chrono::milliseconds patience,
                                     std::chrono::milliseconds poll) {
  std::vector<float> model;
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const wire::RoundInfo info = shard_at_round(*shards[k], k, round, patience, poll);
    std::vector<float> part;
    if (info.global_model_hash().empty())
      part.assign(static_cast<std::size_t>(info.parameters()), 0.0f);
    else
      part = shards[k]->fetch_model(hash_of(info.global_model_hash()));
    model.insert(model.end(), part.begin(), part.end());
  }
  if (keccak_of(model) != whole)
    throw ServerError(wire::ERR_HASH_MISMATCH, "the shards' parts of the global model hash to " +
                                                   chain::to_hex(keccak_of(model)) +
                                                   ", the coordinator's global model is " +
                                                   chain::to_hex(whole));
  return model;
}

std::optional<std::vector<float>> fetch_split_candidate(std::span<NodeClient* const> shards,
                                                        std::uint64_t task_id, std::uint64_t round,
                                                        const chain::Hash32& candidate) {
  std::vector<chain::Hash32> parts;
  for (NodeClient* shard : shards) {
    const wire::RoundInfo info = shard->round_info();
    if (info.task_id() != task_id || info.round() != round || info.stage() != wire::STAGE_VOTING ||
        info.candidate_model_hash().size() != 32)
      return std::nullopt;
    parts.push_back(hash_of(info.candidate_model_hash()));
  }
  std::vector<float> model;
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const auto part = shards[k]->fetch_model(parts[k]);
    model.insert(model.end(), part.begin(), part.end());
  }
  if (keccak_of(model) != candidate)
    throw ServerError(wire::ERR_HASH_MISMATCH,
                      "the shards' candidate parts of round " + std::to_string(round) +
                          " hash to " + chain::to_hex(keccak_of(model)) +
                          ", the coordinator's candidate is " + chain::to_hex(candidate));
  return model;
}

}  // namespace murmur::client
