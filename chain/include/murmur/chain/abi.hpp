// Solidity ABI encoding and decoding (https://docs.soliditylang.org/en/latest/abi-spec.html):
// static and dynamic types, tuples, arrays, function calls, event logs.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain::abi {

/// An ABI type, parsed from its canonical text ("uint256", "(address,int8,bytes)[]", "bytes32[3]").
struct Type {
  enum class Kind { Uint, Int, Address, Bool, FixedBytes, Bytes, String, Array, FixedArray, Tuple };
  Kind kind = Kind::Uint;
  /// Bits for Uint/Int (8..256), bytes for FixedBytes (1..32), length for FixedArray.
  std::size_t size = 256;
  /// The element type for Array/FixedArray; the fields for Tuple.
  std::vector<Type> components;

  /// Parses canonical type text ("uint"/"int" are read as uint256/int256); throws
  /// std::invalid_argument naming the text and the position at fault.
  static Type parse(std::string_view text);
  /// A tuple of the given component types.
  static Type tuple(std::vector<Type> components);
  /// The canonical text, as it appears in function signatures.
  std::string canonical() const;
  /// True for bytes, string, T[] and tuples or fixed arrays containing them.
  bool is_dynamic() const;
  /// Bytes this type takes in the head of its enclosing tuple (32 if dynamic).
  std::size_t head_size() const;
};

/// An ABI value. Uint and Int are 256-bit words (Int in two's complement); FixedBytes and Bytes
/// are byte strings; Array, FixedArray and Tuple are lists of values.
struct Value {
  std::variant<U256, bool, Address, Bytes, std::string, std::vector<Value>> v;

  Value() = default;
  Value(U256 x) : v(x) {}                                   // NOLINT(google-explicit-constructor)
  Value(bool x) : v(x) {}                                   // NOLINT(google-explicit-constructor)
  Value(Address x) : v(x) {}                                // NOLINT(google-explicit-constructor)
  Value(Bytes x) : v(std::move(x)) {}                       // NOLINT(google-explicit-constructor)
  Value(const Hash32& x) : v(Bytes(x.begin(), x.end())) {}  // NOLINT(google-explicit-constructor)
  Value(std::string x) : v(std::move(x)) {}                 // NOLINT(google-explicit-constructor)
  Value(std::vector<Value> x) : v(std::move(x)) {}          // NOLINT(google-explicit-constructor)
  Value(const char* x) : v(std::string(x)) {}               // NOLINT(google-explicit-constructor)
  /// Unsigned built-ins become words (never bool); signed ones must go through int_().
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) Value(T x)
      : v(U256(static_cast<std::uint64_t>(x))) {}  // NOLINT(google-explicit-constructor)
  template <std::signed_integral T>
  Value(T x) = delete;
  /// A signed integer for intN.
  static Value int_(std::int64_t x) { return Value(from_i64(x)); }

  /// Typed accessors; throw std::invalid_argument naming the expected kind on a mismatch.
  const U256& word() const;
  bool boolean() const;
  const Address& address() const;
  const Bytes& bytes() const;
  Hash32 bytes32() const;
  const std::string& str() const;
  const std::vector<Value>& list() const;
};

/// Encodes `values` as the tuple `types` (what follows the selector in calldata). Throws
/// std::invalid_argument if a value does not match its type (wrong kind, out of range for uintN
/// or intN, wrong length for bytesN or T[k]). O(output size).
Bytes encode(std::span<const Type> types, std::span<const Value> values);

/// Decodes `data` as the tuple `types`, strictly: offsets and lengths in bounds, padding bytes
/// zero, bool 0 or 1, intN sign-extended. Throws std::invalid_argument with the path at fault.
std::vector<Value> decode(std::span<const Type> types, std::span<const std::uint8_t> data);

/// A function, error or event signature "name(type,...)" split into name and parameter types.
struct Signature {
  std::string name;
  std::vector<Type> params;

  /// Parses "name(t1,t2,...)" (canonical types, no spaces or names).
  static Signature parse(std::string_view text);
  /// "name(t1,t2,...)" in canonical form.
  std::string canonical() const;
  /// keccak256(canonical())[0..4).
  std::array<std::uint8_t, 4> selector() const;
};

/// selector(signature) ‖ encode(params, args).
Bytes encode_call(const Signature& function, std::span<const Value> args);

/// An event: its signature and which parameters are indexed (topics).
struct Event {
  Signature signature;
  std::vector<bool> indexed;  ///< one flag per parameter

  /// keccak256 of the canonical signature: topics[0] of its (non-anonymous) logs.
  Hash32 topic0() const;
  /// Decodes a log's topics and data into the parameters in declaration order. Indexed dynamic
  /// parameters come back as their 32-byte topic (the hash Solidity stores). Throws
  /// std::invalid_argument if topics[0] is not this event or the counts differ.
  std::vector<Value> decode_log(std::span<const Hash32> topics,
                                std::span<const std::uint8_t> data) const;
};

}  // namespace murmur::chain::abi
