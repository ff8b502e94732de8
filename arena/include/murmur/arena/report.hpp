#pragma once
// `murmur validate`'s output: a table for people and a JSON document for programs.
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "murmur/arena/evaluate.hpp"

namespace murmur::arena {

/// What the run was, for the JSON document.
struct RunInfo {
  std::string base_model;
  std::string data;
  std::string device;
  std::size_t sequences = 0;
  std::size_t target_tokens = 0;
  std::optional<std::size_t> target_bytes;
  std::size_t batch_sequences = 0;
  std::size_t adapters_per_pass = 0;
  double seconds = 0;
};

/// Scores ranked: valid adapters by mean loss (lowest first, ties by name), then invalid ones
/// by name. Rank 1 is the best.
std::vector<AdapterScore> ranked(std::vector<AdapterScore> scores);

/// One row per adapter (ranked): rank, name, mean loss, bits per byte, tokens, status; the
/// base model's row first when given.
void print_table(std::ostream& out, const std::vector<AdapterScore>& ranked_scores,
                 const std::optional<AdapterScore>& base);

/// {"base_model": ..., "data": ..., ..., "base": {...}, "adapters": [{"rank": 1, "name": ...,
///   "valid": true, "mean_loss": ..., "bits_per_byte": ... | null, "tokens": ...,
///   "reason": null | "..."}]}; non-finite numbers are written as null.
std::string to_json(const RunInfo& run, const std::vector<AdapterScore>& ranked_scores,
                    const std::optional<AdapterScore>& base);

}  // namespace murmur::arena
