#include "murmur/sim/plot.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace murmur::sim::plot {
namespace {

// 5x7 glyphs, 7 rows of 5 columns each ('#' = ink), for the characters the reports print.
struct Glyph {
  char c;
  const char* rows;  // 35 characters
};
constexpr Glyph kGlyphs[] = {
    {' ', "..................................."}, {'0', ".###.#...##..###.#.###..##...#.###."},
    {'1', "..#...##....#....#....#....#...###."}, {'2', ".###.#...#....#...#...#...#...#####"},
    {'3', "#####...#...#.....#.....##...#.###."}, {'4', "...#...##..#.#.#..#.#####...#....#."},
    {'5', "######....####.....#....##...#.###."}, {'6', "..##..#...#....####.#...##...#.###."},
    {'7', "#####....#...#...#...#....#....#..."}, {'8', ".###.#...##...#.###.#...##...#.###."},
    {'9', ".###.#...##...#.####....#...#..##.."}, {'A', ".###.#...##...#######...##...##...#"},
    {'B', "####.#...##...#####.#...##...#####."}, {'C', ".###.#...##....#....#....#...#.###."},
    {'D', "###..#..#.#...##...##...##..#.###.."}, {'E', "######....#....####.#....#....#####"},
    {'F', "######....#....####.#....#....#...."}, {'G', ".###.#...##....#.####...##...#.####"},
    {'H', "#...##...##...#######...##...##...#"}, {'I', ".###...#....#....#....#....#...###."},
    {'J', "..###...#....#....#....#.#..#..##.."}, {'K', "#...##..#.#.#..##...#.#..#..#.#...#"},
    {'L', "#....#....#....#....#....#....#####"}, {'M', "#...###.###.#.##.#.##...##...##...#"},
    {'N', "#...##...###..##.#.##..###...##...#"}, {'O', ".###.#...##...##...##...##...#.###."},
    {'P', "####.#...##...#####.#....#....#...."}, {'Q', ".###.#...##...##...##.#.##..#..##.#"},
    {'R', "####.#...##...#####.#.#..#..#.#...#"}, {'S', ".#####....#.....###.....#....#####."},
    {'T', "#####..#....#....#....#....#....#.."}, {'U', "#...##...##...##...##...##...#.###."},
    {'V', "#...##...##...##...##...#.#.#...#.."}, {'W', "#...##...##...##.#.##.#.##.#.#.#.#."},
    {'X', "#...##...#.#.#...#...#.#.#...##...#"}, {'Y', "#...##...#.#.#...#....#....#....#.."},
    {'Z', "#####....#...#...#...#...#....#####"}, {'a', "...........###.....#.#####...#.####"},
    {'b', "#....#....#.##.##..##...##...#####."}, {'c', "...........###.#....#....#...#.###."},
    {'d', "....#....#.##.##..###...##...#.####"}, {'e', "...........###.#...#######.....###."},
    {'f', "..##..#..#.#...###...#....#....#..."}, {'g', "......#####...##...#.####....#.###."},
    {'h', "#....#....#.##.##..##...##...##...#"}, {'i', "..#........##....#....#....#...###."},
    {'j', "...#........##....#....#.#..#..##.."}, {'k', "#....#....#..#.#.#..##...#.#..#..#."},
    {'l', ".##....#....#....#....#....#...###."}, {'m', "..........##.#.#.#.##.#.##...##...#"},
    {'n', "..........#.##.##..##...##...##...#"}, {'o', "...........###.#...##...##...#.###."},
    {'p', "..........####.#...#####.#....#...."}, {'q', "...........##.##..##.####....#....#"},
    {'r', "..........#.##.##..##....#....#...."}, {'s', "...........###.#.....###.....#####."},
    {'t', ".#....#...###...#....#....#..#..##."}, {'u', "..........#...##...##...##..##.##.#"},
    {'v', "..........#...##...##...#.#.#...#.."}, {'w', "..........#...##...##.#.##.#.#.#.#."},
    {'x', "..........#...#.#.#...#...#.#.#...#"}, {'y', "..........#...##...#.####....#.###."},
    {'z', "..........#####...#...#...#...#####"}, {'.', "..........................##...##.."},
    {',', ".....................##....#...#..."}, {':', "......##...##........##...##......."},
    {'-', "...............#####..............."}, {'+', ".......#....#..#####..#....#......."},
    {'=', "..........#####.....#####.........."}, {'%', "##...##..#...#...#...#...#..##...##"},
    {'(', "...#...#...#....#....#.....#.....#."}, {')', ".#.....#.....#....#....#...#...#..."},
    {'/', ".........#...#...#...#...#........."}, {'_', "..............................#####"},
    {'#', ".#.#..#.#.#####.#.#.#####.#.#..#.#."}, {'?', ".###.#...#....#...#...#.........#.."},
    {'!', "..#....#....#....#....#.........#.."}, {'*', ".......#..#.#.#.###.#.#.#..#......."},
    {'|', "..#....#....#....#....#....#....#.."}, {'\'', "..#....#...#......................."},
    {'<', "...#...#...#...#.....#.....#.....#."}, {'>', ".#.....#.....#.....#...#...#...#..."},
    {'[', ".###..#....#....#....#....#....###."}, {']', ".###....#....#....#....#....#..###."},

};

/// Bitmaps by character code (7 rows of 5 bits, bit 4 = leftmost column).
const std::array<std::array<std::uint8_t, 7>, 128>& font() {
  static const auto table = [] {
    std::array<std::array<std::uint8_t, 7>, 128> t{};
    for (const auto& g : kGlyphs) {
      auto& rows = t[static_cast<unsigned char>(g.c)];
      for (int r = 0; r < 7; ++r) {
        std::uint8_t bits = 0;
        for (int c = 0; c < 5; ++c)
          bits = static_cast<std::uint8_t>(bits << 1 | (g.rows[r * 5 + c] == '#'));
        rows[r] = bits;
      }
    }
    return t;
  }();
  return table;
}

bool has_glyph(char c) {
  if (c == ' ') return true;
  const auto u = static_cast<unsigned char>(c);
  if (u >= 128) return false;
  for (auto b : font()[u])
    if (b) return true;
  return false;
}

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

void chunk(std::vector<std::uint8_t>& out, const char type[4],
           const std::vector<std::uint8_t>& data) {
  put_be32(out, static_cast<std::uint32_t>(data.size()));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  const auto crc = crc32(0L, out.data() + start, static_cast<uInt>(out.size() - start));
  put_be32(out, static_cast<std::uint32_t>(crc));
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

/// Red (0) -> yellow (0.5) -> green (1).
Rgb ramp(double t) {
  t = std::clamp(t, 0.0, 1.0);
  if (t < 0.5) return {220, static_cast<std::uint8_t>(60 + 2 * t * 160), 60};
  return {static_cast<std::uint8_t>(220 - (t - 0.5) * 2 * 170), 200, 70};
}

}  // namespace

std::vector<std::uint8_t> encode_png(std::size_t width, std::size_t height,
                                     std::span<const std::uint8_t> rgb) {
  if (width == 0 || height == 0) throw std::invalid_argument("encode_png: empty image");
  if (rgb.size() != width * height * 3)
    throw std::invalid_argument("encode_png: expected width x height x 3 bytes");
  std::vector<std::uint8_t> raw;
  raw.reserve(height * (width * 3 + 1));
  for (std::size_t y = 0; y < height; ++y) {
    raw.push_back(0);  // filter type None
    raw.insert(raw.end(), rgb.begin() + static_cast<std::ptrdiff_t>(y * width * 3),
               rgb.begin() + static_cast<std::ptrdiff_t>((y + 1) * width * 3));
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::vector<std::uint8_t> packed(packed_size);
  if (compress2(packed.data(), &packed_size, raw.data(), static_cast<uLong>(raw.size()), 9) != Z_OK)
    throw std::runtime_error("encode_png: zlib compress2 failed");
  packed.resize(packed_size);

  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  put_be32(ihdr, static_cast<std::uint32_t>(width));
  put_be32(ihdr, static_cast<std::uint32_t>(height));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8 bits, RGB, deflate, adaptive filters, no interlace
  chunk(out, "IHDR", ihdr);
  chunk(out, "IDAT", packed);
  chunk(out, "IEND", {});
  return out;
}

Canvas::Canvas(std::size_t width, std::size_t height, Rgb background)
    : width_(width), height_(height), rgb_(width * height * 3) {
  for (std::size_t i = 0; i < width * height; ++i) {
    rgb_[3 * i] = background.r;
    rgb_[3 * i + 1] = background.g;
    rgb_[3 * i + 2] = background.b;
  }
}

Rgb Canvas::pixel(int x, int y) const {
  if (x < 0 || y < 0 || static_cast<std::size_t>(x) >= width_ ||
      static_cast<std::size_t>(y) >= height_)
    return {};
  const std::size_t i = 3 * (static_cast<std::size_t>(y) * width_ + static_cast<std::size_t>(x));
  return {rgb_[i], rgb_[i + 1], rgb_[i + 2]};
}

void Canvas::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || static_cast<std::size_t>(x) >= width_ ||
      static_cast<std::size_t>(y) >= height_)
    return;
  const std::size_t i = 3 * (static_cast<std::size_t>(y) * width_ + static_cast<std::size_t>(x));
  rgb_[i] = c.r;
  rgb_[i + 1] = c.g;
  rgb_[i + 2] = c.b;
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  for (int j = y; j < y + h; ++j)
    for (int i = x; i < x + w; ++i) set(i, j, c);
}

void Canvas::rect(int x, int y, int w, int h, Rgb c) {
  line(x, y, x + w - 1, y, c);
  line(x, y + h - 1, x + w - 1, y + h - 1, c);
  line(x, y, x, y + h - 1, c);
  line(x + w - 1, y, x + w - 1, y + h - 1, c);
}

void Canvas::line(int x0, int y0, int x1, int y1, Rgb c, int thickness) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  const int lo = -(thickness - 1) / 2, hi = thickness / 2;
  for (;;) {
    for (int a = lo; a <= hi; ++a)
      for (int b = lo; b <= hi; ++b) set(x0 + a, y0 + b, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

void Canvas::text(int x, int y, std::string_view s, Rgb c, int scale) {
  for (char ch : s) {
    const char shown = has_glyph(ch) ? ch : '?';
    const auto& rows = font()[static_cast<unsigned char>(shown)];
    for (int r = 0; r < 7; ++r)
      for (int col = 0; col < 5; ++col)
        if (rows[r] & (1u << (4 - col))) fill_rect(x + col * scale, y + r * scale, scale, scale, c);
    x += 6 * scale;
  }
}

void Canvas::write_png(const std::filesystem::path& file) const {
  const auto bytes = png();
  std::ofstream out(file, std::ios::binary);
  if (!out || !out.write(reinterpret_cast<const char*>(bytes.data()),
                         static_cast<std::streamsize>(bytes.size())))
    throw std::runtime_error("cannot write " + file.string());
}

Rgb palette(std::size_t i) {
  static constexpr Rgb kColours[] = {
      {31, 119, 180}, {214, 39, 40},   {44, 160, 44},   {255, 127, 14}, {148, 103, 189},
      {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return kColours[i % 10];
}

Canvas draw_line_chart(const LineChart& chart, std::size_t width, std::size_t height) {
  Canvas cv(width, height);
  const Rgb ink{30, 30, 30}, grid{225, 225, 225};
  const int left = 60, right = 190, top = 36, bottom = 50;
  const int w = static_cast<int>(width) - left - right, h = static_cast<int>(height) - top - bottom;
  std::size_t points = 0;
  for (const auto& s : chart.series) points = std::max(points, s.y.size());
  const double x_lo = static_cast<double>(chart.x_first);
  const double x_hi = x_lo + static_cast<double>(std::max<std::size_t>(points, 2) - 1);
  const auto px = [&](double x) {
    return left + static_cast<int>(std::lround((x - x_lo) / (x_hi - x_lo) * w));
  };
  const auto py = [&](double y) {
    const double t =
        (std::clamp(y, chart.y_min, chart.y_max) - chart.y_min) / (chart.y_max - chart.y_min);
    return top + h - static_cast<int>(std::lround(t * h));
  };
  cv.text(left, 12, chart.title, ink, 2);
  for (int k = 0; k <= 10; ++k) {  // y grid every tenth of the range
    const double y = chart.y_min + (chart.y_max - chart.y_min) * k / 10.0;
    cv.line(left, py(y), left + w, py(y), grid);
    const std::string label = fixed(y, 2);
    cv.text(left - 6 - Canvas::text_width(label), py(y) - 3, label, ink);
  }
  const std::size_t step = std::max<std::size_t>(1, (points + 9) / 10);
  const std::size_t last = std::max<std::size_t>(points, 2) - 1;
  const auto tick = [&](std::size_t i) {
    const double x = x_lo + static_cast<double>(i);
    cv.line(px(x), top + h, px(x), top + h + 4, ink);
    const std::string label = std::to_string(chart.x_first + i);
    cv.text(px(x) - Canvas::text_width(label) / 2, top + h + 8, label, ink);
  };
  for (std::size_t i = 0; i <= last; i += step) tick(i);
  if (last % step != 0 && last % step >= (step + 1) / 2)
    tick(last);  // the last round, unless crowded
  cv.rect(left, top, w + 1, h + 1, ink);
  cv.text(left + w / 2 - Canvas::text_width(chart.x_label) / 2, top + h + 24, chart.x_label, ink);
  cv.text(6, top - 14, chart.y_label, ink);
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const auto& ys = chart.series[s].y;
    const Rgb c = palette(s);
    for (std::size_t i = 0; i < ys.size(); ++i) {
      if (!std::isfinite(ys[i])) continue;
      const int x = px(x_lo + static_cast<double>(i)), y = py(ys[i]);
      cv.fill_rect(x - 2, y - 2, 5, 5, c);
      if (i + 1 < ys.size() && std::isfinite(ys[i + 1]))
        cv.line(x, y, px(x_lo + static_cast<double>(i + 1)), py(ys[i + 1]), c, 2);
    }
    const int ly = top + 8 + static_cast<int>(s) * 16;
    cv.fill_rect(left + w + 14, ly, 18, 4, c);
    cv.text(left + w + 38, ly - 2, chart.series[s].name.substr(0, 24), ink);
  }
  return cv;
}

Canvas draw_heat_map(const HeatMap& map) {
  const Rgb ink{30, 30, 30};
  int row_label = 0;
  for (const auto& r : map.rows) row_label = std::max(row_label, Canvas::text_width(r));
  int cell_w = 60;
  for (const auto& c : map.cols) cell_w = std::max(cell_w, Canvas::text_width(c) + 10);
  const int cell_h = 24, left = row_label + 16, top = 60;
  const int w = left + cell_w * static_cast<int>(map.cols.size()) + 16;
  const int h = top + cell_h * static_cast<int>(map.rows.size()) + 40;
  Canvas cv(static_cast<std::size_t>(std::max(w, Canvas::text_width(map.title, 2) + 24)),
            static_cast<std::size_t>(h));
  cv.text(8, 12, map.title, ink, 2);
  for (std::size_t c = 0; c < map.cols.size(); ++c)
    cv.text(left + static_cast<int>(c) * cell_w + (cell_w - Canvas::text_width(map.cols[c])) / 2,
            top - 14, map.cols[c], ink);
  for (std::size_t r = 0; r < map.rows.size(); ++r) {
    const int y = top + static_cast<int>(r) * cell_h;
    cv.text(8, y + 8, map.rows[r], ink);
    for (std::size_t c = 0; c < map.cols.size(); ++c) {
      const int x = left + static_cast<int>(c) * cell_w;
      const double v = r * map.cols.size() + c < map.values.size()
                           ? map.values[r * map.cols.size() + c]
                           : std::nan("");
      if (std::isfinite(v)) {
        cv.fill_rect(x, y, cell_w, cell_h, ramp((v - map.lo) / (map.hi - map.lo)));
        const std::string label = fixed(v, 2);
        cv.text(x + (cell_w - Canvas::text_width(label)) / 2, y + 8, label, ink);
      }
      cv.rect(x, y, cell_w + 1, cell_h + 1, {255, 255, 255});
    }
  }
  const int sy = top + cell_h * static_cast<int>(map.rows.size()) + 14;  // the scale
  for (int i = 0; i < 200; ++i) cv.fill_rect(left + i, sy, 1, 10, ramp(i / 199.0));
  cv.text(left - 6 - Canvas::text_width(fixed(map.lo, 2)), sy + 2, fixed(map.lo, 2), ink);
  cv.text(left + 206, sy + 2, fixed(map.hi, 2), ink);
  return cv;
}

}  // namespace murmur::sim::plot
