// server.spool_keep_rounds: murmurd deletes the spooled updates of rounds older than the last K
// ended ones when a round opens, keeps the rest byte for byte, and a restart on the pruned
// data_dir resumes and goes on pruning. And Spool::prune_rounds_before on its own: the rounds
// a caller keeps (a pending chain posting) stay, the descriptors of deleted files are closed.
#include <fcntl.h>

#include <algorithm>

#include "murmur/server/state_view.hpp"
#include "server_fixture.hpp"
#include "spool.hpp"

namespace murmur::test {
namespace {

constexpr std::uint64_t kD = 1000;

std::vector<float> update_for(std::size_t node, std::uint64_t round) {
  std::vector<float> v(kD);
  for (std::size_t j = 0; j < kD; ++j)
    v[j] = static_cast<float>((node * 131 + round * 17 + j * 7) % 97) / 97.0f - 0.5f;
  return v;
}

/// The round folders under data_dir/spool, ascending.
std::vector<std::uint64_t> spool_rounds(const std::filesystem::path& data_dir) {
  std::vector<std::uint64_t> out;
  for (const auto& e : std::filesystem::directory_iterator(data_dir / "spool")) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name[0], 'r') << name;
    out.push_back(std::stoull(name.substr(1)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string hash_hex(std::span<const std::uint8_t> bytes) {
  return chain::to_hex(protocol::update_hash(bytes), false);
}

/// The update hash of every spool file of `round`, sorted (one file per committed update here).
std::vector<std::string> spool_files(const std::filesystem::path& data_dir, std::uint64_t round) {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::directory_iterator(data_dir / "spool" / ("r" + std::to_string(round)))) {
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<std::uint8_t> bytes(std::istreambuf_iterator<char>(in),
                                          std::istreambuf_iterator<char>{});
    out.push_back(hash_hex(bytes));
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The update hashes of what the nodes sent in `round`, sorted.
std::vector<std::string> sent_in(std::uint64_t round, std::size_t nodes) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < nodes; ++i) {
    const auto v = update_for(i, round);
    out.push_back(hash_hex(bytes_of(v)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Both nodes upload their update of the server's current round; with every node a proposer
/// and no voter the round then ends by itself. Returns the round uploaded.
std::uint64_t run_round(server::Server& srv, std::vector<std::unique_ptr<RawNode>>& nodes) {
  const std::uint64_t round = srv.snapshot().round;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto reply = nodes[i]->upload(round, update_for(i, round), 10);
    EXPECT_TRUE(reply.has_committed()) << "round " << round << ": " << reply.ShortDebugString();
  }
  EXPECT_TRUE(eventually([&] { return srv.snapshot().round == round + 1; }))
      << "round " << round << " did not end";
  return round;
}

TEST(SpoolRetention, OnlyTheLastKRoundsStayAndARestartGoesOn) {
  constexpr std::uint64_t kKeep = 2;
  ServerSetup setup(2, kD);
  setup.config.spool_keep_rounds = kKeep;
  setup.config.rounds = kKeep + 5;
  setup.config.quorum = 2;
  const auto data = setup.config.data_dir;
  {
    server::Server srv(setup.config);
    srv.start();
    zmq::context_t ctx;
    std::vector<std::unique_ptr<RawNode>> nodes;
    for (std::size_t i = 0; i < 2; ++i) {
      nodes.push_back(
          std::make_unique<RawNode>(ctx, setup.config, srv.curve_public_key(), node_key(i)));
      ASSERT_TRUE(nodes.back()->register_node().has_registered());
    }
    for (std::uint64_t r = 1; r <= kKeep + 3; ++r) ASSERT_EQ(run_round(srv, nodes), r);
    ASSERT_EQ(srv.snapshot().round, kKeep + 4);
    srv.stop();
  }
  // Rounds 1 .. K+3 ended and round K+4 is open: the spool holds the last K ended rounds only,
  // each file the bytes its node sent.
  EXPECT_EQ(spool_rounds(data), (std::vector<std::uint64_t>{kKeep + 2, kKeep + 3}));
  for (const std::uint64_t r : {kKeep + 2, kKeep + 3})
    EXPECT_EQ(spool_files(data, r), sent_in(r, 2)) << "round " << r;
  {
    // The round records of the pruned rounds stay in state.db.
    const server::StateView view(data);
    for (std::uint64_t r = 1; r <= kKeep + 3; ++r) {
      const auto rec = view.round_record(r);
      ASSERT_TRUE(rec && rec->decision) << "round " << r;
      EXPECT_EQ(rec->update_count, 2u) << "round " << r;
    }
  }
  // A restart on the pruned data_dir resumes round K+4; its end prunes round K+2.
  server::Server srv(setup.config);
  srv.start();
  zmq::context_t ctx;
  std::vector<std::unique_ptr<RawNode>> nodes;
  for (std::size_t i = 0; i < 2; ++i) {
    nodes.push_back(
        std::make_unique<RawNode>(ctx, setup.config, srv.curve_public_key(), node_key(i)));
    ASSERT_TRUE(nodes.back()->register_node().has_registered());
  }
  ASSERT_EQ(srv.snapshot().round, kKeep + 4);
  ASSERT_EQ(run_round(srv, nodes), kKeep + 4);
  ASSERT_EQ(srv.snapshot().round, kKeep + 5);
  EXPECT_NE(srv.snapshot().last_outcome.find("accepted"), std::string::npos)
      << srv.snapshot().last_outcome;
  srv.stop();
  EXPECT_EQ(spool_rounds(data), (std::vector<std::uint64_t>{kKeep + 3, kKeep + 4}));
  for (const std::uint64_t r : {kKeep + 3, kKeep + 4})
    EXPECT_EQ(spool_files(data, r), sent_in(r, 2)) << "round " << r;
}

TEST(SpoolRetention, ZeroKeepsEveryRound) {
  ServerSetup setup(2, kD);
  setup.config.spool_keep_rounds = 0;
  setup.config.rounds = 5;
  setup.config.quorum = 2;
  server::Server srv(setup.config);
  srv.start();
  zmq::context_t ctx;
  std::vector<std::unique_ptr<RawNode>> nodes;
  for (std::size_t i = 0; i < 2; ++i) {
    nodes.push_back(
        std::make_unique<RawNode>(ctx, setup.config, srv.curve_public_key(), node_key(i)));
    ASSERT_TRUE(nodes.back()->register_node().has_registered());
  }
  for (std::uint64_t r = 1; r <= 4; ++r) ASSERT_EQ(run_round(srv, nodes), r);
  srv.stop();
  EXPECT_EQ(spool_rounds(setup.config.data_dir), (std::vector<std::uint64_t>{1, 2, 3, 4}));
}

std::size_t open_descriptors() {
  return static_cast<std::size_t>(
      std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {}));
}

TEST(SpoolRetention, PruneKeepsWhatTheCallerNeedsAndClosesDescriptors) {
  const ServerSetup setup(0, 1);
  const std::size_t before = open_descriptors();
  {
    server::Spool spool(setup.config.data_dir);
    const std::vector<std::uint8_t> bytes(4096, 7);
    for (std::uint64_t r = 1; r <= 5; ++r) {
      server::Upload u;
      u.round = r;
      u.address = node_key(0).address();
      u.id = r;
      spool.write_synced(u, spool.open_upload(u), 0, bytes);
    }
    EXPECT_GT(open_descriptors(), before);
    EXPECT_EQ(spool.spooled_rounds(), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
    // Round 2's posting is pending (the caller keeps it); rounds 4 and 5 are not before 4.
    const auto pruned = spool.prune_rounds_before(4, [](std::uint64_t r) { return r == 2; });
    EXPECT_EQ(pruned, (std::vector<std::uint64_t>{1, 3}));
    EXPECT_EQ(spool.spooled_rounds(), (std::vector<std::uint64_t>{2, 4, 5}));
    EXPECT_EQ(spool_rounds(setup.config.data_dir), (std::vector<std::uint64_t>{2, 4, 5}));
    // Once round 2 is released it goes too; a second call finds nothing more.
    EXPECT_EQ(spool.prune_rounds_before(4, [](std::uint64_t) { return false; }),
              (std::vector<std::uint64_t>{2}));
    EXPECT_TRUE(spool.prune_rounds_before(4, [](std::uint64_t) { return false; }).empty());
    // The descriptors of the deleted files were closed: only rounds 4 and 5 hold theirs.
    const std::size_t held = open_descriptors() - before;
    EXPECT_LE(held, 4u);  // two per file (buffered, O_DIRECT where the file system has it)
    EXPECT_GE(held, 2u);
    // close_rounds_before closes round 4's descriptors and keeps its file: only round 5's stay.
    spool.close_rounds_before(5);
    const std::size_t after_close = open_descriptors() - before;
    EXPECT_LE(after_close, 2u);
    EXPECT_GE(after_close, 1u);
    EXPECT_LT(after_close, held);
    EXPECT_EQ(spool.spooled_rounds(), (std::vector<std::uint64_t>{4, 5}));
  }
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace
}  // namespace murmur::test
