#include "../../kernels/cpu/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace murmur::kernels::cpu {
namespace {

TEST(ThreadPool, RunsEveryTaskOnceWithDistinctWorkers) {
  for (unsigned threads : {1u, 2u, 5u}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(1000);
    std::vector<std::atomic<int>> in_worker(threads);
    for (int round = 0; round < 3; ++round) {
      pool.parallel_for(hits.size(), [&](std::size_t t, unsigned w) {
        ASSERT_LT(w, threads);
        EXPECT_EQ(in_worker[w].fetch_add(1), 0) << "worker index shared by two tasks at once";
        hits[t].fetch_add(1);
        in_worker[w].fetch_sub(1);
      });
    }
    for (auto& h : hits) EXPECT_EQ(h.load(), 3);
  }
}

TEST(ThreadPool, RethrowsTheFirstErrorAndStaysUsable) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(100,
                                 [](std::size_t t, unsigned) {
                                   if (t == 42) throw std::runtime_error("task 42");
                                 }),
               std::runtime_error);
  std::atomic<int> n{0};
  pool.parallel_for(10, [&](std::size_t, unsigned) { n++; });
  EXPECT_EQ(n.load(), 10);
}

}  // namespace
}  // namespace murmur::kernels::cpu
