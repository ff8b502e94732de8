// The table and the JSON document of `murmur validate`.
#include "murmur/arena/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace murmur::arena {
namespace {

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

nlohmann::ordered_json number(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json score_json(const AdapterScore& s) {
  nlohmann::ordered_json j;
  j["name"] = s.name;
  j["valid"] = s.valid;
  j["mean_loss"] = s.tokens ? number(s.mean_loss) : nullptr;
  j["bits_per_byte"] = s.bits_per_byte ? number(*s.bits_per_byte) : nullptr;
  j["tokens"] = s.tokens;
  j["reason"] =
      s.reason.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.reason);
  return j;
}

}  // namespace

std::vector<AdapterScore> ranked(std::vector<AdapterScore> scores) {
  std::stable_sort(scores.begin(), scores.end(), [](const AdapterScore& a, const AdapterScore& b) {
    if (a.valid != b.valid) return a.valid;
    if (a.valid && a.mean_loss != b.mean_loss) return a.mean_loss < b.mean_loss;
    return a.name < b.name;
  });
  return scores;
}

void print_table(std::ostream& out, const std::vector<AdapterScore>& scores,
                 const std::optional<AdapterScore>& base) {
  std::size_t width = 7;
  for (const AdapterScore& s : scores) width = std::max(width, s.name.size());
  if (base) width = std::max(width, base->name.size());
  const auto pad = [](std::string s, std::size_t w) {
    s.resize(std::max(s.size(), w), ' ');
    return s;
  };
  const auto row = [&](const std::string& rank, const AdapterScore& s) {
    out << pad(rank, 5) << pad(s.name, width + 2)
        << pad(s.tokens && (s.valid || std::isfinite(s.mean_loss)) ? fixed(s.mean_loss, 5) : "-",
               11)
        << pad(s.bits_per_byte ? fixed(*s.bits_per_byte, 5) : "-", 11)
        << pad(std::to_string(s.tokens), 9) << (s.valid ? "ok" : "INVALID: " + s.reason) << "\n";
  };
  out << pad("rank", 5) << pad("adapter", width + 2) << pad("mean loss", 11) << pad("bits/byte", 11)
      << pad("tokens", 9) << "status\n";
  if (base) row("-", *base);
  std::size_t rank = 0;
  for (const AdapterScore& s : scores) row(s.valid ? std::to_string(++rank) : "-", s);
}

std::string to_json(const RunInfo& run, const std::vector<AdapterScore>& scores,
                    const std::optional<AdapterScore>& base) {
  nlohmann::ordered_json j;
  j["base_model"] = run.base_model;
  j["data"] = run.data;
  j["device"] = run.device;
  j["sequences"] = run.sequences;
  j["target_tokens"] = run.target_tokens;
  j["target_bytes"] = run.target_bytes ? nlohmann::ordered_json(*run.target_bytes) : nullptr;
  j["batch_sequences"] = run.batch_sequences;
  j["adapters_per_pass"] = run.adapters_per_pass;
  j["seconds"] = run.seconds;
  j["base"] = base ? score_json(*base) : nlohmann::ordered_json(nullptr);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  std::size_t rank = 0;
  for (const AdapterScore& s : scores) {
    nlohmann::ordered_json e;
    e["rank"] = s.valid ? nlohmann::ordered_json(++rank) : nlohmann::ordered_json(nullptr);
    e.update(score_json(s));
    list.push_back(e);
  }
  j["adapters"] = list;
  return j.dump(2) + "\n";
}

}  // namespace murmur::arena
