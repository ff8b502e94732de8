// Split-upload commitments over BLAKE3's tree (part_commitment.hpp).
#include "murmur/protocol/part_commitment.hpp"

#include <string>

#include "murmur/protocol/blake3.hpp"

namespace murmur::protocol {
namespace {

std::string part_text(std::size_t part, std::uint64_t begin, std::uint64_t end) {
  return "part " + std::to_string(part) + " (bytes [" + std::to_string(begin) + ", " +
         std::to_string(end) + "))";
}

/// The parts must be contiguous whole-chunk ranges over [0, total), each with its cover.
void require_shape(const SplitCommitment& c) {
  if (c.parts.empty()) throw PartCommitmentError("split commitment: no parts");
  std::uint64_t at = 0;
  for (std::size_t p = 0; p < c.parts.size(); ++p) {
    const PartProof& part = c.parts[p];
    if (part.begin != at || part.end <= part.begin || part.end > c.total)
      throw PartCommitmentError("split commitment: " + part_text(p, part.begin, part.end) +
                                " does not follow byte " + std::to_string(at) + " within " +
                                std::to_string(c.total) + " bytes");
    if (c.parts.size() > 1) {
      std::vector<Blake3Node> cover;
      try {
        cover = blake3_cover(c.total, part.begin, part.end);
      } catch (const Blake3TreeError& e) {
        throw PartCommitmentError("split commitment: " + part_text(p, part.begin, part.end) + ": " +
                                  e.what());
      }
      if (part.nodes != cover || part.cvs.size() != cover.size())
        throw PartCommitmentError("split commitment: " + part_text(p, part.begin, part.end) +
                                  " does not list the " + std::to_string(cover.size()) +
                                  " tree nodes that cover it");
    }
    at = part.end;
  }
  if (at != c.total)
    throw PartCommitmentError("split commitment: parts end at byte " + std::to_string(at) +
                              ", the update has " + std::to_string(c.total));
}

}  // namespace

SplitCommitment commit_parts(std::span<const std::uint8_t> whole,
                             std::span<const std::uint64_t> boundaries) {
  SplitCommitment c;
  c.total = whole.size();
  if (boundaries.size() < 2 || boundaries.front() != 0 || boundaries.back() != whole.size())
    throw PartCommitmentError("split commitment: boundaries must run from 0 to the update's " +
                              std::to_string(whole.size()) + " bytes");
  for (std::size_t p = 0; p + 1 < boundaries.size(); ++p) {
    PartProof part;
    part.begin = boundaries[p];
    part.end = boundaries[p + 1];
    if (boundaries.size() > 2) {
      try {
        part.nodes = blake3_cover(c.total, part.begin, part.end);
      } catch (const Blake3TreeError& e) {
        throw PartCommitmentError("split commitment: " + part_text(p, part.begin, part.end) + ": " +
                                  e.what());
      }
      for (const Blake3Node& node : part.nodes) {
        const std::uint64_t b = node.first_chunk * kBlake3ChunkBytes;
        const std::uint64_t e = std::min(node.end_chunk * kBlake3ChunkBytes, c.total);
        part.cvs.push_back(blake3_node_cv(c.total, node, whole.subspan(b, e - b)));
      }
    }
    c.parts.push_back(std::move(part));
  }
  if (c.parts.size() == 1) {
    c.hash = blake3(whole);
  } else {  // the root from the parts' nodes: one BLAKE3 pass over the update in all
    std::vector<Blake3Node> nodes;
    std::vector<Blake3Cv> cvs;
    for (const PartProof& p : c.parts) {
      nodes.insert(nodes.end(), p.nodes.begin(), p.nodes.end());
      cvs.insert(cvs.end(), p.cvs.begin(), p.cvs.end());
    }
    c.hash = blake3_root(c.total, nodes, cvs);
  }
  return c;
}

void check_part(const SplitCommitment& c, std::size_t part, std::span<const std::uint8_t> bytes) {
  require_shape(c);
  if (part >= c.parts.size())
    throw PartCommitmentError("split commitment: no part " + std::to_string(part) + " of " +
                              std::to_string(c.parts.size()));
  const PartProof& mine = c.parts[part];
  if (bytes.size() != mine.end - mine.begin)
    throw PartCommitmentError("split commitment: " + part_text(part, mine.begin, mine.end) +
                              " given " + std::to_string(bytes.size()) + " bytes");
  if (c.parts.size() == 1) {
    if (blake3(bytes) != c.hash)
      throw PartCommitmentError("split commitment: " + part_text(part, mine.begin, mine.end) +
                                " (the whole update) does not hash to the signed hash");
    return;
  }
  for (std::size_t i = 0; i < mine.nodes.size(); ++i) {
    const Blake3Node& node = mine.nodes[i];
    const std::uint64_t b = node.first_chunk * kBlake3ChunkBytes - mine.begin;
    const std::uint64_t e = std::min(node.end_chunk * kBlake3ChunkBytes, c.total) - mine.begin;
    if (blake3_node_cv(c.total, node, bytes.subspan(b, e - b)) != mine.cvs[i])
      throw PartCommitmentError("split commitment: " + part_text(part, mine.begin, mine.end) +
                                ": the bytes of chunks [" + std::to_string(node.first_chunk) +
                                ", " + std::to_string(node.end_chunk) +
                                ") do not give the chaining value sent for them");
  }
  std::vector<Blake3Node> nodes;
  std::vector<Blake3Cv> cvs;
  for (const PartProof& p : c.parts) {
    nodes.insert(nodes.end(), p.nodes.begin(), p.nodes.end());
    cvs.insert(cvs.end(), p.cvs.begin(), p.cvs.end());
  }
  if (blake3_root(c.total, nodes, cvs) != c.hash)
    throw PartCommitmentError(
        "split commitment: the parts' chaining values do not combine into the update's hash");
}

}  // namespace murmur::protocol
