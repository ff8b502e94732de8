// bench/secagg: ChaCha20 mask expansion (our vectorised CPU kernel, 1 thread and all threads)
// against libsodium's crypto_stream_chacha20_ietf in the same run, for D = 1e6 words.
#include <sodium.h>

#include <vector>

#include "common.hpp"
#include "murmur/kernels/masks.hpp"

namespace murmur::bench {
namespace {

namespace k = murmur::kernels;
constexpr std::size_t kWords = 1000000;

k::MaskSeed seed() {
  k::MaskSeed s;
  for (std::size_t i = 0; i < s.key.size(); ++i) s.key[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return s;
}

void BM_MaskOurs(benchmark::State& state) {
  auto backend = k::make_cpu_backend(static_cast<unsigned>(state.range(0)));
  std::vector<std::uint32_t> acc(kWords, 1);
  for (auto _ : state) {
    k::add_mask(*backend, seed(), +1, acc);
    benchmark::DoNotOptimize(acc.data());
  }
  report_bandwidth(state, kWords * 4.0);
}

/// libsodium's key stream into a buffer, then added into the vector (what masking needs).
void BM_MaskLibsodium(benchmark::State& state) {
  if (sodium_init() < 0) state.SkipWithError("sodium_init failed");
  std::vector<std::uint32_t> acc(kWords, 1), stream(kWords);
  const auto s = seed();
  for (auto _ : state) {
    crypto_stream_chacha20_ietf(reinterpret_cast<unsigned char*>(stream.data()), kWords * 4, s.nonce.data(),
                                s.key.data());
    for (std::size_t i = 0; i < kWords; ++i) acc[i] += stream[i];
    benchmark::DoNotOptimize(acc.data());
  }
  report_bandwidth(state, kWords * 4.0);
}

BENCHMARK(BM_MaskOurs)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MaskLibsodium)->Unit(benchmark::kMillisecond)->UseRealTime();

const bool kRatios = [] {
  add_ratio("ChaCha20 masks, 1 thread, vs libsodium (target >= 0.8)", "BM_MaskOurs/threads:1/real_time",
            "BM_MaskLibsodium/real_time");
  add_ratio("ChaCha20 masks, 2 threads, vs libsodium", "BM_MaskOurs/threads:2/real_time",
            "BM_MaskLibsodium/real_time");
  return true;
}();

}  // namespace
}  // namespace murmur::bench
