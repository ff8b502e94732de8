// A node's own calls on AllianceTaskV2 (chain_participant.hpp).
#include "chain_participant.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "murmur/chain/errors.hpp"
#include "murmur/chain/median_settlement.hpp"
#include "murmur/chain/v2_commitments.hpp"
#include "murmur/client/objections.hpp"

namespace murmur::client {
namespace {

using chain::V2RoundState;

/// Writes `bytes` to `file` durably: a temporary file, fsync, rename, fsync of the directory.
void write_durably(const std::filesystem::path& file, std::span<const std::uint8_t> bytes) {
  const auto tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    throw std::runtime_error("cannot sync " + tmp + ": " + std::strerror(errno));
  std::filesystem::rename(tmp, file);
  const int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

chain::Hash32 random_salt() {
  std::random_device rd;  // /dev/urandom on Linux
  chain::Hash32 salt{};
  for (std::size_t i = 0; i < salt.size(); i += 4) {
    const std::uint32_t w = rd();
    std::memcpy(salt.data() + i, &w, 4);
  }
  return salt;
}

bool reverted_with(const chain::RevertError& e, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (e.error_name() == n) return true;
  return false;
}

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

/// The bitmap a vote commits to: none when it objects to nothing, else participant_bitmap.
std::vector<chain::U256> objection_bitmap(const std::vector<std::size_t>& indices,
                                          std::size_t participants) {
  if (indices.empty()) return {};
  return chain::participant_bitmap(indices, participants);
}

/// A persisted vote's bitmap (older vote files carry none).
std::vector<chain::U256> objection_bitmap(const nlohmann::json& j) {
  if (!j.contains("objections")) return {};
  return objection_bitmap(j.at("objections").get<std::vector<std::size_t>>(),
                          j.at("participants").get<std::size_t>());
}

}  // namespace

ChainParticipant::ChainParticipant(const ChainCalls& calls, const chain::PrivateKey& key,
                                   const chain::Address& contract, std::uint64_t task_id)
    : calls_(calls),
      rpc_(calls.rpc_url),
      eth_(rpc_, &chain::alliance_v2::errors()),
      wallet_(eth_, key),
      contract_(eth_, contract),
      task_(task_id) {
  if (calls_.state_dir.empty())
    throw std::runtime_error(
        "AllianceTaskV2 needs a state directory for the node's committed updates and vote salts");
  std::filesystem::create_directories(calls_.state_dir);
  // Votes of an earlier run: committed on chain, not yet revealed → reveal them.
  const std::string prefix = "vote-" + task_.to_dec() + "-";
  for (const auto& entry : std::filesystem::directory_iterator(calls_.state_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || entry.path().extension() != ".json") continue;
    const std::uint64_t round = std::stoull(name.substr(prefix.size()));
    std::ifstream in(entry.path());
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded()) continue;
    const auto e = contract_.entry_of(task_, chain::U256(round), wallet_.address());
    if (e.commitment == chain::Hash32{} || e.revealed) continue;
    pending_[round] = {j.at("score").get<int>(), objection_bitmap(j),
                       chain::hash_from_hex(j.at("salt").get<std::string>()), std::nullopt};
  }
}

std::filesystem::path ChainParticipant::vote_file(std::uint64_t round) const {
  return calls_.state_dir / ("vote-" + task_.to_dec() + "-" + std::to_string(round) + ".json");
}

std::filesystem::path ChainParticipant::update_file(std::uint64_t round) const {
  return calls_.state_dir / ("update-" + task_.to_dec() + "-" + std::to_string(round) + ".f32");
}

std::uint64_t ChainParticipant::next_block_time() {
  const auto b = eth_.raw("eth_getBlockByNumber", nlohmann::json::array({"latest", false}));
  return std::max(chain::quantity_u64(b.at("timestamp")) + 1, unix_now());
}

std::optional<TrainedUpdate> ChainParticipant::update_for(
    std::uint64_t round, const std::function<std::optional<TrainedUpdate>()>& train,
    std::uint64_t parameters) {
  const auto file = update_file(round);
  if (std::filesystem::exists(file)) {  // layout: u64 num_samples (LE), then the f32 values
    std::ifstream in(file, std::ios::binary);
    TrainedUpdate u;
    u.values.resize(static_cast<std::size_t>(parameters));
    in.read(reinterpret_cast<char*>(&u.num_samples), 8);
    in.read(reinterpret_cast<char*>(u.values.data()),
            static_cast<std::streamsize>(u.values.size() * 4));
    if (in.gcount() != static_cast<std::streamsize>(u.values.size() * 4))
      throw std::runtime_error(file.string() +
                               " does not hold this round's update: remove it "
                               "only if its hash was never committed on chain");
    return u;
  }
  auto u = train();
  if (!u) return u;
  std::vector<std::uint8_t> bytes(8 + u->values.size() * 4);
  std::memcpy(bytes.data(), &u->num_samples, 8);
  std::memcpy(bytes.data() + 8, u->values.data(), u->values.size() * 4);
  write_durably(file, bytes);
  return u;
}

void ChainParticipant::commit_update(std::uint64_t round, const chain::Hash32& hash) {
  const chain::U256 r(round);
  const auto e = contract_.entry_of(task_, r, wallet_.address());
  if (e.commitment == hash) return;  // an earlier run committed it
  if (e.commitment != chain::Hash32{})
    throw std::runtime_error("this node committed update hash " + chain::to_hex(e.commitment) +
                             " for round " + std::to_string(round) + ", not " +
                             chain::to_hex(hash) + ": not uploading another update");
  wallet_.transact(contract_.address(), chain::alliance_v2::commit_update(task_, r, hash));
}

std::optional<ChainParticipant::Vote> ChainParticipant::judge(
    std::uint64_t round, const chain::Hash32& candidate_hash, std::span<const float> candidate,
    RoundContext& ctx, const std::vector<RoundUpdate>& updates, const FetchUpdate& fetch,
    const std::function<void(const std::string&)>& say) {
  if (!calls_.evaluator)
    throw std::runtime_error("an AllianceTaskV2 voter needs an evaluator of its held-out rows");
  const chain::U256 rr(round);
  const auto r = contract_.get_round(task_, rr);
  if (r.state == V2RoundState::Proposing) return std::nullopt;  // not posted yet
  if (r.state != V2RoundState::Voting)
    throw std::runtime_error("round " + std::to_string(round) + " is " + chain::to_string(r.state) +
                             " on chain: no vote to cast");
  Vote vote;
  if (r.model_hash != candidate_hash) return Vote{chain::kMinScore, {}, 0};  // not the posted one
  for (float v : candidate)
    if (!std::isfinite(v)) return Vote{chain::kMinScore, {}, 0};
  const auto& global = ctx.global_model();
  const double before = calls_.evaluator(ctx, global);
  const double after = calls_.evaluator(ctx, candidate);
  vote.score = std::isfinite(after) ? chain::graded_score(before, after) : chain::kMinScore;
  if (updates.empty()) return vote;

  // The updates to judge: those whose hash is their proposer's commitment on chain (bytes the
  // proposer bound itself to; fetch checks them against that hash). A listed update signed for
  // another hash than the proposer's non-zero commitment is an equivocation (a shard set has no
  // chain to refuse it at upload): objected to, and reported with its signed Update.
  const auto parts = contract_.participants(task_);
  if (calls_.object) vote.participants = parts.size();
  std::vector<std::size_t> index;          // participant index of each judged update
  std::vector<std::vector<float>> values;  // its values
  std::vector<chain::Hash32> hashes;
  for (const RoundUpdate& u : updates) {
    const auto it = std::find(parts.begin(), parts.end(), u.proposer);
    if (it == parts.end()) {
      say("not judging " + u.proposer.to_checksum() + "'s update " + chain::to_hex(u.update_hash) +
          ": not a participant of the round");
      continue;
    }
    const auto entry = contract_.entry_of(task_, rr, u.proposer);
    if (entry.commitment != u.update_hash) {
      if (entry.commitment == chain::Hash32{}) {
        say("not judging " + u.proposer.to_checksum() + "'s update " +
            chain::to_hex(u.update_hash) + ": no commitment on chain");
        continue;
      }
      if (calls_.object) vote.objections.push_back(static_cast<std::size_t>(it - parts.begin()));
      say(std::string(calls_.object ? "objecting to " : "not judging ") + u.proposer.to_checksum() +
          "'s update " + chain::to_hex(u.update_hash) + ": it committed " +
          chain::to_hex(entry.commitment) + " on chain (equivocation)");
      report_equivocation(round, u, entry.reported, say);
      continue;
    }
    if (!calls_.object) continue;
    try {
      auto v = fetch(u);
      if (v.size() != global.size()) {
        say("not judging " + u.proposer.to_checksum() + "'s update: " + std::to_string(v.size()) +
            " values, the model has " + std::to_string(global.size()));
        continue;
      }
      values.push_back(std::move(v));
    } catch (const ServerError& e) {
      say("not judging " + u.proposer.to_checksum() + "'s update: " + e.what());
      continue;
    }
    index.push_back(static_cast<std::size_t>(it - parts.begin()));
    hashes.push_back(u.update_hash);
  }
  if (values.empty()) {
    std::sort(vote.objections.begin(), vote.objections.end());
    return vote;
  }
  // Identical bytes count once in the voter's median update (the simulator's copies).
  std::vector<bool> duplicate(values.size(), false);
  for (std::size_t b = 1; b < values.size(); ++b)
    for (std::size_t a = 0; a < b && !duplicate[b]; ++a)
      duplicate[b] = hashes[a] == hashes[b] || values[a] == values[b];
  std::vector<double> probe_loss;
  for (const auto& v : values)
    probe_loss.push_back(
        calls_.evaluator(ctx, objection_probe(global, v, calls_.objections.scale, values.size())));
  const UpdateJudgement j = judge_updates(before, probe_loss, duplicate, calls_.objections);
  for (std::size_t k = 0; k < values.size(); ++k)
    if (j.objects[k]) vote.objections.push_back(index[k]);
  std::sort(vote.objections.begin(), vote.objections.end());
  return vote;
}

void ChainParticipant::report_equivocation(std::uint64_t round, const RoundUpdate& u, bool reported,
                                           const std::function<void(const std::string&)>& say) {
  if (reported) {
    say(u.proposer.to_checksum() + "'s equivocation in round " + std::to_string(round) +
        " is reported on chain already");
    return;
  }
  try {
    wallet_.transact(contract_.address(),
                     chain::alliance_v2::report_equivocation(
                         task_, chain::U256(round), u.proposer, u.update_hash,
                         chain::U256(u.num_samples), chain::Bytes(u.signature)));
    say("reported " + u.proposer.to_checksum() + "'s equivocation in round " +
        std::to_string(round) + " on chain");
  } catch (const chain::ChainError& e) {
    // Another voter's report may have landed first (NotEquivocation), or the call failed: the
    // objection stands either way.
    say("reportEquivocation of " + u.proposer.to_checksum() + " in round " + std::to_string(round) +
        " not done: " + e.what());
  }
}

bool ChainParticipant::candidate_posted(std::uint64_t round) {
  return contract_.get_round(task_, chain::U256(round)).state != V2RoundState::Proposing;
}

void ChainParticipant::commit_vote(std::uint64_t round, const Vote& vote) {
  const chain::U256 r(round);
  const auto file = vote_file(round);
  PendingVote v;
  if (std::filesystem::exists(file)) {  // an earlier run chose them: keep its commitment
    std::ifstream in(file);
    const auto j = nlohmann::json::parse(in);
    v.score = j.at("score").get<int>();
    v.objections = objection_bitmap(j);
    v.salt = chain::hash_from_hex(j.at("salt").get<std::string>());
  } else {
    v.score = vote.score;
    v.objections = objection_bitmap(vote.objections, vote.participants);
    v.salt = random_salt();
    const std::string text = nlohmann::json{
        {"round", round},
        {"score", v.score},
        {"objections", vote.objections},
        {"participants", vote.participants},
        {"salt",
         chain::to_hex(v.salt)}}.dump();
    write_durably(file, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  }
  const auto e = contract_.entry_of(task_, r, wallet_.address());
  if (e.commitment == chain::Hash32{}) {
    const auto c =
        chain::vote_commitment(task_, r, wallet_.address(), v.score, v.objections, v.salt);
    wallet_.transact(contract_.address(), chain::alliance_v2::commit_vote(task_, r, c));
  }
  if (!e.revealed) pending_[round] = v;
}

std::pair<std::uint64_t, std::uint64_t> ChainParticipant::tick(
    const std::function<void(const std::string&)>& say) {
  std::uint64_t reveals = 0, closed = 0;
  for (auto it = pending_.begin(); it != pending_.end();) {
    const std::uint64_t round = it->first;
    PendingVote& v = it->second;
    const chain::U256 r(round);
    const auto info = contract_.get_round(task_, r);
    if (info.state != V2RoundState::Voting) {  // closed (or never reached voting)
      say("round " + std::to_string(round) + " is " + chain::to_string(info.state) +
          " on chain; the vote is no longer pending");
      it = pending_.erase(it);
      continue;
    }
    const std::uint64_t now = next_block_time();
    const auto entry = contract_.entry_of(task_, r, wallet_.address());
    if (!entry.revealed) {
      const bool open = now > info.commit_deadline || info.vote_commits == info.voter_count;
      if (open && now <= info.reveal_deadline) {
        try {
          wallet_.transact(contract_.address(), chain::alliance_v2::reveal_vote(
                                                    task_, r, v.score, v.objections, v.salt));
          ++reveals;
          say("revealed score " + std::to_string(v.score) + " for round " + std::to_string(round) +
              (v.objections.empty()
                   ? std::string(", no objection")
                   : ", objection bitmap word 0 " + v.objections[0].to_quantity()));
        } catch (const chain::RevertError& e) {
          if (!reverted_with(e, {"TooEarly", "AlreadyRevealed"})) throw;
        }
      }
      ++it;
      continue;
    }
    // Revealed: close the round if it can be closed and nobody did for a while.
    const bool commits_over = now > info.commit_deadline || info.vote_commits == info.voter_count;
    const bool closable =
        now > info.reveal_deadline || (commits_over && info.reveals == info.vote_commits);
    if (calls_.finalize_after.count() >= 0 && closable) {
      const auto t = std::chrono::steady_clock::now();
      if (!v.closable_since) v.closable_since = t;
      if (t - *v.closable_since >= calls_.finalize_after) {
        try {
          wallet_.transact(contract_.address(), chain::alliance_v2::finalize_round(task_));
          ++closed;
          say("closed round " + std::to_string(round) + " on chain (finalizeRound)");
        } catch (const chain::RevertError& e) {
          if (!reverted_with(e, {"TooEarly", "WrongState"})) throw;
        }
      }
    }
    ++it;
  }
  return {reveals, closed};
}

}  // namespace murmur::client
