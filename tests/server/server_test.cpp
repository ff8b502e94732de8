// murmurd against real ZeroMQ peers on 127.0.0.1: a whole round, voting, quorum, restart with
// resume, and every kind of bad input refused with its typed error while the others are served.
#include <httplib.h>

#include "murmur/kernels/aggregate.hpp"
#include "server_fixture.hpp"

namespace murmur::test {
namespace {

std::vector<float> update_for(std::size_t node, std::size_t d, float scale = 1.0f) {
  std::vector<float> v(d);
  for (std::size_t j = 0; j < d; ++j)
    v[j] = scale * (static_cast<float>((node * 131 + j * 7) % 97) / 97.0f - 0.5f);
  return v;
}

/// The model murmurd must produce: previous global + the rule over the rows sorted by address.
chain::Hash32 expected_model(const server::Config& cfg,
                             std::vector<std::pair<chain::Address, std::vector<float>>> rows,
                             const std::vector<float>& global, std::vector<double> samples) {
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<float> data;
  for (auto& [a, r] : rows) data.insert(data.end(), r.begin(), r.end());
  auto cpu = kernels::make_cpu_backend(2);
  std::vector<float> delta(cfg.parameters);
  kernels::aggregate(*cpu, kernels::MemoryRowSource(data, rows.size(), cfg.parameters), samples,
                     cfg.aggregation, delta);
  std::vector<float> model = global;
  for (std::size_t j = 0; j < model.size(); ++j) model[j] += delta[j];
  return chain::keccak256(bytes_of(model));
}

TEST(Server, WholeRoundAggregatesTheCommittedUpdates) {
  ServerSetup setup(4, 10000);  // 40 KB updates in 4 KiB chunks
  server::Server srv(setup.config);
  srv.start();
  zmq::context_t ctx;
  std::vector<std::pair<chain::Address, std::vector<float>>> rows;
  for (std::size_t i = 0; i < 4; ++i) {
    RawNode node(ctx, setup.config, srv.curve_public_key(), node_key(i));
    ASSERT_TRUE(node.register_node().has_registered());
    const auto info = node.round_info();
    EXPECT_EQ(info.round(), 1u);
    EXPECT_EQ(info.role(), wire::ROLE_PROPOSER);
    rows.push_back({node.address(), update_for(i, 10000)});
    const auto committed = node.upload(1, rows.back().second, 100);
    ASSERT_TRUE(committed.has_committed()) << committed.ShortDebugString();
  }
  // Every proposer committed and there are no voters: the round completes on its own.
  ASSERT_TRUE(eventually([&] { return srv.snapshot().round == 2; }));
  const auto snap = srv.snapshot();
  EXPECT_NE(snap.last_outcome.find("accepted"), std::string::npos) << snap.last_outcome;
  const auto want =
      expected_model(setup.config, rows, std::vector<float>(10000, 0.0f), {100, 100, 100, 100});
  EXPECT_EQ(snap.global_model, want);
  RawNode reader(ctx, setup.config, srv.curve_public_key(), node_key(0));
  ASSERT_TRUE(reader.register_node().has_registered());
  EXPECT_EQ(chain::keccak256(reader.download(snap.global_model)), want)
      << "download differs from the hash";
  srv.stop();
}

TEST(Server, VotesDecideAndARejectedModelIsNotAdopted) {
  ServerSetup setup(10, 1000);
  setup.config.proposer_bps = 5000;
  setup.config.vote_window = std::chrono::seconds(20);
  setup.config.upload_window = std::chrono::seconds(20);
  server::Server srv(setup.config);
  srv.start();
  zmq::context_t ctx;
  std::vector<std::unique_ptr<RawNode>> proposers, voters;
  for (std::size_t i = 0; i < 10; ++i) {
    auto n = std::make_unique<RawNode>(ctx, setup.config, srv.curve_public_key(), node_key(i));
    ASSERT_TRUE(n->register_node().has_registered());
    (n->round_info().role() == wire::ROLE_PROPOSER ? proposers : voters).push_back(std::move(n));
  }
  ASSERT_FALSE(proposers.empty());
  ASSERT_FALSE(voters.empty());
  for (std::size_t round = 1; round <= 2; ++round) {
    if (round == 2) {  // roles are drawn again each round
      std::vector<std::unique_ptr<RawNode>> all;
      for (auto* group : {&proposers, &voters})
        for (auto& n : *group) all.push_back(std::move(n));
      proposers.clear();
      voters.clear();
      for (auto& n : all)
        (n->round_info().role() == wire::ROLE_PROPOSER ? proposers : voters)
            .push_back(std::move(n));
      // Roles come from the local seed keccak(tag, task, round) and the fixed test keys: round 2
      // draws both roles, so every check below runs.
      ASSERT_FALSE(voters.empty()) << "round 2 drew no voter";
      ASSERT_FALSE(proposers.empty()) << "round 2 drew no proposer";
    }
    const auto global = srv.snapshot().global_model;
    for (std::size_t i = 0; i < proposers.size(); ++i)
      ASSERT_TRUE(proposers[i]->upload(round, update_for(i, 1000), 10).has_committed());
    ASSERT_TRUE(eventually([&] { return srv.snapshot().stage == wire::STAGE_VOTING; }));
    const auto candidate = srv.snapshot().candidate_model;
    EXPECT_TRUE(is_error(proposers[0]->vote(round, candidate, 1), wire::ERR_NOT_VOTER));
    const int score = round == 1 ? 1 : -1;  // round 1 accepted, round 2 rejected
    ASSERT_TRUE(voters[0]->vote(round, candidate, score).has_vote_accepted());
    if (voters.size() > 1) {
      EXPECT_TRUE(is_error(voters[0]->vote(round, candidate, score), wire::ERR_DUPLICATE));
    }
    for (std::size_t i = 1; i < voters.size(); ++i)
      ASSERT_TRUE(voters[i]->vote(round, candidate, score).has_vote_accepted());
    ASSERT_TRUE(eventually([&] { return srv.snapshot().round == round + 1; }));
    const auto snap = srv.snapshot();
    if (round == 1) {
      EXPECT_EQ(snap.global_model, candidate) << snap.last_outcome;
      EXPECT_NE(snap.last_outcome.find("accepted"), std::string::npos) << snap.last_outcome;
    } else {
      EXPECT_EQ(snap.global_model, global) << snap.last_outcome;
      EXPECT_NE(snap.last_outcome.find("rejected"), std::string::npos) << snap.last_outcome;
    }
  }
  srv.stop();
}

TEST(Server, RoundWithoutQuorumEndsWithAReason) {
  ServerSetup setup(3, 1000);
  setup.config.quorum = 3;
  setup.config.upload_window = std::chrono::milliseconds(1500);
  server::Server srv(setup.config);
  srv.start();
  zmq::context_t ctx;
  RawNode node(ctx, setup.config, srv.curve_public_key(), node_key(0));
  ASSERT_TRUE(node.register_node().has_registered());
  const auto global = srv.snapshot().global_model;
  ASSERT_TRUE(node.upload(1, update_for(0, 1000), 5).has_committed());
  ASSERT_TRUE(eventually([&] { return srv.snapshot().round == 2; }, std::chrono::seconds(10)));
  EXPECT_NE(srv.snapshot().last_outcome.find("no quorum: 1 of 3"), std::string::npos)
      << srv.snapshot().last_outcome;
  EXPECT_EQ(srv.snapshot().global_model, global);
  // Too late for round 1.
  EXPECT_TRUE(is_error(node.begin(1, 1000), wire::ERR_WRONG_ROUND));
  srv.stop();
}

TEST(Server, RestartResumesAPartialUploadFromItsDurableOffset) {
  ServerSetup setup(2, 10000);
  setup.config.quorum = 2;
  const auto values = update_for(1, 10000);
  const auto all = bytes_of(values);
  std::uint64_t upload_id = 0;
  {
    server::Server srv(setup.config);
    srv.start();
    zmq::context_t ctx;
    RawNode node(ctx, setup.config, srv.curve_public_key(), node_key(0));
    ASSERT_TRUE(node.register_node().has_registered());
    const auto a = node.begin(1, 10000).upload_accepted();
    upload_id = a.upload_id();
    for (std::uint64_t at = 0; at < 3 * 4096; at += 4096)
      ASSERT_TRUE(node.chunk(a.upload_id(), at, all.subspan(at, 4096)).has_chunk_ack());
    srv.stop();
  }
  server::Server srv(setup.config);  // same data dir: the spool and the bindings survive
  srv.start();
  zmq::context_t ctx;
  RawNode node(ctx, setup.config, srv.curve_public_key(), node_key(0));
  ASSERT_TRUE(node.register_node().has_registered());
  const auto again = node.begin(1, 10000);
  ASSERT_TRUE(again.has_upload_accepted()) << again.ShortDebugString();
  EXPECT_EQ(again.upload_accepted().upload_id(), upload_id);
  EXPECT_EQ(again.upload_accepted().resume_offset(), 3u * 4096);
  for (std::uint64_t at = 3 * 4096; at < all.size(); at += 4096)
    ASSERT_TRUE(
        node.chunk(upload_id, at, all.subspan(at, std::min<std::uint64_t>(4096, all.size() - at)))
            .has_chunk_ack());
  ASSERT_TRUE(node.commit(upload_id, 1, all, 7).has_committed())
      << "hash over resumed bytes must match";
  srv.stop();
}

/// murmurd with an in-flight budget of two chunks, two registered nodes, and node `a`'s upload
/// begun: it holds the whole budget.
struct SpentBudget {
  ServerSetup setup{2, 2048};
  std::unique_ptr<server::Server> srv;
  zmq::context_t ctx;
  std::unique_ptr<RawNode> a, b;
  wire::Envelope first;

  explicit SpentBudget(std::chrono::milliseconds busy_wait) {
    setup.config.inflight_budget_bytes = 2 * 4096;
    setup.config.peer_credits = 2;
    setup.config.quorum = 2;
    setup.config.busy_wait = busy_wait;
    srv = std::make_unique<server::Server>(setup.config);
    srv->start();
    a = std::make_unique<RawNode>(ctx, setup.config, srv->curve_public_key(), node_key(0));
    b = std::make_unique<RawNode>(ctx, setup.config, srv->curve_public_key(), node_key(1));
    EXPECT_TRUE(a->register_node().has_registered());
    EXPECT_TRUE(b->register_node().has_registered());
    first = a->begin(1, 2048);
    EXPECT_TRUE(first.has_upload_accepted());
    EXPECT_EQ(first.upload_accepted().credits(), 2u);
  }
  ~SpentBudget() { srv->stop(); }
};

TEST(Server, InFlightBudgetIsSharedAndAWaitingBeginGetsTheCreditsThatReturn) {
  // The second node's begin waits (no answer yet) and is answered with the credits the
  // moment the first node commits.
  SpentBudget t(std::chrono::seconds(20));
  RawNode& a = *t.a;
  RawNode& b = *t.b;
  wire::Envelope begin;
  const std::uint64_t begin_id = b.take_request_id();
  begin.set_request_id(begin_id);
  auto* bb = begin.mutable_upload_begin();
  bb->set_task_id(1);
  bb->set_round(1);
  bb->set_parameters(2048);
  bb->set_dtype(wire::DTYPE_F32);
  b.send_only(protocol::encode(begin));
  EXPECT_TRUE(b.drain(std::chrono::milliseconds(300)).empty()) << "the begin waits for budget";
  const auto values = update_for(0, 2048);
  const auto all = bytes_of(values);
  const std::uint64_t id = t.first.upload_accepted().upload_id();
  for (std::uint64_t at = 0; at < all.size(); at += 4096)
    ASSERT_TRUE(a.chunk(id, at, all.subspan(at, 4096)).has_chunk_ack());
  ASSERT_TRUE(a.commit(id, 1, all, 1).has_committed());
  const auto answers = b.drain(std::chrono::milliseconds(1000));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].request_id(), begin_id);
  ASSERT_TRUE(answers[0].has_upload_accepted());
  EXPECT_EQ(answers[0].upload_accepted().credits(), 2u);
  EXPECT_TRUE(b.upload(1, update_for(1, 2048), 1).has_committed());
}

TEST(Server, ABeginThatWaitsOutTheBudgetIsToldBusy) {
  for (const auto wait : {std::chrono::milliseconds(400), std::chrono::milliseconds(0)}) {
    SpentBudget t(wait);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(is_error(t.b->begin(1, 2048), wire::ERR_BUSY)) << wait.count();
    EXPECT_GE(std::chrono::steady_clock::now() - t0, wait);
    // The one holding the budget is unaffected.
    EXPECT_TRUE(t.a->upload(1, update_for(0, 2048), 1).has_committed());
  }
}

TEST(Server, MetricsCountAcceptedAndRefusedRequests) {
  ServerSetup setup(2, 1024);
  setup.config.metrics_port = free_port();
  server::Server srv(setup.config);
  srv.start();
  zmq::context_t ctx;
  RawNode n(ctx, setup.config, srv.curve_public_key(), node_key(0));
  ASSERT_TRUE(n.register_node().has_registered());
  ASSERT_TRUE(is_error(n.begin(1, 1024, wire::DTYPE_F32, 5), wire::ERR_WRONG_TASK));
  ASSERT_TRUE(n.upload(1, update_for(0, 1024), 1).has_committed());
  httplib::Client http("127.0.0.1", srv.metrics_port());
  http.set_connection_timeout(5);
  const auto res = http.Get("/metrics");
  ASSERT_TRUE(res) << "metrics endpoint did not answer";
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("murmur_uploads_accepted_total 1"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("murmur_requests_refused_total{code=\"ERR_WRONG_TASK\"} 1"),
            std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find("murmur_bytes_in_total 4096"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("murmur_backend_info{backend=\"cpu"), std::string::npos) << res->body;
  srv.stop();
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    setup.config.upload_window = std::chrono::seconds(60);
    setup.config.quorum = 5;
    setup.config.peer_messages_per_second = 200;
    srv = std::make_unique<server::Server>(setup.config);
    srv->start();
    for (std::size_t i = 0; i < 5; ++i) {
      nodes.push_back(
          std::make_unique<RawNode>(ctx, setup.config, srv->curve_public_key(), node_key(i)));
      ASSERT_TRUE(nodes.back()->register_node().has_registered());
    }
  }
  void TearDown() override { srv->stop(); }
  /// The good node still gets served, and what it committed is intact.
  void expect_others_served() {
    const auto info = nodes[4]->round_info();
    EXPECT_EQ(info.round(), 1u);
  }
  ServerSetup setup{6, 2048};  // participant 5 never registers its key
  zmq::context_t ctx;
  std::unique_ptr<server::Server> srv;
  std::vector<std::unique_ptr<RawNode>> nodes;
};

TEST_F(BadInput, FramingAndEncoding) {
  RawNode& n = *nodes[0];
  std::vector<zmq::message_t> garbage;
  garbage.emplace_back(std::string("\xff\xff\xff\xff not protobuf"));
  EXPECT_TRUE(is_error(n.send_frames(std::move(garbage)).value(), wire::ERR_MALFORMED));
  std::vector<zmq::message_t> three;
  wire::Envelope info;
  info.set_request_id(100);
  info.mutable_round_info_request();
  for (int i = 0; i < 3; ++i) three.emplace_back(info.SerializeAsString());
  EXPECT_TRUE(is_error(n.send_frames(std::move(three)).value(), wire::ERR_BAD_FRAMES));
  wire::Envelope chunk;
  chunk.set_request_id(101);
  chunk.mutable_upload_chunk()->set_upload_id(1);
  std::vector<zmq::message_t> no_tensor;
  no_tensor.emplace_back(chunk.SerializeAsString());
  EXPECT_TRUE(is_error(n.send_frames(std::move(no_tensor)).value(), wire::ERR_BAD_FRAMES));
  // Larger than a chunk (4 KiB here) but under ZeroMQ's hard cap: a typed refusal.
  chunk.set_request_id(102);
  EXPECT_TRUE(
      is_error(n.call(chunk, std::vector<std::uint8_t>(6000)).value(), wire::ERR_TOO_LARGE));
  // A reply from the server is not a request.
  wire::Envelope not_request;
  not_request.mutable_status();
  EXPECT_TRUE(is_error(n.call(not_request).value(), wire::ERR_MALFORMED));
  expect_others_served();
}

TEST_F(BadInput, UploadsThatBreakTheRules) {
  RawNode& n = *nodes[0];
  const auto values = update_for(0, 2048);
  const auto all = bytes_of(values);
  EXPECT_TRUE(is_error(n.begin(1, 2048, wire::DTYPE_F32, /*task=*/9), wire::ERR_WRONG_TASK));
  EXPECT_TRUE(is_error(n.begin(2, 2048), wire::ERR_WRONG_ROUND));
  EXPECT_TRUE(is_error(n.begin(1, 999), wire::ERR_MALFORMED));
  const auto a = n.begin(1, 2048).upload_accepted();
  EXPECT_EQ(a.total_bytes(), 8192u);
  EXPECT_TRUE(
      is_error(n.chunk(a.upload_id() + 7, 0, all.subspan(0, 4096)), wire::ERR_UNKNOWN_UPLOAD));
  EXPECT_TRUE(is_error(n.chunk(a.upload_id(), 0, all.subspan(0, 4096), /*corrupt=*/true),
                       wire::ERR_BAD_CHECKSUM));
  EXPECT_TRUE(is_error(n.chunk(a.upload_id(), 4096, all.subspan(0, 4096)),
                       wire::ERR_OUT_OF_RANGE));  // a gap
  ASSERT_TRUE(n.chunk(a.upload_id(), 0, all.subspan(0, 4096)).has_chunk_ack());
  EXPECT_TRUE(
      is_error(n.chunk(a.upload_id(), 0, all.subspan(0, 4096)), wire::ERR_REPLAY));    // again
  EXPECT_TRUE(is_error(n.commit(a.upload_id(), 1, all, 10), wire::ERR_OUT_OF_RANGE));  // incomplete
  // A chunk running past the declared size.
  std::vector<std::uint8_t> too_long(all.begin() + 4096, all.end());
  too_long.resize(4096 + 8, 0);
  EXPECT_TRUE(is_error(n.chunk(a.upload_id(), 4096, too_long), wire::ERR_TOO_LARGE));
  ASSERT_TRUE(n.chunk(a.upload_id(), 4096, all.subspan(4096, 4096)).has_chunk_ack());
  // Commit with a wrong hash, a signature by someone else, no signature.
  std::vector<float> other = values;
  other[0] += 1;
  EXPECT_TRUE(is_error(n.commit(a.upload_id(), 1, bytes_of(other), 10), wire::ERR_HASH_MISMATCH));
  const auto stranger = node_key(77);
  EXPECT_TRUE(is_error(n.commit(a.upload_id(), 1, all, 10, &stranger), wire::ERR_BAD_SIGNATURE));
  wire::Envelope unsigned_commit;
  auto* c = unsigned_commit.mutable_upload_commit();
  c->set_upload_id(a.upload_id());
  const auto hash = protocol::update_hash(all);
  c->set_update_hash(hash.data(), 32);
  c->set_num_samples(10);
  EXPECT_TRUE(is_error(n.call(unsigned_commit).value(), wire::ERR_BAD_SIGNATURE));
  ASSERT_TRUE(n.commit(a.upload_id(), 1, all, 10).has_committed());
  EXPECT_TRUE(is_error(n.commit(a.upload_id(), 1, all, 10), wire::ERR_DUPLICATE));
  EXPECT_TRUE(is_error(n.begin(1, 2048), wire::ERR_DUPLICATE));
  // A replayed request (same request id as an earlier one).
  wire::Envelope replay;
  replay.set_request_id(n.last_request_id());
  replay.mutable_round_info_request();
  EXPECT_TRUE(is_error(n.call(replay).value(), wire::ERR_REPLAY));
  EXPECT_EQ(srv->snapshot().committed_updates, 1u);
  expect_others_served();
}

TEST_F(BadInput, NonFiniteValuesAreRefusedAndTheUploadCanStartOver) {
  RawNode& n = *nodes[1];
  for (auto dtype : {wire::DTYPE_F32, wire::DTYPE_BF16, wire::DTYPE_F16}) {
    std::vector<float> v = update_for(1, 2048);
    v[100] = std::numeric_limits<float>::quiet_NaN();
    std::vector<std::uint8_t> bytes(v.size() * protocol::element_bytes(dtype));
    protocol::from_float(dtype, v, bytes);
    const auto a = n.begin(1, 2048, dtype).upload_accepted();
    EXPECT_TRUE(is_error(n.chunk(a.upload_id(), 0, std::span(bytes).subspan(0, 4096)),
                         wire::ERR_NON_FINITE))
        << wire::DType_Name(dtype);
  }
  // Beginning again gives a fresh upload that goes through.
  EXPECT_TRUE(n.upload(1, update_for(1, 2048), 3).has_committed());
  expect_others_served();
}

TEST_F(BadInput, RegistrationAndAttribution) {
  // A key that is not a participant, a registration signed by someone else, another chain.
  RawNode outsider(ctx, setup.config, srv->curve_public_key(), node_key(50));
  EXPECT_TRUE(is_error(outsider.register_node(), wire::ERR_NOT_REGISTERED));
  RawNode forged(ctx, setup.config, srv->curve_public_key(), node_key(5));
  const auto thief = node_key(51);
  EXPECT_TRUE(is_error(forged.register_node(31337, &thief), wire::ERR_BAD_SIGNATURE));
  EXPECT_TRUE(is_error(forged.register_node(1), wire::ERR_WRONG_TASK));
  // An unbound Curve key is turned away by the ZAP handler: no reply at all.
  wire::Envelope info;
  info.mutable_round_info_request();
  EXPECT_FALSE(forged.call(info).has_value());
  // Voting during the upload stage.
  EXPECT_TRUE(is_error(nodes[2]->vote(1, chain::Hash32{}, 1), wire::ERR_WRONG_STAGE));
  expect_others_served();
}

TEST_F(BadInput, DisconnectMidUploadLosesNothingAccepted) {
  const auto values = update_for(3, 2048);
  const auto all = bytes_of(values);
  {
    RawNode& n = *nodes[3];
    const auto a = n.begin(1, 2048).upload_accepted();
    ASSERT_TRUE(n.chunk(a.upload_id(), 0, all.subspan(0, 4096)).has_chunk_ack());
    n.disconnect();
  }
  ASSERT_TRUE(nodes[4]->upload(1, update_for(4, 2048), 1).has_committed());
  // The same node, a new connection: resume from the acknowledged offset.
  RawNode again(ctx, setup.config, srv->curve_public_key(), node_key(3));
  ASSERT_TRUE(again.register_node().has_registered());
  const auto a = again.begin(1, 2048).upload_accepted();
  EXPECT_EQ(a.resume_offset(), 4096u);
  ASSERT_TRUE(again.chunk(a.upload_id(), 4096, all.subspan(4096, 4096)).has_chunk_ack());
  EXPECT_TRUE(again.commit(a.upload_id(), 1, all, 2).has_committed());
  EXPECT_EQ(srv->snapshot().committed_updates, 2u);
}

TEST_F(BadInput, AFloodFromOnePeerIsBoundedAndOthersAreServed) {
  // 1000 requests in one burst against a budget of 200 per second: the first second's worth
  // is served, the next is refused with ERR_RATE_LIMITED, the rest is dropped unanswered.
  RawNode& flooder = *nodes[0];
  wire::Envelope info;
  info.mutable_round_info_request();
  for (int i = 0; i < 1000; ++i) {
    info.set_request_id(1000 + i);
    flooder.send_only(protocol::encode(info));
  }
  const auto replies = flooder.drain(std::chrono::milliseconds(1500));
  std::size_t served = 0, limited = 0;
  for (const auto& r : replies) {
    served += r.has_round_info();
    limited += r.has_error() && r.error().code() == wire::ERR_RATE_LIMITED;
  }
  EXPECT_GE(served, 150u);
  EXPECT_GE(limited, 100u);
  EXPECT_LT(replies.size(), 1000u) << "a flood must not cost a reply per message";
  expect_others_served();
  EXPECT_TRUE(nodes[4]->upload(1, update_for(4, 2048), 1).has_committed());
}

TEST(Server, UploadAfterTheDeadlineIsRefused) {
  ServerSetup setup(3, 2048);
  setup.config.upload_window = std::chrono::milliseconds(800);
  setup.config.rounds = 1;
  server::Server srv(setup.config);
  srv.start();
  zmq::context_t ctx;
  RawNode early(ctx, setup.config, srv.curve_public_key(), node_key(0));
  RawNode late(ctx, setup.config, srv.curve_public_key(), node_key(1));
  ASSERT_TRUE(early.register_node().has_registered());
  ASSERT_TRUE(late.register_node().has_registered());
  ASSERT_TRUE(early.upload(1, update_for(0, 2048), 1).has_committed());
  ASSERT_TRUE(eventually([&] { return srv.snapshot().stage != wire::STAGE_UPLOADING; },
                         std::chrono::seconds(10)));
  EXPECT_TRUE(is_error(late.begin(1, 2048), wire::ERR_DEADLINE));
  srv.stop();
}

}  // namespace
}  // namespace murmur::test
