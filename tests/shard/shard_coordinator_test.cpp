// A shard set's coordinator owns the round (docs/sharding.md, "The coordinator"): nodes register
// with it and learn their role from it, proposers upload their parts to the shards, voters vote
// at the coordinator (a shard refuses a vote), the coordinator assembles the whole candidate from
// the shards' parts, scores it with [validation] and tallies the votes. Compared with a single
// murmurd given the same configuration, the same updates and the same votes: the same roles, the
// same model hash (the keccak-256 of the whole model's f32 bytes, what finalizeRound posts), the
// same model bit for bit (FedAvg), the same rows, and validation figures within kValidationTol.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "murmur/chain/keccak.hpp"
#include "murmur/client/shard_upload.hpp"
#include "murmur/model/labelled_set.hpp"
#include "murmur/model/labelled_tensor_file.hpp"
#include "shard_set.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

/// The validation figures go through GEMMs (the single murmurd scores the previous model in a
/// batch with the updates; the coordinator alone): equal up to the summation order, so relative
/// 1e-4 of the figure (or 1e-6 absolute).
constexpr double kValidationTol = 1e-4;

chain::Hash32 hash_of(const std::string& bytes) {
  chain::Hash32 h{};
  if (bytes.size() == 32) std::memcpy(h.data(), bytes.data(), 32);
  return h;
}

void expect_close(const json& got, const json& want, const char* what) {
  ASSERT_TRUE(got.is_number()) << what << ": " << got.dump();
  ASSERT_TRUE(want.is_number()) << what << ": " << want.dump();
  const double g = got.get<double>(), w = want.get<double>();
  EXPECT_LE(std::abs(g - w), std::max(1e-6, kValidationTol * std::abs(w)))
      << what << ": coordinator " << g << ", single murmurd " << w;
}

TEST(ShardCoordinator, OwnsRolesVotesAndValidationLikeASingleMurmurd) {
  TempDir dir("shard-coordinator");
  ShardTask task;
  task.nodes = 8;
  task.parameters = 256 * 32 + 32 + 32 * 10 + 10;  // MLP 256-32-10: 8554, three units of 4096
  task.proposer_bps = 5000;
  task.quorum = 1;
  task.vote_quorum = 1;
  task.vote_seconds = 120;  // the vote ends when every voter voted
  {
    model::LabelledSet set;
    set.example_dims = {256};
    set.classes = 10;
    std::uint64_t s = 0x5EED;
    for (int r = 0; r < 64; ++r) {
      for (int c = 0; c < 256; ++c) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        set.features.push_back(static_cast<float>(s % 1000) / 1000.0f);
      }
      set.labels.push_back(r % 10);
    }
    model::write_labelled_tensors(dir.path() / "set.mlt", set);
  }
  task.coordinator_tables = "[validation]\nmlp = [256, 32, 10]\nlabelled_tensors = \"" +
                            (dir.path() / "set.mlt").string() + "\"\nmax_batch = 8\n";
  ShardSetFixture set(dir.path(), 2, task, /*single=*/true);
  set.start_all();
  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto domain = set.domain();

  // Every node registers with the coordinator, each shard and the single murmurd; its role is
  // the coordinator's, and the single murmurd (same task, same local seed) draws the same.
  struct Node {
    std::optional<chain::PrivateKey> key;
    std::unique_ptr<client::NodeClient> coordinator, single;
    std::vector<std::unique_ptr<client::NodeClient>> own;
    std::vector<client::NodeClient*> shards;
    wire::Role role = wire::ROLE_UNSPECIFIED;
  };
  std::vector<Node> nodes(task.nodes);
  std::size_t proposers = 0;
  for (std::size_t i = 0; i < task.nodes; ++i) {
    Node& n = nodes[i];
    n.key.emplace(client::derive_node_key(kShardKeySeed, i));
    n.coordinator = std::make_unique<client::NodeClient>(set.options(set.coordinator(), ctx));
    n.coordinator->register_node(*n.key, 31337);
    n.single = std::make_unique<client::NodeClient>(set.options(*set.single(), ctx));
    n.single->register_node(*n.key, 31337);
    for (std::size_t k = 0; k < set.shards(); ++k) {
      n.own.push_back(std::make_unique<client::NodeClient>(set.options(set.shard(k), ctx)));
      n.own.back()->register_node(*n.key, 31337);
      n.shards.push_back(n.own.back().get());
    }
    n.role = n.coordinator->round_info().role();
    ASSERT_EQ(n.role, n.single->round_info().role()) << "node " << i;
    proposers += n.role == wire::ROLE_PROPOSER;
  }
  // The draw is the task's local seed for round 1 (fixed): it must leave both roles filled.
  ASSERT_GE(proposers, 1u);
  ASSERT_LT(proposers, task.nodes);
  std::cout << "[ shards   ] " << proposers << " proposers, " << task.nodes - proposers
            << " voters\n";

  // The coordinator takes no update bytes.
  {
    const std::vector<float> update(task.parameters, 0.0f);
    for (auto& n : nodes)
      if (n.role == wire::ROLE_PROPOSER) {
        try {
          n.coordinator->upload_update(7, 1, update, wire::DTYPE_F32, 1, {&*n.key, domain});
          ADD_FAILURE() << "the coordinator took an upload";
        } catch (const client::ServerError& e) {
          EXPECT_EQ(e.code(), wire::ERR_WRONG_STAGE) << e.what();
        }
        break;
      }
  }

  std::vector<std::string> failures(task.nodes);
  std::vector<std::thread> uploads;
  for (std::size_t i = 0; i < task.nodes; ++i)
    if (nodes[i].role == wire::ROLE_PROPOSER)
      uploads.emplace_back([&, i] {
        try {
          std::vector<float> update = node_update(i, task.parameters);
          for (float& x : update) x *= 0.01f;
          const std::uint64_t samples = 1 + i % 3;
          Node& n = nodes[i];
          client::upload_split(n.shards, 7, 1, update, samples, {&*n.key, domain});
          n.single->upload_update(7, 1, update, wire::DTYPE_F32, samples, {&*n.key, domain});
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
      });
  for (auto& t : uploads) t.join();
  for (std::size_t i = 0; i < task.nodes; ++i) ASSERT_EQ(failures[i], "") << "node " << i;

  // Both reach the vote; the voters vote +1 on each one's candidate.
  const auto voting = [](const wire::RoundInfo& i) { return i.stage() == wire::STAGE_VOTING; };
  const Node* voter = nullptr;
  for (const auto& n : nodes)
    if (n.role == wire::ROLE_VOTER) voter = &n;
  const wire::RoundInfo c_info = wait_round(*voter->coordinator, voting);
  ASSERT_EQ(c_info.stage(), wire::STAGE_VOTING) << set.coordinator().process->log_text();
  const wire::RoundInfo s_info = wait_round(*voter->single, voting);
  ASSERT_EQ(s_info.stage(), wire::STAGE_VOTING) << set.single()->process->log_text();
  const chain::Hash32 c_candidate = hash_of(c_info.candidate_model_hash());
  const chain::Hash32 s_candidate = hash_of(s_info.candidate_model_hash());
  // The whole model's hash: what a single murmurd computes (and would post on chain).
  EXPECT_EQ(chain::to_hex(c_candidate), chain::to_hex(s_candidate));
  // A voter reads the candidate by range from the shards before it votes (the vote ends only
  // when every voter voted): each shard names its candidate part while voting, and the parts
  // concatenated hash to the coordinator's candidate.
  {
    std::vector<float> parts;
    for (std::size_t k = 0; k < set.shards(); ++k) {
      const wire::RoundInfo info = wait_round(*voter->own[k], voting);
      ASSERT_EQ(info.stage(), wire::STAGE_VOTING) << set.shard(k).process->log_text();
      const auto part = voter->own[k]->fetch_model(hash_of(info.candidate_model_hash()));
      parts.insert(parts.end(), part.begin(), part.end());
    }
    ASSERT_EQ(parts.size(), task.parameters);
    EXPECT_EQ(chain::to_hex(chain::keccak256(
                  {reinterpret_cast<const std::uint8_t*>(parts.data()), parts.size() * 4})),
              chain::to_hex(c_candidate));
  }
  // A shard takes no vote.
  try {
    voter->own[0]->vote(7, 1, c_candidate, 1, 0.5, {&*voter->key, domain});
    ADD_FAILURE() << "shard 0 took a vote";
  } catch (const client::ServerError& e) {
    EXPECT_EQ(e.code(), wire::ERR_WRONG_STAGE) << e.what();
  }
  for (auto& n : nodes)
    if (n.role == wire::ROLE_VOTER) {
      n.coordinator->vote(7, 1, c_candidate, 1, 0.5, {&*n.key, domain});
      n.single->vote(7, 1, s_candidate, 1, 0.5, {&*n.key, domain});
    }

  // Everyone closes the round (rounds = 1) on the accepted candidate.
  const auto closed = [](const wire::RoundInfo& i) { return i.stage() == wire::STAGE_CLOSED; };
  const wire::RoundInfo c_done = wait_round(*voter->coordinator, closed);
  ASSERT_EQ(c_done.stage(), wire::STAGE_CLOSED) << set.coordinator().process->log_text();
  const wire::RoundInfo s_done = wait_round(*voter->single, closed);
  ASSERT_EQ(s_done.stage(), wire::STAGE_CLOSED);
  for (std::size_t k = 0; k < set.shards(); ++k)
    ASSERT_EQ(wait_round(*voter->own[k], closed).stage(), wire::STAGE_CLOSED)
        << set.shard(k).process->log_text();
  EXPECT_EQ(chain::to_hex(hash_of(c_done.global_model_hash())), chain::to_hex(c_candidate));
  EXPECT_EQ(chain::to_hex(hash_of(s_done.global_model_hash())), chain::to_hex(s_candidate));
  const std::vector<float> want = voter->single->fetch_model(s_candidate);
  const std::vector<float> got = client::fetch_split_model(voter->shards);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0);
  // The coordinator serves the whole model too, under the same hash.
  const std::vector<float> whole = voter->coordinator->fetch_model(c_candidate);
  ASSERT_EQ(whole.size(), want.size());
  EXPECT_EQ(std::memcmp(whole.data(), want.data(), want.size() * 4), 0);

  const json c_rec = json::parse(server::round_records_json(set.coordinator().data_dir, 1))[0];
  const json s_rec = json::parse(server::round_records_json(set.single()->data_dir, 1))[0];
  EXPECT_EQ(c_rec["outcome"], "accepted") << c_rec.dump();
  EXPECT_EQ(s_rec["outcome"], "accepted") << s_rec.dump();
  EXPECT_EQ(c_rec["votes"], task.nodes - proposers);
  EXPECT_EQ(c_rec["votes"], s_rec["votes"]);
  EXPECT_EQ(c_rec["candidate_model"], s_rec["candidate_model"]);
  ASSERT_EQ(c_rec["update_rows"].size(), proposers) << c_rec.dump();
  ASSERT_EQ(s_rec["update_rows"].size(), proposers);
  for (std::size_t r = 0; r < proposers; ++r) {
    EXPECT_EQ(c_rec["update_rows"][r]["address"], s_rec["update_rows"][r]["address"]);
    EXPECT_EQ(c_rec["update_rows"][r]["verdict"], s_rec["update_rows"][r]["verdict"]);
  }
  ASSERT_TRUE(c_rec.contains("validation")) << c_rec.dump();
  ASSERT_TRUE(s_rec.contains("validation")) << s_rec.dump();
  const json& cv = c_rec["validation"];
  const json& sv = s_rec["validation"];
  std::cout << "[ shards   ] validation, coordinator / single: previous loss "
            << cv["previous_loss"] << " / " << sv["previous_loss"] << ", candidate loss "
            << cv["candidate_loss"] << " / " << sv["candidate_loss"] << ", accuracy "
            << cv["candidate_accuracy"] << " / " << sv["candidate_accuracy"] << "\n";
  expect_close(cv["previous_loss"], sv["previous_loss"], "previous_loss");
  expect_close(cv["previous_accuracy"], sv["previous_accuracy"], "previous_accuracy");
  expect_close(cv["candidate_loss"], sv["candidate_loss"], "candidate_loss");
  expect_close(cv["candidate_accuracy"], sv["candidate_accuracy"], "candidate_accuracy");
  EXPECT_EQ(cv["candidate_status"], sv["candidate_status"]);

  // The shards adopted the coordinator's decision.
  for (std::size_t k = 0; k < set.shards(); ++k) {
    const json rec = json::parse(server::round_records_json(set.shard(k).data_dir, 1))[0];
    EXPECT_EQ(rec["outcome"], "accepted") << rec.dump();
    EXPECT_NE(rec["reason"].get<std::string>().find("coordinator: accepted"), std::string::npos)
        << rec.dump();
  }
}

}  // namespace
}  // namespace murmur::testing
