// Writing safetensors: tensors in name order, header padded with spaces to 8 bytes.
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "murmur/arena/errors.hpp"
#include "murmur/arena/safetensors.hpp"

namespace murmur::arena {

void SafetensorsWriter::add(std::string name, Dtype dtype, std::vector<std::size_t> shape,
                            std::span<const std::byte> bytes) {
  if (name.empty() || name == "__metadata__")
    throw FormatError("safetensors writer: '" + name + "' cannot name a tensor");
  if (tensors_.count(name))
    throw FormatError("safetensors writer: tensor '" + name + "' added twice");
  std::size_t elements = 1;
  for (std::size_t d : shape) elements *= d;
  if (bytes.size() != elements * element_bytes(dtype))
    throw FormatError("safetensors writer: tensor '" + name + "' has " +
                      std::to_string(bytes.size()) + " bytes, its shape and dtype need " +
                      std::to_string(elements * element_bytes(dtype)));
  tensors_[std::move(name)] = Entry{dtype, std::move(shape), {bytes.begin(), bytes.end()}};
}

void SafetensorsWriter::add_float(std::string name, Dtype dtype, std::vector<std::size_t> shape,
                                  std::span<const float> values) {
  std::vector<std::byte> bytes(values.size() * element_bytes(dtype));
  from_float(dtype, values, bytes);
  add(std::move(name), dtype, std::move(shape), bytes);
}

void SafetensorsWriter::set_metadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
}

std::vector<std::byte> SafetensorsWriter::serialize() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::size_t offset = 0;
  for (const auto& [name, e] : tensors_) {
    header[name] = {{"dtype", std::string(to_string(e.dtype))},
                    {"shape", e.shape},
                    {"data_offsets", {offset, offset + e.bytes.size()}}};
    offset += e.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<std::byte> out(8 + text.size() + offset);
  const std::uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* data = out.data() + 8 + text.size();
  for (const auto& [name, e] : tensors_) {
    if (!e.bytes.empty()) std::memcpy(data, e.bytes.data(), e.bytes.size());
    data += e.bytes.size();
  }
  return out;
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  const std::vector<std::byte> bytes = serialize();
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw FormatError(tmp.string() + ": cannot create: check the directory exists");
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) throw FormatError(tmp.string() + ": write failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace murmur::arena
