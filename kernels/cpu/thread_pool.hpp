#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace murmur::kernels::cpu {

/// A fixed set of worker threads that run one parallel loop at a time. Tasks are claimed from
/// an atomic counter, so which worker runs which task varies from run to run: callers make
/// results independent of that by giving every task its own output range.
class ThreadPool {
 public:
  /// `threads` workers in all, the calling thread included (0: hardware concurrency).
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const noexcept { return size_; }

  /// Runs fn(task, worker) for task in [0, tasks) and returns when all are done. `worker` is in
  /// [0, size()) and unique among concurrently running calls (index per-worker scratch with
  /// it). The first exception thrown by a task is rethrown here; remaining tasks are skipped.
  void parallel_for(std::size_t tasks, const std::function<void(std::size_t, unsigned)>& fn);

 private:
  void worker_loop(unsigned worker);
  void run_tasks(unsigned worker);

  unsigned size_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(std::size_t, unsigned)>* job_ = nullptr;
  std::size_t tasks_ = 0;
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
  std::uint64_t generation_ = 0;
  unsigned busy_ = 0;
  bool stop_ = false;
};

}  // namespace murmur::kernels::cpu
