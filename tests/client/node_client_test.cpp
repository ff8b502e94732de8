// NodeClient against a scripted server: what it puts on the wire (signatures, checksums,
// hashes, dtype bytes, strictly increasing request ids), credit-based flow control, resuming
// from the server's offset after a lost connection, bounded timeouts and retries, typed
// refusals, ranged model download with its hash check; and the key helpers.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "murmur/chain/keccak.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/protocol/tensor.hpp"
#include "scripted_server.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using Request = ScriptedServer::Request;

client::ClientOptions options_for(const ScriptedServer& s) {
  client::ClientOptions o;
  o.endpoint = s.endpoint();
  o.register_endpoint = s.endpoint();
  o.server_public_key = s.public_key();
  o.timeout = 2s;
  o.retries = 2;
  o.backoff = 10ms;
  return o;
}

chain::Eip712Domain test_domain() {
  chain::Eip712Domain d;
  d.chain_id = 31337;
  d.verifying_contract = chain::Address::from_hex("0x5fbdb2315678afecb367f032d93f642f64180aa3");
  return d;
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

chain::Hash32 hash_of(const std::string& s) {
  chain::Hash32 h{};
  if (s.size() == 32) std::memcpy(h.data(), s.data(), 32);
  return h;
}

void expect_increasing_ids(const ScriptedServer& s) {
  const auto seen = s.seen();
  for (std::size_t i = 1; i < seen.size(); ++i)
    EXPECT_GT(seen[i].first, seen[i - 1].first) << "request " << i;
  for (const auto& [id, body] : seen)
    EXPECT_NE(body, wire::Envelope::BODY_NOT_SET) << "a message did not decode";
}

// --- an upload server with knobs: credits, lazy acknowledgements, a simulated crash -------------

/// What the scripted upload server does and saw.
struct UploadScript {
  std::uint64_t total = 0;
  std::uint32_t chunk = 64 << 10, credits = 3;
  bool lazy_acks = false;  ///< hold acks until the node stops sending for a while
  std::uint64_t crash_after =
      0;  ///< >0: after this many durable bytes, go silent until a new begin
  std::uint64_t resume_after_crash = 0;  ///< the resume_offset answered after the crash

  // observed
  std::vector<std::uint8_t> received;  ///< the durable bytes
  std::uint64_t durable = 0;
  bool silent = false;
  std::string silent_peer;
  std::uint32_t outstanding = 0, max_outstanding = 0;
  std::deque<std::pair<std::string, std::uint64_t>> unacked;  ///< (peer, request id)
  std::vector<std::uint64_t> begin_offsets, first_chunk_after_begin;
  bool expect_first_chunk = false;
  std::string bad;  ///< first protocol violation seen
  wire::UploadCommit commit;
  std::uint64_t task = 0, round = 0;

  void ack_one(ScriptedServer& s) {
    const auto [peer, id] = unacked.front();
    unacked.pop_front();
    --outstanding;
    wire::Envelope e;
    e.mutable_chunk_ack()->set_upload_id(1);
    e.mutable_chunk_ack()->set_durable_offset(durable);
    e.mutable_chunk_ack()->set_credits(1);
    s.reply(peer, id, e);
  }

  void on(ScriptedServer& s, Request& r) {
    const auto& env = r.message.envelope;
    if (silent && !(env.has_upload_begin() && r.peer != silent_peer)) return;  // "crashed"
    if (env.has_upload_begin()) {
      if (silent) {  // the node reconnected: the restarted server resumes where it says
        silent = false;
        durable = resume_after_crash;
        received.resize(durable);
        unacked.clear();
        outstanding = 0;
      }
      task = env.upload_begin().task_id();
      round = env.upload_begin().round();
      begin_offsets.push_back(durable);
      expect_first_chunk = true;
      wire::Envelope e;
      auto* a = e.mutable_upload_accepted();
      a->set_upload_id(1);
      a->set_resume_offset(durable);
      a->set_total_bytes(total);
      a->set_chunk_bytes(chunk);
      a->set_credits(credits);
      s.reply(r.peer, env.request_id(), e);
    } else if (env.has_upload_chunk()) {
      const auto& c = env.upload_chunk();
      const auto bytes = r.message.bytes();
      if (expect_first_chunk) first_chunk_after_begin.push_back(c.offset());
      expect_first_chunk = false;
      const auto sum = protocol::chunk_checksum(bytes);
      if (bad.empty() && (c.offset() != received.size() || c.length() != bytes.size() ||
                          c.checksum() != std::string(sum.begin(), sum.end())))
        bad =
            "chunk at " + std::to_string(c.offset()) + " is not the next one or fails its checksum";
      received.insert(received.end(), bytes.begin(), bytes.end());
      durable = received.size();
      max_outstanding = std::max(max_outstanding, ++outstanding);
      unacked.emplace_back(r.peer, env.request_id());
      if (crash_after > 0 && durable >= crash_after && begin_offsets.size() == 1) {
        silent = true;  // this chunk's ack and everything after it are lost
        silent_peer = r.peer;
        return;
      }
      if (!lazy_acks) ack_one(s);
    } else if (env.has_upload_commit()) {
      commit = env.upload_commit();
      wire::Envelope e;
      e.mutable_committed()->set_update_hash(commit.update_hash());
      s.reply(r.peer, env.request_id(), e);
    }
  }
  void idle(ScriptedServer& s) {
    if (!silent && !unacked.empty()) ack_one(s);
  }
};

std::vector<float> test_values(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(0.001f * static_cast<float>(i)) * 3.0f;
  return v;
}

/// Uploads `values` (f32, task 7, round 3) as `key` to a server that plays `script` and loses
/// the connection as it says; the node gives up on a silent server after 300 ms and resumes.
client::UploadResult upload_through_crash(UploadScript& script, const std::vector<float>& values,
                                          const chain::PrivateKey& key) {
  ScriptedServer server([&](ScriptedServer& s, Request& r) { script.on(s, r); });
  auto o = options_for(server);
  o.timeout = 300ms;
  client::NodeClient node(o);
  auto result = node.upload_update(7, 3, values, wire::DTYPE_F32, 1, {&key, test_domain()});
  expect_increasing_ids(server);
  return result;
}

TEST(Upload, KeepsAtMostCreditsUnacknowledgedAndCommitsTheSignedHash) {
  const auto values = test_values(300'000);  // f16: 600,000 bytes, 10 chunks of 64 KiB
  UploadScript script;
  script.total = values.size() * 2;
  script.lazy_acks = true;
  const auto key = client::derive_node_key(1, 0);
  client::UploadResult result;
  {
    ScriptedServer server([&](ScriptedServer& s, Request& r) { script.on(s, r); },
                          [&](ScriptedServer& s) { script.idle(s); });
    client::NodeClient node(options_for(server));
    result = node.upload_update(7, 3, values, wire::DTYPE_F16, 600, {&key, test_domain()});
    expect_increasing_ids(server);
  }
  EXPECT_EQ(script.bad, "");
  // The node filled its window and never went past it, though acks came late.
  EXPECT_EQ(script.max_outstanding, script.credits);
  EXPECT_EQ(result.max_in_flight, script.credits);
  // The bytes are the f16 narrowing of the values; the commit names their BLAKE3 hash and is
  // signed.
  std::vector<std::uint8_t> expected(script.total);
  protocol::from_float(wire::DTYPE_F16, values, expected);
  EXPECT_EQ(script.received, expected);
  const chain::Hash32 hash = protocol::update_hash(expected);
  EXPECT_EQ(chain::to_hex(hash_of(script.commit.update_hash())), chain::to_hex(hash));
  EXPECT_EQ(chain::to_hex(result.update_hash), chain::to_hex(hash));
  EXPECT_EQ(script.commit.num_samples(), 600u);
  const auto digest = chain::update_digest(test_domain(), {7, 3, hash, 600});
  const auto who = protocol::signer(digest, bytes_of(script.commit.signature()));
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->to_checksum(), key.address().to_checksum());
  EXPECT_EQ(script.task, 7u);
  EXPECT_EQ(script.round, 3u);
}

TEST(Upload, ResumesFromTheServersOffsetAfterALostConnection) {
  const auto values = test_values(262'144);  // f32: 1 MiB, 16 chunks
  UploadScript script;
  script.total = values.size() * 4;
  script.crash_after = 6 * script.chunk;         // the 6th chunk's ack is lost with the "crash"
  script.resume_after_crash = 6 * script.chunk;  // ...but it was durable
  const auto key = client::derive_node_key(1, 1);
  const client::UploadResult result = upload_through_crash(script, values, key);
  EXPECT_EQ(script.bad, "");
  EXPECT_EQ(result.restarts, 1u);
  EXPECT_EQ(result.resume_offsets, (std::vector<std::uint64_t>{0, 6 * script.chunk}));
  ASSERT_EQ(script.first_chunk_after_begin.size(), 2u);
  EXPECT_EQ(script.first_chunk_after_begin[1], 6 * script.chunk);  // no byte below it was resent
  EXPECT_EQ(result.acknowledged_then_lost, 0u);
  EXPECT_EQ(std::memcmp(script.received.data(), values.data(), script.total), 0);
  const auto hash = protocol::update_hash(script.received);
  EXPECT_EQ(chain::to_hex(hash_of(script.commit.update_hash())), chain::to_hex(hash));
}

TEST(Upload, NoticesAServerThatLostAcknowledgedBytesAndStillDeliversThem) {
  const auto values = test_values(262'144);
  UploadScript script;
  script.total = values.size() * 4;
  script.crash_after = 8 * script.chunk;
  script.resume_after_crash = 2 * script.chunk;  // 7 chunks were acknowledged, only 2 kept
  const auto key = client::derive_node_key(1, 2);
  const client::UploadResult result = upload_through_crash(script, values, key);
  EXPECT_EQ(script.bad, "");
  EXPECT_EQ(result.acknowledged_then_lost, 5 * script.chunk);
  EXPECT_EQ(script.first_chunk_after_begin.back(), 2 * script.chunk);
  EXPECT_EQ(std::memcmp(script.received.data(), values.data(), script.total), 0);
  // The hash had to be rewound to byte 2 chunk and is still the hash of the whole update.
  EXPECT_EQ(chain::to_hex(result.update_hash),
            chain::to_hex(protocol::update_hash(script.received)));
}

// --- typed errors, retries, timeouts --------------------------------------------------------

wire::Envelope error(wire::ErrorCode code, const std::string& text) {
  return protocol::error_envelope(0, code, text);
}

TEST(Upload, SendsInMemoryChunksWithoutACopyAndLetsGoOfThemBeforeItEnds) {
  // f32 values are sent from the caller's memory (lent to ZeroMQ). Against a server that takes
  // the chunks but never acknowledges them, the upload times out and throws; by then every lent
  // chunk is back, so the caller may reuse its memory: nothing sent afterwards carries the new
  // contents, and every chunk the server saw carries the values as they were.
  auto values = test_values(262'144);  // f32: 1 MiB, 16 chunks of 64 KiB
  const std::vector<float> original = values;
  std::mutex seen_mutex;
  std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> seen;  // offset, bytes
  ScriptedServer server([&](ScriptedServer& s, Request& r) {
    const auto& env = r.message.envelope;
    if (env.has_upload_begin()) {
      wire::Envelope e;
      auto* a = e.mutable_upload_accepted();
      a->set_upload_id(1);
      a->set_total_bytes(values.size() * 4);
      a->set_chunk_bytes(64 << 10);
      a->set_credits(8);
      s.reply(r.peer, env.request_id(), e);
    } else if (env.has_upload_chunk()) {
      const auto bytes = r.message.bytes();
      std::lock_guard lock(seen_mutex);
      seen.emplace_back(env.upload_chunk().offset(),
                        std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    }
  });
  auto o = options_for(server);
  o.timeout = 200ms;
  o.retries = 0;
  client::NodeClient node(o);
  const auto key = client::derive_node_key(1, 1);
  EXPECT_THROW(node.upload_update(7, 3, values, wire::DTYPE_F32, 1, {&key, test_domain()}),
               client::TimeoutError);
  std::fill(values.begin(), values.end(), 99.0f);
  std::this_thread::sleep_for(300ms);
  std::lock_guard lock(seen_mutex);
  ASSERT_FALSE(seen.empty());
  for (const auto& [offset, bytes] : seen)
    EXPECT_EQ(
        std::memcmp(bytes.data(), reinterpret_cast<const std::uint8_t*>(original.data()) + offset,
                    bytes.size()),
        0)
        << "chunk at " << offset;
}

TEST(Errors, ARefusalSurfacesItsWireCodeWithoutRetrying) {
  const auto key = client::derive_node_key(1, 3);
  std::optional<ScriptedServer> server;
  server.emplace([](ScriptedServer& s, Request& r) {
    s.reply(r.peer, r.message.envelope.request_id(),
            error(wire::ERR_WRONG_ROUND, "round 3, the current round is 4"));
  });
  client::NodeClient node(options_for(*server));
  try {
    node.upload_update(7, 3, test_values(10), wire::DTYPE_F32, 1, {&key, test_domain()});
    FAIL() << "no exception";
  } catch (const client::ServerError& e) {
    EXPECT_EQ(e.code(), wire::ERR_WRONG_ROUND);
    EXPECT_NE(std::string(e.what()).find("ERR_WRONG_ROUND: round 3, the current round is 4"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(server->seen().size(), 1u);
}

TEST(Errors, BusyIsRetriedAfterABackoff) {
  int busy = 2;
  std::optional<ScriptedServer> server;
  server.emplace([&](ScriptedServer& s, Request& r) {
    if (busy-- > 0)
      return s.reply(r.peer, r.message.envelope.request_id(), error(wire::ERR_BUSY, "budget"));
    wire::Envelope e;
    e.mutable_round_info()->set_round(5);
    e.mutable_round_info()->set_chunk_bytes(1 << 20);
    s.reply(r.peer, r.message.envelope.request_id(), e);
  });
  client::NodeClient node(options_for(*server));
  EXPECT_EQ(node.round_info().round(), 5u);
  EXPECT_EQ(server->seen().size(), 3u);
  expect_increasing_ids(*server);
}

TEST(Errors, NoReplyEndsInATimeoutAfterBoundedAttempts) {
  std::optional<ScriptedServer> server;
  server.emplace([](ScriptedServer&, Request&) {});  // never answers
  auto o = options_for(*server);
  o.timeout = 150ms;
  o.retries = 2;
  client::NodeClient node(o);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(node.status(), client::TimeoutError);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, 3 * 150ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(server->seen().size(), 3u);  // one attempt and two retries, each on a fresh socket
}

// --- registration, votes, model download --------------------------------------------------

TEST(Register, SignsTheBindingOfItsCurveKeyToItsAddress) {
  const auto key = client::derive_node_key(1, 4);
  wire::Register seen;
  {
    ScriptedServer server([&](ScriptedServer& s, Request& r) {
      seen = r.message.envelope.register_();
      wire::Envelope e;
      e.mutable_registered()->set_address(seen.address());
      s.reply(r.peer, r.message.envelope.request_id(), e);
    });
    client::NodeClient node(options_for(server));
    EXPECT_EQ(node.register_node(key, 31337).to_checksum(), key.address().to_checksum());
    const auto curve = client::z85_key_bytes(node.curve_public_key());
    EXPECT_EQ(seen.curve_public_key(), std::string(curve.begin(), curve.end()));
  }
  EXPECT_EQ(seen.chain_id(), 31337u);
  const auto who =
      protocol::signer(protocol::register_digest(31337, bytes_of(seen.curve_public_key())),
                       bytes_of(seen.signature()));
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->to_checksum(), key.address().to_checksum());
}

TEST(Vote, IsSignedAsTheContractChecksIt) {
  const auto key = client::derive_node_key(1, 5);
  const chain::Hash32 model = chain::keccak256(std::string_view("candidate"));
  wire::Vote seen;
  {
    ScriptedServer server([&](ScriptedServer& s, Request& r) {
      seen = r.message.envelope.vote();
      wire::Envelope e;
      e.mutable_vote_accepted();
      s.reply(r.peer, r.message.envelope.request_id(), e);
    });
    client::NodeClient node(options_for(server));
    node.vote(7, 3, model, -1, 0.75, {&key, test_domain()});
  }
  EXPECT_EQ(seen.score(), -1);
  EXPECT_EQ(seen.loss(), 0.75);
  const auto digest = chain::vote_digest(test_domain(), {7, 3, model, -1});
  const auto who = protocol::signer(digest, bytes_of(seen.signature()));
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->to_checksum(), key.address().to_checksum());
}

/// Serves `model` in ranges of `chunk` bytes (RoundInfo announces the chunk size), optionally
/// corrupting one byte, and records how many requests were in flight at most.
struct ModelScript {
  std::vector<std::uint8_t> model;
  std::uint32_t chunk = 64 << 10;
  bool corrupt = false;
  std::size_t pending = 0, max_pending = 0;
  std::deque<std::pair<std::string, Request>> queue;

  void on(ScriptedServer& s, Request& r) {
    const auto& env = r.message.envelope;
    if (env.has_round_info_request()) {
      wire::Envelope e;
      e.mutable_round_info()->set_chunk_bytes(chunk);
      return s.reply(r.peer, env.request_id(), e);
    }
    max_pending = std::max(max_pending, ++pending);
    queue.emplace_back(r.peer, std::move(r));
  }
  void idle(ScriptedServer& s) {  // answers once the node has sent all it will without replies
    while (!queue.empty()) {
      auto [peer, r] = std::move(queue.front());
      queue.pop_front();
      --pending;
      const auto& m = r.message.envelope.model_request();
      const auto len = std::min<std::uint64_t>(m.length(), model.size() - m.offset());
      std::vector<std::uint8_t> bytes(model.begin() + static_cast<long>(m.offset()),
                                      model.begin() + static_cast<long>(m.offset() + len));
      if (corrupt && m.offset() > 0) bytes[0] ^= 1;
      wire::Envelope e;
      e.mutable_model_chunk()->set_model_hash(m.model_hash());
      e.mutable_model_chunk()->set_offset(m.offset());
      e.mutable_model_chunk()->set_total(model.size());
      s.reply(peer, r.message.envelope.request_id(), e, bytes);
    }
  }
};

TEST(Model, DownloadsInPipelinedRangesAndChecksTheHash) {
  const auto values = test_values(200'000);  // 800,000 bytes: 13 ranges of 64 KiB
  ModelScript script;
  script.model.resize(values.size() * 4);
  std::memcpy(script.model.data(), values.data(), script.model.size());
  const auto hash = chain::keccak256(script.model);
  std::vector<float> got;
  {
    ScriptedServer server([&](ScriptedServer& s, Request& r) { script.on(s, r); },
                          [&](ScriptedServer& s) { script.idle(s); });
    auto o = options_for(server);
    o.model_window = 4;
    client::NodeClient node(o);
    got = node.fetch_model(hash);
    expect_increasing_ids(server);
  }
  EXPECT_EQ(got, values);
  EXPECT_EQ(script.max_pending, 4u);  // the window was used and respected
}

TEST(Model, RefusesBytesThatDoNotHashToTheRequestedModel) {
  ModelScript script;
  script.model.assign(300'000, 7);
  script.corrupt = true;
  const auto hash = chain::keccak256(std::vector<std::uint8_t>(300'000, 7));
  ScriptedServer server([&](ScriptedServer& s, Request& r) { script.on(s, r); },
                        [&](ScriptedServer& s) { script.idle(s); });
  client::NodeClient node(options_for(server));
  try {
    node.fetch_model(hash);
    FAIL() << "a corrupted model was accepted";
  } catch (const client::ServerError& e) {
    EXPECT_EQ(e.code(), wire::ERR_HASH_MISMATCH);
  }
}

// --- keys and update sources ------------------------------------------------------------------

TEST(Keys, DerivedNodeKeysFollowTheDocumentedFormula) {
  // secret = keccak256("murmur.node-key.v1" || seed (8 bytes BE) || index (8 bytes BE) || 0)
  const std::uint64_t seed = 1, index = 2;
  std::vector<std::uint8_t> msg;
  for (char c : std::string("murmur.node-key.v1")) msg.push_back(static_cast<std::uint8_t>(c));
  for (std::uint64_t v : {seed, index})
    for (int shift = 56; shift >= 0; shift -= 8)
      msg.push_back(static_cast<std::uint8_t>(v >> shift));
  msg.push_back(0);
  EXPECT_EQ(client::derive_node_key(seed, index).secret(), chain::keccak256(msg));
  // Pinned so that `murmur load --seed 1` keeps its addresses across versions.
  EXPECT_EQ(client::derive_node_key(1, 0).address().to_checksum(),
            "0x678908b2C3708fe26341b2dC4F666cF88475f02a");
  EXPECT_NE(client::derive_node_key(1, 0).address(), client::derive_node_key(1, 1).address());
  EXPECT_NE(client::derive_node_key(1, 0).address(), client::derive_node_key(2, 0).address());
}

TEST(Keys, CurveKeyFileIsCreatedPrivateReloadedAndChecked) {
  const auto file =
      std::filesystem::temp_directory_path() / ("murmur-curve-" + std::to_string(::getpid()));
  std::filesystem::remove(file);
  const auto first = client::load_or_create_curve_keys(file);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto again = client::load_or_create_curve_keys(file);
  EXPECT_EQ(again.public_z85, first.public_z85);
  EXPECT_EQ(again.secret_z85, first.secret_z85);
  EXPECT_EQ(client::z85_key_bytes(first.public_z85).size(), 32u);

  ::chmod(file.c_str(), 0644);
  EXPECT_THROW(client::load_or_create_curve_keys(file), std::runtime_error);  // readable by others
  ::chmod(file.c_str(), 0600);
  std::ofstream(file) << "public-key = \"" << first.public_z85 << "\"\nsecret-key = \""
                      << client::CurveKeyPair::generate().secret_z85 << "\"\n";
  EXPECT_THROW(client::load_or_create_curve_keys(file), std::runtime_error);  // not a pair
  std::filesystem::remove(file);
}

TEST(UpdateSources, ReadsAtAnyOffsetAgreeWithTheWholeUpdate) {
  for (auto dtype : {wire::DTYPE_F32, wire::DTYPE_F16, wire::DTYPE_BF16}) {
    const client::SyntheticUpdate synthetic(9, 4, 10'001, dtype);
    const auto values = test_values(10'001);
    const client::FloatUpdate floats(values, dtype);
    for (const client::UpdateSource* src : {static_cast<const client::UpdateSource*>(&synthetic),
                                            static_cast<const client::UpdateSource*>(&floats)}) {
      std::vector<std::uint8_t> whole(src->size_bytes()), pieces(src->size_bytes());
      src->read(0, whole);
      for (std::uint64_t at = 0; at < pieces.size();) {  // odd-sized pieces split elements
        const std::uint64_t n = std::min<std::uint64_t>(1237, pieces.size() - at);
        src->read(at, std::span(pieces).subspan(at, n));
        at += n;
      }
      EXPECT_EQ(whole, pieces) << "dtype " << dtype;
    }
    std::vector<float> widened(10'001);
    std::vector<std::uint8_t> whole(synthetic.size_bytes());
    synthetic.read(0, whole);
    protocol::to_float(dtype, whole, widened);
    for (std::size_t j : {0u, 1u, 5000u, 10'000u})
      EXPECT_NEAR(widened[j], client::synthetic_value(9, 4, j),
                  dtype == wire::DTYPE_F32 ? 0.0 : 0.004);
    if (dtype == wire::DTYPE_F32) {
      EXPECT_EQ(widened[77], client::synthetic_value(9, 4, 77));
    }
  }
}

}  // namespace
}  // namespace murmur::testing
