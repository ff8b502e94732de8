// Framing, dtypes, checksums and signatures of the wire protocol.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "murmur/chain/keccak.hpp"
#include "murmur/chain/secp256k1.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"
#include "murmur/protocol/wire.hpp"

namespace murmur::protocol {
namespace {

std::vector<zmq::message_t> frames_of(std::initializer_list<std::string> parts) {
  std::vector<zmq::message_t> f;
  for (const auto& p : parts) f.emplace_back(p.data(), p.size());
  return f;
}

wire::ErrorCode decode_error(std::vector<zmq::message_t> frames, Limits limits = {}) {
  try {
    decode(frames, limits);
  } catch (const ProtocolError& e) {
    return e.code();
  }
  return wire::ERR_UNSPECIFIED;
}

TEST(Wire, RoundTripKeepsTensorBytesInTheirOwnFrame) {
  wire::Envelope e;
  e.set_request_id(7);
  auto* c = e.mutable_upload_chunk();
  c->set_upload_id(3);
  c->set_offset(4096);
  c->set_length(5);
  const std::vector<std::uint8_t> bytes = {1, 2, 3, 4, 5};
  auto frames = encode(e, bytes);
  ASSERT_EQ(frames.size(), 2u);
  const Message m = decode(frames, {});
  EXPECT_EQ(m.envelope.request_id(), 7u);
  EXPECT_EQ(m.envelope.upload_chunk().offset(), 4096u);
  ASSERT_TRUE(m.has_payload);
  EXPECT_EQ(std::vector<std::uint8_t>(m.bytes().begin(), m.bytes().end()), bytes);
}

TEST(Wire, RefusesBadFramingWithTypedErrors) {
  wire::Envelope chunk;
  chunk.mutable_upload_chunk()->set_upload_id(1);
  wire::Envelope info;
  info.mutable_round_info_request();
  const std::string chunk_bytes = chunk.SerializeAsString(), info_bytes = info.SerializeAsString();

  EXPECT_EQ(decode_error({}), wire::ERR_BAD_FRAMES);
  EXPECT_EQ(decode_error(frames_of({info_bytes, "x", "y"})), wire::ERR_BAD_FRAMES);
  EXPECT_EQ(decode_error(frames_of({chunk_bytes})), wire::ERR_BAD_FRAMES);          // no tensor
  EXPECT_EQ(decode_error(frames_of({info_bytes, "extra"})), wire::ERR_BAD_FRAMES);  // stray tensor
  EXPECT_EQ(decode_error(frames_of({"\xff\xff\xff\xff garbage"})), wire::ERR_MALFORMED);
  EXPECT_EQ(decode_error(frames_of({""})), wire::ERR_MALFORMED);  // parses, but no body
  EXPECT_EQ(decode_error(frames_of({chunk_bytes, std::string(5000, 'a')}), {64 * 1024, 4096}),
            wire::ERR_TOO_LARGE);
  EXPECT_EQ(decode_error(frames_of({std::string(70000, '\x08')})), wire::ERR_TOO_LARGE);
  EXPECT_EQ(code_name(wire::ERR_NON_FINITE), "ERR_NON_FINITE");
}

TEST(Tensor, HalfAndBfloatConversionsAreExactWhereRepresentable) {
  const std::vector<float> values = {0.0f,
                                     -0.0f,
                                     1.0f,
                                     -2.5f,
                                     65504.0f,
                                     6.103515625e-05f,
                                     5.960464477539063e-08f /* smallest f16 subnormal */};
  for (auto dtype : {wire::DTYPE_F32, wire::DTYPE_F16, wire::DTYPE_BF16}) {
    std::vector<std::uint8_t> bytes(values.size() * element_bytes(dtype));
    from_float(dtype, values, bytes);
    std::vector<float> back(values.size());
    to_float(dtype, bytes, back);
    for (std::size_t i = 0; i < values.size(); ++i) {
      // bf16 keeps 8 significant bits: 65504 (11 bits) rounds to 65536, within 2^-8 relative;
      // every other value here (powers of two, 2.5) is exact in bf16 too.
      if (dtype == wire::DTYPE_BF16 && values[i] == 65504.0f) {
        EXPECT_NEAR(back[i], values[i], std::abs(values[i]) / 256) << wire::DType_Name(dtype);
        EXPECT_EQ(back[i], 65536.0f);
      } else {
        EXPECT_EQ(std::bit_cast<std::uint32_t>(back[i]), std::bit_cast<std::uint32_t>(values[i]))
            << wire::DType_Name(dtype) << " value " << values[i];
      }
    }
  }
  // Known encodings: 1.0 = 0x3c00 in f16, 0x3f80 in bf16; f16 rounds 1 + 2^-11 to even (1.0).
  std::vector<std::uint8_t> two(2);
  from_float(wire::DTYPE_F16, std::vector<float>{1.0f + 0x1p-11f}, two);
  EXPECT_EQ(two, (std::vector<std::uint8_t>{0x00, 0x3c}));
  from_float(wire::DTYPE_BF16, std::vector<float>{1.0f}, two);
  EXPECT_EQ(two, (std::vector<std::uint8_t>{0x80, 0x3f}));
  from_float(wire::DTYPE_F16, std::vector<float>{1e6f}, two);  // overflows to +Inf
  EXPECT_EQ(two, (std::vector<std::uint8_t>{0x00, 0x7c}));
}

TEST(Tensor, NonFiniteDetectedOnRawBits) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  for (auto dtype : {wire::DTYPE_F32, wire::DTYPE_F16, wire::DTYPE_BF16}) {
    for (float bad : {inf, -inf, nan}) {
      std::vector<float> v = {1, 2, bad, 4};
      std::vector<std::uint8_t> bytes(v.size() * element_bytes(dtype));
      from_float(dtype, v, bytes);
      EXPECT_FALSE(all_finite(dtype, bytes)) << wire::DType_Name(dtype) << " " << bad;
      v[2] = 3;
      from_float(dtype, v, bytes);
      EXPECT_TRUE(all_finite(dtype, bytes));
    }
  }
  std::vector<float> out(3);
  EXPECT_THROW(to_float(wire::DTYPE_F32, std::vector<std::uint8_t>(11), out),
               std::invalid_argument);
}

/// CRC-32C by its definition, one bit at a time.
std::uint32_t crc32c_bitwise(std::span<const std::uint8_t> d) {
  std::uint32_t c = 0xffffffffu;
  for (std::uint8_t b : d) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

TEST(Integrity, ChecksumIsCrc32c) {
  const auto bytes = [](std::string_view t) {
    return std::span(reinterpret_cast<const std::uint8_t*>(t.data()), t.size());
  };
  // The CRC-32C check value (RFC 3720 / iSCSI) and its empty case.
  EXPECT_EQ(crc32c(bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c({}), 0u);
  EXPECT_EQ(chain::to_hex(chunk_checksum(bytes("123456789")), false), "e3069283");
  // RFC 3720 B.4: 32 bytes of zeros, of 0xff, and ascending.
  std::vector<std::uint8_t> v(32, 0);
  EXPECT_EQ(crc32c(v), 0x8A9136AAu);
  std::fill(v.begin(), v.end(), 0xff);
  EXPECT_EQ(crc32c(v), 0x62A8AB43u);
  for (std::size_t i = 0; i < 32; ++i) v[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(crc32c(v), 0x46DD794Eu);
}

TEST(Integrity, Crc32cContinuesAndMatchesABitwiseReferenceAtEveryLength) {
  // The hardware path (8 bytes a step) against the definition, one bit at a time, at lengths
  // and offsets that leave every tail size; and split anywhere, the CRC continues.
  std::vector<std::uint8_t> data(200);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + 7);
  for (std::size_t start = 0; start < 9; ++start)
    for (std::size_t n = 0; n + start <= data.size(); n += 13) {
      const auto piece = std::span(data).subspan(start, n);
      EXPECT_EQ(crc32c(piece), crc32c_bitwise(piece)) << start << "+" << n;
      const std::size_t cut = n / 3;
      EXPECT_EQ(crc32c(piece.subspan(cut), crc32c(piece.first(cut))), crc32c_bitwise(piece));
    }
}

TEST(Integrity, Crc32cOfLongInputsMatchesTheBitwiseReference) {
  // Long enough for the three interleaved streams (12 KiB a step) and their join, with every
  // kind of tail, and continued across splits that fall inside a step.
  std::vector<std::uint8_t> data(100000);
  std::uint64_t x = 88172645463325252ull;
  for (auto& b : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = static_cast<std::uint8_t>(x);
  }
  for (std::size_t n : {12287u, 12288u, 12289u, 24576u + 8u, 36871u, 100000u}) {
    const auto piece = std::span(data).first(n);
    EXPECT_EQ(crc32c(piece), crc32c_bitwise(piece)) << n;
    for (std::size_t cut : {std::size_t{5}, std::size_t{4096}, n / 2 + 3})
      EXPECT_EQ(crc32c(piece.subspan(cut), crc32c(piece.first(cut))), crc32c_bitwise(piece))
          << n << " cut " << cut;
  }
}

TEST(Integrity, UpdateHashIsBlake3FedInAnyPieces) {
  const auto bytes = [](std::string_view t) {
    return std::span(reinterpret_cast<const std::uint8_t*>(t.data()), t.size());
  };
  // What `b3sum` prints (blake3_test.cpp checks every size against it).
  EXPECT_EQ(chain::to_hex(update_hash({}), false),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  EXPECT_EQ(chain::to_hex(update_hash(bytes("abc")), false),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
  std::vector<std::uint8_t> data(10000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 31);
  UpdateHasher h;
  for (std::size_t at = 0; at < data.size(); at += 777)
    h.update(std::span(data).subspan(at, std::min<std::size_t>(777, data.size() - at)));
  EXPECT_EQ(h.finish(), update_hash(data));
}

TEST(Integrity, RegistrationSignatureRecoversTheNodeAddress) {
  const auto key = chain::PrivateKey::from_hex(
      "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
  std::vector<std::uint8_t> curve(32, 0xab);
  const auto digest = register_digest(31337, curve);
  const auto sig = key.sign(digest).to_rsv();
  EXPECT_EQ(signer(digest, sig), key.address());
  EXPECT_NE(signer(register_digest(1, curve), sig), key.address());  // another chain
  EXPECT_EQ(signer(digest, std::vector<std::uint8_t>(64)), std::nullopt);
  EXPECT_EQ(signer(digest, std::vector<std::uint8_t>(65, 0)), std::nullopt);
}

}  // namespace
}  // namespace murmur::protocol
