// The round protocol as one table: which message each stage accepts, and its handler (in the
// manner of zproto's state machines). The dispatcher consults it once per request: a message
// arriving in the wrong stage is refused here, by the table, before any handler runs.
//
// Each row names its handler with `via<&Component::handler>`: a member of Server::Impl (the
// plain messages, handlers.cpp), or of SecAggStages (secagg_stages.cpp), which is handed the
// round as persisted. Adding a wire message: its proto in protocol/proto/murmur.proto, one row
// below, one handler. server/README.md walks through it.
#include <algorithm>

#include "refuse.hpp"
#include "server_impl.hpp"

namespace murmur::server {

using E = wire::Envelope;

// clang-format off
const std::array<Server::Impl::Route, 16> Server::Impl::kRoutes{{
  // message                 accepted in                                  names task, round         checked before the stage                            handler
  {E::kRoundInfoRequest,     kAnyStage,                                   nullptr,                  nullptr,                                            via<&Impl::on_round_info>},
  {E::kStatusRequest,        kAnyStage,                                   nullptr,                  nullptr,                                            via<&Impl::on_status>},
  {E::kModelRequest,         kAnyStage,                                   nullptr,                  nullptr,                                            via<&Impl::on_model_request>},
  {E::kRegister,             kAnyStage,                                   nullptr,                  nullptr,                                            via<&Impl::on_misplaced_register>},
  {E::kUploadBegin,          stage_set({wire::STAGE_UPLOADING}),          named<&E::upload_begin>,  via<&Impl::refuse_in_secagg_mode>,                  via<&Impl::on_upload_begin>},
  {E::kUploadChunk,          stage_set({wire::STAGE_UPLOADING}),          nullptr,                  via<&Impl::find_open_upload>,                       via<&Impl::on_upload_chunk>},
  {E::kUploadCommit,         stage_set({wire::STAGE_UPLOADING}),          nullptr,                  via<&Impl::find_upload_to_commit>,                  via<&Impl::on_upload_commit>},
  {E::kVote,                 stage_set({wire::STAGE_VOTING}),             named<&E::vote>,          nullptr,                                            via<&Impl::on_vote>},
  {E::kUpdateListRequest,    stage_set({wire::STAGE_VOTING}),             named<&E::update_list_request>,  nullptr,                                     via<&Impl::on_update_list_request>},
  {E::kUpdateRequest,        stage_set({wire::STAGE_VOTING}),             named<&E::update_request>,       nullptr,                                     via<&Impl::on_update_request>},
  {E::kSecaggAdvertise,      stage_set({wire::STAGE_SECAGG_ADVERTISE}),   named<&E::secagg_advertise>,     nullptr,                                     via<&SecAggStages::on_advertise>},
  {E::kSecaggFetch,          stage_set({wire::STAGE_SECAGG_SHARE, wire::STAGE_SECAGG_CHECK,
                                        wire::STAGE_SECAGG_MASKED, wire::STAGE_SECAGG_UNMASK}),
                                                                          named<&E::secagg_fetch>,  via<&SecAggStages::refuse_nothing_to_fetch>,        via<&SecAggStages::on_fetch>},
  {E::kSecaggDealing,        stage_set({wire::STAGE_SECAGG_SHARE}),       named<&E::secagg_dealing>,       nullptr,                                     via<&SecAggStages::on_dealing>},
  {E::kSecaggChecked,        stage_set({wire::STAGE_SECAGG_CHECK}),       named<&E::secagg_checked>,       nullptr,                                     via<&SecAggStages::on_checked>},
  {E::kSecaggMaskedChunk,    stage_set({wire::STAGE_SECAGG_MASKED}),      named<&E::secagg_masked_chunk>,  nullptr,                                     via<&SecAggStages::on_masked_chunk>},
  {E::kSecaggUnmaskShares,   stage_set({wire::STAGE_SECAGG_UNMASK}),      named<&E::secagg_unmask_shares>, nullptr,                                     via<&SecAggStages::on_unmask_shares>},
}};
// clang-format on

bool is_secagg_stage(wire::Stage s) {
  return s >= wire::STAGE_SECAGG_ADVERTISE && s <= wire::STAGE_SECAGG_UNMASK;
}

int stage_rank(wire::Stage s) {
  // UPLOADING and the SecAgg+ stages both come before AGGREGATING.
  if (is_secagg_stage(s)) return 10 + static_cast<int>(s);
  if (s == wire::STAGE_UPLOADING) return 10;
  return 100 + static_cast<int>(s);
}

wire::Envelope Server::Impl::handle(Request& request) {
  const auto body = request.message.envelope.body_case();
  const auto route = std::find_if(kRoutes.begin(), kRoutes.end(),
                                  [&](const Route& r) { return r.message == body; });
  if (route == kRoutes.end())  // an answer, not a request
    refuse(wire::ERR_MALFORMED, "not a request a node may send");
  // Stage-bound messages (uploads, votes, the SecAgg+ stages) only from a participant of the
  // current round: a node that left the task keeps its bound Curve key (ZAP still admits it),
  // but the participants are re-read when each round opens, and it is no longer among them.
  if (route->accepted != kAnyStage && !stakes.contains(request.peer))
    refuse(wire::ERR_NOT_REGISTERED,
           request.peer.to_checksum() + " is not a participant of round " +
               std::to_string(state.round) + " of task " + std::to_string(cfg.task_id) +
               " (it left the task, or joined after the round opened): only the round's "
               "participants upload and vote");
  if (route->before != nullptr) route->before(*this, request);
  if (route->accepted != kAnyStage) {
    const auto [task, round] = route->names != nullptr ? route->names(request.message.envelope)
                                                       : TaskRound{cfg.task_id, state.round};
    admit_stage(route->accepted, task, round);
  }
  return route->action(*this, request);
}

void Server::Impl::admit_stage(StageSet accepted, std::uint64_t task, std::uint64_t round) const {
  if (task != cfg.task_id)
    refuse(wire::ERR_WRONG_TASK, "task " + std::to_string(task) + ", this server runs task " +
                                     std::to_string(cfg.task_id));
  if (round != state.round)
    refuse(wire::ERR_WRONG_ROUND, "round " + std::to_string(round) + ", the current round is " +
                                      std::to_string(state.round));
  if (!accepts(accepted, state.stage)) {
    // Named by the first stage that accepts it; late once the current stage ranks above all.
    const auto first = static_cast<wire::Stage>(std::countr_zero(accepted));
    bool late = true;
    for (StageSet rest = accepted; rest != 0; rest &= rest - 1)
      late = late &&
             stage_rank(state.stage) > stage_rank(static_cast<wire::Stage>(std::countr_zero(rest)));
    if (late)
      refuse(wire::ERR_DEADLINE,
             wire::Stage_Name(first) + " of round " + std::to_string(round) + " is over");
    refuse(wire::ERR_WRONG_STAGE,
           "round " + std::to_string(round) + " is " + wire::Stage_Name(state.stage));
  }
  // On AllianceTaskV2 the chain's windows time VOTING (murmurd's vote window does not apply).
  const bool chain_votes = state.stage == wire::STAGE_VOTING && chain_rounds && chain_rounds->v2();
  if (!chain_votes && unix_ms() >= state.deadline_unix_ms)
    refuse(wire::ERR_DEADLINE, wire::Stage_Name(state.stage) + " deadline of round " +
                                   std::to_string(round) + " has passed");
}

}  // namespace murmur::server
