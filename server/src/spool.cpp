#include "spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>

#include "murmur/chain/keccak.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"

namespace murmur::server {
namespace {

std::string hex(const chain::Hash32& h) {
  return chain::to_hex(h, false);
}

void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

Spool::Spool(const std::filesystem::path& dir) : dir_(dir) {
  std::filesystem::create_directories(dir_ / "spool");
  std::filesystem::create_directories(dir_ / "models");
}

Spool::~Spool() {
  for (auto& [path, d] : fds_) {
    ::close(d.buffered);
    if (d.direct >= 0) ::close(d.direct);
  }
}

std::filesystem::path Spool::file(const Upload& u) const {
  std::string round_dir = "r", name = u.address.to_lower_hex();
  round_dir += std::to_string(u.round);
  name += '-';
  name += std::to_string(u.id);
  name += ".bin";
  return dir_ / "spool" / round_dir / name;
}

Spool::Descriptors Spool::open_upload(const Upload& u) {
  const auto path = file(u);
  if (auto it = fds_.find(path.string()); it != fds_.end()) return it->second;
  std::filesystem::create_directories(path.parent_path());
  Descriptors d;
  d.buffered = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  if (d.buffered < 0)
    throw std::runtime_error("spool: cannot open " + path.string() + ": " + std::strerror(errno));
  d.direct = ::open(path.c_str(), O_WRONLY | O_DIRECT);  // -1 (EINVAL) where unsupported
  fds_[path.string()] = d;
  std::lock_guard lock(mutex_);
  unnamed_.insert(d.buffered);  // its directory entry is synced with its first chunk, off the loop
  return d;
}

namespace {

/// O_DIRECT wants the buffer, the file offset and the length aligned to the device's logical
/// block; 4096 covers 512-byte and 4K devices.
constexpr std::size_t kDirectAlign = 4096;

/// Writes all `n` bytes at `offset`. With `may_refuse`, a file system that refuses the first
/// write outright (EINVAL: O_DIRECT after all not for this file) gives false instead of throwing.
bool pwrite_all(int fd, const std::uint8_t* p, std::size_t n, std::uint64_t offset,
                bool may_refuse = false) {
  for (std::size_t done = 0; done < n;) {
    const ssize_t w = ::pwrite(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && may_refuse && done == 0) return false;
    if (w <= 0)
      throw std::runtime_error("spool: write failed: " + std::string(std::strerror(errno)));
    done += static_cast<std::size_t>(w);
  }
  return true;
}

/// The aligned run of `bytes` (at file offset `offset`, itself aligned) through O_DIRECT, by way
/// of an aligned per-thread buffer; returns how many bytes it wrote (0 if the kernel refused).
std::size_t write_direct(int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset) {
  const std::size_t n = bytes.size() / kDirectAlign * kDirectAlign;
  if (fd < 0 || n == 0 || offset % kDirectAlign != 0) return 0;
  struct Free {
    void operator()(std::uint8_t* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<std::uint8_t, Free> buffer;
  thread_local std::size_t capacity = 0;
  if (capacity < n) {
    buffer.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kDirectAlign, n)));
    capacity = buffer ? n : 0;
    if (!buffer) return 0;
  }
  std::memcpy(buffer.get(), bytes.data(), n);
  return pwrite_all(fd, buffer.get(), n, offset, /*may_refuse=*/true) ? n : 0;
}

}  // namespace

void Spool::write_synced(const Upload& u, Descriptors fds, std::uint64_t offset,
                         std::span<const std::uint8_t> bytes) {
  const std::size_t direct = write_direct(fds.direct, bytes, offset);
  pwrite_all(fds.buffered, bytes.data() + direct, bytes.size() - direct, offset + direct);
  if (::fdatasync(fds.buffered) != 0)
    throw std::runtime_error(std::string("spool: fdatasync failed: ") + std::strerror(errno));
  bool named = false;
  {
    std::lock_guard lock(mutex_);
    named = unnamed_.erase(fds.buffered) == 0;
  }
  if (!named) fsync_dir(file(u).parent_path());
}

chain::Hash32 Spool::hash_of(const Upload& u) const {
  std::ifstream in(file(u), std::ios::binary);
  protocol::UpdateHasher h;
  std::vector<std::uint8_t> buf(1 << 20);
  std::uint64_t left = u.durable;
  while (left > 0 && in) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
    h.update(std::span(buf.data(), static_cast<std::size_t>(in.gcount())));
    left -= static_cast<std::uint64_t>(in.gcount());
  }
  return h.finish();
}

void Spool::discard(const Upload& u) {
  const auto path = file(u);
  std::lock_guard lock(mutex_);
  if (auto it = fds_.find(path.string()); it != fds_.end()) {
    unnamed_.erase(it->second.buffered);  // the number may name another file next
    ::close(it->second.buffered);
    if (it->second.direct >= 0) ::close(it->second.direct);
    fds_.erase(it);
  }
  std::filesystem::remove(path);
}

namespace {

/// Closes and forgets the open spool files whose path `close` picks (the caller holds the
/// spool's mutex); `unnamed` forgets them too.
void close_files(std::map<std::string, Spool::Descriptors>& fds, std::set<int>& unnamed,
                 const std::function<bool(const std::filesystem::path&)>& close) {
  for (auto it = fds.begin(); it != fds.end();) {
    if (!close(std::filesystem::path(it->first))) {
      ++it;
      continue;
    }
    unnamed.erase(it->second.buffered);
    ::close(it->second.buffered);
    if (it->second.direct >= 0) ::close(it->second.direct);
    it = fds.erase(it);
  }
}

}  // namespace

void Spool::close_rounds_before(std::uint64_t round) {
  std::lock_guard lock(mutex_);
  close_files(fds_, unnamed_, [round](const std::filesystem::path& file) {
    // spool/r<N>/<address>-<id>.bin
    const std::string dir = file.parent_path().filename().string();
    const std::uint64_t n = dir.size() > 1 ? std::strtoull(dir.c_str() + 1, nullptr, 10) : 0;
    return n != 0 && n < round;
  });
}

namespace {

/// The round of a spool folder's name "r<N>"; 0 for any other name.
std::uint64_t round_of_folder(const std::string& name) {
  if (name.size() < 2 || name[0] != 'r') return 0;
  std::uint64_t n = 0;
  for (std::size_t i = 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || n > std::numeric_limits<std::uint64_t>::max() / 10)
      return 0;
    n = n * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return n;
}

}  // namespace

std::vector<std::uint64_t> Spool::spooled_rounds() const {
  std::vector<std::uint64_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "spool", ec))
    if (const std::uint64_t n = round_of_folder(e.path().filename().string()); n > 0)
      out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::uint64_t> Spool::prune_rounds_before(
    std::uint64_t round, const std::function<bool(std::uint64_t)>& keep) {
  std::vector<std::uint64_t> pruned;
  for (const std::uint64_t n : spooled_rounds()) {
    if (n >= round || keep(n)) continue;
    std::string name = "r";  // appended: g++ 12 misreports "r" + to_string as overlapping
    name += std::to_string(n);
    const auto folder = dir_ / "spool" / name;
    {
      std::lock_guard lock(mutex_);
      close_files(fds_, unnamed_,
                  [&](const std::filesystem::path& file) { return file.parent_path() == folder; });
    }
    std::error_code ec;
    std::filesystem::remove_all(folder, ec);
    if (ec)
      throw std::runtime_error("spool: cannot remove " + folder.string() + ": " + ec.message());
    pruned.push_back(n);
  }
  if (!pruned.empty()) fsync_dir(dir_ / "spool");
  return pruned;
}

chain::Hash32 Spool::store_model(std::span<const float> values) {
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(values.data()),
                                            values.size_bytes());
  const chain::Hash32 hash = chain::keccak256(bytes);
  const auto path = dir_ / "models" / (hex(hash) + ".f32");
  if (std::filesystem::exists(path) && std::filesystem::file_size(path) == bytes.size())
    return hash;
  const auto tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("spool: cannot write " + tmp);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error("spool: write failed for " + tmp);
    }
    done += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  std::filesystem::rename(tmp, path);
  fsync_dir(path.parent_path());
  return hash;
}

std::filesystem::path Spool::model_file(const chain::Hash32& hash) const {
  return dir_ / "models" / (hex(hash) + ".f32");
}

bool Spool::has_model(const chain::Hash32& hash) const {
  return std::filesystem::exists(dir_ / "models" / (hex(hash) + ".f32"));
}

std::uint64_t Spool::model_bytes(const chain::Hash32& hash) const {
  return std::filesystem::file_size(dir_ / "models" / (hex(hash) + ".f32"));
}

std::vector<std::uint8_t> Spool::read_model(const chain::Hash32& hash, std::uint64_t offset,
                                            std::uint64_t length) const {
  std::ifstream in(dir_ / "models" / (hex(hash) + ".f32"), std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::vector<std::uint8_t> out(length);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(length));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

std::shared_ptr<const std::vector<std::uint8_t>> Spool::shared_model(
    const chain::Hash32& hash) const {
  {
    std::lock_guard lock(mutex_);
    for (const auto& [h, bytes] : models_)
      if (h == hash) return bytes;
  }
  // Read outside the lock (the sync threads open files under it); a model is immutable, so two
  // readers racing here read the same bytes.
  auto bytes =
      std::make_shared<const std::vector<std::uint8_t>>(read_model(hash, 0, model_bytes(hash)));
  std::lock_guard lock(mutex_);
  models_.emplace_back(hash, bytes);
  if (models_.size() > 2) models_.pop_front();
  return bytes;
}

std::vector<float> Spool::load_model(const chain::Hash32& hash) const {
  const auto bytes = read_model(hash, 0, model_bytes(hash));
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

}  // namespace murmur::server
