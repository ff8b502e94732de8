// The Gram matrix of the rows on the CPU: the project's own fixed-order tile kernel
// (gram_tile.hpp; AVX-512 or AVX2 where the CPU has it, the same bits without), tiles in parallel,
// each tile's partial added in FP64 in tile order, so the result has the same bits for any thread
// count and any SIMD choice. The finiteness check rides on the diagonal: a row with a NaN or an
// Inf has a non-finite squared norm, and only rows whose norm came out non-finite (NaN, Inf,
// or a finite row whose float partials overflowed) are scanned again.
#include <algorithm>
#include <cmath>

#include "cpu_backend.hpp"
#include "gram_tile.hpp"

namespace murmur::kernels::cpu {
namespace {

// Bytes of rows loaded per parallel loop: within L3 with room to spare; whole tiles.
constexpr std::size_t kChunkBytes = 8u << 20;

/// The row stride when every row of `source` is resident and rows are equally spaced (a
/// packed matrix, possibly with padding): tiles can then be read in place. 0 otherwise.
std::size_t uniform_stride(const RowSource& source) {
  const std::size_t n = source.rows();
  const float* first = n ? source.resident_row(0) : nullptr;
  if (first == nullptr) return 0;
  if (n == 1) return source.cols();
  const float* second = source.resident_row(1);
  if (second == nullptr || second <= first) return 0;
  const auto stride = static_cast<std::size_t>(second - first);
  for (std::size_t i = 2; i < n; ++i)
    if (source.resident_row(i) != first + i * stride) return 0;
  return stride;
}

struct PortableBlock {
  const float* const* x;
  std::size_t w;
  template <std::size_t RI, std::size_t RJ>
  void run(std::size_t i0, std::size_t j0, double* res) const {
    float acc[RI][RJ][8] = {};
    std::size_t k = 0;
    for (; k + 8 <= w; k += 8)
      for (std::size_t a = 0; a < RI; ++a)
        for (std::size_t b = 0; b < RJ; ++b)
          for (std::size_t l = 0; l < 8; ++l)
            acc[a][b][l] = std::fma(x[i0 + a][k + l], x[j0 + b][k + l], acc[a][b][l]);
    for (std::size_t a = 0; a < RI; ++a)
      for (std::size_t b = 0; b < RJ; ++b) {
        for (std::size_t l = 0; k + l < w; ++l)
          acc[a][b][l] = std::fma(x[i0 + a][k + l], x[j0 + b][k + l], acc[a][b][l]);
        res[a * RJ + b] = gram_lane_sum(acc[a][b]);
      }
  }
};

GramTileKernel tile_kernel(CpuSimd simd) {
#if MURMUR_CPU_X86_DISPATCH
  if (simd == CpuSimd::kAvx512) return gram_tile_avx512;
  if (simd == CpuSimd::kAvx2) return gram_tile_avx2;
#endif
  (void)simd;
  return gram_tile_portable;
}

/// Whether row i of `rows` holds a NaN or an Inf (x - x is NaN exactly for those).
bool row_nonfinite(const RowSource& rows, std::size_t i) {
  const std::size_t d = rows.cols();
  if (const float* r = rows.resident_row(i)) {
    float acc = 0.0f;
    for (std::size_t k = 0; k < d; ++k) acc += r[k] - r[k];
    return acc != acc;
  }
  constexpr std::size_t kPiece = 1 << 16;
  std::vector<float> buf(std::min(kPiece, d));
  for (std::size_t b = 0; b < d; b += kPiece) {
    const std::size_t e = std::min(d, b + kPiece);
    rows.read_row(i, b, e, buf.data());
    float acc = 0.0f;
    for (std::size_t k = 0; k < e - b; ++k) acc += buf[k] - buf[k];
    if (acc != acc) return true;
  }
  return false;
}

}  // namespace

void gram_tile_portable(const float* const* x, std::size_t n, std::size_t w, double* out,
                        GramScratch&, const float* const*) {
  gram_tile_walk(n, out, PortableBlock{x, w});
}

std::vector<double> gram(CpuBackend& backend, const RowSource& rows, std::vector<bool>* finite) {
  const std::size_t n = rows.rows(), d = rows.cols();
  std::vector<double> g(n * n, 0.0);
  if (finite) finite->assign(n, true);
  if (n == 0 || d == 0) return g;
  const GramTileKernel kernel = tile_kernel(backend.simd());
  const std::size_t stride = uniform_stride(rows);
  const float* base = stride ? rows.resident_row(0) : nullptr;
  // Columns per parallel loop: whole tiles, about kChunkBytes of rows, so that small N does not
  // pay a parallel loop per tile and a copied chunk stays in cache.
  const std::size_t chunk =
      kGramTile * std::max<std::size_t>(1, kChunkBytes / (n * kGramTile * sizeof(float)));
  const std::size_t tiles_per_chunk = (std::min(chunk, d) + kGramTile - 1) / kGramTile;
  std::vector<float> buffer(base ? 0 : n * std::min(chunk, d));
  std::vector<double> part(tiles_per_chunk * n * n);  // tile t's entries, upper triangle
  std::vector<const float*> ptrs(tiles_per_chunk * n);
  const std::size_t workers = backend.pool().size();
  // One scratch per worker (the SIMD kernels' aligned copies of a tile: about n x 4160 bytes),
  // freed when the pass ends; only while all of them fit the backend's tile budget (at 2
  // workers up to n ~ 8000), else the kernel reads the rows in place (the same bits, slower
  // loads).
  std::vector<GramScratch> scratch(workers);
  const std::size_t w0 = std::min(kGramTile, d);
  if (kernel != gram_tile_portable &&
      scratch.size() * gram_scratch_floats(n, w0) * sizeof(float) <= backend.host_tile_bytes())
    for (GramScratch& s : scratch) gram_scratch_reserve(s, n, w0);
  for (std::size_t c0 = 0; c0 < d; c0 += chunk) {
    const std::size_t cw = std::min(chunk, d - c0);
    const float* a = base ? base + c0 : buffer.data();
    const std::size_t lda = base ? stride : cw;
    if (!base)
      backend.pool().parallel_for(n, [&](std::size_t i, unsigned) {
        rows.read_row(i, c0, c0 + cw, buffer.data() + i * cw);
      });
    const std::size_t tiles = (cw + kGramTile - 1) / kGramTile;
    const auto rows_of = [&](std::size_t t) {
      const float** x = ptrs.data() + t * n;
      for (std::size_t i = 0; i < n; ++i) x[i] = a + i * lda + t * kGramTile;
      return x;
    };
    const auto width = [&](std::size_t t) { return std::min(kGramTile, cw - t * kGramTile); };
    // One run of consecutive tiles a worker, so that each tile's kernel knows the next tile its
    // worker runs and can bring it into cache while it computes (the AVX-512 kernel does: the
    // rows then stream from memory under the arithmetic instead of stalling each tile's copies).
    const std::size_t runs = std::min<std::size_t>(workers, tiles);
    backend.pool().parallel_for(runs, [&](std::size_t r, unsigned worker) {
      const std::size_t first = tiles * r / runs, last = tiles * (r + 1) / runs;
      for (std::size_t t = first; t < last; ++t) {
        const float* const* next =
            t + 1 < last && width(t + 1) == width(t) ? rows_of(t + 1) : nullptr;
        kernel(rows_of(t), n, width(t), part.data() + t * n * n, scratch[worker], next);
      }
    });
    // G += each tile's partial, tiles in order; row i's entries by one task.
    backend.pool().parallel_for(n, [&](std::size_t i, unsigned) {
      double* gi = g.data() + i * n;
      for (std::size_t t = 0; t < tiles; ++t) {
        const double* p = part.data() + t * n * n + i * n;
        for (std::size_t j = i; j < n; ++j) gi[j] += p[j];
      }
    });
  }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j) g[i * n + j] = g[j * n + i];
  if (finite) {
    std::vector<std::size_t> suspects;
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isfinite(g[i * n + i])) suspects.push_back(i);
    std::vector<unsigned char> bad(suspects.size(), 0);
    backend.pool().parallel_for(suspects.size(), [&](std::size_t s, unsigned) {
      bad[s] = row_nonfinite(rows, suspects[s]) ? 1 : 0;
    });
    for (std::size_t s = 0; s < suspects.size(); ++s)
      if (bad[s]) (*finite)[suspects[s]] = false;
  }
  return g;
}

}  // namespace murmur::kernels::cpu
