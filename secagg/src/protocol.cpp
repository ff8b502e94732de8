#include "murmur/secagg/protocol.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "murmur/kernels/masks.hpp"
#include "sealing.hpp"

namespace murmur::secagg {

using detail::blake;
using detail::ensure_sodium;

std::vector<NodeId> permutation(std::uint32_t n, std::uint64_t seed) {
  std::vector<NodeId> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 gen(seed);
  for (std::uint64_t i = n; i > 1; --i) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % i;
    std::uint64_t r;
    do r = gen();
    while (r >= limit);
    std::swap(order[i - 1], order[r % i]);
  }
  return order;
}

std::vector<NodeId> neighbours(const Params& p, NodeId u) {
  std::vector<NodeId> out;
  if (p.degree + 1 >= p.nodes) {
    for (NodeId v = 0; v < p.nodes; ++v)
      if (v != u) out.push_back(v);
    return out;
  }
  const auto order = permutation(p.nodes, p.graph_seed);
  std::vector<std::uint32_t> position(p.nodes);
  for (std::uint32_t i = 0; i < p.nodes; ++i) position[order[i]] = i;
  const std::uint32_t half = (p.degree + 1) / 2;
  for (std::uint32_t d = 1; d <= half; ++d) {
    out.push_back(order[(position[u] + d) % p.nodes]);
    out.push_back(order[(position[u] + p.nodes - d) % p.nodes]);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

kernels::MaskSeed pair_seed(const Scalar& secret, const Point& own_public, const Point& peer_public,
                            std::uint64_t round) {
  std::array<std::uint8_t, 32 * 3 + 16> material{};
  const Point shared = detail::dh(secret, peer_public);
  std::memcpy(material.data(), shared.data(), 32);
  const bool own_first = std::lexicographical_compare(own_public.begin(), own_public.end(),
                                                      peer_public.begin(), peer_public.end());
  std::memcpy(material.data() + 32, (own_first ? own_public : peer_public).data(), 32);
  std::memcpy(material.data() + 64, (own_first ? peer_public : own_public).data(), 32);
  std::memcpy(material.data() + 96, "murmur.pair.v2\0\0", 16);
  kernels::MaskSeed s;
  s.key = blake(material);
  sodium_memzero(material.data(), material.size());
  for (int i = 0; i < 8; ++i) s.nonce[i] = static_cast<std::uint8_t>(round >> (8 * i));
  s.nonce[8] = 'p';
  return s;
}

kernels::MaskSeed self_seed(const Scalar& b, std::uint64_t round) {
  kernels::MaskSeed s;
  s.key = blake(b);
  for (int i = 0; i < 8; ++i) s.nonce[i] = static_cast<std::uint8_t>(round >> (8 * i));
  s.nonce[8] = 's';
  return s;
}

// --- Client ---------------------------------------------------------------------------------

Client::Client(NodeId id, const Params& params) : id_(id), p_(params) {
  ensure_sodium();
  ad_.id = id;
  c_secret_ = random_scalar();
  s_secret_ = random_scalar();
  self_seed_ = random_scalar();
  ad_.c_public = base_times(c_secret_);
  ad_.s_public = base_times(s_secret_);
}

Client::~Client() {
  sodium_memzero(c_secret_.data(), 32);
  sodium_memzero(s_secret_.data(), 32);
  sodium_memzero(self_seed_.data(), 32);
}

Advertisement Client::advertise() const {
  return ad_;
}

KeyDealing Client::share_keys(const std::vector<Advertisement>& ads) {
  KeyDealing out;
  out.from = id_;
  if (p_.nodes == 1) return out;  // a group of one: no neighbours, nothing to share
  // A neighbour whose keys are not group elements cannot be dealt to or masked with: leave it
  // out, as if it had not advertised.
  for (const auto& a : ads)
    if (is_valid_point(a.c_public) && is_valid_point(a.s_public)) neighbour_ads_[a.id] = a;
  const auto graph = neighbours(p_, id_);
  std::vector<NodeId> holders;
  for (NodeId v : graph)
    if (neighbour_ads_.contains(v)) holders.push_back(v);
  if (holders.size() < p_.threshold)
    throw SecAggError("secagg: node " + std::to_string(id_) + " has " +
                      std::to_string(holders.size()) +
                      " neighbours left, fewer than the threshold " + std::to_string(p_.threshold));
  // Holder v's abscissa: its index in the full neighbour list + 1 (stable across nodes).
  const auto b = deal(self_seed_, static_cast<unsigned>(graph.size()), p_.threshold);
  const auto k = deal(s_secret_, static_cast<unsigned>(graph.size()), p_.threshold);
  out.self_commitments = b.commitments;
  out.key_commitments = k.commitments;
  for (NodeId v : holders) {
    const auto idx =
        static_cast<std::size_t>(std::find(graph.begin(), graph.end(), v) - graph.begin());
    out.boxes.push_back(seal_share(id_, v, b.shares[idx].x, b.shares[idx].y, k.shares[idx].y,
                                   c_secret_, ad_.c_public, neighbour_ads_[v].c_public));
  }
  return out;
}

std::vector<Complaint> Client::receive_shares(const std::vector<ShareDelivery>& deliveries) {
  std::vector<Complaint> complaints;
  for (const auto& d : deliveries) {
    const NodeId u = d.box.from;
    const auto ad = neighbour_ads_.find(u);
    if (d.box.to != id_ || ad == neighbour_ads_.end()) continue;  // not a neighbour's box for us
    const auto graph = neighbours(p_, u);
    const auto pos = std::find(graph.begin(), graph.end(), id_);
    const bool good = [&] {
      if (pos == graph.end()) return false;
      const auto o = detail::open_share(d.box, box_key(detail::dh(c_secret_, ad->second.c_public),
                                                       ad_.c_public, ad->second.c_public));
      if (!o || o->from != u || o->to != id_ ||
          o->x != static_cast<std::uint8_t>(pos - graph.begin() + 1))
        return false;
      if (d.key_commitments.empty() || d.key_commitments[0] != ad->second.s_public ||
          !verify({o->x, o->self_share}, d.self_commitments) ||
          !verify({o->x, o->key_share}, d.key_commitments))
        return false;
      held_[u] = {o->self_share, o->key_share};
      return true;
    }();
    if (!good) complaints.push_back(complain(u));
  }
  return complaints;
}

Complaint Client::complain(NodeId dealer) const {
  const auto ad = neighbour_ads_.find(dealer);
  if (ad == neighbour_ads_.end())
    throw std::invalid_argument("secagg: node " + std::to_string(dealer) +
                                " is not a neighbour of node " + std::to_string(id_));
  Complaint c;
  c.accuser = id_;
  c.dealer = dealer;
  c.box_point = detail::dh(c_secret_, ad->second.c_public);
  std::tie(c.proof_e, c.proof_z) =
      detail::prove_dh(c_secret_, ad_.c_public, ad->second.c_public, c.box_point);
  return c;
}

std::vector<std::uint32_t> Client::quantized(kernels::Backend& backend,
                                             std::span<const float> x) const {
  if (x.size() != p_.dimension)
    throw std::invalid_argument("secagg: update of the wrong dimension");
  std::vector<std::uint32_t> q(x.size());
  kernels::MaskSeed rounding = self_seed(self_seed_, p_.round);
  rounding.nonce[8] = 'r';  // the stochastic-rounding stream, distinct from the self mask
  quantize(backend, p_.fixed_point, x, rounding, q);
  return q;
}

std::vector<std::uint32_t> Client::masked_input(kernels::Backend& backend, std::span<const float> x,
                                                const std::set<NodeId>& u1) {
  std::vector<std::uint32_t> y = quantized(backend, x);
  if (p_.nodes == 1) return y;  // the group's sum is this update: no mask could hide it
  kernels::add_mask(backend, self_seed(self_seed_, p_.round), +1, y);
  for (NodeId v : neighbours(p_, id_)) {
    if (!u1.contains(v) || !neighbour_ads_.contains(v)) continue;
    const auto seed = pair_seed(s_secret_, ad_.s_public, neighbour_ads_[v].s_public, p_.round);
    kernels::add_mask(backend, seed, id_ < v ? +1 : -1, y);
  }
  return y;
}

UnmaskReply Client::unmask(const UnmaskRequest& request) const {
  std::set<NodeId> alive(request.survivors.begin(), request.survivors.end());
  for (NodeId d : request.dropped)
    if (alive.contains(d))
      throw SecAggError("secagg: the server asked for both secrets of node " + std::to_string(d) +
                        "; refusing");
  UnmaskReply r;
  r.from = id_;
  for (const auto& [u, shares] : held_) {
    if (alive.contains(u))
      r.self_shares[u] = shares.first;
    else if (std::find(request.dropped.begin(), request.dropped.end(), u) != request.dropped.end())
      r.key_shares[u] = shares.second;
  }
  return r;
}

// --- Server ---------------------------------------------------------------------------------

Server::Server(const Params& params) : p_(params) {
  if (p_.nodes == 1) {
    if (p_.threshold != 0)
      throw std::invalid_argument("secagg: a group of one node has threshold 0");
    return;
  }
  if (p_.threshold == 0 ||
      p_.threshold > std::max<std::uint32_t>(1, std::min(p_.degree, p_.nodes - 1)))
    throw std::invalid_argument("secagg: threshold must be in [1, degree]");
}

void Server::receive_advertisement(const Advertisement& ad) {
  if (ad.id >= p_.nodes)
    throw std::invalid_argument("secagg: unknown node " + std::to_string(ad.id));
  if (!is_valid_point(ad.c_public) || !is_valid_point(ad.s_public))
    throw std::invalid_argument("secagg: node " + std::to_string(ad.id) +
                                " advertised a key that is not a ristretto255 point");
  ads_[ad.id] = ad;
}

std::vector<Advertisement> Server::advertisements_for(NodeId u) const {
  std::vector<Advertisement> out;
  for (NodeId v : neighbours(p_, u))
    if (auto it = ads_.find(v); it != ads_.end()) out.push_back(it->second);
  return out;
}

void Server::exclude(NodeId node, std::string reason) {
  u1_.erase(node);
  for (const auto& e : excluded_)
    if (e.node == node) return;  // the first reason stands
  excluded_.push_back({node, std::move(reason)});
}

std::uint8_t Server::abscissa(NodeId dealer, NodeId holder) const {
  const auto graph = neighbours(p_, dealer);
  const auto it = std::find(graph.begin(), graph.end(), holder);
  return it == graph.end() ? 0 : static_cast<std::uint8_t>(it - graph.begin() + 1);
}

void Server::receive_shares(NodeId from, const KeyDealing& dealing) {
  const auto ad = ads_.find(from);
  if (ad == ads_.end() || dealing.from != from || dealings_.contains(from)) return;
  const std::string who = "node " + std::to_string(from) + ": ";
  if (p_.nodes == 1) {  // a group of one deals nothing
    u1_.insert(from);
    return;
  }
  const auto valid = [&](const std::vector<Point>& c) {
    return c.size() == p_.threshold && std::all_of(c.begin(), c.end(), is_valid_point);
  };
  if (!valid(dealing.self_commitments) || !valid(dealing.key_commitments))
    return exclude(from, who + "dealing does not commit to " + std::to_string(p_.threshold) +
                             " valid coefficients per secret");
  if (dealing.key_commitments[0] != ad->second.s_public)
    return exclude(from,
                   who + "dealing's key polynomial does not commit to its advertised mask key");
  std::set<NodeId> expected, got;
  for (const auto& a : advertisements_for(from)) expected.insert(a.id);
  for (const auto& b : dealing.boxes)
    if (b.from != from || !got.insert(b.to).second)
      return exclude(from, who + "dealing has a box from another node or two boxes for node " +
                               std::to_string(b.to));
  if (got != expected)
    return exclude(from, who + "dealing seals boxes to " + std::to_string(got.size()) +
                             " nodes, not to its " + std::to_string(expected.size()) +
                             " advertised neighbours");
  dealings_[from] = dealing;
  u1_.insert(from);
}

std::vector<ShareDelivery> Server::shares_for(NodeId u) const {
  std::vector<ShareDelivery> out;
  for (const auto& [from, d] : dealings_) {
    if (!u1_.contains(from)) continue;
    for (const auto& b : d.boxes)
      if (b.to == u) out.push_back({d.self_commitments, d.key_commitments, b});
  }
  return out;
}

void Server::receive_complaint(const Complaint& c) {
  const auto dealing = dealings_.find(c.dealer);
  const auto accuser = ads_.find(c.accuser), dealer = ads_.find(c.dealer);
  if (dealing == dealings_.end() || accuser == ads_.end() || dealer == ads_.end()) return;
  const auto box = std::find_if(dealing->second.boxes.begin(), dealing->second.boxes.end(),
                                [&](const SealedShare& b) { return b.to == c.accuser; });
  if (box == dealing->second.boxes.end()) return;  // no box between them: nothing to judge
  const std::string dealer_is = "node " + std::to_string(c.dealer) +
                                ": inconsistent dealer (node " + std::to_string(c.accuser) + "'s ";
  const std::string accuser_is = "node " + std::to_string(c.accuser) +
                                 ": false complaint against node " + std::to_string(c.dealer) +
                                 " (";
  if (!is_valid_point(c.box_point) ||
      !detail::verify_dh(accuser->second.c_public, dealer->second.c_public, c.box_point, c.proof_e,
                         c.proof_z))
    return exclude(c.accuser, accuser_is + "its box key proof does not verify)");
  // The point is the true c_accuser C_dealer, so the box opens exactly as it did for the accuser.
  const auto o = detail::open_share(
      *box, box_key(c.box_point, dealer->second.c_public, accuser->second.c_public));
  if (!o) return exclude(c.dealer, dealer_is + "box does not open)");
  const std::uint8_t x = abscissa(c.dealer, c.accuser);
  if (o->from != c.dealer || o->to != c.accuser || o->x != x)
    return exclude(c.dealer, dealer_is + "box is addressed or numbered wrongly)");
  if (!verify({x, o->self_share}, dealing->second.self_commitments))
    return exclude(c.dealer, dealer_is + "self-mask share is off the committed polynomial)");
  if (!verify({x, o->key_share}, dealing->second.key_commitments))
    return exclude(c.dealer, dealer_is + "mask-key share is off the committed polynomial)");
  exclude(c.accuser, accuser_is + "its box holds shares that verify)");
}

std::set<NodeId> Server::u1() const {
  return u1_;
}

void Server::receive_masked(NodeId from, std::vector<std::uint32_t> y) {
  if (!u1_.contains(from)) return;
  if (y.size() != p_.dimension) {
    malformed_.push_back(from);
    return;
  }
  masked_[from] = std::move(y);
}

UnmaskRequest Server::unmask_request() const {
  UnmaskRequest r;
  for (NodeId u : u1_) (masked_.contains(u) ? r.survivors : r.dropped).push_back(u);
  return r;
}

void Server::receive_unmask(const UnmaskReply& reply) {
  replies_.push_back(reply);
}

namespace {

/// The secret behind `commitments` from the shares offered: each is checked at its holder's
/// abscissa; holders of shares that do not verify are named in `liars`. nullopt: fewer than t
/// shares verify.
std::optional<Scalar> recover(const std::vector<std::pair<NodeId, Share>>& offered, std::uint32_t t,
                              const std::vector<Point>& commitments, std::vector<NodeId>& liars) {
  std::vector<Share> good;
  for (const auto& o : offered) good.push_back(o.second);
  if (!verify_batch(good, commitments)) {  // someone lied: find out who, one share at a time
    good.clear();
    for (const auto& [holder, share] : offered) {
      if (verify(share, commitments))
        good.push_back(share);
      else
        liars.push_back(holder);
    }
  }
  if (good.size() < t) return std::nullopt;
  good.resize(t);  // any t verified shares lie on the committed polynomial
  return combine(good);
}

}  // namespace

Aggregate Server::finish(kernels::Backend& backend) {
  Aggregate a;
  const UnmaskRequest req = unmask_request();
  a.survivors = req.survivors;
  a.dropped = req.dropped;
  a.excluded_malformed = malformed_;
  a.excluded_at_sharing = excluded_;
  a.sum.assign(p_.dimension, 0);
  for (const auto& [u, y] : masked_)
    if (u1_.contains(u))
      for (std::size_t j = 0; j < y.size(); ++j) a.sum[j] += y[j];
  std::map<NodeId, std::vector<std::pair<NodeId, Share>>> self_offers, key_offers;
  for (const auto& r : replies_) {
    for (const auto& [u, y] : r.self_shares)
      if (const auto x = abscissa(u, r.from); x != 0) self_offers[u].push_back({r.from, {x, y}});
    for (const auto& [u, y] : r.key_shares)
      if (const auto x = abscissa(u, r.from); x != 0) key_offers[u].push_back({r.from, {x, y}});
  }
  if (p_.nodes == 1) return a;  // a group of one: no mask was added, no secret was shared
  for (NodeId u : req.survivors) {
    const auto b = recover(self_offers[u], p_.threshold, dealings_.at(u).self_commitments,
                           a.identified_bad_shares);
    if (!b)
      throw SecAggError("secagg: self mask of node " + std::to_string(u) + " has " +
                        std::to_string(self_offers[u].size()) + " shares, " +
                        std::to_string(p_.threshold) +
                        " that verify are needed: too many dropouts for this round");
    kernels::add_mask(backend, self_seed(*b, p_.round), -1, a.sum);
  }
  const std::set<NodeId> alive(req.survivors.begin(), req.survivors.end());
  for (NodeId u : req.dropped) {
    const auto sk = recover(key_offers[u], p_.threshold, dealings_.at(u).key_commitments,
                            a.identified_bad_shares);
    if (!sk)
      throw SecAggError("secagg: mask key of dropped node " + std::to_string(u) + " has " +
                        std::to_string(key_offers[u].size()) + " shares, " +
                        std::to_string(p_.threshold) +
                        " that verify are needed: too many dropouts for this round");
    for (NodeId v : neighbours(p_, u)) {
      if (!alive.contains(v)) continue;
      // y_v carries +PRG(s_uv) when v < u and -PRG when v > u: remove it.
      const auto seed = pair_seed(*sk, ads_.at(u).s_public, ads_.at(v).s_public, p_.round);
      kernels::add_mask(backend, seed, v < u ? -1 : +1, a.sum);
    }
  }
  std::sort(a.identified_bad_shares.begin(), a.identified_bad_shares.end());
  a.identified_bad_shares.erase(
      std::unique(a.identified_bad_shares.begin(), a.identified_bad_shares.end()),
      a.identified_bad_shares.end());
  return a;
}

}  // namespace murmur::secagg
