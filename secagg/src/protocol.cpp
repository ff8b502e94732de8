#include "murmur/secagg/protocol.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "murmur/kernels/masks.hpp"

namespace murmur::secagg {
namespace {

void ensure_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("secagg: libsodium failed to initialise");
}

Key32 blake(std::span<const std::uint8_t> data) {
  Key32 out{};
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

constexpr std::size_t kSecret = 32;

}  // namespace

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

kernels::MaskSeed pair_seed(const Key32& secret, const Key32& own_public, const Key32& peer_public,
                            std::uint64_t round) {
  ensure_sodium();
  std::array<std::uint8_t, 32 * 3 + 16> material{};
  if (crypto_scalarmult(material.data(), secret.data(), peer_public.data()) != 0)
    throw SecAggError("secagg: degenerate X25519 public key");
  const bool own_first = std::lexicographical_compare(own_public.begin(), own_public.end(),
                                                      peer_public.begin(), peer_public.end());
  std::memcpy(material.data() + 32, (own_first ? own_public : peer_public).data(), 32);
  std::memcpy(material.data() + 64, (own_first ? peer_public : own_public).data(), 32);
  std::memcpy(material.data() + 96, "murmur.pair.v1\0\0", 16);
  kernels::MaskSeed s;
  s.key = blake(material);
  sodium_memzero(material.data(), material.size());
  for (int i = 0; i < 8; ++i) s.nonce[i] = static_cast<std::uint8_t>(round >> (8 * i));
  s.nonce[8] = 'p';
  return s;
}

kernels::MaskSeed self_seed(const Key32& b, std::uint64_t round) {
  kernels::MaskSeed s;
  s.key = b;
  for (int i = 0; i < 8; ++i) s.nonce[i] = static_cast<std::uint8_t>(round >> (8 * i));
  s.nonce[8] = 's';
  return s;
}

// --- Client ---------------------------------------------------------------------------------

Client::Client(NodeId id, const Params& params) : id_(id), p_(params) {
  ensure_sodium();
  ad_.id = id;
  crypto_box_keypair(ad_.c_public.data(), c_secret_.data());
  crypto_box_keypair(ad_.s_public.data(), s_secret_.data());
  randombytes_buf(self_seed_.data(), self_seed_.size());
  ad_.self_commitment = blake(self_seed_);
  ad_.key_commitment = blake(s_secret_);
}

Client::~Client() {
  sodium_memzero(c_secret_.data(), 32);
  sodium_memzero(s_secret_.data(), 32);
  sodium_memzero(self_seed_.data(), 32);
}

Advertisement Client::advertise() const { return ad_; }

std::vector<SealedShare> Client::share_keys(const std::vector<Advertisement>& ads) {
  if (p_.nodes == 1) return {};  // a group of one: no neighbours, nothing to share
  for (const auto& a : ads) neighbour_ads_[a.id] = a;
  const auto graph = neighbours(p_, id_);
  std::vector<NodeId> holders;
  for (NodeId v : graph)
    if (neighbour_ads_.contains(v)) holders.push_back(v);
  if (holders.size() < p_.threshold)
    throw SecAggError("secagg: node " + std::to_string(id_) + " has " + std::to_string(holders.size()) +
                      " neighbours left, fewer than the threshold " + std::to_string(p_.threshold));
  // x coordinate of holder v: its index in the full neighbour list + 1 (stable across nodes).
  const auto b_shares = split(self_seed_, static_cast<unsigned>(graph.size()), p_.threshold);
  const auto k_shares = split(s_secret_, static_cast<unsigned>(graph.size()), p_.threshold);
  std::vector<SealedShare> out;
  for (NodeId v : holders) {
    const auto idx = static_cast<std::size_t>(std::find(graph.begin(), graph.end(), v) - graph.begin());
    std::vector<std::uint8_t> msg = {b_shares[idx].x};
    msg.insert(msg.end(), b_shares[idx].bytes.begin(), b_shares[idx].bytes.end());
    msg.insert(msg.end(), k_shares[idx].bytes.begin(), k_shares[idx].bytes.end());
    for (int i = 0; i < 4; ++i) msg.push_back(static_cast<std::uint8_t>(id_ >> (8 * i)));  // bound to sender
    SealedShare s{id_, v, std::vector<std::uint8_t>(crypto_box_NONCEBYTES + msg.size() + crypto_box_MACBYTES)};
    randombytes_buf(s.box.data(), crypto_box_NONCEBYTES);
    if (crypto_box_easy(s.box.data() + crypto_box_NONCEBYTES, msg.data(), msg.size(), s.box.data(),
                        neighbour_ads_[v].c_public.data(), c_secret_.data()) != 0)
      throw SecAggError("secagg: cannot seal a share to node " + std::to_string(v) + " (bad public key)");
    sodium_memzero(msg.data(), msg.size());
    out.push_back(std::move(s));
  }
  return out;
}

void Client::receive_shares(const std::vector<SealedShare>& shares) {
  for (const auto& s : shares) {
    const auto from = neighbour_ads_.find(s.from);
    if (s.to != id_ || from == neighbour_ads_.end() || s.box.size() != crypto_box_NONCEBYTES + 1 + 2 * kSecret + 4 + crypto_box_MACBYTES)
      continue;
    std::vector<std::uint8_t> msg(1 + 2 * kSecret + 4);
    if (crypto_box_open_easy(msg.data(), s.box.data() + crypto_box_NONCEBYTES, s.box.size() - crypto_box_NONCEBYTES,
                             s.box.data(), from->second.c_public.data(), c_secret_.data()) != 0)
      continue;
    NodeId sender = 0;
    for (int i = 0; i < 4; ++i) sender |= static_cast<NodeId>(msg[1 + 2 * kSecret + i]) << (8 * i);
    if (sender != s.from) continue;
    Share b{msg[0], {msg.begin() + 1, msg.begin() + 1 + kSecret}};
    Share k{msg[0], {msg.begin() + 1 + kSecret, msg.begin() + 1 + 2 * kSecret}};
    held_[s.from] = {b, k};
    sodium_memzero(msg.data(), msg.size());
  }
}

std::vector<std::uint32_t> Client::quantized(kernels::Backend& backend, std::span<const float> x) const {
  if (x.size() != p_.dimension) throw std::invalid_argument("secagg: update of the wrong dimension");
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
      throw SecAggError("secagg: the server asked for both secrets of node " + std::to_string(d) + "; refusing");
  UnmaskReply r;
  r.from = id_;
  for (const auto& [u, shares] : held_) {
    if (alive.contains(u)) r.self_shares[u] = shares.first;
    else if (std::find(request.dropped.begin(), request.dropped.end(), u) != request.dropped.end())
      r.key_shares[u] = shares.second;
  }
  return r;
}

// --- Server ---------------------------------------------------------------------------------

Server::Server(const Params& params) : p_(params) {
  if (p_.nodes == 1) {
    if (p_.threshold != 0) throw std::invalid_argument("secagg: a group of one node has threshold 0");
    return;
  }
  if (p_.threshold == 0 || p_.threshold > std::max<std::uint32_t>(1, std::min(p_.degree, p_.nodes - 1)))
    throw std::invalid_argument("secagg: threshold must be in [1, degree]");
}

void Server::receive_advertisement(const Advertisement& ad) {
  if (ad.id >= p_.nodes) throw std::invalid_argument("secagg: unknown node " + std::to_string(ad.id));
  ads_[ad.id] = ad;
}

std::vector<Advertisement> Server::advertisements_for(NodeId u) const {
  std::vector<Advertisement> out;
  for (NodeId v : neighbours(p_, u))
    if (auto it = ads_.find(v); it != ads_.end()) out.push_back(it->second);
  return out;
}

void Server::receive_shares(NodeId from, const std::vector<SealedShare>& shares) {
  if (!ads_.contains(from)) return;
  for (const auto& s : shares)
    if (s.from == from) mailbox_[s.to].push_back(s);
  u1_.insert(from);
}

std::vector<SealedShare> Server::shares_for(NodeId u) const {
  auto it = mailbox_.find(u);
  return it == mailbox_.end() ? std::vector<SealedShare>{} : it->second;
}

std::set<NodeId> Server::u1() const { return u1_; }

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

void Server::receive_unmask(const UnmaskReply& reply) { replies_.push_back(reply); }

namespace {

/// The secret whose commitment matches, from the shares offered; shares contradicting it
/// name their holders in `liars`. nullopt: no t consistent shares.
std::optional<Key32> recover(const std::vector<std::pair<NodeId, Share>>& offered, std::uint32_t t,
                             const Key32& commitment, std::vector<NodeId>& liars) {
  if (offered.size() < t) return std::nullopt;
  // Subsets are drawn unpredictably, so colluding holders cannot aim their errors at the
  // subset the server will try (errors cancelling across every one of 32 bytes is 2^-256).
  std::uint64_t seed = 0;
  randombytes_buf(&seed, sizeof seed);
  std::mt19937_64 gen(seed);
  std::vector<std::size_t> idx(offered.size());
  std::iota(idx.begin(), idx.end(), 0);
  for (int attempt = 0; attempt < 2000; ++attempt) {
    if (attempt > 0) std::shuffle(idx.begin(), idx.end(), gen);
    std::vector<Share> subset;
    for (std::uint32_t i = 0; i < t; ++i) subset.push_back(offered[idx[i]].second);
    const auto secret = combine(subset);
    if (blake(secret) != commitment) continue;
    Key32 out{};
    std::copy(secret.begin(), secret.end(), out.begin());
    // Every other share must lie on the same polynomial: check each against t-1 good ones.
    for (std::size_t i = t; i < idx.size(); ++i) {
      std::vector<Share> check(subset.begin(), subset.begin() + (t - 1));
      check.push_back(offered[idx[i]].second);
      if (blake(combine(check)) != commitment) liars.push_back(offered[idx[i]].first);
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace

Aggregate Server::finish(kernels::Backend& backend) {
  Aggregate a;
  const UnmaskRequest req = unmask_request();
  a.survivors = req.survivors;
  a.dropped = req.dropped;
  a.excluded_malformed = malformed_;
  a.sum.assign(p_.dimension, 0);
  for (const auto& [u, y] : masked_)
    for (std::size_t j = 0; j < y.size(); ++j) a.sum[j] += y[j];
  std::map<NodeId, std::vector<std::pair<NodeId, Share>>> self_offers, key_offers;
  for (const auto& r : replies_) {
    for (const auto& [u, s] : r.self_shares) self_offers[u].push_back({r.from, s});
    for (const auto& [u, s] : r.key_shares) key_offers[u].push_back({r.from, s});
  }
  for (NodeId u : req.survivors) {
    if (p_.nodes == 1) break;  // no self mask was added
    const auto b = recover(self_offers[u], p_.threshold, ads_.at(u).self_commitment, a.identified_bad_shares);
    if (!b)
      throw SecAggError("secagg: self mask of node " + std::to_string(u) + " has " +
                        std::to_string(self_offers[u].size()) + " shares, " + std::to_string(p_.threshold) +
                        " consistent ones needed: too many dropouts for this round");
    kernels::add_mask(backend, self_seed(*b, p_.round), -1, a.sum);
  }
  const std::set<NodeId> alive(req.survivors.begin(), req.survivors.end());
  for (NodeId u : req.dropped) {
    const auto sk = recover(key_offers[u], p_.threshold, ads_.at(u).key_commitment, a.identified_bad_shares);
    if (!sk)
      throw SecAggError("secagg: mask key of dropped node " + std::to_string(u) + " has " +
                        std::to_string(key_offers[u].size()) + " shares, " + std::to_string(p_.threshold) +
                        " consistent ones needed: too many dropouts for this round");
    for (NodeId v : neighbours(p_, u)) {
      if (!alive.contains(v)) continue;
      // y_v carries +PRG(s_uv) when v < u and -PRG when v > u: remove it.
      const auto seed = pair_seed(*sk, ads_.at(u).s_public, ads_.at(v).s_public, p_.round);
      kernels::add_mask(backend, seed, v < u ? -1 : +1, a.sum);
    }
  }
  std::sort(a.identified_bad_shares.begin(), a.identified_bad_shares.end());
  a.identified_bad_shares.erase(std::unique(a.identified_bad_shares.begin(), a.identified_bad_shares.end()),
                                a.identified_bad_shares.end());
  return a;
}

}  // namespace murmur::secagg
