// Parsing and printing of ABI type text and signatures.
#include <cctype>
#include <stdexcept>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::chain::abi {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Type type() {
    Type t = base();
    while (pos_ < text_.size() && text_[pos_] == '[') {
      ++pos_;
      std::size_t start = pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      expect(']');
      Type arr;
      arr.components.push_back(std::move(t));
      if (pos_ - 1 == start) {
        arr.kind = Type::Kind::Array;
        arr.size = 0;
      } else {
        arr.kind = Type::Kind::FixedArray;
        arr.size = std::stoul(std::string(text_.substr(start, pos_ - 1 - start)));
        if (arr.size == 0) fail("fixed array of length 0");
      }
      t = std::move(arr);
    }
    return t;
  }

  std::vector<Type> tuple_body() {
    expect('(');
    std::vector<Type> comps;
    if (peek() == ')') {
      ++pos_;
      return comps;
    }
    while (true) {
      comps.push_back(type());
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(')');
      return comps;
    }
  }

  std::string identifier() {
    std::size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '_' || text_[pos_] == '$'))
      ++pos_;
    if (start == pos_) fail("expected a name");
    return std::string(text_.substr(start, pos_ - start));
  }

  bool done() const { return pos_ == text_.size(); }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("ABI type '" + std::string(text_) + "': " + what + " at position " +
                                std::to_string(pos_));
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  Type base() {
    if (peek() == '(') return Type::tuple(tuple_body());
    std::string id = identifier();
    Type t;
    auto number = [&](std::size_t prefix) -> std::size_t {
      std::string digits = id.substr(prefix);
      if (digits.empty()) return 0;
      for (char c : digits)
        if (!std::isdigit(static_cast<unsigned char>(c))) fail("bad type name '" + id + "'");
      return std::stoul(digits);
    };
    if (id == "address") {
      t.kind = Type::Kind::Address;
    } else if (id == "bool") {
      t.kind = Type::Kind::Bool;
    } else if (id == "string") {
      t.kind = Type::Kind::String;
    } else if (id == "bytes") {
      t.kind = Type::Kind::Bytes;
    } else if (id.rfind("bytes", 0) == 0) {
      t.kind = Type::Kind::FixedBytes;
      t.size = number(5);
      if (t.size < 1 || t.size > 32) fail("bytesN needs 1 <= N <= 32");
    } else if (id.rfind("uint", 0) == 0 || id.rfind("int", 0) == 0) {
      bool is_uint = id[0] == 'u';
      t.kind = is_uint ? Type::Kind::Uint : Type::Kind::Int;
      std::size_t bits = number(is_uint ? 4 : 3);
      t.size = bits == 0 ? 256 : bits;
      if (t.size % 8 != 0 || t.size > 256) fail("(u)intN needs N a multiple of 8 up to 256");
    } else {
      fail("unknown type '" + id + "'");
    }
    return t;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

Type Type::parse(std::string_view text) {
  Parser p(text);
  Type t = p.type();
  if (!p.done()) p.fail("trailing text");
  return t;
}

Type Type::tuple(std::vector<Type> components) {
  Type t;
  t.kind = Kind::Tuple;
  t.size = 0;
  t.components = std::move(components);
  return t;
}

std::string Type::canonical() const {
  switch (kind) {
    case Kind::Uint: return "uint" + std::to_string(size);
    case Kind::Int: return "int" + std::to_string(size);
    case Kind::Address: return "address";
    case Kind::Bool: return "bool";
    case Kind::FixedBytes: return "bytes" + std::to_string(size);
    case Kind::Bytes: return "bytes";
    case Kind::String: return "string";
    case Kind::Array: return components[0].canonical() + "[]";
    case Kind::FixedArray: return components[0].canonical() + "[" + std::to_string(size) + "]";
    case Kind::Tuple: {
      std::string s = "(";
      for (std::size_t i = 0; i < components.size(); ++i) {
        if (i) s += ',';
        s += components[i].canonical();
      }
      return s + ")";
    }
  }
  return "?";
}

bool Type::is_dynamic() const {
  switch (kind) {
    case Kind::Bytes:
    case Kind::String:
    case Kind::Array: return true;
    case Kind::FixedArray: return components[0].is_dynamic();
    case Kind::Tuple:
      for (const auto& c : components)
        if (c.is_dynamic()) return true;
      return false;
    default: return false;
  }
}

std::size_t Type::head_size() const {
  if (is_dynamic()) return 32;
  if (kind == Kind::FixedArray) return size * components[0].head_size();
  if (kind == Kind::Tuple) {
    std::size_t n = 0;
    for (const auto& c : components) n += c.head_size();
    return n;
  }
  return 32;
}

Signature Signature::parse(std::string_view text) {
  Parser p(text);
  Signature s;
  s.name = p.identifier();
  s.params = p.tuple_body();
  if (!p.done()) p.fail("trailing text after the parameter list");
  return s;
}

std::string Signature::canonical() const {
  return name + Type::tuple(params).canonical();
}

std::array<std::uint8_t, 4> Signature::selector() const {
  return chain::selector(canonical());
}

Hash32 Event::topic0() const {
  return keccak256(signature.canonical());
}

}  // namespace murmur::chain::abi
