// Ingest on its own (server/src/ingest.hpp): murmurd's side of an upload between its begin and
// its commit, driven here as the loop thread drives it, with a real spool and state store on
// disk and its real sync threads, and no sockets to nodes. The budget and the credits, the begins
// that wait for budget, each refusal of a chunk by its typed code, the durable offset over
// chunks that land on different threads, the update hash, and a dropped upload that takes
// nothing of another's with it.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <thread>
#include <vector>

#include "ingest.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/testing/temp_dir.hpp"

namespace murmur::server {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

chain::Address address_of(std::uint8_t k) {
  chain::Address a{};
  a.bytes.fill(k);
  return a;
}

/// murmurd's ingest with a 1 KiB chunk, 4 credits a peer, a budget of 6 chunks.
Config ingest_config(const std::filesystem::path& dir, std::chrono::milliseconds busy_wait) {
  Config cfg;
  cfg.data_dir = dir;
  cfg.chunk_bytes = 1024;
  cfg.peer_credits = 4;
  cfg.inflight_budget_bytes = 6 * 1024;
  cfg.busy_wait = busy_wait;
  return cfg;
}

struct IngestBench {
  explicit IngestBench(std::chrono::milliseconds busy_wait = 10s)
      : cfg(ingest_config(dir.path(), busy_wait)) {
    ingest.start();
  }
  Upload begin(std::uint8_t who, std::uint64_t parameters = 1000) {
    return store.begin_upload(1, address_of(who), wire::DTYPE_F32, parameters);
  }
  /// Scans and queues `bytes` at `offset` of `u` as the loop does; the scan's refusal throws.
  ChunkScan send(const Upload& u, std::uint64_t offset, std::span<const std::uint8_t> bytes,
                 std::uint64_t request_id = 0) {
    wire::UploadChunk c;
    c.set_upload_id(u.id);
    c.set_offset(offset);
    c.set_length(bytes.size());
    const protocol::Checksum sum = protocol::chunk_checksum(bytes);
    c.set_checksum(std::string(sum.begin(), sum.end()));
    ChunkScan scan = ingest.scan_chunk(u, c, bytes);
    if (scan.finite)
      ingest.queue_chunk(u, offset, std::move(scan.hashed),
                         zmq::message_t(bytes.data(), bytes.size()), "node", request_id);
    return scan;
  }
  /// Every completion, until `n` arrived (bounded: 10 s).
  std::vector<Reply> completions(std::size_t n) {
    std::vector<Reply> out;
    const auto until = Clock::now() + 10s;
    while (out.size() < n && Clock::now() < until) {
      if (auto r = ingest.take_completion())
        out.push_back(std::move(*r));
      else
        std::this_thread::sleep_for(1ms);
    }
    return out;
  }

  TempDir dir{"murmur-ingest-unit"};
  Config cfg;
  Spool spool{dir.path() / "spool"};
  StateStore store{dir.path()};
  Metrics metrics;
  zmq::context_t ctx;
  Ingest ingest{cfg, spool, store, metrics, ctx};  // declared last: it reads cfg
};

std::vector<std::uint8_t> floats(std::size_t n, float start) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + 0.25f * static_cast<float>(i);
  std::vector<std::uint8_t> bytes(n * sizeof(float));
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

wire::ErrorCode refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const protocol::ProtocolError& e) {
    return e.code();
  }
  return wire::ERR_UNSPECIFIED;
}

TEST(Ingest, TheBudgetIsSharedAndAWaitingBeginIsAnsweredWhenCreditsReturn) {
  IngestBench b;
  const Upload a = b.begin(1), c = b.begin(2), d = b.begin(3), e = b.begin(4);
  EXPECT_EQ(b.ingest.begin(a), 4u);  // peer_credits
  EXPECT_EQ(b.ingest.begin(c), 2u);  // what is left of the 6 chunks
  EXPECT_EQ(b.ingest.begin(d), 0u);  // spent: it waits
  b.ingest.wait_for_credits({d.id, d.address, 1, "d", 7, Clock::now()});
  EXPECT_TRUE(b.ingest.answer_waiting_begins(true, 1).empty()) << "answered with no budget";
  b.ingest.release_credits(a.id);
  // Budget is back, but nobody overtakes the begin that waits.
  EXPECT_EQ(b.ingest.begin(e), 0u);
  const auto replies = b.ingest.answer_waiting_begins(true, 1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].identity, "d");
  EXPECT_EQ(replies[0].envelope.request_id(), 7u);
  ASSERT_TRUE(replies[0].envelope.has_upload_accepted());
  EXPECT_EQ(replies[0].envelope.upload_accepted().upload_id(), d.id);
  EXPECT_EQ(replies[0].envelope.upload_accepted().credits(), 4u);
  EXPECT_EQ(replies[0].envelope.upload_accepted().total_bytes(), 4000u);
  // A second begin of an upload replaces its first grant rather than adding to it: c's 2
  // return and are granted again (the budget is full with d's 4).
  EXPECT_EQ(b.ingest.begin(c), 2u);
  b.ingest.release_all_credits();
  EXPECT_EQ(b.ingest.begin(c), 4u);
  EXPECT_EQ(b.ingest.begin(c), 4u);
  EXPECT_EQ(b.ingest.begin(a), 2u);
}

TEST(Ingest, AWaitingBeginIsToldBusyOnceWaitedOutAndWrongStageOnceUploadsStop) {
  IngestBench b(50ms);
  const Upload a = b.begin(1), c = b.begin(2), d = b.begin(3);
  ASSERT_EQ(b.ingest.begin(a), 4u);
  ASSERT_EQ(b.ingest.begin(c), 2u);
  ASSERT_EQ(b.ingest.begin(d), 0u);
  b.ingest.wait_for_credits({d.id, d.address, 1, "d", 1, Clock::now()});
  std::this_thread::sleep_for(80ms);
  auto replies = b.ingest.answer_waiting_begins(true, 1);
  ASSERT_EQ(replies.size(), 1u);
  ASSERT_TRUE(replies[0].envelope.has_error());
  EXPECT_EQ(replies[0].envelope.error().code(), wire::ERR_BUSY);

  b.ingest.wait_for_credits({d.id, d.address, 1, "d", 2, Clock::now()});
  replies = b.ingest.answer_waiting_begins(/*uploading=*/false, 1);
  ASSERT_EQ(replies.size(), 1u);
  ASSERT_TRUE(replies[0].envelope.has_error());
  EXPECT_EQ(replies[0].envelope.error().code(), wire::ERR_WRONG_STAGE);
}

TEST(Ingest, ChunksLandDurablyInOrderOfOffsetAndTheHashIsTheBytes) {
  IngestBench b;
  const std::vector<std::uint8_t> bytes = floats(1000, -3.0f);  // 4000 bytes: 3 full chunks + 928
  const Upload u = b.begin(1);
  ASSERT_EQ(b.ingest.begin(u), 4u);
  const std::span<const std::uint8_t> all(bytes);
  // Four chunks queued back to back before any acknowledgement: they sync on four threads and
  // may land in any order; the durable offset moves only over the contiguous run.
  for (std::uint64_t at = 0; at < all.size(); at += 1024) {
    const auto piece = all.subspan(at, std::min<std::size_t>(1024, all.size() - at));
    ASSERT_TRUE(b.send(u, at, piece, at / 1024).finite);
  }
  const auto acks = b.completions(4);
  ASSERT_EQ(acks.size(), 4u);
  std::uint64_t last = 0;
  for (const Reply& r : acks) {
    ASSERT_TRUE(r.envelope.has_chunk_ack()) << r.envelope.DebugString();
    EXPECT_EQ(r.envelope.chunk_ack().credits(), 1u);
    EXPECT_GE(r.envelope.chunk_ack().durable_offset(), last) << "the durable offset went back";
    last = r.envelope.chunk_ack().durable_offset();
  }
  EXPECT_EQ(last, 4000u);
  const auto stored = b.store.upload(1, address_of(1));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->durable, 4000u);
  EXPECT_EQ(b.ingest.update_hash_of(*stored), protocol::update_hash(bytes));
  EXPECT_EQ(b.spool.hash_of(*stored), protocol::update_hash(bytes));
  std::ifstream f(b.spool.file(*stored), std::ios::binary);
  const std::vector<std::uint8_t> on_disk{std::istreambuf_iterator<char>(f), {}};
  EXPECT_EQ(on_disk, bytes);
}

TEST(Ingest, EveryBadChunkIsRefusedByItsCodeAndTheUploadGoesOn) {
  IngestBench b;
  const std::vector<std::uint8_t> bytes = floats(512, 1.0f);  // 2048 bytes: two chunks
  const std::span<const std::uint8_t> all(bytes);
  const Upload u = b.begin(1, 512);
  ASSERT_EQ(b.ingest.begin(u), 4u);
  const auto first = all.subspan(0, 1024), second = all.subspan(1024);

  wire::UploadChunk c;
  c.set_upload_id(u.id);
  c.set_offset(0);
  c.set_length(first.size());
  EXPECT_EQ(refusal([&] { b.ingest.scan_chunk(u, c, first); }), wire::ERR_BAD_CHECKSUM);
  const protocol::Checksum sum = protocol::chunk_checksum(first);
  c.set_checksum(std::string(sum.begin(), sum.end()));
  c.set_length(1000);
  EXPECT_EQ(refusal([&] { b.ingest.scan_chunk(u, c, first); }), wire::ERR_MALFORMED);
  c.set_length(first.size());
  c.set_offset(1024);  // ahead of the bytes received
  EXPECT_EQ(refusal([&] { b.ingest.scan_chunk(u, c, first); }), wire::ERR_OUT_OF_RANGE);
  EXPECT_EQ(refusal([&] { b.ingest.scan_chunk(u, c, first.subspan(0, 3)); }),
            wire::ERR_MALFORMED);  // declared 1024, carries 3

  ASSERT_TRUE(b.send(u, 0, first).finite);
  EXPECT_EQ(refusal([&] { b.send(u, 0, first); }), wire::ERR_REPLAY);  // the same chunk again
  // Past the end of the update.
  const std::vector<std::uint8_t> big = floats(512, 0.0f);
  EXPECT_EQ(refusal([&] { b.send(u, 1024, big); }), wire::ERR_OUT_OF_RANGE);
  ASSERT_TRUE(b.send(u, 1024, second).finite);
  ASSERT_EQ(b.completions(2).size(), 2u);
  const auto stored = b.store.upload(1, address_of(1));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->durable, 2048u);
  EXPECT_EQ(b.ingest.update_hash_of(*stored), protocol::update_hash(bytes));
}

TEST(Ingest, ANonFiniteUploadIsDroppedAndAnotherUploadsBytesStay) {
  IngestBench b;
  const std::vector<std::uint8_t> good = floats(256, 2.0f);  // 1024 bytes
  std::vector<std::uint8_t> bad = floats(256, 2.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(bad.data() + 100 * sizeof(float), &nan, sizeof nan);
  Upload a = b.begin(1, 256), c = b.begin(2, 512);
  ASSERT_EQ(b.ingest.begin(a), 4u);
  ASSERT_EQ(b.ingest.begin(c), 2u);
  ASSERT_TRUE(b.send(a, 0, good).finite);
  ASSERT_EQ(b.completions(1).size(), 1u);  // a's bytes are durable
  ASSERT_TRUE(b.send(c, 0, good).finite);  // c's first kilobyte is fine
  EXPECT_FALSE(b.send(c, 1024, bad).finite);
  b.ingest.drop_upload(c);  // its chunk in flight lands first; its replies come back here
  const auto after = b.store.upload(1, address_of(2));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->state, UploadState::kFailed);
  EXPECT_FALSE(std::filesystem::exists(b.spool.file(*after)));
  // a is untouched: its bytes are whole.
  const auto kept = b.store.upload(1, address_of(1));
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->durable, 1024u);
  EXPECT_EQ(kept->state, UploadState::kOpen);
  EXPECT_EQ(b.ingest.update_hash_of(*kept), protocol::update_hash(good));
  // The dropped upload's 2 credits returned to the budget (a holds the other 4).
  Upload d = b.begin(3, 256);
  EXPECT_EQ(b.ingest.begin(d), 2u);
}

}  // namespace
}  // namespace murmur::server
