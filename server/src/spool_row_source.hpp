#pragma once
// The committed updates of a round as rows for the aggregation kernels, read tile by tile
// from the spool files (pread, widened from the upload's dtype to float): N x D never has to be
// resident.
#include <vector>

#include "murmur/kernels/row_source.hpp"
#include "spool.hpp"

namespace murmur::server {

class SpoolRowSource final : public kernels::RowSource {
 public:
  /// Rows in the order of `uploads` (the spool returns them sorted by address).
  SpoolRowSource(const Spool& spool, std::vector<Upload> uploads, std::size_t parameters);
  ~SpoolRowSource() override;
  SpoolRowSource(const SpoolRowSource&) = delete;
  SpoolRowSource& operator=(const SpoolRowSource&) = delete;

  std::size_t rows() const override { return uploads_.size(); }
  std::size_t cols() const override { return parameters_; }
  void read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const override;

 private:
  std::vector<Upload> uploads_;
  std::size_t parameters_;
  std::vector<int> fds_;
};

}  // namespace murmur::server
