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

/// Runs every node's SecAgg+ stages in a thread of its own (NodeClient over CurveZMQ, then
/// SecAggNode), node `dropped` vanishing after it dealt its keys and node `rogue` left to the
/// caller. Returns each node's quantised update (empty for those two); counts each node's
/// complaints into `complaints` when given, else expects none. Fails the test for any node
/// that threw.
std::vector<std::vector<std::uint32_t>> run_nodes(const server::Config& cfg, server::Server& srv,
                                                  const std::vector<std::vector<float>>& updates,
                                                  std::size_t dropped, std::size_t rogue = SIZE_MAX,
                                                  std::vector<std::size_t>* complaints = nullptr) {
  if (complaints) complaints->assign(updates.size(), 0);
  std::vector<std::vector<std::uint32_t>> quantized(updates.size());
  std::vector<std::string> failures(updates.size());
  std::vector<std::thread> nodes;
  for (std::size_t i = 0; i < updates.size(); ++i) {
    if (i == rogue) continue;
    nodes.emplace_back([&, i] {
      try {
        client::ClientOptions o;
        o.endpoint = cfg.endpoint;
        o.register_endpoint = cfg.register_endpoint;
        o.server_public_key = srv.curve_public_key();
        o.timeout = std::chrono::seconds(5);
        client::NodeClient c(o);
        c.register_node(node_key(i), cfg.chain_id);
        client::SecAggNode n(c, cfg.task_id, 1,
                             {std::chrono::seconds(40), std::chrono::milliseconds(20)});
        EXPECT_EQ(n.placement().threshold(), n.placement().degree() / 2 + 1);
        n.advertise();
        n.share_keys();
        if (i == dropped) return;  // gone after dealing its keys
        const std::size_t sent = n.check_shares();
        if (complaints)
          (*complaints)[i] = sent;
        else
          EXPECT_EQ(sent, 0u);
        quantized[i] = n.quantized(updates[i]);
        n.send_masked_input(updates[i]);
        n.unmask();
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  }
  for (auto& t : nodes) t.join();
  for (std::size_t i = 0; i < updates.size(); ++i) EXPECT_EQ(failures[i], "") << "node " << i;
  return quantized;
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

  std::vector<chain::Address> address(kNodes);
  std::vector<std::vector<float>> updates;
  for (std::size_t i = 0; i < kNodes; ++i) {
    address[i] = node_key(i).address();
    updates.push_back(update_of(i));
  }
  const auto quantized = run_nodes(setup.config, srv, updates, kDropped);

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
    EXPECT_EQ(quantized[i].size(), kDim);
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
    for (std::size_t j = 0; j < kDim; ++j)
      mean[j] += updates[i][j] / static_cast<double>(kNodes - 1);
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
    std::ofstream(dir / "murmurd.toml") << "[server]\ncurve = false\ninsecure_plaintext = true\n"
                                           "[task]\nparameters = 10\n"
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

TEST(SecAggRound, FifteenNodesInThreeGroupsTheMedianOfGroupMeansIgnoresAnAttacker) {
  constexpr std::size_t n = 15, d = 500, attacker = 3;
  ServerSetup setup(n, d);
  setup.config.rounds = 1;
  setup.config.aggregation.rule = kernels::CoordinateMedian{};
  auto& sa = setup.config.secagg;
  sa.enabled = true;
  sa.group_size = 5;
  sa.clip = 1.0;
  server::Server srv(setup.config);
  srv.start();
  std::vector<std::vector<float>> updates;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<float> x(d);
    for (std::size_t j = 0; j < d; ++j)
      x[j] = static_cast<float>(0.05 * std::sin(1.7 * i + 0.03 * j));
    if (i == attacker) x.assign(d, 1e6f);  // clipped to 1 by the fixed point
    updates.push_back(std::move(x));
  }
  const auto quantized = run_nodes(setup.config, srv, updates, n);  // nobody drops
  ASSERT_TRUE(eventually([&] { return srv.snapshot().stage == wire::STAGE_CLOSED; },
                         std::chrono::seconds(30)))
      << "stage " << srv.snapshot().stage;
  const auto o = srv.last_secagg();
  ASSERT_EQ(o.group_sums.size(), 3u) << "15 nodes in groups of 5";
  std::vector<std::vector<float>> honest_means;
  for (std::size_t g = 0; g < 3; ++g) {
    // Each group's sum is its members' fixed-point sum, word for word.
    std::vector<std::uint32_t> sum(d, 0);
    bool dirty = false;
    for (const auto& a : o.group_survivors[g])
      for (std::size_t i = 0; i < n; ++i)
        if (node_key(i).address() == a) {
          dirty |= i == attacker;
          for (std::size_t j = 0; j < d; ++j) sum[j] += quantized[i][j];
        }
    ASSERT_EQ(o.group_survivors[g].size(), 5u);
    EXPECT_EQ(o.group_sums[g], sum) << "group " << g;
    std::vector<float> mean(d);
    secagg::dequantize_sum({sa.clip, 5}, o.group_sums[g], 5, mean);
    for (auto& v : mean) v /= 5;
    if (!dirty) honest_means.push_back(std::move(mean));
  }
  ASSERT_EQ(honest_means.size(), 2u);
  zmq::context_t ctx;
  RawNode r(ctx, setup.config, srv.curve_public_key(), node_key(0));
  ASSERT_TRUE(r.register_node().has_registered());
  const auto bytes = r.download(srv.snapshot().global_model);
  ASSERT_EQ(bytes.size(), d * 4);
  std::vector<float> model(d);
  std::memcpy(model.data(), bytes.data(), bytes.size());
  for (std::size_t j = 0; j < d; ++j) {
    const float lo = std::min(honest_means[0][j], honest_means[1][j]);
    const float hi = std::max(honest_means[0][j], honest_means[1][j]);
    EXPECT_GE(model[j], lo) << j;
    EXPECT_LE(model[j], hi) << j;
  }
  srv.stop();
}

/// Waits until murmurd is at `stage` of round 1 (bounded).
bool await_stage(RawNode& node, wire::Stage stage) {
  return eventually([&] { return node.round_info().stage() == stage; }, std::chrono::seconds(30));
}

TEST(SecAggRound, ADealerWithSharesOffItsCommitmentsIsExcludedOverTheWire) {
  constexpr std::size_t n = 6, d = 200, rogue = 2;
  ServerSetup setup(n, d);
  setup.config.rounds = 1;
  setup.config.aggregation.rule = kernels::WeightedMean{};
  auto& sa = setup.config.secagg;
  sa.enabled = true;
  sa.group_size = n;  // one group, complete graph, t = 3
  server::Server srv(setup.config);
  srv.start();
  std::vector<std::vector<float>> updates;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<float> x(d);
    for (std::size_t j = 0; j < d; ++j)
      x[j] = static_cast<float>(0.3 * std::cos(0.9 * i + 0.02 * j));
    updates.push_back(std::move(x));
  }
  // The rogue advertises honestly, then deals its self-mask seed on a polynomial its
  // commitments do not describe for its first two neighbours, then goes silent.
  std::set<secagg::NodeId> victims;
  std::thread rogue_thread([&] {
    zmq::context_t ctx;
    RawNode r(ctx, setup.config, srv.curve_public_key(), node_key(rogue));
    ASSERT_TRUE(r.register_node().has_registered());
    const auto place = r.round_info().secagg();
    secagg::Params p;
    p.nodes = place.group_size();
    p.degree = place.degree();
    p.threshold = place.threshold();
    p.round = 1;
    p.graph_seed = place.graph_seed();
    const auto c = secagg::random_scalar(), s = secagg::random_scalar(),
               b = secagg::random_scalar();
    const auto c_pub = secagg::base_times(c);
    wire::Envelope adv;
    auto* a = adv.mutable_secagg_advertise();
    a->set_task_id(1);
    a->set_round(1);
    a->mutable_keys()->set_local_id(place.local_id());
    a->mutable_keys()->set_c_public(c_pub.data(), 32);
    a->mutable_keys()->set_s_public(secagg::base_times(s).data(), 32);
    ASSERT_TRUE(r.call(adv).value().has_secagg_accepted());
    ASSERT_TRUE(await_stage(r, wire::STAGE_SECAGG_SHARE));
    wire::Envelope fetch;
    fetch.mutable_secagg_fetch()->set_task_id(1);
    fetch.mutable_secagg_fetch()->set_round(1);
    const auto view = r.call(fetch).value().secagg_view();
    const auto graph = secagg::neighbours(p, place.local_id());
    const auto db = secagg::deal(b, static_cast<unsigned>(graph.size()), p.threshold);
    const auto dk = secagg::deal(s, static_cast<unsigned>(graph.size()), p.threshold);
    const auto other = secagg::deal(b, static_cast<unsigned>(graph.size()), p.threshold);
    wire::Envelope dealing;
    auto* w = dealing.mutable_secagg_dealing();
    w->set_task_id(1);
    w->set_round(1);
    for (const auto& x : db.commitments) w->add_self_commitments(x.data(), 32);
    for (const auto& x : dk.commitments) w->add_key_commitments(x.data(), 32);
    for (const auto& k : view.neighbours()) {
      const auto idx = static_cast<std::size_t>(
          std::find(graph.begin(), graph.end(), k.local_id()) - graph.begin());
      const bool cheat = idx < 2;
      if (cheat) victims.insert(k.local_id());
      secagg::Point peer{};
      std::memcpy(peer.data(), k.c_public().data(), 32);
      const auto box =
          secagg::seal_share(place.local_id(), k.local_id(), db.shares[idx].x,
                             (cheat ? other : db).shares[idx].y, dk.shares[idx].y, c, c_pub, peer);
      auto* wb = w->add_boxes();
      wb->set_from(box.from);
      wb->set_to(box.to);
      wb->set_box(box.box.data(), box.box.size());
    }
    ASSERT_TRUE(r.call(dealing).value().has_secagg_accepted())
        << "the server cannot see the lie yet";
  });
  std::vector<std::size_t> complaints;
  const auto quantized = run_nodes(setup.config, srv, updates, SIZE_MAX, rogue, &complaints);
  rogue_thread.join();
  ASSERT_EQ(victims.size(), 2u);
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) total += complaints[i];
  // The first complaint excludes the rogue; a victim that fetches its boxes after that no
  // longer gets the rogue's box, so it has nothing to complain about. Nobody else complains.
  EXPECT_GE(total, 1u);
  EXPECT_LE(total, 2u);

  ASSERT_TRUE(eventually([&] { return srv.snapshot().stage == wire::STAGE_CLOSED; },
                         std::chrono::seconds(30)))
      << "stage " << srv.snapshot().stage;
  const auto o = srv.last_secagg();
  ASSERT_EQ(o.excluded.size(), 1u);
  EXPECT_EQ(o.excluded[0].rfind(node_key(rogue).address().to_checksum(), 0), 0u) << o.excluded[0];
  EXPECT_NE(o.excluded[0].find("inconsistent dealer"), std::string::npos) << o.excluded[0];
  EXPECT_TRUE(o.dropped.empty()) << "excluded before masking: nobody masked with it";
  ASSERT_EQ(o.group_sums.size(), 1u);
  EXPECT_EQ(o.group_survivors[0].size(), n - 1);
  std::vector<std::uint32_t> sum(d, 0);
  for (std::size_t i = 0; i < n; ++i)
    if (i != rogue)
      for (std::size_t j = 0; j < d; ++j) sum[j] += quantized[i][j];
  EXPECT_EQ(o.group_sums[0], sum) << "the round completes with the honest nodes, exactly";
  EXPECT_NE(srv.snapshot().last_outcome.find("accepted"), std::string::npos)
      << srv.snapshot().last_outcome;
  srv.stop();
}

TEST(SecAggRound, ARestartMidRoundEndsThatRoundWithAReason) {
  ServerSetup setup(3, 16);
  setup.config.secagg.enabled = true;
  setup.config.secagg.group_size = 3;
  {
    server::Server first(setup.config);
    first.start();
    EXPECT_EQ(first.snapshot().stage, wire::STAGE_SECAGG_ADVERTISE);
    first.stop();
  }
  // Masked inputs and shares live in memory only: the restarted server cannot finish round 1.
  server::Server again(setup.config);
  again.start();
  ASSERT_TRUE(eventually([&] { return again.snapshot().round == 2; }, std::chrono::seconds(10)));
  const auto snap = again.snapshot();
  EXPECT_NE(snap.last_outcome.find("does not survive a restart"), std::string::npos)
      << snap.last_outcome;
  EXPECT_EQ(snap.stage, wire::STAGE_SECAGG_ADVERTISE) << "round 2 starts its own SecAgg+ stages";
  again.stop();
}

}  // namespace
}  // namespace murmur::test
