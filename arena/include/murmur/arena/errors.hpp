#pragma once
#include <stdexcept>

namespace murmur::arena {

/// A file of the AI Arena mode that cannot be used: a safetensors file that is truncated or
/// inconsistent, a config.json the decoder cannot run, an evaluation set that does not parse.
/// The message names the file, what was wrong and what to do.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace murmur::arena
