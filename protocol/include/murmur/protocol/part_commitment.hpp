#pragma once
// The commitment of a split upload: the node signs the ordinary BLAKE3 hash of the whole update
// (what a single murmurd checks, b3sum's) and sends, with each part, the chaining values of the
// BLAKE3 tree nodes that cover every part. A shard that holds one part checks it alone: its own
// nodes' chaining values against its bytes, and every part's nodes against the signed hash.
// docs/sharding.md says why this over a commitment to a list of part hashes.
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "murmur/chain/bytes.hpp"
#include "murmur/protocol/blake3_tree.hpp"

namespace murmur::wire {
class SplitCommitment;
}

namespace murmur::protocol {

/// A part fails its commitment, or the commitment is malformed; the message says which part and
/// what did not match.
class PartCommitmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One part of a split update: bytes [begin, end) of the whole and the chaining values of the
/// tree nodes that cover them (blake3_cover(total, begin, end), left to right).
struct PartProof {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::vector<Blake3Node> nodes;
  std::vector<Blake3Cv> cvs;
  friend bool operator==(const PartProof&, const PartProof&) = default;
};

/// What a node sends with a split upload: the whole's size and BLAKE3 hash (the signed
/// update hash) and every part's proof (all parts go to every shard: 32 bytes a node, about
/// 2 log2(chunks) nodes a part).
struct SplitCommitment {
  std::uint64_t total = 0;
  chain::Hash32 hash{};
  std::vector<PartProof> parts;
};

/// The node's side: splits `whole` at `boundaries` (byte offsets 0 = b0 < b1 < ... < bS =
/// whole.size(), each inner one a multiple of 1024) and computes every part's proof and the
/// whole's hash, the root of the parts' nodes (one BLAKE3 pass in all). Throws PartCommitmentError
/// on boundaries that do not split the update into whole chunks.
SplitCommitment commit_parts(std::span<const std::uint8_t> whole,
                             std::span<const std::uint64_t> boundaries);

/// The shard's side: whether `bytes` are part `part` of the update `commitment` commits to.
/// Checks that the parts are contiguous whole-chunk ranges over [0, total) and each lists the
/// nodes blake3_cover gives, that this part's chaining values are those of `bytes`, and that
/// all parts' chaining values combine into `commitment.hash`. With one part, `bytes` must hash
/// to `commitment.hash`. Throws PartCommitmentError naming the mismatch. Cost: one BLAKE3 pass
/// over `bytes` and O(S log chunks) compressions.
void check_part(const SplitCommitment& commitment, std::size_t part,
                std::span<const std::uint8_t> bytes);

/// The wire form of `commitment` (UploadCommit.split) for the upload of part `part`.
void to_wire(const SplitCommitment& commitment, std::uint32_t part, wire::SplitCommitment& out);
/// A SplitCommitment read from the wire; throws PartCommitmentError when a field is malformed
/// (hash not 32 bytes, node lists of different lengths, chaining values not 32 bytes a node).
/// check_part then checks what it says.
SplitCommitment from_wire(const wire::SplitCommitment& in);

}  // namespace murmur::protocol
