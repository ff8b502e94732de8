// murmurd's event loop and round engine: uploading -> aggregating -> voting -> finalizing ->
// next round, each stage bounded by its deadline, every transition persisted.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <set>

#include "aggregate_round.hpp"
#include "murmur/chain/consensus.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "server_impl.hpp"

namespace murmur::server {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::pair<std::string, std::string> curve_keypair() {
  std::array<char, 41> pub{}, sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0)
    throw std::runtime_error("zmq_curve_keypair failed: libzmq was built without CURVE support");
  return {pub.data(), sec.data()};
}

namespace {

std::unique_ptr<kernels::Backend> make_backend(const std::string& name) {
  if (name == "cpu") return kernels::make_cpu_backend();
  if (name == "cuda") return kernels::make_cuda_backend(0);
  return kernels::make_default_backend();
}

const char* stage_name(wire::Stage s) {
  return wire::Stage_Name(s).c_str();
}

}  // namespace

Server::Impl::Impl(Config c)
    : cfg(std::move(c)),
      store(cfg.data_dir),
      spool(cfg.data_dir),
      backend(make_backend(cfg.backend)) {
  if (cfg.validation) {
    validator = std::make_unique<RoundValidator>(*cfg.validation, *backend, cfg.parameters);
    spdlog::info("validation: {}", validator->describe());
  }
  if (cfg.shard && !cfg.shard->coordinator) {
    shard_link = std::make_unique<ShardLink>(*cfg.shard, cfg.quorum);
    metrics.set_extra([link = shard_link.get()] { return link->metrics_text(); });
  }
  if (cfg.chain) {
    chain_rounds = std::make_unique<ChainRounds>(cfg);
  }
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  for (const auto& p : cfg.participants) stakes[p.address] = p.stake;
  metrics.set_backend(backend->describe());
  if (!cfg.curve && !cfg.insecure_plaintext)
    throw std::runtime_error(
        "server.insecure_plaintext: curve = false runs plain ZeroMQ (nothing encrypted); it is for "
        "tests on a trusted host only: set insecure_plaintext = true to run it anyway");
  if (cfg.curve) {
    secret_key = cfg.curve_secret_key;
    std::array<char, 41> pub{};
    if (zmq_curve_public(pub.data(), secret_key.c_str()) != 0)
      throw std::runtime_error("server.curve_secret_key is not a valid Z85 CurveZMQ secret key");
    public_key = pub.data();
  }
  bool fresh = false;
  if (auto saved = store.load_round()) {
    state = *saved;
    spdlog::info("murmurd resumes round={} stage={}", state.round, stage_name(state.stage));
  } else {
    std::vector<float> initial(cfg.parameters, 0.0f);
    if (!cfg.initial_model.empty()) {
      std::ifstream in(cfg.initial_model, std::ios::binary);
      if (cfg.shard) in.seekg(static_cast<std::streamoff>(cfg.shard->range_begin * 4));  // its part
      in.read(reinterpret_cast<char*>(initial.data()),
              static_cast<std::streamsize>(initial.size() * 4));
      if (static_cast<std::size_t>(in.gcount()) != initial.size() * 4)
        throw std::runtime_error(cfg.initial_model.string() + " does not hold " +
                                 std::to_string(cfg.parameters) + " little-endian f32 values");
    }
    state.round = 1;
    state.global_model = spool.store_model(initial);
    state.stage = wire::STAGE_UPLOADING;
    state.deadline_unix_ms = unix_ms() + cfg.upload_window.count();
    store.save_round(state);
    fresh = true;
  }
  if (chain_rounds && state.stage == wire::STAGE_UPLOADING && state.seed == chain::Hash32{}) {
    open_round_on_chain();
    state.deadline_unix_ms = unix_ms() + cfg.upload_window.count();
    store.save_round(state);
    record_seed(state.round, state.seed,
                "startRound failed when murmurd started (its log says why)");
  } else if (chain_rounds) {  // resumed in an open round: the participants as the chain has them
    refresh_chain_stakes();
  }
  // SecAgg+ groups are drawn after the chain's seed and participants are known.
  if (fresh && cfg.secagg.enabled) begin_secagg(1);
  shard_start();  // [shard] role = "coordinator": the shards' store, the round's opening
  // A restart during aggregation aggregates again; one during finalizing decides again.
  publish_snapshot();
}

chain::Hash32 local_seed(std::uint64_t task_id, std::uint64_t round) {
  chain::Bytes msg;
  const std::string tag = "murmur.local-seed.v1";
  msg.insert(msg.end(), tag.begin(), tag.end());
  for (std::uint64_t v : {task_id, round})
    for (int shift = 56; shift >= 0; shift -= 8)
      msg.push_back(static_cast<std::uint8_t>(v >> shift));
  return chain::keccak256(msg);
}

// Until the task contract supplies startRound's seed.
chain::Hash32 Server::Impl::seed(std::uint64_t round) const {
  return local_seed(cfg.task_id, round);
}

wire::Role Server::Impl::role_of(const chain::Address& a) const {
  const chain::Hash32 s = state.seed == chain::Hash32{} ? seed(state.round) : state.seed;
  return chain::is_proposer(s, a, cfg.proposer_bps) ? wire::ROLE_PROPOSER : wire::ROLE_VOTER;
}

void Server::Impl::open_round_on_chain() {
  state.seed = chain_rounds->open_round(state.round);
  refresh_chain_stakes();
}

void Server::Impl::refresh_chain_stakes() {
  use_chain_stakes(chain_rounds->participants(state.round, stakes.size()));
}

void Server::Impl::use_chain_stakes(const std::map<chain::Address, chain::U256>& from_chain) {
  if (from_chain.empty()) return;
  std::size_t changed = 0;
  for (const auto& [a, stake] : from_chain) changed += !stakes.contains(a) || stakes.at(a) != stake;
  changed += std::count_if(stakes.begin(), stakes.end(),
                           [&](const auto& kv) { return !from_chain.contains(kv.first); });
  stakes = from_chain;
  spdlog::info("chain: {} participants, {} stakes changed", stakes.size(), changed);
}

Settlement Server::Impl::settlement_of(const RoundDecision& decision) const {
  // Everything the chain needs is read here, on the loop thread; the worker only talks to the
  // chain.
  Settlement out;
  out.round = state.round;
  out.seed = state.seed;
  out.candidate = state.candidate_model;
  for (const auto& v : store.votes(out.round))
    if (v.model_hash == out.candidate && stakes.contains(v.voter))  // a leaver's: not posted
      out.votes.push_back({v.voter, static_cast<std::int8_t>(v.score), v.signature});
  const bool decided_by_vote =
      decision.outcome == RoundOutcome::kAccepted ||
      (decision.outcome == RoundOutcome::kRejected && decision.votes >= cfg.vote_quorum);
  out.finalize = decided_by_vote && !out.votes.empty() && out.candidate != chain::Hash32{};
  // The rule's flags, and every proposer that did not deliver (it did no work).
  if (out.finalize) {
    if (const auto record = store.round_record(out.round)) out.flagged = record->flagged();
    std::set<chain::Address> committed;
    for (const auto& u : store.committed(out.round)) committed.insert(u.address);
    for (const auto& [a, stake] : stakes)
      if (role_of(a) == wire::ROLE_PROPOSER && !committed.count(a)) out.flagged.push_back(a);
    std::sort(out.flagged.begin(), out.flagged.end());
  }
  out.open_next = out.round < cfg.rounds;
  for (const std::uint64_t n : store.rounds_with_posting("failed"))
    if (n < out.round) out.unsettled.push_back(n);
  return out;
}

void Server::Impl::finish_chain_step(const ChainStep& step) {
  // Earlier rounds the step closed on chain when it found the chain behind (a step that had
  // failed past fault_limit_ms): their records take the posting, so that record and chain agree.
  for (const auto& [round, posting] : step.caught_up)
    if (round != step.round) store.record_posting(round, posting);
  store.record_posting(step.round, step.posting);
  const auto now = Clock::now();
  // A failed posting of a round the contract opened leaves it open there, and a failed
  // startRound leaves the chain's round counter behind murmurd's: either way no later round
  // could be opened on chain. The step is tried again (finalizeRound goes through the outbox
  // and adopts a landed finalization, abandonRound and startRound read the chain first, so a
  // retry never posts twice), with a growing pause, for as long as fault_limit_ms allows; then
  // the round is left as it is and the task goes on, on the local seed, until a later step
  // finds the chain answering and brings it back up to murmurd's round (ChainRounds::settle).
  const bool opened = state.round == step.round && state.seed != chain::Hash32{};
  const bool posting_failed = step.posting.state == "failed";
  const bool open_failed = !step.open_error.empty();
  if (posting_failed || open_failed) {
    const std::string error =
        posting_failed ? step.posting.error : "startRound of the next round: " + step.open_error;
    metrics.fault(to_string(Fault::kChainPosting));
    if (const auto line = faults.failed(Fault::kChainPosting, step.round, error))
      spdlog::error("round={} fault chain_posting: {}", step.round, *line);
    store.record_faults(step.round, faults.round_json(step.round));
    const FaultStreak* streak = faults.streak(Fault::kChainPosting);
    if ((opened || open_failed) && streak &&
        (cfg.fault_limit.count() == 0 || now - streak->since < cfg.fault_limit)) {
      const auto pause = std::chrono::milliseconds(
          std::min<std::int64_t>(8000, 500LL << std::min<std::uint64_t>(streak->count, 4)));
      settle_retry_at = now + pause;
      metrics.fault_streak(to_string(Fault::kChainPosting), streak->seconds(now));
      return;
    }
  }
  settle_retry_at.reset();
  if (const auto line = faults.passed(Fault::kChainPosting))
    spdlog::info("round={} fault chain_posting: {}", step.round, *line);
  metrics.fault_streak(to_string(Fault::kChainPosting), 0);
  use_chain_stakes(step.next_stakes);  // before the next round draws its roles and groups
  advance(step.decision, step.next_seed);
  if (state.round == step.round + 1) record_seed(state.round, step.next_seed, step.open_error);
}

void Server::Impl::record_seed(std::uint64_t round, const chain::Hash32& seed,
                               const std::string& error) {
  if (seed != chain::Hash32{}) {
    store.record_seed(round, RoundSeed{"chain", ""});
    return;
  }
  // The contract never opened this round: its roles come from the local seed and nothing of it
  // can be settled there (the chain step abandons nothing it did not open).
  const std::string why = error.empty() ? "startRound failed" : error;
  metrics.local_seed_round();
  metrics.fault(to_string(Fault::kChainOpen));
  faults.failed(Fault::kChainOpen, round, why);
  faults.passed(Fault::kChainOpen);
  store.record_seed(round, RoundSeed{"local", why});
  store.record_faults(round, faults.round_json(round));
}

void Server::Impl::note_fault(Fault f, const std::string& error) {
  const auto now = Clock::now();
  metrics.fault(to_string(f));
  if (const auto line = faults.failed(f, state.round, error, now))
    spdlog::error("round={} stage={} fault {}: {}", state.round, stage_name(state.stage),
                  to_string(f), *line);
  const FaultStreak streak = *faults.streak(f);
  metrics.fault_streak(to_string(f), streak.seconds(now));
  {
    std::lock_guard lock(snapshot_mutex);
    ++shared_snapshot.faults;
    shared_snapshot.failing = std::string(to_string(f)) + ": " + streak.first_error;
  }
  if (cfg.fault_limit.count() > 0 && now - streak.since >= cfg.fault_limit && !fault_end &&
      can_end_for_fault()) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", streak.seconds(now));
    fault_end =
        FaultEnd{state.round, f,
                 std::string("fault: ") + to_string(f) + " failed " + std::to_string(streak.count) +
                     " times over " + secs + " s: " + streak.first_error};
    spdlog::error("round={} stage={} ends: {}", state.round, stage_name(state.stage),
                  fault_end->reason);
  }
}

void Server::Impl::note_pass(Fault f) {
  if (!faults.streak(f)) return;
  if (const auto line = faults.passed(f))
    spdlog::info("round={} stage={} fault {}: {}", state.round, stage_name(state.stage),
                 to_string(f), *line);
  metrics.fault_streak(to_string(f), 0);
  std::lock_guard lock(snapshot_mutex);
  shared_snapshot.failing.clear();
}

bool Server::Impl::can_end_for_fault() const {
  // Nothing to end once the task is closed; a round whose aggregation or chain step is still
  // running on its thread ends when that thread hands its result back.
  return state.stage != wire::STAGE_CLOSED && !aggregation.valid() &&
         !(chain_rounds && chain_rounds->settling());
}

void Server::Impl::end_round_for_fault() {
  const FaultEnd end = *fault_end;
  // The fault may be the one that keeps the round from ending (state.db unwritable): then this
  // throws, the streak goes on and the next wake-up tries again.
  end_round(RoundOutcome::kFailed, end.reason);
  fault_end.reset();
  faults.reset(end.fault);
  metrics.fault_streak(to_string(end.fault), 0);
}

// Only the round's participants count: an update or vote recorded before its node left the
// task (and murmurd restarted with the new participants) does not.
bool Server::Impl::all_proposers_committed() const {
  std::size_t proposers = 0, committed = 0;
  for (const auto& [a, stake] : stakes) proposers += role_of(a) == wire::ROLE_PROPOSER;
  for (const auto& u : store.committed(state.round)) committed += stakes.contains(u.address);
  return committed >= proposers;
}

bool Server::Impl::all_voters_voted() const {
  std::size_t voters = 0, voted = 0;
  for (const auto& [a, stake] : stakes) voters += role_of(a) == wire::ROLE_VOTER;
  for (const auto& v : store.votes(state.round)) voted += stakes.contains(v.voter);
  return voted >= voters;
}

void Server::Impl::save_state() {
  store.save_round(state);
  metrics.set_round(state.round, state.stage);
  publish_snapshot();
}

void Server::Impl::publish_snapshot() {
  RoundSnapshot s;
  for (const auto& [f, r] : faults.of_round(state.round)) s.faults += r.count;
  for (const Fault f : {Fault::kWaitingBegins, Fault::kRoundEngine})
    if (const FaultStreak* streak = faults.streak(f))
      s.failing = std::string(to_string(f)) + ": " + streak->first_error;
  s.round = state.round;
  s.stage = state.stage;
  s.committed_updates = store.committed(state.round).size();
  s.votes = store.votes(state.round).size();
  s.global_model = state.global_model;
  s.candidate_model = state.candidate_model;
  // The previous round's outcome; once the task is closed, the last round's own.
  s.last_outcome = state.stage == wire::STAGE_CLOSED ? store.outcome(state.round)
                   : state.round > 1                 ? store.outcome(state.round - 1)
                                                     : "";
  s.backend = backend->describe();
  std::lock_guard lock(snapshot_mutex);
  shared_snapshot = s;
}

void Server::Impl::enter_uploading(std::uint64_t round, const chain::Hash32& global,
                                   const chain::Hash32& seed) {
  ingest.new_round();
  // The spool files of two rounds back are complete (committed) or abandoned: their
  // descriptors go (the previous round's may still be read back).
  if (round > 2) spool.close_rounds_before(round - 1);
  // Retention (server.spool_keep_rounds): the update files of rounds before the last K ended
  // ones go, except a round whose chain posting is not recorded yet. A failure to delete is
  // logged and tried again when the next round opens; it never holds the round up.
  if (const std::uint64_t keep = cfg.spool_keep_rounds; keep > 0 && round > keep + 1) {
    try {
      const auto pruned = spool.prune_rounds_before(round - keep, [&](std::uint64_t r) {
        if (!chain_rounds) return false;
        const auto record = store.round_record(r);
        return record && record->decision && !record->posting;
      });
      if (!pruned.empty())
        spdlog::info("round={} spool: removed the update files of {} round(s), {} to {}", round,
                     pruned.size(), pruned.front(), pruned.back());
    } catch (const std::exception& e) {
      spdlog::warn("round={} spool: pruning old rounds failed: {}", round, e.what());
    }
  }
  faults.forget_before(round);
  state.round = round;
  state.global_model = global;
  state.candidate_model = {};
  state.seed = seed;  // before SecAgg+ picks its proposers by role_of, which reads it
  if (cfg.secagg.enabled) return begin_secagg(round);
  state.stage = wire::STAGE_UPLOADING;
  state.deadline_unix_ms = unix_ms() + cfg.upload_window.count();
  stage_started = Clock::now();
  save_state();
  if (coordinator_link) coordinator_open();  // the shards follow this round
  spdlog::info("round={} stage=uploading deadline_ms={}", round, cfg.upload_window.count());
}

void Server::Impl::begin_secagg(std::uint64_t round) {
  std::vector<chain::Address> proposers;  // address order
  for (const auto& [address, stake] : stakes)
    if (role_of(address) == wire::ROLE_PROPOSER) proposers.push_back(address);
  follow(secagg.begin(round, proposers, seed(round)));
}

void Server::Impl::follow(const SecAggStep& step) {
  switch (step.kind) {
    case SecAggStep::Kind::kStay: break;
    case SecAggStep::Kind::kEnter: enter_secagg_stage(step.stage, step.window); break;
    case SecAggStep::Kind::kAggregate:
      stage_started = Clock::now();
      start_secagg_aggregation();
      break;
    case SecAggStep::Kind::kEnd: end_round(step.outcome, step.reason); break;
  }
}

void Server::Impl::enter_secagg_stage(wire::Stage stage, std::chrono::milliseconds window) {
  state.stage = stage;
  state.deadline_unix_ms = unix_ms() + window.count();
  stage_started = Clock::now();
  save_state();
  spdlog::info("round={} stage={} deadline_ms={}", state.round, wire::Stage_Name(stage),
               window.count());
}

void Server::Impl::start_secagg_aggregation() {
  state.stage = wire::STAGE_AGGREGATING;
  save_state();
  aggregation = secagg.aggregate(spool, *backend, state.global_model);
}

void Server::Impl::end_round(const RoundDecision& decision) {
  if (coordinator_link) coordinator_link->decide(state.round, {decision.outcome, decision.reason});
  store.record_faults(state.round, faults.round_json(state.round));
  store.record_outcome(state.round, decision.reason);
  store.record_decision(state.round, decision);
  metrics.round_ended(to_string(decision.outcome));
  spdlog::info("round={} outcome=\"{}\"", state.round, decision.reason);
  if (chain_rounds) {
    // Settling this round and opening the next one take blocks: the loop keeps serving (and
    // refusing stage-bound requests) in the finalizing stage until they are done.
    state.stage = wire::STAGE_FINALIZING;
    save_state();
    chain_rounds->settle(decision, settlement_of(decision));
    return;
  }
  advance(decision, {});
}

void Server::Impl::advance(const RoundDecision& decision, const chain::Hash32& next_seed) {
  const bool accept = decision.outcome == RoundOutcome::kAccepted;
  const chain::Hash32 next_global = accept ? state.candidate_model : state.global_model;
  if (state.round >= cfg.rounds) {
    state.global_model = next_global;
    state.stage = wire::STAGE_CLOSED;
    save_state();
    spdlog::info("task closed after {} rounds", cfg.rounds);
    return;
  }
  enter_uploading(state.round + 1, next_global, next_seed);
}

void Server::Impl::start_aggregation() {
  ingest.release_all_credits();
  state.stage = wire::STAGE_AGGREGATING;
  save_state();
  if (coordinator_link) {  // a shard set's coordinator: the shards' parts (shard_coordinator.hpp)
    aggregation = std::async(
        std::launch::async,
        [&spool = spool, &store = store, &link = *coordinator_link, validator = validator.get(),
         round = state.round, global = state.global_model,
         &stop = stopping] { return link.gather(spool, store, round, global, validator, stop); });
    return;
  }
  std::vector<Upload> uploads = store.committed(state.round);
  std::erase_if(uploads, [&](const Upload& u) { return !stakes.contains(u.address); });
  // The thread gets values and the components it may use (the spool and the state store are
  // thread-safe; the backend and the validator are its alone until the result is collected).
  aggregation =
      std::async(std::launch::async,
                 [&spool = spool, &store = store, &backend = *backend, validator = validator.get(),
                  uploads = std::move(uploads), round = state.round, global = state.global_model,
                  rule = RoundRule{cfg.aggregation, cfg.flag_ratio}, parameters = cfg.parameters,
                  link = shard_link.get()] {
                   if (link)  // [shard]: this shard's range, with the others (shard_round.hpp)
                     return shard_aggregate_and_record(spool, store, round, uploads, rule, global,
                                                       backend, *link);
                   return aggregate_and_record(spool, store, round, uploads, rule, global,
                                               parameters, backend, validator);
                 });
}

void Server::Impl::tally_and_finish() {
  state.stage = wire::STAGE_FINALIZING;
  save_state();
  const auto votes = store.votes(state.round);
  RoundDecision d;
  // A vote of a node that is no longer a participant (recorded before it left the task and
  // murmurd restarted) has no stake to weigh: it is skipped and counted as refused.
  std::size_t not_participants = 0;
  for (const auto& v : votes) {
    const auto stake = stakes.find(v.voter);
    if (stake == stakes.end()) {
      ++not_participants;
      metrics.refused("VOTE_OF_NON_PARTICIPANT");
      spdlog::warn("round={} vote of {} not counted: not a participant", state.round,
                   v.voter.to_checksum());
      continue;
    }
    (v.score > 0 ? d.stake_for : d.stake_against) += stake->second;
    ++(v.score > 0 ? d.votes_for : d.votes_against);
  }
  d.votes = votes.size() - not_participants;
  if (d.votes < cfg.vote_quorum) {
    d.outcome = RoundOutcome::kRejected;
    d.reason = "rejected: " + std::to_string(d.votes) + " of " + std::to_string(cfg.vote_quorum) +
               " votes needed by the deadline";
    end_round(d);
    return;
  }
  // FLock's rule, as the contract computes it: the stake-weighted sum >= 0 accepts.
  const bool accept = !(d.stake_for < d.stake_against);
  d.outcome = accept ? RoundOutcome::kAccepted : RoundOutcome::kRejected;
  d.reason = std::string(accept ? "accepted" : "rejected") + ": stake for " + d.stake_for.to_dec() +
             ", against " + d.stake_against.to_dec() + " (" + std::to_string(d.votes) + " votes)";
  end_round(d);
}

void Server::Impl::tick() {
  const auto now_ms = unix_ms();
  const auto elapsed = std::chrono::duration<double>(Clock::now() - stage_started).count();
  if (shard_link) shard_follow();  // a shard: the coordinator's round and decision
  switch (state.stage) {
    case wire::STAGE_UPLOADING:
      ingest.release_idle_credits();
      if ((now_ms >= state.deadline_unix_ms ||
           (coordinator_link ? coordinator_link->uploads_over(state.round)
                             : all_proposers_committed())) &&
          shard_following()) {
        metrics.stage_seconds("uploading", elapsed);
        stage_started = Clock::now();
        const auto committed = store.committed(state.round).size();
        if (committed < std::max<std::size_t>(cfg.quorum, 1) && !cfg.shard) {
          RoundDecision d;
          d.outcome = RoundOutcome::kNoQuorum;
          d.reason = "no quorum: " + std::to_string(committed) + " of " +
                     std::to_string(cfg.quorum) + " updates committed by the deadline";
          end_round(d);
        } else
          start_aggregation();
      }
      break;
    case wire::STAGE_AGGREGATING:
      if (!aggregation.valid() && cfg.secagg.enabled) {
        end_round(
            RoundOutcome::kFailed,
            "SecAgg+ state does not survive a restart (masked inputs are never written to disk)");
      } else if (!aggregation.valid()) {  // resumed after a restart mid-aggregation
        start_aggregation();
      } else if (aggregation.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        AggregationResult r = aggregation.get();
        if (r.secagg) {
          std::lock_guard lock(snapshot_mutex);
          last_secagg = std::move(*r.secagg);
        }
        if (!r.validation_error.empty()) {  // logged and recorded on the aggregation thread
          faults.failed(Fault::kValidation, state.round, r.validation_error);
          faults.passed(Fault::kValidation);
          metrics.fault(to_string(Fault::kValidation));
        }
        if (r.validation)
          metrics.validation(r.validation->seconds, r.validation->previous_loss,
                             r.validation->candidate_loss, r.validation->candidate_accuracy);
        metrics.stage_seconds("aggregating", elapsed);
        metrics.aggregation_seconds(r.seconds);
        stage_started = Clock::now();
        if (!r.error.empty() && !shard_link) {
          spdlog::error("round={} aggregation failed: {}", state.round, r.error);
          RoundDecision d;
          d.outcome = RoundOutcome::kFailed;
          d.reason = "aggregation failed: " + r.error;
          end_round(d);
        } else {
          state.candidate_model = r.candidate;
          state.stage = wire::STAGE_VOTING;
          state.deadline_unix_ms = now_ms + cfg.vote_window.count();
          save_state();
          spdlog::info("round={} stage=voting candidate={} aggregation_s={:.3f}", state.round,
                       chain::to_hex(r.candidate), r.seconds);
        }
      }
      break;
    case wire::STAGE_VOTING:
      if (shard_link) break;  // a shard waits for the coordinator's decision (shard_follow)
      if (chain_rounds && chain_rounds->v2()) {  // AllianceTaskV2: the voters vote on chain
        // The bitmap marks the committed updates the rule included (chain_step.hpp).
        const auto decided = chain_rounds->chain_vote(state.round, state.candidate_model, [&] {
          return included_updates(store, state.round);
        });
        if (decided) {
          metrics.stage_seconds("voting", elapsed);
          stage_started = Clock::now();
          end_round(*decided);
        }
        break;
      }
      if (now_ms >= state.deadline_unix_ms || all_voters_voted()) {
        metrics.stage_seconds("voting", elapsed);
        stage_started = Clock::now();
        tally_and_finish();
      }
      break;
    case wire::STAGE_FINALIZING:
      if (chain_rounds && chain_rounds->settling()) {  // settling on chain
        if (const auto step = chain_rounds->finished()) finish_chain_step(*step);
      } else if (settle_retry_at) {  // the last chain step failed: try it again once paused
        if (Clock::now() < *settle_retry_at) break;
        settle_retry_at.reset();
        if (const auto record = store.round_record(state.round); record && record->decision)
          chain_rounds->settle(*record->decision, settlement_of(*record->decision));
      } else if (const auto record = store.round_record(state.round); record && record->decision) {
        end_round(*record->decision);  // resumed after the decision: settle it (again)
      } else {
        tally_and_finish();  // resumed before the decision
      }
      break;
    case wire::STAGE_SECAGG_ADVERTISE:
    case wire::STAGE_SECAGG_SHARE:
    case wire::STAGE_SECAGG_CHECK:
    case wire::STAGE_SECAGG_MASKED:
    case wire::STAGE_SECAGG_UNMASK: {
      const SecAggStep step = secagg.tick(state, now_ms);
      if (step.kind == SecAggStep::Kind::kEnter || step.kind == SecAggStep::Kind::kAggregate)
        metrics.stage_seconds(wire::Stage_Name(state.stage), elapsed);
      follow(step);
      break;
    }
    default: break;
  }
}

void Server::Impl::run() {
  zmq::pollitem_t items[] = {{round_socket->handle(), 0, ZMQ_POLLIN, 0},
                             {register_socket->handle(), 0, ZMQ_POLLIN, 0},
                             {ingest.completions().handle(), 0, ZMQ_POLLIN, 0},
                             {reader.completions().handle(), 0, ZMQ_POLLIN, 0}};
  while (!stopping) {
    zmq::poll(items, 4, std::chrono::milliseconds(20));
    // Acknowledgements first: they return credits, which keep the nodes sending.
    for (int budget = 0; budget < 1024 && (items[2].revents & ZMQ_POLLIN); ++budget) {
      const auto done = ingest.take_completion();
      if (!done) break;
      send(*done);
    }
    if (items[3].revents & ZMQ_POLLIN) send_reads();  // ranges the reader threads read
    // Bounded work per wake-up, so the round engine's deadlines are never starved.
    for (int budget = 0; budget < 256 && (items[0].revents & ZMQ_POLLIN); ++budget) {
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(*round_socket, std::back_inserter(frames),
                               zmq::recv_flags::dontwait))
        break;
      on_round_message(frames);
    }
    for (int budget = 0; budget < 64 && (items[1].revents & ZMQ_POLLIN); ++budget) {
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(*register_socket, std::back_inserter(frames),
                               zmq::recv_flags::dontwait))
        break;
      on_register_message(frames, *register_socket, /*plain_session=*/false);
    }
    // A failure here is retried on the next wake-up: counted and logged once per streak
    // (note_fault), and one that persists past fault_limit_ms ends the round.
    try {
      send(ingest.answer_waiting_begins(state.stage == wire::STAGE_UPLOADING, state.round));
      note_pass(Fault::kWaitingBegins);
    } catch (const std::exception& e) {
      note_fault(Fault::kWaitingBegins, e.what());
    }
    try {
      if (fault_end && fault_end->round != state.round) fault_end.reset();
      if (fault_end && can_end_for_fault())
        end_round_for_fault();
      else
        tick();
      note_pass(Fault::kRoundEngine);
    } catch (const std::exception& e) {
      note_fault(Fault::kRoundEngine, e.what());
    }
  }
}

Server::Server(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Server::~Server() {
  stop();
}

void Server::start() {
  Impl& s = *impl_;
  if (s.started) return;
  const auto configure = [&](zmq::socket_t& sock, const char* zap_domain,
                             const std::string& endpoint, std::int64_t max_message, int rcvhwm,
                             int sndhwm) {
    sock.set(zmq::sockopt::maxmsgsize, max_message);
    sock.set(zmq::sockopt::rcvhwm, rcvhwm);
    sock.set(zmq::sockopt::sndhwm, sndhwm);
    sock.set(zmq::sockopt::linger, 0);
    if (s.cfg.curve) {
      sock.set(zmq::sockopt::zap_domain, zap_domain);
      sock.set(zmq::sockopt::curve_server, 1);
      sock.set(zmq::sockopt::curve_secretkey, s.secret_key);
    }
    sock.bind(endpoint);
  };
  if (s.cfg.curve) {
    s.zap_socket = std::make_unique<zmq::socket_t>(s.ctx, zmq::socket_type::rep);
    s.zap_socket->bind("inproc://zeromq.zap.01");
  }
  s.round_socket = std::make_unique<zmq::socket_t>(s.ctx, zmq::socket_type::router);
  s.register_socket = std::make_unique<zmq::socket_t>(s.ctx, zmq::socket_type::router);
  configure(*s.round_socket, "round", s.cfg.endpoint,
            static_cast<std::int64_t>(2 * s.cfg.chunk_bytes + (64 << 10)),
            static_cast<int>(2 * s.cfg.peer_credits + 16), 1000);
  // The registration endpoint's own limits: a Register is small (64 KiB frames, a larger one
  // drops its connection) and its queues are short (4 messages per connection); its live
  // connections are capped by the ZAP handler (RegisterGate, zap.hpp) from the socket's
  // monitor, and its messages per origin by admit_register, before any signature is checked.
  if (s.cfg.curve) {
    const std::string monitor = "inproc://murmurd.register-monitor";
    if (zmq_socket_monitor(s.register_socket->handle(), monitor.c_str(),
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0)
      throw zmq::error_t();
    s.register_monitor = std::make_unique<zmq::socket_t>(s.ctx, zmq::socket_type::pair);
    s.register_monitor->connect(monitor);
    s.register_gate = std::make_unique<RegisterGate>(s.cfg.register_max_connections,
                                                     s.cfg.register_connections_per_address);
  }
  configure(*s.register_socket, "register", s.cfg.register_endpoint, 64 << 10, 4, 4);
  if (s.cfg.metrics_port >= 0 && s.cfg.metrics_port != 0) {
    s.http = std::make_unique<httplib::Server>();
    s.http->Get("/metrics",
                [&metrics = s.metrics](const httplib::Request&, httplib::Response& res) {
                  res.set_content(metrics.render(), "text/plain; version=0.0.4");
                });
    s.http_port = s.cfg.metrics_port;
    if (!s.http->bind_to_port(s.cfg.metrics_address.c_str(), s.http_port))
      throw std::runtime_error("metrics: cannot listen on " + s.cfg.metrics_address + ":" +
                               std::to_string(s.http_port));
    s.http_thread = std::thread([&http = *s.http] { http.listen_after_bind(); });
  }
  s.stopping = false;
  s.ingest.start();
  s.reader.start();
  if (s.cfg.curve)
    s.zap_thread =
        std::thread(run_zap, std::ref(*s.zap_socket), s.register_monitor.get(),
                    std::ref(*s.register_gate), std::cref(s.store), std::cref(s.stopping),
                    s.cfg.shard ? s.cfg.shard->coordinator_key : std::string());
  s.loop_thread = std::thread([&s] { s.run(); });
  s.started = true;
  spdlog::info("murmurd serving endpoint={} register={} curve={} backend=\"{}\" rule=\"{}\"",
               s.cfg.endpoint, s.cfg.register_endpoint, s.cfg.curve, s.backend->describe(),
               kernels::describe(s.cfg.aggregation));
}

void Server::stop() {
  Impl& s = *impl_;
  if (!s.started) return;
  s.stopping = true;
  if (s.loop_thread.joinable()) s.loop_thread.join();
  s.ingest.stop();  // the sync threads finish the queued syncs, then leave
  s.reader.stop();
  if (s.aggregation.valid()) s.aggregation.wait();
  if (s.chain_rounds) s.chain_rounds->wait();
  if (s.zap_thread.joinable()) s.zap_thread.join();
  if (s.http) s.http->stop();
  if (s.http_thread.joinable()) s.http_thread.join();
  s.round_socket.reset();
  s.register_monitor.reset();
  s.register_socket.reset();
  s.zap_socket.reset();
  s.started = false;
}

std::string Server::curve_public_key() const {
  return impl_->public_key;
}

RoundSnapshot Server::snapshot() const {
  std::lock_guard lock(impl_->snapshot_mutex);
  return impl_->shared_snapshot;
}

int Server::metrics_port() const {
  return impl_->http_port;
}

SecAggOutcome Server::last_secagg() const {
  std::lock_guard lock(impl_->snapshot_mutex);
  return impl_->last_secagg;
}

}  // namespace murmur::server
