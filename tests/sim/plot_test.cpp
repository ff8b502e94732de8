// The PNG encoder and the canvas: chunk layout and CRCs checked with zlib, the pixels read back
// by inflating IDAT; text and lines leave ink where they should.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>

#include "murmur/sim/plot.hpp"

namespace murmur::sim::plot {
namespace {

std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3];
}

struct Chunk {
  std::string type;
  std::vector<std::uint8_t> data;
};

/// Splits a PNG into chunks, checking every CRC.
std::vector<Chunk> chunks(const std::vector<std::uint8_t>& png) {
  const std::uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_EQ(std::memcmp(png.data(), signature, 8), 0);
  std::vector<Chunk> out;
  for (std::size_t at = 8; at + 12 <= png.size();) {
    const std::uint32_t len = be32(png, at);
    Chunk c{std::string(png.begin() + at + 4, png.begin() + at + 8),
            std::vector<std::uint8_t>(png.begin() + at + 8, png.begin() + at + 8 + len)};
    const auto crc = crc32(0L, png.data() + at + 4, len + 4);
    EXPECT_EQ(be32(png, at + 8 + len), static_cast<std::uint32_t>(crc)) << c.type;
    out.push_back(std::move(c));
    at += 12 + len;
  }
  return out;
}

TEST(Png, ChunksCrcsAndPixelsReadBack) {
  const std::vector<std::uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255,  // row 0
                                         1,   2, 3, 4, 5,   6, 7, 8, 9};   // row 1
  const auto png = encode_png(3, 2, rgb);
  const auto c = chunks(png);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].type, "IHDR");
  EXPECT_EQ(c[1].type, "IDAT");
  EXPECT_EQ(c[2].type, "IEND");
  ASSERT_EQ(c[0].data.size(), 13u);
  EXPECT_EQ(be32(c[0].data, 0), 3u);
  EXPECT_EQ(be32(c[0].data, 4), 2u);
  EXPECT_EQ(c[0].data[8], 8);  // bit depth
  EXPECT_EQ(c[0].data[9], 2);  // RGB
  std::vector<std::uint8_t> raw(2 * (1 + 9));
  uLongf raw_size = raw.size();
  ASSERT_EQ(uncompress(raw.data(), &raw_size, c[1].data.data(), c[1].data.size()), Z_OK);
  ASSERT_EQ(raw_size, raw.size());
  EXPECT_EQ(raw[0], 0);  // filter byte
  EXPECT_TRUE(std::equal(rgb.begin(), rgb.begin() + 9, raw.begin() + 1));
  EXPECT_EQ(raw[10], 0);
  EXPECT_TRUE(std::equal(rgb.begin() + 9, rgb.end(), raw.begin() + 11));
  EXPECT_THROW(encode_png(3, 3, rgb), std::invalid_argument);
}

TEST(Canvas, LinesTextAndClipping) {
  Canvas cv(40, 20);
  const Rgb red{200, 0, 0}, white{255, 255, 255};
  cv.line(0, 0, 39, 19, red);
  EXPECT_EQ(cv.pixel(0, 0), red);
  EXPECT_EQ(cv.pixel(39, 19), red);
  EXPECT_EQ(cv.pixel(39, 0), white);
  cv.line(-10, 5, 100, 5, red, 3);  // clipped, no crash
  EXPECT_EQ(cv.pixel(20, 4), red);
  EXPECT_EQ(cv.pixel(20, 6), red);
  Canvas t(30, 10);
  t.text(0, 0, "1", red);
  // '1' has its stem in column 2 of every row but the last, and a 3-pixel foot.
  for (int r = 0; r < 7; ++r) EXPECT_EQ(t.pixel(2, r), red) << "row " << r;
  EXPECT_EQ(t.pixel(0, 0), white);
  EXPECT_EQ(t.pixel(1, 6), red);
  EXPECT_EQ(Canvas::text_width("abc", 2), 36);
}

TEST(Charts, DrawSeriesInTheirColoursAndHeatCellsOnTheScale) {
  LineChart chart;
  chart.title = "accuracy";
  chart.series = {{"a", {0.1, 0.5, 0.9}}, {"b", {0.9, 0.5, 0.1}}};
  const Canvas cv = draw_line_chart(chart, 400, 300);
  std::size_t first = 0, second = 0;
  for (int y = 0; y < 300; ++y)
    for (int x = 0; x < 400; ++x) {
      first += cv.pixel(x, y) == palette(0);
      second += cv.pixel(x, y) == palette(1);
    }
  EXPECT_GT(first, 100u);
  EXPECT_GT(second, 100u);
  HeatMap map{"final", {"clean", "attack"}, {"r1", "r2"}, {0.9, 0.8, 0.1, std::nan("")}, 0, 1};
  const Canvas h = draw_heat_map(map);
  EXPECT_GT(h.width(), 100u);
  EXPECT_FALSE(h.png().empty());
}

}  // namespace
}  // namespace murmur::sim::plot
