#pragma once
// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data section, each tensor's bytes at [begin, end) of it, row-major, little-endian.
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "murmur/arena/dtype.hpp"

namespace murmur::arena {

/// The largest header this reader accepts, as the reference implementation (100 MB).
inline constexpr std::size_t kMaxSafetensorsHeader = 100'000'000;

/// One tensor of a file as its header describes it.
struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<std::size_t> shape;
  std::size_t begin = 0;  ///< offset of its first byte in the data section
  std::size_t end = 0;    ///< one past its last byte
  /// Product of the shape (1 for a scalar).
  std::size_t elements() const;
  /// e.g. "[4096, 11008]".
  std::string describe_shape() const;
};

/// A safetensors file, checked as a whole when it is opened: the header parses, every dtype is
/// known, every tensor's byte length equals its shape times its element size, and the tensors
/// tile the data section exactly (sorted by offset they start at 0, each begins where the
/// previous ended, the last ends at the end of the file), as the reference reader demands.
/// The bytes are memory-mapped (open) or held (parse); copies share them.
class SafetensorsFile {
 public:
  /// Maps and checks `path`. Throws FormatError naming the file and what is wrong: too short,
  /// a header length over kMaxSafetensorsHeader or past the end, JSON that does not parse,
  /// unknown dtypes, shapes that disagree with offsets, offsets that overlap, leave holes or
  /// run past the end (a truncated file).
  static SafetensorsFile open(const std::filesystem::path& path);
  /// Checks a file's bytes held in memory; `source` names it in errors.
  static SafetensorsFile parse(std::vector<std::byte> bytes, std::string source);

  /// Where it came from (the path, or parse's `source`).
  const std::string& source() const noexcept { return source_; }
  /// The "__metadata__" map (empty when absent).
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  /// Every tensor, sorted by name.
  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
  /// The tensor named `name`, or nullptr.
  const TensorInfo* find(std::string_view name) const;
  /// The tensor named `name`; FormatError naming the file when it has none.
  const TensorInfo& at(std::string_view name) const;
  /// Its raw little-endian bytes.
  std::span<const std::byte> bytes(const TensorInfo& tensor) const;
  /// Its elements widened to float (F32, F16, BF16; FormatError for other types).
  std::vector<float> read_float(const TensorInfo& tensor) const;
  /// read_float(at(name)), first checking that its shape is `shape` (FormatError otherwise,
  /// naming both shapes).
  std::vector<float> read_float(std::string_view name, std::span<const std::size_t> shape) const;

 private:
  struct Storage;
  static SafetensorsFile check(std::shared_ptr<const Storage> storage, std::string source);
  std::shared_ptr<const Storage> storage_;
  std::string source_;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::span<const std::byte> data_;
};

/// Builds a safetensors file: tensors are laid out in name order, the header is padded with
/// spaces to a multiple of 8 bytes (so every tensor of a type of <= 8 bytes is aligned).
class SafetensorsWriter {
 public:
  /// Adds a tensor from raw little-endian bytes; FormatError when the byte count does not match
  /// the shape and dtype, or the name is empty, "__metadata__" or already added.
  void add(std::string name, Dtype dtype, std::vector<std::size_t> shape,
           std::span<const std::byte> bytes);
  /// Adds floats stored as `dtype` (F32, F16 or BF16, rounded to nearest even).
  void add_float(std::string name, Dtype dtype, std::vector<std::size_t> shape,
                 std::span<const float> values);
  void set_metadata(std::string key, std::string value);
  /// The whole file.
  std::vector<std::byte> serialize() const;
  /// Writes the file to path + ".tmp", then renames it onto `path`.
  void write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    Dtype dtype;
    std::vector<std::size_t> shape;
    std::vector<std::byte> bytes;
  };
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace murmur::arena
