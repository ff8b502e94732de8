#include "murmur/chain/revert.hpp"

#include "murmur/chain/errors.hpp"

namespace murmur::chain {

RpcError::RpcError(const std::string& method, long code, const std::string& message,
                   nlohmann::json data)
    : ChainError(method + " failed: JSON-RPC error " + std::to_string(code) + ": " + message),
      code_(code),
      rpc_message_(message),
      data_(std::move(data)) {}

RevertError::RevertError(const std::string& context, std::string error_name, std::string reason,
                         Bytes data)
    : ChainError(context + " reverted: " + reason),
      error_name_(std::move(error_name)),
      reason_(std::move(reason)),
      data_(std::move(data)) {}

namespace abi {
Type type_from_json(const nlohmann::json& param) {
  std::string t = param.at("type").get<std::string>();
  if (t.rfind("tuple", 0) != 0) return Type::parse(t);
  std::string comps = "(";
  const auto& cs = param.at("components");
  for (std::size_t i = 0; i < cs.size(); ++i) {
    if (i) comps += ',';
    comps += type_from_json(cs[i]).canonical();
  }
  return Type::parse(comps + ")" + t.substr(5));
}

Signature signature_from_json(const nlohmann::json& entry) {
  Signature s;
  s.name = entry.value("name", "");
  for (const auto& p : entry.value("inputs", nlohmann::json::array()))
    s.params.push_back(type_from_json(p));
  return s;
}
}  // namespace abi

std::string panic_meaning(std::uint64_t code) {
  switch (code) {
    case 0x00: return "generic compiler panic";
    case 0x01: return "assert failed";
    case 0x11: return "arithmetic overflow or underflow";
    case 0x12: return "division or modulo by zero";
    case 0x21: return "invalid enum value";
    case 0x22: return "corrupt storage byte array";
    case 0x31: return "pop on an empty array";
    case 0x32: return "array index out of bounds";
    case 0x41: return "out of memory";
    case 0x51: return "call to an uninitialized function";
    default: return "unknown panic code";
  }
}

std::string format_value(const abi::Type& type, const abi::Value& value) {
  using Kind = abi::Type::Kind;
  switch (type.kind) {
    case Kind::Uint: return value.word().to_dec();
    case Kind::Int: return to_signed_dec(value.word());
    case Kind::Address: return value.address().to_checksum();
    case Kind::Bool: return value.boolean() ? "true" : "false";
    case Kind::FixedBytes:
    case Kind::Bytes: return to_hex(value.bytes());
    case Kind::String:  // quoted; bytes that are not UTF-8 (revert data is anyone's) become U+FFFD
      return nlohmann::json(value.str())
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    case Kind::Array:
    case Kind::FixedArray:
    case Kind::Tuple: {
      std::string s = type.kind == Kind::Tuple ? "(" : "[";
      const auto& items = value.list();
      for (std::size_t i = 0; i < items.size(); ++i) {
        const abi::Type& t = type.kind == Kind::Tuple ? type.components[i] : type.components[0];
        if (i) s += ", ";
        s += format_value(t, items[i]);
      }
      return s + (type.kind == Kind::Tuple ? ")" : "]");
    }
  }
  return "?";
}

ErrorRegistry::ErrorRegistry() {
  add("Error(string)");
  add("Panic(uint256)");
}

void ErrorRegistry::add(std::string_view signature, std::vector<std::string> param_names) {
  Entry e{abi::Signature::parse(signature), std::move(param_names)};
  by_selector_[e.signature.selector()] = std::move(e);
}

void ErrorRegistry::add_abi(const nlohmann::json& abi) {
  for (const auto& item : abi) {
    if (item.value("type", "") != "error") continue;
    Entry e{abi::signature_from_json(item), {}};
    for (const auto& p : item.value("inputs", nlohmann::json::array()))
      e.names.push_back(p.value("name", ""));
    by_selector_[e.signature.selector()] = std::move(e);
  }
}

RevertReason ErrorRegistry::decode(std::span<const std::uint8_t> data) const {
  if (data.empty())
    return {"", "reverted without a reason (require without message, or out of gas)"};
  if (data.size() < 4) return {"", "malformed revert data " + to_hex(data)};
  std::array<std::uint8_t, 4> sel{data[0], data[1], data[2], data[3]};
  auto it = by_selector_.find(sel);
  if (it == by_selector_.end()) return {"", "unknown custom error " + to_hex(data)};
  const Entry& e = it->second;
  std::vector<abi::Value> args;
  try {
    args = abi::decode(e.signature.params, data.subspan(4));
  } catch (const std::invalid_argument&) {
    return {e.signature.name, e.signature.name + " with undecodable arguments " + to_hex(data)};
  }
  if (e.signature.name == "Error") return {"Error", args[0].str()};
  if (e.signature.name == "Panic") {
    const U256& code = args[0].word();
    std::uint64_t c = code.bit_length() <= 64 ? code.to_u64() : ~0ULL;
    return {"Panic", "panic " + code.to_quantity() + " (" + panic_meaning(c) + ")"};
  }
  std::string msg = e.signature.name + "(";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i) msg += ", ";
    if (i < e.names.size() && !e.names[i].empty()) msg += e.names[i] + "=";
    msg += format_value(e.signature.params[i], args[i]);
  }
  return {e.signature.name, msg + ")"};
}

}  // namespace murmur::chain
