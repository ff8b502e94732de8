// bench/secagg: ChaCha20 mask expansion (our vectorised CPU kernel, 1 thread and all threads)
// against libsodium's crypto_stream_chacha20_ietf in the same run, for D = 1e6 words.
#include <sodium.h>

#include <vector>

#include <chrono>
#include <memory>

#include "common.hpp"
#include "murmur/kernels/masks.hpp"
#include "murmur/kernels/weighted_sum.hpp"
#include "murmur/secagg/protocol.hpp"

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
    crypto_stream_chacha20_ietf(reinterpret_cast<unsigned char*>(stream.data()), kWords * 4,
                                s.nonce.data(), s.key.data());
    for (std::size_t i = 0; i < kWords; ++i) acc[i] += stream[i];
    benchmark::DoNotOptimize(acc.data());
  }
  report_bandwidth(state, kWords * 4.0);
}

/// One SecAgg+ round in process: N = 100 nodes, D = 1e6, degree 20, t = 11, 10 nodes drop
/// before sending their masked input. Counters: a node's dealing time (two Feldman dealings
/// and 20 sealed boxes), its check time (opening 20 boxes and verifying 40 shares against the
/// commitments), its masking time (quantise, self mask, 20 pairwise masks) and the server's
/// unmasking time (sum of 90 vectors, returned shares verified, 90 self masks removed, the
/// dropped nodes' pairwise masks removed), in seconds.
void BM_SecAggRound(benchmark::State& state) {
  namespace s = murmur::secagg;
  auto cpu = k::make_cpu_backend();
  s::Params p;
  p.nodes = 100;
  p.degree = 20;
  p.threshold = 11;
  p.round = 1;
  p.graph_seed = 5;
  p.fixed_point = {1.0, 100};
  p.dimension = kWords;
  std::vector<float> x(kWords);
  for (std::size_t j = 0; j < kWords; ++j) x[j] = static_cast<float>((j % 1000) * 1e-3 - 0.5);
  double dealing = 0, checking = 0, masking = 0, unmasking = 0;
  const auto since = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  for (auto _ : state) {
    s::Server server(p);
    std::vector<std::unique_ptr<s::Client>> clients;
    for (s::NodeId u = 0; u < p.nodes; ++u) clients.push_back(std::make_unique<s::Client>(u, p));
    for (auto& c : clients) server.receive_advertisement(c->advertise());
    for (auto& c : clients) {
      const auto ads = server.advertisements_for(c->id());
      const auto t0 = std::chrono::steady_clock::now();
      auto d = c->share_keys(ads);
      dealing += since(t0) / 100;
      server.receive_shares(c->id(), d);
    }
    for (auto& c : clients) {
      const auto deliveries = server.shares_for(c->id());
      const auto t0 = std::chrono::steady_clock::now();
      const auto complaints = c->receive_shares(deliveries);
      checking += since(t0) / 100;
      if (!complaints.empty()) state.SkipWithError("an honest dealing drew a complaint");
    }
    const auto u1 = server.u1();
    for (auto& c : clients) {
      if (c->id() % 10 == 3) continue;  // 10% drop before their masked input
      const auto t0 = std::chrono::steady_clock::now();
      auto y = c->masked_input(*cpu, x, u1);
      masking += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 90;
      server.receive_masked(c->id(), std::move(y));
    }
    const auto request = server.unmask_request();
    for (auto& c : clients)
      if (c->id() % 10 != 3) server.receive_unmask(c->unmask(request));
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(server.finish(*cpu).sum.data());
    unmasking += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  state.counters["node_dealing_s"] = dealing / static_cast<double>(state.iterations());
  state.counters["node_check_s"] = checking / static_cast<double>(state.iterations());
  state.counters["node_masking_s"] = masking / static_cast<double>(state.iterations());
  state.counters["server_unmask_s"] = unmasking / static_cast<double>(state.iterations());
}

/// The plaintext baseline: FedAvg's weighted sum of the same 90 updates as floats.
void BM_PlaintextSum(benchmark::State& state) {
  auto cpu = k::make_cpu_backend();
  std::vector<float> rows(90 * kWords, 0.25f);
  const std::vector<double> w(90, 1.0 / 90);
  std::vector<float> out(kWords);
  const k::MemoryRowSource src(rows, 90, kWords);
  for (auto _ : state) {
    k::weighted_sum(*cpu, src, w, out);
    benchmark::DoNotOptimize(out.data());
  }
}

BENCHMARK(BM_SecAggRound)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_PlaintextSum)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK(BM_MaskOurs)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_MaskLibsodium)->Unit(benchmark::kMillisecond)->UseRealTime();

const bool kRatios = [] {
  add_ratio("ChaCha20 masks, 1 thread, vs libsodium (target >= 0.8)",
            "BM_MaskOurs/threads:1/real_time", "BM_MaskLibsodium/real_time");
  add_ratio("ChaCha20 masks, 2 threads, vs libsodium", "BM_MaskOurs/threads:2/real_time",
            "BM_MaskLibsodium/real_time");
  return true;
}();

}  // namespace
}  // namespace murmur::bench
