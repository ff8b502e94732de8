// SecAgg+ for one group: the unmasked sum equals the plaintext fixed-point sum exactly, with
// dropouts at every stage up to the threshold; beyond it the round fails with a reason; a
// masked upload looks uniform; malformed vectors and lying share holders are handled; a dealer
// whose shares are inconsistent is caught at share time and excluded before any input is masked.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>

#include "murmur/secagg/protocol.hpp"

namespace murmur::secagg {
namespace {

TEST(Feldman, SharesVerifyAndAnyThresholdSubsetReconstructs) {
  const Scalar secret = random_scalar();
  const auto d = deal(secret, 10, 4);
  ASSERT_EQ(d.commitments.size(), 4u);
  EXPECT_EQ(d.commitments[0], base_times(secret));
  for (const auto& s : d.shares) EXPECT_TRUE(verify(s, d.commitments)) << int(s.x);
  std::mt19937 gen(3);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<Share> pick(d.shares.begin(), d.shares.end());
    std::shuffle(pick.begin(), pick.end(), gen);
    EXPECT_EQ(combine(std::span(pick).first(4)), secret);
    EXPECT_EQ(combine(std::span(pick).first(7)), secret);
    EXPECT_NE(combine(std::span(pick).first(3)), secret);
  }
  // A share moved off the polynomial, or checked at another abscissa, does not verify.
  Share bad = d.shares[2];
  bad.y[0] ^= 1;
  EXPECT_FALSE(verify(bad, d.commitments));
  EXPECT_FALSE(verify({5, d.shares[2].y}, d.commitments));
  // Another dealing's commitments reject these shares.
  EXPECT_FALSE(verify(d.shares[0], deal(secret, 10, 4).commitments));
  EXPECT_TRUE(verify_batch(d.shares, d.commitments));
  std::vector<Share> batch = d.shares;
  batch[7].y[3] ^= 0x10;
  EXPECT_FALSE(verify_batch(batch, d.commitments));
  EXPECT_THROW(deal(secret, 3, 4), std::invalid_argument);
  EXPECT_FALSE(is_valid_point(Point{})) << "the identity is no key";
  EXPECT_TRUE(is_valid_point(base_times(secret)));
  const std::vector<Share> twice = {d.shares[1], d.shares[1]};
  EXPECT_THROW(combine(twice), std::invalid_argument);
}

TEST(FixedPoint, RoundTripWithinOneStepAndUnbiased) {
  auto cpu = kernels::make_cpu_backend(2);
  const FixedPoint fp{2.0, 200};
  std::vector<float> x(20000);
  for (std::size_t j = 0; j < x.size(); ++j) x[j] = static_cast<float>(std::sin(j * 0.01) * 1.5);
  x[0] = 5.0f;  // clipped to 2
  std::vector<std::uint32_t> q(x.size());
  quantize(*cpu, fp, x, kernels::MaskSeed{}, q);
  std::vector<float> back(x.size());
  dequantize_sum(fp, q, 1, back);
  double bias = 0;
  for (std::size_t j = 1; j < x.size(); ++j) {
    // One quantisation step, plus the float rounding of the decoded value.
    EXPECT_LE(std::abs(back[j] - x[j]), fp.step() + 2e-7 * std::max(1.0f, std::abs(x[j]))) << j;
    bias += back[j] - x[j];
  }
  EXPECT_NEAR(back[0], 2.0, fp.step());
  EXPECT_LT(std::abs(bias / x.size()), fp.step() / 10) << "stochastic rounding must be unbiased";
  x[5] = std::nanf("");
  EXPECT_THROW(quantize(*cpu, fp, x, kernels::MaskSeed{}, q), std::invalid_argument);
}

/// Who drops where, and who lies.
struct Script {
  std::set<NodeId> drop_before_shares, drop_before_input, drop_before_unmask, malformed, liars;
};

struct Outcome {
  Aggregate aggregate;
  std::vector<std::uint32_t> plaintext_sum;  // of the survivors' quantised updates
  std::vector<std::vector<std::uint32_t>> masked;
};

Outcome run(const Params& p, const Script& s) {
  auto cpu = kernels::make_cpu_backend(2);
  Server server(p);
  std::vector<std::unique_ptr<Client>> clients;
  for (NodeId u = 0; u < p.nodes; ++u) clients.push_back(std::make_unique<Client>(u, p));
  for (auto& c : clients) server.receive_advertisement(c->advertise());
  for (auto& c : clients)
    if (!s.drop_before_shares.contains(c->id()))
      server.receive_shares(c->id(), c->share_keys(server.advertisements_for(c->id())));
  for (auto& c : clients)
    for (const auto& complaint : c->receive_shares(server.shares_for(c->id())))
      server.receive_complaint(complaint);
  EXPECT_TRUE(server.excluded().empty()) << server.excluded().front().reason;
  Outcome out;
  out.plaintext_sum.assign(p.dimension, 0);
  const auto u1 = server.u1();
  for (auto& c : clients) {
    const NodeId u = c->id();
    if (!u1.contains(u) || s.drop_before_input.contains(u)) continue;
    std::vector<float> x(p.dimension);
    for (std::size_t j = 0; j < x.size(); ++j)
      x[j] = static_cast<float>(std::cos(u * 0.7 + j * 0.013));
    auto y = c->masked_input(*cpu, x, u1);
    if (s.malformed.contains(u)) {
      y.pop_back();
    } else {
      const auto q = c->quantized(*cpu, x);
      for (std::size_t j = 0; j < q.size(); ++j) out.plaintext_sum[j] += q[j];
      out.masked.push_back(y);
    }
    server.receive_masked(u, std::move(y));
  }
  const auto request = server.unmask_request();
  for (auto& c : clients) {
    if (!u1.contains(c->id()) || s.drop_before_input.contains(c->id()) ||
        s.drop_before_unmask.contains(c->id()))
      continue;
    auto reply = c->unmask(request);
    if (s.liars.contains(c->id())) {  // every byte of every share it returns is wrong
      std::mt19937 noise(c->id());
      for (auto* m : {&reply.self_shares, &reply.key_shares})
        for (auto& [u, share] : *m)
          for (auto& b : share) b ^= static_cast<std::uint8_t>(1 + noise() % 255);
    }
    server.receive_unmask(reply);
  }
  out.aggregate = server.finish(*cpu);
  return out;
}

Params params(std::uint32_t n, std::uint32_t degree, std::uint32_t t) {
  Params p;
  p.nodes = n;
  p.degree = degree;
  p.threshold = t;
  p.round = 7;
  p.graph_seed = 99;
  p.fixed_point = {4.0, n};
  p.dimension = 1000;
  return p;
}

TEST(SecAgg, GraphIsSymmetricWithTheRequestedDegree) {
  const Params p = params(200, 20, 11);
  for (NodeId u = 0; u < p.nodes; ++u) {
    const auto nu = neighbours(p, u);
    EXPECT_EQ(nu.size(), 20u);
    for (NodeId v : nu) {
      const auto nv = neighbours(p, v);
      EXPECT_TRUE(std::find(nv.begin(), nv.end(), u) != nv.end()) << u << " " << v;
    }
  }
}

TEST(SecAgg, UnmaskedSumEqualsPlaintextSumWithoutDropouts) {
  const auto o = run(params(20, 19, 10), {});
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);
  EXPECT_EQ(o.aggregate.survivors.size(), 20u);
}

TEST(SecAgg, DropoutsAtEveryStageUpToTheThresholdStillSumExactly) {
  // N = 200, degree 20, t = 11: each node may lose up to 9 of its 20 neighbours.
  Script s;
  for (NodeId u : {3u, 40u, 77u}) s.drop_before_shares.insert(u);
  for (NodeId u : {5u, 90u, 150u, 151u}) s.drop_before_input.insert(u);
  for (NodeId u : {8u, 120u, 199u}) s.drop_before_unmask.insert(u);
  const auto o = run(params(200, 20, 11), s);
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);
  EXPECT_EQ(o.aggregate.dropped.size(), 4u);
  EXPECT_EQ(o.aggregate.survivors.size(), 193u);
  std::vector<float> mean(1000);
  dequantize_sum(params(200, 20, 11).fixed_point, o.aggregate.sum, 193, mean);
  EXPECT_TRUE(std::isfinite(mean[0]));
}

TEST(SecAgg, BeyondTheThresholdTheRoundFailsWithAReason) {
  // Complete graph of 10, t = 6: dropping 5 of the responders leaves 4 shares of some secret.
  Script s;
  for (NodeId u : {0u, 1u, 2u, 3u, 4u}) s.drop_before_unmask.insert(u);
  try {
    run(params(10, 9, 6), s);
    FAIL() << "expected SecAggError";
  } catch (const SecAggError& e) {
    EXPECT_NE(std::string(e.what()).find("too many dropouts"), std::string::npos) << e.what();
  }
}

TEST(SecAgg, MalformedMaskedVectorIsExcludedAndTheRoundCompletes) {
  Script s;
  s.malformed = {4};
  const auto o = run(params(12, 11, 6), s);
  EXPECT_EQ(o.aggregate.excluded_malformed, std::vector<NodeId>{4});
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);  // node 4 counted as dropped
}

TEST(SecAgg, LyingShareHoldersAreIdentifiedAndIgnored) {
  Script s;
  s.liars = {2, 9};
  s.drop_before_input = {5};
  const auto o = run(params(16, 15, 8), s);
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);
  EXPECT_EQ(o.aggregate.identified_bad_shares, (std::vector<NodeId>{2, 9}));
}

/// Pearson chi-square of the top 8 bits of each word against the uniform distribution.
double chi_square(const std::vector<std::uint32_t>& words) {
  std::vector<double> bins(256, 0);
  for (auto w : words) bins[w >> 24] += 1;
  const double expected = words.size() / 256.0;
  double chi = 0;
  for (double b : bins) chi += (b - expected) * (b - expected) / expected;
  return chi;
}

TEST(SecAgg, AMaskedUploadIsIndistinguishableFromUniformNoise) {
  Params p = params(8, 7, 4);
  p.dimension = 1 << 16;
  const auto o = run(p, {});
  // 255 degrees of freedom: mean 255, sd 22.6; 360 is p < 1e-5 for uniform words.
  for (const auto& y : o.masked) EXPECT_LT(chi_square(y), 360.0);
  // The control: the plaintext quantised sum is far from uniform, so the test can fail.
  EXPECT_GT(chi_square(o.plaintext_sum), 1000.0);
}

/// A dealer that lies, built from the public pieces (its own keys, Feldman dealings, sealed
/// boxes): holders in `off` get a self-mask share moved off the committed polynomial, holders
/// in `garbage` a box that does not open; `wrong_key` commits the key polynomial to a key
/// other than the advertised one.
struct RogueDealer {
  NodeId id;
  Params p;
  Scalar c = random_scalar(), s = random_scalar(), b = random_scalar();

  Advertisement ad() const { return {id, base_times(c), base_times(s)}; }

  KeyDealing dealing(const std::vector<Advertisement>& ads, const std::set<NodeId>& off,
                     const std::set<NodeId>& garbage, bool wrong_key = false) const {
    const auto graph = neighbours(p, id);
    const auto n = static_cast<unsigned>(graph.size());
    const auto db = deal(b, n, p.threshold),
               dk = deal(wrong_key ? random_scalar() : s, n, p.threshold);
    KeyDealing d{id, db.commitments, dk.commitments, {}};
    for (const auto& a : ads) {
      const auto idx =
          static_cast<std::size_t>(std::find(graph.begin(), graph.end(), a.id) - graph.begin());
      Scalar self = db.shares[idx].y;
      if (off.contains(a.id))
        self = deal(b, n, p.threshold).shares[idx].y;  // another polynomial through b
      auto box = seal_share(id, a.id, db.shares[idx].x, self, dk.shares[idx].y, c, ad().c_public,
                            a.c_public);
      if (garbage.contains(a.id)) box.box.back() ^= 0x5a;
      d.boxes.push_back(std::move(box));
    }
    return d;
  }
};

struct SharingScript {
  std::set<NodeId> off, garbage;  // the rogue's victims
  bool wrong_key = false;
  std::vector<std::pair<NodeId, NodeId>> false_complaints;   // (honest accuser, honest dealer)
  std::vector<std::pair<NodeId, NodeId>> forged_complaints;  // proof of random bytes
};

struct SharingOutcome {
  std::vector<Exclusion> excluded;
  std::set<NodeId> u1;
  Aggregate aggregate;
  std::vector<std::uint32_t> plaintext_sum;  // of the honest nodes left in U1
};

/// Node `rogue` deals as scripted and then goes silent; every other node is an honest Client
/// that forwards its complaints, masks over U1 and answers the unmask request.
SharingOutcome run_with_rogue(const Params& p, NodeId rogue, const SharingScript& script) {
  auto cpu = kernels::make_cpu_backend(2);
  Server server(p);
  const RogueDealer r{rogue, p};
  std::map<NodeId, std::unique_ptr<Client>> clients;
  for (NodeId u = 0; u < p.nodes; ++u)
    if (u != rogue) clients[u] = std::make_unique<Client>(u, p);
  for (auto& [u, c] : clients) server.receive_advertisement(c->advertise());
  server.receive_advertisement(r.ad());
  for (auto& [u, c] : clients)
    server.receive_shares(u, c->share_keys(server.advertisements_for(u)));
  server.receive_shares(rogue, r.dealing(server.advertisements_for(rogue), script.off,
                                         script.garbage, script.wrong_key));
  for (auto& [u, c] : clients)
    for (const auto& complaint : c->receive_shares(server.shares_for(u)))
      server.receive_complaint(complaint);
  for (const auto& [accuser, dealer] : script.false_complaints)
    server.receive_complaint(clients.at(accuser)->complain(dealer));
  for (const auto& [accuser, dealer] : script.forged_complaints) {
    Complaint forged = clients.at(accuser)->complain(dealer);
    forged.proof_z = random_scalar();
    server.receive_complaint(forged);
  }
  SharingOutcome out;
  out.excluded = server.excluded();
  out.u1 = server.u1();
  out.plaintext_sum.assign(p.dimension, 0);
  for (auto& [u, c] : clients) {
    if (!out.u1.contains(u)) continue;
    std::vector<float> x(p.dimension);
    for (std::size_t j = 0; j < x.size(); ++j)
      x[j] = static_cast<float>(std::sin(u * 0.3 + j * 0.05));
    const auto q = c->quantized(*cpu, x);
    for (std::size_t j = 0; j < q.size(); ++j) out.plaintext_sum[j] += q[j];
    server.receive_masked(u, c->masked_input(*cpu, x, out.u1));
  }
  const auto request = server.unmask_request();
  for (auto& [u, c] : clients)
    if (out.u1.contains(u)) server.receive_unmask(c->unmask(request));
  out.aggregate = server.finish(*cpu);
  return out;
}

TEST(SecAgg, AnInconsistentDealerIsExcludedAtShareTimeAndTheRoundCompletes) {
  const Params p = params(12, 11, 6);
  // Shares for 2, 5 and 9 lie on other polynomials through the same secret: the commitments
  // catch them although any 6 of them still interpolate to b.
  SharingScript s;
  s.off = {2, 5, 9};
  const auto o = run_with_rogue(p, 3, s);
  ASSERT_EQ(o.excluded.size(), 1u);
  EXPECT_EQ(o.excluded[0].node, 3u);
  EXPECT_NE(o.excluded[0].reason.find("inconsistent dealer"), std::string::npos)
      << o.excluded[0].reason;
  EXPECT_NE(o.excluded[0].reason.find("self-mask share is off the committed polynomial"),
            std::string::npos)
      << o.excluded[0].reason;
  EXPECT_FALSE(o.u1.contains(3));
  EXPECT_EQ(o.u1.size(), 11u);
  EXPECT_EQ(o.aggregate.survivors.size(), 11u);
  EXPECT_TRUE(o.aggregate.dropped.empty())
      << "an excluded dealer is not a dropout: nobody masked with it";
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);
  EXPECT_TRUE(o.aggregate.identified_bad_shares.empty());
}

TEST(SecAgg, ABoxThatDoesNotOpenConvictsItsDealer) {
  const Params p = params(10, 9, 5);
  SharingScript s;
  s.garbage = {4};
  const auto o = run_with_rogue(p, 0, s);
  ASSERT_EQ(o.excluded.size(), 1u);
  EXPECT_EQ(o.excluded[0].node, 0u);
  EXPECT_NE(o.excluded[0].reason.find("box does not open"), std::string::npos)
      << o.excluded[0].reason;
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);
  EXPECT_EQ(o.aggregate.survivors.size(), 9u);
}

TEST(SecAgg, ADealingThatDoesNotCommitToTheAdvertisedKeyIsRefused) {
  const Params p = params(10, 9, 5);
  SharingScript s;
  s.wrong_key = true;
  const auto o = run_with_rogue(p, 7, s);
  ASSERT_EQ(o.excluded.size(), 1u);
  EXPECT_EQ(o.excluded[0].node, 7u);
  EXPECT_NE(o.excluded[0].reason.find("does not commit to its advertised mask key"),
            std::string::npos)
      << o.excluded[0].reason;
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);
}

TEST(SecAgg, FalseAccusersAreExcludedAndTheAccusedStays) {
  // Node 5 is a consistent dealer here (no victims); 1 complains about 5 with a true box key,
  // 8 about 2 with a forged proof. Both accusers are excluded, both dealers stay.
  const Params p = params(12, 11, 6);
  SharingScript s;
  s.false_complaints = {{1, 5}};
  s.forged_complaints = {{8, 2}};
  const auto o = run_with_rogue(p, 5, s);
  ASSERT_EQ(o.excluded.size(), 2u);
  EXPECT_EQ(o.excluded[0].node, 1u);
  EXPECT_NE(o.excluded[0].reason.find(
                "false complaint against node 5 (its box holds shares that verify)"),
            std::string::npos)
      << o.excluded[0].reason;
  EXPECT_EQ(o.excluded[1].node, 8u);
  EXPECT_NE(o.excluded[1].reason.find("proof does not verify"), std::string::npos)
      << o.excluded[1].reason;
  EXPECT_TRUE(o.u1.contains(5));
  EXPECT_TRUE(o.u1.contains(2));
  // The rogue deals consistently but never sends an input: it is a dropout whose pairwise
  // masks come off through its key shares.
  EXPECT_EQ(o.aggregate.dropped, std::vector<NodeId>{5});
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);
}

TEST(SecAgg, AnInconsistentDealerBeyondTheThresholdOfHonestHoldersStillCannotCorruptTheSum) {
  // The rogue cheats every holder but the threshold's worth: all victims complain, it is out.
  const Params p = params(9, 8, 5);
  SharingScript s;
  s.off = {0, 1, 2, 3, 5, 6, 7, 8};
  const auto o = run_with_rogue(p, 4, s);
  ASSERT_EQ(o.excluded.size(), 1u);
  EXPECT_EQ(o.excluded[0].node, 4u);
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);
}

}  // namespace
}  // namespace murmur::secagg
