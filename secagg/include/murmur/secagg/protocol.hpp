#pragma once
// SecAgg+ (Bell et al., CCS 2020) for one group of nodes: the server learns the sum of the
// group's fixed-point updates and nothing about any one of them.
//
// Stages, each a message per node through the server:
//  0 advertise     node u: ristretto255 public keys C_u = c_u B (share encryption) and
//                  S_u = s_u B (mask agreement);
//  1 share keys    u deals its self-mask seed b_u and s_u t-of-k among its k graph
//                  neighbours with Feldman VSS (feldman.hpp): commitments to both polynomials
//                  go to the server in clear (the key polynomial's C_0 must equal S_u), each
//                  holder's pair of shares is sealed to it (XSalsa20-Poly1305 under a key from
//                  c_u C_v). The server refuses a dealing that does not commit to t
//                  coefficients or does not seal one box to every advertised neighbour;
//  1b complaints   a holder whose box does not open, or whose shares do not verify against
//                  the dealer's commitments, complains with the box key point K = c_v C_u and
//                  a Chaum-Pedersen proof that it is the true Diffie-Hellman value. The server
//                  opens the box itself and judges: a dealer whose box is bad is excluded, an
//                  accuser whose proof fails or whose box turns out good is excluded. Both
//                  happen before any input is masked, so an excluded node is simply not in U1;
//                  U1 = nodes whose dealing stood;
//  2 masked input  y_u = q(x_u) + PRG(b_u) + sum_{v in N(u) ∩ U1} ±PRG(s_uv)   (mod 2^32),
//                  + when u < v, - when u > v; U2 = nodes whose y_u arrived well-formed;
//  3 unmask        every responding neighbour v of u returns u's b share if u ∈ U2 and u's
//                  key share if u ∈ U1 \ U2 — never both — and the server removes
//                  sum_{u in U2} PRG(b_u) and, for each dropped u, its pairwise masks with
//                  the survivors. PRG is ChaCha20 (kernels::add_mask).
// Every returned share is verified against the dealer's commitments at the holder's own
// abscissa, so a neighbour returning a wrong share is identified (and its share ignored), any
// t verified shares give the committed secret, and a secret with fewer than t good shares
// ends the round with SecAggError, never a wrong sum.
//
// This is the protocol for one group, in process; bucketing.hpp runs one per group.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include <string>
#include "murmur/kernels/backend.hpp"
#include "murmur/secagg/feldman.hpp"
#include "murmur/secagg/fixed_point.hpp"

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
  std::size_t dimension = 0;  ///< words per update
};

/// A permutation of [0, n) by Fisher-Yates from mt19937_64 with unbiased draws: every node
/// and the server draw the same one from the same seed.
std::vector<NodeId> permutation(std::uint32_t n, std::uint64_t seed);

/// u's neighbours in the SecAgg+ graph: nodes placed on a ring by a seeded permutation, each
/// joined to the k/2 nearest on either side (a Harary graph, as in Bell et al.). Symmetric.
std::vector<NodeId> neighbours(const Params& p, NodeId u);

struct Advertisement {
  NodeId id = 0;
  Point c_public{}, s_public{};
};

/// One holder's pair of shares from one dealer: nonce || secretbox(x || b share || s share ||
/// from || to) under box_key(c_from C_to, C_from, C_to).
struct SealedShare {
  NodeId from = 0, to = 0;
  std::vector<std::uint8_t> box;
};

/// Stage 1 from dealer u: its commitments and one sealed box per advertised neighbour.
struct KeyDealing {
  NodeId from = 0;
  std::vector<Point> self_commitments;  ///< Feldman commitments of the b_u polynomial (t)
  std::vector<Point> key_commitments;   ///< of the s_u polynomial (t); [0] == S_u
  std::vector<SealedShare> boxes;
};

/// What the server forwards to holder `box.to` of dealer `box.from`.
struct ShareDelivery {
  std::vector<Point> self_commitments, key_commitments;
  SealedShare box;
};

/// Holder `accuser` says dealer's box to it is bad. K = c_accuser C_dealer opens the box;
/// (e, z) is a Chaum-Pedersen proof that log_B C_accuser = log_{C_dealer} K, so the server
/// learns the one box key and nothing that opens any other box.
struct Complaint {
  NodeId accuser = 0, dealer = 0;
  Point box_point{};
  Scalar proof_e{}, proof_z{};
};

/// A node left out of the round at share time, and why (for the operator and the log).
struct Exclusion {
  NodeId node = 0;
  std::string reason;
};

struct UnmaskRequest {
  std::vector<NodeId> survivors;  ///< U2
  std::vector<NodeId> dropped;    ///< U1 \ U2
};

/// Shares returned at unmask: the f(x) values only; the server evaluates them at the
/// holder's abscissa (its position among the dealer's neighbours), never at a claimed one.
struct UnmaskReply {
  NodeId from = 0;
  std::map<NodeId, Scalar> self_shares;  ///< of b_u for survivors u
  std::map<NodeId, Scalar> key_shares;   ///< of s_u for dropped u
};

class Client {
 public:
  Client(NodeId id, const Params& params);
  ~Client();
  NodeId id() const { return id_; }
  Advertisement advertise() const;
  /// Deals b_u and s_u to every neighbour whose advertisement is given. Throws SecAggError
  /// when fewer than t neighbours advertised.
  KeyDealing share_keys(const std::vector<Advertisement>& neighbour_ads);
  /// Opens the boxes addressed to this node and keeps the shares that verify; returns a
  /// complaint for every box that does not open or whose shares contradict the dealer's
  /// commitments (the server judges them before stage 2).
  std::vector<Complaint> receive_shares(const std::vector<ShareDelivery>& deliveries);
  /// A complaint against `dealer`'s box to this node, with the proof that makes it
  /// checkable. receive_shares makes these itself; a caller may make one too — a false one
  /// gets this node excluded.
  Complaint complain(NodeId dealer) const;
  /// y_u over the neighbours in U1 (the nodes whose dealing stood).
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
  Scalar c_secret_{}, s_secret_{}, self_seed_{};
  Advertisement ad_;
  std::map<NodeId, Advertisement> neighbour_ads_;
  std::map<NodeId, std::pair<Scalar, Scalar>> held_;  // from u: (b_u share, s_u share)
};

/// What the server learnt: the Z_2^32 sum over `survivors`, and who misbehaved.
struct Aggregate {
  std::vector<std::uint32_t> sum;
  std::vector<NodeId> survivors;
  std::vector<NodeId> dropped;
  std::vector<NodeId> excluded_malformed;     ///< masked vectors refused (treated as dropped)
  std::vector<NodeId> identified_bad_shares;  ///< returned shares that contradict commitments
  std::vector<Exclusion>
      excluded_at_sharing;  ///< bad dealings, inconsistent dealers, false accusers
};

class Server {
 public:
  explicit Server(const Params& params);
  const Params& params() const { return p_; }
  void receive_advertisement(const Advertisement& ad);
  std::vector<Advertisement> advertisements_for(NodeId u) const;
  /// Accepts u's dealing if it commits to t coefficients of each polynomial (valid points,
  /// the key polynomial's C_0 equal to S_u) and seals exactly one box to each neighbour
  /// advertised now; otherwise u is excluded with the reason and stays out of U1.
  void receive_shares(NodeId from, const KeyDealing& dealing);
  std::vector<ShareDelivery> shares_for(NodeId u) const;
  /// Judges a complaint at once (see stage 1b): excludes the dealer or the accuser.
  void receive_complaint(const Complaint& complaint);
  /// Nodes whose dealing was accepted and who have not been excluded since.
  std::set<NodeId> u1() const;
  const std::vector<Exclusion>& excluded() const { return excluded_; }
  /// Accepts y_u from a node in U1; a vector of the wrong length is refused and its node is
  /// treated as dropped (its pairwise masks are removed through its key shares).
  void receive_masked(NodeId from, std::vector<std::uint32_t> y);
  UnmaskRequest unmask_request() const;
  void receive_unmask(const UnmaskReply& reply);
  /// Removes every mask; throws SecAggError when a needed secret cannot be reconstructed.
  Aggregate finish(kernels::Backend& backend);

 private:
  void exclude(NodeId node, std::string reason);
  /// Holder v's abscissa in u's dealing: its position among u's neighbours, plus one.
  std::uint8_t abscissa(NodeId dealer, NodeId holder) const;

  Params p_;
  std::map<NodeId, Advertisement> ads_;
  std::map<NodeId, KeyDealing> dealings_;
  std::set<NodeId> u1_;
  std::vector<Exclusion> excluded_;
  std::map<NodeId, std::vector<std::uint32_t>> masked_;
  std::vector<NodeId> malformed_;
  std::vector<UnmaskReply> replies_;
};

/// The seed of the pairwise mask between u and v: BLAKE2b-256 of s_u S_v and both public
/// keys in a fixed order, and the round as nonce. Both ends compute the same seed.
kernels::MaskSeed pair_seed(const Scalar& secret, const Point& own_public, const Point& peer_public,
                            std::uint64_t round);
/// The self-mask stream of seed b in `round` (key: BLAKE2b-256 of b).
kernels::MaskSeed self_seed(const Scalar& b, std::uint64_t round);

/// The secretbox key of the boxes between two nodes, from their Diffie-Hellman point
/// c_u C_v = c_v C_u and both public keys in a fixed order.
Key32 box_key(const Point& dh, const Point& a_public, const Point& b_public);
/// A dealer's box for one holder (what Client::share_keys makes): x and both shares, bound to
/// sender and recipient. Public so a test can play a dealer that lies.
SealedShare seal_share(NodeId from, NodeId to, std::uint8_t x, const Scalar& self_share,
                       const Scalar& key_share, const Scalar& c_secret, const Point& c_public,
                       const Point& peer_c_public);

}  // namespace murmur::secagg
