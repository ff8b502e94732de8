// ABI codec: head/tail encoding of tuples, strict decoding with bounds checks.
#include <stdexcept>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::chain::abi {
namespace {

using Kind = Type::Kind;

[[noreturn]] void mismatch(const Type& t, const std::string& what) {
  throw std::invalid_argument("ABI value for " + t.canonical() + ": " + what);
}

template <class T>
const T& get_as(const Value& v, const char* kind) {
  if (auto* p = std::get_if<T>(&v.v)) return *p;
  throw std::invalid_argument(std::string("ABI value is not ") + kind);
}

void put_word(Bytes& out, const U256& w) {
  auto b = w.to_be_bytes();
  out.insert(out.end(), b.begin(), b.end());
}

void put_padded(Bytes& out, std::span<const std::uint8_t> data) {
  out.insert(out.end(), data.begin(), data.end());
  out.insert(out.end(), (32 - data.size() % 32) % 32, 0);
}

Bytes encode_tuple(const std::vector<Type>& types, const std::vector<Value>& values);

Bytes encode_value(const Type& t, const Value& v) {
  Bytes out;
  switch (t.kind) {
    case Kind::Uint: {
      const U256& w = get_as<U256>(v, "an integer");
      if (w.bit_length() > t.size) mismatch(t, w.to_dec() + " does not fit");
      put_word(out, w);
      break;
    }
    case Kind::Int: {
      const U256& w = get_as<U256>(v, "an integer");
      // In range iff bits size-1 .. 255 are all equal (the sign extension of an intN).
      U256 high = w >> static_cast<unsigned>(t.size - 1);
      bool ok = is_negative(w) ? high == (U256::max() >> static_cast<unsigned>(t.size - 1))
                               : high.is_zero();
      if (!ok) mismatch(t, to_signed_dec(w) + " does not fit");
      put_word(out, w);
      break;
    }
    case Kind::Address: {
      const Address& a = get_as<Address>(v, "an address");
      out.assign(12, 0);
      out.insert(out.end(), a.bytes.begin(), a.bytes.end());
      break;
    }
    case Kind::Bool: put_word(out, U256(get_as<bool>(v, "a bool") ? 1 : 0)); break;
    case Kind::FixedBytes: {
      const Bytes& b = get_as<Bytes>(v, "bytes");
      if (b.size() != t.size) mismatch(t, "has " + std::to_string(b.size()) + " bytes");
      put_padded(out, b);
      break;
    }
    case Kind::Bytes: {
      const Bytes& b = get_as<Bytes>(v, "bytes");
      put_word(out, U256(b.size()));
      put_padded(out, b);
      break;
    }
    case Kind::String: {
      const std::string& s = get_as<std::string>(v, "a string");
      put_word(out, U256(s.size()));
      put_padded(out, std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
      break;
    }
    case Kind::Array: {
      const auto& items = get_as<std::vector<Value>>(v, "a list");
      put_word(out, U256(items.size()));
      append(out, encode_tuple(std::vector<Type>(items.size(), t.components[0]), items));
      break;
    }
    case Kind::FixedArray: {
      const auto& items = get_as<std::vector<Value>>(v, "a list");
      if (items.size() != t.size) mismatch(t, "has " + std::to_string(items.size()) + " elements");
      out = encode_tuple(std::vector<Type>(items.size(), t.components[0]), items);
      break;
    }
    case Kind::Tuple:
      out = encode_tuple(t.components, get_as<std::vector<Value>>(v, "a list"));
      break;
  }
  return out;
}

// Heads in order (static values inline, offsets for dynamic ones), then the tails.
Bytes encode_tuple(const std::vector<Type>& types, const std::vector<Value>& values) {
  if (types.size() != values.size())
    throw std::invalid_argument("ABI: " + std::to_string(values.size()) + " values for " +
                                std::to_string(types.size()) + " types " +
                                Type::tuple(types).canonical());
  std::size_t head_len = 0;
  for (const auto& t : types) head_len += t.head_size();
  Bytes head, tail;
  for (std::size_t i = 0; i < types.size(); ++i) {
    Bytes enc = encode_value(types[i], values[i]);
    if (types[i].is_dynamic()) {
      put_word(head, U256(head_len + tail.size()));
      append(tail, enc);
    } else {
      append(head, enc);
    }
  }
  append(head, tail);
  return head;
}

// ---------------------------------------------------------------- decoding

struct Reader {
  std::span<const std::uint8_t> region;  // the enclosing tuple's encoding, from its start
  std::string path;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("ABI decode at " + (path.empty() ? std::string("<top>") : path) +
                                ": " + what);
  }
  std::span<const std::uint8_t> word_at(std::size_t off) const {
    if (off > region.size() || region.size() - off < 32)
      fail("32-byte word at offset " + std::to_string(off) + " past the end");
    return region.subspan(off, 32);
  }
  std::size_t small_at(std::size_t off, const char* what) const {
    U256 w = U256::from_be_bytes(word_at(off));
    if (w > U256(region.size()))
      fail(std::string(what) + " " + w.to_dec() + " exceeds the data size");
    return static_cast<std::size_t>(w.to_u64());
  }
};

std::vector<Value> decode_tuple(const std::vector<Type>& types, const Reader& r);

Value decode_value(const Type& t, const Reader& r) {
  auto zero_prefix = [&](std::span<const std::uint8_t> w, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (w[i] != 0) r.fail(t.canonical() + " with non-zero padding");
  };
  switch (t.kind) {
    case Kind::Uint: {
      U256 w = U256::from_be_bytes(r.word_at(0));
      if (w.bit_length() > t.size) r.fail("value out of range for " + t.canonical());
      return Value(w);
    }
    case Kind::Int: {
      U256 w = U256::from_be_bytes(r.word_at(0));
      U256 high = w >> static_cast<unsigned>(t.size - 1);
      bool ok = is_negative(w) ? high == (U256::max() >> static_cast<unsigned>(t.size - 1))
                               : high.is_zero();
      if (!ok) r.fail("value not sign-extended for " + t.canonical());
      return Value(w);
    }
    case Kind::Address: {
      auto w = r.word_at(0);
      zero_prefix(w, 12);
      Address a;
      std::copy(w.begin() + 12, w.end(), a.bytes.begin());
      return Value(a);
    }
    case Kind::Bool: {
      auto w = r.word_at(0);
      zero_prefix(w, 31);
      if (w[31] > 1) r.fail("bool is neither 0 nor 1");
      return Value(w[31] == 1);
    }
    case Kind::FixedBytes: {
      auto w = r.word_at(0);
      for (std::size_t i = t.size; i < 32; ++i)
        if (w[i] != 0) r.fail(t.canonical() + " with non-zero padding");
      return Value(Bytes(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(t.size)));
    }
    case Kind::Bytes:
    case Kind::String: {
      std::size_t len = r.small_at(0, "length");
      if (r.region.size() - 32 < len) r.fail("length " + std::to_string(len) + " past the end");
      auto data = r.region.subspan(32, len);
      if (t.kind == Kind::Bytes) return Value(Bytes(data.begin(), data.end()));
      return Value(std::string(data.begin(), data.end()));
    }
    case Kind::Array: {
      std::size_t n = r.small_at(0, "array length");
      if (n * t.components[0].head_size() > r.region.size() - 32)
        r.fail("array length " + std::to_string(n) + " past the end");
      Reader sub{r.region.subspan(32), r.path};
      return Value(decode_tuple(std::vector<Type>(n, t.components[0]), sub));
    }
    case Kind::FixedArray:
      return Value(decode_tuple(std::vector<Type>(t.size, t.components[0]), r));
    case Kind::Tuple: return Value(decode_tuple(t.components, r));
  }
  r.fail("unknown type");
}

std::vector<Value> decode_tuple(const std::vector<Type>& types, const Reader& r) {
  std::vector<Value> out;
  out.reserve(types.size());
  std::size_t head = 0;
  for (std::size_t i = 0; i < types.size(); ++i) {
    Reader sub{{}, r.path + "[" + std::to_string(i) + "]"};
    if (types[i].is_dynamic()) {
      std::size_t off = r.small_at(head, "offset");
      sub.region = r.region.subspan(off);
    } else {
      if (head > r.region.size()) r.fail("head past the end");
      sub.region = r.region.subspan(head);
    }
    out.push_back(decode_value(types[i], sub));
    head += types[i].head_size();
  }
  return out;
}

}  // namespace

const U256& Value::word() const {
  return get_as<U256>(*this, "an integer");
}
bool Value::boolean() const {
  return get_as<bool>(*this, "a bool");
}
const Address& Value::address() const {
  return get_as<Address>(*this, "an address");
}
const Bytes& Value::bytes() const {
  return get_as<Bytes>(*this, "bytes");
}
Hash32 Value::bytes32() const {
  const Bytes& b = bytes();
  if (b.size() != 32) throw std::invalid_argument("ABI value is not bytes32");
  Hash32 h;
  std::copy(b.begin(), b.end(), h.begin());
  return h;
}
const std::string& Value::str() const {
  return get_as<std::string>(*this, "a string");
}
const std::vector<Value>& Value::list() const {
  return get_as<std::vector<Value>>(*this, "a list");
}

Bytes encode(std::span<const Type> types, std::span<const Value> values) {
  return encode_tuple(std::vector<Type>(types.begin(), types.end()),
                      std::vector<Value>(values.begin(), values.end()));
}

std::vector<Value> decode(std::span<const Type> types, std::span<const std::uint8_t> data) {
  return decode_tuple(std::vector<Type>(types.begin(), types.end()), Reader{data, ""});
}

Bytes encode_call(const Signature& function, std::span<const Value> args) {
  auto sel = function.selector();
  Bytes out(sel.begin(), sel.end());
  append(out, encode(function.params, args));
  return out;
}

std::vector<Value> Event::decode_log(std::span<const Hash32> topics,
                                     std::span<const std::uint8_t> data) const {
  if (indexed.size() != signature.params.size())
    throw std::invalid_argument("event " + signature.name +
                                ": indexed flags do not match the parameters");
  if (topics.empty() || topics[0] != topic0())
    throw std::invalid_argument("log is not a " + signature.canonical() +
                                " event (topic0 differs)");
  std::vector<Type> data_types;
  std::size_t n_indexed = 0;
  for (std::size_t i = 0; i < indexed.size(); ++i) {
    if (indexed[i])
      ++n_indexed;
    else
      data_types.push_back(signature.params[i]);
  }
  if (topics.size() != 1 + n_indexed)
    throw std::invalid_argument("event " + signature.name + " expects " +
                                std::to_string(1 + n_indexed) + " topics, log has " +
                                std::to_string(topics.size()));
  std::vector<Value> data_values = decode(data_types, data);
  std::vector<Value> out;
  std::size_t ti = 1, di = 0;
  for (std::size_t i = 0; i < indexed.size(); ++i) {
    if (!indexed[i]) {
      out.push_back(std::move(data_values[di++]));
      continue;
    }
    const Type& t = signature.params[i];
    const Hash32& topic = topics[ti++];
    if (t.is_dynamic() || t.kind == Type::Kind::Tuple || t.kind == Type::Kind::FixedArray)
      out.push_back(Value(topic));
    else
      out.push_back(decode({&t, 1}, topic)[0]);
  }
  return out;
}

}  // namespace murmur::chain::abi
