#pragma once
// The held-out set adapters are scored on: token ids with the loss restricted to target spans.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace murmur::arena {

/// The label of a position that is not a target (PyTorch's and Hugging Face's ignore_index).
inline constexpr std::int64_t kIgnoreLabel = -100;

/// One sequence. As in Hugging Face's causal-LM loss, labels[t] (t >= 1) is the token the model
/// must predict from tokens[0..t-1]; labels[0] is never predicted; kIgnoreLabel marks
/// positions outside the target spans.
struct EvalSequence {
  std::vector<std::int64_t> tokens;
  std::vector<std::int64_t> labels;  ///< same length as tokens
  std::optional<std::size_t> bytes;  ///< UTF-8 bytes of the target text, for bits per byte
  /// Positions t >= 1 with labels[t] != kIgnoreLabel.
  std::size_t targets() const;
};

/// The whole held-out set.
struct EvalSet {
  std::vector<EvalSequence> sequences;
  /// Sum of targets() over the sequences.
  std::size_t target_tokens() const;
  /// Sum of bytes when every sequence gives them, else nothing.
  std::optional<std::size_t> target_bytes() const;
};

/// Reads JSONL, one sequence per line (blank lines skipped):
///   {"input_ids": [1, 15, 27, ...],            required, ids in [0, vocab)
///    "labels": [-100, -100, 27, ...],           optional: targets, -100 elsewhere; or
///    "loss_mask": [0, 0, 1, ...],               optional: 1 where the token is a target
///    "bytes": 123}                              optional: target text's UTF-8 byte count
/// With neither labels nor loss_mask every token after the first is a target. Throws
/// FormatError naming the file and line for malformed JSON, ids outside [0, vocab), labels or
/// masks of another length, a sequence longer than max_positions or with no target, an empty
/// file.
EvalSet read_eval_jsonl(const std::filesystem::path& path, std::size_t vocab,
                        std::size_t max_positions);

/// Writes `set` as read_eval_jsonl reads it (labels form).
void write_eval_jsonl(const std::filesystem::path& path, const EvalSet& set);

}  // namespace murmur::arena
