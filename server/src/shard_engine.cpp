// The round engine's side of a shard set (docs/sharding.md, "The coordinator"): the coordinator
// opens each round and publishes its decision; a shard follows the coordinator's round (seed,
// deadline, participants) and adopts its decision instead of running its own clock, seed and
// vote. Server::Impl members, called from server.cpp and handlers.cpp only when [shard] is set.
#include <spdlog/spdlog.h>

#include "refuse.hpp"
#include "server_impl.hpp"

namespace murmur::server {

void Server::Impl::shard_start() {
  if (shard_link) {
    if (state.stage == wire::STAGE_AGGREGATING) shard_link->resumed_in(state.round);
    // Where the coordinator reads this shard's parts: the round endpoint, a wildcard bind
    // named by [shard] host (where the other shards reach this one too).
    std::string endpoint = cfg.endpoint;
    for (const std::string wild : {"//*:", "//0.0.0.0:"})
      if (const auto at = endpoint.find(wild); at != std::string::npos)
        endpoint.replace(at, wild.size(), "//" + cfg.shard->host + ":");
    shard_link->set_contact({endpoint, cfg.curve ? public_key : "", cfg.chunk_bytes});
  }
  if (!cfg.shard || !cfg.shard->coordinator) return;
  if (cfg.secagg.enabled)
    throw std::runtime_error("secagg.enabled: a shard set runs plaintext rounds only");
  coordinator_link = std::make_unique<CoordinatorLink>(cfg, public_key, secret_key);
  // A restarted coordinator's store starts empty: it publishes the decisions of the round
  // before and of this one when it has one (closed, or killed between deciding and opening
  // the next), the opening, and in the uploads or the aggregation a fresh attempt that every
  // shard runs (their results went with the old store).
  for (const std::uint64_t r : {state.round - 1, state.round})
    if (r >= 1)
      if (const auto record = store.round_record(r); record && record->decision)
        coordinator_link->decide(r, {record->decision->outcome, record->decision->reason});
  if (coordinator_link->restarted() &&
      (state.stage == wire::STAGE_UPLOADING || state.stage == wire::STAGE_AGGREGATING))
    coordinator_link->restart_round(state.round);
  if (state.stage == wire::STAGE_UPLOADING) coordinator_open();
}

void Server::Impl::coordinator_open() {
  RoundOpening o;
  o.round = state.round;
  o.seed = state.seed == chain::Hash32{} ? seed(state.round) : state.seed;
  o.deadline_unix_ms = state.deadline_unix_ms;
  o.stakes = stakes;
  coordinator_link->open(o);
}

void Server::Impl::shard_follow() {
  if (state.stage == wire::STAGE_CLOSED) return;
  shard_link->watch(state.round);
  const std::optional<RoundOpening> open = shard_link->opening();
  if (state.stage == wire::STAGE_VOTING) {  // aggregated (or failed): the coordinator decides
    std::optional<CoordinatorDecision> d = shard_link->decision(state.round);
    if (!d && shard_link->retry_asked(state.round)) {
      // Another shard's attempt failed after this one's succeeded: all run the next attempt.
      spdlog::info("round={} the coordinator asked for a fresh aggregation attempt", state.round);
      start_aggregation();
      return;
    }
    if (!d && open && open->round > state.round)  // the decision is gone with a coordinator restart
      d = CoordinatorDecision{RoundOutcome::kFailed, "the coordinator opened round " +
                                                         std::to_string(open->round) +
                                                         " without this round's decision"};
    if (!d) return;
    RoundDecision decision;
    decision.outcome = d->outcome;
    decision.reason = "coordinator: " + d->reason;
    if (decision.outcome == RoundOutcome::kAccepted && state.candidate_model == chain::Hash32{}) {
      decision.outcome = RoundOutcome::kFailed;  // cannot happen: the coordinator had every part
      decision.reason += " (but this shard has no candidate part)";
      spdlog::error("round={} {}", state.round, decision.reason);
    }
    end_round(decision);  // no [chain] on a shard: straight to the next round, or closed
    return;
  }
  if (state.stage != wire::STAGE_UPLOADING || !open) return;
  if (open->round > state.round) {
    // The coordinator moved on while this shard was down or behind: the rounds in between ended
    // without this shard's part, so none was accepted and the global part stands.
    RoundDecision d;
    d.outcome = RoundOutcome::kFailed;
    d.reason = "coordinator: round " + std::to_string(state.round) +
               " ended without this shard (the coordinator opened round " +
               std::to_string(open->round) + ")";
    store.record_outcome(state.round, d.reason);
    store.record_decision(state.round, d);
    spdlog::warn("round={} {}", state.round, d.reason);
    if (open->round > cfg.rounds) return;
    enter_uploading(open->round, state.global_model, {});
  }
  if (open->round != state.round) return;
  if (!open->stakes.empty() && open->stakes != stakes) stakes = open->stakes;
  if (state.seed != open->seed || state.deadline_unix_ms != open->deadline_unix_ms) {
    state.seed = open->seed;
    state.deadline_unix_ms = open->deadline_unix_ms;
    save_state();
    spdlog::info("round={} follows the coordinator: seed {} deadline_unix_ms={}", state.round,
                 chain::to_hex(state.seed), state.deadline_unix_ms);
  }
}

bool Server::Impl::shard_following() const {
  return !shard_link || state.seed != chain::Hash32{};
}

void Server::Impl::shard_check_begin() const {
  if (coordinator_link)
    refuse(wire::ERR_WRONG_STAGE,
           "this murmurd is a shard set's coordinator: part k of an update goes to shard k");
  if (!shard_following())
    refuse(wire::ERR_BUSY, "shard " + std::to_string(cfg.shard->index) +
                               " has not heard the coordinator open round " +
                               std::to_string(state.round) + " yet");
}

void Server::Impl::shard_check_vote() const {
  if (shard_link)
    refuse(wire::ERR_WRONG_STAGE, "this murmurd is shard " + std::to_string(cfg.shard->index) +
                                      ": votes go to the shard set's coordinator");
}

}  // namespace murmur::server
