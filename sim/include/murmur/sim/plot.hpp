#pragma once
// Small raster plots for reports, written as PNG without a plotting dependency: an RGB canvas
// with lines, rectangles and a 5x7 bitmap font, a PNG encoder (zlib's deflate and CRC-32), and
// the two charts the simulator's reports need (lines per series; a heat map with values).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace murmur::sim::plot {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const Rgb&, const Rgb&) = default;
};

/// PNG bytes of an 8-bit RGB image (`rgb` holds width x height x 3 bytes, rows top down):
/// signature, IHDR (colour type 2), one IDAT (filter 0 per row, zlib level 9), IEND; every
/// chunk with its CRC-32. Throws std::invalid_argument on a size mismatch or an empty image.
std::vector<std::uint8_t> encode_png(std::size_t width, std::size_t height,
                                     std::span<const std::uint8_t> rgb);

/// An RGB raster; drawing outside it is clipped.
class Canvas {
 public:
  Canvas(std::size_t width, std::size_t height, Rgb background = {255, 255, 255});
  std::size_t width() const { return width_; }
  std::size_t height() const { return height_; }
  Rgb pixel(int x, int y) const;
  void set(int x, int y, Rgb c);
  void fill_rect(int x, int y, int w, int h, Rgb c);
  void rect(int x, int y, int w, int h, Rgb c);
  /// Bresenham's line with a square pen of `thickness` pixels.
  void line(int x0, int y0, int x1, int y1, Rgb c, int thickness = 1);
  /// Text in the 5x7 font, each glyph 6 x scale pixels wide; (x, y) is the top left corner.
  /// Characters without a glyph are drawn as '?'.
  void text(int x, int y, std::string_view s, Rgb c, int scale = 1);
  static int text_width(std::string_view s, int scale = 1) {
    return static_cast<int>(s.size()) * 6 * scale;
  }
  std::vector<std::uint8_t> png() const { return encode_png(width_, height_, rgb_); }
  /// Writes png(); throws std::runtime_error naming the file when it cannot be written.
  void write_png(const std::filesystem::path& file) const;

 private:
  std::size_t width_, height_;
  std::vector<std::uint8_t> rgb_;
};

/// A distinguishable colour for series i (cycles after 10).
Rgb palette(std::size_t i);

struct Series {
  std::string name;
  std::vector<double> y;  ///< y[i] is plotted at x_first + i; NaN leaves a gap
};

struct LineChart {
  std::string title, x_label, y_label;
  double y_min = 0, y_max = 1;
  std::size_t x_first = 0;
  std::vector<Series> series;
};

/// Axes with grid lines and labelled ticks, one coloured polyline per series, a legend.
Canvas draw_line_chart(const LineChart& chart, std::size_t width = 820, std::size_t height = 480);

struct HeatMap {
  std::string title;
  std::vector<std::string> rows, cols;
  std::vector<double> values;  ///< rows x cols, row-major; NaN: an empty cell
  double lo = 0, hi = 1;       ///< the colour scale (red at lo, yellow, green at hi)
};

/// One cell per value, coloured on the scale and labelled with the value (two decimals).
Canvas draw_heat_map(const HeatMap& map);

}  // namespace murmur::sim::plot
