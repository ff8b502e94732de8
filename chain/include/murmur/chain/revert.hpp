// Revert data → readable reasons: Error(string), Panic(uint256) and custom errors by selector.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "murmur/chain/abi.hpp"

namespace murmur::chain {

/// A decoded revert.
struct RevertReason {
  std::string name;     ///< "Error", "Panic", a custom error's name, or "" if unknown
  std::string message;  ///< readable text, e.g. "WrongRound(expected=2, given=3)"
};

/// Known errors by selector. Error(string) and Panic(uint256) are always known.
class ErrorRegistry {
 public:
  ErrorRegistry();
  /// Adds a custom error "Name(type,...)" with optional parameter names for the message.
  void add(std::string_view signature, std::vector<std::string> param_names = {});
  /// Adds every `"type": "error"` entry of a contract ABI (the "abi" array of an artifact).
  void add_abi(const nlohmann::json& abi);
  /// Decodes revert data. Empty data reads "reverted without a reason"; an unknown selector or
  /// undecodable arguments give name "" and the raw hex, never an exception.
  RevertReason decode(std::span<const std::uint8_t> data) const;

 private:
  struct Entry {
    abi::Signature signature;
    std::vector<std::string> names;
  };
  std::map<std::array<std::uint8_t, 4>, Entry> by_selector_;
};

/// Readable text of an ABI value: decimal integers (signed for intN), checksummed addresses,
/// 0x-hex bytes, quoted strings, [a, b] for lists.
std::string format_value(const abi::Type& type, const abi::Value& value);

/// The meaning of a Solidity panic code (0x11 → "arithmetic overflow or underflow").
std::string panic_meaning(std::uint64_t code);

namespace abi {
/// The canonical type of one ABI JSON parameter ({"type": "tuple[]", "components": [...]}).
Type type_from_json(const nlohmann::json& param);
/// The signature of an ABI JSON function, event or error entry.
Signature signature_from_json(const nlohmann::json& entry);
}  // namespace abi

}  // namespace murmur::chain
