// Known answers for Keccak-256, EIP-55, secp256k1 signing/recovery and the U256 arithmetic.
#include <gtest/gtest.h>

#include <random>

#include "murmur/chain/address.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/secp256k1.hpp"
#include "murmur/chain/uint256.hpp"

using namespace murmur::chain;

TEST(Keccak, KnownAnswers) {
  // Keccak-256 (original padding) — differs from FIPS SHA3-256 of "" (a7ffc6f8...).
  EXPECT_EQ(to_hex(keccak256(std::string_view(""))),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  EXPECT_EQ(to_hex(keccak256(std::string_view("abc"))),
            "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  // A 200-byte input crosses the 136-byte rate boundary.
  std::string a200(200, 'a');
  EXPECT_EQ(keccak256(a200), keccak256(Bytes(a200.begin(), a200.end())));
  EXPECT_EQ(to_hex(selector("transfer(address,uint256)")), "0xa9059cbb");
}

TEST(Eip55, VectorsFromTheEip) {
  const char* vectors[] = {
      "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
      "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
      "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
  };
  for (const char* v : vectors) {
    Address a = Address::from_hex(v);
    EXPECT_EQ(a.to_checksum(), v);
  }
}

TEST(Eip55, RejectsABadChecksumButAcceptsSingleCase) {
  EXPECT_THROW(Address::from_hex("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),
               std::invalid_argument);
  EXPECT_NO_THROW(Address::from_hex("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));
  EXPECT_NO_THROW(Address::from_hex("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"));
  EXPECT_THROW(Address::from_hex("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea"),
               std::invalid_argument);
}

TEST(Secp256k1, KnownKeyToAddress) {
  // Hardhat's first default account (mnemonic "test test ... junk").
  auto key =
      PrivateKey::from_hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
  EXPECT_EQ(key.address().to_checksum(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
}

TEST(Secp256k1, SignRecoverRoundTripIsDeterministicAndLowS) {
  const std::uint64_t seed = 20261122;
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  int recid_seen[2] = {0, 0};
  for (int i = 0; i < 64; ++i) {
    Hash32 secret, digest;
    for (auto& b : secret) b = static_cast<std::uint8_t>(rng());
    for (auto& b : digest) b = static_cast<std::uint8_t>(rng());
    PrivateKey key(secret);
    Signature s1 = key.sign(digest), s2 = key.sign(digest);
    EXPECT_EQ(s1.to_rsv(), s2.to_rsv()) << "RFC 6979 signing must be deterministic";
    EXPECT_TRUE(s1.is_low_s());
    EXPECT_EQ(recover_address(digest, s1), key.address());
    EXPECT_EQ(Signature::from_rsv(s1.to_rsv()).to_rsv(), s1.to_rsv());
    ++recid_seen[s1.recovery_id];
    Hash32 other = digest;
    other[0] ^= 1;
    EXPECT_NE(recover_address(other, s1), key.address());
  }
  EXPECT_GT(recid_seen[0], 0);
  EXPECT_GT(recid_seen[1], 0);
}

TEST(Secp256k1, RejectsInvalidKeys) {
  EXPECT_THROW(PrivateKey(Hash32{}), std::invalid_argument);
  // The group order n itself.
  EXPECT_THROW(
      PrivateKey::from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"),
      std::invalid_argument);
  EXPECT_THROW(PrivateKey::from_hex("0x1234"), std::invalid_argument);
  // High s is detected.
  Signature s;
  s.s.fill(0xff);
  EXPECT_FALSE(s.is_low_s());
}

TEST(U256, ParsePrintAndArithmetic) {
  U256 max = U256::max();
  EXPECT_EQ(max.to_dec(),
            "115792089237316195423570985008687907853269984665640564039457584007913129639935");
  EXPECT_EQ(U256::from_string(max.to_dec()), max);
  EXPECT_EQ(U256::from_string("0x3e8"), U256(1000));
  EXPECT_EQ(U256(1000).to_quantity(), "0x3e8");
  EXPECT_EQ(U256().to_quantity(), "0x0");
  EXPECT_THROW(max + U256(1), std::overflow_error);
  EXPECT_THROW(U256(1) - U256(2), std::overflow_error);
  EXPECT_THROW(
      U256::from_string(
          "115792089237316195423570985008687907853269984665640564039457584007913129639936"),
      std::overflow_error);
  U256 a = U256::from_string("170141183460469231731687303715884105729");  // 2^127 + 1
  EXPECT_EQ((a * a).to_dec(),
            "28948022309329048855892746252171976963657778533331079473327770609410050621441");
  EXPECT_THROW(a * a * U256(4), std::overflow_error);
  EXPECT_EQ(a * a / a, a);
  EXPECT_EQ((a * a + U256(5)) % a, U256(5));
  EXPECT_EQ(to_signed_dec(from_i64(-5)), "-5");
  EXPECT_EQ(from_i64(-1), max);
  // mulDiv keeps the 512-bit product: (2^256-1)·(2^256-1)/(2^256-1).
  EXPECT_EQ(mul_div(max, max, max), max);
  EXPECT_THROW(mul_div(max, max, U256(1)), std::overflow_error);
  EXPECT_EQ((U256(1) << 255) >> 255, U256(1));
}

TEST(Eip712, RecoverTypedSignerAppliesOpenZeppelinRules) {
  auto key =
      PrivateKey::from_hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
  Eip712Domain domain{"Murmuration", "1", 31337,
                      Address::from_hex("0x5FbDB2315678afecb367f032d93F642f64180aa3")};
  VoteMessage vote{U256(1), U256(2), keccak256(std::string_view("model")), -1};
  Hash32 digest = vote_digest(domain, vote);
  Bytes sig = sign_vote(key, domain, vote);
  EXPECT_EQ(recover_typed_signer(digest, sig), key.address());
  // The malleable twin (n - s, flipped v) recovers the same key but is refused, as on chain.
  const U256 n =
      U256::from_string("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
  U256 s = U256::from_be_bytes(std::span(sig).subspan(32, 32));
  Bytes twin = sig;
  auto high = (n - s).to_be_bytes();
  std::copy(high.begin(), high.end(), twin.begin() + 32);
  twin[64] = sig[64] == 27 ? 28 : 27;
  EXPECT_EQ(recover_address(digest, Signature::from_rsv(twin)), key.address());
  EXPECT_THROW(recover_typed_signer(digest, twin), std::invalid_argument);
  Bytes v01 = sig;
  v01[64] -= 27;
  EXPECT_THROW(recover_typed_signer(digest, v01), std::invalid_argument);
  EXPECT_THROW(recover_typed_signer(digest, std::span(sig).first(64)), std::invalid_argument);
}
