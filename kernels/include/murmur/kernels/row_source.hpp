#pragma once
#include <cstddef>
#include <span>
#include <vector>

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
/// a source may read them from memory, from the on-disk spool, or compute them on the fly
/// (pre-aggregation mixes rows this way).
///
/// Rows are in a fixed order (the server sorts them by client id), rules sum over them in that
/// order and break ties by row index, which is what makes results independent of arrival
/// order and thread count.
class RowSource {
 public:
  virtual ~RowSource() = default;

  /// Number of rows N.
  virtual std::size_t rows() const = 0;
  /// Number of coordinates D of every row.
  virtual std::size_t cols() const = 0;

  /// Copies coordinates [begin, end) of row i to dst. Thread-safe.
  virtual void read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const = 0;

  /// Copies coordinates [begin, end) of every row into `dst`: row i's slice lands at
  /// dst + i * ld_dst (ld_dst >= end - begin). Thread-safe. Default: read_row for each row.
  virtual void read(std::size_t begin, std::size_t end, float* dst, std::size_t ld_dst) const;

  /// Row i itself when it is resident in host memory (zero-copy tiles), else nullptr.
  virtual const float* resident_row(std::size_t /*i*/) const { return nullptr; }
};

/// A RowSource over rows already in host memory; tiles are zero-copy views into them.
class MemoryRowSource final : public RowSource {
 public:
  explicit MemoryRowSource(RowsView rows) : rows_(rows) {}
  /// `data` holds n rows of d floats, packed (ld = d).
  MemoryRowSource(std::span<const float> data, std::size_t n, std::size_t d);

  std::size_t rows() const override { return rows_.n; }
  std::size_t cols() const override { return rows_.d; }
  void read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const override;
  const float* resident_row(std::size_t i) const override { return rows_.row(i); }

 private:
  RowsView rows_;
};

/// The rows of `base` listed in `index`, in that order (e.g. the finite rows, or the rows a
/// rule selected). Resident when base is.
class SubsetRowSource final : public RowSource {
 public:
  SubsetRowSource(const RowSource& base, std::vector<std::size_t> index);

  std::size_t rows() const override { return index_.size(); }
  std::size_t cols() const override { return base_.cols(); }
  void read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const override {
    base_.read_row(index_[i], begin, end, dst);
  }
  const float* resident_row(std::size_t i) const override { return base_.resident_row(index_[i]); }
  const std::vector<std::size_t>& index() const { return index_; }

 private:
  const RowSource& base_;
  std::vector<std::size_t> index_;
};

}  // namespace murmur::kernels
