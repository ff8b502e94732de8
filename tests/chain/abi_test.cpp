// ABI known answers (examples of the Solidity ABI specification), strict decoding, revert reason
// decoding, and the AllianceTask binding checked against the contract's committed ABI.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/alliance.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/revert.hpp"

// Inside the namespace: gtest pulls in <cxxabi.h>, whose global `namespace abi` would make
// a bare abi:: ambiguous under a using-directive.
namespace murmur::chain {
using abi::Value;

namespace {
std::string words(std::initializer_list<const char*> ws) {
  std::string s;
  for (const char* w : ws) s += w;
  return s;
}
Bytes str(std::string_view s) {
  return Bytes(s.begin(), s.end());
}
}  // namespace

TEST(Abi, SpecExampleBaz) {
  auto f = abi::Signature::parse("baz(uint32,bool)");
  EXPECT_EQ(
      to_hex(abi::encode_call(f, std::vector<Value>{U256(69), true})),
      "0xcdcd77c0" + words({"0000000000000000000000000000000000000000000000000000000000000045",
                            "0000000000000000000000000000000000000000000000000000000000000001"}));
}

TEST(Abi, SpecExampleSamWithDynamicTypes) {
  auto f = abi::Signature::parse("sam(bytes,bool,uint256[])");
  std::vector<Value> args{str("dave"), true, std::vector<Value>{U256(1), U256(2), U256(3)}};
  EXPECT_EQ(
      to_hex(abi::encode_call(f, args)),
      "0xa5643bf2" + words({"0000000000000000000000000000000000000000000000000000000000000060",
                            "0000000000000000000000000000000000000000000000000000000000000001",
                            "00000000000000000000000000000000000000000000000000000000000000a0",
                            "0000000000000000000000000000000000000000000000000000000000000004",
                            "6461766500000000000000000000000000000000000000000000000000000000",
                            "0000000000000000000000000000000000000000000000000000000000000003",
                            "0000000000000000000000000000000000000000000000000000000000000001",
                            "0000000000000000000000000000000000000000000000000000000000000002",
                            "0000000000000000000000000000000000000000000000000000000000000003"}));
}

TEST(Abi, SpecExampleFWithBytes10AndRoundTrip) {
  auto f = abi::Signature::parse("f(uint256,uint32[],bytes10,bytes)");
  std::vector<Value> args{U256(0x123), std::vector<Value>{U256(0x456), U256(0x789)},
                          str("1234567890"), str("Hello, world!")};
  Bytes enc = abi::encode_call(f, args);
  EXPECT_EQ(
      to_hex(enc),
      "0x8be65246" + words({"0000000000000000000000000000000000000000000000000000000000000123",
                            "0000000000000000000000000000000000000000000000000000000000000080",
                            "3132333435363738393000000000000000000000000000000000000000000000",
                            "00000000000000000000000000000000000000000000000000000000000000e0",
                            "0000000000000000000000000000000000000000000000000000000000000002",
                            "0000000000000000000000000000000000000000000000000000000000000456",
                            "0000000000000000000000000000000000000000000000000000000000000789",
                            "000000000000000000000000000000000000000000000000000000000000000d",
                            "48656c6c6f2c20776f726c642100000000000000000000000000000000000000"}));
  auto back = abi::decode(f.params, std::span(enc).subspan(4));
  EXPECT_EQ(back[0].word(), U256(0x123));
  EXPECT_EQ(back[1].list()[1].word(), U256(0x789));
  EXPECT_EQ(back[2].bytes(), str("1234567890"));
  EXPECT_EQ(back[3].bytes(), str("Hello, world!"));
}

TEST(Abi, RangeChecksAndStrictDecoding) {
  auto u8 = abi::Type::parse("uint8");
  auto i8 = abi::Type::parse("int8");
  EXPECT_THROW(abi::encode({&u8, 1}, std::vector<Value>{U256(256)}), std::invalid_argument);
  EXPECT_THROW(abi::encode({&i8, 1}, std::vector<Value>{Value::int_(128)}), std::invalid_argument);
  EXPECT_THROW(abi::encode({&i8, 1}, std::vector<Value>{Value::int_(-129)}), std::invalid_argument);
  Bytes m1 = abi::encode({&i8, 1}, std::vector<Value>{Value::int_(-1)});
  EXPECT_EQ(to_hex(m1), "0x" + std::string(64, 'f'));
  EXPECT_EQ(to_signed_dec(abi::decode({&i8, 1}, m1)[0].word()), "-1");
  // 0x80 in the low byte without sign extension is not an int8.
  EXPECT_THROW(abi::decode({&i8, 1}, from_hex("0x" + std::string(62, '0') + "80")),
               std::invalid_argument);
  auto b = abi::Type::parse("bool");
  EXPECT_THROW(abi::decode({&b, 1}, from_hex("0x" + std::string(62, '0') + "02")),
               std::invalid_argument);
  auto bytes = abi::Type::parse("bytes");
  // Offset pointing past the end, and a length past the end.
  EXPECT_THROW(abi::decode({&bytes, 1}, from_hex("0x" + std::string(62, '0') + "40")),
               std::invalid_argument);
  EXPECT_THROW(abi::decode({&bytes, 1}, from_hex("0x" + std::string(62, '0') + "20" +
                                                 std::string(62, '0') + "ff")),
               std::invalid_argument);
  EXPECT_EQ(abi::Type::parse("(address,int8,bytes)[]").canonical(), "(address,int8,bytes)[]");
  EXPECT_EQ(abi::Type::parse("uint").canonical(), "uint256");
  EXPECT_THROW(abi::Type::parse("uint7"), std::invalid_argument);
  EXPECT_THROW(abi::Type::parse("(uint256"), std::invalid_argument);
}

TEST(Revert, DecodesErrorPanicAndCustomErrors) {
  ErrorRegistry reg = alliance::errors();
  auto s = abi::Type::parse("string");
  Bytes err = from_hex("0x08c379a0");
  append(err, abi::encode({&s, 1}, std::vector<Value>{std::string("Not enough Ether provided.")}));
  EXPECT_EQ(reg.decode(err).name, "Error");
  EXPECT_EQ(reg.decode(err).message, "Not enough Ether provided.");

  auto u = abi::Type::parse("uint256");
  Bytes panic = from_hex("0x4e487b71");
  append(panic, abi::encode({&u, 1}, std::vector<Value>{U256(0x11)}));
  EXPECT_EQ(reg.decode(panic).message, "panic 0x11 (arithmetic overflow or underflow)");

  Bytes wrong = abi::encode_call(abi::Signature::parse("WrongRound(uint256,uint256)"),
                                 std::vector<Value>{U256(2), U256(3)});
  EXPECT_EQ(reg.decode(wrong).name, "WrongRound");
  EXPECT_EQ(reg.decode(wrong).message, "WrongRound(expected=2, given=3)");
  Bytes role = abi::encode_call(
      abi::Signature::parse("WrongRole(address,uint8)"),
      std::vector<Value>{Address::from_hex("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), U256(1)});
  EXPECT_EQ(reg.decode(role).message,
            "WrongRole(node=0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed, required=1)");
  EXPECT_EQ(reg.decode(from_hex("0xdeadbeef")).name, "");
  EXPECT_EQ(reg.decode({}).name, "");
}

// Found by abi_fuzzer (tests/fuzz): a custom error's string argument that is not UTF-8 threw
// nlohmann's type_error out of ErrorRegistry::decode, which promises never to throw.
TEST(Revert, AStringArgumentThatIsNotUtf8IsReplacedNotThrown) {
  ErrorRegistry reg = alliance::errors();
  const Bytes bad = abi::encode_call(abi::Signature::parse("BadTaskParams(string)"),
                                     std::vector<Value>{std::string("r\xff"
                                                                    "z")});
  RevertReason r;
  ASSERT_NO_THROW(r = reg.decode(bad));
  EXPECT_EQ(r.name, "BadTaskParams");
  EXPECT_EQ(r.message,
            "BadTaskParams(reason=\"r\xEF\xBF\xBD"
            "z\")");
  auto s = abi::Type::parse("string");
  EXPECT_EQ(format_value(s, Value(std::string("\xc3"))), "\"\xEF\xBF\xBD\"");
}

// Every signature the binding hard-codes must exist in the contract's ABI (contracts/abi, kept in
// sync with the compiled artifact by the contracts' own test), and every custom error of the ABI
// must be decodable by name.
TEST(AllianceBinding, MatchesTheCommittedContractAbi) {
  std::ifstream in(std::string(MURMUR_SOURCE_DIR) + "/contracts/abi/AllianceTask.abi.json");
  ASSERT_TRUE(in) << "contracts/abi/AllianceTask.abi.json is missing";
  nlohmann::json j = nlohmann::json::parse(in);
  const nlohmann::json& abi_items = j.is_array() ? j : j.at("abi");
  std::set<std::string> functions, events, errors;
  ErrorRegistry from_abi;
  for (const auto& item : abi_items) {
    std::string type = item.value("type", "");
    if (type == "function") functions.insert(abi::signature_from_json(item).canonical());
    if (type == "event") events.insert(abi::signature_from_json(item).canonical());
    if (type == "error") errors.insert(abi::signature_from_json(item).canonical());
  }
  ASSERT_GT(functions.size(), 10u);
  for (const auto& f : alliance::function_signatures())
    EXPECT_TRUE(functions.count(f)) << f << " not in the ABI";
  for (const auto& e : alliance::event_signatures())
    EXPECT_TRUE(events.count(e)) << e << " not in the ABI";
  for (const auto& e : errors) {
    auto sel = abi::Signature::parse(e).selector();  // the selector alone identifies the error
    Bytes data(sel.begin(), sel.end());
    std::string name = e.substr(0, e.find('('));
    EXPECT_EQ(alliance::errors().decode(data).name, name) << e << " is not in alliance::errors()";
  }
}

}  // namespace murmur::chain
