// Recursive Length Prefix encoding (Ethereum yellow paper, appendix B).
#pragma once

#include <span>
#include <variant>
#include <vector>

#include "murmur/chain/bytes.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain::rlp {

/// A decoded RLP item: a byte string or a list of items.
struct Item {
  std::variant<Bytes, std::vector<Item>> value;

  bool is_list() const { return value.index() == 1; }
  const Bytes& bytes() const { return std::get<Bytes>(value); }
  const std::vector<Item>& list() const { return std::get<std::vector<Item>>(value); }
};

/// Encodes a byte string: a single byte < 0x80 is itself, else a length prefix. O(n).
Bytes encode_bytes(std::span<const std::uint8_t> data);
/// Encodes an integer as its minimal big-endian bytes (0 → the empty string 0x80).
Bytes encode_uint(const U256& value);
/// Wraps already-encoded items in a list header. O(total size).
Bytes encode_list(std::span<const Bytes> encoded_items);
/// Encodes an item tree.
Bytes encode(const Item& item);

/// Decodes exactly one item spanning all of `data`, rejecting non-canonical forms (a single
/// byte < 0x80 given a prefix, leading zeros in lengths, long form for short payloads) and
/// trailing bytes; throws std::invalid_argument with the offset at fault.
Item decode(std::span<const std::uint8_t> data);

}  // namespace murmur::chain::rlp
