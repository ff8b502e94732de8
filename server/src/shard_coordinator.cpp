#include "murmur/server/shard_coordinator.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "murmur/shard/rendezvous.hpp"
#include "shard_round.hpp"

namespace murmur::server {

struct ShardCoordinator::Store {
  std::unique_ptr<shard::Rendezvous> rendezvous;
};

namespace {

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

}  // namespace

ShardCoordinator::ShardCoordinator(Config config) : cfg_(std::move(config)) {
  if (!cfg_.shard || !cfg_.shard->coordinator)
    throw std::invalid_argument("ShardCoordinator: [shard] role = \"coordinator\" is required");
}

ShardCoordinator::~ShardCoordinator() {
  stop();
}

void ShardCoordinator::start() {
  std::filesystem::create_directories(cfg_.data_dir);
  store_ = std::make_unique<Store>();
  store_->rendezvous = shard::Rendezvous::serve(cfg_.shard->coordinator_host,
                                                cfg_.shard->coordinator_port, cfg_.shard->timeout);
  spdlog::info("murmurd coordinator serving the shard store on {}:{} for {} shards",
               cfg_.shard->coordinator_host, store_->rendezvous->port(), cfg_.shard->count);
  thread_ = std::thread([this] { run(); });
}

void ShardCoordinator::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  store_.reset();
}

void ShardCoordinator::run() {
  using Clock = std::chrono::steady_clock;
  const std::size_t S = cfg_.shard->count;
  std::uint64_t round = 1;
  for (const auto& r : read_records(cfg_.data_dir))
    round = std::max(round, r["round"].get<std::uint64_t>() + 1);
  bool errored = false;
  Clock::time_point first_error = Clock::now();
  // Each shard's heartbeat: its last count, when it last moved, whether it is reported down.
  struct Beat {
    std::string count;
    Clock::time_point moved = Clock::now();
    bool seen = false, down = false;
  };
  std::vector<Beat> beats(S);
  nlohmann::json outages = nlohmann::json::array();  // of the round being watched
  const auto unix_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  while (!stopping_ && round <= cfg_.rounds) {
    for (std::size_t k = 0; k < S; ++k) {
      Beat& b = beats[k];
      try {
        if (store_->rendezvous->has(heartbeat_key(k))) {
          const auto v = store_->rendezvous->get(heartbeat_key(k));
          std::string count(v.begin(), v.end());
          if (count != b.count) {
            b.count = std::move(count);
            b.moved = Clock::now();
            b.seen = true;
          }
        }
      } catch (const std::exception& e) {
        spdlog::error("coordinator: reading shard {}'s heartbeat: {}", k, e.what());
      }
      const bool silent = b.seen && Clock::now() - b.moved >= kSilence;
      if (silent && !b.down) {
        b.down = true;
        spdlog::warn("coordinator: round {}: shard {} silent for {} ms (down?)", round, k,
                     kSilence.count());
        outages.push_back({{"shard", k}, {"silent_since_unix_ms", unix_ms() - kSilence.count()}});
      } else if (!silent && b.down) {
        b.down = false;
        spdlog::info("coordinator: round {}: shard {} is back", round, k);
        for (auto& o : outages)
          if (o["shard"] == k && !o.contains("back_unix_ms")) o["back_unix_ms"] = unix_ms();
      }
    }
    std::vector<std::optional<nlohmann::json>> parts(S);
    std::size_t in = 0;
    bool error = false;
    try {
      for (std::size_t k = 0; k < S; ++k) {
        const std::string key = shard_result_key(round, k);
        if (!store_->rendezvous->has(key)) continue;
        const auto bytes = store_->rendezvous->get(key);
        parts[k] = nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
        ++in;
        error = error || !(*parts[k])["error"].get<std::string>().empty();
      }
    } catch (const std::exception& e) {
      spdlog::error("coordinator: reading round {}'s results: {}", round, e.what());
    }
    if (error && !errored) {
      errored = true;
      first_error = Clock::now();
    }
    const bool all = in == S;
    const bool waited_out = errored && Clock::now() - first_error >= cfg_.shard->timeout;
    if (!all && !waited_out) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    nlohmann::json rec = {{"round", round}, {"shards", S}};
    nlohmann::json list = nlohmann::json::array();
    std::string reason;
    for (std::size_t k = 0; k < S; ++k) {
      if (parts[k]) {
        list.push_back(*parts[k]);
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
    for (std::size_t k = 0; k < S; ++k)  // a result of this round: the shard is back
      if (parts[k] && beats[k].down) {
        beats[k].down = false;
        beats[k].moved = Clock::now();
        for (auto& o : outages)
          if (o["shard"] == k && !o.contains("back_unix_ms")) o["back_unix_ms"] = unix_ms();
      }
    rec["parts"] = list;
    rec["outages"] = outages;  // shards reported down while the round ran (and when back)
    rec["outcome"] = reason.empty() ? "aggregated" : "failed";
    rec["reason"] = reason;
    {
      std::ofstream out(records_file(cfg_.data_dir), std::ios::app);
      out << rec.dump() << "\n";
    }
    spdlog::info("coordinator: round {} {}{}", round, rec["outcome"].get<std::string>(),
                 reason.empty() ? "" : ": " + reason);
    ++closed_;
    ++round;
    errored = false;
    outages = nlohmann::json::array();
    for (std::size_t k = 0; k < S; ++k)  // a shard still down opens the next round's list
      if (beats[k].down) outages.push_back({{"shard", k}, {"silent_since_unix_ms", unix_ms()}});
  }
}

std::string shard_rounds_json(const std::filesystem::path& data_dir,
                              std::optional<std::uint64_t> round) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& r : read_records(data_dir))
    if (!round || r["round"].get<std::uint64_t>() == *round) out.push_back(std::move(r));
  return out.dump(2);
}

}  // namespace murmur::server
