#pragma once
// Where the bytes of an update come from while it is uploaded: a float array in memory
// (narrowed to fp16/bf16 chunk by chunk), or a generator that never materialises the update
// (load tests: 64 nodes x 64 MiB must not cost the test process 4 GiB).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "murmur.pb.h"
#include "murmur/chain/bytes.hpp"

namespace murmur::client {

/// The bytes of one update as uploaded: `parameters` elements of `dtype`, little-endian.
/// Reads must be repeatable (a resumed upload re-reads what it hashes).
class UpdateSource {
 public:
  virtual ~UpdateSource() = default;
  virtual std::uint64_t parameters() const = 0;
  virtual wire::DType dtype() const = 0;
  /// Bytes of the update as uploaded: parameters() x element_bytes(dtype()).
  std::uint64_t size_bytes() const;
  /// Writes bytes [offset, offset + out.size()) of the update to `out`.
  /// Precondition: offset + out.size() <= size_bytes().
  virtual void read(std::uint64_t offset, std::span<std::uint8_t> out) const = 0;
  /// The update hash (BLAKE3 of the bytes) when the source already knows it; the upload
  /// then sends the bytes without hashing them again (murmurd still checks the hash).
  virtual std::optional<chain::Hash32> digest() const { return std::nullopt; }
  /// All the update's bytes as uploaded, when the source holds them in memory as they are
  /// (f32 values): chunks are then sent from them without a copy. Empty otherwise.
  virtual std::span<const std::uint8_t> in_place() const { return {}; }
  /// For a part of a split update (shard_upload.hpp): the commitment its UploadCommit carries
  /// (UploadCommit.split); null for a whole update.
  virtual const wire::SplitCommitment* split() const { return nullptr; }
};

/// Another source with its update hash computed once, at construction: for a node that
/// hashes its update when it is made (to log or sign it) or uploads it more than once. Keeps
/// a reference to `inner`, which must outlive it.
class DigestedUpdate final : public UpdateSource {
 public:
  explicit DigestedUpdate(const UpdateSource& inner);
  std::uint64_t parameters() const override { return inner_.parameters(); }
  wire::DType dtype() const override { return inner_.dtype(); }
  void read(std::uint64_t offset, std::span<std::uint8_t> out) const override {
    inner_.read(offset, out);
  }
  std::optional<chain::Hash32> digest() const override { return digest_; }
  std::span<const std::uint8_t> in_place() const override { return inner_.in_place(); }

 private:
  const UpdateSource& inner_;
  chain::Hash32 digest_{};
};

/// An update held as floats by the caller (who keeps `values` alive during the upload),
/// converted to `dtype` as it is read (round to nearest even for fp16/bf16).
class FloatUpdate final : public UpdateSource {
 public:
  FloatUpdate(std::span<const float> values, wire::DType dtype) : values_(values), dtype_(dtype) {}
  std::uint64_t parameters() const override { return values_.size(); }
  wire::DType dtype() const override { return dtype_; }
  void read(std::uint64_t offset, std::span<std::uint8_t> out) const override;
  std::span<const std::uint8_t> in_place() const override;

 private:
  std::span<const float> values_;
  wire::DType dtype_;
};

/// Synthetic update of node `index` under `seed`: element j is synthetic_value(seed, index, j),
/// generated on each read (O(read size), no memory beyond the caller's buffer).
class SyntheticUpdate final : public UpdateSource {
 public:
  SyntheticUpdate(std::uint64_t seed, std::uint64_t index, std::uint64_t parameters,
                  wire::DType dtype)
      : seed_(seed), index_(index), parameters_(parameters), dtype_(dtype) {}
  std::uint64_t parameters() const override { return parameters_; }
  wire::DType dtype() const override { return dtype_; }
  void read(std::uint64_t offset, std::span<std::uint8_t> out) const override;

 private:
  std::uint64_t seed_, index_, parameters_;
  wire::DType dtype_;
};

/// Element j of node `index`'s synthetic update: splitmix64(seed, index, j) mapped to a float
/// in [-0.5, 0.5) with 24 random bits (exactly representable, so tests can rebuild the rows).
float synthetic_value(std::uint64_t seed, std::uint64_t index, std::uint64_t j);

}  // namespace murmur::client
