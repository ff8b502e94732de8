// Split-upload commitments over BLAKE3's tree (part_commitment.hpp).
#include "murmur/protocol/part_commitment.hpp"

#include <algorithm>
#include <string>

#include "murmur.pb.h"
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

void to_wire(const SplitCommitment& c, std::uint32_t part, wire::SplitCommitment& out) {
  out.Clear();
  out.set_total(c.total);
  out.set_hash(c.hash.data(), c.hash.size());
  out.set_part(part);
  for (const PartProof& p : c.parts) {
    wire::PartProof* w = out.add_parts();
    w->set_begin(p.begin);
    w->set_end(p.end);
    for (const Blake3Node& n : p.nodes) {
      w->add_node_first_chunk(n.first_chunk);
      w->add_node_end_chunk(n.end_chunk);
    }
    std::string cvs;
    for (const Blake3Cv& cv : p.cvs)
      for (const std::uint32_t word : cv)
        for (int b = 0; b < 4; ++b) cvs.push_back(static_cast<char>((word >> (8 * b)) & 0xff));
    w->set_cvs(std::move(cvs));
  }
}

SplitCommitment from_wire(const wire::SplitCommitment& in) {
  SplitCommitment c;
  c.total = in.total();
  if (in.hash().size() != c.hash.size())
    throw PartCommitmentError("split commitment: hash of " + std::to_string(in.hash().size()) +
                              " bytes, not 32");
  std::copy(in.hash().begin(), in.hash().end(), c.hash.begin());
  for (int i = 0; i < in.parts_size(); ++i) {
    const wire::PartProof& w = in.parts(i);
    PartProof p;
    p.begin = w.begin();
    p.end = w.end();
    const auto nodes = static_cast<std::size_t>(w.node_first_chunk_size());
    if (static_cast<std::size_t>(w.node_end_chunk_size()) != nodes || w.cvs().size() != 32 * nodes)
      throw PartCommitmentError("split commitment: part " + std::to_string(i) + " has " +
                                std::to_string(nodes) + " node starts, " +
                                std::to_string(w.node_end_chunk_size()) + " node ends and " +
                                std::to_string(w.cvs().size()) + " bytes of chaining values");
    for (std::size_t n = 0; n < nodes; ++n) {
      p.nodes.push_back(
          {w.node_first_chunk(static_cast<int>(n)), w.node_end_chunk(static_cast<int>(n))});
      Blake3Cv cv{};
      for (std::size_t j = 0; j < 8; ++j)
        for (std::size_t b = 0; b < 4; ++b)
          cv[j] |=
              static_cast<std::uint32_t>(static_cast<std::uint8_t>(w.cvs()[32 * n + 4 * j + b]))
              << (8 * b);
      p.cvs.push_back(cv);
    }
    c.parts.push_back(std::move(p));
  }
  return c;
}

}  // namespace murmur::protocol
