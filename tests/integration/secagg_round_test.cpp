// A SecAgg+ round through a real murmurd on 127.0.0.1 with CurveZMQ: 8 nodes run the stages
// with libmurmur-client's SecAggNode, one of them vanishes right after dealing its keys, and
// the group sum the server unmasks is exactly the Z_2^32 sum of the 7 survivors' quantised
// updates; the model it adopts is their mean. No plaintext update reaches the spool.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <thread>

#include "murmur/client/secagg_node.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/protocol/integrity.hpp"
#include "server/server_fixture.hpp"

namespace murmur::test {
namespace {

constexpr std::size_t kNodes = 8, kDim = 3000, kDropped = 5;

std::vector<float> update_of(std::size_t i) {
  std::vector<float> x(kDim);
  for (std::size_t j = 0; j < kDim; ++j)
    x[j] = static_cast<float>(0.8 * std::sin(0.37 * i + 0.011 * j));
  return x;
}

TEST(SecAggRound, EightNodesThroughMurmurdOneDropsAfterSharingKeys) {
  ServerSetup setup(kNodes, kDim);
  setup.config.rounds = 1;
  setup.config.chunk_bytes = 4096;  // the masked input travels in 3 chunks
  setup.config.aggregation.rule = kernels::WeightedMean{};
  auto& sa = setup.config.secagg;
  sa.enabled = true;
  sa.group_size = kNodes;  // one group: secure FedAvg
  sa.clip = 1.0;
  // Stages the dropped node never answers end at their deadline; the others end early.
  sa.advertise_window = sa.share_window = std::chrono::seconds(30);
  sa.check_window = sa.masked_window = sa.unmask_window = std::chrono::seconds(3);
  server::Server srv(setup.config);
  srv.start();

  std::vector<std::vector<std::uint32_t>> quantized(kNodes);
  std::vector<std::string> failures(kNodes);
  std::vector<chain::Address> address(kNodes);
  std::vector<std::thread> nodes;
  for (std::size_t i = 0; i < kNodes; ++i) {
    address[i] = node_key(i).address();
    nodes.emplace_back([&, i] {
      try {
        client::ClientOptions o;
        o.endpoint = setup.config.endpoint;
        o.register_endpoint = setup.config.register_endpoint;
        o.server_public_key = srv.curve_public_key();
        o.timeout = std::chrono::seconds(5);
        client::NodeClient c(o);
        c.register_node(node_key(i), setup.config.chain_id);
        client::SecAggNode n(c, setup.config.task_id, 1,
                             {std::chrono::seconds(40), std::chrono::milliseconds(20)});
        EXPECT_EQ(n.placement().group_size(), kNodes);
        n.advertise();
        n.share_keys();
        if (i == kDropped) return;  // gone after dealing its keys
        EXPECT_EQ(n.check_shares(), 0u);
        const auto x = update_of(i);
        quantized[i] = n.quantized(x);
        n.send_masked_input(x);
        n.unmask();
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  }
  for (auto& t : nodes) t.join();
  for (std::size_t i = 0; i < kNodes; ++i) EXPECT_EQ(failures[i], "") << "node " << i;

  ASSERT_TRUE(eventually([&] { return srv.snapshot().stage == wire::STAGE_CLOSED; },
                         std::chrono::seconds(30)))
      << "stage " << srv.snapshot().stage;
  const auto snap = srv.snapshot();
  EXPECT_NE(snap.last_outcome.find("accepted"), std::string::npos) << snap.last_outcome;
  EXPECT_EQ(snap.committed_updates, 0u) << "a SecAgg+ round must not spool any update";

  const server::SecAggOutcome o = srv.last_secagg();
  EXPECT_EQ(o.round, 1u);
  EXPECT_TRUE(o.excluded.empty());
  EXPECT_TRUE(o.failed_groups.empty());
  ASSERT_EQ(o.dropped.size(), 1u);
  EXPECT_EQ(o.dropped[0], address[kDropped]);
  ASSERT_EQ(o.group_sums.size(), 1u);
  std::set<chain::Address> survivors(o.group_survivors[0].begin(), o.group_survivors[0].end()),
      want;
  std::vector<std::uint32_t> sum(kDim, 0);
  for (std::size_t i = 0; i < kNodes; ++i) {
    if (i == kDropped) continue;
    want.insert(address[i]);
    for (std::size_t j = 0; j < kDim; ++j) sum[j] += quantized[i][j];
  }
  EXPECT_EQ(survivors, want);
  EXPECT_EQ(o.group_sums[0], sum)
      << "the unmasked sum must equal the survivors' fixed-point sum exactly";

  // The adopted model is the survivors' mean: within one quantisation step of the floats.
  zmq::context_t ctx;
  RawNode r(ctx, setup.config, srv.curve_public_key(), node_key(0));
  ASSERT_TRUE(r.register_node().has_registered());
  const auto bytes = r.download(snap.global_model);
  ASSERT_EQ(bytes.size(), kDim * 4);
  std::vector<float> model(kDim);
  std::memcpy(model.data(), bytes.data(), bytes.size());
  const secagg::FixedPoint fp{sa.clip, kNodes};
  std::vector<double> mean(kDim, 0.0);
  for (std::size_t i = 0; i < kNodes; ++i) {
    if (i == kDropped) continue;
    const auto x = update_of(i);
    for (std::size_t j = 0; j < kDim; ++j) mean[j] += x[j] / static_cast<double>(kNodes - 1);
  }
  for (std::size_t j = 0; j < kDim; ++j) {
    ASSERT_NEAR(model[j], mean[j], fp.step() + 1e-6) << "coordinate " << j;
  }
  srv.stop();
}

TEST(SecAggRound, MessagesOutOfTurnAreRefusedWithTypedErrors) {
  ServerSetup setup(3, 64);
  setup.config.secagg.enabled = true;
  setup.config.secagg.group_size = 3;
  server::Server srv(setup.config);
  srv.start();
  zmq::context_t ctx;
  RawNode node(ctx, setup.config, srv.curve_public_key(), node_key(1));
  ASSERT_TRUE(node.register_node().has_registered());
  const auto info = node.round_info();
  EXPECT_EQ(info.stage(), wire::STAGE_SECAGG_ADVERTISE);
  ASSERT_TRUE(info.has_secagg());
  EXPECT_EQ(info.secagg().group_size(), 3u);
  EXPECT_EQ(info.secagg().threshold(), 2u);  // a majority of 2 neighbours

  EXPECT_TRUE(is_error(node.begin(1, 64), wire::ERR_WRONG_STAGE))
      << "plaintext uploads are off in a SecAgg+ task";
  wire::Envelope fetch;
  fetch.mutable_secagg_fetch()->set_task_id(1);
  fetch.mutable_secagg_fetch()->set_round(1);
  EXPECT_TRUE(is_error(node.call(fetch).value(), wire::ERR_WRONG_STAGE))
      << "nothing to fetch while advertising";

  const auto advertise = [&](std::uint32_t local, const secagg::Point& c, const secagg::Point& s) {
    wire::Envelope e;
    auto* a = e.mutable_secagg_advertise();
    a->set_task_id(1);
    a->set_round(1);
    a->mutable_keys()->set_local_id(local);
    a->mutable_keys()->set_c_public(c.data(), 32);
    a->mutable_keys()->set_s_public(s.data(), 32);
    return node.call(e).value();
  };
  const auto c = secagg::base_times(secagg::random_scalar()),
             s = secagg::base_times(secagg::random_scalar());
  const std::uint32_t me = info.secagg().local_id();
  EXPECT_TRUE(is_error(advertise((me + 1) % 3, c, s), wire::ERR_MALFORMED)) << "another node's id";
  EXPECT_TRUE(is_error(advertise(me, secagg::Point{}, s), wire::ERR_MALFORMED))
      << "the identity is no key";
  const auto ok = advertise(me, c, s);
  EXPECT_TRUE(ok.has_secagg_accepted()) << ok.ShortDebugString();
  EXPECT_TRUE(is_error(advertise(me, c, s), wire::ERR_DUPLICATE));

  std::vector<std::uint32_t> words(16, 7);
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(words.data()),
                                            words.size() * 4);
  wire::Envelope chunk;
  auto* m = chunk.mutable_secagg_masked_chunk();
  m->set_task_id(1);
  m->set_round(1);
  const auto sum = protocol::chunk_checksum(bytes);
  m->set_checksum(sum.data(), sum.size());
  EXPECT_TRUE(is_error(node.call(chunk, bytes).value(), wire::ERR_WRONG_STAGE))
      << "masked input before its stage";
  m->set_round(2);
  EXPECT_TRUE(is_error(node.call(chunk, bytes).value(), wire::ERR_WRONG_ROUND));
  srv.stop();
}

TEST(SecAggRound, ConfigReadsTheSecAggTable) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("murmur-secagg-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "participants.csv") << node_key(0).address().to_checksum() << ",1000\n";
  const auto write = [&](const std::string& secagg) {
    std::ofstream(dir / "murmurd.toml") << "[server]\ncurve = false\n[task]\nparameters = 10\n"
                                           "participants = \"participants.csv\"\n[secagg]\n"
                                        << secagg;
    return dir / "murmurd.toml";
  };
  const auto c =
      server::load_config(write("enabled = true\ngroup_size = 4\ndegree = 2\nthreshold = 2\nclip = "
                                "0.5\ncheck_seconds = 1.5\n"));
  EXPECT_TRUE(c.secagg.enabled);
  EXPECT_EQ(c.secagg.group_size, 4u);
  EXPECT_EQ(c.secagg.degree, 2u);
  EXPECT_EQ(c.secagg.threshold, 2u);
  EXPECT_EQ(c.secagg.clip, 0.5);
  EXPECT_EQ(c.secagg.check_window, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.secagg.masked_window, std::chrono::milliseconds(60000)) << "the default";
  EXPECT_FALSE(server::load_config(write("")).secagg.enabled) << "off unless asked for";
  try {
    server::load_config(write("enabled = true\ngroup_size = 0\n"));
    ADD_FAILURE() << "group_size 0 must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("secagg.group_size"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace murmur::test
