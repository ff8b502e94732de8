// BLAKE3's tree node by node (blake3_tree.hpp): covers of byte ranges, chaining values of
// nodes, the root from the nodes' chaining values. The compressions are blake3_impl.hpp's, run
// on the SIMD backend Blake3 itself uses (blake3_detail::backend()).
#include "murmur/protocol/blake3_tree.hpp"

#include <bit>
#include <cstring>
#include <string>

#include "blake3_impl.hpp"

namespace murmur::protocol {
namespace {

using namespace blake3_detail;

std::string chunks_text(Blake3Node node) {
  return "chunks [" + std::to_string(node.first_chunk) + ", " + std::to_string(node.end_chunk) +
         ")";
}

/// Where a node over chunks [s, e) (e - s > 1) splits: its left child's end.
std::uint64_t split(std::uint64_t s, std::uint64_t e) {
  return s + std::bit_floor(e - s - 1);
}

void cover(std::uint64_t s, std::uint64_t e, std::uint64_t b, std::uint64_t eb,
           std::vector<Blake3Node>& out) {
  if (e <= b || s >= eb) return;
  if (b <= s && e <= eb) {
    out.push_back({s, e});
    return;
  }
  const std::uint64_t h = split(s, e);
  cover(s, h, b, eb, out);
  cover(h, e, b, eb, out);
}

HashManyFn hash_many_in_use() {
#if defined(__x86_64__) && defined(MURMUR_BLAKE3_X86)
  const std::string_view name = backend();
  if (name == "avx512") return hash_many_avx512;
  if (name == "avx2") return hash_many_avx2;
#endif
  return hash_many_portable;
}

Blake3Cv parent(const Blake3Cv& left, const Blake3Cv& right, std::uint32_t extra_flags) {
  std::uint8_t block[kBlockLen];
  std::memcpy(block, left.data(), 32);
  std::memcpy(block + 32, right.data(), 32);
  const auto o = compress(kIv.data(), block, 0, kBlockLen, kParent | extra_flags);
  Blake3Cv cv;
  std::memcpy(cv.data(), o.data(), 32);
  return cv;
}

/// The chaining value of a last chunk shorter than 1024 bytes (1 to 1023), at `counter`.
Blake3Cv partial_chunk_cv(const std::uint8_t* in, std::size_t len, std::uint64_t counter) {
  Blake3Cv cv = kIv;
  const std::size_t blocks = (len + kBlockLen - 1) / kBlockLen;
  for (std::size_t b = 0; b < blocks; ++b) {
    std::uint8_t block[kBlockLen] = {};
    const std::size_t take = std::min(kBlockLen, len - b * kBlockLen);
    std::memcpy(block, in + b * kBlockLen, take);
    const std::uint32_t flags = (b == 0 ? kChunkStart : 0) | (b + 1 == blocks ? kChunkEnd : 0);
    const auto o = compress(cv.data(), block, counter, static_cast<std::uint32_t>(take), flags);
    std::memcpy(cv.data(), o.data(), 32);
  }
  return cv;
}

/// The chaining value of the node over leaves [s, e) of `leaves` (whose first is chunk s0):
/// complete power-of-two subtrees level by level through hash_many, the rest by the split.
Blake3Cv merge(HashManyFn hash_many, const std::vector<Blake3Cv>& leaves, std::uint64_t s0,
               std::uint64_t s, std::uint64_t e) {
  const std::uint64_t n = e - s;
  if (n == 1) return leaves[s - s0];
  if (!std::has_single_bit(n))
    return parent(merge(hash_many, leaves, s0, s, split(s, e)),
                  merge(hash_many, leaves, s0, split(s, e), e), 0);
  std::vector<std::uint32_t> a(n * 8), b(n * 4);
  std::memcpy(a.data(), leaves.data() + (s - s0), n * 32);
  std::size_t k = n;
  for (; k > 2; k /= 2) {
    // Parent i's block is the chaining values of children 2i and 2i + 1, adjacent in `a`.
    hash_many(reinterpret_cast<const std::uint8_t*>(a.data()), kBlockLen, k / 2, 1, kIv.data(), 0,
              false, kParent, 0, 0, b.data());
    std::memcpy(a.data(), b.data(), (k / 2) * 32);
  }
  Blake3Cv left, right;
  std::memcpy(left.data(), a.data(), 32);
  std::memcpy(right.data(), a.data() + 8, 32);
  return parent(left, right, 0);
}

/// Walks from the root to `node`; throws when it is not a node of the tree of C chunks.
void require_node(std::uint64_t chunks, Blake3Node node) {
  std::uint64_t s = 0, e = chunks;
  while (!(s == node.first_chunk && e == node.end_chunk)) {
    if (e - s == 1 || node.first_chunk < s || node.end_chunk > e ||
        node.first_chunk >= node.end_chunk)
      throw Blake3TreeError("blake3: " + chunks_text(node) + " is not a node of the tree of " +
                            std::to_string(chunks) + " chunks");
    const std::uint64_t h = split(s, e);
    if (node.end_chunk <= h)
      e = h;
    else if (node.first_chunk >= h)
      s = h;
    else
      throw Blake3TreeError("blake3: " + chunks_text(node) + " straddles the split at chunk " +
                            std::to_string(h) + ": not a node of the tree");
  }
}

}  // namespace

std::uint64_t blake3_chunk_count(std::uint64_t total) {
  return total == 0 ? 1 : (total + kBlake3ChunkBytes - 1) / kBlake3ChunkBytes;
}

std::vector<Blake3Node> blake3_cover(std::uint64_t total, std::uint64_t begin, std::uint64_t end) {
  if (!(begin < end && end <= total) || begin % kBlake3ChunkBytes != 0 ||
      (end % kBlake3ChunkBytes != 0 && end != total))
    throw Blake3TreeError("blake3: bytes [" + std::to_string(begin) + ", " + std::to_string(end) +
                          ") of " + std::to_string(total) +
                          " are not a range of whole chunks (begin and end multiples of 1024, or "
                          "end the input's end)");
  std::vector<Blake3Node> out;
  cover(0, blake3_chunk_count(total), begin / kBlake3ChunkBytes,
        end == total ? blake3_chunk_count(total) : end / kBlake3ChunkBytes, out);
  return out;
}

Blake3Cv blake3_node_cv(std::uint64_t total, Blake3Node node, std::span<const std::uint8_t> bytes) {
  const std::uint64_t chunks = blake3_chunk_count(total);
  if (node.first_chunk == 0 && node.end_chunk == chunks)
    throw Blake3TreeError("blake3: " + chunks_text(node) +
                          " is the root; its hash is Blake3 of the bytes, not a chaining value");
  require_node(chunks, node);
  const std::uint64_t first_byte = node.first_chunk * kBlake3ChunkBytes;
  const std::uint64_t end_byte = std::min(node.end_chunk * kBlake3ChunkBytes, total);
  if (bytes.size() != end_byte - first_byte)
    throw Blake3TreeError("blake3: " + chunks_text(node) + " has " +
                          std::to_string(end_byte - first_byte) + " bytes, given " +
                          std::to_string(bytes.size()));
  const std::uint64_t n = node.end_chunk - node.first_chunk;
  const std::uint64_t whole = bytes.size() / kBlake3ChunkBytes;
  std::vector<Blake3Cv> leaves(n);
  const HashManyFn hash_many = hash_many_in_use();
  constexpr std::uint64_t kBatch = 256;  // chunks per hash_many call
  for (std::uint64_t c = 0; c < whole; c += kBatch) {
    const std::uint64_t k = std::min(kBatch, whole - c);
    hash_many(bytes.data() + c * kBlake3ChunkBytes, kChunkLen, k, kChunkLen / kBlockLen, kIv.data(),
              node.first_chunk + c, true, 0, kChunkStart, kChunkEnd, leaves[c].data());
  }
  if (whole < n)  // the input's last chunk, shorter than 1024 bytes
    leaves[whole] =
        partial_chunk_cv(bytes.data() + whole * kBlake3ChunkBytes,
                         bytes.size() - whole * kBlake3ChunkBytes, node.first_chunk + whole);
  return merge(hash_many, leaves, node.first_chunk, node.first_chunk, node.end_chunk);
}

chain::Hash32 blake3_root(std::uint64_t total, std::span<const Blake3Node> nodes,
                          std::span<const Blake3Cv> cvs) {
  const std::uint64_t chunks = blake3_chunk_count(total);
  if (nodes.size() != cvs.size())
    throw Blake3TreeError("blake3: " + std::to_string(nodes.size()) + " nodes but " +
                          std::to_string(cvs.size()) + " chaining values");
  if (chunks == 1 || nodes.size() < 2)
    throw Blake3TreeError("blake3: an input of " + std::to_string(chunks) +
                          " chunks given as one node: its hash is Blake3 of the bytes");
  std::uint64_t at = 0;
  for (const Blake3Node& node : nodes) {
    if (node.first_chunk != at || node.end_chunk <= node.first_chunk)
      throw Blake3TreeError("blake3: nodes must span chunks [0, " + std::to_string(chunks) +
                            ") left to right; " + chunks_text(node) + " found where chunk " +
                            std::to_string(at) + " was expected");
    at = node.end_chunk;
  }
  if (at != chunks)
    throw Blake3TreeError("blake3: nodes end at chunk " + std::to_string(at) + ", the input has " +
                          std::to_string(chunks));
  std::size_t next = 0;  // nodes are met left to right by the walk below
  const auto cv_of = [&](auto&& self, std::uint64_t s, std::uint64_t e) -> Blake3Cv {
    if (nodes[next].first_chunk == s && nodes[next].end_chunk == e) return cvs[next++];
    if (e - s == 1 || nodes[next].end_chunk > e)
      throw Blake3TreeError("blake3: " + chunks_text(nodes[next]) +
                            " is not a node of the tree of " + std::to_string(chunks) + " chunks");
    const std::uint64_t h = split(s, e);
    const Blake3Cv left = self(self, s, h);
    const Blake3Cv right = self(self, h, e);
    return parent(left, right, 0);
  };
  const std::uint64_t h = split(0, chunks);
  const Blake3Cv left = cv_of(cv_of, 0, h);
  const Blake3Cv right = cv_of(cv_of, h, chunks);
  std::uint8_t block[kBlockLen];
  std::memcpy(block, left.data(), 32);
  std::memcpy(block + 32, right.data(), 32);
  const auto o = compress(kIv.data(), block, 0, kBlockLen, kParent | kRoot);
  chain::Hash32 out{};
  std::memcpy(out.data(), o.data(), out.size());
  return out;
}

}  // namespace murmur::protocol
