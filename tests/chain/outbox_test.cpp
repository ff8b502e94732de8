// Outbox state machine on a real SQLite file: records survive reopening, keys are idempotent,
// finished postings cannot be re-prepared.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "murmur/chain/keccak.hpp"
#include "murmur/chain/outbox.hpp"

using namespace murmur::chain;

namespace {
std::filesystem::path temp_db() {
  auto dir =
      std::filesystem::temp_directory_path() / ("murmur-outbox-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto f =
      dir / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".db");
  std::filesystem::remove(f);
  return f;
}
Posting posting(std::uint64_t round, std::uint64_t nonce) {
  Posting p;
  p.key = {"finalizeRound", U256(7), U256(round)};
  p.sender = Address::from_hex("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
  p.nonce = nonce;
  p.raw_tx = Bytes{0x02, 0xc0, static_cast<std::uint8_t>(nonce)};
  p.tx_hash = keccak256(p.raw_tx);
  return p;
}
}  // namespace

TEST(Outbox, RecordsSurviveReopenAndMoveThroughStates) {
  auto file = temp_db();
  Posting p = posting(1, 5);
  {
    Outbox ob(file);
    EXPECT_FALSE(ob.find(p.key));
    ob.record_prepared(p);
  }
  Outbox ob(file);  // a restarted process sees the prepared record
  auto found = ob.find(p.key);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, PostingState::Prepared);
  EXPECT_EQ(found->raw_tx, p.raw_tx);
  EXPECT_EQ(found->tx_hash, p.tx_hash);
  EXPECT_EQ(found->nonce, 5u);
  ASSERT_EQ(ob.pending().size(), 1u);

  ob.mark_sent(p.key);
  EXPECT_EQ(ob.find(p.key)->state, PostingState::Sent);
  // A dropped transaction is replaced under the same key: one row, attempts counted.
  Posting again = posting(1, 6);
  ob.record_prepared(again);
  EXPECT_EQ(ob.find(p.key)->attempts, 2);
  EXPECT_EQ(ob.find(p.key)->nonce, 6u);
  EXPECT_EQ(ob.all().size(), 1u);

  ob.mark_mined(p.key, true, again.tx_hash, 42, "");
  EXPECT_EQ(ob.find(p.key)->state, PostingState::Confirmed);
  EXPECT_EQ(ob.find(p.key)->block_number, 42u);
  EXPECT_TRUE(ob.pending().empty());
  EXPECT_THROW(ob.record_prepared(posting(1, 9)), std::logic_error);

  Posting other = posting(2, 7);
  ob.record_prepared(other);
  ob.mark_mined(other.key, false, other.tx_hash, 43, "WrongRound(expected=3, given=2)");
  EXPECT_EQ(ob.find(other.key)->state, PostingState::Reverted);
  EXPECT_EQ(ob.find(other.key)->error, "WrongRound(expected=3, given=2)");
  std::filesystem::remove_all(file.parent_path());
}
