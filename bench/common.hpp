#pragma once
// Shared by every benchmark program: the memory-bandwidth probe that all figures are compared
// against, counters that report GB/s and the ratio to the probe, and ratios between two
// benchmarks of one run (our kernel against a naive or peer implementation).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <string>

namespace murmur::bench {

/// Sustained bandwidth of this machine with all hardware threads, in GB/s (1e9 bytes/s).
/// STREAM's accounting: read counts bytes loaded, copy 2 and triad 3 arrays per element.
struct Bandwidth {
  double read = 0, copy = 0, triad = 0;
  unsigned threads = 0;
};

/// Measures once per process (best of several passes over arrays far larger than the caches)
/// and prints the figures on first use.
const Bandwidth& bandwidth_probe();

/// The probe kernels, each over [begin, end) of the arrays, for Google Benchmark use.
double probe_read(const float* a, std::size_t begin, std::size_t end);
void probe_copy(float* dst, const float* src, std::size_t begin, std::size_t end);
void probe_triad(float* a, const float* b, const float* c, float s, std::size_t begin,
                 std::size_t end);

/// The fastest of `passes` reads of data[0, count) by the probe's read kernel on every hardware
/// thread (each a contiguous share), in seconds: one memory pass over that very memory, so a
/// kernel's time over it does not depend on where the probe's own arrays landed (on a VM the
/// probe read 41-67 GB/s from one process to the next).
double read_seconds(const float* data, std::size_t count, int passes);

/// Sets counters "GB/s" (bytes_per_iteration moved per second) and "x_probe" (that figure
/// over the probe's read bandwidth) on `state`.
void report_bandwidth(benchmark::State& state, double bytes_per_iteration);

/// The process's memory high-water mark, for "peak memory against N x D x 4": reset() before
/// the measured work, then extra_bytes() is the peak resident size above what was resident
/// at reset (Linux /proc/self/clear_refs and VmHWM).
class PeakMemory {
 public:
  void reset();
  double extra_bytes() const;

 private:
  double base_ = 0;
};

/// After the run, print "label: numerator is X× faster than denominator" from the two
/// benchmarks' real times (benchmark names as Google Benchmark prints them).
void add_ratio(std::string label, std::string faster, std::string baseline);

}  // namespace murmur::bench
