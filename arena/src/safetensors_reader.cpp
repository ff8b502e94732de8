// Reading safetensors: map the file, parse the JSON header with nlohmann-json, and check every
// rule of the format before any tensor is handed out.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "json_depth.hpp"
#include "murmur/arena/errors.hpp"
#include "murmur/arena/safetensors.hpp"

namespace murmur::arena {

/// The bytes of a file: a read-only mapping, or a vector for parse().
struct SafetensorsFile::Storage {
  std::vector<std::byte> owned;
  void* map = nullptr;
  std::size_t map_bytes = 0;
  std::span<const std::byte> view() const {
    if (map != nullptr) return {static_cast<const std::byte*>(map), map_bytes};
    return owned;
  }
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (map != nullptr) munmap(map, map_bytes);
  }
};

std::size_t TensorInfo::elements() const {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::describe_shape() const {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

using nlohmann::json;

std::size_t as_size(const json& v, const std::string& what, const std::string& where) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
    throw FormatError(where + what + " is " + v.dump() + ", not a non-negative integer");
  return v.get<std::size_t>();
}

TensorInfo parse_tensor(const std::string& name, const json& v, const std::string& where) {
  const std::string at = where + "tensor '" + name + "': ";
  if (!v.is_object()) throw FormatError(at + "its entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) throw FormatError(at + "has no \"" + key + "\"");
  TensorInfo t;
  t.name = name;
  const json& dtype = v["dtype"];
  if (!dtype.is_string()) throw FormatError(at + "dtype is not a string");
  const auto d = parse_dtype(dtype.get<std::string>());
  if (!d) throw FormatError(at + "unknown dtype \"" + dtype.get<std::string>() + "\"");
  t.dtype = *d;
  const json& shape = v["shape"];
  if (!shape.is_array()) throw FormatError(at + "shape is not an array");
  std::size_t elements = 1;
  for (const json& dim : shape) {
    const std::size_t n = as_size(dim, "a dimension", at);
    if (n != 0 && elements > std::numeric_limits<std::size_t>::max() / n)
      throw FormatError(at + "shape overflows the address space");
    elements *= n;
    t.shape.push_back(n);
  }
  const json& offsets = v["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    throw FormatError(at + "data_offsets is not a pair [begin, end]");
  t.begin = as_size(offsets[0], "data_offsets[0]", at);
  t.end = as_size(offsets[1], "data_offsets[1]", at);
  if (t.end < t.begin)
    throw FormatError(at + "data_offsets [" + std::to_string(t.begin) + ", " +
                      std::to_string(t.end) + "] end before they begin");
  const std::size_t width = element_bytes(t.dtype);
  if (elements > std::numeric_limits<std::size_t>::max() / width ||
      t.end - t.begin != elements * width)
    throw FormatError(at + "shape " + t.describe_shape() + " of " +
                      std::string(to_string(t.dtype)) + " needs " +
                      std::to_string(elements * width) + " bytes, data_offsets give " +
                      std::to_string(t.end - t.begin) + ": dtype or shape does not match the data");
  return t;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string where = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FormatError(where + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw FormatError(where + ": cannot stat: " + std::strerror(err));
  }
  auto storage = std::make_shared<Storage>();
  storage->map_bytes = static_cast<std::size_t>(st.st_size);
  if (storage->map_bytes > 0) {
    void* map = mmap(nullptr, storage->map_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw FormatError(where + ": cannot map: " + std::strerror(err));
    }
    storage->map = map;
  }
  ::close(fd);
  return check(std::move(storage), where);
}

SafetensorsFile SafetensorsFile::parse(std::vector<std::byte> bytes, std::string source) {
  auto storage = std::make_shared<Storage>();
  storage->owned = std::move(bytes);
  return check(std::move(storage), std::move(source));
}

SafetensorsFile SafetensorsFile::check(std::shared_ptr<const Storage> storage, std::string source) {
  const std::string where = source + ": ";
  const std::span<const std::byte> all = storage->view();
  if (all.size() < 8)
    throw FormatError(where + "only " + std::to_string(all.size()) +
                      " bytes, a safetensors file starts with an 8-byte header length: the "
                      "file is truncated or not safetensors");
  std::uint64_t n = 0;
  std::memcpy(&n, all.data(), 8);
  if (n > kMaxSafetensorsHeader)
    throw FormatError(where + "header length " + std::to_string(n) + " exceeds the limit of " +
                      std::to_string(kMaxSafetensorsHeader) +
                      " bytes: the file is corrupt or not safetensors");
  if (n > all.size() - 8)
    throw FormatError(where + "header length " + std::to_string(n) + " runs past the end of the " +
                      std::to_string(all.size()) + "-byte file: the file is truncated");
  const std::string_view text(reinterpret_cast<const char*>(all.data() + 8), n);
  if (text.empty() || text.front() != '{')
    throw FormatError(where + "the header does not begin with '{': not a safetensors file");
  json header;
  try {
    header = parse_json_bounded(text, where);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw FormatError(where + "the header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) throw FormatError(where + "the header is not a JSON object");

  SafetensorsFile file;
  file.storage_ = std::move(storage);
  file.source_ = std::move(source);
  file.data_ = all.subspan(8 + n);
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw FormatError(where + "__metadata__ is not a JSON object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string())
          throw FormatError(where + "__metadata__ entry '" + k + "' is not a string");
        file.metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    file.tensors_.push_back(parse_tensor(key, value, where));
  }

  // The tensors must tile the data section: sorted by offset, no overlap, no hole, no tail.
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : file.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::size_t expected = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* t : by_offset) {
    if (t->end > file.data_.size())
      throw FormatError(where + "tensor '" + t->name + "' ends at byte " + std::to_string(t->end) +
                        " of a " + std::to_string(file.data_.size()) +
                        "-byte data section: the file is truncated");
    if (t->begin < expected)
      throw FormatError(where + "tensor '" + t->name + "' [" + std::to_string(t->begin) + ", " +
                        std::to_string(t->end) + ") overlaps tensor '" + previous->name + "' [" +
                        std::to_string(previous->begin) + ", " + std::to_string(previous->end) +
                        ")");
    if (t->begin > expected)
      throw FormatError(where + "tensor '" + t->name + "' begins at byte " +
                        std::to_string(t->begin) + ", the data before it ends at " +
                        std::to_string(expected) + ": wrong offsets leave a hole");
    expected = t->end;
    previous = t;
  }
  if (expected != file.data_.size())
    throw FormatError(where + "the tensors end at byte " + std::to_string(expected) + " of a " +
                      std::to_string(file.data_.size()) +
                      "-byte data section: wrong offsets or trailing bytes");
  std::sort(file.tensors_.begin(), file.tensors_.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  return file;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it =
      std::lower_bound(tensors_.begin(), tensors_.end(), name,
                       [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const TensorInfo& SafetensorsFile::at(std::string_view name) const {
  if (const TensorInfo* t = find(name)) return *t;
  throw FormatError(source_ + ": no tensor named '" + std::string(name) + "'");
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo& tensor) const {
  return data_.subspan(tensor.begin, tensor.end - tensor.begin);
}

std::vector<float> SafetensorsFile::read_float(const TensorInfo& tensor) const {
  if (!is_float(tensor.dtype))
    throw FormatError(source_ + ": tensor '" + tensor.name + "' is " +
                      std::string(to_string(tensor.dtype)) + ", weights must be F32, F16 or BF16");
  std::vector<float> out(tensor.elements());
  to_float(tensor.dtype, bytes(tensor), out);
  return out;
}

std::vector<float> SafetensorsFile::read_float(std::string_view name,
                                               std::span<const std::size_t> shape) const {
  const TensorInfo& t = at(name);
  if (!std::equal(t.shape.begin(), t.shape.end(), shape.begin(), shape.end())) {
    TensorInfo want;
    want.shape.assign(shape.begin(), shape.end());
    throw FormatError(source_ + ": tensor '" + t.name + "' has shape " + t.describe_shape() +
                      ", expected " + want.describe_shape());
  }
  return read_float(t);
}

}  // namespace murmur::arena
