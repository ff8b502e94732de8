#pragma once
#include <cstddef>
#include <span>

namespace murmur::kernels {

/// A read-only view of `n` rows of `d` floats in host memory; row i starts at data + i * ld.
struct RowsView {
  const float* data = nullptr;
  std::size_t n = 0;
  std::size_t d = 0;
  std::size_t ld = 0;  ///< leading dimension in floats, >= d

  const float* row(std::size_t i) const { return data + i * ld; }
};

/// Where a rule's input rows come from, tiled over coordinates: a tile is every row restricted
/// to the coordinate range [begin, end). The rows never need to be resident all at once, so
/// a source may read them from memory, from the on-disk spool, or from a network buffer.
///
/// Rows are in a fixed order (the server sorts them by client id), and rules sum over them in
/// that order, which is what makes results independent of arrival order and thread count.
class RowSource {
 public:
  virtual ~RowSource() = default;

  /// Number of rows N.
  virtual std::size_t rows() const = 0;
  /// Number of coordinates D of every row.
  virtual std::size_t cols() const = 0;

  /// Copies coordinates [begin, end) of every row into `dst`: row i's slice lands at
  /// dst + i * ld_dst. Precondition: begin <= end <= cols(), ld_dst >= end - begin.
  /// Must be safe to call concurrently for disjoint or overlapping ranges.
  virtual void read(std::size_t begin, std::size_t end, float* dst, std::size_t ld_dst) const = 0;

  /// The rows themselves when they are resident in host memory (zero-copy tiles), else an
  /// empty view. Backends use it to skip the copy of read().
  virtual RowsView resident() const { return {}; }
};

/// A RowSource over rows already in host memory; tiles are zero-copy views into them.
class MemoryRowSource final : public RowSource {
 public:
  explicit MemoryRowSource(RowsView rows) : rows_(rows) {}
  /// `data` holds n rows of d floats, packed (ld = d).
  MemoryRowSource(std::span<const float> data, std::size_t n, std::size_t d);

  std::size_t rows() const override { return rows_.n; }
  std::size_t cols() const override { return rows_.d; }
  void read(std::size_t begin, std::size_t end, float* dst, std::size_t ld_dst) const override;
  RowsView resident() const override { return rows_; }

 private:
  RowsView rows_;
};

}  // namespace murmur::kernels
