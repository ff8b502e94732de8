#include "fault_watch.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace murmur::server {

const char* to_string(Fault f) {
  switch (f) {
    case Fault::kWaitingBegins: return "waiting_begins";
    case Fault::kRoundEngine: return "round_engine";
    case Fault::kValidation: return "validation";
    case Fault::kChainOpen: return "chain_open";
    case Fault::kChainPosting: return "chain_posting";
  }
  return "?";
}

namespace {

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

}  // namespace

std::optional<std::string> FaultWatch::failed(Fault f, std::uint64_t round,
                                              const std::string& error, Clock::time_point now) {
  auto [it, fresh] = streaks_.try_emplace(f);
  FaultStreak& s = it->second;
  RoundFault& r = rounds_[round][f];
  ++r.count;
  if (r.first_error.empty()) r.first_error = error;
  if (fresh) {
    s.since = s.last_logged = now;
    s.first_error = error;
  }
  ++s.count;
  r.longest_seconds = std::max(r.longest_seconds, s.seconds(now));
  if (fresh) return error;
  if (now - s.last_logged < kLogEvery) return std::nullopt;
  s.last_logged = now;
  std::string line = "still failing: " + std::to_string(s.count) + " times in " +
                     seconds_text(s.seconds(now)) + " s";
  if (error != s.first_error) line += " (now: " + error + ")";
  return line;
}

std::optional<std::string> FaultWatch::passed(Fault f, Clock::time_point now) {
  const auto it = streaks_.find(f);
  if (it == streaks_.end()) return std::nullopt;
  const FaultStreak s = it->second;
  streaks_.erase(it);
  if (s.count < 2) return std::nullopt;
  return "cleared after " + std::to_string(s.count) + " failures in " +
         seconds_text(s.seconds(now)) + " s";
}

const FaultStreak* FaultWatch::streak(Fault f) const {
  const auto it = streaks_.find(f);
  return it == streaks_.end() ? nullptr : &it->second;
}

std::map<Fault, RoundFault> FaultWatch::of_round(std::uint64_t round) const {
  const auto it = rounds_.find(round);
  return it == rounds_.end() ? std::map<Fault, RoundFault>{} : it->second;
}

std::string FaultWatch::round_json(std::uint64_t round) const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [f, r] : of_round(round))
    j[to_string(f)] = {
        {"count", r.count}, {"first_error", r.first_error}, {"longest_seconds", r.longest_seconds}};
  return j.dump();
}

void FaultWatch::forget_before(std::uint64_t round) {
  rounds_.erase(rounds_.begin(), rounds_.lower_bound(round));
}

}  // namespace murmur::server
