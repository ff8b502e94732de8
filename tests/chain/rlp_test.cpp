// RLP vectors from the Ethereum wiki (RLP page), decoding strictness, type-2 transaction decoding.
#include <gtest/gtest.h>

#include "murmur/chain/rlp.hpp"
#include "murmur/chain/transaction.hpp"

using namespace murmur::chain;

namespace {
Bytes str(std::string_view s) {
  return Bytes(s.begin(), s.end());
}
rlp::Item item(std::string_view s) {
  return rlp::Item{str(s)};
}
rlp::Item list(std::vector<rlp::Item> l) {
  return rlp::Item{std::move(l)};
}
}  // namespace

TEST(Rlp, WikiVectors) {
  EXPECT_EQ(to_hex(rlp::encode_bytes(str("dog"))), "0x83646f67");
  EXPECT_EQ(to_hex(rlp::encode(list({item("cat"), item("dog")}))), "0xc88363617483646f67");
  EXPECT_EQ(to_hex(rlp::encode_bytes({})), "0x80");
  EXPECT_EQ(to_hex(rlp::encode(list({}))), "0xc0");
  EXPECT_EQ(to_hex(rlp::encode_uint(U256(0))), "0x80");
  EXPECT_EQ(to_hex(rlp::encode_bytes(Bytes{0x00})), "0x00");
  EXPECT_EQ(to_hex(rlp::encode_uint(U256(15))), "0x0f");
  EXPECT_EQ(to_hex(rlp::encode_uint(U256(1024))), "0x820400");
  // The set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ].
  auto three = list({list({}), list({list({})}), list({list({}), list({list({})})})});
  EXPECT_EQ(to_hex(rlp::encode(three)), "0xc7c0c1c0c3c0c1c0");
  std::string lorem = "Lorem ipsum dolor sit amet, consectetur adipisicing elit";
  EXPECT_EQ(to_hex(rlp::encode_bytes(str(lorem))), "0xb838" + to_hex(str(lorem), false));
}

TEST(Rlp, DecodeRoundTripsAndRejectsNonCanonical) {
  auto three =
      list({list({}), list({list({})}), list({item("cat"), list({item(std::string(60, 'x'))})})});
  Bytes enc = rlp::encode(three);
  EXPECT_EQ(rlp::encode(rlp::decode(enc)), enc);
  EXPECT_THROW(rlp::decode(from_hex("0x8100")), std::invalid_argument)
      << "single byte < 0x80 with prefix";
  EXPECT_THROW(rlp::decode(from_hex("0xb80100")), std::invalid_argument)
      << "long form for a short string";
  EXPECT_THROW(rlp::decode(from_hex("0x83646f")), std::invalid_argument) << "truncated";
  EXPECT_THROW(rlp::decode(from_hex("0x83646f6700")), std::invalid_argument) << "trailing byte";
  EXPECT_THROW(rlp::decode(from_hex("0xc3836f")), std::invalid_argument)
      << "list payload past the end";
}

TEST(Eip1559, SignDecodeRoundTripRecoversTheSender) {
  auto key =
      PrivateKey::from_hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
  Eip1559Transaction tx;
  tx.chain_id = 31337;
  tx.nonce = 7;
  tx.max_priority_fee_per_gas = U256(1'000'000'000);
  tx.max_fee_per_gas = U256(3'000'000'000ULL);
  tx.gas_limit = 210000;
  tx.to = Address::from_hex("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
  tx.value = U256::from_string("1000000000000000000");
  tx.data = from_hex("0xa9059cbb");
  tx.access_list = {{*tx.to, {Hash32{}}}};
  SignedTransaction st = sign_transaction(tx, key);
  EXPECT_EQ(st.raw[0], 0x02);
  SignedTransaction back = decode_transaction(st.raw);
  EXPECT_EQ(back.from, key.address());
  EXPECT_EQ(back.hash, st.hash);
  EXPECT_EQ(back.tx.signing_hash(), tx.signing_hash());
  EXPECT_EQ(back.tx.nonce, 7u);
  EXPECT_EQ(back.tx.value, tx.value);
  ASSERT_EQ(back.tx.access_list.size(), 1u);
  Bytes bad = st.raw;
  bad[0] = 0x01;
  EXPECT_THROW(decode_transaction(bad), std::invalid_argument);
}

// Found by rlp_fuzzer (tests/fuzz): a chainId, nonce or gasLimit past 64 bits threw
// std::overflow_error out of decode_transaction, which documents std::invalid_argument only.
TEST(Eip1559, SixtyFourBitFieldsPastTheirRangeAreInvalid) {
  const auto raw_with = [](std::size_t field, const Bytes& value) {
    std::vector<Bytes> f(12, rlp::encode_uint(U256(1)));
    f[5] = rlp::encode_bytes(Bytes{});  // to: contract creation
    f[7] = rlp::encode_bytes(Bytes{});  // data
    f[8] = rlp::encode_list({});        // accessList
    f[field] = rlp::encode_bytes(value);
    Bytes raw{0x02};
    append(raw, rlp::encode_list(f));
    return raw;
  };
  const Bytes nine(9, 0x01);  // 2^64 < value < 2^72
  for (std::size_t field : {0, 1, 4}) {
    try {
      decode_transaction(raw_with(field, nine));
      ADD_FAILURE() << "field " << field << " of 72 bits accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("exceeds 64 bits"), std::string::npos) << e.what();
    }
  }
}
