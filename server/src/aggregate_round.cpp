#include "aggregate_round.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "spool_row_source.hpp"

namespace murmur::server {

RoundAggregate aggregate_round(const Spool& spool, const std::vector<Upload>& uploads,
                               const RoundRule& rule, const chain::Hash32& global,
                               std::size_t parameters, kernels::Backend& backend) {
  RoundAggregate out;
  SpoolRowSource rows(spool, uploads, parameters);
  for (const auto& u : uploads) out.counts.push_back(static_cast<double>(u.num_samples));
  std::vector<float> delta(parameters);
  out.report = kernels::aggregate(backend, rows, out.counts, rule.spec, delta);
  for (std::size_t i = 0; i < uploads.size(); ++i) {
    const auto& d = out.report.rows[i];
    UpdateRecord u;
    u.address = uploads[i].address;
    u.verdict = kernels::to_string(d.verdict);
    u.weight = d.weight;
    u.score = d.score;
    u.distance = d.distance;
    u.flag = flag_of(rule.spec, d, rule.flag_ratio);
    out.updates.push_back(std::move(u));
  }
  // Updates are deltas: the candidate is the global model plus the aggregate.
  out.base = spool.load_model(global);
  out.candidate = out.base;
  for (std::size_t j = 0; j < out.candidate.size(); ++j) out.candidate[j] += delta[j];
  return out;
}

RoundValidation validate_round(const Spool& spool, const std::vector<Upload>& uploads,
                               const RoundAggregate& a, std::size_t parameters,
                               RoundValidator& validator) {
  const SpoolRowSource rows(spool, uploads, parameters);
  const auto [weights, kind] = contribution_weights(a.report, a.counts);
  const RoundFigures f = validator.validate(a.base, a.candidate, rows, weights, kind);
  RoundValidation out;
  for (std::size_t i = 0; i < uploads.size(); ++i) {
    const model::UpdateContribution& u = f.updates[i];
    UpdateValidation v;
    v.alone_status = kernels::to_string(u.alone.status);
    if (u.alone.valid()) v.alone_loss = u.alone.mean_loss, v.alone_accuracy = u.alone.accuracy;
    if (u.without.valid())
      v.without_loss = u.without.mean_loss, v.without_accuracy = u.without.accuracy;
    v.contribution = u.contribution;
    out.updates.push_back(v);
  }
  RoundValidationRecord& rec = out.round;
  if (f.previous.valid())
    rec.previous_loss = f.previous.mean_loss, rec.previous_accuracy = f.previous.accuracy;
  if (f.candidate.valid())
    rec.candidate_loss = f.candidate.mean_loss, rec.candidate_accuracy = f.candidate.accuracy;
  rec.candidate_status = kernels::to_string(f.candidate.status);
  rec.rows = validator.rows();
  rec.weights = to_string(f.weights);
  rec.candidates = f.candidates;
  rec.seconds = f.seconds;
  return out;
}

AggregationResult aggregate_and_record(Spool& spool, StateStore& store, std::uint64_t round,
                                       const std::vector<Upload>& uploads, const RoundRule& rule,
                                       const chain::Hash32& global, std::size_t parameters,
                                       kernels::Backend& backend, RoundValidator* validator) {
  using Clock = std::chrono::steady_clock;
  AggregationResult r;
  const auto t0 = Clock::now();
  // The uploads' chunk buffers and the connections' ZeroMQ state freed during the uploads are
  // handed back before the tiles take their share (server/README.md, "Memory").
  malloc_trim(0);
  try {
    const RoundAggregate a = aggregate_round(spool, uploads, rule, global, parameters, backend);
    for (const auto& u : a.updates)
      store.record_diagnostic(round, u.address, u.verdict, u.weight, u.score, u.distance, u.flag);
    r.candidate = spool.store_model(a.candidate);
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (validator) {
      // Validation informs the record and the voters; a failure there does not fail the round.
      try {
        const RoundValidation v = validate_round(spool, uploads, a, parameters, *validator);
        for (std::size_t i = 0; i < uploads.size(); ++i)
          store.record_update_validation(round, uploads[i].address, v.updates[i]);
        r.validation = v.round;
        const RoundValidationRecord& rec = v.round;
        spdlog::info(
            "round={} validation: previous loss={:.4f} acc={:.4f}, new global loss={:.4f} "
            "acc={:.4f}, {} candidates in {:.3f} s (contributions against {} weights)",
            round, rec.previous_loss, rec.previous_accuracy, rec.candidate_loss,
            rec.candidate_accuracy, rec.candidates, rec.seconds, rec.weights);
      } catch (const std::exception& e) {
        r.validation_error = e.what();
        spdlog::error("round={} validation failed: {}", round, e.what());
        store.record_validation_error(round, r.validation_error);
      }
    }
    store.record_aggregation(round, uploads.size(), a.report.rule, global, r.candidate, r.seconds,
                             r.validation);
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  if (r.seconds == 0) r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // The round's tiles, the uploads' chunk buffers and ZeroMQ's per-connection buffers are
  // free now, but glibc keeps freed memory in its arenas (and below its dynamic mmap
  // threshold) for reuse: hand it back so that murmurd returns near its idle size between
  // rounds (server/README.md, "Memory").
  malloc_trim(0);
  return r;
}

}  // namespace murmur::server
