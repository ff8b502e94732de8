#pragma once
// SecAgg+ (Bell et al., CCS 2020) for one group of nodes: the server learns the sum of the
// group's fixed-point updates and nothing about any one of them.
//
// Stages, each a message per node through the server:
//  0 advertise     node u: X25519 keys c_u (share encryption) and s_u (mask agreement), and
//                  BLAKE2b commitments to its self-mask seed b_u and to s_u's secret key;
//  1 share keys    u Shamir-shares b_u and sk(s_u) t-of-k among its k graph neighbours, each
//                  share sealed to its recipient (crypto_box, c keys); U1 = nodes that did this;
//  2 masked input  y_u = q(x_u) + PRG(b_u) + sum_{v in N(u) ∩ U1} ±PRG(s_uv)   (mod 2^32),
//                  + when u < v, - when u > v; U2 = nodes whose y_u arrived well-formed;
//  3 unmask        every responding neighbour v of u returns u's b share if u ∈ U2 and u's
//                  key share if u ∈ U1 \ U2 — never both — and the server removes
//                  sum_{u in U2} PRG(b_u) and, for each dropped u, its pairwise masks with
//                  the survivors. PRG is ChaCha20 (kernels::add_mask).
// Any t shares reconstruct a secret; reconstructions are checked against the commitment, so
// a neighbour returning a wrong share is identified (and its share ignored), and a secret
// with fewer than t good shares ends the round with SecAggError, never a wrong sum.
//
// This is the protocol for one group, in process; bucketing.hpp runs one per group.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/secagg/fixed_point.hpp"
#include "murmur/secagg/shamir.hpp"

namespace murmur::secagg {

using NodeId = std::uint32_t;
using Key32 = std::array<std::uint8_t, 32>;

/// The round cannot produce a correct sum; the message says why (e.g. which secret lacked
/// shares). No partial or wrong aggregate is ever returned.
class SecAggError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A group of one node (nodes = 1, threshold = 0) runs the protocol without masks or shares:
/// the group's sum is that node's update, so there is nothing to hide from the server (this
/// is what bucketing with s = 1 means: plain robust aggregation).
struct Params {
  std::uint32_t nodes = 0;      ///< ids 0 .. nodes-1
  std::uint32_t degree = 0;     ///< k neighbours per node (>= nodes - 1: complete graph)
  std::uint32_t threshold = 0;  ///< t shares reconstruct a secret, 1 <= t <= k
  std::uint64_t round = 0;      ///< binds every mask stream to the round
  std::uint64_t graph_seed = 0;
  FixedPoint fixed_point;
  std::size_t dimension = 0;    ///< words per update
};

/// A permutation of [0, n) by Fisher-Yates from mt19937_64 with unbiased draws: every node
/// and the server draw the same one from the same seed.
std::vector<NodeId> permutation(std::uint32_t n, std::uint64_t seed);

/// u's neighbours in the SecAgg+ graph: nodes placed on a ring by a seeded permutation, each
/// joined to the k/2 nearest on either side (a Harary graph, as in Bell et al.). Symmetric.
std::vector<NodeId> neighbours(const Params& p, NodeId u);

struct Advertisement {
  NodeId id = 0;
  Key32 c_public{}, s_public{};
  Key32 self_commitment{}, key_commitment{};  ///< BLAKE2b-256 of b_u and of sk(s_u)
};

struct SealedShare {
  NodeId from = 0, to = 0;
  std::vector<std::uint8_t> box;  ///< nonce || crypto_box(from's b share || key share)
};

struct UnmaskRequest {
  std::vector<NodeId> survivors;  ///< U2
  std::vector<NodeId> dropped;    ///< U1 \ U2
};

struct UnmaskReply {
  NodeId from = 0;
  std::map<NodeId, Share> self_shares;  ///< shares of b_u for survivors u
  std::map<NodeId, Share> key_shares;   ///< shares of sk(s_u) for dropped u
};

class Client {
 public:
  Client(NodeId id, const Params& params);
  ~Client();
  NodeId id() const { return id_; }
  Advertisement advertise() const;
  /// Seals shares of b_u and sk(s_u) to every neighbour whose advertisement is given.
  std::vector<SealedShare> share_keys(const std::vector<Advertisement>& neighbour_ads);
  /// Opens the shares addressed to this node; a box that does not open is ignored.
  void receive_shares(const std::vector<SealedShare>& shares);
  /// y_u over the neighbours in U1 (the nodes that shared keys).
  std::vector<std::uint32_t> masked_input(kernels::Backend& backend, std::span<const float> x,
                                          const std::set<NodeId>& u1);
  /// The node's own quantised update (what its masked input hides): node-local, for audits
  /// and tests; the protocol never sends it.
  std::vector<std::uint32_t> quantized(kernels::Backend& backend, std::span<const float> x) const;
  /// Shares for the server's request; refuses a request naming a node both dropped and alive.
  UnmaskReply unmask(const UnmaskRequest& request) const;

 private:
  NodeId id_;
  Params p_;
  Key32 c_secret_{}, s_secret_{}, self_seed_{};
  Advertisement ad_;
  std::map<NodeId, Advertisement> neighbour_ads_;
  std::map<NodeId, std::pair<Share, Share>> held_;  // from u: (b_u share, sk(s_u) share)
};

/// What the server learnt: the Z_2^32 sum over `survivors`, and who misbehaved.
struct Aggregate {
  std::vector<std::uint32_t> sum;
  std::vector<NodeId> survivors;
  std::vector<NodeId> dropped;
  std::vector<NodeId> excluded_malformed;     ///< masked vectors refused (treated as dropped)
  std::vector<NodeId> identified_bad_shares;  ///< returned shares that contradict commitments
};

class Server {
 public:
  explicit Server(const Params& params);
  void receive_advertisement(const Advertisement& ad);
  std::vector<Advertisement> advertisements_for(NodeId u) const;
  void receive_shares(NodeId from, const std::vector<SealedShare>& shares);
  std::vector<SealedShare> shares_for(NodeId u) const;
  std::set<NodeId> u1() const;
  /// Accepts y_u from a node in U1; a vector of the wrong length is refused and its node is
  /// treated as dropped (its pairwise masks are removed through its key shares).
  void receive_masked(NodeId from, std::vector<std::uint32_t> y);
  UnmaskRequest unmask_request() const;
  void receive_unmask(const UnmaskReply& reply);
  /// Removes every mask; throws SecAggError when a needed secret cannot be reconstructed.
  Aggregate finish(kernels::Backend& backend);

 private:
  Params p_;
  std::map<NodeId, Advertisement> ads_;
  std::map<NodeId, std::vector<SealedShare>> mailbox_;
  std::set<NodeId> u1_;
  std::map<NodeId, std::vector<std::uint32_t>> masked_;
  std::vector<NodeId> malformed_;
  std::vector<UnmaskReply> replies_;
};

/// The seed of the pairwise mask between u and v: BLAKE2b-256 of X25519(sk_u, pk_v) and both
/// public keys in a fixed order, and the round as nonce. Both ends compute the same seed.
kernels::MaskSeed pair_seed(const Key32& secret, const Key32& own_public, const Key32& peer_public,
                            std::uint64_t round);
/// The self-mask stream of seed b in `round`.
kernels::MaskSeed self_seed(const Key32& b, std::uint64_t round);

}  // namespace murmur::secagg
