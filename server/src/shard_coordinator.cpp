// The coordinator of a murmurd shard set (shard_coordinator.hpp) and `murmurd rounds` on it.
#include "shard_coordinator.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>

#include "murmur/server/shard_coordinator.hpp"
#include "murmur/shard/rendezvous.hpp"
#include "shard_fetch.hpp"
#include "shard_keccak.hpp"

namespace murmur::server {
namespace {

using Clock = std::chrono::steady_clock;

std::filesystem::path records_file(const std::filesystem::path& data_dir) {
  return data_dir / "shard_rounds.jsonl";
}

std::vector<nlohmann::json> read_records(const std::filesystem::path& data_dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(records_file(data_dir));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::span<const std::uint8_t> text_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// A figure of a shard's row: JSON writes NaN as null.
double number(const nlohmann::json& v) {
  return v.is_number() ? v.get<double>() : std::nan("");
}

}  // namespace

CoordinatorLink::CoordinatorLink(const Config& config, std::string public_key,
                                 std::string secret_key)
    : cfg_(config),
      public_key_(std::move(public_key)),
      secret_key_(std::move(secret_key)),
      count_(config.shard->count),
      beats_(config.shard->count) {
  store_ = shard::Rendezvous::serve(cfg_.shard->coordinator_host, cfg_.shard->coordinator_port,
                                    cfg_.shard->timeout);
  spdlog::info("murmurd coordinator serving the shard store on {}:{} for {} shards",
               cfg_.shard->coordinator_host, store_->port(), count_);
  const auto marker = cfg_.data_dir / "shard_store_started";
  restarted_ = std::filesystem::exists(marker);
  std::ofstream(marker) << wall_ms() << "\n";
  watch_ = std::thread([this] { watch(); });
}

void CoordinatorLink::restart_round(std::uint64_t round) {
  const auto first = static_cast<std::uint64_t>(wall_ms());
  base_ = {round, first};
  store_->set(attempt_key(round), text_bytes(std::to_string(first)));
  spdlog::warn(
      "coordinator: restarted in round {}: its store began empty, so every shard aggregates again "
      "(attempt {})",
      round, first);
}

CoordinatorLink::~CoordinatorLink() {
  stopping_ = true;
  if (watch_.joinable()) watch_.join();
}

void CoordinatorLink::open(const RoundOpening& opening) {
  round_ = opening.round;
  store_->set(kOpeningKey, text_bytes(encode_opening(opening)));
  spdlog::info("coordinator: round {} opened for {} shards, seed {}", opening.round, count_,
               chain::to_hex(opening.seed));
}

void CoordinatorLink::decide(std::uint64_t round, const CoordinatorDecision& decision) {
  store_->set(decision_key(round), text_bytes(encode_decision(decision)));
}

bool CoordinatorLink::uploads_over(std::uint64_t round) {
  const auto now = Clock::now();
  if (now - last_look_ < std::chrono::milliseconds(100)) return false;
  last_look_ = now;
  try {
    // Every shard's list, or a shard's result already (one that failed without the others').
    bool all = true;
    for (std::size_t k = 0; k < count_; ++k) {
      if (store_->has(shard_result_key(round, k))) return true;
      all =
          all && store_->has("round/" + std::to_string(round) + "/committed/" + std::to_string(k));
    }
    return all;
  } catch (const std::exception& e) {
    spdlog::error("coordinator: reading round {}'s committed lists: {}", round, e.what());
    return false;
  }
}

void CoordinatorLink::watch() {
  std::unique_ptr<shard::Rendezvous> store;
  while (!stopping_) {
    try {
      if (!store)
        store = shard::Rendezvous::connect(cfg_.shard->coordinator_host, store_->port(),
                                           cfg_.shard->timeout);
      for (std::size_t k = 0; k < count_; ++k) {
        std::string count;
        if (store->has(heartbeat_key(k))) {
          const auto v = store->get(heartbeat_key(k));
          count.assign(v.begin(), v.end());
        }
        std::lock_guard lock(mutex_);
        Beat& b = beats_[k];
        if (!count.empty() && count != b.count) {
          b.count = std::move(count);
          b.moved = Clock::now();
          b.seen = true;
        }
        const bool silent = b.seen && Clock::now() - b.moved >= kSilence;
        if (silent && !b.down) {
          b.down = true;
          spdlog::warn("coordinator: round {}: shard {} silent for {} ms (down?)", round_.load(), k,
                       kSilence.count());
          outages_.push_back(
              {{"shard", k}, {"silent_since_unix_ms", wall_ms() - kSilence.count()}});
        } else if (!silent && b.down) {
          b.down = false;
          spdlog::info("coordinator: round {}: shard {} is back", round_.load(), k);
          for (auto& o : outages_)
            if (o["shard"] == k && !o.contains("back_unix_ms")) o["back_unix_ms"] = wall_ms();
        }
      }
    } catch (const std::exception& e) {
      spdlog::error("coordinator: reading the shards' heartbeats: {}", e.what());
      store.reset();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool CoordinatorLink::all_down_for(std::chrono::milliseconds d) const {
  std::lock_guard lock(mutex_);
  for (const Beat& b : beats_)  // a shard never heard of counts as down
    if (b.seen && Clock::now() - b.moved < d) return false;
  return true;
}

nlohmann::json CoordinatorLink::take_outages(std::uint64_t) {
  std::lock_guard lock(mutex_);
  nlohmann::json out = outages_;
  outages_ = nlohmann::json::array();
  for (std::size_t k = 0; k < count_; ++k)  // a shard still down opens the next round's list
    if (beats_[k].down) outages_.push_back({{"shard", k}, {"silent_since_unix_ms", wall_ms()}});
  return out;
}

AggregationResult CoordinatorLink::gather(Spool& spool, StateStore& store, std::uint64_t round,
                                          const chain::Hash32& global, RoundValidator* validator,
                                          const std::atomic<bool>& stopping) {
  const std::size_t S = count_;
  const auto timeout = cfg_.shard->timeout;
  AggregationResult r;
  const auto t0 = Clock::now();
  std::vector<std::optional<nlohmann::json>> parts(S);
  try {
    auto rv = shard::Rendezvous::connect(cfg_.shard->coordinator_host, store_->port(), timeout);
    bool errored = false;
    Clock::time_point first_error{};
    std::string gave_up;
    // The attempt the shards run (a restarted coordinator goes on from the one in the store).
    std::uint64_t attempt = 0;
    if (rv->has(attempt_key(round))) {
      const auto v = rv->get(attempt_key(round));
      attempt = std::stoull(std::string(v.begin(), v.end()));
    }
    // A restarted coordinator counts this round's attempts from the one it set (restart_round).
    const std::uint64_t base = base_.first == round ? base_.second : 0;
    nlohmann::json retries = nlohmann::json::array();
    for (;;) {
      std::size_t in = 0;
      bool error = false, retryable = false;
      std::string why;
      for (std::size_t k = 0; k < S; ++k) {
        parts[k].reset();
        const std::string key = shard_result_key(round, k);
        if (!rv->has(key)) continue;
        const auto bytes = rv->get(key);
        auto j = nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
        if (j.value("attempt", std::uint64_t{0}) != attempt) continue;  // an earlier attempt's
        parts[k] = std::move(j);
        ++in;
        const std::string e = (*parts[k])["error"].get<std::string>();
        if (!e.empty()) {
          error = true;
          retryable = retryable || parts[k]->value("retryable", false);
          if (why.empty()) why = e;
        }
      }
      // A collective failed (a shard killed after the group formed, or restarted during it): a
      // fresh group, while attempts and the window last; the shards follow attempt_key.
      if (retryable && attempt + 1 < base + kAttempts && Clock::now() - t0 < timeout * kAttempts) {
        retries.push_back({{"attempt", attempt}, {"error", why}});
        ++attempt;
        rv->set(attempt_key(round), text_bytes(std::to_string(attempt)));
        spdlog::warn(
            "coordinator: round {}: attempt {} failed ({}); the shards form a fresh group "
            "(attempt {})",
            round, attempt - 1, why, attempt);
        errored = false;
        continue;
      }
      if (error && !errored) errored = true, first_error = Clock::now();
      if (in == S || (errored && Clock::now() - first_error >= timeout)) break;
      // Nothing will come: no result, and no shard's heartbeat moved for the timeout.
      if (in == 0 && Clock::now() - t0 >= timeout && all_down_for(timeout)) {
        gave_up = "no shard published a result of round " + std::to_string(round) +
                  " and every shard was silent for " + std::to_string(timeout.count()) + " ms";
        break;
      }
      if (stopping) throw std::runtime_error("murmurd is stopping");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }

    nlohmann::json rec = {{"round", round}, {"shards", S}};
    nlohmann::json list = nlohmann::json::array();
    std::string reason = gave_up;
    for (std::size_t k = 0; k < S; ++k) {
      if (parts[k]) {
        nlohmann::json p = *parts[k];
        p.erase("rows");  // the coordinator's state.db has them (murmurd rounds on its data)
        list.push_back(p);
        const std::string e = (*parts[k])["error"].get<std::string>();
        if (!e.empty() && reason.empty()) reason = e;
      } else {
        list.push_back(
            {{"shard", k}, {"error", "no result: the shard is down or never reached aggregation"}});
        if (reason.empty())
          reason = "shard " + std::to_string(k) + " published no result for round " +
                   std::to_string(round);
      }
    }
    // When every part aggregated: the parts tile [0, D) in shard order, and the whole model's
    // keccak-256 is the sponge the last shard left, squeezed (204 bytes read from the store).
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    if (reason.empty()) {
      try {
        for (std::size_t k = 0; k < S; ++k) {
          const std::size_t begin = parts[k]->at("range").at(0).get<std::size_t>();
          const std::size_t end = parts[k]->at("range").at(1).get<std::size_t>();
          const std::size_t want = ranges.empty() ? 0 : ranges.back().second;
          if (begin != want || end < begin)
            throw std::runtime_error("shard " + std::to_string(k) + "'s part is [" +
                                     std::to_string(begin) + ", " + std::to_string(end) +
                                     "), it should begin at " + std::to_string(want));
          ranges.emplace_back(begin, end);
        }
        if (ranges.back().second != cfg_.parameters)
          throw std::runtime_error("the parts hold " + std::to_string(ranges.back().second) +
                                   " coordinates, the task " + std::to_string(cfg_.parameters));
        const std::uint64_t attempt_done = parts[0]->at("attempt").get<std::uint64_t>();
        r.candidate = KeccakChain::resume(rv->get(keccak_key(round, attempt_done, S - 1))).finish();
        rec["candidate"] = chain::to_hex(r.candidate);
      } catch (const std::exception& e) {
        reason = std::string("the candidate's hash: ") + e.what();
      }
    }
    rec["parts"] = list;
    rec["attempts"] = attempt - base + 1;
    if (base != 0) rec["restarted"] = true;  // the coordinator restarted during this round
    rec["retries"] = retries;                // the attempts that failed for a collective, and why
    rec["outages"] = take_outages(round);    // shards reported down while the round ran
    rec["store_bytes"] = {{"get", rv->bytes_got()}, {"set", rv->bytes_set()}};
    rec["outcome"] = reason.empty() ? "aggregated" : "failed";
    rec["reason"] = reason;
    {
      std::ofstream out(records_file(cfg_.data_dir), std::ios::app);
      out << rec.dump() << "\n";
    }
    spdlog::info("coordinator: round {} {}{}", round, rec["outcome"].get<std::string>(),
                 reason.empty() ? "" : ": " + reason);
    if (!reason.empty()) throw std::runtime_error(reason);

    // The common updates as committed here (the chain's flags read them), the rule's rows.
    const nlohmann::json& rows = parts[0]->at("rows");
    for (const auto& row : rows) {
      const auto address = chain::Address::from_hex(row.at("address").get<std::string>());
      Upload u = store.begin_upload(round, address, wire::DTYPE_F32, cfg_.parameters);
      store.commit(u, chain::hash_from_hex(row.at("hash").get<std::string>()),
                   row.at("samples").get<std::uint64_t>(),
                   chain::from_hex(row.at("signature").get<std::string>()));
      store.record_diagnostic(round, address, row.at("verdict").get<std::string>(),
                              number(row.at("weight")), number(row.at("score")),
                              number(row.at("distance")), row.at("flag").get<std::string>());
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (validator) {
      try {
        // The candidate from the shards' round endpoints, part after part, each checked
        // against the part hash its shard published and the whole against the chained hash.
        std::vector<float> model;
        model.reserve(cfg_.parameters);
        for (std::size_t k = 0; k < S; ++k) {
          const nlohmann::json& p = *parts[k];
          const ShardContact contact{p.at("endpoint").get<std::string>(),
                                     p.at("public_key").get<std::string>(),
                                     p.at("chunk_bytes").get<std::uint64_t>()};
          const auto part = fetch_shard_part(
              contact, chain::hash_from_hex(p.at("candidate").get<std::string>()),
              (ranges[k].second - ranges[k].first) * 4, public_key_, secret_key_, timeout);
          model.insert(model.end(), part.begin(), part.end());
        }
        if (spool.store_model(model) != r.candidate)
          throw std::runtime_error("the shards' parts do not hash to the chained keccak-256 " +
                                   chain::to_hex(r.candidate));
        const std::vector<float> base = spool.load_model(global);
        const RoundFigures f = validator->score(base, model);
        RoundValidationRecord v;
        if (f.previous.valid())
          v.previous_loss = f.previous.mean_loss, v.previous_accuracy = f.previous.accuracy;
        if (f.candidate.valid())
          v.candidate_loss = f.candidate.mean_loss, v.candidate_accuracy = f.candidate.accuracy;
        v.candidate_status = kernels::to_string(f.candidate.status);
        v.rows = validator->rows();
        v.weights = "none";  // the coordinator holds no update: no per-update figures
        v.candidates = f.candidates;
        v.seconds = f.seconds;
        r.validation = v;
        spdlog::info(
            "round={} validation: previous loss={:.4f} acc={:.4f}, new global loss={:.4f} "
            "acc={:.4f} in {:.3f} s",
            round, v.previous_loss, v.previous_accuracy, v.candidate_loss, v.candidate_accuracy,
            v.seconds);
      } catch (const std::exception& e) {
        r.validation_error = e.what();
        spdlog::error("round={} validation failed: {}", round, e.what());
        store.record_validation_error(round, r.validation_error);
      }
    }
    store.record_aggregation(round, rows.size(), parts[0]->at("rule").get<std::string>(), global,
                             r.candidate, r.seconds, r.validation);
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  if (r.seconds == 0) r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

std::string shard_rounds_json(const std::filesystem::path& data_dir,
                              std::optional<std::uint64_t> round) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& r : read_records(data_dir))
    if (!round || r["round"].get<std::uint64_t>() == *round) out.push_back(std::move(r));
  return out.dump(2);
}

}  // namespace murmur::server
