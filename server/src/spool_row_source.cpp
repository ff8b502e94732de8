#include "spool_row_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "murmur/protocol/tensor.hpp"

namespace murmur::server {

SpoolRowSource::SpoolRowSource(const Spool& spool, std::vector<Upload> uploads,
                               std::size_t parameters)
    : uploads_(std::move(uploads)), parameters_(parameters) {
  for (const auto& u : uploads_) {
    if (u.parameters != parameters_)
      throw std::runtime_error("spool: update of " + u.address.to_checksum() + " has " +
                               std::to_string(u.parameters) + " parameters, the task " +
                               std::to_string(parameters_));
    const int fd = ::open(spool.file(u).c_str(), O_RDONLY);
    if (fd < 0) {
      for (int f : fds_) ::close(f);
      throw std::runtime_error("spool: missing update file " + spool.file(u).string());
    }
    fds_.push_back(fd);
  }
}

SpoolRowSource::~SpoolRowSource() {
  for (int fd : fds_) ::close(fd);
}

void SpoolRowSource::read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const {
  const Upload& u = uploads_[i];
  const std::size_t elem = protocol::element_bytes(u.dtype);
  const std::size_t bytes = (end - begin) * elem;
  thread_local std::vector<std::uint8_t> buf;
  buf.resize(bytes);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n =
        ::pread(fds_[i], buf.data() + done, bytes - done, static_cast<off_t>(begin * elem + done));
    if (n <= 0)
      throw std::runtime_error("spool: short read of " + u.address.to_checksum() +
                               "'s update: " + (n < 0 ? std::strerror(errno) : "end of file"));
    done += static_cast<std::size_t>(n);
  }
  protocol::to_float(u.dtype, buf, std::span<float>(dst, end - begin));
}

}  // namespace murmur::server
