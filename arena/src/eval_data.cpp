// The evaluation set's JSONL reader and writer.
#include "murmur/arena/eval_data.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "json_depth.hpp"
#include "murmur/arena/errors.hpp"

namespace murmur::arena {

std::size_t EvalSequence::targets() const {
  std::size_t n = 0;
  for (std::size_t t = 1; t < labels.size(); ++t) n += labels[t] != kIgnoreLabel;
  return n;
}

std::size_t EvalSet::target_tokens() const {
  std::size_t n = 0;
  for (const EvalSequence& s : sequences) n += s.targets();
  return n;
}

std::optional<std::size_t> EvalSet::target_bytes() const {
  std::size_t n = 0;
  for (const EvalSequence& s : sequences) {
    if (!s.bytes) return std::nullopt;
    n += *s.bytes;
  }
  return sequences.empty() ? std::nullopt : std::optional<std::size_t>(n);
}

EvalSet read_eval_jsonl(const std::filesystem::path& path, std::size_t vocab,
                        std::size_t max_positions) {
  using nlohmann::json;
  std::ifstream in(path);
  if (!in) throw FormatError(path.string() + ": cannot open the evaluation set");
  EvalSet set;
  std::string line;
  for (std::size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(line_no) + ": ";
    json j;
    try {
      j = parse_json_bounded(line, where);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      throw FormatError(where + "not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("input_ids") || !j["input_ids"].is_array())
      throw FormatError(where + "needs an object with an \"input_ids\" array");
    EvalSequence s;
    for (const json& id : j["input_ids"]) {
      if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
          static_cast<std::size_t>(id.get<std::int64_t>()) >= vocab)
        throw FormatError(where + "token id " + id.dump() +
                          " is outside the base model's vocabulary [0, " + std::to_string(vocab) +
                          "): tokenised for another model?");
      s.tokens.push_back(id.get<std::int64_t>());
    }
    if (s.tokens.size() < 2) throw FormatError(where + "a sequence needs at least 2 tokens");
    if (s.tokens.size() > max_positions)
      throw FormatError(where + std::to_string(s.tokens.size()) +
                        " tokens, the base model's max_position_embeddings is " +
                        std::to_string(max_positions) + ": split the sequence");
    if (j.contains("labels") && j.contains("loss_mask"))
      throw FormatError(where + "give either \"labels\" or \"loss_mask\", not both");
    if (j.contains("labels")) {
      const json& labels = j["labels"];
      if (!labels.is_array() || labels.size() != s.tokens.size())
        throw FormatError(where + "\"labels\" must be an array as long as input_ids (" +
                          std::to_string(s.tokens.size()) + ")");
      for (const json& l : labels) {
        if (!l.is_number_integer())
          throw FormatError(where + "label " + l.dump() + " is not an integer");
        const std::int64_t v = l.get<std::int64_t>();
        if (v != kIgnoreLabel && (v < 0 || static_cast<std::size_t>(v) >= vocab))
          throw FormatError(where + "label " + std::to_string(v) +
                            " is neither -100 nor a token id in [0, " + std::to_string(vocab) +
                            ")");
        s.labels.push_back(v);
      }
    } else if (j.contains("loss_mask")) {
      const json& mask = j["loss_mask"];
      if (!mask.is_array() || mask.size() != s.tokens.size())
        throw FormatError(where + "\"loss_mask\" must be an array as long as input_ids (" +
                          std::to_string(s.tokens.size()) + ")");
      for (std::size_t t = 0; t < mask.size(); ++t) {
        if (!mask[t].is_number_integer() || (mask[t] != 0 && mask[t] != 1))
          throw FormatError(where + "loss_mask holds " + mask[t].dump() + ", not 0 or 1");
        s.labels.push_back(mask[t] == 1 ? s.tokens[t] : kIgnoreLabel);
      }
    } else {
      s.labels = s.tokens;
    }
    if (j.contains("bytes")) {
      if (!j["bytes"].is_number_integer() || j["bytes"].get<std::int64_t>() <= 0)
        throw FormatError(where + "\"bytes\" is " + j["bytes"].dump() + ", not a positive integer");
      s.bytes = j["bytes"].get<std::size_t>();
    }
    if (s.targets() == 0)
      throw FormatError(where + "no target token (every label after the first is -100)");
    set.sequences.push_back(std::move(s));
  }
  if (set.sequences.empty()) throw FormatError(path.string() + ": the evaluation set is empty");
  return set;
}

void write_eval_jsonl(const std::filesystem::path& path, const EvalSet& set) {
  std::ofstream out(path);
  if (!out) throw FormatError(path.string() + ": cannot create");
  for (const EvalSequence& s : set.sequences) {
    nlohmann::json j;
    j["input_ids"] = s.tokens;
    j["labels"] = s.labels;
    if (s.bytes) j["bytes"] = *s.bytes;
    out << j.dump() << "\n";
  }
}

}  // namespace murmur::arena
