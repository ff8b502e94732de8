// libFuzzer target for the validation-set files murmurd reads (model/): IDX image and label
// files, gzip-compressed or plain (model/src/idx.cpp), and labelled-tensor files
// (model/src/labelled_tensor_file.cpp). Refusals are DataError; anything else escaping, a
// sanitizer report or a broken invariant below is a bug.
//
// Input layout: byte 0 picks the reader (bit 0: 0 IDX, 1 labelled tensors); for labelled
// tensors bit 1 set rewrites the last 4 bytes with the CRC-32 of the others, so that the
// fuzzer gets past the checksum to the fields behind it. IDX: the image file, the separator
// "\n--labels--\n", then the label file.
#include <zlib.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "murmur/model/errors.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/labelled_tensor_file.hpp"

namespace model = murmur::model;
using murmur::fuzz::invariant_broken;

namespace {

void check_set(const model::LabelledSet& set) {
  std::size_t cols = 1;
  for (std::size_t d : set.example_dims) {
    if (d == 0) invariant_broken();
    cols *= d;
  }
  if (set.classes < 1 || set.features.size() != set.rows() * cols) invariant_broken();
  for (std::int32_t l : set.labels)
    if (l < 0 || static_cast<std::size_t>(l) >= set.classes) invariant_broken();
  for (float f : set.features)
    if (!std::isfinite(f)) invariant_broken();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  murmur::fuzz::Input in(data, size);
  const std::uint8_t mode = in.byte();
  try {
    if (mode & 1) {
      std::string file(in.rest());
      if ((mode & 2) && file.size() >= 4) {
        const auto crc = static_cast<std::uint32_t>(
            crc32(0L, reinterpret_cast<const Bytef*>(file.data()), file.size() - 4));
        for (int i = 0; i < 4; ++i) file[file.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
      }
      const auto path = murmur::fuzz::write_scratch("set.mlt", file);
      check_set(model::read_labelled_tensors(path));
    } else {
      const auto images = murmur::fuzz::write_scratch("images.idx", in.until("\n--labels--\n"));
      const auto labels = murmur::fuzz::write_scratch("labels.idx", in.rest());
      const model::LabelledSet set = model::read_idx(images, labels);
      check_set(set);
      if (set.example_dims.size() != 2 || set.rows() == 0) invariant_broken();
      for (float f : set.features)
        if (f < 0.0f || f > 1.0f) invariant_broken();  // pixel / 255
    }
  } catch (const model::DataError&) {
  }
  return 0;
}
