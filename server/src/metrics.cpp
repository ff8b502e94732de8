#include "metrics.hpp"

#include <sstream>

namespace murmur::server {

void Metrics::refused(const std::string& code) {
  std::lock_guard lock(mutex_);
  ++refused_[code];
}

void Metrics::stage_seconds(const std::string& stage, double seconds) {
  std::lock_guard lock(mutex_);
  stage_seconds_[stage] += seconds;
}

void Metrics::aggregation_seconds(double s) {
  std::lock_guard lock(mutex_);
  aggregation_seconds_ += s;
  ++aggregations_;
}

void Metrics::set_backend(const std::string& backend) {
  std::lock_guard lock(mutex_);
  backend_ = backend;
}

void Metrics::validation(double seconds, double previous_loss, double candidate_loss,
                         double candidate_accuracy) {
  std::lock_guard lock(mutex_);
  validation_seconds_ += seconds;
  ++validations_;
  previous_loss_ = previous_loss;
  candidate_loss_ = candidate_loss;
  candidate_accuracy_ = candidate_accuracy;
}

void Metrics::round_ended(const std::string& outcome) {
  std::lock_guard lock(mutex_);
  ++rounds_[outcome];
}

void Metrics::fault(const std::string& kind) {
  std::lock_guard lock(mutex_);
  ++faults_[kind];
}

void Metrics::fault_streak(const std::string& kind, double seconds) {
  std::lock_guard lock(mutex_);
  fault_streaks_[kind] = seconds;
}

std::string Metrics::render() const {
  std::ostringstream s;
  std::lock_guard lock(mutex_);
  s << "# HELP murmur_uploads_accepted_total Updates committed.\n"
       "# TYPE murmur_uploads_accepted_total counter\n"
    << "murmur_uploads_accepted_total " << uploads_accepted_ << "\n"
    << "# HELP murmur_requests_refused_total Requests refused, by error code.\n"
       "# TYPE murmur_requests_refused_total counter\n";
  for (const auto& [code, n] : refused_)
    s << "murmur_requests_refused_total{code=\"" << code << "\"} " << n << "\n";
  s << "# HELP murmur_bytes_in_total Update bytes made durable.\n"
       "# TYPE murmur_bytes_in_total counter\n"
    << "murmur_bytes_in_total " << bytes_in_ << "\n"
    << "# HELP murmur_stage_seconds_total Time spent per round stage.\n"
       "# TYPE murmur_stage_seconds_total counter\n";
  for (const auto& [stage, secs] : stage_seconds_)
    s << "murmur_stage_seconds_total{stage=\"" << stage << "\"} " << secs << "\n";
  s << "# HELP murmur_aggregation_seconds_total Time spent aggregating.\n"
       "# TYPE murmur_aggregation_seconds_total counter\n"
    << "murmur_aggregation_seconds_total " << aggregation_seconds_ << "\n"
    << "murmur_aggregations_total " << aggregations_ << "\n"
    << "# HELP murmur_validation_seconds_total Time spent scoring rounds' candidates.\n"
       "# TYPE murmur_validation_seconds_total counter\n"
    << "murmur_validation_seconds_total " << validation_seconds_ << "\n"
    << "murmur_validations_total " << validations_ << "\n"
    << "# HELP murmur_validation_loss Validation loss of the last validated round's models.\n"
       "# TYPE murmur_validation_loss gauge\n"
    << "murmur_validation_loss{model=\"previous\"} " << previous_loss_ << "\n"
    << "murmur_validation_loss{model=\"candidate\"} " << candidate_loss_ << "\n"
    << "# HELP murmur_validation_accuracy Validation accuracy of the last round's new model.\n"
       "# TYPE murmur_validation_accuracy gauge\n"
    << "murmur_validation_accuracy " << candidate_accuracy_ << "\n"
    << "# HELP murmur_rounds_total Rounds ended, by outcome.\n"
       "# TYPE murmur_rounds_total counter\n";
  for (const auto& [outcome, n] : rounds_)
    s << "murmur_rounds_total{outcome=\"" << outcome << "\"} " << n << "\n";
  s << "# HELP murmur_faults_total Failures of the round engine's work, by fault class "
       "(docs/reliability.md).\n"
       "# TYPE murmur_faults_total counter\n";
  for (const auto& [kind, n] : faults_)
    s << "murmur_faults_total{fault=\"" << kind << "\"} " << n << "\n";
  s << "# HELP murmur_fault_streak_seconds How long a fault class has been failing without a "
       "success (0: not failing).\n"
       "# TYPE murmur_fault_streak_seconds gauge\n";
  for (const auto& [kind, secs] : fault_streaks_)
    s << "murmur_fault_streak_seconds{fault=\"" << kind << "\"} " << secs << "\n";
  s << "# HELP murmur_rounds_local_seed_total Rounds opened on the local seed because startRound "
       "failed (they cannot settle on chain).\n"
       "# TYPE murmur_rounds_local_seed_total counter\n"
    << "murmur_rounds_local_seed_total " << local_seed_rounds_ << "\n";
  s << "# HELP murmur_inflight_bytes Chunk credits granted and not yet used.\n"
       "# TYPE murmur_inflight_bytes gauge\n"
    << "murmur_inflight_bytes " << inflight_ << "\n"
    << "murmur_round " << round_ << "\n"
    << "murmur_stage " << stage_ << "\n"
    << "# HELP murmur_backend_info The aggregation backend in use.\n"
       "# TYPE murmur_backend_info gauge\n"
    << "murmur_backend_info{backend=\"" << backend_ << "\"} 1\n";
  if (extra_) s << extra_();
  return s.str();
}

}  // namespace murmur::server
