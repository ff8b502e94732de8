#pragma once
// Counters and gauges in Prometheus text exposition format.
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace murmur::server {

class Metrics {
 public:
  void upload_accepted() { uploads_accepted_++; }
  void refused(const std::string& code);
  void bytes_in(std::size_t n) { bytes_in_ += n; }
  void stage_seconds(const std::string& stage, double seconds);
  void aggregation_seconds(double s);
  void set_backend(const std::string& backend);
  /// A round's validation: its time, and the previous and new global model's loss (NaN: none).
  void validation(double seconds, double previous_loss, double candidate_loss,
                  double candidate_accuracy);
  /// A round that ended, by outcome ("accepted", "rejected", ...).
  void round_ended(const std::string& outcome);
  void set_round(std::uint64_t round, int stage) {
    round_ = round;
    stage_ = stage;
  }
  void set_inflight(std::size_t bytes) { inflight_ = bytes; }
  /// One failure of the round engine's work, by fault class (fault_watch.hpp's to_string).
  void fault(const std::string& kind);
  /// Whether a fault class is failing now (a streak runs) and for how long.
  void fault_streak(const std::string& kind, double seconds);
  /// A round opened without its seed on chain (startRound failed): its roles come from the
  /// local seed and it cannot settle on chain.
  void local_seed_round() { local_seed_rounds_++; }
  /// Series a component appends to render()'s (murmurd in shard mode: ShardLink::metrics_text).
  /// Set before the metrics endpoint serves; the function must be thread-safe.
  void set_extra(std::function<std::string()> extra) { extra_ = std::move(extra); }
  std::string render() const;

 private:
  std::atomic<std::uint64_t> uploads_accepted_{0}, bytes_in_{0}, round_{0}, inflight_{0},
      local_seed_rounds_{0};
  std::atomic<int> stage_{0};
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> refused_;
  std::map<std::string, double> stage_seconds_;
  double aggregation_seconds_ = 0;
  std::uint64_t aggregations_ = 0;
  std::string backend_;
  double validation_seconds_ = 0;
  std::uint64_t validations_ = 0;
  double previous_loss_ = 0, candidate_loss_ = 0, candidate_accuracy_ = 0;
  std::map<std::string, std::uint64_t> rounds_;
  std::map<std::string, std::uint64_t> faults_;
  std::map<std::string, double> fault_streaks_;  ///< seconds; 0: not failing now
  std::function<std::string()> extra_;
};

}  // namespace murmur::server
