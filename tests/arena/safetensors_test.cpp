// The safetensors reader against the reference implementation's files and our own writer, and
// every way a file can be damaged.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "murmur/arena/errors.hpp"
#include "murmur/arena/safetensors.hpp"

namespace murmur::arena {
namespace {

const std::filesystem::path kFixtures =
    std::filesystem::path(MURMUR_SOURCE_DIR) / "tests" / "fixtures" / "safetensors";

template <typename T>
std::vector<T> elements(const SafetensorsFile& file, const TensorInfo& t) {
  const auto bytes = file.bytes(t);
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

/// Checks tensor `name` of `file` holds -3..2 in its dtype, as the fixtures' README says.
void expect_minus3_to_2(const SafetensorsFile& file, const std::string& name, Dtype dtype) {
  SCOPED_TRACE(file.source() + " tensor " + name);
  const TensorInfo& t = file.at(name);
  EXPECT_EQ(t.dtype, dtype);
  EXPECT_EQ(t.shape, std::vector<std::size_t>{6});
  const std::vector<double> want{-3, -2, -1, 0, 1, 2};
  std::vector<double> got;
  switch (dtype) {
    case Dtype::kF32:
    case Dtype::kF16:
    case Dtype::kBF16:
      for (float v : file.read_float(t)) got.push_back(v);
      break;
    case Dtype::kF64:
      for (double v : elements<double>(file, t)) got.push_back(v);
      break;
    case Dtype::kI8:
      for (auto v : elements<std::int8_t>(file, t)) got.push_back(v);
      break;
    case Dtype::kI16:
      for (auto v : elements<std::int16_t>(file, t)) got.push_back(v);
      break;
    case Dtype::kI32:
      for (auto v : elements<std::int32_t>(file, t)) got.push_back(v);
      break;
    case Dtype::kU8:
      for (auto v : elements<std::uint8_t>(file, t)) got.push_back(static_cast<std::int8_t>(v));
      break;
    case Dtype::kU16:
      for (auto v : elements<std::uint16_t>(file, t)) got.push_back(static_cast<std::int16_t>(v));
      break;
    case Dtype::kU32:
      for (auto v : elements<std::uint32_t>(file, t)) got.push_back(static_cast<std::int32_t>(v));
      break;
    default: FAIL() << "dtype not in the fixtures";
  }
  EXPECT_EQ(got, want);
}

const std::vector<std::pair<std::string, Dtype>> kSamples{
    {"B", Dtype::kU8},  {"H", Dtype::kU16}, {"I", Dtype::kU32},
    {"b", Dtype::kI8},  {"d", Dtype::kF64}, {"e", Dtype::kF16},
    {"f", Dtype::kF32}, {"h", Dtype::kI16}, {"i", Dtype::kI32}};

TEST(SafetensorsReference, EverySampleFileReads) {
  for (const auto& [name, dtype] : kSamples) {
    const SafetensorsFile file = SafetensorsFile::open(kFixtures / (name + ".safetensors"));
    EXPECT_EQ(file.metadata(), (std::map<std::string, std::string>{{"test", "a"}}));
    ASSERT_EQ(file.tensors().size(), 1u);
    expect_minus3_to_2(file, name, dtype);
  }
}

TEST(SafetensorsReference, OverallHoldsAllNineInOffsetOrder) {
  const SafetensorsFile file = SafetensorsFile::open(kFixtures / "overall.safetensors");
  ASSERT_EQ(file.tensors().size(), 9u);
  std::size_t offset = 0;
  for (const auto& [name, dtype] : kSamples) {  // B H I b d e f h i: name order is offset order
    expect_minus3_to_2(file, name, dtype);
    EXPECT_EQ(file.at(name).begin, offset) << name;
    offset = file.at(name).end;
  }
}

TEST(SafetensorsReference, OurWriterReproducesTheReferenceBytes) {
  // Rebuild overall.safetensors from its tensors: the header JSON must be the reference's text
  // (ours adds only the padding to 8 bytes) and the data section identical.
  const auto path = kFixtures / "overall.safetensors";
  const SafetensorsFile ref = SafetensorsFile::open(path);
  SafetensorsWriter writer;
  writer.set_metadata("test", "a");
  for (const TensorInfo& t : ref.tensors()) writer.add(t.name, t.dtype, t.shape, ref.bytes(t));
  const std::vector<std::byte> ours = writer.serialize();

  std::ifstream in(path, std::ios::binary);
  const std::vector<char> theirs((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
  std::uint64_t n_theirs = 0, n_ours = 0;
  std::memcpy(&n_theirs, theirs.data(), 8);
  std::memcpy(&n_ours, ours.data(), 8);
  EXPECT_EQ(n_ours % 8, 0u);
  const std::string header_theirs(theirs.data() + 8, n_theirs);
  std::string header_ours(reinterpret_cast<const char*>(ours.data()) + 8, n_ours);
  header_ours.erase(header_ours.find_last_not_of(' ') + 1);
  EXPECT_EQ(header_ours, header_theirs);
  const std::size_t data_bytes = theirs.size() - 8 - n_theirs;
  ASSERT_EQ(ours.size() - 8 - n_ours, data_bytes);
  EXPECT_EQ(std::memcmp(ours.data() + 8 + n_ours, theirs.data() + 8 + n_theirs, data_bytes), 0);
}

TEST(SafetensorsWriter, RoundTripsEveryFloatType) {
  const std::vector<float> values{0.0f,     -0.0f,       1.0f,
                                  -2.5f,    3.14159265f, 1e-3f,
                                  65504.0f, -1e-7f,      std::numeric_limits<float>::infinity(),
                                  1e30f,    7.0f,        0.1f};
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  writer.add_float("a.f32", Dtype::kF32, {3, 4}, values);
  writer.add_float("b.f16", Dtype::kF16, {12}, values);
  writer.add_float("c.bf16", Dtype::kBF16, {2, 2, 3}, values);
  const auto dir =
      std::filesystem::temp_directory_path() / ("murmur_st_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  writer.write(dir / "w.safetensors");
  const SafetensorsFile file = SafetensorsFile::open(dir / "w.safetensors");
  std::filesystem::remove_all(dir);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.at("a.f32").shape, (std::vector<std::size_t>{3, 4}));
  EXPECT_EQ(file.at("c.bf16").shape, (std::vector<std::size_t>{2, 2, 3}));
  const std::vector<float> f32 = file.read_float(file.at("a.f32"));
  const std::vector<float> f16 = file.read_float(file.at("b.f16"));
  const std::vector<float> bf16 = file.read_float(file.at("c.bf16"));
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::memcmp(&f32[i], &values[i], 4), 0) << i;  // bit-exact, -0 included
    EXPECT_EQ(f16[i], half_to_float(float_to_half(values[i]))) << i;
    EXPECT_EQ(bf16[i], bf16_to_float(float_to_bf16(values[i]))) << i;
  }
  EXPECT_EQ(f16[2], 1.0f);
  EXPECT_EQ(f16[6], 65504.0f);
  EXPECT_TRUE(std::isinf(f16[9]));  // 1e30 overflows binary16
  EXPECT_EQ(bf16[9], bf16_to_float(float_to_bf16(1e30f)));
  EXPECT_NEAR(bf16[4], 3.14159265f, 3.14159265f / 256);
  // Offsets tile the data section in name order; the header is padded to 8.
  EXPECT_EQ(file.at("a.f32").begin, 0u);
  EXPECT_EQ(file.at("b.f16").begin, 48u);
  EXPECT_EQ(file.at("c.bf16").begin, 72u);
}

TEST(SafetensorsDtype, KnownConversions) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);               // the tie rounds to even: infinity
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000);  // below half of it: zero
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_TRUE(std::isnan(half_to_float(0x7e00)));
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie to even (down)
  EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie to even (up)
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
  // Every binary16 value survives the round trip through float.
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_half(f), h) << std::hex << h;
  }
}

// ---- damaged files ---------------------------------------------------------------------------

std::vector<std::byte> good_file() {
  SafetensorsWriter w;
  const std::vector<float> a(6, 1.0f), b(4, 2.0f);
  w.add_float("a", Dtype::kF32, {2, 3}, a);
  w.add_float("b", Dtype::kBF16, {4}, b);
  return w.serialize();
}

/// A file whose header is `json` (unpadded) followed by `data_bytes` zero bytes.
std::vector<std::byte> with_header(const std::string& json, std::size_t data_bytes) {
  std::vector<std::byte> out(8 + json.size() + data_bytes, std::byte{0});
  const std::uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, json.data(), json.size());
  return out;
}

/// Parsing `bytes` throws FormatError whose message contains `fragment`.
void expect_rejected(std::vector<std::byte> bytes, const std::string& fragment) {
  try {
    SafetensorsFile::parse(std::move(bytes), "damaged.safetensors");
    ADD_FAILURE() << "accepted; expected an error containing '" << fragment << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("damaged.safetensors"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsDamaged, TheGoodFileParses) {
  const SafetensorsFile f = SafetensorsFile::parse(good_file(), "good");
  EXPECT_EQ(f.read_float(f.at("a")), std::vector<float>(6, 1.0f));
  EXPECT_EQ(f.read_float(f.at("b")), std::vector<float>(4, 2.0f));
}

TEST(SafetensorsDamaged, TruncatedAnywhere) {
  const std::vector<std::byte> good = good_file();
  std::uint64_t n = 0;
  std::memcpy(&n, good.data(), 8);
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::string fragment = cut < 8       ? "truncated or not safetensors"
                                 : cut < 8 + n ? "the file is truncated"
                                               : "the file is truncated";
    expect_rejected({good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)}, fragment);
  }
}

TEST(SafetensorsDamaged, OversizedHeaderLength) {
  std::vector<std::byte> bytes = good_file();
  const std::uint64_t huge = 1ull << 40;
  std::memcpy(bytes.data(), &huge, 8);
  expect_rejected(bytes, "exceeds the limit");
  const std::uint64_t just_over = kMaxSafetensorsHeader + 1;
  std::memcpy(bytes.data(), &just_over, 8);
  expect_rejected(bytes, "exceeds the limit");
  const std::uint64_t past_end = bytes.size();  // under the limit, past the end
  std::memcpy(bytes.data(), &past_end, 8);
  expect_rejected(bytes, "runs past the end");
}

TEST(SafetensorsDamaged, WrongOffsets) {
  // Two F32 [2] tensors (8 bytes each) with the offsets given.
  const auto entry = [](const char* name, const std::string& offsets) {
    return std::string("\"") + name + R"(":{"dtype":"F32","shape":[2],"data_offsets":)" + offsets +
           "}";
  };
  const auto two = [&](const std::string& a, const std::string& b) {
    return "{" + entry("a", a) + "," + entry("b", b) + "}";
  };
  expect_rejected(with_header(two("[0,8]", "[4,12]"), 12), "overlaps tensor 'a'");
  expect_rejected(with_header(two("[0,8]", "[12,20]"), 20), "leave a hole");
  expect_rejected(with_header("{" + entry("a", "[4,12]") + "}", 12), "leave a hole");
  expect_rejected(with_header(two("[0,8]", "[8,16]"), 12), "the file is truncated");
  expect_rejected(with_header("{" + entry("a", "[0,8]") + "}", 12), "trailing bytes");
  expect_rejected(with_header("{" + entry("a", "[8,0]") + "}", 8), "end before they begin");
  expect_rejected(with_header("{" + entry("a", "[0]") + "}", 8), "not a pair");
  expect_rejected(with_header("{" + entry("a", "[0,-8]") + "}", 8), "not a non-negative integer");
  EXPECT_NO_THROW(SafetensorsFile::parse(with_header(two("[8,16]", "[0,8]"), 16), "swapped"));
}

TEST(SafetensorsDamaged, DtypeAndShapeMismatches) {
  expect_rejected(with_header(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", 8),
                  "dtype or shape does not match");
  expect_rejected(with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                  "dtype or shape does not match");
  expect_rejected(with_header(R"({"a":{"dtype":"F24","shape":[2],"data_offsets":[0,6]}})", 6),
                  "unknown dtype \"F24\"");
  expect_rejected(
      with_header(
          R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8),
      "overflows");
  expect_rejected(with_header(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8), "no \"shape\"");
}

TEST(SafetensorsDamaged, HeaderThatIsNotJson) {
  expect_rejected(with_header(R"({"a":{"dtype":"F32",)", 0), "not valid JSON");
  expect_rejected(with_header(R"([1,2])", 0), "does not begin with '{'");
  expect_rejected(with_header(R"({"__metadata__":{"k":1}})", 0), "is not a string");
  expect_rejected(with_header("", 0), "does not begin with '{'");
  // Found by safetensors_fuzzer (tests/fuzz): a number too large for a double is nlohmann's
  // out_of_range, not its parse_error, and escaped the reader.
  expect_rejected(with_header(R"({"a":1E0000001111111111111111})", 0), "not valid JSON");
  // Nesting past any header's is refused as it is read (copies and dump() recurse).
  expect_rejected(
      with_header("{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}", 0),
      "JSON nested deeper than 128 levels");
}

TEST(SafetensorsDamaged, ReadingTheWrongWay) {
  const SafetensorsFile ints = SafetensorsFile::open(kFixtures / "i.safetensors");
  EXPECT_THROW(ints.read_float(ints.at("i")), FormatError);  // I32 is not a weight type
  EXPECT_THROW(ints.at("missing"), FormatError);
  const SafetensorsFile f = SafetensorsFile::parse(good_file(), "good");
  const std::vector<std::size_t> wrong{3, 2};
  try {
    f.read_float("a", wrong);
    ADD_FAILURE() << "shape [3, 2] accepted for a [2, 3] tensor";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("has shape [2, 3], expected [3, 2]"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(SafetensorsFile::open(kFixtures / "no_such_file.safetensors"), FormatError);
}

}  // namespace
}  // namespace murmur::arena
