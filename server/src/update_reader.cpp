// Range reads off the event loop (update_reader.hpp).
#include "update_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace murmur::server {

void send_routed(zmq::socket_t& socket, const zmq::message_t& identity,
                 std::vector<zmq::message_t>& frames) {
  socket.send(zmq::buffer(identity.data(), identity.size()),
              zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  for (std::size_t i = 0; i < frames.size(); ++i)
    socket.send(frames[i], i + 1 < frames.size()
                               ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                               : zmq::send_flags::dontwait);
}

bool PublicBudget::reserve(std::uint64_t bytes) {
  std::uint64_t used = used_.load();
  do {
    if (used + bytes > limit_) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes));
  return true;
}

UpdateReader::UpdateReader(zmq::context_t& ctx, int threads, std::size_t max_jobs)
    : ctx_(ctx), threads_(threads), max_jobs_(max_jobs) {}

UpdateReader::~UpdateReader() {
  stop();
}

void UpdateReader::start() {
  wake_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pull);
  wake_->set(zmq::sockopt::linger, 0);
  wake_->bind(kEndpoint);
  stopping_ = false;
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { run(); });
}

void UpdateReader::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard lock(mutex_);
  done_.clear();
  running_ = 0;
  wake_.reset();
}

bool UpdateReader::submit(ReadJob job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || jobs_.size() + running_ >= max_jobs_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

std::size_t UpdateReader::pending() const {
  std::lock_guard lock(mutex_);
  return jobs_.size() + running_;
}

std::vector<ReadDone> UpdateReader::take() {
  // The wake-ups only say "look": drain them, then take what is there.
  zmq::message_t m;
  while (wake_->recv(m, zmq::recv_flags::dontwait)) {
  }
  std::lock_guard lock(mutex_);
  std::vector<ReadDone> out(std::make_move_iterator(done_.begin()),
                            std::make_move_iterator(done_.end()));
  done_.clear();
  return out;
}

void UpdateReader::run() {
  zmq::socket_t wake(ctx_, zmq::socket_type::push);
  wake.set(zmq::sockopt::linger, 0);
  wake.connect(kEndpoint);
  for (;;) {
    ReadJob job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      ++running_;
    }
    ReadDone d = read(job);
    {
      std::lock_guard lock(mutex_);
      --running_;
      if (stopping_) return;
      done_.push_back(std::move(d));
    }
    wake.send(zmq::str_buffer("r"), zmq::send_flags::dontwait);
  }
}

ReadDone UpdateReader::read(ReadJob& job) {
  ReadDone d;
  d.socket = job.socket;
  d.identity = std::move(job.identity);
  d.reserved = job.reserved;
  const std::uint64_t request_id = job.reply.request_id();
  const auto fail = [&](wire::ErrorCode code, const std::string& message) {
    d.envelope.Clear();
    d.envelope.set_request_id(request_id);
    d.envelope.mutable_error()->set_code(code);
    d.envelope.mutable_error()->set_message(message);
    return std::move(d);
  };
  const int fd = ::open(job.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return fail(wire::ERR_NOT_FOUND,
                  job.what +
                      " is no longer on disk (murmurd keeps the update files of its last "
                      "server.spool_keep_rounds rounds)");
    return fail(wire::ERR_INTERNAL, "cannot open " + job.what + ": " + std::strerror(errno));
  }
  auto bytes = std::make_shared<std::vector<std::uint8_t>>(job.length);
  std::uint64_t done = 0;
  while (done < job.length) {
    const auto n =
        ::pread(fd, bytes->data() + done, job.length - done, static_cast<off_t>(job.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  if (done != job.length)
    return fail(wire::ERR_INTERNAL, job.what + " is shorter on disk than its " +
                                        std::to_string(job.offset + job.length) + " bytes");
  if (!job.split_file.empty()) {
    std::ifstream in(job.split_file, std::ios::binary);
    const std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof())
      return fail(wire::ERR_INTERNAL, "cannot read the split commitment of " + job.what);
    if (kept.empty() || !job.reply.mutable_update_chunk()->mutable_split()->ParseFromString(kept))
      return fail(wire::ERR_NOT_FOUND, "the split commitment of " + job.what +
                                           " is not on disk: this shard cannot prove its part");
  }
  d.envelope = std::move(job.reply);
  d.bytes = std::move(bytes);
  return d;
}

}  // namespace murmur::server
