// The C++ side of the Python package's parity tests, in a process of its own (nothing shared
// with Python):
//
//   murmur_py_reference aggregate ROWS.f32 N D COUNTS.f64|- SPEC THREADS OUT
//     kernels::aggregate on rows read from a file into a std::vector, on its own CPU backend,
//     with the spec read by the rule registry from its text. ROWS.f32: N x D little-endian
//     float32, row-major; COUNTS.f64: N float64 sample counts ("-": all 1). OUT gets the
//     aggregate (D float32), then per row the verdict (N int32), weight, score and distance
//     (3 x N float64). Prints describe(spec) and the pass count.
//   murmur_py_reference time ROWS.f32 N D SPEC THREADS REPEATS
//     the same call REPEATS times on rows read once (bench/python_overhead.py's C++ side):
//     prints each call's seconds, one a line.
//   murmur_py_reference sign-update KEY CHAIN_ID CONTRACT TASK ROUND UPDATE_HASH NUM_SAMPLES
//   murmur_py_reference sign-vote KEY CHAIN_ID CONTRACT TASK ROUND MODEL_HASH SCORE
//     chain/'s EIP-712 signer: prints the digest and the 65-byte signature in hex, one a line.
//
// Exit 1 with the error on stderr when the library throws; 2 on a usage error.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "murmur/chain/eip712.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/rule_registry.hpp"

namespace {

template <class T>
std::vector<T> read_file(const std::string& path, std::size_t count) {
  std::vector<T> v(count);
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(T))))
    throw std::runtime_error("cannot read " + std::to_string(count) + " values from " + path);
  return v;
}

template <class T>
void write(std::ofstream& out, const std::vector<T>& v) {
  out.write(reinterpret_cast<const char*>(v.data()),
            static_cast<std::streamsize>(v.size() * sizeof(T)));
}

int aggregate(char** argv) {
  namespace k = murmur::kernels;
  const std::size_t n = std::stoul(argv[1]), d = std::stoul(argv[2]);
  const std::vector<float> rows = read_file<float>(argv[0], n * d);
  const std::vector<double> counts =
      std::string(argv[3]) == "-" ? std::vector<double>(n, 1.0) : read_file<double>(argv[3], n);
  const k::AggregationSpec spec = k::parse_aggregation(argv[4]);
  auto backend = k::make_cpu_backend(static_cast<unsigned>(std::stoul(argv[5])));
  std::vector<float> out(d);
  const k::MemoryRowSource source(rows, n, d);
  const k::AggregationReport report = k::aggregate(*backend, source, counts, spec, out);
  std::vector<std::int32_t> verdicts;
  std::vector<double> weights, scores, distances;
  for (const auto& r : report.rows) {
    verdicts.push_back(static_cast<std::int32_t>(r.verdict));
    weights.push_back(r.weight);
    scores.push_back(r.score);
    distances.push_back(r.distance);
  }
  std::ofstream file(argv[6], std::ios::binary);
  write(file, out);
  write(file, verdicts);
  write(file, weights);
  write(file, scores);
  write(file, distances);
  std::cout << report.rule << "\n" << report.passes << "\n";
  return file ? 0 : 1;
}

int time_calls(char** argv) {
  namespace k = murmur::kernels;
  const std::size_t n = std::stoul(argv[1]), d = std::stoul(argv[2]);
  const std::vector<float> rows = read_file<float>(argv[0], n * d);
  const std::vector<double> counts(n, 1.0);
  const k::AggregationSpec spec = k::parse_aggregation(argv[3]);
  auto backend = k::make_cpu_backend(static_cast<unsigned>(std::stoul(argv[4])));
  const k::MemoryRowSource source(rows, n, d);
  std::vector<float> out(d);
  const int repeats = std::stoi(argv[5]);
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    k::aggregate(*backend, source, counts, spec, out);
    std::cout << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
              << std::endl;
  }
  return 0;
}

int sign(const std::string& what, char** argv) {
  namespace c = murmur::chain;
  const c::PrivateKey key = c::PrivateKey::from_hex(argv[0]);
  const c::Eip712Domain domain{"Murmuration", "1", std::stoull(argv[1]),
                               c::Address::from_hex(argv[2])};
  const c::U256 task = c::U256::from_string(argv[3]), round = c::U256::from_string(argv[4]);
  const c::Hash32 hash = c::hash_from_hex(argv[5]);
  if (what == "sign-update") {
    const c::UpdateMessage m{task, round, hash, c::U256::from_string(argv[6])};
    std::cout << c::to_hex(c::update_digest(domain, m)) << "\n"
              << c::to_hex(c::sign_update(key, domain, m)) << "\n";
  } else {
    const c::VoteMessage m{task, round, hash, static_cast<std::int8_t>(std::stoi(argv[6]))};
    std::cout << c::to_hex(c::vote_digest(domain, m)) << "\n"
              << c::to_hex(c::sign_vote(key, domain, m)) << "\n";
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "aggregate" && argc == 9) return aggregate(argv + 2);
    if (mode == "time" && argc == 8) return time_calls(argv + 2);
    if ((mode == "sign-update" || mode == "sign-vote") && argc == 9) return sign(mode, argv + 2);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: " << argv[0] << " aggregate ROWS.f32 N D COUNTS.f64|- SPEC THREADS OUT\n"
            << "       " << argv[0]
            << " sign-update|sign-vote KEY CHAIN_ID CONTRACT TASK ROUND HASH "
            << "NUM_SAMPLES|SCORE\n";
  return 2;
}
