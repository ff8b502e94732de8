#pragma once
// The JSON of files the arena reads (safetensors headers, config.json, shard indexes, adapter
// configs, evaluation lines), parsed with a bound on nesting: a value nested deeper than any of
// these formats needs is refused as it is read, before anything recurses through it (a copy, a
// dump() for an error message), which would overflow the stack on a few hundred KB of brackets.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "murmur/arena/errors.hpp"

namespace murmur::arena {

inline constexpr int kMaxJsonDepth = 128;

/// nlohmann::json::parse(input); FormatError(where + "...") for nesting past kMaxJsonDepth,
/// nlohmann's exceptions for text that is not JSON.
template <typename Input>
nlohmann::json parse_json_bounded(Input&& input, const std::string& where) {
  return nlohmann::json::parse(std::forward<Input>(input),
                               [&where](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
                                 if (depth > kMaxJsonDepth)
                                   throw FormatError(where + "JSON nested deeper than " +
                                                     std::to_string(kMaxJsonDepth) + " levels");
                                 return true;
                               });
}

}  // namespace murmur::arena
