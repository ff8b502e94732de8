#include "round_record.hpp"

#include "murmur/kernels/rule_registry.hpp"
#include "murmur/server/server.hpp"
#include "murmur/server/state_view.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

namespace murmur::server {

std::string flag_of(const kernels::AggregationSpec& spec, const kernels::RowDiagnostic& row,
                    double flag_ratio) {
  if (row.verdict != kernels::Verdict::kKept) return "rejected";
  switch (kernels::kind(spec.rule)) {
    case kernels::RuleKind::kCoordinateWise:
      // score = distance to the aggregate / median distance of the finite rows
      return std::isfinite(row.score) && row.score > flag_ratio ? "outlier" : "";
    case kernels::RuleKind::kLinear:
      // score = the factor the rule scaled the row by (1: untouched)
      return std::isfinite(row.score) && row.score < 1.0 / flag_ratio ? "downweighted" : "";
    case kernels::RuleKind::kSelection: return "";  // a row is kept or rejected
  }
  return "";
}

const char* to_string(RoundOutcome o) {
  switch (o) {
    case RoundOutcome::kAccepted: return "accepted";
    case RoundOutcome::kRejected: return "rejected";
    case RoundOutcome::kNoQuorum: return "no quorum";
    case RoundOutcome::kFailed: return "failed";
  }
  return "?";
}

namespace {

nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

nlohmann::json to_json(const RoundRecord& r) {
  using nlohmann::json;
  json j = {{"round", r.round},
            {"updates", r.update_count},
            {"rule", r.rule},
            {"base_model", chain::to_hex(r.base_model)},
            {"candidate_model", chain::to_hex(r.candidate_model)},
            {"aggregation_seconds", number(r.aggregation_seconds)}};
  if (r.decision) {
    const auto& d = *r.decision;
    j["outcome"] = to_string(d.outcome);
    j["reason"] = d.reason;
    j["stake_for"] = d.stake_for.to_dec();
    j["stake_against"] = d.stake_against.to_dec();
    j["votes"] = d.votes;
    j["votes_for"] = d.votes_for;
    j["votes_against"] = d.votes_against;
  }
  json flagged = json::array();
  for (const auto& a : r.flagged()) flagged.push_back(a.to_checksum());
  j["flagged"] = flagged;
  if (r.validation) {
    const auto& v = *r.validation;
    j["validation"] = {{"previous_loss", number(v.previous_loss)},
                       {"previous_accuracy", number(v.previous_accuracy)},
                       {"candidate_loss", number(v.candidate_loss)},
                       {"candidate_accuracy", number(v.candidate_accuracy)},
                       {"candidate_status", v.candidate_status},
                       {"rows", v.rows},
                       {"contribution_weights", v.weights},
                       {"candidates", v.candidates},
                       {"seconds", number(v.seconds)}};
  }
  if (r.posting)
    j["posting"] = {{"state", r.posting->state},
                    {"tx", r.posting->tx == chain::Hash32{} ? "" : chain::to_hex(r.posting->tx)},
                    {"block", r.posting->block},
                    {"error", r.posting->error}};
  if (r.seed)
    j["seed"] = {{"source", r.seed->source},
                 {"error", r.seed->error},
                 {"settles_on_chain", r.seed->source == "chain"}};
  j["validation_error"] = r.validation_error;
  j["faults"] = r.faults.empty() ? json::object() : json::parse(r.faults, nullptr, false);
  if (j["faults"].is_discarded()) j["faults"] = r.faults;
  json updates = json::array();
  for (const auto& u : r.updates) {
    json row = {{"address", u.address.to_checksum()}, {"verdict", u.verdict},
                {"weight", number(u.weight)},         {"score", number(u.score)},
                {"distance", number(u.distance)},     {"flag", u.flag}};
    if (!u.validation.alone_status.empty())
      row["validation"] = {{"alone_status", u.validation.alone_status},
                           {"alone_loss", number(u.validation.alone_loss)},
                           {"alone_accuracy", number(u.validation.alone_accuracy)},
                           {"without_loss", number(u.validation.without_loss)},
                           {"without_accuracy", number(u.validation.without_accuracy)},
                           {"contribution", number(u.validation.contribution)}};
    updates.push_back(row);
  }
  j["update_rows"] = updates;
  return j;
}

}  // namespace

std::string round_records_json(const std::filesystem::path& data_dir,
                               std::optional<std::uint64_t> round) {
  const StateView view(data_dir);
  nlohmann::json out = nlohmann::json::array();
  for (std::uint64_t r : round ? std::vector<std::uint64_t>{*round} : view.recorded_rounds())
    if (const auto record = view.round_record(r)) out.push_back(to_json(*record));
  return out.dump(2);
}

std::vector<chain::Address> RoundRecord::flagged() const {
  std::vector<chain::Address> out;
  for (const auto& u : updates)
    if (!u.flag.empty()) out.push_back(u.address);
  return out;
}

}  // namespace murmur::server
