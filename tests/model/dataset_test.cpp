// model/ data readers: the real Fashion-MNIST files, and IDX and labelled-tensor files written
// here, whole and damaged in every way the readers must name.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "model_support.hpp"
#include "murmur/model/errors.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/labelled_tensor_file.hpp"

namespace murmur::test {
namespace {

using Bytes = std::vector<unsigned char>;

Bytes idx_bytes(std::uint32_t magic, const std::vector<std::uint32_t>& dims, const Bytes& data) {
  Bytes out;
  const auto be = [&](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
  };
  be(magic);
  for (std::uint32_t d : dims) be(d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_file(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_gz(const std::filesystem::path& path, const Bytes& bytes) {
  gzFile f = gzopen(path.string().c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

/// Runs fn, which must throw DataError whose message contains every needle.
void expect_data_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "no DataError; expected one mentioning '" << needles.front() << "'";
  } catch (const model::DataError& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' lacks '" << n << "'";
  }
}

// Three 2x3 images and their labels: a small IDX pair whose every value is known.
const Bytes kPixels = {0, 255, 51, 102, 153, 204, 1, 2, 3, 4, 5, 6, 255, 255, 0, 0, 128, 64};
const Bytes kLabels = {2, 0, 7};

class IdxFiles : public ::testing::Test {
 protected:
  TempDir dir;
  std::filesystem::path images = dir / "images.gz", labels = dir / "labels.gz";
  void SetUp() override {
    write_gz(images, idx_bytes(0x803, {3, 2, 3}, kPixels));
    write_gz(labels, idx_bytes(0x801, {3}, kLabels));
  }
};

TEST_F(IdxFiles, ReadsValuesOverTwoFiftyFive) {
  const model::LabelledSet set = model::read_idx(images, labels);
  EXPECT_EQ(set.rows(), 3u);
  EXPECT_EQ(set.example_dims, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(set.classes, 8u);
  EXPECT_EQ(set.labels, (std::vector<std::int32_t>{2, 0, 7}));
  ASSERT_EQ(set.features.size(), kPixels.size());
  for (std::size_t j = 0; j < kPixels.size(); ++j)
    EXPECT_EQ(set.features[j], static_cast<float>(kPixels[j]) / 255.0f) << j;
}

TEST_F(IdxFiles, ReadsUncompressedToo) {
  write_file(dir / "images", idx_bytes(0x803, {3, 2, 3}, kPixels));
  write_file(dir / "labels", idx_bytes(0x801, {3}, kLabels));
  EXPECT_EQ(model::read_idx(dir / "images", dir / "labels").features,
            model::read_idx(images, labels).features);
}

TEST_F(IdxFiles, TruncatedGzipStream) {
  Bytes gz = read_file(images);
  gz.resize(gz.size() - 12);  // cut the deflate stream's end and the CRC/length trailer
  write_file(images, gz);
  expect_data_error([&] { model::read_idx(images, labels); }, {images.string(), "truncated"});
}

TEST_F(IdxFiles, CorruptGzipStream) {
  Bytes gz = read_file(images);
  gz[gz.size() - 8] ^= 0xff;  // the CRC-32 of the trailer
  write_file(images, gz);
  expect_data_error([&] { model::read_idx(images, labels); }, {images.string(), "corrupt"});
  Bytes junk = read_file(labels);
  for (std::size_t j = 10; j < junk.size() - 8; ++j) junk[j] = static_cast<unsigned char>(j * 37);
  write_file(labels, junk);  // garbage deflate data
  write_gz(images, idx_bytes(0x803, {3, 2, 3}, kPixels));
  expect_data_error([&] { model::read_idx(images, labels); }, {labels.string()});
}

TEST_F(IdxFiles, WrongMagic) {
  expect_data_error([&] { model::read_idx(labels, images); },
                    {labels.string(), "magic number 0x00000801, expected 0x00000803"});
  write_gz(images, idx_bytes(0x0d03, {3, 2, 3}, kPixels));  // float data, not bytes
  expect_data_error([&] { model::read_idx(images, labels); }, {"0x00000d03", "not an IDX images"});
}

TEST_F(IdxFiles, PayloadShorterOrLongerThanHeader) {
  Bytes short_pixels(kPixels.begin(), kPixels.end() - 1);
  write_gz(images, idx_bytes(0x803, {3, 2, 3}, short_pixels));
  expect_data_error([&] { model::read_idx(images, labels); },
                    {"truncated", "declares 18 bytes", "has 17"});
  Bytes long_pixels = kPixels;
  long_pixels.push_back(9);
  write_gz(images, idx_bytes(0x803, {3, 2, 3}, long_pixels));
  expect_data_error([&] { model::read_idx(images, labels); }, {"1 bytes after the data"});
  write_gz(images, Bytes{0, 0, 8, 3, 0, 0});
  expect_data_error([&] { model::read_idx(images, labels); }, {"the header alone is 16"});
  write_gz(images, idx_bytes(0x803, {3, 0, 3}, {}));
  expect_data_error([&] { model::read_idx(images, labels); }, {"dimension 1 is 0"});
}

TEST_F(IdxFiles, ImagesAndLabelsDisagree) {
  write_gz(labels, idx_bytes(0x801, {2}, {1, 2}));
  expect_data_error([&] { model::read_idx(images, labels); }, {"2 labels for 3 images"});
}

TEST_F(IdxFiles, MissingFiles) {
  expect_data_error([&] { model::read_idx(dir / "nope.gz", labels); }, {"nope.gz", "cannot open"});
  expect_data_error([&] { model::load_fashion_mnist(model::FashionMnistSplit::kTest, dir.path()); },
                    {"t10k-images-idx3-ubyte.gz", "dataset-fashion-mnist"});
}

TEST(FashionMnist, TestSplitIsTheRealOne) {
  const model::LabelledSet& set = fashion_test();
  ASSERT_EQ(set.rows(), 10000u);
  EXPECT_EQ(set.example_dims, (std::vector<std::size_t>{28, 28}));
  EXPECT_EQ(set.classes, 10u);
  // Known facts of the published test set: 1,000 images per class, the first an ankle boot
  // (class 9), pixel mean 0.2860 (Zalando's README quotes 72.94 / 255 for train and test alike
  // to within 0.003).
  std::array<int, 10> per_class{};
  for (auto y : set.labels) ++per_class.at(static_cast<std::size_t>(y));
  for (int c : per_class) EXPECT_EQ(c, 1000);
  EXPECT_EQ(set.labels[0], 9);
  double sum = 0;
  float lo = 1, hi = 0;
  for (float x : set.features) {
    sum += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
  EXPECT_NEAR(sum / static_cast<double>(set.features.size()), 0.286, 0.003);
}

TEST(FashionMnist, TrainSplit) {
  const model::LabelledSet& set = fashion_train();
  EXPECT_EQ(set.rows(), 60000u);
  std::array<int, 10> per_class{};
  for (auto y : set.labels) ++per_class.at(static_cast<std::size_t>(y));
  for (int c : per_class) EXPECT_EQ(c, 6000);
}

model::LabelledSet small_set() {
  model::LabelledSet set;
  set.example_dims = {2, 1, 3};
  set.classes = 4;
  set.labels = {3, 0, 1, 3, 2};
  for (std::size_t j = 0; j < 30; ++j) set.features.push_back(static_cast<float>(j) * 0.25f - 3.0f);
  return set;
}

class LabelledTensorFile : public ::testing::Test {
 protected:
  TempDir dir;
  std::filesystem::path path = dir / "val.mlt";
  void SetUp() override { model::write_labelled_tensors(path, small_set()); }
  /// Rewrites the file with bytes[offset] = value and a recomputed CRC, so that only the
  /// field under test is wrong.
  void patch(std::size_t offset, unsigned char value) {
    Bytes b = read_file(path);
    b[offset] = value;
    const auto crc =
        static_cast<std::uint32_t>(crc32(0L, b.data(), static_cast<uInt>(b.size() - 4)));
    std::memcpy(b.data() + b.size() - 4, &crc, 4);
    write_file(path, b);
  }
};

TEST_F(LabelledTensorFile, RoundTripsAndHasTheDocumentedSize) {
  const model::LabelledSet want = small_set();
  const model::LabelledSet got = model::read_labelled_tensors(path);
  EXPECT_EQ(got.example_dims, want.example_dims);
  EXPECT_EQ(got.classes, want.classes);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_EQ(got.features, want.features);
  // 32-byte header + 8 per dimension + 4 per feature + 4 per label + CRC.
  EXPECT_EQ(std::filesystem::file_size(path), 32u + 8u * 3u + 4u * 30u + 4u * 5u + 4u);
  const Bytes b = read_file(path);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "MURMURLT");
}

TEST_F(LabelledTensorFile, FashionMnistRoundTrip) {
  model::write_labelled_tensors(path, fashion_test());
  const model::LabelledSet got = model::read_labelled_tensors(path);
  EXPECT_EQ(got.features, fashion_test().features);
  EXPECT_EQ(got.labels, fashion_test().labels);
  EXPECT_EQ(got.classes, 10u);
}

TEST_F(LabelledTensorFile, DamageIsNamed) {
  patch(0, 'X');
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"wrong magic"});
  SetUp();
  patch(8, 2);
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"version 2", "upgrade"});
  SetUp();
  patch(12, 9);
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"rank 9"});
  SetUp();
  patch(24, 1);
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"1 classes"});
  SetUp();
  patch(32 + 8, 0);  // second dimension 1 -> 0
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"dimension 1 is 0"});
  SetUp();
  patch(16, 6);  // 6 examples declared, 5 stored
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"truncated"});
  SetUp();
  patch(32 + 24 + 120 + 4, 4);  // label of example 1 := 4, classes are 4
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"label 4 of example 1"});
  SetUp();
  patch(32 + 24 + 3, 0x7f);  // feature 0 := 0x7fc00000, a NaN
  patch(32 + 24 + 2, 0xc0);
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"feature 0 is not finite"});
}

TEST_F(LabelledTensorFile, TruncatedExtendedOrCorrupt) {
  Bytes b = read_file(path);
  write_file(path, Bytes(b.begin(), b.end() - 5));
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"truncated"});
  Bytes longer = b;
  longer.push_back(0);
  write_file(path, longer);
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"extra bytes"});
  Bytes flipped = b;
  flipped[60] ^= 1;  // a bit of feature 1, CRC left as it was
  write_file(path, flipped);
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"CRC-32 mismatch"});
  write_file(path, Bytes(b.begin(), b.begin() + 20));
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"shorter than the header"});
  expect_data_error([&] { model::read_labelled_tensors(dir / "missing.mlt"); }, {"cannot open"});
}

// Found while writing model_data_fuzzer (tests/fuzz; the input is in its corpus), confirmed
// with it: a dimension of 2^62 floats made the feature byte count wrap to 0, so a 48-byte file
// with a valid CRC passed the length check and the reader threw std::length_error (a resize to
// 2^62 floats) instead of DataError.
TEST_F(LabelledTensorFile, SizesThatOverflowAreRefused) {
  Bytes b = {'M', 'U', 'R', 'M', 'U', 'R', 'L', 'T'};
  const auto put = [&b](std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
  };
  put(1, 4);                       // version
  put(1, 4);                       // rank
  put(1, 8);                       // one example
  put(2, 4);                       // classes
  put(0, 4);                       // reserved
  put(std::uint64_t{1} << 62, 8);  // its one dimension: 2^62 floats, 2^64 bytes
  put(0, 4);                       // its label (no feature bytes: 4 * 2^62 wrapped to 0)
  put(crc32(0L, b.data(), static_cast<uInt>(b.size())), 4);
  write_file(path, b);
  expect_data_error([&] { model::read_labelled_tensors(path); }, {"sizes overflow"});
}

TEST_F(LabelledTensorFile, WriterRefusesInconsistentSets) {
  model::LabelledSet set = small_set();
  set.features[3] = std::numeric_limits<float>::infinity();
  expect_data_error([&] { model::write_labelled_tensors(path, set); }, {"feature 3 is not finite"});
  set = small_set();
  set.labels[2] = 4;
  expect_data_error([&] { model::write_labelled_tensors(path, set); }, {"label 4 of example 2"});
  set = small_set();
  set.features.pop_back();
  expect_data_error([&] { model::write_labelled_tensors(path, set); }, {"29 features for 5"});
}

}  // namespace
}  // namespace murmur::test
