// SGMV: input checks and dispatch to the CPU twin or the CUDA kernels.
#include "murmur/kernels/sgmv.hpp"

#include <stdexcept>
#include <string>

#include "../cpu/sgmv.hpp"
#include "dispatch.hpp"
#if MURMUR_HAVE_CUDA
#include "../cuda/sgmv.hpp"
#endif

namespace murmur::kernels {
namespace {

void check(const SgmvProblem& p) {
  const std::string where = "sgmv(rows " + std::to_string(p.rows) + ", d_in " +
                            std::to_string(p.d_in) + ", d_out " + std::to_string(p.d_out) + "): ";
  if (p.ldx < p.d_in || p.ldy < p.d_out)
    throw std::invalid_argument(where + "leading dimensions " + std::to_string(p.ldx) + ", " +
                                std::to_string(p.ldy) + " are narrower than the rows");
  std::size_t previous_end = 0;
  bool any_rows = false;
  for (std::size_t s = 0; s < p.segments.size(); ++s) {
    const SgmvSegment& seg = p.segments[s];
    const std::string which = "segment " + std::to_string(s) + " [" + std::to_string(seg.begin) +
                              ", " + std::to_string(seg.end) + ")";
    if (seg.begin > seg.end || seg.end > p.rows)
      throw std::invalid_argument(where + which + " is not within [0, rows)");
    if (seg.begin < previous_end)
      throw std::invalid_argument(where + which +
                                  " overlaps or precedes the previous one: segments must be "
                                  "sorted and disjoint");
    previous_end = seg.end;
    if (seg.adapter < -1 || seg.adapter >= static_cast<std::int64_t>(p.factors.size()))
      throw std::invalid_argument(where + which + " names adapter " + std::to_string(seg.adapter) +
                                  " of " + std::to_string(p.factors.size()));
    if (seg.adapter < 0 || seg.begin == seg.end) continue;
    const LoraFactors& f = p.factors[static_cast<std::size_t>(seg.adapter)];
    if (f.rank == 0 || f.a == nullptr || f.b == nullptr)
      throw std::invalid_argument(where + which + ": adapter " + std::to_string(seg.adapter) +
                                  " has rank 0 or null factors");
    any_rows = true;
  }
  if (any_rows && (p.x == nullptr || p.y == nullptr))
    throw std::invalid_argument(where + "x or y is null");
}

}  // namespace

void sgmv(Backend& backend, const SgmvProblem& problem) {
  check(problem);
  if (backend.kind() == BackendKind::kCpu) {
    if (problem.residence != Residence::kHost)
      throw std::invalid_argument(
          "sgmv: the CPU backend reads host memory only; pass Residence::kHost");
    cpu::sgmv(cpu::as_cpu(backend), problem);
  } else {
    MURMUR_ON_CUDA(cuda::sgmv(backend, problem));
  }
}

}  // namespace murmur::kernels
