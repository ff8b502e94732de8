#include "murmur/chain/rlp.hpp"

#include <stdexcept>
#include <string>

namespace murmur::chain::rlp {
namespace {

// Header for a payload of `len` bytes: short form offset + len below 56, else
// (offset + 55 + len-of-len) followed by the big-endian length.
Bytes header(std::size_t len, std::uint8_t offset) {
  if (len < 56) return {static_cast<std::uint8_t>(offset + len)};
  auto be = U256(static_cast<std::uint64_t>(len)).to_minimal_be();
  Bytes h{static_cast<std::uint8_t>(offset + 55 + be.size())};
  h.insert(h.end(), be.begin(), be.end());
  return h;
}

[[noreturn]] void fail(std::size_t at, const std::string& what) {
  throw std::invalid_argument("RLP: " + what + " at offset " + std::to_string(at));
}

// Decodes one item starting at `pos`; returns the item and advances `pos`.
Item decode_at(std::span<const std::uint8_t> d, std::size_t& pos, int depth) {
  if (depth > 64) fail(pos, "nesting deeper than 64");
  if (pos >= d.size()) fail(pos, "unexpected end of input");
  std::uint8_t p = d[pos];
  std::size_t start = pos;
  if (p < 0x80) {
    ++pos;
    return Item{Bytes{p}};
  }
  bool is_list = p >= 0xc0;
  std::uint8_t base = is_list ? 0xc0 : 0x80;
  std::size_t len = 0;
  if (p - base < 56) {
    len = p - base;
    ++pos;
  } else {
    std::size_t lol = p - base - 55;
    if (pos + 1 + lol > d.size()) fail(start, "length of length past the end");
    if (d[pos + 1] == 0) fail(start, "length with a leading zero");
    if (lol > 8) fail(start, "length longer than 8 bytes");
    for (std::size_t i = 0; i < lol; ++i) len = (len << 8) | d[pos + 1 + i];
    if (len < 56) fail(start, "long form for a payload shorter than 56 bytes");
    pos += 1 + lol;
  }
  if (len > d.size() - pos)
    fail(start, "payload of " + std::to_string(len) + " bytes past the end");
  if (!is_list) {
    if (len == 1 && d[pos] < 0x80) fail(start, "single byte below 0x80 with a prefix");
    Item it{Bytes(d.begin() + static_cast<std::ptrdiff_t>(pos),
                  d.begin() + static_cast<std::ptrdiff_t>(pos + len))};
    pos += len;
    return it;
  }
  std::vector<Item> items;
  std::size_t end = pos + len;
  while (pos < end) {
    items.push_back(decode_at(d.first(end), pos, depth + 1));
  }
  return Item{std::move(items)};
}

}  // namespace

Bytes encode_bytes(std::span<const std::uint8_t> data) {
  if (data.size() == 1 && data[0] < 0x80) return {data[0]};
  Bytes out = header(data.size(), 0x80);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes encode_uint(const U256& value) {
  auto be = value.to_minimal_be();
  return encode_bytes(std::span<const std::uint8_t>(be.data(), be.size()));
}

Bytes encode_list(std::span<const Bytes> encoded_items) {
  std::size_t total = 0;
  for (const auto& e : encoded_items) total += e.size();
  Bytes out = header(total, 0xc0);
  out.reserve(out.size() + total);
  for (const auto& e : encoded_items) out.insert(out.end(), e.begin(), e.end());
  return out;
}

Bytes encode(const Item& item) {
  if (!item.is_list()) return encode_bytes(item.bytes());
  std::vector<Bytes> parts;
  parts.reserve(item.list().size());
  for (const auto& sub : item.list()) parts.push_back(encode(sub));
  return encode_list(parts);
}

Item decode(std::span<const std::uint8_t> data) {
  std::size_t pos = 0;
  Item it = decode_at(data, pos, 0);
  if (pos != data.size()) fail(pos, std::to_string(data.size() - pos) + " trailing bytes");
  return it;
}

}  // namespace murmur::chain::rlp
