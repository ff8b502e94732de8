#include "murmur/protocol/blake3.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <stdexcept>
#include <string>
#include <utility>

#include "blake3_impl.hpp"

namespace murmur::protocol {

static_assert(std::endian::native == std::endian::little, "BLAKE3 here reads words little-endian");

namespace blake3_detail {

void hash_many_portable(const std::uint8_t* in, std::size_t stride, std::size_t n,
                        std::size_t blocks, const std::uint32_t* key, std::uint64_t counter,
                        bool increment, std::uint32_t flags, std::uint32_t start, std::uint32_t end,
                        std::uint32_t* out) {
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t cv[8];
    std::memcpy(cv, key, sizeof cv);
    for (std::size_t b = 0; b < blocks; ++b) {
      std::uint32_t f = flags;
      if (b == 0) f |= start;
      if (b + 1 == blocks) f |= end;
      const auto o = compress(cv, in + i * stride + b * kBlockLen, counter + (increment ? i : 0),
                              static_cast<std::uint32_t>(kBlockLen), f);
      std::memcpy(cv, o.data(), sizeof cv);
    }
    std::memcpy(out + 8 * i, cv, sizeof cv);
  }
}

namespace {

struct Backend {
  std::string_view name;
  HashManyFn fn;
  bool (*usable)();
};

bool always() {
  return true;
}
#if defined(__x86_64__) && defined(MURMUR_BLAKE3_X86)
bool has_avx512() {
  return __builtin_cpu_supports("avx512f");
}
bool has_avx2() {
  return __builtin_cpu_supports("avx2");
}
#endif

// Best first.
constexpr Backend kBackends[] = {
#if defined(__x86_64__) && defined(MURMUR_BLAKE3_X86)
    {"avx512", hash_many_avx512, has_avx512},
    {"avx2", hash_many_avx2, has_avx2},
#endif
    {"portable", hash_many_portable, always},
};

HashManyFn best() {
  for (const auto& b : kBackends)
    if (b.usable()) return b.fn;
  return hash_many_portable;
}

std::atomic<HashManyFn> g_hash_many{best()};

/// The chaining values of the two halves of `n` whole chunks (n a power of two, 2 to
/// kMaxSubtree) starting at chunk `counter`: the n chunks side by side, then each level of
/// parents side by side, stopping short of the subtree's own parent (which is the root if the
/// input ends here, and so is joined later).
constexpr std::size_t kMaxSubtree = 256;

std::pair<Blake3::Words, Blake3::Words> subtree_halves(const std::uint8_t* in, std::size_t n,
                                                       std::uint64_t counter) {
  const HashManyFn hash_many = g_hash_many.load(std::memory_order_relaxed);
  alignas(64) std::uint32_t a[kMaxSubtree * 8], b[kMaxSubtree * 8];
  hash_many(in, kChunkLen, n, kChunkLen / kBlockLen, kIv.data(), counter, true, 0, kChunkStart,
            kChunkEnd, a);
  std::uint32_t *level = a, *next = b;
  for (; n > 2; n /= 2) {
    // Parent i's block is the chaining values of children 2i and 2i+1, adjacent in `level`.
    hash_many(reinterpret_cast<const std::uint8_t*>(level), kBlockLen, n / 2, 1, kIv.data(), 0,
              false, kParent, 0, 0, next);
    std::swap(level, next);
  }
  std::pair<Blake3::Words, Blake3::Words> halves;
  std::memcpy(halves.first.data(), level, 32);
  std::memcpy(halves.second.data(), level + 8, 32);
  return halves;
}

Blake3::Words chunk_cv(const std::uint8_t* in, std::uint64_t counter) {
  Blake3::Words cv;
  g_hash_many.load(std::memory_order_relaxed)(in, kChunkLen, 1, kChunkLen / kBlockLen, kIv.data(),
                                              counter, true, 0, kChunkStart, kChunkEnd, cv.data());
  return cv;
}

Blake3::Words parent_cv(const Blake3::Words& left, const Blake3::Words& right,
                        std::uint32_t extra_flags = 0) {
  std::uint8_t block[kBlockLen];
  std::memcpy(block, left.data(), 32);
  std::memcpy(block + 32, right.data(), 32);
  const auto o = compress(kIv.data(), block, 0, kBlockLen, kParent | extra_flags);
  Blake3::Words cv;
  std::memcpy(cv.data(), o.data(), sizeof cv);
  return cv;
}

/// Merges pairs from the top of `stack` until it holds one entry a set bit of `chunks`: what
/// the stack must be before whatever starts at chunk `chunks` goes on (merges are never the
/// root, since something follows them).
void merge_below(std::vector<Blake3::Words>& stack, std::uint64_t chunks) {
  while (stack.size() > static_cast<std::size_t>(std::popcount(chunks))) {
    const Blake3::Words right = stack.back();
    stack.pop_back();
    stack.back() = parent_cv(stack.back(), right);
  }
}

}  // namespace

std::vector<std::string_view> available_backends() {
  std::vector<std::string_view> names;
  for (const auto& b : kBackends)
    if (b.usable()) names.push_back(b.name);
  return names;
}

void use_backend(std::string_view name) {
  if (name.empty()) {
    g_hash_many.store(best());
    return;
  }
  for (const auto& b : kBackends)
    if (b.name == name) {
      if (!b.usable()) throw std::invalid_argument("blake3: this CPU lacks " + std::string(name));
      g_hash_many.store(b.fn);
      return;
    }
  throw std::invalid_argument("blake3: no backend " + std::string(name));
}

std::string_view backend() {
  const HashManyFn fn = g_hash_many.load();
  for (const auto& b : kBackends)
    if (b.fn == fn) return b.name;
  return "?";
}

}  // namespace blake3_detail

using namespace blake3_detail;

Blake3::Blake3() : chunk_cv_(kIv) {}

void Blake3::chunk_update(std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    if (block_len_ == kBlockLen) {  // more input follows: this block is not the chunk's last
      const auto o = compress(chunk_cv_.data(), block_.data(), chunk_counter_, kBlockLen,
                              blocks_compressed_ == 0 ? kChunkStart : 0);
      std::memcpy(chunk_cv_.data(), o.data(), 32);
      ++blocks_compressed_;
      block_len_ = 0;
    }
    const std::size_t take = std::min(kBlockLen - block_len_, bytes.size());
    std::memcpy(block_.data() + block_len_, bytes.data(), take);
    block_len_ += take;
    bytes = bytes.subspan(take);
  }
}

void Blake3::push_cv(const Words& cv, std::uint64_t chunk_counter) {
  merge_below(stack_, chunk_counter);  // never the root: `cv` follows
  stack_.push_back(cv);
}

void Blake3::update(std::span<const std::uint8_t> bytes) {
  const std::size_t in_chunk = blocks_compressed_ * kBlockLen + block_len_;
  if (in_chunk > 0) {
    const std::size_t take = std::min(kChunkLen - in_chunk, bytes.size());
    chunk_update(bytes.first(take));
    bytes = bytes.subspan(take);
    if (bytes.empty()) return;
    // The chunk is full and more follows: finish it (its last block gets CHUNK_END).
    const auto o = compress(chunk_cv_.data(), block_.data(), chunk_counter_,
                            static_cast<std::uint32_t>(block_len_),
                            kChunkEnd | (blocks_compressed_ == 0 ? kChunkStart : 0));
    Words cv;
    std::memcpy(cv.data(), o.data(), 32);
    push_cv(cv, chunk_counter_);
    ++chunk_counter_;
    chunk_cv_ = kIv;
    block_len_ = 0;
    blocks_compressed_ = 0;
  }
  // Whole aligned subtrees, pushed as their two halves (their own parent may be the root). A
  // single chunk goes on only when more input follows it; a last lone chunk waits in the chunk
  // state, where it may become the root.
  while (bytes.size() >= kChunkLen) {
    std::size_t n = std::bit_floor(std::min<std::size_t>(bytes.size() / kChunkLen, kMaxSubtree));
    while (chunk_counter_ % n != 0) n /= 2;
    if (n == 1) {
      if (bytes.size() == kChunkLen) break;
      push_cv(chunk_cv(bytes.data(), chunk_counter_), chunk_counter_);
    } else {
      const auto [left, right] = subtree_halves(bytes.data(), n, chunk_counter_);
      push_cv(left, chunk_counter_);
      push_cv(right, chunk_counter_ + n / 2);
    }
    chunk_counter_ += n;
    bytes = bytes.subspan(n * kChunkLen);
  }
  chunk_update(bytes);
}

chain::Hash32 Blake3::finish() const {
  std::vector<Words> stack = stack_;
  Words cv = chunk_cv_;
  std::array<std::uint8_t, kBlockLen> block{};
  std::uint64_t counter = chunk_counter_;
  std::uint32_t block_len = 0, flags = 0;
  if (block_len_ == 0 && blocks_compressed_ == 0 && !stack.empty()) {
    // The input ended on a subtree: the stack ends with its two halves, whose parent comes
    // first (the root when nothing lies below it).
    std::memcpy(block.data() + 32, stack.back().data(), 32);
    stack.pop_back();
    std::memcpy(block.data(), stack.back().data(), 32);
    stack.pop_back();
    cv = kIv;
    counter = 0;
    block_len = kBlockLen;
    flags = kParent;
  } else {
    // Merge what the current chunk's position says is complete (never the root), then roll
    // the current chunk up through the stack; the last compression carries ROOT.
    merge_below(stack, chunk_counter_);
    std::memcpy(block.data(), block_.data(), block_len_);
    block_len = static_cast<std::uint32_t>(block_len_);
    flags = kChunkEnd | (blocks_compressed_ == 0 ? kChunkStart : 0);
  }
  for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
    const auto o = compress(cv.data(), block.data(), counter, block_len, flags);
    std::memcpy(block.data(), it->data(), 32);
    std::memcpy(block.data() + 32, o.data(), 32);
    cv = kIv;
    counter = 0;
    block_len = kBlockLen;
    flags = kParent;
  }
  const auto o = compress(cv.data(), block.data(), counter, block_len, flags | kRoot);
  chain::Hash32 out{};
  std::memcpy(out.data(), o.data(), out.size());
  return out;
}

chain::Hash32 blake3(std::span<const std::uint8_t> bytes) {
  Blake3 h;
  h.update(bytes);
  return h.finish();
}

}  // namespace murmur::protocol
