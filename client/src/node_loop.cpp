#include "murmur/client/node_loop.hpp"

#include "chain_participant.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/client/secagg_node.hpp"
#include "murmur/client/shard_upload.hpp"
#include "murmur/client/split_update_fetch.hpp"
#include "murmur/client/update_source.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <thread>

namespace murmur::client {

namespace {

std::optional<chain::Hash32> hash_of(const std::string& bytes) {
  if (bytes.size() != 32) return std::nullopt;
  chain::Hash32 h{};
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

std::string stage_name(wire::Stage s) {
  return wire::Stage_Name(s);
}

std::vector<float> read_f32_file(const std::filesystem::path& file, std::uint64_t parameters) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec)
    throw std::runtime_error("cannot read update file " + file.string() + ": " + ec.message());
  if (size != parameters * sizeof(float))
    throw std::runtime_error("update file " + file.string() + " has " + std::to_string(size) +
                             " bytes; the task's model has " + std::to_string(parameters) +
                             " parameters, so " + std::to_string(parameters * sizeof(float)) +
                             " bytes of f32 little-endian are expected");
  std::vector<float> values(static_cast<std::size_t>(parameters));
  std::ifstream in(file, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(size)))
    throw std::runtime_error("cannot read update file " + file.string());
  return values;
}

}  // namespace

const std::vector<float>& RoundContext::global_model() {
  if (!global_) {
    if (auto h = hash_of(info_.global_model_hash()))
      global_ =
          shards_.empty() ? client_.fetch_model(*h) : fetch_split_model(shards_, *h, info_.round());
    else
      global_.emplace(static_cast<std::size_t>(info_.parameters()), 0.0f);
  }
  return *global_;
}

VoteRule rms_step_rule(double max_rms_step) {
  return [max_rms_step](RoundContext& ctx, std::span<const float> candidate) {
    const auto& global = ctx.global_model();
    if (global.size() != candidate.size())
      return Verdict{-1, std::numeric_limits<double>::infinity()};
    double sum = 0;
    for (std::size_t i = 0; i < candidate.size(); ++i) {
      if (!std::isfinite(candidate[i])) return Verdict{-1, std::numeric_limits<double>::infinity()};
      const double d = static_cast<double>(candidate[i]) - global[i];
      sum += d * d;
    }
    const double rms =
        candidate.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(candidate.size()));
    return Verdict{rms <= max_rms_step ? 1 : -1, rms};
  };
}

Trainer updates_from_files(const std::filesystem::path& path, std::uint64_t num_samples) {
  auto files = std::make_shared<std::vector<std::filesystem::path>>();
  if (std::filesystem::is_directory(path)) {
    for (const auto& entry : std::filesystem::directory_iterator(path))
      if (entry.is_regular_file()) files->push_back(entry.path());
    std::sort(files->begin(), files->end());
    if (files->empty())
      throw std::runtime_error("update directory " + path.string() + " holds no files");
  } else if (!std::filesystem::is_regular_file(path)) {
    throw std::runtime_error("no update file or directory at " + path.string());
  }
  const bool one_file = files->empty();
  auto next = std::make_shared<std::size_t>(0);
  return [=](RoundContext& ctx) -> std::optional<TrainedUpdate> {
    if (one_file) return TrainedUpdate{read_f32_file(path, ctx.info().parameters()), num_samples};
    if (*next >= files->size()) return std::nullopt;
    return TrainedUpdate{read_f32_file((*files)[(*next)++], ctx.info().parameters()), num_samples};
  };
}

NodeLoopReport run_node(NodeClient& client, const chain::PrivateKey& key,
                        const NodeLoopOptions& options, const Trainer& trainer,
                        const VoteRule& vote_rule, std::ostream* log) {
  const Signer signer{&key, options.domain};
  const std::string me = key.address().to_checksum();
  auto say = [&](const std::string& line) {
    if (log) *log << "node " << me << ": " << line << std::endl;
  };
  const std::span<NodeClient* const> shards(options.shards);
  const bool sharded = !shards.empty();
  const auto shard_name = [&](std::size_t k) {
    return "shard " + std::to_string(k) + " of " + std::to_string(shards.size()) +
           (k < options.shard_names.size() ? " (" + options.shard_names[k] + ")" : "");
  };
  if (sharded && options.dtype != wire::DTYPE_F32)
    throw std::invalid_argument(
        "a shard set takes updates as f32 (the parts are split at the "
        "shards' f32 boundaries): drop --dtype " +
        wire::DType_Name(options.dtype));
  if (options.register_first) {
    client.register_node(key, options.chain_id);
    say("registered Curve key " + client.curve_public_key() +
        (sharded ? " with the coordinator" : ""));
    for (std::size_t k = 0; k < shards.size(); ++k) {
      try {
        shards[k]->register_node(key, options.chain_id);
      } catch (const TimeoutError& e) {
        throw ShardSetError(shard_name(k) + " does not answer Register: " + e.what() +
                            "; check its endpoints and Curve key");
      }
    }
    if (sharded) say("registered with the " + std::to_string(shards.size()) + " shards");
  }
  if (sharded) {
    check_shard_set(client, shards, options.shard_names);
    say("the " + std::to_string(shards.size()) + " shards are the coordinator's set, in order");
  }

  NodeLoopReport report;
  std::unique_ptr<ChainParticipant> on_chain;  // AllianceTaskV2: the node's own chain calls
  std::set<std::uint64_t> uploaded, voted;     // rounds already handled (one attempt each)
  std::set<std::uint64_t> waiting_for_parts;   // shard set: rounds whose candidate parts lagged
  std::optional<std::uint64_t> first_round;
  std::pair<std::uint64_t, int> last_state{0, -1};
  auto last_change = std::chrono::steady_clock::now();
  for (;;) {
    const wire::RoundInfo info = client.round_info();
    if (info.stage() == wire::STAGE_CLOSED) {
      report.closed = true;
      say("the task is closed");
      return report;
    }
    const std::uint64_t round = info.round();
    const std::pair<std::uint64_t, int> state{round, info.stage()};
    if (state != last_state) {
      if (!first_round) first_round = round;
      if (round != last_state.first) ++report.rounds_seen;
      last_state = state;
      last_change = std::chrono::steady_clock::now();
      say("round " + std::to_string(round) + " " + stage_name(info.stage()));
    } else if (std::chrono::steady_clock::now() - last_change > options.idle_timeout) {
      throw std::runtime_error(
          "round " + std::to_string(round) + " stayed in " + stage_name(info.stage()) + " for " +
          std::to_string(options.idle_timeout.count()) + " ms: giving up (--idle-timeout)");
    }
    if (options.max_rounds > 0 && round - *first_round >= options.max_rounds) return report;

    RoundContext ctx(client, info, shards);
    if (options.chain && !on_chain)
      on_chain = std::make_unique<ChainParticipant>(
          *options.chain, key, options.domain.verifying_contract, info.task_id());
    // AllianceTaskV2, a proposer: its update persisted, its hash committed on chain, then the
    // upload (murmurd refuses a hash other than the committed one).
    const auto propose_on_chain = [&](std::uint64_t r) {
      auto update = on_chain->update_for(
          r, [&] { return trainer(ctx); }, info.parameters());
      if (!update) {
        ++report.skipped;
        say("no update for round " + std::to_string(r));
        return;
      }
      if (sharded) {  // the whole update's hash on chain before any part leaves
        wait_for_round(shards, r);
        const SplitPlan plan = plan_split(shards, update->values);
        on_chain->commit_update(r, plan.commitment.hash);
        const auto res = upload_split(shards, info.task_id(), r, update->values, plan,
                                      update->num_samples, signer);
        ++report.uploads;
        say("committed update hash " + chain::to_hex(res.update_hash) +
            " on chain and uploaded it split across " + std::to_string(shards.size()) +
            " shards for round " + std::to_string(r));
        return;
      }
      const FloatUpdate values(update->values, options.dtype);
      const DigestedUpdate source(values);
      on_chain->commit_update(r, *source.digest());
      const auto res = client.upload_update(info.task_id(), r, source, update->num_samples, signer);
      ++report.uploads;
      say("committed update hash " + chain::to_hex(res.update_hash) + " on chain and uploaded " +
          std::to_string(res.total_bytes) + " bytes for round " + std::to_string(r));
    };
    try {
      if (info.stage() == wire::STAGE_UPLOADING && info.role() == wire::ROLE_PROPOSER &&
          !uploaded.count(round)) {
        uploaded.insert(round);
        if (on_chain) {
          propose_on_chain(round);
        } else if (auto update = trainer(ctx); update && sharded) {
          wait_for_round(shards, round);  // each shard has adopted the coordinator's opening
          const auto r = upload_split(shards, info.task_id(), round, update->values,
                                      update->num_samples, signer);
          ++report.uploads;
          std::uint64_t resumed = 0;
          for (const auto& p : r.parts) resumed += p.first_resume_offset;
          say("uploaded " + std::to_string(update->values.size() * 4) + " bytes split across " +
              std::to_string(shards.size()) + " shards for round " + std::to_string(round) +
              ", update hash " + chain::to_hex(r.update_hash) +
              (resumed ? ", resumed past " + std::to_string(resumed) + " acknowledged bytes" : ""));
        } else if (update) {
          const auto r = client.upload_update(info.task_id(), round, update->values, options.dtype,
                                              update->num_samples, signer);
          ++report.uploads;
          say("uploaded " + std::to_string(r.total_bytes) + " bytes for round " +
              std::to_string(round) + ", update hash " + chain::to_hex(r.update_hash) +
              (r.first_resume_offset ? ", resumed at byte " + std::to_string(r.first_resume_offset)
                                     : ""));
        } else {
          ++report.skipped;
          say("no update for round " + std::to_string(round));
        }
      }
      if (info.stage() == wire::STAGE_SECAGG_ADVERTISE && info.has_secagg() &&
          !uploaded.count(round)) {
        uploaded.insert(round);
        if (auto update = trainer(ctx)) {
          // The stages wait for the server; a stage that closes before this node got to it
          // (or a refusal) costs this round only.
          try {
            SecAggNode n(client, info.task_id(), round, {options.idle_timeout, options.poll});
            n.advertise();
            n.share_keys();
            const std::size_t complaints = n.check_shares();
            n.send_masked_input(update->values);
            n.unmask();
            ++report.uploads;
            say("sent a masked update for round " + std::to_string(round) +
                " through SecAgg+ (group " + std::to_string(n.placement().group()) + " of " +
                std::to_string(n.placement().group_size()) + " nodes" +
                (complaints ? ", " + std::to_string(complaints) + " complaints" : "") + ")");
          } catch (const ServerError&) {
            throw;
          } catch (const TimeoutError&) {
            throw;
          } catch (const std::runtime_error& e) {
            say(std::string("SecAgg+ round ") + std::to_string(round) + " left: " + e.what());
          }
        } else {
          ++report.skipped;
          say("no update for round " + std::to_string(round));
        }
      }
      if (info.stage() == wire::STAGE_VOTING && info.role() == wire::ROLE_VOTER &&
          !voted.count(round)) {
        const auto candidate = hash_of(info.candidate_model_hash());
        // The candidate: whole from a single murmurd; by range from a shard set, nullopt while a
        // shard has not reached this round's vote (it follows the coordinator within 250 ms).
        const auto read_candidate = [&]() -> std::optional<std::vector<float>> {
          if (!sharded) return client.fetch_model(*candidate);
          auto model = fetch_split_candidate(shards, info.task_id(), round, *candidate);
          if (!model && waiting_for_parts.insert(round).second)
            say("round " + std::to_string(round) +
                ": waiting for the shards to name their candidate parts");
          return model;
        };
        std::optional<std::vector<float>> read;
        if (candidate && on_chain && on_chain->candidate_posted(round) &&
            (read = read_candidate())) {
          const auto& model = *read;
          // The round's updates, to judge each one (murmurd may refuse or withhold them: the
          // vote then carries no objection).
          std::vector<RoundUpdate> updates;
          if (options.chain->object) {
            try {
              updates = client.round_updates(info.task_id(), round, options.domain).updates;
            } catch (const ServerError& e) {
              say(std::string("no update to judge: ") + e.what());
            }
          }
          // A shard set: the list from the coordinator, the bytes by parts from the shards.
          const auto fetch = [&](const RoundUpdate& u) {
            return sharded ? fetch_split_update(shards, info.task_id(), round, u)
                           : client.fetch_update(info.task_id(), round, u);
          };
          if (const auto vote =
                  on_chain->judge(round, *candidate, model, ctx, updates, fetch, say)) {
            voted.insert(round);
            on_chain->commit_vote(round, *vote);
            ++report.votes;
            report.objections += vote->objections.size();
            say("committed a hidden vote on " + chain::to_hex(*candidate) + " (score " +
                std::to_string(vote->score) + " bps, objecting to " +
                std::to_string(vote->objections.size()) + " of " + std::to_string(updates.size()) +
                " updates)");
          }
        } else if (candidate && !on_chain) {
          try {
            read = read_candidate();
          } catch (...) {
            voted.insert(round);  // one attempt a round, as for a refused vote
            throw;
          }
        }
        if (read && !on_chain) {
          voted.insert(round);
          const auto& model = *read;
          const Verdict v = vote_rule(ctx, model);
          client.vote(info.task_id(), round, *candidate, v.score, v.loss, signer);
          ++report.votes;
          say("voted " + std::string(v.score > 0 ? "+1" : "-1") + " on " +
              chain::to_hex(*candidate) + " (loss " + std::to_string(v.loss) + ")");
        }
      }
      if (on_chain && on_chain->revealing()) {
        const auto [reveals, closed] = on_chain->tick(say);
        report.reveals += reveals;
        report.finalized += closed;
      }
    } catch (const ServerError& e) {
      if (e.code() == wire::ERR_NOT_REGISTERED) throw;
      say(std::string("refused: ") + e.what());
    } catch (const chain::ChainError& e) {  // a refused or failed chain call costs this step
      say(std::string("chain: ") + e.what());
    }
    std::this_thread::sleep_for(options.poll);
  }
}

}  // namespace murmur::client
