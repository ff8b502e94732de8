#include "murmur/chain/bytes.hpp"

#include <stdexcept>

namespace murmur::chain {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view shorten(std::string_view s) {
  return s.size() > 80 ? s.substr(0, 80) : s;
}

}  // namespace

std::string to_hex(std::span<const std::uint8_t> data, bool prefix) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = prefix ? "0x" : "";
  out.reserve(out.size() + 2 * data.size());
  for (std::uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

Bytes from_hex(std::string_view text) {
  std::string_view s = text;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.size() % 2 != 0)
    throw std::invalid_argument("hex text has an odd number of digits: '" +
                                std::string(shorten(text)) + "'");
  Bytes out(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      throw std::invalid_argument("not a hex digit in '" + std::string(shorten(text)) + "'");
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

Hash32 hash_from_hex(std::string_view text) {
  Bytes b = from_hex(text);
  if (b.size() != 32)
    throw std::invalid_argument("expected 32 bytes of hex, got " + std::to_string(b.size()) +
                                " in '" + std::string(shorten(text)) + "'");
  Hash32 h;
  std::copy(b.begin(), b.end(), h.begin());
  return h;
}

Bytes concat(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

void append(Bytes& out, std::span<const std::uint8_t> b) {
  out.insert(out.end(), b.begin(), b.end());
}

}  // namespace murmur::chain
