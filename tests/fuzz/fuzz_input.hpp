#pragma once
// Shared by the libFuzzer targets of tests/fuzz: a scratch file for decoders that read a path,
// a reader that splits one input into parts, and the abort that marks a broken invariant.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace murmur::fuzz {

/// A property the decoder promises does not hold: abort, so that libFuzzer saves the input.
[[noreturn]] inline void invariant_broken() {
  std::abort();
}

/// A folder of this process whose files are rewritten for each input: under $TMPDIR when set,
/// else /dev/shm (memory: twice the executions of a disk-backed /tmp), else /tmp.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    const std::filesystem::path base = tmp != nullptr                              ? tmp
                                       : std::filesystem::is_directory("/dev/shm") ? "/dev/shm"
                                                                                   : "/tmp";
    std::filesystem::path d = base / ("murmur-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return d;
  }();
  return dir;
}

/// Writes `bytes` to scratch_dir() / name and returns its path.
inline std::filesystem::path write_scratch(const std::string& name, std::string_view bytes) {
  const std::filesystem::path p = scratch_dir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

/// Reads an input front to back: single bytes, then the parts the layout separates.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size)
      : text_(reinterpret_cast<const char*>(data), size) {}
  bool empty() const { return text_.empty(); }
  /// The next byte (0 past the end).
  std::uint8_t byte() {
    if (text_.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(text_.front());
    text_.remove_prefix(1);
    return b;
  }
  /// Everything up to the next occurrence of `separator` (or the end), consumed with it.
  std::string_view until(std::string_view separator) {
    const std::size_t at = text_.find(separator);
    const std::string_view part = text_.substr(0, at);
    text_.remove_prefix(at == std::string_view::npos ? text_.size() : at + separator.size());
    return part;
  }
  /// Everything that is left.
  std::string_view rest() {
    const std::string_view r = text_;
    text_ = {};
    return r;
  }

 private:
  std::string_view text_;
};

}  // namespace murmur::fuzz
