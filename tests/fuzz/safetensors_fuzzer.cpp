// libFuzzer target for the safetensors reader (arena/src/safetensors_reader.cpp): the header
// length, the JSON header, every tensor's dtype, shape and offsets, and the tiling of the data
// section. Refusals are FormatError; anything else escaping, a sanitizer report or a broken
// invariant below is a bug. The input is the whole file.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_input.hpp"
#include "murmur/arena/errors.hpp"
#include "murmur/arena/safetensors.hpp"

namespace arena = murmur::arena;
using murmur::fuzz::invariant_broken;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* first = reinterpret_cast<const std::byte*>(data);
  std::vector<std::byte> bytes(first, first + size);
  try {
    const arena::SafetensorsFile file = arena::SafetensorsFile::parse(std::move(bytes), "fuzz");
    // Accepted: the tensors tile the data section, each is found by name, each float tensor
    // widens to exactly its element count.
    std::size_t total = 0;
    for (const arena::TensorInfo& t : file.tensors()) {
      if (file.find(t.name) != &t) invariant_broken();
      const auto raw = file.bytes(t);
      if (raw.size() != t.end - t.begin || raw.size() != t.elements() * element_bytes(t.dtype))
        invariant_broken();
      total += raw.size();
      if (arena::is_float(t.dtype) && file.read_float(t).size() != t.elements()) invariant_broken();
    }
    if (total + 8 > size) invariant_broken();
    // Written back, an accepted file reads back with the same tensors.
    arena::SafetensorsWriter w;
    for (const arena::TensorInfo& t : file.tensors())
      w.add(t.name, t.dtype, t.shape, file.bytes(t));
    for (const auto& [k, v] : file.metadata()) w.set_metadata(k, v);
    const arena::SafetensorsFile again = arena::SafetensorsFile::parse(w.serialize(), "again");
    if (again.tensors().size() != file.tensors().size() || again.metadata() != file.metadata())
      invariant_broken();
    for (std::size_t i = 0; i < again.tensors().size(); ++i) {
      const auto& a = again.tensors()[i];
      const auto& b = file.tensors()[i];
      const auto ra = again.bytes(a), rb = file.bytes(b);
      if (a.name != b.name || a.dtype != b.dtype || a.shape != b.shape ||
          !std::equal(ra.begin(), ra.end(), rb.begin(), rb.end()))
        invariant_broken();
    }
  } catch (const arena::FormatError&) {
  }
  return 0;
}
