// libFuzzer target for the evaluation set's JSONL reader (arena/src/eval_data.cpp): one JSON
// object per line with input_ids and optional labels, loss_mask and bytes. Refusals are
// FormatError; anything else escaping, a sanitizer report or a broken invariant is a bug.
// The input is the file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_input.hpp"
#include "murmur/arena/errors.hpp"
#include "murmur/arena/eval_data.hpp"

namespace arena = murmur::arena;
using murmur::fuzz::invariant_broken;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kVocab = 64, kMaxPositions = 32;
  const auto path = murmur::fuzz::write_scratch(
      "eval.jsonl", std::string_view(reinterpret_cast<const char*>(data), size));
  arena::EvalSet set;
  try {
    set = arena::read_eval_jsonl(path, kVocab, kMaxPositions);
  } catch (const arena::FormatError&) {
    return 0;
  }
  // Accepted: a set of sequences of 2..max_positions ids in [0, vocab), labels as long, each
  // label -100 or an id, at least one target each.
  if (set.sequences.empty() || set.target_tokens() < set.sequences.size()) invariant_broken();
  for (const arena::EvalSequence& s : set.sequences) {
    if (s.tokens.size() < 2 || s.tokens.size() > kMaxPositions) invariant_broken();
    if (s.labels.size() != s.tokens.size() || s.targets() == 0) invariant_broken();
    for (std::size_t t = 0; t < s.tokens.size(); ++t) {
      if (s.tokens[t] < 0 || s.tokens[t] >= static_cast<std::int64_t>(kVocab)) invariant_broken();
      if (s.labels[t] != arena::kIgnoreLabel &&
          (s.labels[t] < 0 || s.labels[t] >= static_cast<std::int64_t>(kVocab)))
        invariant_broken();
    }
    if (s.bytes && *s.bytes == 0) invariant_broken();
  }
  // What write_eval_jsonl writes reads back the same.
  const auto again_path = murmur::fuzz::scratch_dir() / "again.jsonl";
  arena::write_eval_jsonl(again_path, set);
  const arena::EvalSet again = arena::read_eval_jsonl(again_path, kVocab, kMaxPositions);
  if (again.sequences.size() != set.sequences.size()) invariant_broken();
  for (std::size_t i = 0; i < set.sequences.size(); ++i)
    if (again.sequences[i].tokens != set.sequences[i].tokens ||
        again.sequences[i].labels != set.sequences[i].labels ||
        again.sequences[i].bytes != set.sequences[i].bytes)
      invariant_broken();
  return 0;
}
