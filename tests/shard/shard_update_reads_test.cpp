// Update reads in a shard set (docs/sharding.md, "Update reads by part"): the coordinator lists a
// round's committed updates (what the shards published: address, whole-update hash, samples,
// signature) and holds no bytes; shard k serves its part of each update, only once uploads have
// closed, only its own range, with the split commitment the proposer uploaded the part with; a
// voter's client::fetch_split_update reads every part, checks each against the signed hash and
// returns the whole update, bit for bit the one uploaded. A part altered on a shard's disk is
// refused naming that shard.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iostream>

#include "murmur/client/shard_upload.hpp"
#include "murmur/client/split_update_fetch.hpp"
#include "murmur/protocol/integrity.hpp"
#include "shard_set.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Node i's update as uploaded (f32 bytes).
std::vector<std::uint8_t> update_bytes(std::size_t i, std::uint64_t parameters) {
  const std::vector<float> v = node_update(i, parameters);
  std::vector<std::uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

/// `what` throws a client::ServerError with `code`.
template <typename F>
void expect_refused(F&& what, wire::ErrorCode code, const char* label) {
  try {
    what();
    ADD_FAILURE() << label << ": not refused";
  } catch (const client::ServerError& e) {
    EXPECT_EQ(e.code(), code) << label << ": " << e.what();
  }
}

TEST(ShardUpdateReads, AVoterReadsEveryUpdateByPartsBitForBit) {
  TempDir dir("shard-update-reads");
  ShardTask task;
  task.nodes = 8;
  task.parameters = 3 * 4096 + 1000;  // the last range ragged
  task.proposer_bps = 5000;           // the local seed of task 7, round 1: proposers and voters
  task.quorum = 1;
  task.vote_quorum = 1;
  task.vote_seconds = 120;    // the vote ends when every voter voted
  task.upload_seconds = 300;  // the uploads end when every proposer committed, never before
  ShardSetFixture set(dir.path(), 2, task, /*single=*/false);
  set.start_all();
  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto domain = set.domain();

  struct Node {
    std::optional<chain::PrivateKey> key;
    std::unique_ptr<client::NodeClient> coordinator;
    std::vector<std::unique_ptr<client::NodeClient>> own;
    std::vector<client::NodeClient*> shards;
    wire::Role role = wire::ROLE_UNSPECIFIED;
  };
  std::vector<Node> nodes(task.nodes);
  std::vector<std::size_t> proposers;
  Node* voter = nullptr;
  for (std::size_t i = 0; i < task.nodes; ++i) {
    Node& n = nodes[i];
    n.key.emplace(client::derive_node_key(kShardKeySeed, i));
    n.coordinator = std::make_unique<client::NodeClient>(set.options(set.coordinator(), ctx));
    n.coordinator->register_node(*n.key, 31337);
    for (std::size_t k = 0; k < set.shards(); ++k) {
      n.own.push_back(std::make_unique<client::NodeClient>(set.options(set.shard(k), ctx)));
      n.own.back()->register_node(*n.key, 31337);
      n.shards.push_back(n.own.back().get());
    }
    n.role = n.coordinator->round_info().role();
    if (n.role == wire::ROLE_PROPOSER) proposers.push_back(i);
    if (n.role == wire::ROLE_VOTER) voter = &n;
  }
  // The draw is the local seed of round 1 (fixed, the same every run): both roles filled.
  ASSERT_GE(proposers.size(), 2u);
  ASSERT_NE(voter, nullptr);

  // The shards' boundaries (bytes), as the node's split put them.
  std::vector<std::uint64_t> bounds{0};
  for (std::size_t k = 0; k < set.shards(); ++k)
    bounds.push_back(bounds.back() + voter->own[k]->round_info().parameters() * 4);
  ASSERT_EQ(bounds.back(), task.parameters * 4);

  // The first proposer uploads; the round still takes updates, so nobody reads its parts yet:
  // not a voter on a shard's round endpoint, not anyone on its registration endpoint.
  const auto upload = [&](std::size_t i) {
    Node& n = nodes[i];
    client::upload_split(n.shards, 7, 1, node_update(i, task.parameters), 1 + i % 3,
                         {&*n.key, domain});
  };
  upload(proposers[0]);
  client::RoundUpdate early;
  early.proposer = nodes[proposers[0]].key->address();
  early.update_hash = protocol::update_hash(update_bytes(proposers[0], task.parameters));
  early.total_bytes = task.parameters * 4;
  early.num_samples = 1 + proposers[0] % 3;
  expect_refused([&] { voter->own[0]->fetch_update_part(7, 1, early, bounds[0], bounds[1]); },
                 wire::ERR_WRONG_STAGE, "a voter's read while uploading");
  expect_refused([&] { voter->own[0]->public_update_bytes(7, 1, early, task.chunk_bytes); },
                 wire::ERR_WRONG_STAGE, "a public read while uploading");

  std::vector<std::string> failures(proposers.size());
  std::vector<std::thread> uploads;
  for (std::size_t p = 1; p < proposers.size(); ++p)
    uploads.emplace_back([&, p] {
      try {
        upload(proposers[p]);
      } catch (const std::exception& e) {
        failures[p] = e.what();
      }
    });
  for (auto& t : uploads) t.join();
  for (const auto& f : failures) ASSERT_EQ(f, "");

  const auto voting = [](const wire::RoundInfo& i) { return i.stage() == wire::STAGE_VOTING; };
  ASSERT_EQ(wait_round(*voter->coordinator, voting).stage(), wire::STAGE_VOTING)
      << set.coordinator().process->log_text();
  for (std::size_t k = 0; k < set.shards(); ++k)
    ASSERT_EQ(wait_round(*voter->own[k], voting).stage(), wire::STAGE_VOTING)
        << set.shard(k).process->log_text();

  // The list is the coordinator's: every proposer's signed Update, in address order.
  const client::RoundUpdates list = voter->coordinator->round_updates(7, 1, domain);
  ASSERT_EQ(list.updates.size(), proposers.size());
  for (const client::RoundUpdate& u : list.updates) {
    std::size_t i = task.nodes;
    for (std::size_t p : proposers)
      if (nodes[p].key->address() == u.proposer) i = p;
    ASSERT_LT(i, task.nodes) << u.proposer.to_checksum();
    const std::vector<std::uint8_t> want = update_bytes(i, task.parameters);
    EXPECT_EQ(chain::to_hex(u.update_hash), chain::to_hex(protocol::update_hash(want)));
    EXPECT_EQ(u.total_bytes, want.size());
    EXPECT_TRUE(u.included);
    // Read by parts from the shards, each checked: the uploaded update bit for bit.
    const std::vector<std::uint8_t> got = client::fetch_split_update_bytes(voter->shards, 7, 1, u);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size()), 0) << "node " << i;
  }
  const client::RoundUpdate& first = list.updates.front();
  // Each member serves its half only: the coordinator no bytes, a shard no list, and a shard
  // only its own range (offsets in the whole update).
  expect_refused([&] { voter->coordinator->fetch_update_bytes(7, 1, first); }, wire::ERR_NOT_FOUND,
                 "bytes from the coordinator");
  expect_refused([&] { voter->own[0]->round_updates(7, 1, domain); }, wire::ERR_NOT_FOUND,
                 "the list from a shard");
  expect_refused([&] { voter->own[0]->fetch_update_part(7, 1, first, bounds[1], bounds[2]); },
                 wire::ERR_OUT_OF_RANGE, "shard 1's range from shard 0");
  expect_refused([&] { voter->own[1]->fetch_update_part(7, 1, first, bounds[0], bounds[1]); },
                 wire::ERR_OUT_OF_RANGE, "shard 0's range from shard 1");
  // A proposer is no reader of the round's updates (the single murmurd's rule).
  expect_refused(
      [&] { nodes[proposers[0]].own[0]->fetch_update_part(7, 1, first, bounds[0], bounds[1]); },
      wire::ERR_NOT_VOTER, "a proposer's read");

  // One byte of shard 1's part of the first update altered on its disk: the read names shard 1.
  {
    std::filesystem::path part;
    const std::string prefix = first.proposer.to_lower_hex() + "-";
    for (const auto& e :
         std::filesystem::directory_iterator(set.shard(1).data_dir / "spool" / "r1"))
      if (e.path().filename().string().rfind(prefix, 0) == 0 && e.path().extension() == ".bin")
        part = e.path();
    ASSERT_FALSE(part.empty());
    std::fstream f(part, std::ios::in | std::ios::out | std::ios::binary);
    char c = 0;
    f.seekg(100);
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(100);
    f.write(&c, 1);
  }
  try {
    client::fetch_split_update_bytes(voter->shards, 7, 1, first);
    ADD_FAILURE() << "an altered part was accepted";
  } catch (const client::PartMismatchError& e) {
    EXPECT_EQ(e.shard(), 1u) << e.what();
    EXPECT_EQ(e.code(), wire::ERR_HASH_MISMATCH) << e.what();
    std::cout << "[ shards   ] " << e.what() << "\n";
  }

  // Anyone reads the list from the coordinator's registration endpoint once uploads closed.
  client::NodeClient stranger(set.options(set.coordinator(), ctx));
  const client::RoundUpdates open = stranger.public_round_updates(7, 1);
  ASSERT_EQ(open.updates.size(), proposers.size());
  EXPECT_EQ(chain::to_hex(open.updates[0].update_hash), chain::to_hex(first.update_hash));
}

}  // namespace
}  // namespace murmur::testing
