// A voter's read of the round's committed updates over the wire (UpdateListRequest, UpdateRequest;
// issue 16, "voters vote on evidence"), against a real murmurd in process on loopback: a voter
// of the round is served each proposer's signed Update and bytes equal to what the proposer
// uploaded (BLAKE3 hash of the bytes = the signed update hash, the signature recovers to the
// proposer), in ranges smaller than an update; a proposer is refused ERR_NOT_VOTER, a request
// before VOTING ERR_WRONG_STAGE, another round ERR_WRONG_ROUND, another task ERR_WRONG_TASK, a
// range past the end ERR_OUT_OF_RANGE, a range over the chunk size ERR_TOO_LARGE, an address with
// no update ERR_NOT_FOUND; murmurd keeps serving after each.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "murmur/chain/consensus.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/server/server.hpp"
#include "network.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kNodes = 8;
constexpr std::uint64_t kParameters = 3000;  // 12,000 bytes in f32: three 4 KiB ranges

using murmur::server::local_seed;  // murmurd's round seed without [chain]

/// The code of the ServerError `f` throws (ERR_UNSPECIFIED when it throws none).
template <class F>
wire::ErrorCode refusal(F&& f) {
  try {
    f();
  } catch (const client::ServerError& e) {
    return e.code();
  }
  return wire::ERR_UNSPECIFIED;
}

wire::Envelope list_request(std::uint64_t task, std::uint64_t round, std::uint32_t first = 0) {
  wire::Envelope e;
  auto* q = e.mutable_update_list_request();
  q->set_task_id(task);
  q->set_round(round);
  q->set_first(first);
  return e;
}

wire::Envelope range_request(std::uint64_t task, std::uint64_t round, const chain::Address& who,
                             std::uint64_t offset, std::uint64_t length) {
  wire::Envelope e;
  auto* q = e.mutable_update_request();
  q->set_task_id(task);
  q->set_round(round);
  q->set_proposer(who.bytes.data(), who.bytes.size());
  q->set_offset(offset);
  q->set_length(length);
  return e;
}

TEST(UpdateReads, AVoterIsServedTheSignedUpdatesAndEveryoneElseATypedRefusal) {
  TempDir dir("murmur-update-reads");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.proposer_bps = 5000;
  cfg.chunk_bytes = 4096;
  cfg.vote_window = 120s;  // VOTING outlasts the test; nobody votes
  // The roles follow from the local seed; the first task id (from 7 on) that gives this fixed
  // set of keys at least two proposers and two voters (decided here, before murmurd starts).
  std::vector<std::size_t> proposers, voters;
  for (cfg.task_id = 7;; ++cfg.task_id) {
    proposers.clear();
    voters.clear();
    for (std::size_t i = 0; i < kNodes; ++i)
      (chain::is_proposer(local_seed(cfg.task_id, 1),
                          client::derive_node_key(kKeySeed, i).address(), cfg.proposer_bps)
           ? proposers
           : voters)
          .push_back(i);
    if (proposers.size() >= 2 && voters.size() >= 2) break;
  }
  cfg.quorum = proposers.size();
  server::Server srv(cfg);
  srv.start();
  const std::string key = srv.curve_public_key();
  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  std::vector<std::unique_ptr<client::NodeClient>> clients;
  for (std::size_t i = 0; i < kNodes; ++i) {
    clients.push_back(std::make_unique<client::NodeClient>(client_options(cfg, key)));
    clients[i]->register_node(client::derive_node_key(kKeySeed, i), cfg.chain_id);
    EXPECT_EQ(clients[i]->round_info().role(),
              std::find(proposers.begin(), proposers.end(), i) != proposers.end()
                  ? wire::ROLE_PROPOSER
                  : wire::ROLE_VOTER)
        << "node " << i;
  }
  client::NodeClient& voter = *clients[voters[0]];
  const std::uint64_t task = cfg.task_id;

  // Before VOTING: early.
  EXPECT_EQ(refusal([&] {
              voter.exchange(list_request(task, 1), wire::Envelope::kUpdateList, "UpdateList");
            }),
            wire::ERR_WRONG_STAGE);

  // The proposers upload: the first in f32, the others in bf16 (the bytes served are as uploaded).
  std::map<chain::Address, std::size_t> node_of;
  std::map<chain::Address, client::UploadResult> uploaded;
  for (std::size_t k = 0; k < proposers.size(); ++k) {
    const std::size_t i = proposers[k];
    const auto chain_key = client::derive_node_key(kKeySeed, i);
    const client::SyntheticUpdate u(kKeySeed, i, kParameters,
                                    k == 0 ? wire::DTYPE_F32 : wire::DTYPE_BF16);
    uploaded[chain_key.address()] =
        clients[i]->upload_update(task, 1, u, 10 + i, {&chain_key, domain});
    node_of[chain_key.address()] = i;
  }
  const auto voting = wait_for_stage(srv, wire::STAGE_VOTING, 30s);
  ASSERT_EQ(voting.stage, wire::STAGE_VOTING) << voting.last_outcome;

  // The voter: the list, then each update's bytes in ranges.
  const client::RoundUpdates listed = voter.round_updates(task, 1, domain);
  const auto info = voter.round_info();
  EXPECT_EQ(std::string(listed.candidate.begin(), listed.candidate.end()),
            info.candidate_model_hash());
  ASSERT_EQ(listed.updates.size(), proposers.size());
  for (std::size_t k = 0; k < listed.updates.size(); ++k) {
    const client::RoundUpdate& u = listed.updates[k];
    if (k > 0) {
      EXPECT_LT(listed.updates[k - 1].proposer, u.proposer) << "sorted by address";
    }
    ASSERT_TRUE(node_of.count(u.proposer)) << u.proposer.to_checksum() << " is no proposer";
    const std::size_t i = node_of[u.proposer];
    const auto& up = uploaded[u.proposer];
    EXPECT_EQ(u.update_hash, up.update_hash);
    EXPECT_EQ(u.total_bytes, up.total_bytes);
    EXPECT_EQ(u.num_samples, 10 + i);
    EXPECT_TRUE(u.included) << "a weighted mean leaves nobody out";
    // The Update signature is the proposer's (round_updates checks it too; here it is checked
    // again, independently).
    const chain::UpdateMessage m{chain::U256(task), chain::U256(1), u.update_hash,
                                 chain::U256(u.num_samples)};
    EXPECT_EQ(protocol::signer(chain::update_digest(domain, m), u.signature), u.proposer);
    // The bytes: BLAKE3 = the signed hash, and equal to the bytes the proposer uploaded.
    const auto bytes = voter.fetch_update_bytes(task, 1, u);
    ASSERT_EQ(bytes.size(), u.total_bytes);
    EXPECT_EQ(protocol::update_hash(bytes), u.update_hash);
    const client::SyntheticUpdate source(kKeySeed, i, kParameters, u.dtype);
    std::vector<std::uint8_t> expected(bytes.size());
    source.read(0, expected);
    EXPECT_EQ(bytes, expected) << "node " << i;
    EXPECT_EQ(voter.fetch_update(task, 1, u).size(), kParameters);
  }

  // Refusals, each typed; murmurd goes on serving.
  const client::RoundUpdate& first = listed.updates.front();
  client::NodeClient& proposer = *clients[proposers[0]];
  EXPECT_EQ(refusal([&] { proposer.round_updates(task, 1, domain); }), wire::ERR_NOT_VOTER);
  EXPECT_EQ(refusal([&] { proposer.fetch_update_bytes(task, 1, first); }), wire::ERR_NOT_VOTER);
  EXPECT_EQ(refusal([&] { voter.round_updates(task, 2, domain); }), wire::ERR_WRONG_ROUND);
  EXPECT_EQ(refusal([&] { voter.round_updates(task + 1, 1, domain); }), wire::ERR_WRONG_TASK);
  const auto ask = [&](wire::Envelope e) {
    return refusal([&] { voter.exchange(std::move(e), wire::Envelope::kUpdateChunk, "Update"); });
  };
  EXPECT_EQ(ask(range_request(task, 1, first.proposer, first.total_bytes + 1, 16)),
            wire::ERR_OUT_OF_RANGE);
  EXPECT_EQ(ask(range_request(task, 1, first.proposer, 0, cfg.chunk_bytes + 1)),
            wire::ERR_TOO_LARGE);
  const chain::Address nobody = client::derive_node_key(kKeySeed, voters[1]).address();
  EXPECT_EQ(ask(range_request(task, 1, nobody, 0, 16)), wire::ERR_NOT_FOUND);
  wire::Envelope short_proposer = range_request(task, 1, first.proposer, 0, 16);
  short_proposer.mutable_update_request()->set_proposer("abc");
  EXPECT_EQ(ask(short_proposer), wire::ERR_MALFORMED);
  EXPECT_EQ(refusal([&] {
              voter.exchange(
                  list_request(task, 1, static_cast<std::uint32_t>(proposers.size() + 1)),
                  wire::Envelope::kUpdateList, "UpdateList");
            }),
            wire::ERR_OUT_OF_RANGE);
  // A range at the very end is empty, not refused; one straddling it is cut at the end.
  const auto tail =
      voter.exchange(range_request(task, 1, first.proposer, first.total_bytes - 5, 64),
                     wire::Envelope::kUpdateChunk, "Update");
  EXPECT_EQ(tail.envelope.update_chunk().total(), first.total_bytes);
  EXPECT_EQ(tail.payload.size(), 5u);

  // Still serving: the second voter reads an update after all those refusals.
  client::NodeClient& other = *clients[voters[1]];
  const auto again = other.round_updates(task, 1, domain);
  ASSERT_EQ(again.updates.size(), proposers.size());
  EXPECT_EQ(protocol::update_hash(other.fetch_update_bytes(task, 1, again.updates.back())),
            again.updates.back().update_hash);
  srv.stop();
}

// Anyone's read on the registration endpoint (issue 16: "anyone can recompute a round"): a client
// with a Curve key of its own, never registered and with no stake, is refused while the round takes
// updates (a proposer could otherwise copy another's update) and served once it is VOTING: the
// list with the round's base model, rule and chunk size, each update's bytes as uploaded (in
// several ranges, read off the loop) and the base model; another round or task is refused, typed.
TEST(UpdateReads, AStrangerReadsARoundOnceItsUploadsAreClosed) {
  TempDir dir("murmur-public-reads");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.proposer_bps = 5000;
  cfg.chunk_bytes = 4096;
  cfg.vote_window = 120s;
  std::vector<std::size_t> proposers;
  for (cfg.task_id = 7;; ++cfg.task_id) {
    proposers.clear();
    for (std::size_t i = 0; i < kNodes; ++i)
      if (chain::is_proposer(local_seed(cfg.task_id, 1),
                             client::derive_node_key(kKeySeed, i).address(), cfg.proposer_bps))
        proposers.push_back(i);
    if (proposers.size() >= 2 && proposers.size() < kNodes) break;
  }
  cfg.quorum = proposers.size();
  server::Server srv(cfg);
  srv.start();
  const std::string key = srv.curve_public_key();
  const std::uint64_t task = cfg.task_id;
  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  client::NodeClient stranger(client_options(cfg, key));  // never registers

  EXPECT_EQ(refusal([&] { stranger.public_round_updates(task, 1); }), wire::ERR_WRONG_STAGE);
  std::map<chain::Address, std::size_t> node_of;
  std::map<chain::Address, client::UploadResult> uploaded;
  for (std::size_t k = 0; k < proposers.size(); ++k) {
    const std::size_t i = proposers[k];
    const auto chain_key = client::derive_node_key(kKeySeed, i);
    client::NodeClient nc(client_options(cfg, key));
    nc.register_node(chain_key, cfg.chain_id);
    const client::SyntheticUpdate u(kKeySeed, i, kParameters,
                                    k == 0 ? wire::DTYPE_F32 : wire::DTYPE_BF16);
    uploaded[chain_key.address()] = nc.upload_update(task, 1, u, 10 + i, {&chain_key, domain});
    node_of[chain_key.address()] = i;
    // Still UPLOADING until the last commit: the committed updates stay private meanwhile.
    if (k + 1 < proposers.size()) {
      EXPECT_EQ(refusal([&] { stranger.public_round_updates(task, 1); }), wire::ERR_WRONG_STAGE);
    }
  }
  const auto voting = wait_for_stage(srv, wire::STAGE_VOTING, 30s);
  ASSERT_EQ(voting.stage, wire::STAGE_VOTING) << voting.last_outcome;

  const client::RoundUpdates listed = stranger.public_round_updates(task, 1);
  EXPECT_EQ(listed.candidate, voting.candidate_model);
  EXPECT_EQ(listed.base_model, voting.global_model);
  EXPECT_EQ(listed.rule, kernels::describe(cfg.aggregation));
  EXPECT_EQ(listed.chunk_bytes, cfg.chunk_bytes);
  ASSERT_EQ(listed.updates.size(), proposers.size());
  for (const client::RoundUpdate& u : listed.updates) {
    ASSERT_TRUE(node_of.count(u.proposer)) << u.proposer.to_checksum() << " is no proposer";
    const std::size_t i = node_of[u.proposer];
    EXPECT_EQ(u.update_hash, uploaded[u.proposer].update_hash);
    const chain::UpdateMessage m{chain::U256(task), chain::U256(1), u.update_hash,
                                 chain::U256(u.num_samples)};
    EXPECT_EQ(protocol::signer(chain::update_digest(domain, m), u.signature), u.proposer);
    ASSERT_GT(u.total_bytes, cfg.chunk_bytes) << "more than one range";
    const auto bytes = stranger.public_update_bytes(task, 1, u, listed.chunk_bytes);
    const client::SyntheticUpdate source(kKeySeed, i, kParameters, u.dtype);
    std::vector<std::uint8_t> expected(u.total_bytes);
    source.read(0, expected);
    EXPECT_EQ(bytes, expected) << "node " << i;
  }
  const auto base = stranger.public_model_bytes(listed.base_model, listed.chunk_bytes);
  EXPECT_EQ(chain::keccak256(base), listed.base_model);
  EXPECT_EQ(base.size(), kParameters * 4);
  EXPECT_EQ(refusal([&] { stranger.public_round_updates(task, 2); }), wire::ERR_WRONG_ROUND);
  EXPECT_EQ(refusal([&] { stranger.public_round_updates(task + 1, 1); }), wire::ERR_WRONG_TASK);
  EXPECT_EQ(refusal([&] {
              stranger.public_model_bytes(chain::keccak256(std::string_view("no such model")),
                                          listed.chunk_bytes);
            }),
            wire::ERR_NOT_FOUND);
  // The stranger's key was never bound: the round endpoint's handshake still refuses it, and
  // murmurd's round is untouched (still VOTING on the same candidate).
  const auto after = srv.snapshot();
  EXPECT_EQ(after.stage, wire::STAGE_VOTING);
  EXPECT_EQ(after.candidate_model, voting.candidate_model);
  srv.stop();
}

/// Whether a thread of this process waits in open() of a FIFO that has no writer yet
/// (/proc/self/task/*/wchan is "wait_for_partner"): the reader thread stuck on the "disk".
bool a_thread_waits_on_a_fifo() {
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(t.path() / "wchan");
    std::string w;
    std::getline(in, w);
    if (w == "wait_for_partner") return true;
  }
  return false;
}

// A range read that blocks on the disk holds up nobody else (the reads run on murmurd's reader
// threads, not its event loop). Round 1 ends; in round 2 one of round 1's spool files is replaced
// by a FIFO with no writer, so a stranger's read of it blocks in open() on a reader thread until
// the test opens the FIFO. While it is blocked (checked, not assumed: the thread is seen waiting
// in /proc), every proposer of round 2 uploads and commits. Then the FIFO is opened and closed
// empty: the stranger gets a typed ERR_INTERNAL (the file is shorter than the update) and another
// read of round 1 is served. No verdict depends on timing: the block lasts until the test ends it.
TEST(UpdateReads, AReadBlockedOnTheDiskDoesNotHoldUpTheUploadsOfOthers) {
  constexpr std::size_t kProposers = 3;
  TempDir dir("murmur-read-blocked");
  server::Config cfg = test_config(dir.path() / "data", kProposers, kParameters);
  cfg.chunk_bytes = 4096;
  cfg.rounds = 2;
  cfg.quorum = kProposers;
  cfg.upload_window = 120s;
  server::Server srv(cfg);
  srv.start();
  const std::string key = srv.curve_public_key();
  const std::uint64_t task = cfg.task_id;
  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  std::vector<std::unique_ptr<client::NodeClient>> nodes;
  const auto upload_round = [&](std::uint64_t round) {
    for (std::size_t i = 0; i < kProposers; ++i) {
      const auto chain_key = client::derive_node_key(kKeySeed, i);
      const client::SyntheticUpdate u(kKeySeed + round, i, kParameters, wire::DTYPE_F32);
      nodes[i]->upload_update(task, round, u, 10 + i, {&chain_key, domain});
    }
  };
  for (std::size_t i = 0; i < kProposers; ++i) {
    nodes.push_back(std::make_unique<client::NodeClient>(client_options(cfg, key)));
    nodes[i]->register_node(client::derive_node_key(kKeySeed, i), cfg.chain_id);
  }
  upload_round(1);
  // Every node is a proposer: round 1 is decided as soon as it is aggregated.
  server::RoundSnapshot snap;
  for (int k = 0; k < 600 && !(snap.round == 2 && snap.stage == wire::STAGE_UPLOADING); ++k) {
    std::this_thread::sleep_for(50ms);
    snap = srv.snapshot();
  }
  ASSERT_EQ(snap.round, 2u) << snap.last_outcome;
  ASSERT_EQ(snap.stage, wire::STAGE_UPLOADING);

  client::NodeClient stranger(client_options(cfg, key));
  const client::RoundUpdates listed = stranger.public_round_updates(task, 1);
  ASSERT_EQ(listed.updates.size(), kProposers);
  const client::RoundUpdate& victim = listed.updates.front();
  std::filesystem::path file;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "data" / "spool" / "r1"))
    if (e.path().filename().string().rfind(victim.proposer.to_lower_hex(), 0) == 0) file = e.path();
  ASSERT_FALSE(file.empty());
  std::filesystem::rename(file, file.string() + ".moved");
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0) << std::strerror(errno);

  wire::ErrorCode blocked_code = wire::ERR_UNSPECIFIED;
  std::string blocked_error;
  std::thread blocked([&] {
    try {
      client::ClientOptions o = client_options(cfg, key);
      o.timeout = 120s;  // one request, answered when the test lets the read go on
      o.retries = 0;
      client::NodeClient reader(o);
      reader.public_update_bytes(task, 1, victim, listed.chunk_bytes);
    } catch (const client::ServerError& e) {
      blocked_code = e.code();
    } catch (const std::exception& e) {
      blocked_error = e.what();
    }
  });
  // Whatever fails below, the reader thread is let go (a writer opens the FIFO) before murmurd
  // stops, which joins it.
  struct Release {
    std::filesystem::path fifo;
    std::thread& t;
    ~Release() {
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
      if (t.joinable()) t.join();
    }
  } release{file, blocked};
  bool waiting = false;
  for (int k = 0; k < 1200 && !waiting; ++k) {
    std::this_thread::sleep_for(25ms);
    waiting = a_thread_waits_on_a_fifo();
  }
  EXPECT_TRUE(waiting) << "the read never reached the FIFO";
  // While the read is blocked: round 2's uploads and commits, and a status, all answered.
  upload_round(2);
  EXPECT_EQ(nodes[0]->status().committed_updates(), kProposers);
  EXPECT_TRUE(a_thread_waits_on_a_fifo()) << "the read was let go before the uploads ended";
  {  // let it go: a writer that writes nothing
    const int fd = ::open(file.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ::close(fd);
  }
  blocked.join();
  EXPECT_EQ(blocked_code, wire::ERR_INTERNAL) << blocked_error;
  // Still serving reads: another update of round 1, whole and as uploaded.
  const client::RoundUpdate& other = listed.updates.back();
  const auto bytes = stranger.public_update_bytes(task, 1, other, listed.chunk_bytes);
  EXPECT_EQ(protocol::update_hash(bytes), other.update_hash);
  srv.stop();
}

}  // namespace
}  // namespace murmur::testing
