// bench/ingest: upload throughput into a real murmurd (in process, CurveZMQ on loopback, spool
// fsynced before every acknowledgement) with 1, 8 and 64 uploaders, each as a ratio to a plain
// ZeroMQ DEALER -> ROUTER transfer of the same bytes in the same run (same chunk size, same
// window of 8 unacknowledged chunks, same CurveZMQ; the ROUTER only answers "ack"). What the
// ratio prices is murmurd's protocol work: protobuf, CRC-32C per chunk, the SHA-256 update
// hash (on the node as it sends, unless prehashed, and on murmurd as it accepts), the NaN/Inf
// scan, pwrite + fdatasync + a SQLite update per chunk, the EIP-712 signature check.
//
// And murmurd's memory: the peak resident set above its idle size (VmHWM) while 64 uploaders
// (`murmur load` in a child process, so that only the server is in this process) push 64 MiB
// each, against the configured in-flight byte budget.
//
// Environment: MURMUR_BENCH_SPOOL picks the spool's parent directory (default: the temp dir,
// i.e. the disk a deployment would use; /dev/shm measures everything but the disk).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <latch>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/protocol/blake3.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"
#include "murmur/server/server.hpp"
#include "murmur/testing/temp_dir.hpp"

extern char** environ;

namespace murmur::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 4u << 20;  // murmurd's default chunk size
constexpr std::uint32_t kCredits = 8;     // murmurd's default peer_credits
constexpr std::uint64_t kSeed = 77;       // node i: derive_node_key(kSeed, i)
constexpr std::uint64_t kMiB = 1u << 20;

/// Bytes each uploader sends: 256 MiB in all for 1 and 8 uploaders, 512 MiB for 64.
std::uint64_t bytes_each(std::int64_t uploaders) {
  return uploaders == 1 ? 256 * kMiB : uploaders == 8 ? 32 * kMiB : 8 * kMiB;
}

/// What every uploader sends (a prefix of it): the same bytes for murmurd and the baseline.
const std::vector<float>& payload() {
  static const std::vector<float> p = [] {
    std::vector<float> v(256 * kMiB / 4);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 1000) * 1e-3f - 0.5f;
    return v;
  }();
  return p;
}

using murmur::testing::free_port;

/// A fresh spool directory, removed afterwards.
struct SpoolDir {
  std::filesystem::path path;
  SpoolDir() {
    const char* env = std::getenv("MURMUR_BENCH_SPOOL");
    const std::filesystem::path parent =
        env ? env : std::filesystem::temp_directory_path().string();
    path = parent / ("murmur-ingest-" + std::to_string(::getpid()) + "-" +
                     std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path);
  }
  ~SpoolDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// --- the baseline: DEALER -> ROUTER, 8 chunks in flight, a one-frame ack per chunk -----------

/// Seconds for `uploaders` DEALERs to move `each` bytes apiece to one ROUTER.
double plain_transfer(int uploaders, std::uint64_t each, bool curve) {
  char server_pub[41] = {}, server_sec[41] = {};
  zmq_curve_keypair(server_pub, server_sec);
  zmq::context_t server_ctx(1), client_ctx(1);
  zmq::socket_t router(server_ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  if (curve) {
    router.set(zmq::sockopt::curve_server, 1);
    router.set(zmq::sockopt::curve_secretkey, std::string(server_sec));
  }
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  const std::uint64_t chunks_total =
      static_cast<std::uint64_t>(uploaders) * ((each + kChunk - 1) / kChunk);

  std::thread sink([&] {
    for (std::uint64_t got = 0; got < chunks_total;) {
      zmq::message_t id, header, body;
      (void)router.recv(id);
      (void)router.recv(header);
      if (header.more()) (void)router.recv(body);
      router.send(id, zmq::send_flags::sndmore);
      router.send(zmq::str_buffer("ack"));
      ++got;
    }
  });
  std::latch ready(uploaders + 1);
  std::atomic<std::int64_t> end_ns{0};
  std::vector<std::thread> senders;
  for (int u = 0; u < uploaders; ++u)
    senders.emplace_back([&] {
      zmq::socket_t dealer(client_ctx, zmq::socket_type::dealer);
      dealer.set(zmq::sockopt::linger, 0);
      if (curve) {
        char pub[41] = {}, sec[41] = {};
        zmq_curve_keypair(pub, sec);
        dealer.set(zmq::sockopt::curve_serverkey, std::string(server_pub));
        dealer.set(zmq::sockopt::curve_publickey, std::string(pub));
        dealer.set(zmq::sockopt::curve_secretkey, std::string(sec));
      }
      dealer.connect(endpoint);
      const auto* bytes = reinterpret_cast<const std::uint8_t*>(payload().data());
      ready.arrive_and_wait();
      std::uint64_t sent = 0, acked = 0;
      unsigned in_flight = 0;
      while (acked < each) {
        while (in_flight < kCredits && sent < each) {
          const std::size_t len = std::min<std::uint64_t>(kChunk, each - sent);
          dealer.send(zmq::str_buffer("chunk"), zmq::send_flags::sndmore);
          dealer.send(zmq::message_t(bytes + sent, len), zmq::send_flags::none);
          sent += len;
          ++in_flight;
        }
        zmq::message_t ack;
        (void)dealer.recv(ack);
        --in_flight;
        acked += std::min<std::uint64_t>(kChunk, each - acked);
      }
      const std::int64_t now = Clock::now().time_since_epoch().count();
      for (auto seen = end_ns.load(); now > seen && !end_ns.compare_exchange_weak(seen, now);) {
      }
    });
  ready.arrive_and_wait();
  const auto start = Clock::now();
  for (auto& t : senders) t.join();
  sink.join();
  return static_cast<double>(end_ns.load() - start.time_since_epoch().count()) * 1e-9;
}

void BM_PlainZeroMQ(benchmark::State& state, int uploaders, bool curve) {
  const std::uint64_t each = bytes_each(uploaders);
  for (auto _ : state) state.SetIterationTime(plain_transfer(uploaders, each, curve));
  report_bandwidth(state, static_cast<double>(each) * uploaders);
}

// --- murmurd --------------------------------------------------------------------------------

/// murmurd's defaults (4 MiB chunks, 8 credits per peer, CurveZMQ), `nodes` participants all
/// proposing, and quorum nodes + 1 so that the round ends without aggregating (this measures
/// ingest, not aggregation).
server::Config ingest_config(const std::filesystem::path& dir, std::size_t nodes,
                             std::uint64_t bytes, std::size_t budget) {
  server::Config c;
  c.endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  c.register_endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  c.data_dir = dir / "data";
  c.curve_secret_key = server::curve_keypair().second;
  c.chunk_bytes = kChunk;
  c.peer_credits = kCredits;
  c.inflight_budget_bytes = budget;
  c.peer_messages_per_second = 1e6;
  c.backend = "cpu";
  c.contract = chain::Address::from_hex("0x5fbdb2315678afecb367f032d93f642f64180aa3");
  c.parameters = bytes / 4;
  c.proposer_bps = 10000;
  c.upload_window = std::chrono::minutes(30);
  c.quorum = nodes + 1;
  for (std::size_t i = 0; i < nodes; ++i)
    c.participants.push_back({client::derive_node_key(kSeed, i).address(), 1});
  return c;
}

/// Seconds from releasing `uploaders` registered nodes to the last Committed. `prehashed`:
/// every node hashed its update before the clock starts (client::DigestedUpdate, as a node
/// that hashes its update when training ends), so the time is transport plus murmurd's work;
/// otherwise nodes hash while they send, as `murmur node` does.
double murmurd_transfer(int uploaders, std::uint64_t each, bool prehashed) {
  SpoolDir dir;
  const server::Config cfg = ingest_config(dir.path, uploaders, each, 256 * kMiB);
  server::Server srv(cfg);
  srv.start();
  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  auto context = std::make_shared<zmq::context_t>(1);
  std::latch ready(uploaders + 1);
  std::atomic<std::int64_t> end_ns{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> nodes;
  for (int u = 0; u < uploaders; ++u)
    nodes.emplace_back([&, u] {
      client::ClientOptions o;
      o.endpoint = cfg.endpoint;
      o.register_endpoint = cfg.register_endpoint;
      o.server_public_key = srv.curve_public_key();
      o.context = context;
      o.timeout = std::chrono::seconds(30);
      client::NodeClient node(o);
      const auto key = client::derive_node_key(kSeed, static_cast<std::uint64_t>(u));
      wire::RoundInfo info;
      try {
        node.register_node(key, cfg.chain_id);
        info = node.round_info();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench/ingest: node %d not ready: %s\n", u, e.what());
        ++failed;
      }
      const client::FloatUpdate update(std::span(payload().data(), each / 4), wire::DTYPE_F32);
      std::optional<client::DigestedUpdate> digested;
      if (prehashed) digested.emplace(update);
      ready.arrive_and_wait();
      try {
        const client::UpdateSource& source =
            digested ? static_cast<const client::UpdateSource&>(*digested) : update;
        node.upload_update(info.task_id(), info.round(), source, 1, {&key, domain});
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench/ingest: node %d upload failed: %s\n", u, e.what());
        ++failed;
      }
      const std::int64_t now = Clock::now().time_since_epoch().count();
      for (auto seen = end_ns.load(); now > seen && !end_ns.compare_exchange_weak(seen, now);) {
      }
    });
  ready.arrive_and_wait();
  const auto start = Clock::now();
  for (auto& t : nodes) t.join();
  srv.stop();
  if (failed > 0)
    throw std::runtime_error("bench/ingest: " + std::to_string(failed.load()) + " uploads failed");
  return static_cast<double>(end_ns.load() - start.time_since_epoch().count()) * 1e-9;
}

void BM_Murmurd(benchmark::State& state, int uploaders, bool prehashed) {
  const std::uint64_t each = bytes_each(uploaders);
  for (auto _ : state) {
    try {
      state.SetIterationTime(murmurd_transfer(uploaders, each, prehashed));
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  report_bandwidth(state, static_cast<double>(each) * uploaders);
}

// --- what murmurd does to every byte, one 4 MiB chunk at a time, against CurveZMQ's cipher --

/// One pass over a 4 MiB chunk: `name` is the cipher CurveZMQ runs on every message
/// (XSalsa20-Poly1305, libsodium's crypto_box_easy_afternm), the update hash on each backend,
/// SHA-256 with the CPU's SHA instructions (OpenSSL) for comparison, the CRC-32C checksum or the
/// NaN/Inf scan.
void BM_Pass(benchmark::State& state, std::string name) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(payload().data());
  const std::span<const std::uint8_t> chunk(bytes, kChunk);
  std::vector<std::uint8_t> sealed(kChunk + crypto_box_MACBYTES);
  std::array<std::uint8_t, crypto_box_BEFORENMBYTES> key{};
  std::array<std::uint8_t, crypto_box_NONCEBYTES> nonce{};
  if (name.starts_with("blake3_")) protocol::blake3_detail::use_backend(name.substr(7));
  for (auto _ : state) {
    if (name == "curve_cipher") {
      crypto_box_easy_afternm(sealed.data(), chunk.data(), chunk.size(), nonce.data(), key.data());
      benchmark::DoNotOptimize(sealed.data());
    } else if (name.starts_with("blake3_")) {
      benchmark::DoNotOptimize(protocol::blake3(chunk));
    } else if (name == "sha256_openssl") {
      std::array<unsigned char, 32> out{};
      unsigned int n = 0;
      EVP_Digest(chunk.data(), chunk.size(), out.data(), &n, EVP_sha256(), nullptr);
      benchmark::DoNotOptimize(out);
    } else if (name == "crc32c") {
      benchmark::DoNotOptimize(protocol::crc32c(chunk));
    } else if (name == "finite_scan") {
      benchmark::DoNotOptimize(protocol::all_finite(wire::DTYPE_F32, chunk));
    }
  }
  protocol::blake3_detail::use_backend("");
  report_bandwidth(state, static_cast<double>(kChunk));
}

// --- murmurd's memory under 64 x 64 MiB -----------------------------------------------------

/// Runs `murmur load` (64 synthetic nodes) against an in-process murmurd whose in-flight
/// budget is `budget` bytes, and reports this process's peak RSS above its idle size.
void BM_MurmurdMemory(benchmark::State& state) {
  constexpr int kUploaders = 64;
  constexpr std::uint64_t kEach = 64 * kMiB;
  const std::size_t budget = static_cast<std::size_t>(state.range(0)) * kMiB;
  for (auto _ : state) {
    SpoolDir dir;
    server::Config cfg = ingest_config(dir.path, kUploaders, kEach, budget);
    server::Server srv(cfg);
    srv.start();
    PeakMemory peak;
    peak.reset();
    const std::string cli = MURMUR_CLI;
    std::vector<std::string> args = {cli,
                                     "load",
                                     "--endpoint",
                                     cfg.endpoint,
                                     "--register-endpoint",
                                     cfg.register_endpoint,
                                     "--server-key",
                                     srv.curve_public_key(),
                                     "--contract",
                                     cfg.contract.to_lower_hex(),
                                     "--nodes",
                                     std::to_string(kUploaders),
                                     "--seed",
                                     std::to_string(kSeed),
                                     "--timeout-ms",
                                     "30000",
                                     "--busy-patience-s",
                                     "600",
                                     "--json"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const auto t0 = Clock::now();
    pid_t pid = -1;
    if (posix_spawn(&pid, cli.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      state.SkipWithError("cannot start murmur load");
      break;
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    state.SetIterationTime(seconds);
    const auto snap = srv.snapshot();
    srv.stop();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("murmur load failed (see its output above)");
      break;
    }
    const double extra = peak.extra_bytes();
    state.counters["budget_MiB"] = static_cast<double>(budget) / kMiB;
    state.counters["peak_extra_MiB"] = extra / kMiB;
    state.counters["peak_x_budget"] = extra / static_cast<double>(budget);
    state.counters["pushed_MiB"] = static_cast<double>(kUploaders) * kEach / kMiB;
    state.counters["MiB/s"] = static_cast<double>(kUploaders) * kEach / kMiB / seconds;
    (void)snap;
  }
}

const int registered = [] {
  for (int n : {1, 8, 64}) {
    const std::string suffix = "/uploaders:" + std::to_string(n);
    // Each transfer three times, timed by the transfer itself.
    const auto transfer = [&](const std::string& name, void (*fn)(benchmark::State&, int, bool),
                              bool flag) {
      benchmark::RegisterBenchmark(("ingest/" + name + suffix).c_str(), fn, n, flag)
          ->Iterations(3)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    };
    transfer("murmurd", BM_Murmurd, false);
    transfer("murmurd_prehashed", BM_Murmurd, true);
    transfer("zmq_curve", BM_PlainZeroMQ, true);
    transfer("zmq_plain", BM_PlainZeroMQ, false);
    const std::string tail = "/iterations:3/manual_time";
    add_ratio("murmurd / ZeroMQ+Curve, " + std::to_string(n) + " uploaders (target >= 0.70)",
              "ingest/murmurd" + suffix + tail, "ingest/zmq_curve" + suffix + tail);
    add_ratio("murmurd, nodes prehashed / ZeroMQ+Curve, " + std::to_string(n) + " uploaders",
              "ingest/murmurd_prehashed" + suffix + tail, "ingest/zmq_curve" + suffix + tail);
    add_ratio("murmurd / ZeroMQ plain, " + std::to_string(n) + " uploaders",
              "ingest/murmurd" + suffix + tail, "ingest/zmq_plain" + suffix + tail);
  }
  std::vector<std::string> passes = {"curve_cipher", "sha256_openssl", "crc32c", "finite_scan"};
  for (auto b : protocol::blake3_detail::available_backends())
    passes.push_back("blake3_" + std::string(b));
  for (const auto& name : passes) {
    benchmark::RegisterBenchmark(("ingest/pass/" + name).c_str(), BM_Pass, name)
        ->Unit(benchmark::kMicrosecond);
    if (name != "curve_cipher")
      add_ratio(name + " / CurveZMQ's cipher, per byte", "ingest/pass/" + name,
                "ingest/pass/curve_cipher");
  }
  benchmark::RegisterBenchmark("ingest/murmurd_memory/64x64MiB", BM_MurmurdMemory)
      ->Arg(128)
      ->ArgName("budget_MiB")
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  return 0;
}();

}  // namespace
}  // namespace murmur::bench
