#include "murmur/server/config.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace murmur::server {
namespace {

[[noreturn]] void bad(const std::filesystem::path& file, const std::string& key,
                      const std::string& why) {
  throw std::runtime_error(file.string() + ": " + key + ": " + why);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<Participant> load_participants(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read participants file " + path.string());
  std::vector<Participant> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto comma = line.find(',');
    if (comma == std::string::npos)
      throw std::runtime_error(path.string() + ":" + std::to_string(n) + ": expected 'address,stake'");
    try {
      std::string addr = line.substr(0, comma), stake = line.substr(comma + 1);
      const auto trim = [](std::string& s) {
        s.erase(0, s.find_first_not_of(" \t"));
        s.erase(s.find_last_not_of(" \t\r") + 1);
      };
      trim(addr);
      trim(stake);
      out.push_back({chain::Address::from_hex(addr), chain::U256::from_string(stake)});
    } catch (const std::exception& e) {
      throw std::runtime_error(path.string() + ":" + std::to_string(n) + ": " + e.what());
    }
  }
  return out;
}

kernels::AggregationSpec parse_rule(const std::string& rule, std::size_t f, double beta,
                                    std::size_t m, std::size_t bucket, double tau) {
  namespace k = kernels;
  k::AggregationSpec spec;
  if (bucket > 1) spec.pre.push_back(k::Bucketing{bucket, 0});
  if (rule == "fedavg" || rule == "weighted-mean") spec.rule = k::WeightedMean{};
  else if (rule == "median") spec.rule = k::CoordinateMedian{};
  else if (rule == "trimmed-mean") spec.rule = k::TrimmedMean{beta};
  else if (rule == "meamed") spec.rule = k::MeaMed{f};
  else if (rule == "krum") spec.rule = k::Krum{f};
  else if (rule == "multi-krum") spec.rule = k::MultiKrum{f, m};
  else if (rule == "bulyan") spec.rule = k::Bulyan{f};
  else if (rule == "geometric-median") spec.rule = k::GeometricMedian{};
  else if (rule == "centered-clipping") spec.rule = k::CenteredClipping{tau, 10};
  else
    throw std::runtime_error("unknown aggregation rule '" + rule +
                             "' (fedavg, median, trimmed-mean, meamed, krum, multi-krum, bulyan, "
                             "geometric-median, centered-clipping)");
  return spec;
}

Config load_config(const std::filesystem::path& path) {
  toml::table t;
  try {
    t = toml::parse(read_text(path), path.string());
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(path.string() + ": " + std::string(e.description()));
  }
  const auto dir = path.parent_path();
  const auto resolve = [&](const std::string& p) {
    const std::filesystem::path fp(p);
    return fp.is_absolute() ? fp : dir / fp;
  };
  Config c;
  const auto srv = t["server"], task = t["task"], round = t["round"], agg = t["aggregation"];
  c.endpoint = srv["endpoint"].value_or(c.endpoint);
  c.register_endpoint = srv["register_endpoint"].value_or(c.register_endpoint);
  c.metrics_address = srv["metrics_address"].value_or(c.metrics_address);
  c.metrics_port = srv["metrics_port"].value_or(c.metrics_port);
  c.data_dir = resolve(srv["data_dir"].value_or(c.data_dir.string()));
  c.curve = srv["curve"].value_or(c.curve);
  c.curve_secret_key = srv["curve_secret_key"].value_or(std::string());
  if (const auto file = srv["curve_secret_key_file"].value<std::string>()) {
    std::string key = read_text(resolve(*file));
    key.erase(key.find_last_not_of(" \t\r\n") + 1);
    c.curve_secret_key = key;
  }
  if (c.curve && c.curve_secret_key.size() != 40)
    bad(path, "server.curve_secret_key", "CurveZMQ needs a 40-character Z85 secret key (murmurd keygen writes one)");
  c.chunk_bytes = srv["chunk_bytes"].value_or(c.chunk_bytes);
  c.inflight_budget_bytes = srv["inflight_budget_bytes"].value_or(c.inflight_budget_bytes);
  c.peer_credits = srv["peer_credits"].value_or(c.peer_credits);
  c.peer_messages_per_second = srv["peer_messages_per_second"].value_or(c.peer_messages_per_second);
  c.backend = srv["backend"].value_or(c.backend);
  if (c.chunk_bytes < 1024 || c.chunk_bytes % 4 != 0) bad(path, "server.chunk_bytes", "must be a multiple of 4, at least 1024");
  if (c.inflight_budget_bytes < c.chunk_bytes) bad(path, "server.inflight_budget_bytes", "must hold at least one chunk");
  if (c.peer_credits == 0) bad(path, "server.peer_credits", "must be at least 1");

  c.task_id = task["task_id"].value_or(c.task_id);
  c.chain_id = task["chain_id"].value_or(c.chain_id);
  if (const auto contract = task["contract"].value<std::string>()) c.contract = chain::Address::from_hex(*contract);
  c.parameters = task["parameters"].value_or(c.parameters);
  if (c.parameters == 0) bad(path, "task.parameters", "the model's parameter count is required");
  c.rounds = task["rounds"].value_or(c.rounds);
  c.proposer_bps = task["proposer_bps"].value_or(c.proposer_bps);
  if (c.proposer_bps > 10000) bad(path, "task.proposer_bps", "at most 10000");
  if (const auto m = task["initial_model"].value<std::string>()) c.initial_model = resolve(*m);
  if (const auto p = task["participants"].value<std::string>())
    c.participants = load_participants(resolve(*p));
  if (c.participants.empty()) bad(path, "task.participants", "a participants file with at least one 'address,stake' line is required");

  c.upload_window = std::chrono::milliseconds(static_cast<long>(round["upload_seconds"].value_or(60.0) * 1000));
  c.vote_window = std::chrono::milliseconds(static_cast<long>(round["vote_seconds"].value_or(30.0) * 1000));
  c.quorum = round["quorum"].value_or(c.quorum);
  c.vote_quorum = round["vote_quorum"].value_or(c.vote_quorum);

  try {
    c.aggregation = parse_rule(agg["rule"].value_or(std::string("fedavg")), agg["f"].value_or(std::size_t{0}),
                               agg["beta"].value_or(0.1), agg["m"].value_or(std::size_t{1}),
                               agg["bucket"].value_or(std::size_t{1}), agg["tau"].value_or(1.0));
  } catch (const std::runtime_error& e) {
    bad(path, "aggregation.rule", e.what());
  }

  const auto sa = t["secagg"];
  c.secagg.enabled = sa["enabled"].value_or(false);
  c.secagg.group_size = sa["group_size"].value_or(c.secagg.group_size);
  c.secagg.degree = sa["degree"].value_or(c.secagg.degree);
  c.secagg.threshold = sa["threshold"].value_or(c.secagg.threshold);
  c.secagg.clip = sa["clip"].value_or(c.secagg.clip);
  if (c.secagg.group_size == 0) bad(path, "secagg.group_size", "must be at least 1");
  if (!(c.secagg.clip > 0)) bad(path, "secagg.clip", "must be positive");
  const auto window = [&](const char* key, std::chrono::milliseconds fallback) {
    const double seconds = sa[key].value_or(static_cast<double>(fallback.count()) / 1000);
    if (!(seconds > 0)) bad(path, std::string("secagg.") + key, "must be positive");
    return std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  };
  c.secagg.advertise_window = window("advertise_seconds", c.secagg.advertise_window);
  c.secagg.share_window = window("share_seconds", c.secagg.share_window);
  c.secagg.check_window = window("check_seconds", c.secagg.check_window);
  c.secagg.masked_window = window("masked_seconds", c.secagg.masked_window);
  c.secagg.unmask_window = window("unmask_seconds", c.secagg.unmask_window);
  return c;
}

}  // namespace murmur::server
