// SecAgg+ for one group: the unmasked sum equals the plaintext fixed-point sum exactly, with
// dropouts at every stage up to the threshold; beyond it the round fails with a reason; a
// masked upload looks uniform; malformed vectors and lying share holders are handled.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "murmur/secagg/protocol.hpp"

namespace murmur::secagg {
namespace {

TEST(Shamir, AnyThresholdSubsetReconstructsAndFewerDoNot) {
  std::vector<std::uint8_t> secret(32);
  for (std::size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<std::uint8_t>(i * 37 + 5);
  const auto shares = split(secret, 10, 4);
  std::mt19937 gen(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<Share> pick(shares.begin(), shares.end());
    std::shuffle(pick.begin(), pick.end(), gen);
    EXPECT_EQ(combine(std::span(pick).first(4)), secret);
    EXPECT_EQ(combine(std::span(pick).first(7)), secret);
    EXPECT_NE(combine(std::span(pick).first(3)), secret);
  }
  EXPECT_THROW(split(secret, 3, 4), std::invalid_argument);
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
    if (!s.drop_before_shares.contains(c->id())) server.receive_shares(c->id(), c->share_keys(server.advertisements_for(c->id())));
  for (auto& c : clients) c->receive_shares(server.shares_for(c->id()));
  Outcome out;
  out.plaintext_sum.assign(p.dimension, 0);
  const auto u1 = server.u1();
  for (auto& c : clients) {
    const NodeId u = c->id();
    if (!u1.contains(u) || s.drop_before_input.contains(u)) continue;
    std::vector<float> x(p.dimension);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] = static_cast<float>(std::cos(u * 0.7 + j * 0.013));
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
    if (!u1.contains(c->id()) || s.drop_before_input.contains(c->id()) || s.drop_before_unmask.contains(c->id()))
      continue;
    auto reply = c->unmask(request);
    if (s.liars.contains(c->id())) {  // every byte of every share it returns is wrong
      std::mt19937 noise(c->id());
      for (auto* m : {&reply.self_shares, &reply.key_shares})
        for (auto& [u, share] : *m)
          for (auto& b : share.bytes) b ^= static_cast<std::uint8_t>(1 + noise() % 255);
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
  const auto o = run(params(30, 29, 15), {});
  EXPECT_EQ(o.aggregate.sum, o.plaintext_sum);
  EXPECT_EQ(o.aggregate.survivors.size(), 30u);
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

}  // namespace
}  // namespace murmur::secagg
