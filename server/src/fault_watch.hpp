#pragma once
// The round engine's faults, counted rather than only logged (docs/reliability.md, "Faults").
// murmurd's loop retries the work that failed on its next wake-up (every 20 ms at most), so a
// fault that persists repeats: FaultWatch turns the repeats into a streak per fault class
// (first occurrence, count, first message), says when to log (the first occurrence, then a
// summary every `kLogEvery`), and keeps each round's counts for its record. Loop thread only.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace murmur::server {

/// What failed.
enum class Fault {
  kWaitingBegins,  ///< answering the begins that waited for budget threw
  kRoundEngine,    ///< the round engine's tick threw (a stage transition, a state.db write)
  kValidation,     ///< scoring the round's candidates failed (the round went on without figures)
  kChainOpen,      ///< startRound failed: the round's roles came from the local seed
  kChainPosting,   ///< finalizeRound / abandonRound failed
};
/// "waiting_begins", "round_engine", "validation", "chain_open", "chain_posting": the label of
/// murmur_faults_total and the key in the round record's `faults`.
const char* to_string(Fault f);

/// One fault class's run of consecutive failures (no success of the same work in between).
struct FaultStreak {
  std::chrono::steady_clock::time_point since, last_logged;
  std::uint64_t count = 0;
  std::string first_error;
  double seconds(std::chrono::steady_clock::time_point now) const {
    return std::chrono::duration<double>(now - since).count();
  }
};

/// One fault class's figures in one round, as the round record keeps them.
struct RoundFault {
  std::uint64_t count = 0;
  std::string first_error;
  double longest_seconds = 0;  ///< longest streak
};

class FaultWatch {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kLogEvery{10};

  /// One failure of `f` in `round`. Returns what to log: the message for the first failure of
  /// a streak, a summary when the streak last logged kLogEvery ago, nullopt otherwise.
  std::optional<std::string> failed(Fault f, std::uint64_t round, const std::string& error,
                                    Clock::time_point now = Clock::now());
  /// The same work succeeded: ends `f`'s streak. Returns a line to log when a streak of more
  /// than one failure ended (how long it lasted), nullopt otherwise.
  std::optional<std::string> passed(Fault f, Clock::time_point now = Clock::now());
  /// The running streak of `f`, if any.
  const FaultStreak* streak(Fault f) const;
  /// Forgets `f`'s streak (the round it stalled was ended).
  void reset(Fault f) { streaks_.erase(f); }
  /// The round's faults so far (empty map: none).
  std::map<Fault, RoundFault> of_round(std::uint64_t round) const;
  /// The round's faults as the JSON object the record keeps ("{}": none):
  /// {"round_engine": {"count": 3, "first_error": "...", "longest_seconds": 0.06}, ...}.
  std::string round_json(std::uint64_t round) const;
  /// Drops the counts of rounds before `round` (recorded already).
  void forget_before(std::uint64_t round);

 private:
  std::map<Fault, FaultStreak> streaks_;
  std::map<std::uint64_t, std::map<Fault, RoundFault>> rounds_;
};

}  // namespace murmur::server
