#pragma once
// BLAKE3's tree, node by node: the chaining values of the subtrees that cover a byte range of an
// input, and the root hash (b3sum's) from the chaining values of nodes that cover all of it.
// A split upload commits to the whole update's ordinary BLAKE3 hash; each part's bytes are
// checked through the chaining values of the tree nodes inside the part (part_commitment.hpp).
//
// The tree (BLAKE3 spec §2.1): the input's C = max(1, ceil(total / 1024)) chunks are the
// leaves; a node over chunks [s, e) with e - s > 1 has a left child over the largest power of two
// of chunks that leaves at least one chunk to the right, [s, s + bit_floor(e - s - 1)), and a
// right child over the rest. A node's chaining value depends only on its bytes and its first
// chunk's index (the chunk counter), never on what lies outside it, except at the root, whose
// last compression carries the ROOT flag.
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "murmur/chain/bytes.hpp"
#include "murmur/protocol/blake3.hpp"

namespace murmur::protocol {

/// A node of the BLAKE3 tree of an input: the chunks [first_chunk, end_chunk) it spans.
struct Blake3Node {
  std::uint64_t first_chunk = 0;
  std::uint64_t end_chunk = 0;
  friend bool operator==(const Blake3Node&, const Blake3Node&) = default;
};

/// A node's chaining value: 8 little-endian words, as BLAKE3 passes them to its parent.
using Blake3Cv = Blake3::Words;

/// The input's ranges, nodes or chaining values do not fit its tree; the message says which.
class Blake3TreeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// BLAKE3's chunk size in bytes.
inline constexpr std::uint64_t kBlake3ChunkBytes = 1024;

/// Chunks of a `total`-byte input: ceil(total / 1024), and 1 for the empty input.
std::uint64_t blake3_chunk_count(std::uint64_t total);

/// The largest nodes of the tree of a `total`-byte input lying within bytes [begin, end), left
/// to right: together they span the range exactly (at most about 2 log2(C) of them).
/// Preconditions: begin < end <= total, begin a multiple of 1024, end a multiple of 1024 or
/// equal to total; throws Blake3TreeError otherwise. O(log C).
std::vector<Blake3Node> blake3_cover(std::uint64_t total, std::uint64_t begin, std::uint64_t end);

/// The chaining value of `node` of a `total`-byte input from the node's own bytes (exactly
/// bytes [first_chunk * 1024, min(end_chunk * 1024, total)) of the input), as a non-root node.
/// Chunks go through Blake3's SIMD backend 16 at a time; complete power-of-two subtrees merge
/// level by level. Throws Blake3TreeError when `node` is the root (its chaining value is not
/// the hash: hash the bytes with Blake3), is not a node of this tree, or `bytes` has the wrong
/// size. Cost: one BLAKE3 pass over the bytes.
Blake3Cv blake3_node_cv(std::uint64_t total, Blake3Node node, std::span<const std::uint8_t> bytes);

/// The BLAKE3 hash (b3sum's) of a `total`-byte input from the chaining values of nodes of its
/// tree that span chunks [0, C) left to right with no gap or overlap (e.g. every part's
/// blake3_cover, concatenated). Throws Blake3TreeError when they do not, or when a single node
/// spans the whole input (the root has no chaining value to pass on). O(number of nodes + log C)
/// compressions.
chain::Hash32 blake3_root(std::uint64_t total, std::span<const Blake3Node> nodes,
                          std::span<const Blake3Cv> cvs);

}  // namespace murmur::protocol
